"""Regression-testing benchmarks (issue 7), measured in one run:

1. ``import proofs`` in a fresh process: the public API must not pull sympy / torch / z3 (``prefixcheck list``
   stays fast); target < 0.5 s and no heavy module;
2. loading the worked example's claims file (``load_claim_file``; imports already warm): target < 50 ms;
3. comparing a run with a baseline of 5000 claims x 3 layers (`proofs.baseline.compare`): target < 0.5 s;
4. ``prefixcheck check --claims docs/examples/prefix_claims.py`` in a fresh process: the three claims' own time
   (the report's summary line) < 6 s; the wall time with torch / sympy / z3 imports is recorded;
5. ``prefixcheck check`` (the default catalogue) with ``-j 1`` and with ``-j N`` (N = the cores) in fresh processes:
   wall and CPU (user + system) seconds of each, the claims' summed seconds, and whether the two reports agree
   (statuses, details, verdicts); target: ``-j N`` wall at most 0.6 x the issue-18 baseline of 15 s (2 cores, idle).
   The first ``-j N`` run schedules from the ``-j 1`` run's recorded seconds (`proofs.schedule.record`);
6. ``prefixcheck check`` (default ``-j``) at this tree and at ``BASELINE_REVISION`` (the code issue 18 was measured
   against, checked out in a temporary git worktree), back to back in ``PAIRS`` pairs after warm-up runs (each
   version keeps its own schedule record, run until it is steady): the ratio of the wall times per pair and its
   median; target <= 0.6. The machine's load changes from minute to minute, so only neighbouring runs are compared.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "prefix_claims.py"


def _timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def import_proofs() -> dict:
    code = ("import sys, time; t = time.perf_counter(); import proofs, proofs.cli; "
            "print(time.perf_counter() - t, sorted({'sympy', 'torch', 'z3'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split(maxsplit=1)
    return {"seconds": float(out[0]), "heavy_modules": out[1].strip(), "target_seconds": 0.5}


def load_example() -> dict:
    from proofs.user_claims import load_claim_file

    load_claim_file(EXAMPLE)  # warm the imports the file makes
    times = [_timed(lambda: load_claim_file(EXAMPLE))[1] for _ in range(5)]
    return {"seconds": min(times), "claims": len(load_claim_file(EXAMPLE).claims), "target_seconds": 0.05}


def compare_large(n: int = 5000) -> dict:
    from proofs.baseline import compare

    def report(flip_every: int, scale: float) -> list[dict]:
        return [{"id": f"c{k}", "verdict": "mismatch" if flip_every and k % flip_every == 0 else "ok",
                 "outcome": "holds", "layers": {layer: {"status": "PROVED", "seconds": 0.2 * scale * (1 + k % 7)}
                                               for layer in ("symbolic", "numeric", "smt")}} for k in range(n)]

    before = {c["id"]: c for c in report(0, 1.0)}
    now = report(100, 1.0)
    diff, seconds = _timed(lambda: compare(before, now, [c["id"] for c in now]))
    return {"claims": n, "seconds": seconds, "flips": len(diff.flips), "target_seconds": 0.5}


def check_example() -> dict:
    proc, wall = _timed(lambda: subprocess.run([sys.executable, "-m", "proofs", "check", "--claims", str(EXAMPLE)],
                                               capture_output=True, text=True))
    claims_seconds = float(re.search(r"inconclusive.* in ([0-9.]+)s", proc.stdout).group(1))
    return {"seconds": claims_seconds, "wall_seconds_with_imports": round(wall, 2), "exit": proc.returncode,
            "target_seconds": 6.0}


def _check_run(jobs: int, report: Path) -> dict:
    """One ``prefixcheck check -j jobs --json report`` in a fresh process: wall and CPU seconds (the child's)."""
    before = os.times()
    proc, wall = _timed(lambda: subprocess.run([sys.executable, "-m", "proofs", "check", "-j", str(jobs), "--json",
                                                str(report)], capture_output=True, text=True))
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    claims = _claims(report)
    return {"wall": round(wall, 2), "cpu": round(cpu, 2), "exit": proc.returncode,
            "claims_seconds": round(sum(lr["seconds"] for c in claims for lr in c["layers"].values()), 2),
            "longest_claim": max((sum(lr["seconds"] for lr in c["layers"].values()), c["id"]) for c in claims)}


def _claims(report: Path) -> list[dict]:
    return json.loads(report.read_text())["claims"]


def check_parallel() -> dict:
    from proofs.runner import default_jobs, without_clock

    jobs = default_jobs()
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "j1.json", Path(tmp) / "jN.json"
        serial, parallel = _check_run(1, one), _check_run(jobs, many)
        same = without_clock(_claims(one)) == without_clock(_claims(many))
    return {"seconds": parallel["wall"], "jobs": jobs, "j1": serial, "jN": parallel, "same_results": same,
            "exit": max(serial["exit"], parallel["exit"], 0 if same else 1), "target_seconds": 0.6 * 15.0}


#: The session-4 start of issue 18 ("make check at most 0.6x today's"): the code the speed target is relative to.
BASELINE_REVISION = "85208b2"
PAIRS = 3


def _wall(cwd: Path, cache: Path) -> float:
    """Wall seconds of one default ``prefixcheck check`` of the tree at ``cwd`` (``python -m`` imports that tree's
    packages), with its own schedule record under ``cache``."""
    env = {**os.environ, "PREFIXCHECK_CACHE_DIR": str(cache)}
    proc, wall = _timed(lambda: subprocess.run([sys.executable, "-m", "proofs", "check"], cwd=cwd, env=env,
                                               capture_output=True, text=True))
    if proc.returncode != 0:
        raise RuntimeError(f"check at {cwd} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return wall


def _warm(cwd: Path, cache: Path, most: int = 8) -> None:
    """Run ``check`` until its schedule record stops changing which tasks it holds and which of them import torch
    (at most ``most`` runs): a light worker that imports torch can no longer see which later tasks need it, so the
    record learns the exact tasks that need torch about one per run."""
    def shape() -> object:
        """The tasks of the record and which import torch (this tree's ``tasks.json``), or the claims of the
        baseline's ``claim-seconds.json``; None before the first record."""
        for name in ("tasks.json", "claim-seconds.json"):
            try:
                raw = json.loads((cache / name).read_text())
            except (OSError, ValueError):
                continue
            return sorted((key, "torch" in entry.get("imports", []) if isinstance(entry, dict) else None)
                          for key, entry in raw.items())
        return None

    before = None
    for _ in range(most):
        _wall(cwd, cache)
        now = shape()
        if now is not None and now == before:
            return
        before = now


def check_against_baseline() -> dict:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "baseline"
        added = subprocess.run(["git", "worktree", "add", "--detach", str(old), BASELINE_REVISION], cwd=root,
                               capture_output=True, text=True)
        if added.returncode != 0:
            return {"seconds": float("nan"), "target_seconds": 0.6, "exit": 1,
                    "error": f"no worktree at {BASELINE_REVISION}: {added.stderr.strip()}"}
        try:
            trees = {"baseline": old, "now": root}
            for name, tree in trees.items():  # warm-up: each version records its own schedule
                _warm(tree, Path(tmp) / f"cache-{name}")
            pairs = [{name: round(_wall(tree, Path(tmp) / f"cache-{name}"), 2) for name, tree in trees.items()}
                     for _ in range(PAIRS)]
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=root, capture_output=True)
    ratios = sorted(p["now"] / p["baseline"] for p in pairs)
    return {"seconds": round(ratios[len(ratios) // 2], 3), "target_seconds": 0.6, "pairs": pairs,
            "ratios": [round(r, 3) for r in ratios], "revision": BASELINE_REVISION}


def run(console: Console) -> dict:
    results = {"import_proofs": import_proofs(), "load_example": load_example(), "compare_5000": compare_large(),
               "check_example": check_example(), "check_parallel": check_parallel(),
               "check_vs_baseline_ratio": check_against_baseline()}
    t = Table(title="regression tests on claims")
    for col in ("measure", "result", "target", "met"):
        t.add_column(col)
    for name, r in results.items():
        extra = {k: v for k, v in r.items() if k not in ("seconds", "target_seconds")}
        met = r["seconds"] < r["target_seconds"] and r.get("exit", 0) == 0 and r.get("heavy_modules", "[]") == "[]"
        t.add_row(name, f"{r['seconds']:.3f}s {extra}", f"< {r['target_seconds']}s", "yes" if met else "NO")
        r["met"] = met
    console.print(t)
    return results
