"""Soft prompting and depth (paper-notes 1.2, 2.2 items 9-10, 2.3; section 5 items 1, 9, 10, 17, 22): which
single-head statements survive in whole transformers, checked on the reference model `numeric.model` over its
architecture variants (norm pre/post/none/RMS x positions none/learned/sinusoidal/RoPE/ALiBi x causal/bidirectional).

The factories (``layer1_claim``, ``prompt_prefix_claim``, ``shift_claim``, ``rope_claim``, ``deep_claim``,
``rank1_claim``) are public so tests can build false twins.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from proofs.claim import Claim, Context, Expected, LayerResult, Status

SECTION = "soft prompting and depth"
CAUSAL_ABS = "content of the prefixed model at positions n_S.. (the authors' layout and HF position ids)"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _variants(select: Callable[[Any], bool]) -> list[Any]:
    from numeric.depth import all_variants

    return [v for v in all_variants() if select(v)]


def _sweep(variants: Sequence[Any], measure: Callable[[Any, int], Any], seed: int) -> Any:
    """The worst `Finding` of ``measure(variant, seed)`` over the variants."""
    from numeric.depth import Finding
    from numeric.threads import one_thread

    worst = Finding(0.0, 0)
    with one_thread():
        for v in variants:
            worst = worst.merge(measure(v, seed))
    return worst


def _models(ctx: Context) -> int:
    """Random models per variant: 1 at the default ``--instances 1000``, more for larger sweeps."""
    return max(1, ctx.instances // 1000)


def _numeric_result(found: Any, tol: float, what: str, scope: str) -> LayerResult:
    """CONSISTENT if ``found.max_error <= tol``, else VIOLATED with the witness (from a float64 torch model)."""
    if found.max_error <= tol:
        return LayerResult(Status.CONSISTENT, f"max {what} {_fmt(found.max_error)} <= {tol:g} over {scope}",
                           max_error=found.max_error, instances=found.instances)
    return LayerResult(Status.VIOLATED, f"{what} {_fmt(found.max_error)} > {tol:g}; witness "
                       f"{', '.join(f'{k}={v}' for k, v in list(found.witness.items())[:4])}",
                       max_error=found.max_error, instances=found.instances, witness=found.witness)


def _symbolic_result(tests: Any, proved: str, abstraction: str, scope: str) -> LayerResult:
    """PROVED (a kernel certificate over every zero decision) if every test is zero; REFUTED at the first
    non-zero one (its exact witness); UNKNOWN otherwise."""
    from theory.kernel import certify_zero

    tests = list(tests) if isinstance(tests, (list, tuple)) else [tests]
    for test in tests:
        if test.status == "nonzero":
            return LayerResult(Status.REFUTED,
                               f"residual {test.value} (exactly {test.exact_value}) at a rational point",
                               witness={"point": test.witness, "residual": test.value,
                                        "exact_residual": test.exact_value}, abstraction=abstraction)
    for test in tests:
        if test.status != "zero":
            return LayerResult(Status.UNKNOWN, f"residual not decided ({test.method})", abstraction=abstraction)
    cert = certify_zero(tests, scope, abstraction)
    methods = "; ".join(sorted({t.method for t in tests}))
    return LayerResult(Status.PROVED, f"{proved} ({methods})", abstraction=abstraction, certificate=cert)


# ---- softprompt.layer1_equals_prefix ----------------------------------------------------------------------

def layer1_claim(id: str = "softprompt.layer1_equals_prefix", add_position: bool = True,
                 expected: Expected = "holds") -> Claim:
    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import layer1_soft_vs_prefix

        tests = [layer1_soft_vs_prefix(add_position, causal=causal, seed=ctx.seed) for causal in (True, False)]
        return _symbolic_result(tests, "layer-1 content outputs with the soft prompt minus those with the prefix "
                                f"{'s + p_0' if add_position else 's'}: every component 0 (causal and bidirectional)",
                                "explicit one-layer model (d=2, two content tokens, learned absolute positions p_j), "
                                "symbolic weights, exp kept", "d = 2, two content tokens, one soft token")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import layer1_soft_vs_prefix

        seed = ctx.child_seed(id)
        variants = _variants(lambda v: True)
        def measure(v: Any, s: int) -> Any:
            return layer1_soft_vs_prefix(v, s, models=_models(ctx), add_position=add_position)

        found = _sweep(variants, measure,
                          seed)
        return _numeric_result(found, ctx.tol, "layer-1 attention/head-output error",
                               f"{len(variants)} variants (seed {seed})")

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

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import soft_prompt_vs_prefix

        dep, diff = soft_prompt_vs_prefix(causal, seed=ctx.seed)
        abstraction = (f"explicit 2-layer {mask} model (d=2, soft prompt s and two content tokens x_1, x_2 "
                       "symbolic, all weights symbolic, residual, no norm or MLP, exp kept)")
        if dep.status == "nonzero":
            return LayerResult(Status.REFUTED, f"d h^(2)_prompt / d x != 0: h^(2)_0(s, x) - h^(2)_0(s) = "
                               f"{dep.value} (exactly {dep.exact_value}) at a rational point",
                               witness={"point": dep.witness, "residual": dep.value,
                                        "exact_residual": dep.exact_value}, abstraction=abstraction)
        return _symbolic_result([dep, diff], "prompt states h^(l)_0 contain no content symbol, and the content "
                                "outputs with the soft prompt equal those with the prefixes h^(l)_0", abstraction,
                                "d = 2, two layers, two content tokens, one soft token")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import Finding, soft_prompt_as_prefix
        from numeric.threads import one_thread

        seed = ctx.child_seed(id)
        variants = _variants(lambda v: v.causal == causal)
        worst = Finding(0.0, 0)
        with one_thread():
            for v in variants:
                dep, err = soft_prompt_as_prefix(v, seed, models=_models(ctx))
                f = Finding(max(dep.max_error, err.max_error), err.instances,
                            {**err.witness, "prompt_state_dependence": dep.max_error, "dependence_at": dep.witness})
                worst = worst.merge(f)
        return _numeric_result(worst, ctx.tol, "soft-prompt vs prefix error (states, logits, attention, 3 layers)",
                               f"{len(variants)} {mask} variants (seed {seed}; prefixes from input 0 applied to "
                               "every input)")

    title = f"{mask} soft prompting is prefix-tuning with input-independent per-layer prefixes h^(l)_m"
    return Claim(
        id=id, title=title, paper_ref="Sec. 2-3 (prompting <= soft prompting <= prefix-tuning); notes 1.2, 5 item 10",
        statement=(r"h^{(l)}_m(s,X)=h^{(l)}_m(s)\ \forall X\ \text{ and }\ "
                   r"f_{soft}(s;X)=f_{prefix}(\{h^{(l)}_m(s)\}_l;X)"),
        assumptions=(f"{mask} mask", "the prompt precedes all content; deterministic states (no dropout)"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- prefix.absolute_pe_shift / prefix.rope_shift_invariant -------------------------------------------------

def shift_claim(id: str = "prefix.absolute_pe_shift", positions: tuple[str, ...] = ("learned", "sinusoidal"),
                expected: Expected = "fails") -> Claim:
    from theory.depth import POSITION_SCHEMES

    unknown = [p for p in positions if p not in POSITION_SCHEMES]
    if unknown or not positions:
        raise ValueError(f"shift_claim: no derivation for position scheme(s) {unknown or positions} "
                         f"(known: {', '.join(POSITION_SCHEMES)})")

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import relative_logit_shift

        tests = [relative_logit_shift(p, seed=ctx.seed) for p in positions]
        return _symbolic_result(tests, f"content logit differences unchanged by the shift ({'/'.join(positions)})",
                                "explicit d=2 logits with symbolic H (or W_Q, W_K), inputs and the positions of "
                                f"each scheme ({'/'.join(positions)})", "d = 2, three content tokens, each scheme "
                                f"{'/'.join(positions)}")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import relative_attention_change

        seed = ctx.child_seed(id)
        variants = _variants(lambda v: v.pos in positions)
        found = _sweep(variants, lambda v, s: relative_attention_change(v, s, layer=1, models=_models(ctx)), seed)
        return _numeric_result(found, ctx.tol, "change of layer-1 renormalised content attention",
                               f"{len(variants)} variants with {'/'.join(positions)} positions (seed {seed}; "
                               "prefixed content at n_S.., baseline at 0..)")

    return Claim(
        id=id, title=f"with {'/'.join(positions)} positions, a prefix leaves the relative content attention "
                     "unchanged against the unshifted model",
        paper_ref="Sec. 4 (relative attention unchanged; not under an absolute-PE shift); notes 5 item 1",
        statement=(r"\frac{A^{pt}_{ij}}{\sum_{r}A^{pt}_{ir}}\Big|_{\text{content at }n_S+1..}"
                   r"=A_{ij}\Big|_{\text{content at }1..}"),
        assumptions=("first layer; the un-prefixed baseline has its content at positions 0..n-1",),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


def rope_claim(id: str = "prefix.rope_shift_invariant", rotate_keys: bool = True, pos: str = "rope",
               expected: Expected = "holds") -> Claim:
    """``pos`` selects the position scheme of both layers (the symbolic layer derives that scheme's logits;
    the numeric layer sweeps the reference model's variants with it)."""
    from theory.depth import POSITION_SCHEMES

    if pos not in POSITION_SCHEMES:
        raise ValueError(f"rope_claim: unknown position scheme {pos!r} (known: {', '.join(POSITION_SCHEMES)})")
    def derivation() -> Any:
        from theory.depth import rope_derivation

        return rope_derivation()

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import relative_logit_shift, rope_derivation

        if pos != "rope" or not rotate_keys:  # another scheme, or the twin that rotates queries only
            abstraction = f"explicit d=2 logits with the {pos} positions, symbolic weights, inputs and shift"
            return _symbolic_result(relative_logit_shift(pos, rotate_keys=rotate_keys, seed=ctx.seed),
                                    "content logit differences unchanged by the shift", abstraction,
                                    f"d = 2, three content tokens, {pos} positions")
        abstraction = "explicit rotation matrices, symbolic angles theta_i, positions m, n, shift c and vectors"
        deriv = rope_derivation().check(ctx.seed)
        if not deriv.ok:
            bad = deriv.failed
            if bad.test.status == "nonzero":
                return LayerResult(Status.REFUTED, f"step {bad.index} ({bad.why}) is false at {bad.test.witness}",
                                   abstraction=abstraction)
            return LayerResult(Status.UNKNOWN, f"derivation step {bad.index} ({bad.why}) not reduced")
        return _symbolic_result([st.test for st in deriv.steps], "4-step chain checked: (R_{m+c}q)^T (R_{n+c}k) = "
                                "q^T R_{n-m} k = (R_m q)^T (R_n k) for 4x4 block rotations with 2 symbolic "
                                "frequencies; q = W_Q x_i, k = W_K x_j are arbitrary", abstraction,
                                "any positions m, n and shift c; head dimension 4 (2 frequencies): every RoPE head "
                                "is a direct sum of such 2x2 blocks")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import rope_shift

        seed = ctx.child_seed(id)
        variants = _variants(lambda v: v.pos == pos)
        found = _sweep(variants, lambda v, s: rope_shift(v, s, models=_models(ctx)), seed)
        return _numeric_result(found, ctx.tol, "relative change of layer-1 logits / outputs under shifts 1, 3, 17",
                               f"{len(variants)} {pos} variants (seed {seed})")

    return Claim(
        id=id, title="RoPE logits depend only on relative position, so a prefix does not shift content attention",
        paper_ref="Sec. 4 (the LLaMA check E5: RoPE makes it valid); notes 4.2, 5 items 4, 27",
        statement=r"(R_{m+c}q)^\top(R_{n+c}k)=(R_m q)^\top(R_n k)=q^\top R_{n-m}k",
        assumptions=("RoPE applied to q and k in every head; no absolute position vectors",),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric, derivation=derivation)


# ---- prefix.deep_layer_invariance -------------------------------------------------------------------------

def deep_claim(id: str = "prefix.deep_layer_invariance", layer: int = 2, expected: Expected = "fails") -> Claim:
    if layer not in (1, 2):
        raise ValueError(f"deep_claim: layer must be 1 or 2 (the derivation covers those), got {layer}")
    def derivation() -> Any:
        from theory.depth import layer2_derivation

        return layer2_derivation()[0]

    def symbolic(ctx: Context) -> LayerResult:
        from theory.depth import decide, layer1_relative_change, layer2_derivation

        deriv, relative = layer2_derivation()
        check = deriv.check(ctx.seed)
        if not check.ok:
            return LayerResult(Status.UNKNOWN, f"perturbation step {check.failed.index} not reduced")
        test = decide(relative if layer == 2 else layer1_relative_change(), ctx.seed)
        abstraction = "explicit d=2 vectors and H_2; layer 1 enters through its closed form; alpha, tau symbols"
        if test.status == "nonzero":
            return LayerResult(Status.REFUTED, f"2-step perturbation chain checked; the layer-{layer} logit difference "
                               f"l_ij - l_ik changes by {test.value} (exactly {test.exact_value}) at a rational point",
                               witness={"point": test.witness, "residual": test.value,
                                        "exact_residual": test.exact_value}, abstraction=abstraction)
        return _symbolic_result([*[st.test for st in check.steps], test], f"layer-{layer} logit differences unchanged",
                                abstraction, "d = 2, three content positions i, j, k")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import Variant, layer_two_change, layer_two_formula, relative_attention_change
        from numeric.threads import one_thread

        seed = ctx.child_seed(id)
        with one_thread():
            formula = layer_two_formula(seed, batch=64 * _models(ctx))
            if formula.max_error > 1e-12:
                return LayerResult(Status.UNKNOWN, f"the 2.3 perturbation formula misses the model's layer-2 logits by "
                                   f"{_fmt(formula.max_error)} (relative)", witness=formula.witness)
            if layer == 2:
                found = layer_two_change(seed, batch=64 * _models(ctx))
            else:
                found = relative_attention_change(Variant("none", "none", True), seed, layer=1, keep_positions=True)
        result = _numeric_result(found, ctx.tol, f"change of layer-{layer} renormalised content attention",
                                 f"{found.instances} inputs (seed {seed}; no-norm 2-layer model, content positions "
                                 "kept)")
        result.detail = f"2.3 formula matches layer-2 logits to {_fmt(formula.max_error)} (relative); " + result.detail
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

def rank1_claim(id: str = "finetune.rank1_reverses_attention", factor: int | tuple[int, int] = -2,
                expected: Expected = "holds") -> Claim:
    """``factor`` (an integer or a fraction (p, q)) scales the query's logits by 1 + factor; -2 reverses them."""
    num, den = factor if isinstance(factor, tuple) else (factor, 1)

    def symbolic(ctx: Context) -> LayerResult:
        import sympy as sp

        from theory.depth import rank1_reversal

        two_d, general, rank = rank1_reversal(sp.Rational(num, den))
        abstraction = "explicit 2-D witness with symbolic c, tau, v_j, v_k; general W_Q, W_K in R^{2x2}, symbolic"
        if general is None:
            return _symbolic_result(two_d, "", abstraction, "2-D witness")
        if rank != 1 and two_d.status == "zero" and general.status == "zero":
            return LayerResult(Status.REFUTED, f"Delta W_K has rank {rank}", abstraction=abstraction)
        return _symbolic_result([two_d, general], "rank-1 Delta W_K negates every logit difference l_ij - l_ik of the "
                                "query (2-D witness of paper-notes 2.2 and the general q q^T W_K construction): every "
                                "order and the argmax reverse", abstraction,
                                "the 2-D witness (any c, tau, v_j, v_k) and general W_Q, W_K in R^{2x2}")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.depth import rank1_reversal, two_d_reversal
        from numeric.threads import one_thread

        seed = ctx.child_seed(id)
        with one_thread():
            explicit = two_d_reversal(factor=num / den)
            random = rank1_reversal(seed, models=16 * _models(ctx), factor=num / den)
        worst = explicit.merge(random)
        result = _numeric_result(worst, ctx.tol, "fraction of attention orders not reversed",
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
