"""Solve a `theory.relax.Relaxation` with HiGHS and turn an infeasible answer into an exact certificate.

HiGHS works in floating point and is *not* trusted: it only proposes. An "infeasible" answer comes with a dual
ray ``y``; we keep its support ``S`` (rows with ``|y_i|`` above 1e-9 of the largest), and solve the Farkas
system on ``S`` *exactly* (python-flint ``fmpq_mat.rref``): ``sum_{i in S} y_i a_i = 0``,
``sum_{i in S} y_i b_i = -1``, free entries set to 0 (a basic solution) or to the rationalised float values.
The exact multipliers then go to `theory.kernel.certify_farkas`, which re-checks signs, cancellation and
``y.b < 0`` in exact rationals on the very rows of the relaxation. If no exact multiplier vector passes, the
answer is "unknown", never "infeasible".
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from theory.relax import Relaxation, Row

SUPPORT = 1e-9


@dataclass
class LPAnswer:
    """``status``: "feasible" (``point``: a float solution by variable name), "infeasible" (``certificate``:
    a genuine kernel certificate), or "unknown" (``reason``)."""

    status: str
    seconds: float
    point: dict[str, float] | None = None
    certificate: Any = None
    reason: str = ""
    rows: int = 0
    support: int = 0


def _highs(rel: Relaxation, names: list[str], objective: dict[str, float] | None = None) -> Any:
    """HiGHS loaded with the rows of ``rel`` over the columns ``names`` (``rel.variables``), every coefficient
    and right-hand side as the double ``float(q)`` of its rational (the data are doubles already, `theory.enclose`)."""
    import highspy
    import numpy as np

    index = {v: i for i, v in enumerate(names)}
    inf = highspy.kHighsInf
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # keeps the dual ray on the original rows
    n = len(names)
    cost = np.zeros(n)
    for v, c in (objective or {}).items():
        if v in index:
            cost[index[v]] = c
    h.addVars(n, np.full(n, -inf), np.full(n, inf))
    if objective:
        h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    lower: list[float] = []
    upper: list[float] = []
    starts: list[int] = []
    idx: list[int] = []
    vals: list[float] = []
    doubles: dict[int, float] = {}  # float(q) by id(q): the same rationals (W_V's entries) recur in many rows
    for coeffs, sense, rhs in rel.rows:
        starts.append(len(idx))
        idx.extend(map(index.__getitem__, coeffs))
        for a in coeffs.values():
            f = doubles.get(id(a))
            if f is None:
                f = doubles[id(a)] = float(a)
            vals.append(f)
        b = float(rhs)
        lower.append(b if sense == "==" else -inf)
        upper.append(b)
    h.addRows(len(rel.rows), np.array(lower), np.array(upper), len(idx), np.array(starts, dtype=np.int32),
              np.array(idx, dtype=np.int32), np.array(vals))
    return h


def solve(rel: Relaxation, timeout: float, objective: dict[str, float] | None = None) -> LPAnswer:
    """Feasible (with a point), infeasible (with a kernel-checked Farkas certificate) or unknown."""
    import highspy

    start = time.perf_counter()
    trivial = _constant_rows(rel)
    if trivial is not None:
        return _certify(rel, [trivial], {trivial: Fraction(1)}, start)
    names = rel.variables
    if not names:
        return LPAnswer("feasible", time.perf_counter() - start, point={}, rows=len(rel.rows))
    h = _highs(rel, names, objective)
    h.setOptionValue("time_limit", max(0.01, float(timeout)))
    h.run()
    status = h.getModelStatus()
    seconds = time.perf_counter() - start
    if status == highspy.HighsModelStatus.kOptimal:
        x = h.getSolution().col_value
        return LPAnswer("feasible", seconds, point=dict(zip(names, map(float, x))), rows=len(rel.rows))
    if status != highspy.HighsModelStatus.kInfeasible:
        return LPAnswer("unknown", seconds, reason=f"HiGHS: {h.modelStatusToString(status)}", rows=len(rel.rows))
    _, has_ray, ray = h.getDualRay()
    if not has_ray:
        return LPAnswer("unknown", seconds, reason="HiGHS reported infeasible without a dual ray", rows=len(rel.rows))
    support, multipliers = exact_multipliers(rel.rows, [float(v) for v in ray])
    if multipliers is None:
        return LPAnswer("unknown", time.perf_counter() - start, rows=len(rel.rows), support=len(support),
                        reason="HiGHS says infeasible but no exact Farkas multipliers were found on its dual ray's "
                               "support: not a proof")
    return _certify(rel, support, multipliers, start)


def _constant_rows(rel: Relaxation) -> int | None:
    """A row ``0 <= b`` with ``b < 0`` (a violated sign condition): its own certificate."""
    for i, (coeffs, sense, rhs) in enumerate(rel.rows):
        if not any(coeffs.values()) and sense == "<=" and rhs < 0:
            return i
    return None


def _certify(rel: Relaxation, support: list[int], multipliers: dict[int, Fraction], start: float) -> LPAnswer:
    from theory import kernel

    rows = [rel.rows[i] for i in support]
    try:
        cert = kernel.certify_farkas(rows, [multipliers[i] for i in support], scope=rel.scope,
                                     abstraction=f"{rel.name} relaxation (claims {', '.join(rel.claims)}): "
                                                 f"{rel.abstraction}",
                                     evidence=f"Farkas multipliers on {len(rows)} of the {len(rel.rows)} rows of "
                                              f"the {rel.name} relaxation, checked exactly")
    except kernel.KernelError as exc:
        return LPAnswer("unknown", time.perf_counter() - start, rows=len(rel.rows), support=len(support),
                        reason=f"the kernel refused the Farkas multipliers ({exc}): not a proof")
    return LPAnswer("infeasible", time.perf_counter() - start, certificate=cert, rows=len(rel.rows),
                    support=len(support))


def exact_multipliers(rows: list[Row], ray: list[float]) -> tuple[list[int], dict[int, Fraction] | None]:
    """(support, exact multipliers on it or None) from a floating dual ray (see the module docstring). If the
    ray's support alone has no exact solution (a multiplier too small for the threshold, say on a bound row),
    the rows sharing a variable with the support are added (after it, so that they are pivots only if needed)."""
    top = max((abs(v) for v in ray), default=0.0)
    if top == 0:
        return [], None
    support = sorted((i for i, v in enumerate(ray) if abs(v) > SUPPORT * top), key=lambda i: -abs(ray[i]))
    ineq = [i for i in support if rows[i][1] == "<="]
    sign = -1.0 if ineq and sum(ray[i] for i in ineq) < 0 else 1.0  # <= rows need y >= 0
    y = {i: sign * ray[i] for i in support}
    yb = sum(v * float(rows[i][2]) for i, v in y.items())
    if not yb < 0:
        return support, None
    y = {i: v / -yb for i, v in y.items()}  # now y . b ~ -1
    found = _solve_on(rows, support, y)
    if found is None:
        touched = {v for i in support for v in rows[i][0]}
        chosen = set(support)
        extra = [i for i, (coeffs, _, _) in enumerate(rows) if i not in chosen and touched & coeffs.keys()]
        if len(extra) <= 4 * len(support) + 64:
            support = support + extra
            found = _solve_on(rows, support, y)
    return support, found


def _solve_on(rows: list[Row], cols: list[int], y: dict[int, float]) -> dict[int, Fraction] | None:
    """Exact multipliers on the rows ``cols``: ``sum y_i a_i = 0``, ``sum y_i b_i = -1``, signs checked; free
    entries 0 or the float guess ``y``."""
    import flint

    variables = list(dict.fromkeys(v for i in cols for v in rows[i][0]))
    vindex = {v: k for k, v in enumerate(variables)}
    m, n = len(variables) + 1, len(cols)
    entries = [flint.fmpq(0)] * (m * (n + 1))
    for col, i in enumerate(cols):
        coeffs, _, rhs = rows[i]
        for v, a in coeffs.items():
            entries[vindex[v] * (n + 1) + col] = flint.fmpq(a.numerator, a.denominator)
        entries[(m - 1) * (n + 1) + col] = flint.fmpq(rhs.numerator, rhs.denominator)
    entries[(m - 1) * (n + 1) + n] = flint.fmpq(-1)
    R, rank = flint.fmpq_mat(m, n + 1, entries).rref()
    pivots: list[tuple[int, int]] = []
    for r in range(rank):
        col = next(c for c in range(n + 1) if R[r, c] != 0)
        if col == n:
            return None  # inconsistent: no multipliers on these rows
        pivots.append((r, col))
    pivot_cols = {c for _, c in pivots}
    free = [c for c in range(n) if c not in pivot_cols]
    for guess in ("zero", "float"):
        values: dict[int, Fraction] = {c: (Fraction(0) if guess == "zero" else Fraction(y.get(cols[c], 0.0)))
                                       for c in free}
        for r, c in pivots:
            acc = Fraction(int(R[r, n].p), int(R[r, n].q))
            for f in free:
                if values[f] and R[r, f] != 0:
                    acc -= Fraction(int(R[r, f].p), int(R[r, f].q)) * values[f]
            values[c] = acc
        if all(values[c] >= 0 for c in range(n) if rows[cols[c]][1] == "<="):
            return {cols[c]: values[c] for c in range(n)}
        if not free:
            break
    return None
