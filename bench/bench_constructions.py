"""Section 3 construction benchmarks, measured in one run:

1. the precision limit of the two-token map: for each V, how many entries of random tables float32, float64 and
   exact arithmetic decode correctly (the table needs resolution V^-V);
2. cost per case: float64 (batched, reference model) against exact (interval arithmetic) for each construction;
3. the temperature threshold of Theorem 1 at V = 94, N = 20: closed form T* against float64 bisection;
4. wall time of the capacity claims in the default check (in this process).
"""
from __future__ import annotations

import math
import time

import torch
from rich.console import Console
from rich.table import Table


def precision_limits(Vs=range(4, 17), tables: int = 4) -> list[dict]:
    from numeric.constructions.sweeps import random_tuples, sweep_two_token
    from proofs.constructions import float_weights
    from theory.constructions import two_token
    from theory.constructions.sweeps import exact_two_token, random_tables

    rows = []
    for V in Vs:
        row: dict = {"V": V, "resolution": float(V) ** -V}
        if V <= 15:
            maps = random_tuples(V, V * V, tables, seed=V).reshape(-1, V, V)
            for dt in (torch.float32, torch.float64):
                r = sweep_two_token(float_weights(two_token.build(V)), maps, dtype=dt)
                row[str(dt).removeprefix("torch.")] = f"{r.cases - r.failures}/{r.cases}"
        pairs = [(a, (3 * a + 1) % V) for a in range(V)]
        ex = exact_two_token(V, random_tables(V, V, 1, seed=V), pairs=pairs)
        row["exact"] = f"{ex.cases - ex.failures - ex.uncertified}/{ex.cases}"
        row["exact_ms_per_case"] = 1000 * ex.seconds / ex.cases
        rows.append(row)
    return rows


def cost_per_case() -> list[dict]:
    from numeric.constructions import sweeps as fs
    from proofs.constructions import float_weights as w
    from theory.constructions import conditional, two_token, unconditional
    from theory.constructions import sweeps as xs

    out = []
    cases = [
        ("single virtual token V=94 N=20",
         lambda: fs.sweep_unconditional(w(unconditional.build(94, 20)), fs.random_tuples(94, 20, 200, 0)),
         lambda: xs.exact_unconditional(94, 20, xs.random_rows(94, 20, 10, 0))),
        ("[V]->[V] map V=94", lambda: fs.sweep_map(w(conditional.build_map(94)), fs.random_tuples(94, 94, 20, 0)),
         lambda: xs.exact_map(94, xs.random_rows(94, 94, 1, 0))),
        ("[V]->[V]^N0 map V=94 N0=10",
         lambda: fs.sweep_sequence(w(conditional.build_sequence(94, 10)),
                                   fs.random_tuples(94, 940, 2, 0).reshape(-1, 94, 10)),
         lambda: xs.exact_sequence(94, 10, xs.random_tables(94, 10, 1, 0), inputs=[0, 1, 2])),
        ("[V]^2->[V] map V=10",
         lambda: fs.sweep_two_token(w(two_token.build(10)), fs.random_tuples(10, 100, 10, 0).reshape(-1, 10, 10)),
         lambda: xs.exact_two_token(10, xs.random_tables(10, 10, 1, 0))),
    ]
    for name, flt, exact in cases:
        f, x = flt(), exact()
        out.append({"construction": name, "float64_ms": 1000 * f.seconds / f.cases,
                    "exact_ms": 1000 * x.seconds / x.cases, "ratio": (x.seconds / x.cases) / (f.seconds / f.cases),
                    "all_correct": f.ok and x.ok})
    return out


def temperature() -> dict:
    from numeric.constructions.sweeps import threshold
    from proofs.constructions import float_weights
    from theory.constructions import unconditional

    V, N = 94, 20
    T_star = unconditional.threshold_T(V, N)
    worst = torch.full((1, N), V - 1, dtype=torch.long)
    start = time.perf_counter()
    hi = threshold(float_weights(unconditional.build(V, N)), worst, T_star / 2, T_star * 2, 50)
    return {"closed_form": T_star, "bisected": hi, "relative": abs(hi - T_star) / T_star,
            "paper_sufficient_T": math.sqrt(N) * math.log((4 * V - 1) * (N - 1)),
            "seconds": time.perf_counter() - start}


def claims_time() -> dict:
    from proofs.catalogue.capacity import CLAIMS
    from proofs.claim import Context
    from proofs.runner import run_claim

    out = {}
    for claim in CLAIMS:
        start = time.perf_counter()
        r = run_claim(claim, Context())
        out[claim.id] = {"seconds": time.perf_counter() - start, "verdict": r.verdict}
    out["total_seconds"] = sum(v["seconds"] for v in out.values())
    out["target_seconds"] = 20.0
    return out


def run(console: Console) -> dict:
    limits = precision_limits()
    t = Table(title="two-token map: entries decoded correctly (random tables)")
    for col in ("V", "V^-V", "float32", "float64", "exact", "exact ms/case"):
        t.add_column(col, justify="right")
    for r in limits:
        t.add_row(str(r["V"]), f"{r['resolution']:.1e}", r.get("float32", "—"), r.get("float64", "—"), r["exact"],
                  f"{r['exact_ms_per_case']:.1f}")
    console.print(t)
    costs = cost_per_case()
    t = Table(title="cost per case: float64 reference model (batched) vs exact interval arithmetic")
    for col in ("construction", "float64 ms", "exact ms", "exact / float64", "all correct"):
        t.add_column(col)
    for r in costs:
        t.add_row(r["construction"], f"{r['float64_ms']:.3f}", f"{r['exact_ms']:.1f}", f"{r['ratio']:.0f}x",
                  str(r["all_correct"]))
    console.print(t)
    temp = temperature()
    console.print(f"temperature threshold V=94 N=20: closed form T* = {temp['closed_form']:.12g}, float64 bisection "
                  f"{temp['bisected']:.12g} (relative {temp['relative']:.1e}); the paper's sufficient condition "
                  f"needs T > {temp['paper_sufficient_T']:.6g}")
    claims = claims_time()
    console.print(f"capacity claims in the default check: {claims['total_seconds']:.1f}s (target "
                  f"{claims['target_seconds']:.0f}s)")
    return {"precision_limits": limits, "cost_per_case": costs, "temperature": temp, "claims": claims}
