"""Real implementations: Hugging Face transformers + peft prefix-tuning and prompt tuning (paper-notes 1.2; 5
items 1, 4, 9, 10; E5).

Each claim compares a real peft-wrapped model with the real base model, on tiny random float64 models built from
configs (GPT-2, LLaMA, BERT; `numeric.hf`), offline. The checks are numeric only: agreement is CONSISTENT, a
deviation beyond the tolerance is VIOLATED with the family, seed and error. Tolerance: ``ctx.tol`` where the
model computes in float64 (GPT-2, BERT); ``numeric.hf_audit.FLOAT32_TOL`` for LLaMA, whose eager softmax,
RMSNorm and RoPE tables run in float32 even after ``.double()``.

The factories (`relative_attention_claim`, ...) are public so tests can build false twins.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from proofs.claim import Check, Claim, Context, LayerResult, Status

SECTION = "impl transformers+peft"
PEFT = ("peft prefix-tuning without projection: raw per-layer keys k_m and values v_m injected as a DynamicCache "
        "(no norm, no W_K / W_V, no rotary on the prefix keys)",
        "tiny random models from configs, float64, eager attention, eval mode (no dropout)")
CONTENT_AT_NS = "peft gives the content positions n_S, n_S+1, ... (it offsets any user position_ids by n_S)"

Measure = Callable[[Any, Any], tuple[float, str]]  # (family, setup) -> (error, note)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def peft_check(label: str, measure: Measure, families: Sequence[str], *, tol: Optional[float] = None,
               extra: Optional[Callable[[Any], str]] = None) -> Check:
    """Numeric check over random setups per family (``ctx.instances // 500``, at least 1: 2 by default, more
    behind ``--instances``): the worst ``measure`` error against the family's tolerance (``tol`` overrides
    it). ``extra(ctx)`` may append an informational note."""

    def check(ctx: Context) -> LayerResult:
        try:
            from numeric.hf import HFUnavailable, family, quiet
        except ImportError as exc:  # pragma: no cover - numeric.hf itself imports only torch
            return LayerResult(Status.UNKNOWN, f"cannot load the hf bridge: {exc}")
        from numeric.hf_audit import Setup, tolerance

        instances = max(1, ctx.instances // 500)
        parts: list[str] = []
        worst: Optional[dict[str, Any]] = None
        failed: Optional[dict[str, Any]] = None
        base_seed = ctx.child_seed(label)
        try:
            with quiet():
                for name in families:
                    fam = family(name)
                    limit = tol if tol is not None else tolerance(fam, ctx.tol)
                    errors, notes = [], []
                    for k in range(instances):
                        seed = base_seed + 10 * k
                        error, note = measure(fam, Setup(seed=seed))
                        errors.append(error)
                        notes.append(note)
                        row = {"family": name, "seed": seed, "error": error, "tol": limit, "note": note}
                        if worst is None or error > worst["error"]:
                            worst = row
                        if error > limit and (failed is None or error > failed["error"]):
                            failed = row
                    spread = f"{_fmt(min(errors))}..{_fmt(max(errors))}" if len(errors) > 1 else _fmt(errors[0])
                    parts.append(f"{name} {spread} (tol {limit:g}){notes[errors.index(max(errors))]}")
                note = extra(ctx) if extra is not None else ""
        except HFUnavailable as exc:
            return LayerResult(Status.UNKNOWN, str(exc))
        summary = (f"error range per family: {', '.join(parts)}; {instances} random inits each, seeds from "
                   f"{base_seed}")
        count = instances * len(families)
        if failed is not None:
            return LayerResult(Status.VIOLATED, f"{failed['family']}: error {_fmt(failed['error'])} > "
                               f"{failed['tol']:g} (seed {failed['seed']}){failed['note']}; {summary}{note}",
                               max_error=failed["error"], instances=count, witness=failed)
        return LayerResult(Status.CONSISTENT, summary + note, max_error=worst["error"] if worst else 0.0,
                           instances=count)

    return check


# ---- measures -------------------------------------------------------------------------------------------------

def relative_attention_measure(reference: str = "same") -> Measure:
    """Layer 0: max over heads of |A^pt_ij - (1-alpha_i) A_ij|, of |A^pt_ij / sum_r A^pt_ir - A_ij| and of
    |t^pt_i - (1-alpha_i) t_i - sum_m A^pt_im v_m|
    against the base model at the content positions peft used (``reference="shifted"``: at 0.., a false twin
    for absolute positions)."""

    def measure(fam: Any, setup: Any) -> tuple[float, str]:
        from numeric import hf_theory as th
        from numeric.hf_audit import run_prefix

        run = run_prefix(fam, setup)
        P, R = run.P.layers[0], getattr(run, reference).layers[0]
        return max(float(th.relative_attention(P, R, setup.n_S).max()),
                   float(th.renormalised_attention(P, R, setup.n_S).max()),
                   float(th.head_output(P, R, setup.n_S, run.values[0]).max())), ""

    return measure


def shift_measure(fam: Any, setup: Any) -> tuple[float, str]:
    """Layer 0: max |renormalised A^pt_ij - A_ij| with the base model's content at positions 0, 1, ..."""
    from numeric import hf_theory as th
    from numeric.hf_audit import run_prefix

    run = run_prefix(fam, setup)
    return float(th.renormalised_attention(run.P.layers[0], run.shifted.layers[0], setup.n_S).max()), ""


def rope_note(ctx: Context) -> str:
    """The RoPE family's measured shift error and the float32 logit drift that causes it."""
    from numeric import hf_theory as th
    from numeric.hf import family
    from numeric.hf_audit import Setup, run_prefix

    fam = family("llama")
    setup = Setup(seed=ctx.child_seed("impl.rope-note"))
    run = run_prefix(fam, setup)
    shift = float(th.renormalised_attention(run.P.layers[0], run.shifted.layers[0], setup.n_S).max())
    a = th.content_logits(run.same.layers[0], True).nan_to_num(0.0, 0.0, 0.0)
    b = th.content_logits(run.shifted.layers[0], True).nan_to_num(0.0, 0.0, 0.0)
    return (f"; llama (RoPE) instead holds up to {_fmt(shift)}: logits depend on i - j only, and the base model's "
            f"logits at 0.. differ from those at n_S.. by {_fmt(float((a - b).abs().max()))} because the "
            f"rotation angles, cos/sin and the softmax are computed in float32")


def zero_init_measure(count_offset: int = 0) -> Measure:
    """peft ``init_weights="zero"``, layer 0: max of |sum_m A^pt_im - alpha_i| and |t^pt_i - (1-alpha_i) t_i| with
    alpha_i = (n_S + count_offset) / (n_S + count_offset + sum_j exp(l_ij)) from the base model's q, k (a
    nonzero ``count_offset`` is a false twin); also requires the prefix to change the output (not a no-op)."""

    def measure(fam: Any, setup: Any) -> tuple[float, str]:
        from dataclasses import replace

        from numeric import hf_theory as th
        from numeric.hf_audit import run_prefix

        setup = replace(setup, prefix_std=0.0)
        run = run_prefix(fam, setup)
        P, R, n_S = run.P.layers[0], run.same.layers[0], setup.n_S
        alpha = th.zero_prefix_alpha(R, n_S + count_offset, fam.causal)
        err_alpha = float((th.prefix_mass(P, n_S) - alpha).abs().max())
        err_out = float((P.heads - (1 - alpha) * R.heads).abs().max())
        if any(k.abs().max() != 0 or v.abs().max() != 0 for k, v in zip(run.keys, run.values)):
            return float("inf"), " (peft's zero prefix is not zero)"
        gap = float((run.P.output - run.same.output).abs().max())
        if gap <= 1e-6:
            return float("inf"), f" (the zero prefix was a no-op: output change {_fmt(gap)})"
        mass = th.prefix_mass(P, n_S)
        return max(err_alpha, err_out), (f" [not a no-op: output moves by {_fmt(gap)}; alpha in "
                                         f"{_fmt(float(mass.min()))}..{_fmt(float(mass.max()))}]")

    return measure


def prompt_measure(fam: Any, setup: Any) -> tuple[float, str]:
    """Prompt tuning vs prefix-tuning with the virtual tokens' per-layer keys / values: the worst difference of
    the content's head outputs (every layer) and of the outputs."""
    from numeric import hf_theory as th
    from numeric.hf_audit import run_prompt

    run = run_prompt(fam, setup)
    heads = max(float(th.heads_after(F, Q).max()) for F, Q in zip(run.full.layers, run.prefixed.layers))
    n = run.prefixed.output.shape[1]
    return max(heads, float((run.full.output[:, -n:] - run.prefixed.output).abs().max())), ""


def text_measure(convention: str = "peft") -> Measure:
    """A prefix loaded from a hard prompt's key/value cache vs the base model on prompt + content: the worst
    output difference over the content. ``convention="peft"``: content at n_S.. (what peft does); ``"zero"``:
    content at 0.. (a false twin)."""

    def measure(fam: Any, setup: Any) -> tuple[float, str]:
        from numeric.hf_audit import run_text

        run = run_text(fam, setup)
        other = run.prefixed if convention == "peft" else run.at_zero
        n = other.output.shape[1]
        return float((run.full.output[:, -n:] - other.output).abs().max()), ""

    return measure


# ---- factories ------------------------------------------------------------------------------------------------

def relative_attention_claim(families: Sequence[str] = ("gpt2", "llama", "llama-gqa", "bert"), reference: str = "same") -> Claim:
    return Claim(
        id="impl.peft_prefix.relative_attention",
        title="peft prefix-tuning, layer 0: content attention is the base model's scaled by 1 - alpha_i, and the "
              "head output is (1 - alpha_i) t_i + sum_m A^pt_im v_m with v_m the injected values",
        paper_ref="Sec. 4, eqs. (2)-(6) (no. unconfirmed) in peft; notes 5 items 1, 3, 4, 6",
        statement=r"A^{pt}_{ij}=(1-\alpha_i)A_{ij},\ t^{pt}_i=(1-\alpha_i)t_i+\sum_m A^{pt}_{im}v_m"
                  r"\ \text{(layer 0, base model at the same content positions)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "the base model is run at the same content positions n_S.."),
        section=SECTION,
        numeric=peft_check("impl.relative_attention", relative_attention_measure(reference), families),
    )


def position_shift_claim(families: Sequence[str] = ("gpt2", "bert"), with_rope_note: bool = True) -> Claim:
    return Claim(
        id="impl.peft_prefix.position_shift",
        title="(false for absolute positions) peft's renormalised content attention equals the base model's on the "
              "same content at positions 0, 1, ...",
        paper_ref="Sec. 4 (relative attention; not under peft's absolute-position shift); notes 1.2, 5 item 1",
        statement=r"A^{pt}_{ij}/\textstyle\sum_r A^{pt}_{ir}=A_{ij}\ \text{(peft content at }n_S..\text{, base at }0..)",
        assumptions=(*PEFT, CONTENT_AT_NS, "learned absolute position embeddings (GPT-2, BERT)"),
        expected="fails", section=SECTION,
        numeric=peft_check("impl.position_shift", shift_measure, families,
                           extra=rope_note if with_rope_note else None),
    )


def rope_shift_claim(tol: Optional[float] = None) -> Claim:
    return Claim(
        id="impl.peft_prefix.rope_position_shift",
        title="with RoPE (LLaMA) the shift to positions n_S.. leaves the relative content attention unchanged, up "
              "to the float32 rounding the model computes in",
        paper_ref="Sec. 4 (the LLaMA check E5, RoPE); notes 5 items 1, 4",
        statement=r"|A^{pt}_{ij}/\textstyle\sum_r A^{pt}_{ir}-A_{ij}|\le\varepsilon_{32}\ \text{(RoPE)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "rotary positions: logits depend on i - j only",
                     "tolerance: float32 (LLaMA's softmax, RMSNorm and RoPE tables are float32)"),
        section=SECTION,
        numeric=peft_check("impl.rope_position_shift", shift_measure, ("llama", "llama-gqa"), tol=tol),
    )


def zero_init_claim(families: Sequence[str] = ("gpt2", "llama", "llama-gqa", "bert"), count_offset: int = 0) -> Claim:
    return Claim(
        id="impl.peft_prefix.zero_init_not_noop",
        title="peft's zero-initialised prefix is not a no-op: every head output is scaled by 1 - alpha_i with "
              "alpha_i = n_S / (n_S + sum_j exp(l_ij))",
        paper_ref="Sec. 4, eqs. (2)-(6) (no. unconfirmed) with k_m = v_m = 0; notes 5 items 2, 3, 6",
        statement=r"t^{pt}_i=(1-\alpha_i)t_i,\ \alpha_i=\frac{n_S}{n_S+\sum_j e^{\ell_{ij}}}\ \text{(layer 0)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "PrefixTuningConfig(init_weights='zero')"),
        section=SECTION,
        numeric=peft_check("impl.zero_init", zero_init_measure(count_offset), families),
    )


def prompt_is_prefix_claim(families: Sequence[str] = ("gpt2", "llama", "llama-gqa")) -> Claim:
    return Claim(
        id="impl.peft_prompt.is_prefix",
        title="peft prompt tuning in a causal model equals prefix-tuning whose per-layer keys / values are the "
              "frozen model's keys / values of the virtual tokens alone",
        paper_ref="Sec. 2-3 (soft prompting is a prefix); notes 1.2, 5 items 9, 10",
        statement=r"\mathrm{PT}(s_{1..n_S};X)=\mathrm{Prefix}\big(k^{(l)}_m=W_K^{(l)}h^{(l)}_m(s),"
                  r"v^{(l)}_m=W_V^{(l)}h^{(l)}_m(s)\big)(X)",
        assumptions=(*PEFT, "causal mask (the prompt positions never see the content)",
                     "virtual tokens at positions 0..n_S-1, content at n_S.. in both"),
        section=SECTION,
        numeric=peft_check("impl.prompt_is_prefix", prompt_measure, families),
    )


def kv_text_claim(families: Sequence[str] = ("gpt2", "llama", "llama-gqa"), convention: str = "peft") -> Claim:
    return Claim(
        id="impl.kv_from_text.equals_prompting",
        title="a prefix initialised from a real prompt's key/value cache gives the base model's logits on "
              "prompt + content, when the content continues at positions n_S, n_S+1, ... (peft's convention)",
        paper_ref="Sec. 2-3 (prompting is a special prefix); notes 1.2, 5 item 10",
        statement=r"\mathrm{Prefix}\big(\mathrm{KV}(S)\big)(X)=f(S\,X)_{n_S..}\ \text{(prompt cached at }"
                  r"0..n_S-1\text{, content at } n_S..)",
        assumptions=(*PEFT, "causal mask", "S cached at positions 0..n_S-1; content at n_S.. (peft's default, "
                     "the only one peft allows); content at 0.. breaks it for absolute and rotary positions"),
        section=SECTION,
        numeric=peft_check("impl.kv_from_text", text_measure(convention), families),
    )


CLAIMS = [
    relative_attention_claim(),
    position_shift_claim(),
    rope_shift_claim(),
    zero_init_claim(),
    prompt_is_prefix_claim(),
    kv_text_claim(),
]
