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

from typing import Any, Callable, Optional, Sequence

from proofs.claim import Check, Context, LayerResult, Status

Statement = Callable[[Any], tuple[Any, Any]]


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def symbolic_identity(statement: Statement, shape: Any = None, *, derivation: Optional[Callable[[], Any]] = None,
                      general_d: Optional[int] = None, general: bool = True,
                      unrolled: Sequence[tuple[int, int]] = ((3, 2),), modes: Sequence[str] = ("positive", "exp"),
                      ) -> Check:
    """sympy check of ``statement`` (see module docstring). ``unrolled`` lists (n, d) sizes to confirm at."""

    def check(ctx: Context) -> LayerResult:
        from theory.derivation import equal, unfold
        from theory.head import GeneralEnv, Shape, UnrolledEnv

        sh = shape or Shape()
        notes: list[str] = []
        problems: list[str] = []
        if general:
            env = GeneralEnv(sh, d=general_d)
            lhs, rhs = statement(env)
            if derivation is not None:
                deriv = derivation()
                result = deriv.check(ctx.seed)
                if not result.ok:
                    bad = result.failed
                    problems.append(f"derivation step {bad.index} ({bad.why}) does not reduce to 0")
                ties = [equal(deriv.start, lhs, deriv.definitions), equal(deriv.end, rhs, deriv.definitions)]
                if any(t.status != "zero" for t in ties):
                    problems.append("the derivation's ends are not the statement's two sides")
                notes.append(f"{len(deriv.steps)}-step chain checked")
            test = equal(lhs, rhs, seed=ctx.seed)
            if test.status == "nonzero":
                return LayerResult(Status.REFUTED, f"general-n residual is {test.value} at {test.witness}",
                                   witness={"view": "general", "point": test.witness, "residual": test.value})
            if test.status != "zero":
                problems.append(f"general-n residual not reduced ({test.method})")
            else:
                notes.append(f"general n, n_S ({test.method})")
        for n, d in unrolled:
            for mode in modes:
                for i, env in enumerate(UnrolledEnv(sh, n=n, d=d, mode=mode).positions(), start=1):
                    lhs, rhs = statement(env)
                    test = equal(lhs, rhs, seed=ctx.seed)
                    if test.status == "nonzero":
                        return LayerResult(
                            Status.REFUTED, f"unrolled n={n}, d={d}, i={i} ({mode}): residual {test.value} at a point",
                            witness={"view": f"unrolled n={n} d={d} i={i} {mode}", "point": test.witness,
                                     "residual": test.value})
                    if test.status != "zero":
                        problems.append(f"unrolled n={n}, d={d}, i={i} ({mode}) not reduced")
            notes.append(f"unrolled n={n}, d={d}, all i, {'/'.join(modes)} weights")
        if problems:
            return LayerResult(Status.UNKNOWN, "; ".join(problems))
        return LayerResult(Status.PROVED, "residual 0: " + "; ".join(notes),
                           abstraction="sums over content/prefix abstracted as symbols (general n); vectors "
                                       "componentwise; weights exp(l) or positive symbols")

    return check


def numeric_identity(statement: Statement, shape: Any = None, *, n: int = 6, d: int = 4,
                     prefix: str = "hidden") -> Check:
    """torch float64 check of ``statement`` over ``ctx.instances`` random heads (all query positions)."""

    def check(ctx: Context) -> LayerResult:
        from numeric.attention import TorchEnv, discrepancy

        sh = shape
        inputs, heads, n_S = (sh.inputs, sh.heads, sh.n_S) if sh else (1, 1, 1)
        seed = ctx.child_seed("numeric")
        env = TorchEnv.random(inputs, heads, n_S, B=ctx.instances, n=n, d=d, seed=seed, prefix=prefix)
        lhs, rhs = statement(env)
        disc = discrepancy(lhs, rhs)
        where = f"seed {seed}, instance {disc.worst_instance} of {disc.instances} (n={n}, d={d}, n_S={n_S})"
        if disc.ok(ctx.tol):
            return LayerResult(Status.CONSISTENT, f"max error {_fmt(disc.max_error)} <= {ctx.tol:g} over {where}",
                               max_error=disc.max_error, instances=disc.instances)
        return LayerResult(Status.VIOLATED, f"error {_fmt(disc.max_error)} > {ctx.tol:g} at {where}",
                           max_error=disc.max_error, instances=disc.instances,
                           witness={"seed": seed, "instance": disc.worst_instance, "error": disc.max_error})

    return check


def recheck_on_torch(statement: Statement, numbers: dict[str, Any], tol: float) -> tuple[bool, float, Any]:
    """Realise solver numbers as concrete heads and evaluate ``statement`` at the last query position.

    Returns (violated, error, env)."""
    import torch

    from numeric.attention import TorchEnv, discrepancy
    from numeric.realize import realize

    per_head = [realize(rows, rows[0]["u"]) for rows in numbers["heads"]]  # [head][input]
    grid = [[per_head[h][r] for h in range(len(per_head))] for r in range(len(per_head[0]))]
    W_O = [torch.tensor(M, dtype=torch.float64).unsqueeze(0) for M in numbers["W_O"]]
    env = TorchEnv(grid, W_O)
    lhs, rhs = statement(env)
    disc = discrepancy(lhs[..., -1:, :], rhs[..., -1:, :]) if lhs.dim() == 3 else discrepancy(lhs, rhs)
    return (not disc.ok(tol)), disc.max_error, env


def smt_identity(statement: Statement, shape: Any = None, *, n: int = 3, d: int = 2) -> Check:
    """z3 check of ``statement`` on an n-token, d-dimensional encoding (n=3: positions j, k and the rest)."""

    def check(ctx: Context) -> LayerResult:
        from theory.head import Shape
        from theory.smt import ABSTRACTION, Z3Env, describe, differs, solve

        sh = shape or Shape()
        env = Z3Env(sh, n=n, d=d)
        lhs, rhs = statement(env)
        assertions = [*env.constraints, differs(lhs, rhs)]
        query = (f"exists positive weights w_1..w_{n}, p_1..p_{sh.n_S} and real values v_j, u_m in R^{d} "
                 f"({sh.inputs} input(s), {sh.heads} head(s)) with lhs != rhs in some component; "
                 f"{describe(assertions)}")
        q = solve(assertions, ctx.timeout)
        if q.result == "unsat":
            return LayerResult(Status.PROVED, f"negation UNSAT in {q.seconds:.3f}s (n={n}, d={d})",
                               abstraction=ABSTRACTION, query=query)
        if q.result == "unknown":
            return LayerResult(Status.UNKNOWN, f"z3 returned unknown ({q.reason})", abstraction=ABSTRACTION,
                               query=query)
        numbers = env.numbers(q.model)
        violated, error, _ = recheck_on_torch(statement, numbers, max(ctx.tol, 1e-9))
        if not violated:
            return LayerResult(Status.UNKNOWN, f"z3 model did not survive re-checking on torch (error {_fmt(error)})",
                               abstraction=ABSTRACTION, witness=numbers, query=query)
        return LayerResult(Status.COUNTEREXAMPLE,
                           f"z3 model realised as a float64 torch head: |lhs - rhs| = {_fmt(error)}",
                           abstraction=ABSTRACTION, witness={**numbers, "error": error}, query=query)

    return check


Attention = Callable[[Any], Any]


def _default_attn_pt(h: Any) -> Any:
    return h.A_pt


def symbolic_order(attn_pt: Attention = _default_attn_pt) -> Check:
    """Ordering is preserved if ``A^pt_ij = c_i A_ij`` with ``c_i > 0`` independent of j (general n, n_S).

    Otherwise a rational witness with ``sign(A^pt_ij - A^pt_ik) != sign(A_ij - A_ik)`` is searched."""

    def check(ctx: Context) -> LayerResult:
        import random

        import sympy as sp

        from theory.head import GeneralHead

        g = GeneralHead(n_prefix=None)
        f, base = attn_pt(g), g.A
        ratio = sp.factor(sp.together(f / base))
        if g.e_j not in ratio.free_symbols and ratio.is_positive:
            return LayerResult(Status.PROVED, f"A^pt_ij = ({sp.sstr(ratio)}) * A_ij with a positive, j-independent "
                               "factor, so every order and argmax over content is preserved",
                               abstraction="general n, n_S; weights positive symbols")
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

        seed = ctx.child_seed("numeric-order")
        h = TorchEnv.random(1, 1, n_S, B=ctx.instances, n=n, d=d, seed=seed).h
        A, F = h.A, attn_pt(h)
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

        from theory.smt import ABSTRACTION, Z3Head, describe, solve

        head = Z3Head(n, n_S, d=1)
        view = head.view
        A, F = view.A, attn_pt(view)
        query = (f"for each of the {n * (n - 1)} ordered pairs (j, k) of {n} content positions, one query: exists "
                 f"positive weights w_1..w_{n}, p_1..p_{n_S} with A_ij < A_ik and A^pt_ij >= A^pt_ik; "
                 f"{describe([*head.constraints, A[0] < A[1], F[0] >= F[1]])} each")
        start = time.perf_counter()
        for j in range(n):
            for k in range(n):
                if j == k:
                    continue
                remaining = ctx.timeout - (time.perf_counter() - start)
                if remaining <= 0:
                    return LayerResult(Status.UNKNOWN, "timeout before all pairs were decided",
                                       abstraction=ABSTRACTION, query=query)
                q = solve([*head.constraints, A[j] < A[k], F[j] >= F[k]], remaining)
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
        return LayerResult(Status.PROVED, f"all {n * (n - 1)} per-pair queries UNSAT (n={n}, n_S={n_S}) in "
                           f"{time.perf_counter() - start:.2f}s", abstraction=ABSTRACTION, query=query)

    return check


def _recheck_order(attn_pt: Attention, numbers: dict[str, Any], j: int, k: int) -> tuple[bool, str]:
    """Realise a z3 model and confirm the flip on a float64 torch head at the last query position."""
    from numeric.attention import TorchEnv
    from numeric.realize import realize

    (inst,) = realize([numbers], numbers["u"])
    h = TorchEnv([[inst]], []).h
    A, F = h.A[0, -1], attn_pt(h)[0, -1]
    flipped = bool(A[j] < A[k]) and bool(F[j] >= F[k])
    return flipped, f"torch: A {float(A[j]):.6g} < {float(A[k]):.6g} but A^pt {float(F[j]):.6g} >= {float(F[k]):.6g}"
