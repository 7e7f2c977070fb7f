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
   The first ``-j N`` run schedules from the ``-j 1`` run's recorded seconds (`proofs.runner.claim_costs`).
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


def run(console: Console) -> dict:
    results = {"import_proofs": import_proofs(), "load_example": load_example(), "compare_5000": compare_large(),
               "check_example": check_example(), "check_parallel": check_parallel()}
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
