"""Strictness and cross-layer reach (paper Sec. 2-3 hierarchy, Sec. 5.2; notes 1.2, 2.3): what a prefix can do that
no soft prompt can, and exactly which layer-2 logit perturbations a layer-1 prefix can induce.

* `softprompt.strictly_weaker_than_prefix` (`theory.strictness`): on a concrete two-layer model a prefix reaches a
  target output (validated on a float64 torch model) that no soft prompt of any value reaches: every soft prompt
  satisfies an exact invariant (kernel certificate: zero residual) that the target violates.
* `prefix.layer2.reachable_set` (`theory.layer2`): the layer-2 logit perturbations of one query are the image of
  R^2 under the notes-2.3 formula (tied to the model exactly); a target inside is reached by a prefix found by
  search (validated on torch), one outside has no real solution (kernel certificate: z3 UNSAT on the polynomial
  system itself).

The factories take the piece a false twin changes (the layer-1 value map; the target called unreachable).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proofs.claim import Claim, Context, Expected, LayerResult, Status

SECTION = "soft prompting and depth"
STARTS = 3


def _one_thread(check: Any) -> Any:
    """``check`` on one torch thread: these models are tiny and thread hand-offs dominate (numeric/model.py)."""

    def run(ctx: Context) -> LayerResult:
        from numeric.threads import one_thread

        with one_thread():
            return check(ctx)

    return run


def _exact_refuted(test: Any, what: str, abstraction: str) -> LayerResult:
    return LayerResult(Status.REFUTED, f"{what}: residual {test.value} (exactly {test.exact_value}) at a rational "
                       "point", witness={"point": test.witness, "residual": test.value,
                                         "exact_residual": test.exact_value}, abstraction=abstraction)


# ---- softprompt.strictly_weaker_than_prefix -----------------------------------------------------------------

STRICT_SCOPE = ("this two-layer model (d = 2, one content token, one soft token against one prefix position per "
                "layer): every soft prompt s, every input x and every layer-1 W_Q, W_K")
STRICT_ABSTRACTION = ("exact: sympy on symbols, softmax weights as exp of symbolic logits; residual single-head "
                      "layers, W_O folded, no norm or MLP, causal mask")


def strictness_claim(id: str = "softprompt.strictly_weaker_than_prefix", write_b: bool = True,
                     expected: Expected = "holds") -> Claim:
    """``write_b``: layer 1's value map erases the soft prompt's b-coordinate (the strict model); False is the twin
    with W_V^(1) = 0, where the soft prompt's layer-2 state is s itself and the target is reachable."""

    def symbolic(ctx: Context) -> LayerResult:
        import sympy as sp

        from theory.kernel import certify_zero, decide_zero
        from theory.strictness import PREFIX, TARGET, X_TARGET, invariant_residual, prefix_output, target_gap

        test = decide_zero(invariant_residual(write_b), ctx.seed)
        if test.status == "nonzero":
            return _exact_refuted(test, "the soft-prompt invariant out_a - out_b/2 - x_a = 0 fails", STRICT_ABSTRACTION)
        if test.status != "zero":
            return LayerResult(Status.UNKNOWN, f"invariant residual not decided ({test.method})")
        reach = decide_zero(prefix_output(write_b, *PREFIX, X_TARGET) - sp.Matrix(TARGET), ctx.seed)
        if reach.status != "zero" or target_gap() == 0:
            return LayerResult(Status.UNKNOWN, "the prefix does not reach the target exactly, or the target satisfies "
                               "the invariant")
        cert = certify_zero([test, reach], STRICT_SCOPE, STRICT_ABSTRACTION,
                            "soft-prompt invariant out_a - out_b/2 - x_a and the prefix's output minus the target "
                            "reduced to 0 exactly")
        return LayerResult(Status.PROVED, f"IMPOSSIBLE for every soft prompt: out_a - out_b/2 - x_a = 0 for all s, x, "
                           f"W_Q^(1), W_K^(1) ({test.method}) because the soft prompt's layer-2 state (I + W_V^(1)) s "
                           f"has b = 0, while the target {tuple(map(str, TARGET))} at x = 0 gives "
                           f"{target_gap()}; the prefix p^(1) = {PREFIX[0]}, p^(2) = {PREFIX[1]} (set independently) "
                           "reaches it exactly for every layer-1 W_Q, W_K", abstraction=STRICT_ABSTRACTION,
                           certificate=cert)

    def _numeric(ctx: Context) -> LayerResult:
        import torch

        from numeric.strictness import build, invariant_error, prefix_out, soft_search
        from theory.strictness import PREFIX, TARGET, X_TARGET

        seed = ctx.child_seed("strictness")
        f = lambda v: torch.tensor([float(c) for c in v], dtype=torch.float64)  # noqa: E731
        model = build(write_b, seed)
        target, x = f(TARGET), f(X_TARGET)
        reached = float((prefix_out(model, f(PREFIX[0]), f(PREFIX[1]), x) - target).abs().max())
        invariant = invariant_error(model, ctx.instances, seed)
        soft = soft_search(model, target, x, STARTS, seed)
        facts = (f"prefix FOUND: |out - target| = {reached:.2g} on the float64 model (seed {seed}); soft prompts: "
                 f"best of {STARTS} L-BFGS starts is {soft.distance:.3g} away (s = "
                 f"{[round(v, 4) for v in soft.s]}); invariant |out_a - out_b/2 - x_a| <= {invariant:.2g} over "
                 f"{ctx.instances} random (s, x)")
        witness = {"seed": seed, "prefix_error": reached, "soft_distance": soft.distance, "soft_prompt": soft.s,
                   "invariant_error": invariant}
        if soft.distance <= 1e-9:
            return LayerResult(Status.VIOLATED, "a soft prompt reaches the target: " + facts, witness=witness,
                               max_error=soft.distance, instances=ctx.instances)
        if reached > 1e-12 or invariant > 1e-9:
            return LayerResult(Status.UNKNOWN, "the torch model disagrees with the exact one: " + facts,
                               witness=witness)
        return LayerResult(Status.CONSISTENT, facts, max_error=invariant, instances=ctx.instances, witness=witness)

    return Claim(
        id=id, title="a prefix reaches a target output that no soft prompt of the same length reaches: the soft "
                     "prompt's deeper-layer states are functions of one input vector, a prefix sets them independently",
        paper_ref="Sec. 3, Theorem 2 (the strict hierarchy: prefix-tuning > soft prompting); notes 1.2, 5 item 10",
        statement=r"\exists\,p^{(1)},p^{(2)}:\ f_{pt}(p;0)=(1,0)\quad\text{and}\quad\forall s\in\mathbb R^2:\ "
                  r"f_{soft}(s;0)\neq(1,0)\ \ \big(f_a-\tfrac12 f_b-x_a\equiv0\big)",
        assumptions=("causal mask; one soft token against one prefix position per layer; residual single-head "
                     "layers, no norm or MLP", "layer 1: any W_Q, W_K, W_V = [[0,0],[0,-1]]; layer 2: uniform "
                     "attention, W_V = [[0,1],[0,0]]"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=_one_thread(_numeric))


def _z3_number(model: Any, v: Any) -> Any:
    """A z3 model value as a sympy number: exact if rational, else a 40-digit rational approximation."""
    import sympy as sp
    import z3

    val = model.eval(v, model_completion=True)
    if z3.is_rational_value(val):
        return sp.Rational(val.numerator_as_long(), val.denominator_as_long())
    return sp.Rational(val.approx(40).as_fraction().numerator, val.approx(40).as_fraction().denominator)


def _z3_prefix(target: Sequence[Any], ctx: Context) -> list[float] | None:
    """A layer-1 prefix s (floats) from z3's model of ``delta(W_V s) = target``, or None (unsat / unknown)."""
    from theory.kernel import run_z3
    from theory.layer2 import prefix_for, z3_system

    constraints, u = z3_system(target)
    answer = run_z3(constraints, ctx.timeout, "QF_NRA")
    if answer.result != "sat":
        return None
    return [float(v) for v in prefix_for([_z3_number(answer.model, v) for v in u])]


# ---- prefix.layer2.reachable_set ---------------------------------------------------------------------------

LAYER2_SCOPE = ("this two-layer model (d = 2, three content tokens, layer 1 uniform, the last query's three "
                "layer-2 content logits): every layer-1 prefix s in R^2")
LAYER2_ABSTRACTION = ("none: the polynomial system delta(W_V s) = target itself, exact rational coefficients "
                      "(layer-1 attention on the prefix is exactly 1/(r+2))")


def layer2_symbolic(target: Sequence[Any], ctx: Context) -> LayerResult:
    """The kernel's decision on ``delta(W_V s) = target``: PROVED (formula tied to the model exactly, system UNSAT
    over the reals) or REFUTED with a prefix that induces the target (z3 model, re-checked on the exact model)."""
    import sympy as sp

    from theory.kernel import certify_unsat, certify_zero, conjoin, decide_zero, run_z3
    from theory.layer2 import W_V1, direct_perturbation, perturbation, prefix_for, z3_system

    s = sp.Matrix(sp.symbols("s0 s1", real=True))
    tie = decide_zero(sp.Matrix([a - b for a, b in zip(direct_perturbation(s), perturbation(W_V1 * s))]), ctx.seed)
    if tie.status == "nonzero":
        return _exact_refuted(tie, "the notes-2.3 formula misses the model's layer-2 logits", LAYER2_ABSTRACTION)
    if tie.status != "zero":
        return LayerResult(Status.UNKNOWN, f"formula tie not decided ({tie.method})")
    constraints, u = z3_system(target)
    answer = run_z3(constraints, ctx.timeout, "QF_NRA")
    query = (f"exists u = W_V^(1) s in R^2 with delta_3j(u) = {tuple(map(str, target))} for j = 1, 2, 3 "
             f"({len(constraints)} polynomial equations of degree 2)")
    if answer.result == "sat":
        s_val = prefix_for([_z3_number(answer.model, v) for v in u])
        exact = [sp.nsimplify(a - sp.Rational(t)) for a, t in zip(direct_perturbation(s_val), target)]
        if any(abs(float(e)) > 1e-12 for e in exact):
            return LayerResult(Status.UNKNOWN, "z3 model did not survive re-checking", query=query)
        return LayerResult(Status.REFUTED, f"the target is in the set: the prefix s = "
                           f"{[str(sp.N(v, 12)) for v in s_val]} (z3 model) induces it on the model "
                           f"(max residual {max(abs(float(e)) for e in exact):.2g})",
                           witness={"s": [str(sp.N(v, 20)) for v in s_val]}, query=query,
                           abstraction=LAYER2_ABSTRACTION)
    if answer.result != "unsat":
        return LayerResult(Status.UNKNOWN, f"z3 {answer.reason}", query=query)
    cert = conjoin([certify_zero([tie], LAYER2_SCOPE, "exact: sympy polynomial identity in s"),
                    certify_unsat([answer], "polynomial", LAYER2_SCOPE, LAYER2_ABSTRACTION)], LAYER2_SCOPE,
                   "formula = model (zero residual) and delta(u) = target UNSAT over the reals")
    return LayerResult(Status.PROVED, f"the layer-2 perturbations of the last query are P = {{delta(u) : u in R^2}} "
                       f"(the notes-2.3 formula equals the model's logits exactly, {tie.method}); the target "
                       f"{tuple(map(str, target))} is IMPOSSIBLE: delta(u) = target has no real solution "
                       f"(z3 UNSAT in {answer.seconds:.3f}s)", abstraction=LAYER2_ABSTRACTION, query=query,
                       certificate=cert)


def layer2_claim(id: str = "prefix.layer2.reachable_set", outside: Sequence[Any] | None = None,
                 expected: Expected = "holds") -> Claim:
    """``outside``: the perturbation called unreachable (default `theory.layer2.OUTSIDE`); a twin passes a target in
    the set."""

    def _outside() -> tuple[Any, ...]:
        from theory.layer2 import OUTSIDE

        return tuple(outside) if outside is not None else OUTSIDE

    def symbolic(ctx: Context) -> LayerResult:
        return layer2_symbolic(_outside(), ctx)

    def _numeric(ctx: Context) -> LayerResult:
        import torch

        from numeric.layer2 import build, perturbation, search
        from theory.layer2 import H2, QUERY, W_V1, X, inside_target

        seed = ctx.child_seed("layer2")
        f = lambda M: [[float(v) for v in M.row(r)] for r in range(M.rows)]  # noqa: E731
        model = build(f(W_V1), f(H2))
        Xt = torch.tensor([[float(v) for v in x] for x in X], dtype=torch.float64)

        def reach(target: Sequence[Any], label: str) -> tuple[float, list[float], str]:
            """z3's point realised as a prefix and re-checked on torch; else seeded L-BFGS starts."""
            t = torch.tensor([float(v) for v in target], dtype=torch.float64)
            s_val = _z3_prefix(target, ctx)
            if s_val is not None:
                with torch.no_grad():
                    dist = float((perturbation(model, Xt, torch.tensor(s_val, dtype=torch.float64), QUERY) - t)
                                 .abs().max())
                if dist <= 1e-9:
                    return dist, s_val, "z3's point re-checked"
            found = search(model, Xt, t, QUERY, STARTS, seed + len(label), max_iter=40)
            return found.distance, found.s, f"best of {STARTS} L-BFGS starts"

        d_in, s_in, how_in = reach(inside_target(), "inside")
        d_out, s_out, how_out = reach(_outside(), "outside")
        facts = (f"inside target {[round(float(v), 4) for v in inside_target()]}: FOUND s = "
                 f"{[round(v, 6) for v in s_in]} ({how_in}: |delta - target| = {d_in:.2g} on the float64 model); "
                 f"outside target {[float(v) for v in _outside()]}: {how_out} {d_out:.3g} away (seed {seed})")
        witness = {"seed": seed, "inside_s": s_in, "inside_error": d_in, "outside_distance": d_out, "outside_s": s_out}
        if d_out <= 1e-9:
            return LayerResult(Status.VIOLATED, "a prefix induces the 'outside' target: " + facts, witness=witness,
                               max_error=d_out, instances=2)
        if d_in > 1e-9:
            return LayerResult(Status.UNKNOWN, "the inside target was not reached: " + facts, witness=witness)
        return LayerResult(Status.CONSISTENT, facts, max_error=d_in, instances=2, witness=witness)

    return Claim(
        id=id, title="a layer-1 prefix moves a query's layer-2 content logits only within a 2-parameter set: a "
                     "target inside is reached, one outside is certified unreachable",
        paper_ref="Sec. 5.2 (cross-layer effects: the layer-2 change is generated by one vector per head); notes 2.3, "
                  "5 item 17",
        statement=r"\delta_{ij}(u)=\alpha_i(u-t_i)^\top H_2y_j+\alpha_jy_i^\top H_2(u-t_j)+\alpha_i\alpha_j(u-t_i)^\top"
                  r" H_2(u-t_j),\ u=W_V^{(1)}s;\quad \{\delta_{3\cdot}(u)\}\ni\delta(1,-1),\ \not\ni(0,0,1)",
        assumptions=("residual single-head layers, no norm or MLP, causal; layer-1 attention uniform (W_Q = 0), so "
                     "alpha_r = 1/(r+2) exactly; tau = 1", "content x = (1,0), (0,1), (1,1); W_V^(1) = [[1,1],[0,1]], "
                     "H_2 = [[1,2],[0,-1]]"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=_one_thread(_numeric))


# ---- prefix.vs_lora_paper_placement ----------------------------------------------------------------------------

LORA_NAMES = {"layers.0.attn.W_O": 0, "layers.1.attn.W_O": 1}


def lora_placement_claim(id: str = "prefix.vs_lora_paper_placement", lora_target: str = "layers.0.attn.W_O",
                         expected: Expected = "holds") -> Claim:
    """``lora_target``: the map rank-1 LoRA adapts (default layer 1's W_O, the paper's c_proj placement; a twin
    adapts layer 2's W_O, which cannot move layer-2 logits)."""
    if lora_target not in LORA_NAMES:
        raise ValueError(f"lora_target must be one of {', '.join(LORA_NAMES)}, got {lora_target!r}")
    layer = LORA_NAMES[lora_target]

    def _lora(ctx: Context) -> tuple[Any, list[Any] | None]:
        """z3's answer on ``lora_perturbation(b, a) = OUTSIDE`` and its point (b0, b1, a0, a1), if any."""
        from theory.kernel import run_z3
        from theory.layer2 import OUTSIDE, z3_lora_system

        constraints, zs = z3_lora_system(OUTSIDE, layer)
        answer = run_z3(constraints, ctx.timeout, "QF_NRA")
        return answer, ([_z3_number(answer.model, v) for v in zs] if answer.result == "sat" else None)

    def symbolic(ctx: Context) -> LayerResult:
        import sympy as sp

        from theory.kernel import certify_zero, conjoin, decide_zero
        from theory.layer2 import OUTSIDE, lora_perturbation

        prefix = layer2_symbolic(OUTSIDE, ctx)
        if prefix.status is not Status.PROVED:
            return prefix
        answer, point = _lora(ctx)
        if answer.result == "unsat":
            residual = sp.Matrix([sp.Rational(t) - e for e, t in zip(lora_perturbation(*_ba(sp.symbols(
                "b0 b1 a0 a1", real=True)), layer), OUTSIDE)])
            return LayerResult(Status.REFUTED, f"no rank-1 LoRA on {lora_target} induces the target: delta^lora = "
                               f"target has no real solution (z3 UNSAT); residual {list(residual)} at every point",
                               witness={"residual": [str(r) for r in residual]})
        if point is None:
            return LayerResult(Status.UNKNOWN, f"z3 {answer.reason} on the LoRA system")
        test = decide_zero(sp.Matrix([e - sp.Rational(t) for e, t in zip(lora_perturbation(*_ba(point), layer),
                                                                           OUTSIDE)]), ctx.seed)
        if test.status != "zero":
            return LayerResult(Status.UNKNOWN, "the z3 LoRA point does not reach the target exactly (irrational model)")
        cert = conjoin([prefix.certificate, certify_zero([test], LAYER2_SCOPE, "exact rational evaluation")],
                       LAYER2_SCOPE, "no prefix reaches the target (formula tie + UNSAT); the LoRA point reaches it "
                       "exactly")
        return LayerResult(Status.PROVED, f"rank-1 LoRA b a^T on {lora_target} with b = {list(map(str, point[:2]))}, "
                           f"a = {list(map(str, point[2:]))} induces the layer-2 perturbation "
                           f"{tuple(map(str, OUTSIDE))} "
                           f"exactly; {prefix.detail}", abstraction=LAYER2_ABSTRACTION, certificate=cert,
                           query=prefix.query)

    def _numeric(ctx: Context) -> LayerResult:
        import torch

        from numeric.layer2 import build, lora_from, lora_search, search
        from theory.layer2 import H2, OUTSIDE, QUERY, W_V1, X

        seed = ctx.child_seed("lora-placement")
        f = lambda M: [[float(v) for v in M.row(r)] for r in range(M.rows)]  # noqa: E731
        model = build(f(W_V1), f(H2), w_o=True)
        Xt = torch.tensor([[float(v) for v in x] for x in X], dtype=torch.float64)
        target = torch.tensor([float(v) for v in OUTSIDE], dtype=torch.float64)
        _, point = _lora(ctx)
        if point is not None:
            lora = lora_from(model, Xt, target, QUERY, lora_target, [float(v) for v in point])
            how = "z3's point"
        else:
            lora = lora_search(model, Xt, target, QUERY, [lora_target], 2, seed)
            how = "2 L-BFGS starts"
        prefix = search(model, Xt, target, QUERY, STARTS, seed + 1, max_iter=40)
        facts = (f"rank-1 LoRA on {lora_target} (4 parameters; W_Q, W_K, W_V untouched; {how}): |delta - target| = "
                 f"{lora.distance:.2g} on the float64 model; prefix (2 layers x 2 = 4 parameters): best of {STARTS} "
                 f"L-BFGS starts {prefix.distance:.3g} away (seed {seed})")
        witness = {"seed": seed, "lora_error": lora.distance, "lora_params": lora.s, "prefix_distance": prefix.distance}
        if lora.distance > 1e-9:
            return LayerResult(Status.VIOLATED, "LoRA did not induce the target: " + facts, witness=witness,
                               max_error=lora.distance, instances=STARTS + 1)
        if prefix.distance <= 1e-9:
            return LayerResult(Status.VIOLATED, "a prefix induced the target too: " + facts, witness=witness,
                               max_error=prefix.distance, instances=STARTS + 1)
        return LayerResult(Status.CONSISTENT, "LoRA FOUND: " + facts, max_error=lora.distance, instances=STARTS + 1,
                           witness=witness)

    return Claim(
        id=id, title="at the paper's LoRA placement (attention output map W_O adapted; W_Q, W_K, W_V untouched) and "
                     "equal parameter count, rank-1 LoRA induces a layer-2 attention change no prefix induces",
        paper_ref="Sec. 6 (E4's placement: LoRA on c_proj and the MLP, not c_attn); notes 2.4, 5 items 16, 26",
        statement=r"\exists\,b,a:\ \delta^{lora}_{3\cdot}=(0,0,1)\quad\text{and}\quad\forall s^{(1)},s^{(2)}:\ "
                  r"\delta^{pt}_{3\cdot}\neq(0,0,1)",
        assumptions=("the model of prefix.layer2.reachable_set with W_O^(1) = W_V^(1) and W_V = I in layer 1 (the same "
                     "map); it has no MLP, so LoRA adapts W_O only (the paper adds both MLP maps)",
                     "4 parameters each: rank-1 LoRA on a 2x2 map, a 2-dimensional prefix in each of 2 layers"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=_one_thread(_numeric))


def _ba(point: Sequence[Any]) -> tuple[Any, Any]:
    import sympy as sp

    return sp.Matrix(point[:2]), sp.Matrix(point[2:])


CLAIMS = [strictness_claim(), layer2_claim(), lora_placement_claim()]
