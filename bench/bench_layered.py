"""The layered search engine against the z3 path, in one run (docs/search.md, "Bench").

Grid: d in {4, 16, 64, 128}, tokens n in {8, 32, 128}, inputs R in {3, 16, 64}, prefix n_S = 1, targets
planted (outputs of a seeded prefix: reachable) or random far (N(0, 9) entries), one seeded instance each; the
layered engine with ``LAYERED_TIMEOUT``. The z3 path (``--engine z3``) runs on the n = 8, R = 3 row of every d and
on the must-show size (d = 64, n = 32, R = 16), capped at ``Z3_TIMEOUT`` (a timeout counts as >= the cap). The
must-show size also gets ``MUST`` seeds of each kind. A plot of time against d goes to
docs/figures/search_time_vs_d.png.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

DS, NS, RS = (4, 16, 64, 128), (8, 32, 128), (3, 16, 64)
LAYERED_TIMEOUT = 60.0
Z3_TIMEOUT = 20.0
MUST = 5


def problem(seed: int, d: int, n: int, R: int, kind: str) -> Any:
    import numpy as np
    import torch

    from numeric.adapt import ConcreteHead
    from proofs.z3_search import Problem
    from theory.smt_prefix import Method, Task

    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3)]
    X = rng.standard_normal((R, n, d))
    if kind == "planted":
        head = ConcreteHead(*[torch.tensor(w) for w in W], 1 / np.sqrt(d))
        s = torch.tensor(rng.standard_normal((1, d)) * 2)
        with torch.no_grad():
            Y = [head.last(torch.tensor(x), "prefix", "W_K", {"s": s})[0].tolist() for x in X]
    else:
        Y = (rng.standard_normal((R, d)) * 3).tolist()
    return Problem(*[w.tolist() for w in W], Method("prefix", 1), Task(X.tolist(), Y, tol=1e-3))


def _time(engine: str, p: Any, timeout: float) -> tuple[str, float]:
    from proofs.layered import decide
    from proofs.z3_search import search

    start = time.perf_counter()
    out = decide(p, timeout, fallback=False) if engine == "layered" else search(p, timeout)
    return out.verdict, time.perf_counter() - start


def _expected(kind: str) -> str:
    return "FOUND" if kind == "planted" else "IMPOSSIBLE"


def run(console: Console) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    table = Table(title="layered engine vs z3 path (n_S = 1, tol 1e-3)")
    for col in ("d", "n", "R", "targets", "layered", "s", "z3 path", "z3 s", "z3 / layered"):
        table.add_column(col)
    for d in DS:
        for n in NS:
            for R in RS:
                for kind in ("planted", "random"):
                    seed = d * 10_000 + n * 100 + R
                    p = problem(seed, d, n, R, kind)
                    verdict, secs = _time("layered", p, LAYERED_TIMEOUT)
                    row = {"d": d, "n": n, "R": R, "kind": kind, "seed": seed, "verdict": verdict,
                           "seconds": round(secs, 3), "correct": verdict == _expected(kind)}
                    if (n, R) == (8, 3) or (d, n, R) == (64, 32, 16):
                        zv, zs = _time("z3", p, Z3_TIMEOUT)
                        row.update(z3_verdict=zv, z3_seconds=round(zs, 3), ratio=round(zs / secs, 1))
                    rows.append(row)
                    table.add_row(str(d), str(n), str(R), kind, verdict, f"{secs:.2f}", row.get("z3_verdict", ""),
                                  f"{row['z3_seconds']:.2f}" if "z3_seconds" in row else "",
                                  (">=" if row.get("z3_verdict") == "UNKNOWN" else "") + str(row.get("ratio", "")))
    console.print(table)
    must = []
    for kind in ("planted", "random"):
        for i in range(MUST):
            verdict, secs = _time("layered", problem(90_000 + i, 64, 32, 16, kind), LAYERED_TIMEOUT)
            must.append({"kind": kind, "seed": 90_000 + i, "verdict": verdict, "seconds": round(secs, 3)})
    decided = sum(r["verdict"] != "UNKNOWN" for r in rows) / len(rows)
    wrong = [r for r in rows if r["verdict"] not in ("UNKNOWN", _expected(r["kind"]))]
    console.print(f"decided fraction over the grid: {100 * decided:.1f}% ({len(rows)} instances); verdicts other "
                  f"than the planted/far expectation: {len(wrong)}")
    console.print("must-show (d=64, n=32, R=16): " + ", ".join(f"{m['kind']} {m['verdict']} {m['seconds']:.2f}s"
                                                                for m in must))
    _plot(rows)
    return {"grid": rows, "must_show": must, "decided_fraction": decided, "unexpected": wrong}


def _plot(rows: list[dict[str, Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, style in (("planted", "o-"), ("random", "s-")):
        med = [statistics.median(r["seconds"] for r in rows if r["d"] == d and r["kind"] == kind) for d in DS]
        top = [max(r["seconds"] for r in rows if r["d"] == d and r["kind"] == kind) for d in DS]
        ax.plot(DS, med, style, label=f"layered, {kind} (median over n, R)")
        ax.plot(DS, top, style, alpha=0.35, label=f"layered, {kind} (max)")
    z3 = [(r["d"], r["z3_seconds"]) for r in rows if "z3_seconds" in r and (r["n"], r["R"]) == (8, 3)]
    if z3:
        ds = sorted({d for d, _ in z3})
        ax.plot(ds, [max(s for dd, s in z3 if dd == d) for d in ds], "x--", color="grey",
                label=f"z3 path, n=8, R=3 (cap {Z3_TIMEOUT:g}s)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=6)
    fig.tight_layout()
    out = Path(__file__).resolve().parent.parent / "docs" / "figures" / "search_time_vs_d.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
