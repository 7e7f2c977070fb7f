"""Section 3 construction benchmarks, measured in one run:

1. the precision limit of the two-token map: for each V, how many entries of random tables float32, float64 and
   exact arithmetic decode correctly (the table needs resolution V^-V);
2. cost per case: float64 (batched, reference model) against exact (interval arithmetic) for each construction;
3. the temperature threshold of Theorem 1 at V = 94, N = 20: closed form T* against float64 bisection;
4. the exact evaluator of `theory.exact` against the evaluator it replaced (`_Reference`: every input row enclosed
   and projected afresh at every step, dense loops), on the same greedy steps of every exact sweep of
   `proofs.constructions.DEFAULT`: CPU seconds of each and their ratio; the enclosures must be identical;
5. wall time of the capacity claims in the default check (in this process).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

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


class _Reference:
    """The exact evaluator before the first-layer row cache (theory/exact.py at 2d6fa26): the same outward-rounded
    operations of `theory.interval`, every row of every step evaluated afresh."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.layers = [([(self._rows(h.W_Q), self._rows(h.W_K), self._rows(h.W_V)) for h in layer.heads],
                        [(self._rows(a.A), [Fraction(b) for b in a.b]) for a in layer.mlp]) for layer in net.layers]
        self.W_U = self._rows(net.W_U)

    @staticmethod
    def _rows(M: Any) -> list[list[tuple[int, int, int]]]:
        out: list[list[tuple[int, int, int]]] = [[] for _ in range(M.rows)]
        for i, j, v in M.entries:
            out[i].append((j, v.numerator, v.denominator))
        return out

    @staticmethod
    def _matvec(rows: list[list[tuple[int, int, int]]], x: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        from theory.interval import ZERO, scale

        out = []
        for row in rows:
            lo = hi = 0
            for j, p, q in row:
                if x[j] == ZERO:
                    continue
                a, b = (x[j][0], x[j][1]) if p == q == 1 else scale(x[j], p, q)
                lo, hi = lo + a, hi + b
            out.append((lo, hi))
        return out

    def logits(self, rows: Sequence[Sequence[Any]], bits: int) -> list[tuple[int, int]]:
        from theory.exact import _enclose_input
        from theory.interval import ZERO, enclose, mul, sqrt_ratio

        L, mv = len(rows), self._matvec
        x = [[_enclose_input(v, bits) for v in row] for row in rows]
        factor = sqrt_ratio(Fraction(self.net.T), L, bits)
        for index, (heads, mlp) in enumerate(self.layers):
            queries = [L - 1] if index == len(self.layers) - 1 else list(range(L))
            h = [[ZERO] * len(x[0]) for _ in queries]
            for WQ, WK, WV in heads:
                keys, values = [mv(WK, xj) for xj in x], [mv(WV, xj) for xj in x]
                for qi, i in enumerate(queries):
                    q = mv(WQ, x[i])
                    dots = []
                    for k in keys:
                        lo = hi = 0
                        for qj, kj in zip(q, k):
                            if qj != ZERO and kj != ZERO:
                                p = mul(qj, kj, bits)
                                lo, hi = lo + p[0], hi + p[1]
                        dots.append(mul(factor, (lo, hi), bits))
                    for w, v in zip(self._softmax(dots, bits), values):
                        for c, vc in enumerate(v):
                            if vc != ZERO:
                                a, b = mul(w, vc, bits)
                                h[qi][c] = (h[qi][c][0] + a, h[qi][c][1] + b)
            out = []
            for hv in h:
                for A, biases in mlp:
                    y = mv(A, hv)
                    hv = []
                    for (lo, hi), bias in zip(y, biases):
                        if bias:
                            blo, bhi = enclose(bias, bits)
                            lo, hi = lo + blo, hi + bhi
                        hv.append((max(lo, 0), max(hi, 0)))
                out.append(hv)
            x = out
        return mv(self.W_U, x[-1])

    @staticmethod
    def _softmax(logits: list[tuple[int, int]], bits: int) -> list[tuple[int, int]]:
        from theory.interval import ceil_div, exp_fixed

        m = max(lo for lo, _ in logits)
        e = [(exp_fixed(lo - m, bits, upper=False), exp_fixed(hi - m, bits, upper=True)) for lo, hi in logits]
        sum_lo, sum_hi = sum(a for a, _ in e), sum(b for _, b in e)
        one = 1 << bits
        return [((lo * one) // (sum_hi - hi + lo) if sum_hi - hi + lo > 0 else 0,
                 min(one, ceil_div(hi * one, sum_lo - lo + hi))) for lo, hi in e]

    def step(self, rows: Sequence[Sequence[Any]], bits: int = 128, max_bits: int = 4096) -> Any:
        from theory.exact import ExactStep
        from theory.kernel import certified_argmax

        while True:
            logits = self.logits(rows, bits)
            token = certified_argmax(logits)
            if token is not None or bits >= max_bits:
                return ExactStep(logits, bits, token)
            bits *= 2


def evaluator_ratio() -> list[dict]:
    """Each exact sweep of `DEFAULT` through `theory.exact` (its greedy steps recorded), then the same steps through
    `_Reference`: CPU seconds (process time; theory.exact's include the sweep's own work, the kernel's decisions
    among it, so the ratio is a lower bound) and whether every step's enclosures, resolution and token agree."""
    from proofs.constructions import DEFAULT
    from theory import exact

    DEFAULT["single_virtual_token"][0].run(0)  # warm-up: imports and first-call costs
    out = []
    step = exact.ExactPrefix.step
    for sweeps in DEFAULT.values():
        for sweep in sweeps:
            if not sweep.exact:
                continue
            seen: list[tuple[Any, list, list[int], Any]] = []

            def record(self: Any, tokens: Sequence[int], bits: int = 128, max_bits: int = 4096,
                       seen: list = seen) -> Any:
                st = step(self, tokens, bits, max_bits)
                seen.append((self.exact.net, self.virtual, list(tokens), st))
                return st

            exact.ExactPrefix.step = record  # type: ignore[method-assign]
            try:
                start = time.process_time()
                sweep.run(0)
                new = time.process_time() - start
            finally:
                exact.ExactPrefix.step = step  # type: ignore[method-assign]
            refs: dict[int, _Reference] = {}
            start = time.process_time()
            got = [refs.setdefault(id(net), _Reference(net)).step(net.inputs(v, t)) for net, v, t, _ in seen]
            old = time.process_time() - start
            same = all((g.logits, g.bits, g.token) == (st.logits, st.bits, st.token)
                       for g, (_, _, _, st) in zip(got, seen))
            out.append({"sweep": sweep.label, "steps": len(seen), "reference_s": old, "exact_s": new,
                        "ratio": old / new, "identical": same})
    return out


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
    ratios = evaluator_ratio()
    t = Table(title="exact evaluator: theory.exact against the evaluator it replaced, same steps (CPU seconds)")
    for col in ("sweep", "steps", "reference s", "theory.exact s", "ratio", "identical"):
        t.add_column(col)
    for r in ratios:
        t.add_row(r["sweep"], str(r["steps"]), f"{r['reference_s']:.3f}", f"{r['exact_s']:.3f}", f"{r['ratio']:.2f}",
                  str(r["identical"]))
    total_old, total_new = sum(r["reference_s"] for r in ratios), sum(r["exact_s"] for r in ratios)
    console.print(f"all exact sweeps: {total_old:.2f}s -> {total_new:.2f}s ({total_old / total_new:.2f}x)")
    claims = claims_time()
    console.print(f"capacity claims in the default check: {claims['total_seconds']:.1f}s (target "
                  f"{claims['target_seconds']:.0f}s)")
    return {"precision_limits": limits, "cost_per_case": costs, "temperature": temp, "evaluator": ratios,
            "claims": claims}
