"""z3 configuration of `theory.kernel.run_z3`, measured in one run on the catalogue's own queries.

Every query the smt layers of the catalogue hand to z3 is recorded (each claim's smt layer, run once), then each
is solved again by the previous configuration (``SolverFor("QF_NRA")``) and by `theory.kernel.z3_solver`
(``qfnra-nlsat`` with ``inline_vars``), in alternating passes, least of ``REPEATS`` passes each. Reported per claim
with z3 work: both times and their ratio, and that the answers agree on every query (a configuration change
must not turn an UNSAT into anything else, nor lose a SAT). The query-size walk of the report
(`theory.smt._unknowns`, z3's C API) is timed against a walk through z3's Python wrappers.

The encoding of a vector divided by a term in `theory.smt.Vec` (``v * (1/y)``, one reciprocal per vector) is
timed against the previous one (``v_c / y`` per component, a quotient unknown each): the catalogue's queries are
recorded once under each and solved by `theory.kernel.z3_solver`, least of ``REPEATS`` passes, answers compared.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

REPEATS = 3
TIMEOUT_MS = 60_000


def catalogue_queries() -> list[tuple[str, list[Any], str]]:
    """(claim id, assertions, result) of every z3 check the catalogue's smt layers make."""
    import z3

    from proofs.claim import Context
    from proofs.registry import catalogue
    from proofs.runner import run

    seen: list[tuple[str, list[Any], str]] = []
    check = z3.Solver.check
    claim = [""]

    def record(self: Any, *args: Any) -> Any:
        result = check(self, *args)
        seen.append((claim[0], list(self.assertions()), str(result)))
        return result

    z3.Solver.check = record  # type: ignore[method-assign]
    try:
        for c in catalogue():
            claim[0] = c.id
            run([c], Context(), layers=("smt",))
    finally:
        z3.Solver.check = check  # type: ignore[method-assign]
    return seen


def _previous() -> Any:
    import z3

    return z3.SolverFor("QF_NRA")


def _pass(make: Any, queries: list[tuple[str, list[Any], str]]) -> tuple[dict[str, float], list[str]]:
    """Seconds per claim inside ``check`` (models taken for SAT answers, as `run_z3` does) and the answers."""
    import z3

    seconds: dict[str, float] = defaultdict(float)
    answers = []
    for claim, assertions, _ in queries:
        solver = make()
        solver.set("timeout", TIMEOUT_MS)
        solver.add(*assertions)
        start = time.perf_counter()
        r = solver.check()
        if r == z3.sat:
            solver.model()
        seconds[claim] += time.perf_counter() - start
        answers.append(str(r))
    return seconds, answers


def _wrapper_walk(constraints: list[Any]) -> int:
    """The number of uninterpreted constants, walking z3's Python wrappers (the previous `_unknowns`)."""
    import z3

    names, visited, todo = set(), set(), list(constraints)
    while todo:
        e = todo.pop()
        if (key := e.get_id()) in visited:
            continue
        visited.add(key)
        if z3.is_const(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            names.add(e.decl().name())
        else:
            todo.extend(e.children())
    return len(names)


def _least(variants: dict[str, tuple[Any, list[tuple[str, list[Any], str]]]],
           ) -> tuple[dict[str, dict[str, float]], dict[str, list[str]]]:
    """Per variant (a solver factory and the queries it answers, as `_pass` takes them): the least z3 seconds per
    claim over `REPEATS` passes, the variants alternating, and the answers of the last pass."""
    best: dict[str, dict[str, float]] = {name: {} for name in variants}
    answers: dict[str, list[str]] = {}
    for _ in range(REPEATS):
        for name, (make, queries) in variants.items():
            seconds, answers[name] = _pass(make, queries)
            for claim, s in seconds.items():
                best[name][claim] = min(s, best[name].get(claim, s))
    return best, answers


def solver_configs() -> dict:
    from theory.kernel import z3_solver
    from theory.smt import _unknowns

    queries = catalogue_queries()
    best, answers = _least({"previous": (_previous, queries), "current": (z3_solver, queries)})
    start = time.perf_counter()
    wrapper = [_wrapper_walk(q) for _, q, _ in queries]
    t_wrapper = time.perf_counter() - start
    start = time.perf_counter()
    direct = [len(_unknowns(q)) for _, q, _ in queries]
    t_direct = time.perf_counter() - start
    return {"queries": len(queries), "claims": best,
            "disagreements": sum(a != b for a, b in zip(answers["previous"], answers["current"])),
            "unknown": sum(a == "unknown" for a in answers["previous"] + answers["current"]),
            "previous_seconds": sum(best["previous"].values()), "current_seconds": sum(best["current"].values()),
            "unknowns_walk_equal": wrapper == direct, "wrapper_walk_seconds": t_wrapper,
            "c_api_walk_seconds": t_direct}


def _quotients() -> Any:
    """The previous `theory.smt.Vec.__truediv__`: one quotient per component."""
    from theory.smt import Vec, raw

    def truediv(self: Vec, scalar: Any) -> Vec:
        return Vec(a / raw(scalar) for a in self.items)

    return truediv


def vector_division() -> dict:
    """z3 seconds per claim and answers, catalogue queries recorded under each encoding of ``v / y``."""
    from theory.kernel import z3_solver
    from theory.smt import Vec

    current = Vec.__truediv__
    Vec.__truediv__ = _quotients()  # type: ignore[method-assign]
    try:
        old = catalogue_queries()
    finally:
        Vec.__truediv__ = current  # type: ignore[method-assign]
    new = catalogue_queries()
    best, answers = _least({"quotients": (z3_solver, old), "reciprocal": (z3_solver, new)})
    return {"claims": best, "same_answers": answers["quotients"] == answers["reciprocal"],
            "quotients_seconds": sum(best["quotients"].values()),
            "reciprocal_seconds": sum(best["reciprocal"].values())}


def run(console: Console) -> dict:
    out = solver_configs()
    table = Table(title=f"z3 on the catalogue's smt queries ({out['queries']} queries, least of {REPEATS} passes)")
    for col in ("claim", "SolverFor(QF_NRA) s", "qfnra-nlsat inline_vars s", "ratio"):
        table.add_column(col)
    prev, cur = out["claims"]["previous"], out["claims"]["current"]
    for claim in sorted(prev, key=lambda c: -prev[c]):
        table.add_row(claim, f"{prev[claim]:.3f}", f"{cur[claim]:.3f}", f"{prev[claim] / cur[claim]:.2f}x")
    table.add_row("total", f"{out['previous_seconds']:.3f}", f"{out['current_seconds']:.3f}",
                  f"{out['previous_seconds'] / out['current_seconds']:.2f}x")
    console.print(table)
    console.print(f"answers differing: {out['disagreements']}; unknown answers: {out['unknown']}; query-size walk "
                  f"{out['wrapper_walk_seconds']:.3f}s (wrappers) vs {out['c_api_walk_seconds']:.3f}s (C API), "
                  f"same counts: {out['unknowns_walk_equal']}")
    div = vector_division()
    table = Table(title=f"Z3Env vector division: v_c / y per component vs v * (1/y) (least of {REPEATS} passes)")
    for col in ("claim", "quotients s", "reciprocal s", "ratio"):
        table.add_column(col)
    q, r = div["claims"]["quotients"], div["claims"]["reciprocal"]
    for claim in sorted(q, key=lambda c: -q[c])[:8]:
        rc = r.get(claim, 0.0)
        table.add_row(claim, f"{q[claim]:.3f}", f"{rc:.3f}", f"{q[claim] / max(rc, 1e-6):.1f}x")
    table.add_row("total", f"{div['quotients_seconds']:.3f}", f"{div['reciprocal_seconds']:.3f}",
                  f"{div['quotients_seconds'] / div['reciprocal_seconds']:.2f}x")
    console.print(table)
    console.print(f"same answers on every query: {div['same_answers']}")
    out["vector_division"] = div
    return out
