"""Check builders of the concrete-head search claims (`proofs.catalogue.reachability`): each joins a solver query or
search engine (`theory.smt_prefix`, `proofs.z3_search`, `proofs.layered`) with the float64 side
(`numeric.reach`), whose setups and witnesses cross as plain numbers.

* `reverse_smt` / `reverse_numeric`: ``l_j < l_k => A^pt_j < A^pt_k`` (z3 per pair, all n at once by aggregation);
* `segment_smt` / `segment_numeric`: with n_S = 1, ``t^pt_i in [e_i, W_V s]``, ``e_i = t_i`` (or 0, a false twin);
* `separation_smt` / `separation_numeric`: a task one method reaches and the other provably cannot;
* `wide_smt` / `wide_numeric`: the segments at d = 64, decided by the layered engine.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from proofs.claim import Check, Context, LayerResult, Status

if TYPE_CHECKING:
    from numeric.reach import WideSetup
    from proofs.z3_search import Problem
    from theory.smt_prefix import Method

#: the d = 64 head of `prefix.reachable_segment_d64`: width, tokens per input, inputs, tolerance (max-norm)
WIDE_D, WIDE_N, WIDE_R, WIDE_TOL = 64, 32, 16, 1e-3


def _torch_one_thread(check: Check) -> Check:
    """``check`` with torch on one thread (`numeric.threads.one_thread`), as in the workers of ``check -j N``: these
    checks' float64 work is small products, for which a thread pool costs CPU and changes no number (the results
    of `numeric.reach` are bit-identical on one thread). Only checks that use torch anyway are wrapped."""

    def run(ctx: Context) -> LayerResult:
        from numeric.threads import one_thread

        with one_thread():
            return check(ctx)

    return run


def _cvc5() -> bool:
    from theory.smt_cvc5 import available

    return available()


# ---- prefix.cannot_reverse_attention -----------------------------------------------------------------------------

def reverse_smt(method: str = "prefix", explicit_n: int = 8) -> Check:
    """z3 per pair: the aggregated query (every n >= 2) for (0,1) and (1,0), then every ordered pair explicitly at
    ``explicit_n``; cvc5 re-checks the aggregated queries when installed. A model is realised on a torch head
    (`numeric.reach.realised_flip`) before it is a COUNTEREXAMPLE."""

    def check(ctx: Context) -> LayerResult:
        from theory.kernel import certify_unsat
        from theory.smt_cvc5 import available, check_smtlib
        from theory.smt_prefix import REVERSE_ABSTRACTION, ReverseQuery, reverse_witness, solve, to_smtlib

        start = time.perf_counter()
        queries = [ReverseQuery(64, [p], method, aggregated=True) for p in ((0, 1), (1, 0))]
        queries += [ReverseQuery(explicit_n, [(j, k)], method) for j in range(explicit_n)
                    for k in range(explicit_n) if j != k]
        agree, answers = [], []
        for i, q in enumerate(queries):
            cs, handles = q.build()
            r = solve(cs, ctx.timeout)  # per query (Context.timeout)
            answers.append(r)
            if r.result == "unknown":
                return LayerResult(Status.UNKNOWN, f"query {i}: z3 {r.reason}", abstraction=REVERSE_ABSTRACTION)
            if r.result == "sat":
                from numeric.reach import realised_flip  # torch, for the re-check of a model only

                pair = q.pairs[0]
                witness = reverse_witness(r.model, handles, pair)
                P = witness.pop("P", 1.0)
                ok, detail = realised_flip(method, witness["e"], P, witness.get("f"))
                status = Status.COUNTEREXAMPLE if ok else Status.UNKNOWN
                why = detail if ok else f"z3 model did not survive re-checking ({detail})"
                return LayerResult(status, f"pair {list(pair)} (n={q.n}, "
                                   f"{'aggregated' if q.aggregated else 'explicit'}): {why}",
                                   abstraction=REVERSE_ABSTRACTION, witness={**witness, "pair": list(pair)})
            if q.aggregated and available():
                answer, _ = check_smtlib(to_smtlib(cs), max(1.0, ctx.timeout))
                agree.append(answer)
        cvc5 = (f"; cvc5 re-check of the aggregated queries: {'agrees' if set(agree) == {'unsat'} else agree}"
                if agree else "; cvc5 not installed")
        if "sat" in agree:
            return LayerResult(Status.UNKNOWN, "z3 UNSAT but cvc5 answered sat: backends disagree",
                               abstraction=REVERSE_ABSTRACTION)
        cert = certify_unsat(answers, "exp-facts", "every content length n >= 2 (the two named positions "
                             "and the other weights summed into one real >= 0), any n_S", REVERSE_ABSTRACTION)
        return LayerResult(Status.PROVED, f"UNSAT for every n >= 2 (aggregated per-pair queries: "
                           f"other content weights summed into one real >= 0), and all {explicit_n * (explicit_n - 1)} "
                           f"explicit per-pair queries at n={explicit_n}; any n_S; "
                           f"{time.perf_counter() - start:.2f}s{cvc5} (explicit n=64 sweep, 4032 queries: "
                           "bench/bench_search.py)",
                           abstraction=REVERSE_ABSTRACTION, certificate=cert)

    return check


def reverse_numeric(method: str = "prefix", n: int = 64, d: int = 8) -> Check:
    """torch: random heads with n content tokens and random prefixes (n_S in 1, 3, 8) or rank-1 LoRA updates of
    W_K (`numeric.reach.order_flips`); CONSISTENT iff no strict order flip."""

    def check(ctx: Context) -> LayerResult:
        from numeric.reach import order_flips

        seed = ctx.child_seed(f"reverse-{method}")
        B = max(1, ctx.instances // 100)
        flips, pairs = order_flips(method, B, seed, n, d)
        if flips == 0:
            return LayerResult(Status.CONSISTENT, f"no order flip among {pairs} visible pairs (n={n}, n_S in 1,3,8, "
                               f"seed {seed})", max_error=0.0, instances=3 * B)
        return LayerResult(Status.VIOLATED, f"{flips} strict order flips among {pairs} pairs (seed {seed})",
                           instances=3 * B, witness={"seed": seed, "flips": flips})

    return _torch_one_thread(check)


# ---- prefix.reachable_segment ------------------------------------------------------------------------------------

def segment_smt(end: str = "t") -> Check:
    """Segments [e_i, W_V s] with e_i = t_i (the claim) or e_i = 0 (a false twin), on the seeded head of
    `numeric.reach.segment_setup`: the planted outputs must be on them (`theory.smt_prefix.segment_query`), a
    target off them IMPOSSIBLE (`proofs.z3_search.search`, z3 asked first) and the planted target FOUND."""

    def check(ctx: Context) -> LayerResult:
        from numeric.reach import off_segment_targets, segment_setup
        from proofs.z3_search import FOUND, IMPOSSIBLE, Problem, search
        from theory.smt_prefix import ABSTRACTION, Method, Task, segment_query

        st = segment_setup(ctx.child_seed("segment"))
        ends = st.t if end == "t" else [[0.0, 0.0]] * 3
        tol = 1e-3  # the planted outputs are rounded to multiples of 2^-12 (short rationals for z3)
        q = segment_query(st.W_V, ends, st.reach, tol, ctx.timeout)
        if q.result == "unsat":
            return LayerResult(Status.COUNTEREXAMPLE, f"the planted prefix s* (seed {st.seed}) reaches outputs "
                               f"off every segment seg({end}_i, W_V s) (segment query UNSAT; outputs recomputed on "
                               "float64 torch)", abstraction=ABSTRACTION,
                               witness={"s": st.s_star, "outputs": st.reach})
        off = off_segment_targets(ends)

        def problem(target: list[list[float]]) -> Problem:
            return Problem(st.W_Q, st.W_K, st.W_V, Method("prefix", 1), Task(st.inputs, target, tol=tol), tau=1.0)

        o_off = search(problem(off), ctx.timeout, cvc5=_cvc5(), seed=ctx.child_seed("segment-off"), solver_first=True)
        if o_off.verdict == FOUND:
            return LayerResult(Status.COUNTEREXAMPLE, f"a target off the segments seg({end}_i, W_V s) is reached: "
                               f"{o_off.detail}", abstraction=ABSTRACTION,
                               witness={"params": o_off.params, "target": off})
        if o_off.verdict != IMPOSSIBLE:
            return LayerResult(Status.UNKNOWN, f"off-segment target: {o_off.detail}", abstraction=ABSTRACTION)
        o_on = search(problem(st.reach), ctx.timeout, seed=ctx.child_seed("segment-on"))
        if o_on.verdict != FOUND or o_on.params is None:
            return LayerResult(Status.UNKNOWN, f"on-segment target: {o_on.detail}", abstraction=ABSTRACTION)
        cvc5 = o_off.cvc5 or "not run"
        return LayerResult(Status.PROVED, certificate=o_off.certificate,
                           detail=f"seed {st.seed}: off-segment target IMPOSSIBLE ({o_off.detail}; cvc5 "
                           f"{cvc5}); planted on-segment target FOUND, s = {o_on.params['s']} ({o_on.detail})",
                           abstraction=ABSTRACTION, witness={"s": o_on.params["s"], "max_error": o_on.max_error})

    return _torch_one_thread(check)


def segment_numeric(end: str = "t") -> Check:
    """torch: random heads and n_S = 1 prefixes; distance of t^pt_i to the segment [e_i, W_V s] at every i
    (`numeric.reach.segment_distances`), CONSISTENT within 1e-9."""

    def check(ctx: Context) -> LayerResult:
        from numeric.reach import segment_distances

        seed = ctx.child_seed("segment-numeric")
        worst, inst = segment_distances(ctx.instances, seed, end)
        if worst <= 1e-9:
            return LayerResult(Status.CONSISTENT, f"max distance to seg({end}_i, W_V s) {worst:.3g} (seed {seed})",
                               max_error=worst, instances=ctx.instances)
        return LayerResult(Status.VIOLATED, f"distance {worst:.3g} to seg({end}_i, W_V s) at seed {seed}, instance "
                           f"{inst}", max_error=worst, instances=ctx.instances,
                           witness={"seed": seed, "instance": inst})

    return _torch_one_thread(check)


# ---- prefix.vs_lora_separation -----------------------------------------------------------------------------------

SeparationProblem = Callable[["Method"], "Problem"]


def separation_methods() -> tuple[Method, Method]:
    """Rank-1 LoRA on W_K and the prefix with the same parameter count (n_S = r (k + d) / d at d = k = 2)."""
    from theory.smt_prefix import Method

    lora = Method("lora", rank=1, matrix="W_K")
    n_S = lora.parameters(2, 2, 2) // 2
    return lora, Method("prefix", n_S=n_S)


def separation_smt(problem: SeparationProblem) -> Check:
    """The prefix of `separation_methods` must be IMPOSSIBLE on ``problem`` (z3 asked first, kernel certificate)
    and the rank-1 LoRA FOUND (a validated witness from a z3 model)."""

    def check(ctx: Context) -> LayerResult:
        from proofs.z3_search import FOUND, IMPOSSIBLE, search
        from theory.smt_prefix import ABSTRACTION

        lora, prefix = separation_methods()
        p = problem(prefix)
        o_p = search(p, ctx.timeout, cvc5=_cvc5(), seed=ctx.child_seed("sep-prefix"), solver_first=True)
        if o_p.verdict == FOUND:
            return LayerResult(Status.COUNTEREXAMPLE, f"{prefix.describe()} solves the task: {o_p.detail}",
                               abstraction=ABSTRACTION, witness={"params": o_p.params})
        if o_p.verdict != IMPOSSIBLE:
            return LayerResult(Status.UNKNOWN, f"{prefix.describe()}: {o_p.detail}", abstraction=ABSTRACTION)
        o_l = search(problem(lora), ctx.timeout, starts=0)  # the witness comes from a z3 model
        if o_l.verdict != FOUND:
            return LayerResult(Status.UNKNOWN, f"{lora.describe()} not found: {o_l.detail}", abstraction=ABSTRACTION)
        params = lora.parameters(2, 2, 2)
        return LayerResult(Status.PROVED, certificate=o_p.certificate,
                           detail=f"{params} parameters each: {prefix.describe()} IMPOSSIBLE on all "
                           f"{len(p.task.inputs)} inputs at once ({o_p.detail}; cvc5 {o_p.cvc5 or 'not run'}); "
                           f"{lora.describe()} FOUND, B A = {o_l.params} ({o_l.detail})",
                           abstraction=ABSTRACTION, witness={"lora": o_l.params, "max_error": o_l.max_error})

    return _torch_one_thread(check)


def separation_numeric(problem: SeparationProblem, starts: int = 4) -> Check:
    """torch: L-BFGS from seeded random starts (`numeric.reach.best_fits`) for the prefix (best error must stay
    above the task's tolerance) and for LoRA (some start must reach it)."""

    def check(ctx: Context) -> LayerResult:
        from numeric.reach import Fit, best_fits

        seed = ctx.child_seed("separation")
        lora, prefix = separation_methods()
        p = problem(prefix)
        eps = p.task.tol
        if p.task.outputs is None:
            raise ValueError("the separation task needs target outputs")
        fits = [Fit("prefix", n_S=prefix.n_S), Fit("lora", matrix=lora.matrix)]
        best = best_fits(p.W_Q, p.W_K, p.W_V, p.tau, p.task.inputs, p.task.outputs, fits, starts, seed, eps)
        line = f"best of {starts} optimised starts (seed {seed}): prefix {best['prefix']:.3g}, LoRA {best['lora']:.3g}"
        if best["prefix"] <= eps:
            return LayerResult(Status.VIOLATED, f"a prefix reaches the task: {line}", instances=2 * starts,
                               witness={"seed": seed})
        status = Status.CONSISTENT if best["lora"] <= eps else Status.UNKNOWN
        return LayerResult(status, f"{line} (eps {eps})", max_error=best["lora"], instances=2 * starts)

    return _torch_one_thread(check)


# ---- prefix.reachable_segment_d64 --------------------------------------------------------------------------------

def _wide(ctx: Context) -> WideSetup:
    from numeric.reach import wide_setup

    return wide_setup(ctx.child_seed("wide"), WIDE_D, WIDE_N, WIDE_R)


def wide_smt(end: str = "t") -> Check:
    """The layered engine at d = 64: the planted outputs lie on the segments [e_r, W_V s] (exact LP; with
    e_r = 0, the false twin, a Farkas certificate shows they do not, while s* reaches them: COUNTEREXAMPLE); far
    targets IMPOSSIBLE with a kernel certificate; planted targets FOUND."""

    def check(ctx: Context) -> LayerResult:
        from proofs.layered import decide, scope
        from proofs.z3_search import FOUND, IMPOSSIBLE, Problem
        from theory import relax
        from theory.enclose import HeadEnclosure
        from theory.lp import solve
        from theory.smt_prefix import Method, Task

        st = _wide(ctx)

        def problem(Y: list[list[float]]) -> Problem:
            return Problem(st.W[0], st.W[1], st.W[2], Method("prefix", 1), Task(st.X, Y, tol=WIDE_TOL))

        on = problem(st.planted)
        head = HeadEnclosure(on.W_Q, on.W_K, on.W_V, on.tau, st.X)  # shared by the three decisions on this head
        seg = relax.prefix_ray(head, st.planted, WIDE_TOL, ends=end)
        seg.scope = scope(on)
        ans = solve(seg, ctx.timeout)
        if ans.status == "infeasible":
            return LayerResult(Status.COUNTEREXAMPLE, f"the planted prefix s* (seed {st.seed}) reaches outputs "
                               f"off every family of segments [{end}_r, W_V s] ({ans.certificate.evidence}; outputs "
                               "computed on float64 torch)", witness={"seed": st.seed})
        far = decide(problem(st.far), ctx.timeout, seed=ctx.child_seed("wide-far"), enclosure=head)
        if far.verdict == FOUND:
            return LayerResult(Status.COUNTEREXAMPLE, f"far targets reached: {far.detail}",
                               witness={"seed": st.seed, "params": far.params})
        if far.verdict != IMPOSSIBLE or far.certificate is None:
            return LayerResult(Status.UNKNOWN, f"far targets: {far.detail}")
        found = decide(on, ctx.timeout, seed=ctx.child_seed("wide-on"), enclosure=head)
        if found.verdict != FOUND:
            return LayerResult(Status.UNKNOWN, f"planted targets: {found.detail}")
        return LayerResult(Status.PROVED, f"seed {st.seed}, d={WIDE_D}, n={WIDE_N}, R={WIDE_R}: far targets "
                           f"IMPOSSIBLE in {far.seconds:.2f}s ({far.detail}); planted targets FOUND in "
                           f"{found.seconds:.2f}s ({found.detail})", abstraction=far.certificate.abstraction,
                           certificate=far.certificate, witness={"max_error": found.max_error})

    return _torch_one_thread(check)


def wide_numeric(end: str = "t") -> Check:
    """torch: on the d = 64 head, 200 random prefixes s: distance of t^pt_r to the segment [e_r, W_V s]
    (`numeric.reach.wide_segment_distance`), CONSISTENT within 1e-9."""

    def check(ctx: Context) -> LayerResult:
        from numeric.reach import wide_segment_distance

        st = _wide(ctx)
        worst = wide_segment_distance(st, end)
        tol = 1e-9
        status = Status.CONSISTENT if worst <= tol else Status.VIOLATED
        return LayerResult(status, f"max distance to seg({end}_r, W_V s) {worst:.3g} over 200 prefixes x "
                           f"{WIDE_R} inputs (seed {st.seed}, tol {tol:g})", max_error=worst, instances=200,
                           witness=None if status is Status.CONSISTENT else {"seed": st.seed})

    return _torch_one_thread(check)
