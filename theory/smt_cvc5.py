"""cvc5 as a second backend: re-check a z3 query, given as SMT-LIB 2 text, with the same abstraction.

cvc5's own transcendental ``exp`` times out on these queries, so the queries it receives are the z3 encodings
themselves (weights as positive reals with exp lemmas, `theory.smt_prefix`), exported by ``to_smtlib``. Agreement
of the two solvers on UNSAT is reported; a disagreement is never resolved in favour of a proof.
"""
from __future__ import annotations

import time


def check_smtlib(text: str, timeout: float, logic: str = "QF_NRA") -> tuple[str, float]:
    """('sat' | 'unsat' | 'unknown' | 'error: ...', seconds) for the script ``text`` under a per-query time limit.
    cvc5 raising (a parse or solver error) is an answer too, never a crash of the caller."""
    start = time.perf_counter()
    try:
        return _check(text, timeout, logic)
    except RuntimeError as exc:
        return f"error: {str(exc).splitlines()[0][:120]}", time.perf_counter() - start


def _check(text: str, timeout: float, logic: str) -> tuple[str, float]:
    import cvc5

    solver = cvc5.Solver()
    solver.setLogic(logic)
    solver.setOption("tlimit-per", str(max(1, int(timeout * 1000))))
    parser = cvc5.InputParser(solver)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "query")
    symbols = parser.getSymbolManager()
    answer = "unknown"
    start = time.perf_counter()
    while True:
        command = parser.nextCommand()
        if command.isNull():
            break
        out = command.invoke(solver, symbols).strip()
        if out in ("sat", "unsat", "unknown"):
            answer = out
    return answer, time.perf_counter() - start


def available() -> bool:
    """True if the optional cvc5 package can be imported."""
    try:
        import cvc5  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True
