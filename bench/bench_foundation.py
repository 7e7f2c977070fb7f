"""Foundation benchmarks, measured in one run:

1. wall time of the whole default ``prefixcheck check`` (a fresh process: torch / sympy / z3 imports included);
2. the structured general-n proof of ``prefix.single.closed_form`` against plain ``sympy.simplify`` of the
   unrolled residual at n=8, d=2 (query position 8, weights exp(l) of the explicit logits);
3. numeric instance-checks per second, batched (one float64 batch) against a per-instance Python loop.
"""
from __future__ import annotations

import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table


def _timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def whole_check() -> dict:
    proc, seconds = _timed(lambda: subprocess.run([sys.executable, "-m", "proofs", "check"], capture_output=True,
                                                  text=True))
    return {"seconds": seconds, "exit": proc.returncode, "target_seconds": 10.0}


def structured_vs_simplify() -> dict:
    import sympy as sp

    from proofs.catalogue.section4 import single_closed_form
    from theory import section4
    from theory.derivation import equal
    from theory.head import GeneralEnv, Shape, UnrolledEnv

    def structured() -> bool:
        deriv = section4.single_closed_form()
        lhs, rhs = single_closed_form(GeneralEnv(Shape()))
        return (deriv.check().ok and equal(deriv.start, lhs, deriv.definitions).status == "zero"
                and equal(deriv.end, rhs, deriv.definitions).status == "zero")

    lhs, rhs = single_closed_form(UnrolledEnv(Shape(), n=8, d=2, i=8, mode="exp"))
    residual = lhs - rhs
    ok_s, t_structured = _timed(structured)
    simplified, t_simplify = _timed(lambda: [sp.simplify(c) for c in residual])
    return {"structured_seconds": t_structured, "structured_ok": ok_s, "simplify_seconds": t_simplify,
            "simplify_zero": all(c == 0 for c in simplified),
            "ratio_simplify_over_structured": t_simplify / t_structured}


def batched_vs_loop(B: int = 100_000, loop_B: int = 2_000) -> dict:
    import torch

    from numeric.attention import HeadInstances, TorchHead, discrepancy, random_instances
    from proofs.catalogue.section4 import single_closed_form

    torch.set_num_threads(2)
    inst = random_instances(B, 6, 4, seed=0)

    class One:
        def __init__(self, h):
            self.h = h

    def batched() -> float:
        lhs, rhs = single_closed_form(One(TorchHead(inst)))
        return discrepancy(lhs, rhs).max_error

    def loop() -> float:
        worst = 0.0
        for b in range(loop_B):
            one = HeadInstances(inst.X[b:b + 1], inst.W_Q[b:b + 1], inst.W_K[b:b + 1], inst.W_V[b:b + 1],
                                inst.S[b:b + 1], inst.tau)
            lhs, rhs = single_closed_form(One(TorchHead(one)))
            worst = max(worst, discrepancy(lhs, rhs).max_error)
        return worst

    err_b, t_b = _timed(batched)
    err_l, t_l = _timed(loop)
    rate_b, rate_l = B / t_b, loop_B / t_l
    return {"batched_per_second": rate_b, "loop_per_second": rate_l, "ratio": rate_b / rate_l,
            "max_error_batched": err_b, "max_error_loop": err_l, "target_batched_per_second": 100_000}


def run(console: Console) -> dict:
    results = {"whole_check": whole_check(), "structured_vs_simplify": structured_vs_simplify(),
               "batched_vs_loop": batched_vs_loop()}
    t = Table(title="foundation")
    t.add_column("measure")
    t.add_column("value", justify="right")
    w, s, b = results["whole_check"], results["structured_vs_simplify"], results["batched_vs_loop"]
    t.add_row("prefixcheck check wall time (target < 10 s)", f"{w['seconds']:.2f} s (exit {w['exit']})")
    t.add_row("general-n structured proof", f"{s['structured_seconds']:.3f} s")
    t.add_row("plain simplify, unrolled n=8 d=2", f"{s['simplify_seconds']:.3f} s (zero: {s['simplify_zero']})")
    t.add_row("ratio simplify / structured", f"{s['ratio_simplify_over_structured']:.1f}x")
    t.add_row("numeric checks/s batched (target >= 100k)", f"{b['batched_per_second']:,.0f}")
    t.add_row("numeric checks/s per-instance loop", f"{b['loop_per_second']:,.0f}")
    t.add_row("ratio batched / loop", f"{b['ratio']:.0f}x")
    console.print(t)
    return results
