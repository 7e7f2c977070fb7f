"""`prefix.cannot_reverse_attention` as n grows: z3 per-pair vs one joint query, and z3 vs cvc5 on the same
UNSAT queries, all measured in one run (ratios, so machine speed cancels).

* per-pair: one query ``l_j < l_k and A^pt_j >= A^pt_k`` for every ordered pair (n(n-1) queries; at n = 64 this
  is the explicit n = 64 sweep the claim refers to);
* joint: one query with the disjunction over all pairs (capped at ``JOINT_TIMEOUT`` seconds: a timeout is
  reported as ``>= cap`` and the ratio as a lower bound);
* z3 vs cvc5: the same SMT-LIB text (positive-real exp abstraction) for a fixed sample of pairs and the
  aggregated (every-n) query; cvc5 capped at ``CVC5_TIMEOUT`` seconds per query.
"""
from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

SIZES = (8, 16, 32, 64)
JOINT_TIMEOUT = 30.0
CVC5_TIMEOUT = 10.0


def _per_pair(n: int) -> tuple[float, int, list[str]]:
    from theory.smt_prefix import ReverseQuery, solve

    start, results = time.perf_counter(), []
    for j in range(n):
        for k in range(n):
            if j != k:
                cs, _ = ReverseQuery(n, [(j, k)]).build()
                results.append(solve(cs, 60.0).result)
    return time.perf_counter() - start, len(results), sorted(set(results))


def _joint(n: int) -> tuple[float, str]:
    from theory.smt_prefix import ReverseQuery, solve

    pairs = [(j, k) for j in range(n) for k in range(n) if j != k]
    start = time.perf_counter()
    cs, _ = ReverseQuery(n, pairs).build()
    r = solve(cs, JOINT_TIMEOUT)
    return time.perf_counter() - start, r.result


def _z3_vs_cvc5(n: int) -> dict[str, Any]:
    from theory.smt_cvc5 import check_smtlib
    from theory.smt_prefix import ReverseQuery, solve, to_smtlib

    sample = [(0, 1), (1, 0), (2, n - 3), (n - 1, 0)]
    z3_s = cvc5_s = 0.0
    answers = []
    for pair in sample:
        cs, _ = ReverseQuery(n, [pair]).build()
        r = solve(cs, 60.0)
        answer, seconds = check_smtlib(to_smtlib(cs), CVC5_TIMEOUT)
        z3_s += r.seconds
        cvc5_s += seconds
        answers.append((r.result, answer))
    agree = all(a == b == "unsat" for a, b in answers)
    return {"pairs": len(sample), "z3_seconds": round(z3_s, 4), "cvc5_seconds": round(cvc5_s, 4),
            "cvc5_over_z3": round(cvc5_s / z3_s, 1), "agree_unsat": agree,
            "cvc5_answers": sorted({b for _, b in answers})}


def run(console: Console) -> dict:
    from theory.smt_cvc5 import available, check_smtlib
    from theory.smt_prefix import ReverseQuery, solve, to_smtlib

    out: dict[str, Any] = {"joint_timeout": JOINT_TIMEOUT, "cvc5_timeout": CVC5_TIMEOUT, "sizes": {}}
    t = Table(title="prefix.cannot_reverse_attention: z3 per-pair vs joint; z3 vs cvc5")
    for col in ("n", "per-pair queries", "per-pair s", "joint s", "joint / per-pair", "z3 s (4 pairs)",
                "cvc5 s (4 pairs)", "cvc5 / z3"):
        t.add_column(col, justify="right")
    for n in SIZES:
        pp_s, count, results = _per_pair(n)
        j_s, j_res = _joint(n)
        row: dict[str, Any] = {"per_pair_seconds": round(pp_s, 3), "per_pair_queries": count,
                               "per_pair_results": results, "joint_seconds": round(j_s, 3), "joint_result": j_res,
                               "joint_over_per_pair": round(j_s / pp_s, 2),
                               "joint_ratio_is_lower_bound": j_res != "unsat"}
        if available():
            row["z3_vs_cvc5"] = _z3_vs_cvc5(n)
        out["sizes"][n] = row
        c = row.get("z3_vs_cvc5", {})
        bound = ">= " if row["joint_ratio_is_lower_bound"] else ""
        t.add_row(str(n), f"{count} ({'/'.join(results)})", f"{pp_s:.2f}", f"{bound}{j_s:.2f} ({j_res})",
                  f"{bound}{row['joint_over_per_pair']}", str(c.get("z3_seconds", "—")),
                  f"{c.get('cvc5_seconds', '—')} ({'/'.join(c.get('cvc5_answers', []))})",
                  f"{'>= ' if c and not c['agree_unsat'] else ''}{c.get('cvc5_over_z3', '—')}")
        console.print(f"n={n}: per-pair {pp_s:.2f}s, joint {j_s:.2f}s ({j_res})")
    if available():
        cs, _ = ReverseQuery(64, [(0, 1)], aggregated=True).build()
        r = solve(cs, 60.0)
        answer, seconds = check_smtlib(to_smtlib(cs), CVC5_TIMEOUT)
        out["aggregated"] = {"z3": r.result, "z3_seconds": round(r.seconds, 4), "cvc5": answer,
                             "cvc5_seconds": round(seconds, 4), "cvc5_over_z3": round(seconds / r.seconds, 1)}
    console.print(t)
    if "aggregated" in out:
        a = out["aggregated"]
        console.print(f"aggregated (every n) query: z3 {a['z3']} {a['z3_seconds']}s, cvc5 {a['cvc5']} "
                      f"{a['cvc5_seconds']}s (cvc5/z3 = {a['cvc5_over_z3']})")
    return out
