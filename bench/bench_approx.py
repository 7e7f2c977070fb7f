"""The approximation claims' certification (`theory.branch_bound` on S^1, S^2 and the depth instance): for each of
``approx.single_head_uniform``, ``approx.sphere_uniform`` and ``approx.depth_linear``, the time of its symbolic
layer (branch-and-bound and the kernel's check of every box) and of its numeric layer, the least of ``repeats``
runs in this process (the first run also parses the targets: reported apart as ``first``).

Only the catalogue's public factories and `proofs.runner.run_claim` are used, so the same file measures any
revision: ``PYTHONPATH=<tree> python bench/bench_approx.py``.
"""
from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

CLAIMS = ("approx.single_head_uniform", "approx.sphere_uniform", "approx.depth_linear")


def measure(repeats: int = 3) -> dict[str, dict[str, float]]:
    from proofs.catalogue.approx import CLAIMS as CATALOGUE
    from proofs.claim import Context
    from proofs.runner import run_claim

    out: dict[str, dict[str, float]] = {}
    for claim in (c for c in CATALOGUE if c.id in CLAIMS):
        times: dict[str, list[float]] = {"symbolic": [], "numeric": [], "wall": []}
        for _ in range(repeats):
            start = time.perf_counter()
            result = run_claim(claim, Context(seed=0))
            times["wall"].append(time.perf_counter() - start)
            if result.verdict != "ok":
                raise RuntimeError(f"{claim.id}: verdict {result.verdict}")
            for layer in ("symbolic", "numeric"):
                times[layer].append(result.layers[layer].seconds)
        out[claim.id] = {"first": times["wall"][0], **{k: min(v) for k, v in times.items()}}
    return out


def run(console: Console) -> dict:
    out = measure()
    t = Table(title="approximation claims (least of 3 runs)")
    for col in ("claim", "symbolic (B&B + kernel)", "numeric", "claim wall", "first run"):
        t.add_column(col, justify="left" if col == "claim" else "right")
    for cid, r in out.items():
        t.add_row(cid, f"{r['symbolic']:.3f} s", f"{r['numeric']:.3f} s", f"{r['wall']:.3f} s", f"{r['first']:.3f} s")
    console.print(t)
    return out


if __name__ == "__main__":
    run(Console())
