"""Check builders: one statement ``Env -> (lhs, rhs)`` (claiming ``lhs == rhs``), checked three ways.

* `symbolic_identity`: sympy. Checks the derivation chain (every step reduced to 0), ties its ends to the
  statement on the general-n view, then confirms the statement on unrolled heads at concrete n, d (every query
  position, weights as exp(l) and as positive symbols). PROVED only if every residual is 0; REFUTED with the
  witness point of a non-zero residual.
* `numeric_identity`: torch float64 over K random instances (every query position): CONSISTENT if the max
  error is within tolerance, otherwise VIOLATED with the seed, the instance and the error.
* `smt_identity`: z3 searches for ``lhs != rhs`` with softmax weights abstracted as positive reals (sound
  over-approximation). UNSAT is PROVED; a model is realised as a concrete torch head (`numeric.realize`) and
  re-checked before it is a COUNTEREXAMPLE; a model that does not survive, a timeout or ``unknown`` is UNKNOWN.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from proofs.claim import Check, Context, LayerResult, Status
from proofs.view import Attention, EnvView, HeadView, Quantity, Side, Statement
from theory.shape import Shape

if TYPE_CHECKING:
    import z3

    from numeric.attention import Comparison, TorchEnv
    from theory.derivation import Derivation
    from theory.head import Mode
    from theory.kernel import SolverAnswer, ZeroTest
    from theory.smt import Z3Env

__all__ = ["Statement", "Attention", "symbolic_identity", "numeric_identity", "smt_identity", "recheck_on_torch",
           "symbolic_order", "numeric_order", "smt_order", "symbolic_on_views", "numeric_on_view"]

GENERIC = "all n (content length) and n_S; vectors componentwise (any d)"
UNROLLED_ABSTRACTION = ("explicit matrices W_Q, W_K, W_V, tokens and prefix as real symbols; weights exp(l) or "
                        "positive symbols")
GENERAL_ABSTRACTION = "sums over content and prefix as symbols Z, T, P, U (any n, n_S); weights positive symbols"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _sizes(pairs: Sequence[tuple[int, int]]) -> str:
    ns = sorted({n for n, _ in pairs})
    ds = sorted({d for _, d in pairs})
    return f"n in {{{', '.join(map(str, ns))}}}, d in {{{', '.join(map(str, ds))}}}, every query position"


def _evaluate(statement: Statement, env: EnvView) -> tuple[Side, Side]:
    """``statement(env)`` with Python floats read as the exact rationals of their binary values."""
    from theory.kernel import exact_floats

    with exact_floats():
        return statement(env)


def symbolic_identity(statement: Statement, shape: Shape | None = None, *,
                      derivation: Callable[[], Derivation] | None = None, general_d: int | None = None,
                      general: bool = True, unrolled: Sequence[tuple[int, int]] = ((3, 2),),
                      modes: Sequence[Mode] = ("positive", "exp")) -> Check:
    """sympy check of ``statement`` (see module docstring). ``unrolled`` lists (n, d) sizes to confirm at.

    Scope (design.md rule 1): "all n" only when the statement reduces to 0 on the general-n view (which has no
    positions to name). Every statement is also unrolled beyond the positions it names and at d + 1 (positive
    weights), so one true only up to some n or only at one d is refuted; a statement that cannot be evaluated
    there is UNKNOWN."""

    def check(ctx: Context) -> LayerResult:
        from theory.derivation import equal
        from theory.head import GeneralEnv
        from theory.kernel import certify_zero, decide_zero
        from theory.mentions import recording

        sh = shape or Shape()
        notes: list[str] = []
        problems: list[str] = []
        zeros: list[ZeroTest] = []
        generic = False
        sides: list[tuple[Side, Side]] = []  # the statement on the general view, at general_d first
        if general:
            for d in ([None] if general_d is None else [general_d, general_d + 1]):
                try:
                    lhs, rhs = _evaluate(statement, GeneralEnv(sh, d=d))
                except Exception as exc:  # the statement needs explicit positions: not size-generic
                    notes.append(f"general-n view not applicable ({type(exc).__name__})")
                    break
                sides.append((lhs, rhs))
                test = decide_zero(_difference(lhs, rhs), seed=ctx.seed)
                if test.status == "nonzero":
                    return _refuted(f"general-n view{'' if d is None else f' (d={d})'}", test)
                if test.status != "zero":
                    problems.append(f"general-n residual not reduced ({test.method})")
                    break
                zeros.append(test)
            else:
                generic = True
                notes.append("general n, n_S" + ("" if general_d is None else f" at d = {general_d}, {general_d + 1}"))
            if derivation is not None:
                deriv = derivation()
                result = deriv.check(ctx.seed)
                if (bad := result.failed) is not None:
                    problems.append(f"derivation step {bad.index} ({bad.why}) does not reduce to 0")
                else:
                    zeros += [s.test for s in result.steps]
                if generic:
                    lhs, rhs = sides[0]
                    ties = [equal(deriv.start, lhs, deriv.definitions), equal(deriv.end, rhs, deriv.definitions)]
                    if any(t.status != "zero" for t in ties):
                        problems.append("the derivation's ends are not the statement's two sides")
                    zeros += ties
                notes.append(f"{len(deriv.steps)}-step chain checked")
        covered: list[tuple[int, int]] = []
        with recording() as named:
            for n, d in unrolled:
                outcome = _unrolled(statement, sh, n, d, modes, ctx.seed, zeros)
                if isinstance(outcome, LayerResult):
                    return outcome
                if outcome:
                    problems.append(outcome)
                covered.append((n, d))
        n_big = max(max(n for n, _ in unrolled) + 2, named.largest + 3)
        d_big = max(d for _, d in unrolled) + 1
        probes = [(n_big, d_big, False)]
        with recording() as at_probe:
            for n_p, d_p, last_only in probes:
                try:
                    outcome = _unrolled(statement, sh, n_p, d_p, ("positive",), ctx.seed, zeros, last_only)
                except Exception as exc:
                    outcome = (f"the statement cannot be evaluated at n={n_p}, d={d_p} ({type(exc).__name__}: "
                               f"{exc}), so it is not shown beyond the sizes it names")
                if isinstance(outcome, LayerResult):
                    return outcome
                if outcome:
                    problems.append(outcome)
                covered.append((n_p, d_p))
                if len(probes) == 1 and at_probe.largest >= n_p - 2:  # it reads up to the end: maybe up to a bound
                    probes.append((2 * n_p + 3, min(d for _, d in unrolled), True))
        notes.append(f"unrolled at {_sizes(covered)}")
        if problems:
            return LayerResult(Status.UNKNOWN, "; ".join(problems))
        if not generic:
            scope = _sizes(covered)
        elif general_d is None:
            scope = GENERIC
        else:
            scope = f"all n, n_S; d in {{{general_d}, {general_d + 1}}}"
        abstraction = (GENERAL_ABSTRACTION + "; " if generic else "") + UNROLLED_ABSTRACTION
        cert = certify_zero(zeros, scope, abstraction)
        return LayerResult(Status.PROVED, "residual 0: " + "; ".join(notes), abstraction=abstraction, certificate=cert)

    return check


def _refuted(where: str, test: ZeroTest) -> LayerResult:
    return LayerResult(Status.REFUTED, f"{where}: residual {test.value} (exactly {test.exact_value}) at {test.witness}",
                       witness={"view": where, "point": test.witness, "residual": test.value,
                                "exact_residual": test.exact_value})


def _unrolled(statement: Statement, sh: Shape, n: int, d: int, modes: Sequence[Mode], seed: int,
              zeros: list[ZeroTest], last_only: bool = False) -> LayerResult | str:
    """Decide the statement at every query position (or the last) of an n-token, d-dimensional explicit head: a
    REFUTED `LayerResult`, a problem line (residual not reduced), or "" (every residual 0; decisions appended)."""
    from theory.head import UnrolledEnv
    from theory.kernel import decide_zero

    for mode in modes:
        last = UnrolledEnv(sh, n=n, d=d, mode=mode)
        for i, env in enumerate([last] if last_only else last.positions(), start=n if last_only else 1):
            lhs, rhs = _evaluate(statement, env)
            test = decide_zero(_difference(lhs, rhs), seed=seed)
            if test.status == "nonzero":
                return _refuted(f"unrolled n={n} d={d} i={i} {mode}", test)
            if test.status != "zero":
                return f"unrolled n={n}, d={d}, i={i} ({mode}) not reduced"
            zeros.append(test)
    return ""


def _difference(lhs: Side, rhs: Side) -> Any:
    """lhs - rhs, entry by entry for lists (a sympy expression, matrix or list of them)."""
    if isinstance(lhs, (list, tuple)):
        return [a - b for a, b in zip(lhs, cast("Sequence[Quantity]", rhs), strict=True)]
    return lhs - rhs


def numeric_identity(statement: Statement, shape: Shape | None = None, *, n: int = 6, d: int = 4,
                     prefix: str = "hidden") -> Check:
    """torch float64 check of ``statement`` over ``ctx.instances`` random heads (every query position), then on
    longer heads (beyond every position the statement names) of width d + 1 with a quarter of the instances.

    An element passes when ``|lhs - rhs| <= tol + rtol max(|lhs|, |rhs|) + noise``, where ``noise`` is the
    rounding floor measured on the instance itself: 16 |lhs - rhs| evaluated in float32, scaled by
    eps64/eps32 (a true identity computed with cancellation has a float32 discrepancy of the same shape, a false
    one a float32 discrepancy as large as its float64 one). Positions a causal query cannot see are excluded."""

    def check(ctx: Context) -> LayerResult:
        from numeric.attention import TorchEnv
        from numeric.tracked import recording

        sh = shape
        inputs, heads, n_S = (sh.inputs, sh.heads, sh.n_S) if sh else (1, 1, 1)
        seed = ctx.child_seed("numeric")
        rule = f"|lhs - rhs| <= {ctx.tol:g} + {ctx.rtol:g} max(|lhs|, |rhs|) + float32-measured rounding floor"
        with recording() as named:
            first = _numeric_run(statement, TorchEnv.random(inputs, heads, n_S, B=ctx.instances, n=n, d=d, seed=seed,
                                                            prefix=prefix), ctx)
        runs = [(first, n, d, ctx.instances, seed)]
        n_big, d_big, B_big = max(2 * n + 1, named[0] + 3), d + 1, max(8, ctx.instances // 4)
        seed_big = ctx.child_seed("numeric-large")
        big = _numeric_run(statement, TorchEnv.random(inputs, heads, n_S, B=B_big, n=n_big, d=d_big, seed=seed_big,
                                                       prefix=prefix), ctx)
        runs.append((big, n_big, d_big, B_big, seed_big))
        total = sum(r[3] for r in runs)
        for rep, n_, d_, B_, seed_ in runs:
            if not rep.ok:
                where = f"seed {seed_}, instance {rep.worst_instance} of {B_} (n={n_}, d={d_}, n_S={n_S})"
                return LayerResult(Status.VIOLATED, f"error {_fmt(rep.max_error)} above the tolerance "
                                   f"({_fmt(rep.allowed)}) at {where}", max_error=rep.max_error, instances=total,
                                   tolerance=rule,
                                   witness={"seed": seed_, "instance": rep.worst_instance, "error": rep.max_error,
                                            "n": n_, "d": d_})
        worst = max(r[0].max_error for r in runs)
        sizes = ", ".join(f"n={r[1]}, d={r[2]} ({r[3]} instances, seed {r[4]})" for r in runs)
        return LayerResult(Status.CONSISTENT, f"max error {_fmt(worst)} within tolerance over {sizes}",
                           max_error=worst, instances=total, tolerance=rule)

    return check


def _numeric_run(statement: Statement, env: TorchEnv, ctx: Context) -> Comparison:
    """Evaluate on a tracked float64 env and its float32 copy; compare (see `numeric_identity`)."""
    from numeric.attention import compare
    from numeric.tracked import plain, track

    lhs, rhs = (plain(x) for x in statement(track(env)))
    lhs32, rhs32 = (plain(x) for x in statement(track(env.astype_float32())))
    return compare(lhs, rhs, lhs32, rhs32, ctx.tol, ctx.rtol, causal_n=env.n if env.causal else None)


def recheck_on_torch(statement: Statement, numbers: dict[str, Any], tol: float) -> tuple[bool, float, TorchEnv]:
    """Realise solver numbers as concrete heads and evaluate ``statement`` at the last query position.

    Returns (violated, error, env)."""
    import torch

    from numeric.attention import TorchEnv, discrepancy
    from numeric.realize import realize
    from numeric.tracked import plain, track

    per_head = [realize(rows, rows[0]["u"]) for rows in numbers["heads"]]  # [head][input]
    grid = [[per_head[h][r] for h in range(len(per_head))] for r in range(len(per_head[0]))]
    W_O = [torch.tensor(M, dtype=torch.float64).unsqueeze(0) for M in numbers["W_O"]]
    env = TorchEnv(grid, W_O)
    lhs, rhs = (torch.as_tensor(plain(x), dtype=torch.float64) for x in statement(track(env)))
    lhs, rhs = torch.broadcast_tensors(lhs, rhs)
    disc = discrepancy(lhs[..., -1:, :], rhs[..., -1:, :]) if lhs.dim() == 3 else discrepancy(lhs, rhs)
    return (not disc.ok(tol)), disc.max_error, env


SMT_SIZES = ("every content length 1..{top} explicitly and longer heads by aggregating the unnamed positions into one "
             "(a real head's weights and values summed satisfy the encoding), d = {d} (and d = {d1} at length 1)")


def smt_identity(statement: Statement, shape: Shape | None = None, *, n: int = 3, d: int = 2) -> Check:
    """z3 check of ``statement``: one query ``lhs != rhs`` per content length 1..N (N = max(n, largest named
    position + 3): every named position is followed by unnamed ones, which a longer real head aggregates into
    one position) at width d, and one at length N and width d + 1. ``--timeout`` applies to each query.

    UNSAT everywhere is PROVED (scope: every length, d and d + 1 only; a statement indexing from the end is
    proved at the lengths checked only). A model is re-checked on a float64 torch head, or in exact rationals at
    the model's point (positive weights are softmax weights of the logits log w), before it is a
    COUNTEREXAMPLE; otherwise UNKNOWN."""

    def check(ctx: Context) -> LayerResult:
        from theory.kernel import certify_unsat
        from theory.mentions import recording
        from theory.smt import ABSTRACTION, Z3Env, describe, differs, solve

        sh = shape or Shape()
        with recording() as named:
            _evaluate(statement, Z3Env(sh, n=n, d=d))
        top = max(n, named.largest + 3)
        sizes = [(m, d) for m in range(1, top + 1)] + [(1, d + 1)]
        answers: list[SolverAnswer] = []
        skipped: list[int] = []
        query = ""
        with recording() as read:
            _evaluate(statement, Z3Env(sh, n=top, d=d))
        if read.largest >= top - 2:  # it reads up to the end: it may name positions up to a bound larger than top
            sizes.append((2 * top + 3, d))
        for m, width in sizes:
            env = Z3Env(sh, n=m, d=width)
            try:
                lhs, rhs = _evaluate(statement, env)
            except (IndexError, ValueError) as exc:
                if m < top:  # the statement names positions a head this short does not have
                    skipped.append(m)
                    continue
                raise exc
            assertions = [*env.constraints, differs(lhs, rhs)]
            query = (f"exists positive weights w_1..w_{m}, p_1..p_{sh.n_S} and real values in R^{width} "
                     f"({sh.inputs} input(s), {sh.heads} head(s)) with lhs != rhs in some component; "
                     f"{describe(assertions)}; one such query per size: "
                     f"{_sizes(sizes).replace(', every query position', '')}")
            q = solve(assertions, ctx.timeout)
            if q.result == "unknown":
                return LayerResult(Status.UNKNOWN, f"z3 returned unknown at n={m}, d={width} ({q.reason})",
                                   abstraction=ABSTRACTION, query=query)
            if q.result == "sat":
                return _smt_counterexample(statement, env, q.model, lhs, rhs, ctx, f"n={m}, d={width}", query)
            answers.append(q)
        if named.from_end:
            scope = (f"content lengths {sorted({m for m, _ in sizes} - set(skipped))} exactly (the statement indexes "
                     f"from the end), d = {d}")
        else:
            low = max(skipped) + 1 if skipped else 1
            scope = SMT_SIZES.format(top=top, d=d, d1=d + 1).replace("length 1..", f"length {low}..")
        cert = certify_unsat(answers, "positive-weights", scope, ABSTRACTION)
        return LayerResult(Status.PROVED, f"negation UNSAT at {len(answers)} sizes ({scope})", abstraction=ABSTRACTION,
                           query=query, certificate=cert)

    return check


def _smt_counterexample(statement: Statement, env: Z3Env, model: z3.ModelRef, lhs: Side, rhs: Side, ctx: Context,
                        where: str, query: str) -> LayerResult:
    """Re-check a z3 model: on a float64 torch head first, else exactly at the model's rational point."""
    from theory.smt import ABSTRACTION, exact_difference

    numbers = env.numbers(model)
    violated, error, _ = recheck_on_torch(statement, numbers, max(ctx.tol, 1e-9))
    if violated:
        return LayerResult(Status.COUNTEREXAMPLE, f"z3 model ({where}) realised as a float64 torch head: "
                           f"|lhs - rhs| = {_fmt(error)}", abstraction=ABSTRACTION,
                           witness={**numbers, "error": error}, query=query)
    gap = exact_difference(model, lhs, rhs)
    if gap is not None and gap != 0:
        return LayerResult(Status.COUNTEREXAMPLE, f"z3 model ({where}) re-checked in exact rationals: lhs - rhs = "
                           f"{gap} (about {float(gap):.3g}) at positive weights (softmax weights of logits log w); "
                           f"float64 cannot see it (error {_fmt(error)})", abstraction=ABSTRACTION,
                           witness={**numbers, "exact_difference": str(gap)}, query=query)
    return LayerResult(Status.UNKNOWN, f"z3 model did not survive re-checking on torch (error {_fmt(error)}) or "
                       "in exact rationals", abstraction=ABSTRACTION, witness=numbers, query=query)


def _default_attn_pt(h: HeadView) -> Quantity:
    """A^pt_ij, the content attention with the prefix."""
    return h.A_pt


def symbolic_order(attn_pt: Attention = _default_attn_pt) -> Check:
    """Ordering is preserved if ``A^pt_ij = c_i A_ij`` with ``c_i > 0`` independent of j (general n, n_S).

    Otherwise a rational witness with ``sign(A^pt_ij - A^pt_ik) != sign(A_ij - A_ik)`` is searched."""

    def check(ctx: Context) -> LayerResult:
        import random

        import sympy as sp

        from theory.head import GeneralHead
        from theory.kernel import certify_positive_multiple, exact_floats

        g = GeneralHead(n_prefix=None)
        with exact_floats():
            f, base = sp.sympify(attn_pt(g)), g.A
        ratio = sp.factor(sp.together(f / base))
        cert = certify_positive_multiple(f, base, ratio, g.e_j, "all n, n_S (general view)",
                                         "general n, n_S; weights positive symbols", ctx.seed)
        if cert is not None:
            return LayerResult(Status.PROVED, f"A^pt_ij = ({sp.sstr(ratio)}) * A_ij with a positive, j-independent "
                               "factor, so every order and argmax over content is preserved",
                               abstraction=cert.abstraction, certificate=cert)
        e_k = sp.Symbol("e_k", positive=True)
        rng = random.Random(ctx.seed)
        for _ in range(200):
            point = {s: sp.Rational(rng.randint(1, 40), rng.randint(1, 9)) for s in (f - base).free_symbols | {e_k}}
            point[g.Z] = point[g.e_j] + point[e_k] + point.get(g.P, 1)  # Z >= e_j + e_k
            fj, fk = f.subs(point), f.subs(g.e_j, e_k).subs(point)
            aj, ak = base.subs(point), base.subs(g.e_j, e_k).subs(point)
            if (aj - ak) * (fj - fk) < 0:
                return LayerResult(Status.REFUTED, f"order flips at {({s.name: str(v) for s, v in point.items()})}",
                                   witness={s.name: str(v) for s, v in point.items()})
        return LayerResult(Status.UNKNOWN, f"factor {sp.sstr(ratio)} not shown positive and j-independent; no witness")

    return check


def numeric_order(attn_pt: Attention = _default_attn_pt, *, n: int = 8, d: int = 4, n_S: int = 2) -> Check:
    """Over random heads: for every visible pair (j, k) with |A_ij - A_ik| > 1e-9, the prefixed attention keeps
    the sign of the difference."""

    def check(ctx: Context) -> LayerResult:
        import torch

        from numeric.attention import TorchEnv, causal_mask
        from numeric.tracked import plain, track

        seed = ctx.child_seed("numeric-order")
        h = track(TorchEnv.random(1, 1, n_S, B=ctx.instances, n=n, d=d, seed=seed)).h
        A, F = plain(h.A), plain(attn_pt(h))
        dA = A[..., :, None] - A[..., None, :]
        dF = F[..., :, None] - F[..., None, :]
        vis = causal_mask(n)
        pair_vis = vis[:, :, None] & vis[:, None, :]
        flips = (dA * dF < 0) & (dA.abs() > 1e-9) & pair_vis
        count = int(flips.sum())
        pairs = int(pair_vis.sum()) * ctx.instances
        if count == 0:
            return LayerResult(Status.CONSISTENT, f"no order flip among {pairs} visible pairs (seed {seed})",
                               max_error=0.0, instances=ctx.instances)
        b, i, j, k = (int(x) for x in torch.nonzero(flips)[0])
        return LayerResult(Status.VIOLATED, f"{count} order flips; first: seed {seed}, instance {b}, query {i}, keys "
                           f"{j},{k}: A {float(A[b, i, j]):.4g} vs {float(A[b, i, k]):.4g}, "
                           f"A^pt {float(F[b, i, j]):.4g} vs {float(F[b, i, k]):.4g}", instances=ctx.instances,
                           witness={"seed": seed, "instance": b, "query": i, "keys": [j, k]})

    return check


def smt_order(attn_pt: Attention = _default_attn_pt, *, n: int = 4, n_S: int = 2) -> Check:
    """z3, one query per pair (j, k): ``A_ij < A_ik and A^pt_ij >= A^pt_ik`` must be UNSAT for every pair."""

    def check(ctx: Context) -> LayerResult:
        import time

        from theory.kernel import certify_unsat
        from theory.smt import ABSTRACTION, Vec, Z3Head, describe, solve

        head = Z3Head(n, n_S, d=1)
        answers: list[SolverAnswer] = []
        view = head.view
        A, F = view.A, attn_pt(view)
        if not isinstance(F, Vec):
            raise TypeError(f"the attention map must give a vector over the content keys, got {type(F).__name__}")
        query = (f"for each of the {n * (n - 1)} ordered pairs (j, k) of {n} content positions, one query: exists "
                 f"positive weights w_1..w_{n}, p_1..p_{n_S} with A_ij < A_ik and A^pt_ij >= A^pt_ik; "
                 f"{describe([*head.constraints, A[0] < A[1], F[0] >= F[1]])} each")
        start = time.perf_counter()
        for j in range(n):
            for k in range(n):
                if j == k:
                    continue
                q = solve([*head.constraints, A[j] < A[k], F[j] >= F[k]], ctx.timeout)  # per query (Context)
                answers.append(q)
                if q.result == "unknown":
                    return LayerResult(Status.UNKNOWN, f"pair ({j},{k}): z3 {q.reason}", abstraction=ABSTRACTION,
                                       query=query)
                if q.result == "sat":
                    numbers = head.numbers(q.model)
                    ok, detail = _recheck_order(attn_pt, numbers, j, k)
                    if not ok:
                        return LayerResult(Status.UNKNOWN, f"pair ({j},{k}): z3 model did not survive re-checking "
                                           f"({detail})", abstraction=ABSTRACTION, witness=numbers, query=query)
                    return LayerResult(Status.COUNTEREXAMPLE, f"pair ({j},{k}): {detail}", abstraction=ABSTRACTION,
                                       witness={**numbers, "pair": [j, k]}, query=query)
        scope = (f"content length n = {n} with any two positions named (longer heads by aggregating the others), "
                 f"n_S = {n_S}")
        cert = certify_unsat(answers, "positive-weights", scope, ABSTRACTION)
        return LayerResult(Status.PROVED, f"all {n * (n - 1)} per-pair queries UNSAT (n={n}, n_S={n_S}) in "
                           f"{time.perf_counter() - start:.2f}s", abstraction=ABSTRACTION, query=query,
                           certificate=cert)

    return check


def _recheck_order(attn_pt: Attention, numbers: dict[str, Any], j: int, k: int) -> tuple[bool, str]:
    """Realise a z3 model and confirm the flip on a float64 torch head at the last query position."""
    from numeric.attention import TorchEnv
    from numeric.realize import realize
    from numeric.tracked import plain, track

    (inst,) = realize([numbers], numbers["u"])
    h = track(TorchEnv([[inst]], [])).h
    A, F = plain(h.A)[0, -1], plain(attn_pt(h))[0, -1]
    flipped = bool(A[j] < A[k]) and bool(F[j] >= F[k])
    return flipped, f"torch: A {float(A[j]):.6g} < {float(A[k]):.6g} but A^pt {float(F[j]):.6g} >= {float(F[k]):.6g}"


# ---- statements on a view of another model (e.g. full fine-tuning): explicit sizes, no general-n view ----------

V = TypeVar("V")
ViewStatement = Callable[[V], tuple[Side, Side]]


def symbolic_on_views(statement: ViewStatement[V], view: Callable[[int, int, Mode], V],
                      sizes: Sequence[tuple[int, int, Sequence[Mode]]], abstraction: str) -> Check:
    """sympy check of ``statement`` on ``view(n, d, mode)`` for each (n, d, modes) of ``sizes`` (the view holds
    every query position): PROVED if every residual ``lhs - rhs`` reduces to 0 (scope: those n and d only), REFUTED
    with the witness point of a non-zero one, UNKNOWN if one is not reduced."""

    def check(ctx: Context) -> LayerResult:
        from theory.kernel import certify_zero, decide_zero, exact_floats

        tests: list[ZeroTest] = []
        for n, d, modes in sizes:
            for mode in modes:
                with exact_floats():
                    lhs, rhs = statement(view(n, d, mode))
                test = decide_zero(_difference(lhs, rhs), ctx.seed)
                if test.status == "nonzero":
                    return _refuted(f"n={n} d={d} {mode} weights", test)
                if test.status != "zero":
                    return LayerResult(Status.UNKNOWN, f"residual not reduced (n={n}, d={d}, {mode} weights)")
                tests.append(test)
        scope = _sizes([(n, d) for n, d, _ in sizes])
        cert = certify_zero(tests, scope, abstraction)
        at = " and ".join(f"n={n}, d={d} ({' and '.join(modes)} weights)" for n, d, modes in sizes)
        return LayerResult(Status.PROVED, f"residual 0 at {at}, every query position", abstraction=abstraction,
                           certificate=cert)

    return check


def numeric_on_view(statement: ViewStatement[V], view: Callable[[int, int, int, int], V], label: str, *, n: int = 6,
                    d: int = 4) -> Check:
    """torch float64 check of ``statement`` on ``view(B, n, d, seed)`` (B = ``ctx.instances`` random instances, every
    query position, seed ``ctx.child_seed(label)``): CONSISTENT if max |lhs - rhs| <= ``ctx.tol``, else VIOLATED
    with the seed and the worst instance."""

    def check(ctx: Context) -> LayerResult:
        from numeric.attention import discrepancy
        from numeric.tracked import plain, track

        seed = ctx.child_seed(label)
        lhs, rhs = (plain(x) for x in statement(track(view(ctx.instances, n, d, seed))))
        disc = discrepancy(lhs, rhs)
        if disc.ok(ctx.tol):
            return LayerResult(Status.CONSISTENT, f"max error {disc.max_error:.3g} (seed {seed})",
                               max_error=disc.max_error, instances=disc.instances)
        return LayerResult(Status.VIOLATED, f"error {disc.max_error:.3g} at seed {seed}, instance "
                           f"{disc.worst_instance}", max_error=disc.max_error, instances=disc.instances,
                           witness={"seed": seed, "instance": disc.worst_instance})

    return check
