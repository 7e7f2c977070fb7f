"""Counterexample search on concrete heads (paper-notes 2.2 consequences and LoRA, 2.4; 5 items 13, 14, 16, 22).

* `prefix.cannot_reverse_attention`: no prefix of any length reverses two content attention weights (z3, exp as
  positive reals with lemmas; per pair, all n at once by aggregation, and explicitly at n = 8; bench: n = 64).
* `prefix.reachable_segment`: with n_S = 1 every output of one input lies on a segment [t_i, W_V s] with a
  common end W_V s; a target off those segments is UNSAT, one on them is FOUND with a validated s.
* `prefix.vs_lora_separation`: on a head pretrained to attend to the smallest token, rank-1 LoRA on W_K makes it
  copy the largest (validated witness); z3 proves no prefix with the same parameter count can, on all inputs.

The factories take the piece a false twin changes (the method, the segment end point, the pretrained head).
"""
from __future__ import annotations

from typing import Any

from proofs.claim import Check, Claim, Context, LayerResult, Status

SECTION = "4 search (concrete heads)"
ASSUME = ("one softmax head, causal mask, the prefix is only a key/value (never a query); first layer or "
          "conditional on the layer's inputs",)


# ---- prefix.cannot_reverse_attention -------------------------------------------------------------------------

def _realised_flip(witness: dict[str, Any], method: str, P: float) -> tuple[bool, str]:
    """Realise a reverse-query model as a torch head (tokens = basis vectors, the last one the query) and confirm
    ``A_j < A_k`` but ``F_j >= F_k`` at the last position, F with the prefix (weight P) or the LoRA update."""
    import math

    import torch

    from numeric.adapt import ConcreteHead

    e = witness["e"]
    n = len(e)
    W_K = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    W_K[n - 1, :n] = torch.tensor([math.log(x) for x in e], dtype=torch.float64)
    eye = torch.eye(n + 1, dtype=torch.float64)
    head = ConcreteHead(eye, W_K, eye, 1.0)
    X = eye[:n]
    _, A = head.last(X, "prefix", "W_K", {"s": torch.zeros(0, n + 1, dtype=torch.float64)})
    if method == "prefix":
        W_K[n - 1, n] = math.log(P)
        _, F = head.last(X, "prefix", "W_K", {"s": eye[n:]})
    else:
        a = torch.zeros(1, n + 1, dtype=torch.float64)
        a[0, :n] = torch.tensor([math.log(f) - math.log(x) for f, x in zip(witness["f"], e)], dtype=torch.float64)
        _, F = head.last(X, "lora", "W_K", {"B": eye[:, n - 1:n], "A": a})
    j, k = 0, 1
    ok = bool(A[j] < A[k]) and bool(F[j] >= F[k])
    return ok, f"torch: A {float(A[j]):.6g} < {float(A[k]):.6g} but adapted {float(F[j]):.6g} >= {float(F[k]):.6g}"


def reverse_smt(method: str = "prefix", explicit_n: int = 8) -> Check:
    """z3 per pair: the aggregated query (every n >= 2) for (0,1) and (1,0), then every ordered pair explicitly at
    ``explicit_n``; cvc5 re-checks the aggregated queries when installed."""

    def check(ctx: Context) -> LayerResult:
        import time

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
                witness = reverse_witness(r.model, handles)
                P = witness.pop("P", 1.0)
                pair = list(q.pairs[0])
                order = [witness["names"].index(x) for x in pair]
                witness = {key: ([vals[o] for o in order] + [v for t, v in enumerate(vals) if t not in order]
                                 if isinstance(vals, list) else vals) for key, vals in witness.items()}
                ok, detail = _realised_flip(witness, method, P)
                status = Status.COUNTEREXAMPLE if ok else Status.UNKNOWN
                why = detail if ok else f"z3 model did not survive re-checking ({detail})"
                return LayerResult(status, f"pair {pair} (n={q.n}, {'aggregated' if q.aggregated else 'explicit'}): "
                                   f"{why}", abstraction=REVERSE_ABSTRACTION, witness={**witness, "pair": pair})
            if q.aggregated and available():
                answer, _ = check_smtlib(to_smtlib(cs), max(1.0, ctx.timeout))
                agree.append(answer)
        cvc5 = (f"; cvc5 re-check of the aggregated queries: {'agrees' if set(agree) == {'unsat'} else agree}"
                if agree else "; cvc5 not installed")
        if "sat" in agree:
            return LayerResult(Status.UNKNOWN, "z3 UNSAT but cvc5 answered sat: backends disagree",
                               abstraction=REVERSE_ABSTRACTION)
        from theory.kernel import certify_unsat

        cert = certify_unsat([a for a in answers], "exp-facts", "every content length n >= 2 (the two named positions "
                             "and the other weights summed into one real >= 0), any n_S", REVERSE_ABSTRACTION)
        return LayerResult(Status.PROVED, f"UNSAT for every n >= 2 (aggregated per-pair queries: "
                           f"other content weights summed into one real >= 0), and all {explicit_n * (explicit_n - 1)} "
                           f"explicit per-pair queries at n={explicit_n}; any n_S; "
                           f"{time.perf_counter() - start:.2f}s{cvc5} (explicit n=64 sweep, 4032 queries: "
                           "bench/bench_search.py)",
                           abstraction=REVERSE_ABSTRACTION, certificate=cert)

    return check


def reverse_numeric(method: str = "prefix", n: int = 64, d: int = 8) -> Check:
    """torch: random heads with n = 64 content tokens and random prefixes (n_S in 1, 3, 8) or rank-1 LoRA updates
    of W_K; count strict order flips of the content attention at every query position."""

    def check(ctx: Context) -> LayerResult:
        import torch

        from numeric.attention import DTYPE, causal_mask, random_instances

        seed = ctx.child_seed(f"reverse-{method}")
        B = max(1, ctx.instances // 100)
        vis = causal_mask(n)
        pair_vis = vis[:, :, None] & vis[:, None, :]
        flips, pairs = 0, 0
        for t, n_S in enumerate((1, 3, 8)):
            inst = random_instances(B, n, d, n_S, seed=seed + t)
            q = inst.X @ inst.W_Q.transpose(-1, -2)
            k = inst.X @ inst.W_K.transpose(-1, -2)
            logits = inst.tau * q @ k.transpose(-1, -2)
            A = torch.softmax(logits.masked_fill(~vis, float("-inf")), -1)
            if method == "prefix":
                pk = inst.S @ inst.W_K.transpose(-1, -2)
                full = torch.cat([inst.tau * q @ pk.transpose(-1, -2), logits.masked_fill(~vis, float("-inf"))], -1)
                F = torch.softmax(full, -1)[..., n_S:]
            else:
                g = torch.Generator().manual_seed(seed + 100 + t)
                b = torch.randn(B, d, 1, generator=g, dtype=DTYPE)
                a = torch.randn(B, 1, d, generator=g, dtype=DTYPE)
                k2 = inst.X @ (inst.W_K + b @ a).transpose(-1, -2)
                F = torch.softmax((inst.tau * q @ k2.transpose(-1, -2)).masked_fill(~vis, float("-inf")), -1)
            dA = A[..., :, None] - A[..., None, :]
            dF = F[..., :, None] - F[..., None, :]
            flips += int(((dA * dF < 0) & (dA.abs() > 1e-9) & (dF.abs() > 1e-9) & pair_vis).sum())
            pairs += int(pair_vis.sum()) * B
        if flips == 0:
            return LayerResult(Status.CONSISTENT, f"no order flip among {pairs} visible pairs (n={n}, n_S in 1,3,8, "
                               f"seed {seed})", max_error=0.0, instances=3 * B)
        return LayerResult(Status.VIOLATED, f"{flips} strict order flips among {pairs} pairs (seed {seed})",
                           instances=3 * B, witness={"seed": seed, "flips": flips})

    return check


def cannot_reverse_claim(id: str = "prefix.cannot_reverse_attention", method: str = "prefix",
                         expected: Any = "holds") -> Claim:
    return Claim(
        id=id, title="no prefix of any length reverses the order of two content attention weights (n up to 64)",
        paper_ref="Sec. 4 (the attention pattern over the content cannot change); notes 2.2, 5 item 13",
        statement=r"\ell_{ij}<\ell_{ik}\ \Rightarrow\ A^{pt}_{ij}<A^{pt}_{ik}\quad\forall n,\ n_S,\ s_{1..n_S}",
        assumptions=ASSUME, expected=expected, section=SECTION,
        smt=reverse_smt(method), numeric=reverse_numeric(method))


# ---- prefix.reachable_segment --------------------------------------------------------------------------------

def _segment_setup(ctx: Context) -> dict[str, Any]:
    """A seeded 2-d head, one input of 3 tokens (its 3 causal prefixes are the queries), a planted prefix s*
    and the outputs it reaches (float64 torch, rounded to multiples of 2^-12). Entries are multiples of 1/8."""
    import torch

    from numeric.adapt import ConcreteHead

    seed = ctx.child_seed("segment")
    g = torch.Generator().manual_seed(seed)
    grid = lambda *shape: torch.round(torch.randn(*shape, generator=g, dtype=torch.float64) * 8) / 8  # noqa: E731
    W_Q, W_K, W_V = (grid(2, 2) for _ in range(3))
    X, s_star = grid(3, 2), grid(1, 2)
    head = ConcreteHead(W_Q, W_K, W_V, 1.0)
    inputs = [X[:i] for i in range(1, 4)]
    with torch.no_grad():
        t = [head.last(x, "prefix", "W_K", {"s": s_star[:0]})[0] for x in inputs]
        reach = [torch.round(head.last(x, "prefix", "W_K", {"s": s_star})[0] * 2**12) / 2**12 for x in inputs]
    return {"seed": seed, "head": head, "inputs": inputs, "t": t, "reach": reach, "s_star": s_star}


def _on_segments(setup: dict[str, Any], ends: list[Any], target: list[Any], tol: float, timeout: float) -> Any:
    """z3: do ``alpha_i in (0,1)`` and ``s`` exist with ``|y_i - ((1-alpha_i) e_i + alpha_i W_V s)| <= tol``?"""
    import z3

    from theory.smt_prefix import rational, solve

    W_V = [[rational(float(x)) for x in row] for row in setup["head"].W_V]
    s = [z3.Real(f"s{c}") for c in range(2)]
    u = [W_V[r][0] * s[0] + W_V[r][1] * s[1] for r in range(2)]
    cs = []
    for i, (e, y) in enumerate(zip(ends, target)):
        a = z3.Real(f"alpha{i}")
        cs += [a > 0, a < 1]
        for c in range(2):
            pt = (1 - a) * rational(float(e[c])) + a * u[c]
            cs += [pt - rational(float(y[c])) <= rational(tol), rational(float(y[c])) - pt <= rational(tol)]
    return solve(cs, timeout)


def segment_smt(end: str = "t") -> Check:
    """Segments [e_i, W_V s] with e_i = t_i (the claim) or e_i = 0 (a false twin)."""

    def check(ctx: Context) -> LayerResult:
        import torch

        from proofs.z3_search import FOUND, IMPOSSIBLE, Problem, search
        from theory.smt_prefix import ABSTRACTION, Method, Task

        st = _segment_setup(ctx)
        ends = st["t"] if end == "t" else [torch.zeros(2, dtype=torch.float64)] * 3
        tol = 1e-3  # the planted outputs are rounded to multiples of 2^-12 (short rationals for z3)
        reach = [y.tolist() for y in st["reach"]]
        q = _on_segments(st, ends, st["reach"], tol, ctx.timeout)
        if q.result == "unsat":
            return LayerResult(Status.COUNTEREXAMPLE, f"the planted prefix s* (seed {st['seed']}) reaches outputs "
                               f"off every segment seg({end}_i, W_V s) (segment query UNSAT; outputs recomputed on "
                               "float64 torch)", abstraction=ABSTRACTION,
                               witness={"s": st["s_star"].tolist(), "outputs": reach})
        d = ends[1] - ends[0]
        gdir = torch.stack([-d[1], d[0]]) if float(d.norm()) > 1e-9 else torch.tensor([1.0, 0.0], dtype=torch.float64)
        gdir = gdir / gdir.norm()
        off = [(ends[0] + gdir).tolist(), (ends[1] - gdir).tolist(), (ends[2] + gdir).tolist()]
        h = st["head"]
        problem = lambda target: Problem(h.W_Q.tolist(), h.W_K.tolist(), h.W_V.tolist(),  # noqa: E731
                                         Method("prefix", 1), Task([x.tolist() for x in st["inputs"]], target, tol=tol),
                                         tau=1.0)
        o_off = search(problem(off), ctx.timeout, cvc5=_cvc5(), seed=ctx.child_seed("segment-off"))
        if o_off.verdict == FOUND:
            return LayerResult(Status.COUNTEREXAMPLE, f"a target off the segments seg({end}_i, W_V s) is reached: "
                               f"{o_off.detail}", abstraction=ABSTRACTION,
                               witness={"params": o_off.params, "target": off})
        if o_off.verdict != IMPOSSIBLE:
            return LayerResult(Status.UNKNOWN, f"off-segment target: {o_off.detail}", abstraction=ABSTRACTION)
        o_on = search(problem(reach), ctx.timeout, seed=ctx.child_seed("segment-on"))
        if o_on.verdict != FOUND:
            return LayerResult(Status.UNKNOWN, f"on-segment target: {o_on.detail}", abstraction=ABSTRACTION)
        cvc5 = o_off.cvc5 or "not run"
        return LayerResult(Status.PROVED, certificate=o_off.certificate,
                           detail=f"seed {st['seed']}: off-segment target IMPOSSIBLE ({o_off.detail}; cvc5 "
                           f"{cvc5}); planted on-segment target FOUND, s = {o_on.params['s']} ({o_on.detail})",
                           abstraction=ABSTRACTION, witness={"s": o_on.params["s"], "max_error": o_on.max_error})

    return check


def segment_numeric(end: str = "t") -> Check:
    """torch: random heads and n_S = 1 prefixes; distance of t^pt_i to the segment [e_i, W_V s] at every i."""

    def check(ctx: Context) -> LayerResult:
        import torch

        from numeric.attention import TorchHead, random_instances

        seed = ctx.child_seed("segment-numeric")
        h = TorchHead(random_instances(ctx.instances, 6, 4, 1, seed=seed))
        a = h.t if end == "t" else torch.zeros_like(h.t)
        b = h.u[0].expand_as(a)
        lam = (((h.t_pt - a) * (b - a)).sum(-1, keepdim=True) / ((b - a) ** 2).sum(-1, keepdim=True)).clamp(0, 1)
        dist = (h.t_pt - (a + lam * (b - a))).norm(dim=-1)
        worst = float(dist.max())
        if worst <= 1e-9:
            return LayerResult(Status.CONSISTENT, f"max distance to seg({end}_i, W_V s) {worst:.3g} (seed {seed})",
                               max_error=worst, instances=ctx.instances)
        inst = int(dist.amax(-1).argmax())
        return LayerResult(Status.VIOLATED, f"distance {worst:.3g} to seg({end}_i, W_V s) at seed {seed}, instance "
                           f"{inst}", max_error=worst, instances=ctx.instances,
                           witness={"seed": seed, "instance": inst})

    return check


def reachable_segment_claim(id: str = "prefix.reachable_segment", end: str = "t", expected: Any = "holds") -> Claim:
    return Claim(
        id=id, title="n_S=1: reachable outputs lie on segments from t_i to a common W_V s; a target off them is UNSAT",
        paper_ref="Sec. 4 (the output is biased towards W_V s_1); notes 2.2, 5 items 5, 14",
        statement=r"t^{pt}_i\in[t_i,\,W_Vs]\ \forall i;\quad y\notin\bigcup_s\prod_i[t_i,W_Vs]\Rightarrow"
                  r"\text{UNSAT},\ \ y\text{ on them}\Rightarrow\text{validated }s",
        assumptions=ASSUME, expected=expected, section=SECTION,
        smt=segment_smt(end), numeric=segment_numeric(end))


# ---- prefix.vs_lora_separation --------------------------------------------------------------------------------

SEPARATION_INPUTS = [[[0.0, 1.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 1.0]], [[1.0, 1.0], [2.0, 1.0]]]
EPS = 0.05


def separation_problem(c: float, method: Any) -> Any:
    """Tokens x = (v, 1); W_Q = [[0,1],[0,0]], W_K = [[c,0],[0,0]] so l_ij = c v_j (c < 0: attend to the
    smallest, paper-notes 2.2 LoRA example); W_V = I; task: output the largest token of each input within EPS."""
    from proofs.z3_search import Problem
    from theory.smt_prefix import Task

    targets = [max(x, key=lambda tok: tok[0]) for x in SEPARATION_INPUTS]
    return Problem([[0.0, 1.0], [0.0, 0.0]], [[c, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], method,
                   Task(SEPARATION_INPUTS, targets, tol=EPS), tau=1.0)


def _methods() -> tuple[Any, Any]:
    from theory.smt_prefix import Method

    lora = Method("lora", rank=1, matrix="W_K")
    n_S = lora.parameters(2, 2, 2) // 2
    return lora, Method("prefix", n_S=n_S)


def separation_smt(c: float = -3.0) -> Check:
    def check(ctx: Context) -> LayerResult:
        from proofs.z3_search import FOUND, IMPOSSIBLE, search
        from theory.smt_prefix import ABSTRACTION

        lora, prefix = _methods()
        o_p = search(separation_problem(c, prefix), ctx.timeout, cvc5=_cvc5(), seed=ctx.child_seed("sep-prefix"))
        if o_p.verdict == FOUND:
            return LayerResult(Status.COUNTEREXAMPLE, f"{prefix.describe()} solves the task: {o_p.detail}",
                               abstraction=ABSTRACTION, witness={"params": o_p.params})
        if o_p.verdict != IMPOSSIBLE:
            return LayerResult(Status.UNKNOWN, f"{prefix.describe()}: {o_p.detail}", abstraction=ABSTRACTION)
        o_l = search(separation_problem(c, lora), ctx.timeout, starts=0)  # the witness comes from a z3 model
        if o_l.verdict != FOUND:
            return LayerResult(Status.UNKNOWN, f"{lora.describe()} not found: {o_l.detail}", abstraction=ABSTRACTION)
        params = lora.parameters(2, 2, 2)
        return LayerResult(Status.PROVED, certificate=o_p.certificate,
                           detail=f"{params} parameters each: {prefix.describe()} IMPOSSIBLE on all "
                           f"{len(SEPARATION_INPUTS)} inputs at once ({o_p.detail}; cvc5 {o_p.cvc5 or 'not run'}); "
                           f"{lora.describe()} FOUND, B A = {o_l.params} ({o_l.detail})",
                           abstraction=ABSTRACTION, witness={"lora": o_l.params, "max_error": o_l.max_error})

    return check


def _cvc5() -> bool:
    from theory.smt_cvc5 import available

    return available()


def separation_numeric(c: float = -3.0, starts: int = 4) -> Check:
    """torch: L-BFGS from seeded random starts for the prefix (best error must stay > EPS) and for LoRA
    (some start must reach <= EPS)."""

    def check(ctx: Context) -> LayerResult:
        import torch

        from numeric.adapt import ConcreteHead, polish, recheck

        seed = ctx.child_seed("separation")
        g = torch.Generator().manual_seed(seed)
        lora, prefix = _methods()
        best = {}
        for m in (prefix, lora):
            p = separation_problem(c, m)
            head = ConcreteHead.from_lists(p.W_Q, p.W_K, p.W_V, p.tau)
            X = [torch.tensor(x, dtype=torch.float64) for x in p.task.inputs]
            errs = []
            for _ in range(starts):
                start = ({"s": torch.randn(m.n_S, 2, generator=g, dtype=torch.float64) * 3} if m.kind == "prefix"
                         else {"B": torch.randn(2, 1, generator=g, dtype=torch.float64),
                               "A": torch.randn(1, 2, generator=g, dtype=torch.float64)})
                fit = polish(head, m.kind, m.matrix, start, X, p.task.outputs, None, EPS, iterations=50)
                errs.append(recheck(head, m.kind, m.matrix, fit, X, p.task.outputs, None, EPS).max_error)
            best[m.kind] = min(errs)
        line = f"best of {starts} optimised starts (seed {seed}): prefix {best['prefix']:.3g}, LoRA {best['lora']:.3g}"
        if best["prefix"] <= EPS:
            return LayerResult(Status.VIOLATED, f"a prefix reaches the task: {line}", instances=2 * starts,
                               witness={"seed": seed})
        status = Status.CONSISTENT if best["lora"] <= EPS else Status.UNKNOWN
        return LayerResult(status, f"{line} (eps {EPS})", max_error=best["lora"], instances=2 * starts)

    return check


def separation_claim(id: str = "prefix.vs_lora_separation", c: float = -3.0, expected: Any = "holds") -> Claim:
    return Claim(
        id=id, title="rank-1 LoRA on W_K turns 'attend to smallest' into 'copy the largest'; no equal-size prefix can",
        paper_ref=("Sec. 4 rank-1 LoRA remark; Sec. 6 (LoRA here on W_K, not the paper's placement); "
                   "notes 2.2, 2.4, 5 items 16, 22"),
        statement=r"\exists\,\Delta W_K=ba^\top:\ \|t^{lora}(X)-W_Vx_{\max}(X)\|_\infty\le\varepsilon\ \forall X;"
                  r"\quad\nexists\,s_1,s_2:\ \|t^{pt}(X)-W_Vx_{\max}(X)\|_\infty\le\varepsilon\ \forall X",
        assumptions=ASSUME + ("x = (v, 1), l_ij = c v_j with c = -3, tau = 1, W_V = I; inputs {0,1}, {0,2}, {1,2}; "
                              f"eps = {EPS}; 4 parameters each (n_S = 2, d = 2)",),
        expected=expected, section=SECTION, smt=separation_smt(c), numeric=separation_numeric(c))


# ---- prefix.reachable_segment_d64 ---------------------------------------------------------------------------

WIDE = {"d": 64, "n": 32, "R": 16, "tol": 1e-3}


def wide_setup(ctx: Context) -> dict[str, Any]:
    """A seeded head of width d = 64 (entries N(0, 1/d), tau = 1/8), R = 16 inputs of n = 32 tokens, a planted
    prefix s* (n_S = 1) with its float64 outputs, and far targets (N(0, 9) entries)."""
    import numpy as np
    import torch

    from numeric.adapt import ConcreteHead

    seed = ctx.child_seed("wide")
    rng = np.random.default_rng(seed)
    d, n, R = WIDE["d"], WIDE["n"], WIDE["R"]
    W = [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3)]
    X = rng.standard_normal((R, n, d))
    s_star = rng.standard_normal((1, d)) * 2
    head = ConcreteHead(*[torch.tensor(w) for w in W], 1 / np.sqrt(d))
    with torch.no_grad():
        planted = [head.last(torch.tensor(x), "prefix", "W_K", {"s": torch.tensor(s_star)})[0].tolist() for x in X]
    far = (rng.standard_normal((R, d)) * 3).tolist()
    return {"seed": seed, "W": [w.tolist() for w in W], "X": X.tolist(), "s_star": s_star.tolist(),
            "planted": planted, "far": far}


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

        st = wide_setup(ctx)
        problem = lambda Y: Problem(*st["W"], Method("prefix", 1), Task(st["X"], Y, tol=WIDE["tol"]))  # noqa: E731
        on = problem(st["planted"])
        seg = relax.prefix_ray(HeadEnclosure(on.W_Q, on.W_K, on.W_V, None, st["X"]), st["planted"], WIDE["tol"],
                               ends=end)
        seg.scope = scope(on)
        ans = solve(seg, ctx.timeout)
        if ans.status == "infeasible":
            return LayerResult(Status.COUNTEREXAMPLE, f"the planted prefix s* (seed {st['seed']}) reaches outputs "
                               f"off every family of segments [{end}_r, W_V s] ({ans.certificate.evidence}; outputs "
                               "computed on float64 torch)", witness={"seed": st["seed"]})
        far = decide(problem(st["far"]), ctx.timeout, seed=ctx.child_seed("wide-far"))
        if far.verdict == FOUND:
            return LayerResult(Status.COUNTEREXAMPLE, f"far targets reached: {far.detail}",
                               witness={"seed": st["seed"], "params": far.params})
        if far.verdict != IMPOSSIBLE:
            return LayerResult(Status.UNKNOWN, f"far targets: {far.detail}")
        found = decide(on, ctx.timeout, seed=ctx.child_seed("wide-on"))
        if found.verdict != FOUND:
            return LayerResult(Status.UNKNOWN, f"planted targets: {found.detail}")
        return LayerResult(Status.PROVED, f"seed {st['seed']}, d=64, n=32, R=16: far targets IMPOSSIBLE in "
                           f"{far.seconds:.2f}s ({far.detail}); planted targets FOUND in {found.seconds:.2f}s "
                           f"({found.detail})", abstraction=far.certificate.abstraction,
                           certificate=far.certificate, witness={"max_error": found.max_error})

    return check


def wide_numeric(end: str = "t") -> Check:
    """torch: on the d = 64 head, 200 random prefixes s: distance of t^pt_r to the segment [e_r, W_V s]."""

    def check(ctx: Context) -> LayerResult:
        import torch

        from numeric.adapt import ConcreteHead

        st = wide_setup(ctx)
        head = ConcreteHead.from_lists(*st["W"], None)
        X = torch.tensor(st["X"], dtype=torch.float64)  # (R, n, d)
        g = torch.Generator().manual_seed(st["seed"])
        S = torch.randn(200, WIDE["d"], generator=g, dtype=torch.float64) * 2  # 200 prefixes, n_S = 1
        q = X[:, -1] @ head.W_Q.T  # (R, k)
        content = head.tau * torch.einsum("rnk,rk->rn", X @ head.W_K.T, q)  # (R, n)
        pre = head.tau * (S @ head.W_K.T) @ q.T  # (200, R)
        A = torch.softmax(torch.cat([pre[..., None], content.expand(200, -1, -1)], -1), -1)  # the real softmax
        u = (S @ head.W_V.T)[:, None, :]  # (200, 1, d_v)
        out = A[..., :1] * u + torch.einsum("prn,rnv->prv", A[..., 1:], X @ head.W_V.T)
        t = torch.einsum("rn,rnv->rv", torch.softmax(content, -1), X @ head.W_V.T)
        a = (t if end == "t" else torch.zeros_like(t)).expand_as(out)
        b = u.expand_as(out)
        lam = (((out - a) * (b - a)).sum(-1, keepdim=True) / ((b - a) ** 2).sum(-1, keepdim=True)).clamp(0, 1)
        worst = float((out - (a + lam * (b - a))).norm(dim=-1).max())
        tol = 1e-9
        status = Status.CONSISTENT if worst <= tol else Status.VIOLATED
        return LayerResult(status, f"max distance to seg({end}_r, W_V s) {worst:.3g} over 200 prefixes x 16 inputs "
                           f"(seed {st['seed']}, tol {tol:g})", max_error=worst, instances=200,
                           witness=None if status is Status.CONSISTENT else {"seed": st["seed"]})

    return check


def wide_segment_claim(id: str = "prefix.reachable_segment_d64", end: str = "t", expected: Any = "holds") -> Claim:
    return Claim(
        id=id, title="n_S=1 at d=64, 16 inputs of 32 tokens: far targets are unreachable (exact certificate), "
                     "planted ones are found",
        paper_ref="Sec. 4 (the output is biased towards W_V s_1), at d = 64; notes 2.2, 5 items 5, 14",
        statement=r"t^{pt}_r\in[t_r,\,W_Vs];\ y\ \text{off every ray from } t_r \text{ through a common } "
                  r"W_Vs\Rightarrow\text{IMPOSSIBLE}\ (d=64,\ R=16,\ n=32)",
        assumptions=ASSUME + ("a seeded random head of width 64 (tau = 1/8), 16 seeded inputs of 32 tokens; "
                              "tol = 1e-3 (max-norm)",),
        expected=expected, section=SECTION, smt=wide_smt(end), numeric=wide_numeric(end))


CLAIMS = [cannot_reverse_claim(), reachable_segment_claim(), separation_claim(), wide_segment_claim()]
