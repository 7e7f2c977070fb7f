"""Kernel zero test, measured in one run: the residuals the catalogue's symbolic layers hand to
`theory.kernel.decide_zero` are recorded (every claim's symbolic check, run once), then each is decided again by
the rational-function test (`_rational_zero`, python-flint ``fmpq_mpoly``) and by the previous test (sympy
``together`` + expanding the numerator), each pass after clearing sympy's cache. Reported: both times, their
ratio, and that the two never disagree on a residual the previous test called 0 (the new test must decide every
one of them, or ``decide_zero`` falls back to the previous test); and that no residual the rational test shows is
not 0 as a function (verdict "nonzero": ``decide_zero`` skips the other tests for it) is 0 for ``together``.
"""
from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table


def _together_zero(e: Any) -> bool:
    import sympy as sp

    return bool(e == 0 or sp.expand(sp.numer(sp.together(e))) == 0)


def catalogue_residuals() -> list[Any]:
    """Every residual part `decide_zero` tests during the symbolic layer of every catalogue claim."""
    from proofs.claim import Context
    from proofs.registry import catalogue
    from proofs.runner import run
    from theory import kernel

    seen: list[Any] = []
    verdict = kernel._rational_verdict

    def record(e: Any) -> kernel.Verdict:
        seen.append(e)
        return verdict(e)

    kernel._rational_verdict = record
    try:
        run(catalogue(), Context(), layers=("symbolic",))
    finally:
        kernel._rational_verdict = verdict
    return seen


def _timed_pass(test: Any, residuals: list[Any]) -> tuple[list[bool], float]:
    from sympy.core.cache import clear_cache

    clear_cache()
    start = time.perf_counter()
    out = [test(e) for e in residuals]
    return out, time.perf_counter() - start


def zero_tests() -> dict:
    from theory.kernel import _rational_verdict, _rational_zero

    residuals = catalogue_residuals()
    old, t_old = _timed_pass(_together_zero, residuals)
    new, t_new = _timed_pass(_rational_zero, residuals)
    nonzero = [_rational_verdict(e) == "nonzero" for e in residuals]
    return {"residuals": len(residuals), "zero_by_together": sum(old), "zero_by_rational": sum(new),
            "together_only": sum(o and not n for o, n in zip(old, new)),
            "rational_only": sum(n and not o for o, n in zip(old, new)),
            "nonzero_by_rational": sum(nonzero),
            "nonzero_but_zero_by_together": sum(o and z for o, z in zip(old, nonzero)),
            "together_seconds": t_old, "rational_seconds": t_new, "ratio_together_over_rational": t_old / t_new}


def run(console: Console) -> dict:
    out = zero_tests()
    table = Table(title="kernel zero test on the catalogue's residuals")
    for col in ("residuals", "zero (together)", "zero (rational)", "together only", "not 0 (rational)",
                "of them 0 (together)", "together s", "rational s", "ratio"):
        table.add_column(col)
    table.add_row(str(out["residuals"]), str(out["zero_by_together"]), str(out["zero_by_rational"]),
                  str(out["together_only"]), str(out["nonzero_by_rational"]), str(out["nonzero_but_zero_by_together"]),
                  f"{out['together_seconds']:.2f}", f"{out['rational_seconds']:.2f}",
                  f"{out['ratio_together_over_rational']:.1f}x")
    console.print(table)
    return out
