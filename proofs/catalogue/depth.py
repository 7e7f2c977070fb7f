"""Soft prompting and depth (paper-notes 1.2, 2.2 items 9-10, 2.3; section 5 items 1, 9, 10, 17, 22): which
single-head statements survive in whole transformers, checked on the reference model `numeric.model` over its
architecture variants (norm pre/post/none/RMS x positions none/learned/sinusoidal/RoPE/ALiBi x causal/bidirectional).

The symbolic layers decide explicit sympy models (`theory.depth`, `theory.finetune`); the numeric layers sweep the
variants of the float64 reference model (`numeric.depth.sweep`, `numeric.finetune`). The factories
(``layer1_claim``, ``prompt_prefix_claim``, ``shift_claim``, ``rope_claim``, ``deep_claim``, ``rank1_claim``) are
public so tests can build false twins.
"""
from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from proofs.claim import Claim, Context, Expected, LayerResult, Status
from proofs.layer_results import failed_step, measured, refuted, variant_sweep, zero_tests

if TYPE_CHECKING:
    from theory.derivation import Derivation

SECTION = "soft prompting and depth"
CAUSAL_ABS = "content of the prefixed model at positions n_S.. (the authors' layout and HF position ids)"


# ---- softprompt.layer1_equals_prefix ----------------------------------------------------------------------

def layer1_claim(id: str = "softprompt.layer1_equals_prefix", add_position: bool = True,
                 expected: Expected = "holds") -> Claim:
    """``add_position``: the prefix is s + p_0 (True) or s (the false twin under absolute positions)."""
    prefix = "s + p_0" if add_position else "s"

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import layer1_soft_vs_prefix

        tests = [layer1_soft_vs_prefix(add_position, causal=causal, seed=ctx.seed) for causal in (True, False)]
        return zero_tests(tests, f"layer-1 content outputs with the soft prompt minus those with the prefix {prefix}: "
                          "every component 0 (causal and bidirectional)", "explicit one-layer model (d=2, two content "
                          "tokens, learned absolute positions p_j), symbolic weights, exp kept",
                          "d = 2, two content tokens, one soft token")

    numeric = variant_sweep(id, lambda v: True, "layer1_soft_vs_prefix", "layer-1 attention/head-output error",
                            "{variants} variants (seed {seed})", add_position=add_position)

    return Claim(
        id=id, title="soft prompting equals prefix-tuning in layer 1, with s^(1) = s + p_0 (absolute PE)",
        paper_ref="Sec. 2 (soft prompting as a layer-1 prefix); notes 1.2, 5 item 9",
        statement=r"A^{soft,(1)}_{ij}=A^{pt,(1)}_{ij},\ t^{soft,(1)}_i=t^{pt,(1)}_i\ \text{ with }"
                  r"s^{(1)}_m=s_m+p_{m-1}",
        assumptions=("the prefix representation is otherwise identical (same pre-attention norm, W_K, W_V, RoPE or "
                     "ALiBi at positions 0..n_S-1)", CAUSAL_ABS),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- softprompt.causal_is_prefix / bidirectional_is_prefix ------------------------------------------------

def prompt_prefix_claim(id: str, causal: bool, expected: Expected) -> Claim:
    mask = "causal" if causal else "bidirectional"
    abstraction = (f"explicit 2-layer {mask} model (d=2, soft prompt s and two content tokens x_1, x_2 symbolic, all "
                   "weights symbolic, residual, no norm or MLP, exp kept)")

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import soft_prompt_vs_prefix

        dependence, difference = soft_prompt_vs_prefix(causal, seed=ctx.seed)
        if dependence.status == "nonzero":
            return refuted(dependence, abstraction, "d h^(2)_prompt / d x != 0: h^(2)_0(s, x) - h^(2)_0(s)")
        return zero_tests([dependence, difference], "prompt states h^(l)_0 contain no content symbol, and the content "
                          "outputs with the soft prompt equal those with the prefixes h^(l)_0", abstraction,
                          "d = 2, two layers, two content tokens, one soft token")

    numeric = variant_sweep(id, lambda v: v.causal == causal, "soft_prompt_is_prefix",
                            "soft-prompt vs prefix error (states, logits, attention, 3 layers)",
                            f"{{variants}} {mask} variants (seed {{seed}}; prefixes from input 0 applied to every "
                            "input)")

    return Claim(
        id=id, title=f"{mask} soft prompting is prefix-tuning with input-independent per-layer prefixes h^(l)_m",
        paper_ref="Sec. 2-3 (prompting <= soft prompting <= prefix-tuning); notes 1.2, 5 item 10",
        statement=(r"h^{(l)}_m(s,X)=h^{(l)}_m(s)\ \forall X\ \text{ and }\ "
                   r"f_{soft}(s;X)=f_{prefix}(\{h^{(l)}_m(s)\}_l;X)"),
        assumptions=(f"{mask} mask", "the prompt precedes all content; deterministic states (no dropout)"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- prefix.absolute_pe_shift / prefix.rope_shift_invariant -------------------------------------------------

def shift_claim(id: str = "prefix.absolute_pe_shift", positions: tuple[str, ...] = ("learned", "sinusoidal"),
                expected: Expected = "fails") -> Claim:
    """``positions``: the schemes whose shift is claimed harmless; each is derived symbolically and swept numerically
    (a scheme without a derivation is refused)."""
    from theory.depth import POSITION_SCHEMES

    unknown = [p for p in positions if p not in POSITION_SCHEMES]
    if unknown or not positions:
        raise ValueError(f"shift_claim: no derivation for position scheme(s) {unknown or positions} "
                         f"(known: {', '.join(POSITION_SCHEMES)})")
    schemes = "/".join(positions)

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import relative_logit_shift

        return zero_tests([relative_logit_shift(p, seed=ctx.seed) for p in positions],
                          f"content logit differences unchanged by the shift ({schemes})",
                          "explicit d=2 logits with symbolic H (or W_Q, W_K), inputs and the positions of each scheme "
                          f"({schemes})", f"d = 2, three content tokens, each scheme {schemes}")

    numeric = variant_sweep(id, lambda v: v.pos in positions, "relative_attention_change",
                            "change of layer-1 renormalised content attention", f"{{variants}} variants with {schemes} "
                            "positions (seed {seed}; prefixed content at n_S.., baseline at 0..)", layer=1)

    return Claim(
        id=id, title=f"with {schemes} positions, a prefix leaves the relative content attention unchanged against the "
                     "unshifted model",
        paper_ref="Sec. 4 (relative attention unchanged; not under an absolute-PE shift); notes 5 item 1",
        statement=(r"\frac{A^{pt}_{ij}}{\sum_{r}A^{pt}_{ir}}\Big|_{\text{content at }n_S+1..}"
                   r"=A_{ij}\Big|_{\text{content at }1..}"),
        assumptions=("first layer; the un-prefixed baseline has its content at positions 0..n-1",),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


ROPE_ABSTRACTION = "explicit rotation matrices, symbolic angles theta_i, positions m, n, shift c and vectors"


def rope_claim(id: str = "prefix.rope_shift_invariant", rotate_keys: bool = True, pos: str = "rope",
               expected: Expected = "holds") -> Claim:
    """``pos`` selects the position scheme of both layers (the symbolic layer derives that scheme's logits;
    the numeric layer sweeps the reference model's variants with it); ``rotate_keys=False`` is the twin that rotates
    queries only."""
    from theory.depth import POSITION_SCHEMES

    if pos not in POSITION_SCHEMES:
        raise ValueError(f"rope_claim: unknown position scheme {pos!r} (known: {', '.join(POSITION_SCHEMES)})")

    def derivation() -> Derivation:
        from theory.depth import rope_derivation

        return rope_derivation()

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import relative_logit_shift

        if pos != "rope" or not rotate_keys:  # another scheme's logits, or the twin: not the RoPE lemma
            return zero_tests([relative_logit_shift(pos, rotate_keys=rotate_keys, seed=ctx.seed)],
                              "content logit differences unchanged by the shift",
                              f"explicit d=2 logits with the {pos} positions, symbolic weights, inputs and shift",
                              f"d = 2, three content tokens, {pos} positions")
        check = derivation().check(ctx.seed)
        return failed_step(check, ROPE_ABSTRACTION, refutes=True) or zero_tests(
            [st.test for st in check.steps], "4-step chain checked: (R_{m+c}q)^T (R_{n+c}k) = q^T R_{n-m} k = "
            "(R_m q)^T (R_n k) for 4x4 block rotations with 2 symbolic frequencies; q = W_Q x_i, k = W_K x_j are "
            "arbitrary", ROPE_ABSTRACTION, "any positions m, n and shift c; head dimension 4 (2 frequencies): every "
            "RoPE head is a direct sum of such 2x2 blocks")

    numeric = variant_sweep(id, lambda v: v.pos == pos, "rope_shift",
                            "relative change of layer-1 logits / outputs under shifts 1, 3, 17",
                            f"{{variants}} {pos} variants (seed {{seed}})")

    return Claim(
        id=id, title="RoPE logits depend only on relative position, so a prefix does not shift content attention",
        paper_ref="Sec. 4 (the LLaMA check E5: RoPE makes it valid); notes 4.2, 5 items 4, 27",
        statement=r"(R_{m+c}q)^\top(R_{n+c}k)=(R_m q)^\top(R_n k)=q^\top R_{n-m}k",
        assumptions=("RoPE applied to q and k in every head; no absolute position vectors",),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric, derivation=derivation)


# ---- prefix.deep_layer_invariance -------------------------------------------------------------------------

DEEP_ABSTRACTION = "explicit d=2 vectors and H_2; layer 1 enters through its closed form; alpha, tau symbols"


def deep_claim(id: str = "prefix.deep_layer_invariance", layer: int = 2, expected: Expected = "fails") -> Claim:
    """``layer``: the layer whose relative content attention is claimed unchanged (1 is the true twin)."""
    if layer not in (1, 2):
        raise ValueError(f"deep_claim: layer must be 1 or 2 (the derivation covers those), got {layer}")

    def derivation() -> Derivation:
        from theory.depth import layer2_derivation

        return layer2_derivation()[0]

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import decide, layer1_relative_change, layer2_derivation

        chain, relative = layer2_derivation()
        check = chain.check(ctx.seed)
        unfinished = failed_step(check, DEEP_ABSTRACTION, refutes=False)  # the chain prepares the residual only
        if unfinished is not None:
            return unfinished
        test = decide(relative if layer == 2 else layer1_relative_change(), ctx.seed)
        if test.status == "nonzero":
            return refuted(test, DEEP_ABSTRACTION, "2-step perturbation chain checked; the change of the "
                           f"layer-{layer} logit difference l_ij - l_ik")
        return zero_tests([*[st.test for st in check.steps], test], f"layer-{layer} logit differences unchanged",
                          DEEP_ABSTRACTION, "d = 2, three content positions i, j, k")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import deep_layer_change, models_per_variant

        seed = ctx.child_seed(id)
        formula, found = deep_layer_change(layer, seed, models_per_variant(ctx.instances))
        tie = f"the 2.3 formula matches the model's layer-2 logits to {formula.max_error:.3g} (relative)"
        if formula.max_error > 1e-12:
            return LayerResult(Status.UNKNOWN, f"{tie}, not within 1e-12", witness=formula.witness)
        result = measured(found, ctx.tol, f"change of layer-{layer} renormalised content attention",
                          f"{found.instances} inputs (seed {seed}; no-norm 2-layer model, content positions kept)")
        result.detail = f"{tie}; {result.detail}"
        return result

    return Claim(
        id=id, title=f"a prefix leaves the layer-{layer} relative content attention unchanged against the "
                     "un-prefixed model",
        paper_ref="Sec. 5.2 (cross-layer effects); notes 2.3, 5 item 17",
        statement=r"\ell^{(2),pt}_{ij}=\ell^{(2)}_{ij}+\tau\alpha_i(W_Vs_1-t_i)^\top H_2y_j+\tau\alpha_jy_i^\top "
                  r"H_2(W_Vs_1-t_j)+\tau\alpha_i\alpha_j(W_Vs_1-t_i)^\top H_2(W_Vs_1-t_j),\ \text{so }"
                  r"A^{(2),pt}_{ij}/A^{(2),pt}_{ik}\neq A^{(2)}_{ij}/A^{(2)}_{ik}",
        assumptions=("comparison against the un-prefixed model (not conditional on the layer's inputs)",
                     "no norm and no MLP between the layers for the closed form; the numeric witness uses them too"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric, derivation=derivation)


# ---- finetune.rank1_reverses_attention --------------------------------------------------------------------

RANK1_ABSTRACTION = "explicit 2-D witness with symbolic c, tau, v_j, v_k; general W_Q, W_K in R^{2x2}, symbolic"


def rank1_claim(id: str = "finetune.rank1_reverses_attention", factor: int | tuple[int, int] = -2,
                expected: Expected = "holds") -> Claim:
    """``factor`` (an integer or a fraction (p, q)) scales the query's logits by 1 + factor; -2 reverses them."""
    ratio = Fraction(*factor) if isinstance(factor, tuple) else Fraction(factor)

    def symbolic(ctx: Context) -> LayerResult:
        from theory.finetune import rank1_reversal

        two_d, general, rank = rank1_reversal(ratio)
        if general is None:
            return zero_tests([two_d], "", RANK1_ABSTRACTION, "2-D witness")
        if rank != 1 and two_d.status == "zero" and general.status == "zero":
            return LayerResult(Status.REFUTED, f"Delta W_K has rank {rank}", abstraction=RANK1_ABSTRACTION)
        return zero_tests([two_d, general], "rank-1 Delta W_K negates every logit difference l_ij - l_ik of the "
                          "query (2-D witness of paper-notes 2.2 and the general q q^T W_K construction): every order "
                          "and the argmax reverse", RANK1_ABSTRACTION,
                          "the 2-D witness (any c, tau, v_j, v_k) and general W_Q, W_K in R^{2x2}")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import models_per_variant
        from numeric.finetune import reversal

        seed = ctx.child_seed(id)
        explicit, random = reversal(seed, 16 * models_per_variant(ctx.instances), float(ratio))
        result = measured(explicit.merge(random), ctx.tol, "fraction of attention orders not reversed",
                          f"the 2-D witness (argmax {explicit.witness['argmax_before']} -> "
                          f"{explicit.witness['argmax_after']}, rank-1 LoRA, {explicit.witness['lora_params']} "
                          f"parameters) and {random.instances} random heads (seed {seed})")
        if result.status is Status.CONSISTENT:
            result.witness = explicit.witness
        return result

    return Claim(
        id=id, title="a rank-1 change of W_K (rank-1 LoRA) reverses a head's attention ordering",
        paper_ref="Sec. 4, eq. (7) and the rank-1 LoRA remark; notes 2.2, 5 item 22",
        statement=r"\Delta W_K=b\,a^\top:\ \ell'_{ij}-\ell'_{ik}=-(\ell_{ij}-\ell_{ik})\ \ \forall j,k"
                  r"\quad(\Delta W_K=-2\,qq^\top W_K/\lVert q\rVert^2,\ q=W_Qx_i)",
        assumptions=("one softmax head; full fine-tuning or LoRA may change W_K",),
        expected=expected, section="4 single layer", symbolic=symbolic, numeric=numeric)


CLAIMS = [
    layer1_claim(),
    prompt_prefix_claim("softprompt.causal_is_prefix", causal=True, expected="holds"),
    prompt_prefix_claim("softprompt.bidirectional_is_prefix", causal=False, expected="fails"),
    shift_claim(),
    rope_claim(),
    deep_claim(),
    rank1_claim(),
]
