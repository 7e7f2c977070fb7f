"""Strictness and cross-layer reach (paper Sec. 2-3 hierarchy, Sec. 5.2; notes 1.2, 2.3): what a prefix can do that
no soft prompt can, and exactly which layer-2 logit perturbations a layer-1 prefix can induce.

* `softprompt.strictly_weaker_than_prefix` (`theory.strictness`): on a concrete two-layer model a prefix reaches a
  target output (validated on a float64 torch model) that no soft prompt of any value reaches: every soft prompt
  satisfies an exact invariant (kernel certificate: zero residual) that the target violates.
* `prefix.layer2.reachable_set` (`theory.layer2`): the layer-2 logit perturbations of one query are the image of
  R^2 under the notes-2.3 formula (tied to the model exactly); a target inside is reached by a prefix found by
  search (validated on torch), one outside has no real solution (kernel certificate: z3 UNSAT on the polynomial
  system itself).

* `prefix.vs_lora_paper_placement` (`theory.layer2.decide_lora`): a rank-1 LoRA on the attention output map reaches
  a layer-2 perturbation no prefix reaches.

The exact decisions live in `theory.strictness` and `theory.layer2`, the float64 re-checks and searches in
`numeric.strictness` and `numeric.layer2`. The factories take the piece a false twin changes (the layer-1 value map;
the target called unreachable; the map LoRA adapts).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proofs.claim import Claim, Context, Expected, LayerResult, Status
from proofs.layer_results import judged, refuted

SECTION = "soft prompting and depth"
STARTS = 3
FOUND = 1e-9  # a float64 distance to the target at most this: the target is reached


# ---- softprompt.strictly_weaker_than_prefix -----------------------------------------------------------------

def strictness_claim(id: str = "softprompt.strictly_weaker_than_prefix", write_b: bool = True,
                     expected: Expected = "holds") -> Claim:
    """``write_b``: layer 1's value map erases the soft prompt's b-coordinate (the strict model); False is the twin
    with W_V^(1) = 0, where the soft prompt's layer-2 state is s itself and the target is reachable."""

    def symbolic(ctx: Context) -> LayerResult:
        from theory.strictness import ABSTRACTION, PREFIX, TARGET, decide, target_gap

        decision = decide(write_b, ctx.seed)
        if decision.invariant.status == "nonzero":
            return refuted(decision.invariant, ABSTRACTION, "the soft-prompt invariant out_a - out_b/2 - x_a = 0 fails")
        if decision.invariant.status != "zero":
            return LayerResult(Status.UNKNOWN, f"invariant residual not decided ({decision.invariant.method})")
        if decision.certificate is None:
            return LayerResult(Status.UNKNOWN, "the prefix does not reach the target exactly, or the target satisfies "
                               "the invariant")
        return LayerResult(Status.PROVED, f"IMPOSSIBLE for every soft prompt: out_a - out_b/2 - x_a = 0 for all s, x, "
                           f"W_Q^(1), W_K^(1) ({decision.invariant.method}) because the soft prompt's layer-2 state "
                           f"(I + W_V^(1)) s has b = 0, while the target {tuple(map(str, TARGET))} at x = 0 gives "
                           f"{target_gap()}; the prefix p^(1) = {PREFIX[0]}, p^(2) = {PREFIX[1]} (set independently) "
                           "reaches it exactly for every layer-1 W_Q, W_K", abstraction=ABSTRACTION,
                           certificate=decision.certificate)

    def numeric(ctx: Context) -> LayerResult:
        from numeric.strictness import strict_run
        from theory.strictness import PREFIX, TARGET, X_TARGET

        run = strict_run(write_b, TARGET, X_TARGET, PREFIX, ctx.instances, STARTS, ctx.child_seed("strictness"))
        soft = run.soft
        return judged(f"prefix FOUND: |out - target| = {run.prefix_error:.2g} on the float64 model (seed {run.seed}); "
                      f"soft prompts: best of {STARTS} L-BFGS starts is {soft.distance:.3g} away (s = "
                      f"{[round(v, 4) for v in soft.s]}); invariant |out_a - out_b/2 - x_a| <= "
                      f"{run.invariant_error:.2g} over {ctx.instances} random (s, x)",
                      run.witness, ctx.instances, run.invariant_error, [
            (soft.distance <= FOUND, Status.VIOLATED, "a soft prompt reaches the target", soft.distance),
            (run.prefix_error > 1e-12 or run.invariant_error > FOUND, Status.UNKNOWN,
             "the torch model disagrees with the exact one", None)])

    return Claim(
        id=id, title="a prefix reaches a target output that no soft prompt of the same length reaches: the soft "
                     "prompt's deeper-layer states are functions of one input vector, a prefix sets them independently",
        paper_ref="Sec. 3, Theorem 2 (the strict hierarchy: prefix-tuning > soft prompting); notes 1.2, 5 item 10",
        statement=r"\exists\,p^{(1)},p^{(2)}:\ f_{pt}(p;0)=(1,0)\quad\text{and}\quad\forall s\in\mathbb R^2:\ "
                  r"f_{soft}(s;0)\neq(1,0)\ \ \big(f_a-\tfrac12 f_b-x_a\equiv0\big)",
        assumptions=("causal mask; one soft token against one prefix position per layer; residual single-head "
                     "layers, no norm or MLP", "layer 1: any W_Q, W_K, W_V = [[0,0],[0,-1]]; layer 2: uniform "
                     "attention, W_V = [[0,1],[0,0]]"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- prefix.layer2.reachable_set ---------------------------------------------------------------------------

def layer2_symbolic(target: Sequence[Any], ctx: Context) -> LayerResult:
    """The kernel's decision on ``delta(W_V s) = target`` (`theory.layer2.decide_target`): PROVED (formula tied to
    the model exactly, system UNSAT over the reals) or REFUTED with a prefix that induces the target (z3 model,
    re-checked on the exact model)."""
    import sympy as sp

    from theory.layer2 import ABSTRACTION, decide_target

    decision = decide_target(target, ctx.timeout, ctx.seed)
    if decision.tie.status == "nonzero":
        return refuted(decision.tie, ABSTRACTION, "the notes-2.3 formula misses the model's layer-2 logits")
    if decision.answer is None:
        return LayerResult(Status.UNKNOWN, f"formula tie not decided ({decision.tie.method})")
    if decision.prefix is not None and decision.residual is not None:
        if decision.residual > 1e-12:
            return LayerResult(Status.UNKNOWN, "z3 model did not survive re-checking", query=decision.query)
        return LayerResult(Status.REFUTED, f"the target is in the set: the prefix s = "
                           f"{[str(sp.N(v, 12)) for v in decision.prefix]} (z3 model) induces it on the model "
                           f"(max residual {decision.residual:.2g})",
                           witness={"s": [str(sp.N(v, 20)) for v in decision.prefix]}, query=decision.query,
                           abstraction=ABSTRACTION)
    if decision.certificate is None:
        return LayerResult(Status.UNKNOWN, f"z3 {decision.answer.reason}", query=decision.query)
    return LayerResult(Status.PROVED, f"the layer-2 perturbations of the last query are P = {{delta(u) : u in R^2}} "
                       f"(the notes-2.3 formula equals the model's logits exactly, {decision.tie.method}); the target "
                       f"{tuple(map(str, target))} is IMPOSSIBLE: delta(u) = target has no real solution "
                       f"(z3 UNSAT in {decision.answer.seconds:.3f}s)", abstraction=ABSTRACTION, query=decision.query,
                       certificate=decision.certificate)


def layer2_claim(id: str = "prefix.layer2.reachable_set", outside: Sequence[Any] | None = None,
                 expected: Expected = "holds") -> Claim:
    """``outside``: the perturbation called unreachable (default `theory.layer2.OUTSIDE`); a twin passes a target in
    the set."""

    def _outside() -> tuple[Any, ...]:
        from theory.layer2 import OUTSIDE

        return tuple(outside) if outside is not None else OUTSIDE

    def symbolic(ctx: Context) -> LayerResult:
        return layer2_symbolic(_outside(), ctx)

    def numeric(ctx: Context) -> LayerResult:
        from numeric.layer2 import reach_targets
        from theory.layer2 import H2_ROWS, QUERY, W_V1_ROWS, X_ROWS, inside_target, z3_prefix

        seed = ctx.child_seed("layer2")
        targets = (inside_target(), _outside())
        inside, out = reach_targets(W_V1_ROWS, H2_ROWS, X_ROWS, QUERY, targets,
                                    [z3_prefix(t, ctx.timeout) for t in targets], STARTS, seed)
        facts = (f"inside target {[round(float(v), 4) for v in targets[0]]}: FOUND s = "
                 f"{[round(v, 6) for v in inside.s]} ({inside.how}: |delta - target| = {inside.distance:.2g} on the "
                 f"float64 model); outside target {[float(v) for v in targets[1]]}: {out.how} {out.distance:.3g} away "
                 f"(seed {seed})")
        witness = {"seed": seed, "inside_s": inside.s, "inside_error": inside.distance,
                   "outside_distance": out.distance, "outside_s": out.s}
        return judged(facts, witness, 2, inside.distance, [
            (out.distance <= FOUND, Status.VIOLATED, "a prefix induces the 'outside' target", out.distance),
            (inside.distance > FOUND, Status.UNKNOWN, "the inside target was not reached", None)])

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
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- prefix.vs_lora_paper_placement ----------------------------------------------------------------------------

LORA_NAMES = {"layers.0.attn.W_O": 0, "layers.1.attn.W_O": 1}


def lora_placement_claim(id: str = "prefix.vs_lora_paper_placement", lora_target: str = "layers.0.attn.W_O",
                         expected: Expected = "holds") -> Claim:
    """``lora_target``: the map rank-1 LoRA adapts (default layer 1's W_O, the paper's c_proj placement; a twin
    adapts layer 2's W_O, which cannot move layer-2 logits)."""
    if lora_target not in LORA_NAMES:
        raise ValueError(f"lora_target must be one of {', '.join(LORA_NAMES)}, got {lora_target!r}")
    layer = LORA_NAMES[lora_target]

    def symbolic(ctx: Context) -> LayerResult:
        from theory.kernel import conjoin
        from theory.layer2 import ABSTRACTION, OUTSIDE, SCOPE, decide_lora, lora_residual

        prefix = layer2_symbolic(OUTSIDE, ctx)
        if prefix.status is not Status.PROVED or prefix.certificate is None:
            return prefix
        lora = decide_lora(OUTSIDE, layer, ctx.timeout, ctx.seed)
        if lora.answer.result == "unsat":
            residual = [str(r) for r in lora_residual(OUTSIDE, layer)]
            return LayerResult(Status.REFUTED, f"no rank-1 LoRA on {lora_target} induces the target: delta^lora = "
                               f"target has no real solution (z3 UNSAT); residual {residual} at every point",
                               witness={"residual": residual})
        if lora.point is None:
            return LayerResult(Status.UNKNOWN, f"z3 {lora.answer.reason} on the LoRA system")
        if lora.certificate is None:
            return LayerResult(Status.UNKNOWN, "the z3 LoRA point does not reach the target exactly (irrational model)")
        cert = conjoin([prefix.certificate, lora.certificate], SCOPE, "no prefix reaches the target (formula tie + "
                       "UNSAT); the LoRA point reaches it exactly")
        b, a = list(map(str, lora.point[:2])), list(map(str, lora.point[2:]))
        return LayerResult(Status.PROVED, f"rank-1 LoRA b a^T on {lora_target} with b = {b}, a = {a} induces the "
                           f"layer-2 perturbation {tuple(map(str, OUTSIDE))} exactly; {prefix.detail}",
                           abstraction=ABSTRACTION,
                           certificate=cert, query=prefix.query)

    def numeric(ctx: Context) -> LayerResult:
        from numeric.layer2 import lora_against_prefix
        from theory.layer2 import H2_ROWS, OUTSIDE, QUERY, W_V1_ROWS, X_ROWS, lora_point

        seed = ctx.child_seed("lora-placement")
        lora, prefix = lora_against_prefix(W_V1_ROWS, H2_ROWS, X_ROWS, QUERY, OUTSIDE, lora_target,
                                           lora_point(OUTSIDE, layer, ctx.timeout), STARTS, seed)
        facts = (f"rank-1 LoRA on {lora_target} (4 parameters; W_Q, W_K, W_V untouched; {lora.how}): "
                 f"|delta - target| = {lora.distance:.2g} on the float64 model; prefix (2 layers x 2 = 4 parameters): "
                 f"best of {STARTS} L-BFGS starts {prefix.distance:.3g} away (seed {seed})")
        witness = {"seed": seed, "lora_error": lora.distance, "lora_params": lora.s, "prefix_distance": prefix.distance}
        return judged(facts, witness, STARTS + 1, lora.distance, [
            (lora.distance > FOUND, Status.VIOLATED, "LoRA did not induce the target", lora.distance),
            (prefix.distance <= FOUND, Status.VIOLATED, "a prefix induced the target too", prefix.distance)],
            found="LoRA FOUND: ")

    return Claim(
        id=id, title="at the paper's LoRA placement (attention output map W_O adapted; W_Q, W_K, W_V untouched) and "
                     "equal parameter count, rank-1 LoRA induces a layer-2 attention change no prefix induces",
        paper_ref="Sec. 6 (E4's placement: LoRA on c_proj and the MLP, not c_attn); notes 2.4, 5 items 16, 26",
        statement=r"\exists\,b,a:\ \delta^{lora}_{3\cdot}=(0,0,1)\quad\text{and}\quad\forall s^{(1)},s^{(2)}:\ "
                  r"\delta^{pt}_{3\cdot}\neq(0,0,1)",
        assumptions=("the model of prefix.layer2.reachable_set with W_O^(1) = W_V^(1) and W_V = I in layer 1 (the same "
                     "map); it has no MLP, so LoRA adapts W_O only (the paper adds both MLP maps)",
                     "4 parameters each: rank-1 LoRA on a 2x2 map, a 2-dimensional prefix in each of 2 layers"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


CLAIMS = [strictness_claim(), layer2_claim(), lora_placement_claim()]
