"""The layered decision procedure of ``prefixcheck search`` (docs/search.md, "Layered engine").

1. **Relaxations** (`theory.relax`), sound LPs derived from PROVED catalogue claims, on the exact data of the
   head (`theory.enclose`); HiGHS solves them, and an infeasible answer becomes IMPOSSIBLE only through exact
   Farkas multipliers that the kernel checks (`theory.lp`), with the scope and the abstraction in the
   certificate.
2. **Realisation** (`numeric.seeded`) from the relaxation's solution: Levenberg-Marquardt on the float64 head
   for prefixes / soft prompts, a truncated SVD of the LP's ``Delta`` for LoRA on W_V, L-BFGS otherwise; FOUND
   only after `numeric.adapt.recheck`.
3. **Refinement** when the relaxation is feasible but nothing was realised (n_S = 1, rational tau): the
   coupling ``beta_r - 1 = exp(log Z_r - tau g_r . s)`` is added back as tangent cuts of exp at the LP point,
   a few rounds of cutting planes, each LP again certificate-producing.
4. **Fallback**: whatever time is left goes to the z3 path (`proofs.z3_search.search`), whose IMPOSSIBLE carries
   its own kernel certificate.

Anything else is UNKNOWN with the reason.
"""
from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from proofs.z3_search import FOUND, IMPOSSIBLE, UNKNOWN, Outcome, Problem

if TYPE_CHECKING:
    from theory.enclose import HeadEnclosure

CUT_ROUNDS = 6
SUBSETS = (4, 16)  # the relaxation is tried on the first 4, then 16, then all inputs
GRID = 64  # tangent points c on the 1/GRID grid (short rationals)


def scope(problem: Problem) -> str:
    """What a certificate covers: exactly this head, these inputs and targets, this method."""
    d, k, d_v = len(problem.W_Q[0]), len(problem.W_Q), len(problem.W_V)
    sizes = sorted({len(x) for x in problem.task.inputs})
    n = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}..{sizes[-1]}"
    tau = "1/sqrt(k)" if problem.tau is None else f"{problem.tau:g}"
    what = []
    if problem.task.outputs is not None:
        what.append(f"targets within {problem.task.tol:g} (max-norm)")
    if problem.task.orderings is not None:
        what.append("the orderings")
    return (f"this head (d={d}, k={k}, d_v={d_v}, tau={tau}) on these {len(problem.task.inputs)} inputs "
            f"(n={n} tokens, last position), {' and '.join(what)}: every {problem.method.describe()}")


class _Run:
    """Bookkeeping of one decision: the clock, the stage records, the float64 head."""

    def __init__(self, problem: Problem, timeout: float) -> None:
        import torch

        from numeric.adapt import ConcreteHead

        self.problem, self.timeout, self.start = problem, timeout, time.perf_counter()
        self.records: list[dict[str, Any]] = []
        self.head = ConcreteHead.from_lists(problem.W_Q, problem.W_K, problem.W_V, problem.tau)
        self.X = [torch.tensor(x, dtype=torch.float64) for x in problem.task.inputs]
        self.last_fail = "no candidate"

    def left(self) -> float:
        return self.timeout - (time.perf_counter() - self.start)

    def record(self, label: str, result: str, seconds: float, rows: int = 0, reason: str = "",
               **stats: float) -> None:
        self.records.append({"query": label, "result": result, "seconds": round(seconds, 4), "constraints": rows,
                             "reason": reason, "stats": stats})

    def outcome(self, verdict: str, detail: str, **kw: Any) -> Outcome:
        return Outcome(verdict, detail, time.perf_counter() - self.start, queries=self.records, **kw)

    def check(self, params: dict[str, Any], how: str) -> Outcome | None:
        from numeric.adapt import recheck

        m, t = self.problem.method, self.problem.task
        c = recheck(self.head, m.kind, m.matrix, params, self.X, t.outputs, t.orderings, t.tol)
        if not c.ok:
            self.last_fail = c.detail
            return None
        return self.outcome(FOUND, f"{how}, re-checked on a float64 torch head: {c.detail}",
                            params={k: v.tolist() for k, v in params.items()}, max_error=c.max_error)


def _lp(run: _Run, rel: Any) -> Any:
    from theory.lp import LPAnswer, solve

    rel.scope = scope(run.problem)
    if run.left() <= 0:
        ans = LPAnswer("unknown", 0.0, reason=f"timeout ({run.timeout:g}s) before this LP")
    else:
        ans = solve(rel, run.left())
    run.record(f"LP {rel.name}", ans.status, ans.seconds, len(rel.rows), ans.reason, support=float(ans.support))
    return ans


def _impossible(run: _Run, rel: Any, ans: Any) -> Outcome:
    cert = ans.certificate
    return run.outcome(IMPOSSIBLE, f"the {rel.name} relaxation (claims {', '.join(rel.claims)}) is infeasible: "
                       f"{cert.evidence}; no {run.problem.method.describe()} meets the targets",
                       abstraction=cert.abstraction, certificate=cert)


def decide(problem: Problem, timeout: float, *, seed: int = 0, fallback: bool = True,
           enclosure: HeadEnclosure | None = None) -> Outcome:
    """FOUND / IMPOSSIBLE / UNKNOWN for ``problem`` within ``timeout`` seconds (see the module docstring).
    torch runs on one thread meanwhile: the float64 work is many small products, which a busy machine's thread
    pool slows down by three orders of magnitude. ``enclosure``: the `theory.enclose.HeadEnclosure` of this
    problem's head and inputs, when the caller decides several problems on them (its per-input enclosures are
    then computed once); one built from other data is refused."""
    from numeric.threads import one_thread

    with one_thread():
        return _decide(problem, timeout, seed, fallback, enclosure)


def _decide(problem: Problem, timeout: float, seed: int, fallback: bool, enclosure: HeadEnclosure | None) -> Outcome:
    from theory import relax
    from theory.enclose import HeadEnclosure

    run = _Run(problem, timeout)
    m, t = problem.method, problem.task
    t0 = time.perf_counter()
    data = (problem.W_Q, problem.W_K, problem.W_V, problem.tau, t.inputs)
    if enclosure is not None and not enclosure.built_from(*data):
        raise ValueError("the enclosure given to decide is not of this problem's head and inputs")
    head = enclosure or HeadEnclosure(*data)
    run.record("exact head data", "done", time.perf_counter() - t0)
    frozen_order = m.kind in ("prefix", "softprompt") or m.matrix == "W_V"
    if t.orderings is not None and frozen_order:
        rel = relax.fixed_orderings(head, t.orderings)
        ans = _lp(run, rel)
        if ans.status == "infeasible":
            return _impossible(run, rel, ans)
    found: Outcome | None = None
    if m.kind in ("prefix", "softprompt"):
        found = _prefix(run, head, seed)
    elif m.matrix == "W_V":
        found = _lora_value(run, head, seed)
    else:
        found = _lora_attention(run, head, seed)
    if found is not None:
        return found
    if run.left() <= 0:
        return run.outcome(UNKNOWN, f"timeout ({run.timeout:g}s); last re-check: {run.last_fail}")
    if fallback and run.left() > 1.0:
        from proofs.z3_search import search

        out = search(problem, run.left(), seed=seed)
        out.queries = run.records + out.queries
        out.seconds = time.perf_counter() - run.start
        out.detail = f"relaxations feasible, not realised; z3 path: {out.detail}"
        return out
    return run.outcome(UNKNOWN, f"every relaxation is feasible and no candidate survived re-checking "
                       f"({run.last_fail})")


def _prefix(run: _Run, head: Any, seed: int) -> Outcome | None:
    """Prefix / soft prompt: ray (n_S = 1) or cone relaxation, LM realisation, cutting planes."""
    import torch

    from numeric.seeded import FrozenPrefix
    from theory import relax

    m, t = run.problem.method, run.problem.task
    d = head.d
    g = torch.Generator().manual_seed(seed)
    seeds: list[torch.Tensor] = []
    point: dict[str, float] | None = None
    rel = None
    frozen = FrozenPrefix.of(run.head, run.X)
    Y = torch.tensor(t.outputs, dtype=torch.float64) if t.outputs is not None else None
    if t.outputs is not None:
        build = relax.prefix_ray if m.n_S == 1 else relax.prefix_cone
        for size in sorted({min(head.R, k) for k in SUBSETS} | {head.R}):
            rel = build(head, t.outputs, t.tol, inputs=range(size))
            rel.name += f" (inputs 1..{size} of {head.R})"
            ans = _lp(run, rel)
            if ans.status == "infeasible":
                return _impossible(run, rel, ans)
            if ans.status != "feasible" or m.n_S != 1:
                continue
            point = ans.point
            if size < head.R:
                found = _realise_prefix(run, frozen, _s_of(point, d), Y, "relaxation's point")
                if found is not None:
                    return found
    else:
        seeds.append(torch.zeros(m.n_S, d, dtype=torch.float64))  # orderings only: they hold for every prefix
    if point is not None:
        seeds.append(_s_of(point, d))
    seeds += [torch.randn(m.n_S, d, generator=g, dtype=torch.float64) for _ in range(3)]
    for i, s0 in enumerate(seeds):
        if run.left() <= 0:
            return run.outcome(UNKNOWN, f"timeout ({run.timeout:g}s) while realising")
        found = _realise_prefix(run, frozen, s0, Y, "relaxation's point" if i == 0 and point is not None
                                else f"seed {seed} start {i}")
        if found is not None:
            return found
        if i == 0 and point is not None and rel is not None and head.tau is not None:
            refined = _cuts(run, head, rel, point, frozen, Y)
            if refined is not None:
                return refined
    return None


def _s_of(point: dict[str, float], d: int) -> Any:
    import torch

    from theory.relax import s_var

    return torch.tensor([[point.get(s_var(0, c), 0.0) for c in range(d)]], dtype=torch.float64)


def _realise_prefix(run: _Run, frozen: Any, s0: Any, Y: Any, how: str) -> Outcome | None:
    from numeric.seeded import levenberg_marquardt

    t0 = time.perf_counter()
    S = s0 if Y is None else levenberg_marquardt(frozen, s0, Y, run.problem.task.tol, min(5.0, run.left() / 2))
    found = run.check({"s": S}, f"Levenberg-Marquardt from the {how}")
    run.record(f"realise ({how})", "FOUND" if found else "not realised", time.perf_counter() - t0,
               reason="" if found else run.last_fail)
    return found


def _cuts(run: _Run, head: Any, rel: Any, point: dict[str, float], frozen: Any, Y: Any) -> Outcome | None:
    """Cutting planes on the coupling beta_r - 1 = exp(kappa_r) (n_S = 1, rational tau)."""
    from theory import kernel, relax

    rel = relax.Relaxation(rel.name + " + coupling cuts", rel.claims,
                           rel.abstraction + "; tangent cuts beta_r - 1 >= L (1 + logZ_lo - tau g_r . s - c), "
                           "0 <= L <= exp(c) (kernel.exp_bounds), of the coupling beta_r - 1 = exp(log Z_r - "
                           "tau g_r . s)", list(rel.rows))
    for _ in range(CUT_ROUNDS):
        if run.left() <= 0.5:
            return None
        s = _s_of(point, head.d)[0]
        kappa = (frozen.logZ - frozen.G @ s).tolist()
        added = 0
        for r, k in enumerate(kappa):
            beta = point[relax.beta_var(r)]
            if not math.isfinite(k) or beta - 1 >= math.exp(min(k, 700.0)) * (1 - 1e-6):
                continue
            c = Fraction(round(max(-600.0, min(600.0, k)) * GRID), GRID)
            L = kernel.exp_bounds(c, c)[0]
            rel.rows.append(relax.coupling_cut(head, r, c, L))
            added += 1
        if not added:
            return None
        ans = _lp(run, rel)
        if ans.status == "infeasible":
            return _impossible(run, rel, ans)
        if ans.status != "feasible":
            return None
        point = ans.point
        found = _realise_prefix(run, frozen, _s_of(point, head.d), Y, "cut relaxation's point")
        if found is not None:
            return found
    return None


def _lora_value(run: _Run, head: Any, seed: int) -> Outcome | None:
    """LoRA on W_V: the per-coordinate LPs in Delta (certificates only); realised by a truncated SVD of the
    least-squares Delta."""
    import torch

    from theory import relax

    m, t = run.problem.method, run.problem.task
    if t.outputs is None:  # orderings only, already known to hold: a zero update keeps them
        zero = {"B": torch.zeros(head.d_v, m.rank, dtype=torch.float64),
                "A": torch.zeros(m.rank, head.d, dtype=torch.float64)}
        return run.check(zero, "the zero update")
    for c in range(head.d_v):
        rel = relax.value_linear(head, t.outputs, t.tol, c)
        if rel is None:
            break
        ans = _lp(run, rel)
        if ans.status == "infeasible":
            return _impossible(run, rel, ans)
    T = torch.tensor([[float(v) for v in head.input(r).t_lo] for r in range(head.R)], dtype=torch.float64)
    Xbar = torch.tensor([[float(v) for v in head.input(r).xbar_lo] for r in range(head.R)], dtype=torch.float64)
    D = torch.linalg.lstsq(Xbar, torch.tensor(t.outputs, dtype=torch.float64) - T).solution.T  # Delta xbar_r = y - t
    U, S, Vh = torch.linalg.svd(D, full_matrices=False)
    r = m.rank
    B = torch.zeros(head.d_v, r, dtype=torch.float64)
    A = torch.zeros(r, head.d, dtype=torch.float64)
    k = min(r, S.shape[0])
    B[:, :k], A[:k] = U[:, :k] * S[:k], Vh[:k]
    found = run.check({"B": B, "A": A}, f"rank-{r} truncated SVD of the least-squares Delta")
    return found or _polish_starts(run, {"B": B, "A": A}, seed)


def _lora_attention(run: _Run, head: Any, seed: int) -> Outcome | None:
    """LoRA on W_Q / W_K: the attention-hull relaxation, then L-BFGS starts."""
    from theory import relax

    t = run.problem.task
    if t.outputs is not None:
        rel = relax.attention_hull(head, t.outputs, t.tol)
        ans = _lp(run, rel)
        if ans.status == "infeasible":
            return _impossible(run, rel, ans)
    return _polish_starts(run, None, seed)


def _polish_starts(run: _Run, first: dict[str, Any] | None, seed: int, starts: int = 3) -> Outcome | None:
    import torch

    from numeric.adapt import polish

    m, t = run.problem.method, run.problem.task
    d, k, d_v = len(run.problem.W_Q[0]), len(run.problem.W_Q), len(run.problem.W_V)
    g = torch.Generator().manual_seed(seed)
    rows = d_v if m.matrix == "W_V" else k
    cands = ([first] if first is not None else []) + [
        {"B": torch.randn(rows, m.rank, generator=g, dtype=torch.float64),
         "A": torch.randn(m.rank, d, generator=g, dtype=torch.float64)} for _ in range(starts)]
    for i, start in enumerate(cands):
        if run.left() <= 1.0:
            return None
        t0 = time.perf_counter()
        params = polish(run.head, m.kind, m.matrix, start, run.X, t.outputs, t.orderings, t.tol, iterations=50)
        how = "L-BFGS from the relaxation's point" if first is not None and i == 0 else f"L-BFGS seed {seed} start {i}"
        found = run.check(params, how)
        run.record(how, "FOUND" if found else "not realised", time.perf_counter() - t0,
                   reason="" if found else run.last_fail)
        if found is not None:
            return found
    return None
