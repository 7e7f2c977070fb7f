"""Real implementations: Hugging Face transformers + peft prefix-tuning and prompt tuning (paper-notes 1.2; 5
items 1-4, 6, 9, 10; E5), across position schemes.

Each claim compares a real peft-wrapped model with the real base model, on tiny random models built offline from
the default configs of transformers model types (`numeric.hf_build`), read by the generic attention capture
(`numeric.hf_capture`). The representative set covers learned absolute positions (gpt2, bert: bidirectional),
RoPE (llama; llama-gqa: grouped keys), partial rotary (phi with half the dimensions rotated), ALiBi (bloom) and
relative position buckets (t5, decoder self-attention). The checks are numeric: CONSISTENT within the tolerance
the dtype probe sets for that pass (``ctx.tol`` in float64; 1e-5 where the model computes in float32), VIOLATED
with the model, seed and error otherwise.

The factories (`relative_attention_claim`, ...) are public so tests can build false twins.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from proofs.claim import Check, Claim, Context, LayerResult, Status

SECTION = "impl transformers+peft"
PEFT = ("peft prefix-tuning without projection: raw per-layer keys k_m and values v_m injected as a cache "
        "(no norm, no W_K / W_V, no rotary on the prefix keys)",
        "tiny random models from default configs, float64 where the kernels allow, eager attention, eval mode")
CONTENT_AT_NS = "peft gives the content positions n_S, n_S+1, ... (it offsets any user position_ids by n_S)"

ABSOLUTE = ("gpt2", "bert")
RELATIVE = ("llama", "llama-gqa", "phi-partial-rotary", "bloom-alibi", "t5")
CAUSAL = ("gpt2", "llama", "llama-gqa", "phi-partial-rotary", "bloom-alibi")
ALL = ABSOLUTE + RELATIVE


def spec(name: str) -> Any:
    """The `ModelSpec` of a representative name (a model type, a shorthand, or a position-scheme variant)."""
    from numeric.hf_build import PRESETS, ModelSpec

    variants = {"phi-partial-rotary": ModelSpec(model_type="phi", overrides={"partial_rotary_factor": 0.5},
                                                label="phi-partial-rotary"),
                "bloom-alibi": ModelSpec(model_type="bloom", label="bloom-alibi")}
    return variants.get(name) or PRESETS.get(name) or ModelSpec(model_type=name)


Measure = Callable[[Any, Any, float], tuple[float, float, str]]  # (spec, setup, tol64) -> (error, tol, note)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def peft_check(label: str, measure: Measure, names: Sequence[str], *, tol: float | None = None,
               extra: Callable[[Context], str] | None = None) -> Check:
    """Numeric check over random setups per model (``ctx.instances // 500``, at least 1): the worst ``measure``
    error against the tolerance the dtype probe gave (``tol`` overrides it). ``extra(ctx)`` may append a note."""

    def check(ctx: Context) -> LayerResult:
        from numeric.hf import HFUnavailable, PeftUnsupported, quiet
        from numeric.hf_audit import Setup

        instances = max(1, ctx.instances // 500)
        parts: list[str] = []
        worst: dict[str, Any] | None = None
        failed: dict[str, Any] | None = None
        base_seed = ctx.child_seed(label)
        try:
            with quiet():
                for name in names:
                    errors, notes, limits = [], [], []
                    for k in range(instances):
                        seed = base_seed + 10 * k
                        error, probed, note = measure(spec(name), Setup(seed=seed), ctx.tol)
                        limit = tol if tol is not None else probed
                        errors.append(error)
                        notes.append(note)
                        limits.append(limit)
                        row = {"model": name, "seed": seed, "error": error, "tol": limit, "note": note}
                        if worst is None or error > worst["error"]:
                            worst = row
                        if not error <= limit and (failed is None or error > failed["error"]):
                            failed = row
                    spread = f"{_fmt(min(errors))}..{_fmt(max(errors))}" if len(errors) > 1 else _fmt(errors[0])
                    parts.append(f"{name} {spread} (tol {max(limits):g}){notes[errors.index(max(errors))]}")
                note = extra(ctx) if extra is not None else ""
        except (HFUnavailable, PeftUnsupported) as exc:
            return LayerResult(Status.UNKNOWN, str(exc))
        summary = f"error per model: {', '.join(parts)}; {instances} random inits each, seeds from {base_seed}"
        count = instances * len(names)
        if failed is not None:
            return LayerResult(Status.VIOLATED, f"{failed['model']}: error {_fmt(failed['error'])} > "
                               f"{failed['tol']:g} (seed {failed['seed']}){failed['note']}; {summary}{note}",
                               max_error=failed["error"], instances=count, witness=failed)
        return LayerResult(Status.CONSISTENT, summary + note, max_error=worst["error"] if worst else 0.0,
                           instances=count)

    return check


# ---- measures -------------------------------------------------------------------------------------------------

def _first(run: Any, reference: str = "same") -> tuple[int, Any, Any]:
    """(index, prefixed call, reference call) of the first attention that received the prefix."""
    from numeric.hf_audit import _pairs

    R = getattr(run, reference)
    return next((i, P, Q) for i, P, Q in _pairs(run.P, R) if P.n_pre > 0)


def relative_attention_measure(reference: str = "same") -> Measure:
    """First prefixed attention: max over heads of |A_ij - (1-alpha_i) A^0_ij|, of the renormalised difference and
    of |t_i - (1-alpha_i) t^0_i - sum_m A_im v_m| against the base model at the content positions peft used
    (``reference="shifted"``: at 0.., a false twin for absolute positions)."""

    def measure(model: Any, setup: Any, tol64: float) -> tuple[float, float, str]:
        from numeric import hf_theory as th
        from numeric.hf_audit import run_prefix, tolerance

        run = run_prefix(model, setup)
        i, P, R = _first(run, reference)
        error = max(float(th.relative_attention(P, R).max()), float(th.renormalised_attention(P, R).max()),
                    float(th.head_output(P, R).max()))
        return error, tolerance(run.P, i, tol64)[0], ""

    return measure


def shift_measure(model: Any, setup: Any, tol64: float) -> tuple[float, float, str]:
    """First prefixed attention: max |renormalised A_ij - A^0_ij| with the base model's content at 0, 1, ..."""
    from numeric import hf_theory as th
    from numeric.hf_audit import run_prefix, tolerance

    run = run_prefix(model, setup)
    i, P, S = _first(run, "shifted")
    return float(th.renormalised_attention(P, S).max()), tolerance(run.P, i, tol64)[0], ""


def zero_init_measure(count_offset: int = 0) -> Measure:
    """peft ``init_weights="zero"``, first prefixed attention: max of |alpha_i - sigma(LSE_m S~_im - LSE_j S~^0_ij)|
    (zero keys: a prefix score is its position bias alone, b_im - S_ii, so without a bias alpha_i = n_S / (n_S +
    sum_j e^{l_ij})) and |t_i - (1-alpha_i) t^0_i|; a nonzero ``count_offset`` counts n_S + count_offset prefix
    terms (a false twin). Also requires the prefix to change the output (not a no-op)."""

    def measure(model: Any, setup: Any, tol64: float) -> tuple[float, float, str]:
        import math
        from dataclasses import replace

        import torch

        from numeric import hf_theory as th
        from numeric.hf_audit import run_prefix, tolerance

        run = run_prefix(model, replace(setup, prefix_std=0.0))
        i, P, R = _first(run)
        if P.k[..., :P.n_pre, :].abs().max() != 0 or P.v[..., :P.n_pre, :].abs().max() != 0:
            return float("inf"), 0.0, " (peft's zero prefix is not zero)"
        pre = torch.logsumexp(th.relative_scores(P)[..., :P.n_pre], -1, keepdim=True)  # zero keys: S~_im = b_im - S_ii
        pre = pre + math.log((P.n_pre + count_offset) / P.n_pre)
        con = torch.logsumexp(th.relative_scores(R)[..., R.n_pre:], -1, keepdim=True)
        alpha = torch.sigmoid(pre - con)
        error = max(float((th.mass(P) - alpha).abs().max()), float((P.heads - (1 - alpha) * R.heads).abs().max()))
        gap = float((run.P.output - run.same.output).abs().max())
        if gap <= 1e-6:
            return float("inf"), 0.0, f" (the zero prefix was a no-op: output change {_fmt(gap)})"
        m = th.mass(P)
        return error, tolerance(run.P, i, tol64)[0], (f" [not a no-op: output moves by {_fmt(gap)}; alpha in "
                                                      f"{_fmt(float(m.min()))}..{_fmt(float(m.max()))}]")

    return measure


def prompt_measure(model: Any, setup: Any, tol64: float) -> tuple[float, float, str]:
    """Prompt tuning vs prefix-tuning with the virtual tokens' per-layer keys / values: the worst difference of the
    content's head outputs (every layer) and of the outputs."""
    from numeric import hf_theory as th
    from numeric.hf_audit import run_prompt, tolerance

    _, run = run_prompt(model, setup)
    heads = max(float(th.heads_after(F, Q).max()) for F, Q in zip(run.full.self_calls(), run.prefixed.self_calls()))
    n = run.prefixed.output.shape[1]
    out = float((run.full.output[:, -n:] - run.prefixed.output).abs().max())
    return max(heads, out), tolerance(run.full, len(run.full.calls) - 1, tol64)[0], ""


def text_measure(convention: str = "peft") -> Measure:
    """A prefix loaded from a hard prompt's key/value cache vs the base model on prompt + content: the worst output
    difference over the content. ``"peft"``: content at n_S.. (what peft does); ``"zero"``: at 0.. (a false twin)."""

    def measure(model: Any, setup: Any, tol64: float) -> tuple[float, float, str]:
        from numeric.hf_audit import run_text, tolerance

        _, run = run_text(model, setup)
        other = run.prefixed if convention == "peft" else run.at_zero
        if other is None:
            return float("inf"), 0.0, " (the model takes no position ids: content cannot be put at 0..)"
        n = other.output.shape[1]
        return (float((run.full.output[:, -n:] - other.output).abs().max()),
                tolerance(run.full, len(run.full.calls) - 1, tol64)[0], "")

    return measure


# ---- factories ------------------------------------------------------------------------------------------------

def relative_attention_claim(names: Sequence[str] = ALL, reference: str = "same") -> Claim:
    return Claim(
        id="impl.peft_prefix.relative_attention",
        title="peft prefix-tuning, first prefixed attention: content attention is the base model's scaled by "
              "1 - alpha_i, and the head output is (1 - alpha_i) t_i + sum_m A^pt_im v_m, for absolute, rotary, "
              "partial-rotary, ALiBi and relative-bucket positions",
        paper_ref="Sec. 4, eqs. (2)-(6) (no. unconfirmed) in peft; notes 5 items 1, 3, 4, 6",
        statement=r"A^{pt}_{ij}=(1-\alpha_i)A_{ij},\ t^{pt}_i=(1-\alpha_i)t_i+\sum_m A^{pt}_{im}v_m"
                  r"\ \text{(layer 0, base model at the same content positions)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "the base model is run at the same content positions n_S.. (peft's cache "
                     "with the prefix masked out)", "every content query sees the whole prefix (no window)"),
        section=SECTION,
        numeric=peft_check("impl.relative_attention", relative_attention_measure(reference), names),
    )


def position_shift_claim(names: Sequence[str] = ABSOLUTE) -> Claim:
    return Claim(
        id="impl.peft_prefix.position_shift",
        title="(false for absolute positions) peft's renormalised content attention equals the base model's on the "
              "same content at positions 0, 1, ...",
        paper_ref="Sec. 4 (relative attention; not under peft's absolute-position shift); notes 1.2, 5 item 1",
        statement=(r"A^{pt}_{ij}/\textstyle\sum_r A^{pt}_{ir}=A_{ij}\ "
                   r"\text{(peft content at }n_S..\text{, base at }0..)"),
        assumptions=(*PEFT, CONTENT_AT_NS, "learned absolute position embeddings (gpt2, bert)"),
        expected="fails", section=SECTION,
        numeric=peft_check("impl.position_shift", shift_measure, names),
    )


def rope_shift_claim(names: Sequence[str] = RELATIVE, tol: float | None = None) -> Claim:
    return Claim(
        id="impl.peft_prefix.rope_position_shift",
        title="with relative positions (RoPE, partial rotary, ALiBi, relative buckets) the shift to positions n_S.. "
              "leaves the relative content attention unchanged, up to the rounding of the dtypes the model uses",
        paper_ref="Sec. 4 (the LLaMA check E5, RoPE; ALiBi, relative buckets); notes 5 items 1, 4",
        statement=r"|A^{pt}_{ij}/\textstyle\sum_r A^{pt}_{ir}-A_{ij}|\le\varepsilon\ \text{(relative positions)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "content logits and biases depend on i - j only",
                     "tolerance from the dtype probe (float32 rotary tables, ALiBi slopes and softmax: 1e-5)"),
        section=SECTION,
        numeric=peft_check("impl.rope_position_shift", shift_measure, names, tol=tol),
    )


def zero_init_claim(names: Sequence[str] = ALL, count_offset: int = 0) -> Claim:
    return Claim(
        id="impl.peft_prefix.zero_init_not_noop",
        title="peft's zero-initialised prefix is not a no-op: every head output is scaled by 1 - alpha_i with "
              "alpha_i = n_S / (n_S + sum_j exp(l_ij)) (each prefix term e^{b_im} under a position bias)",
        paper_ref="Sec. 4, eqs. (2)-(6) (no. unconfirmed) with k_m = v_m = 0; notes 5 items 2, 3, 6",
        statement=(r"t^{pt}_i=(1-\alpha_i)t_i,\ "
                   r"\alpha_i=\frac{\sum_m e^{b_{im}}}{\sum_m e^{b_{im}}+\sum_j e^{\ell_{ij}}}"
                   r"\ \text{(layer 0; } b=0 \text{ without a prefix bias)}"),
        assumptions=(*PEFT, CONTENT_AT_NS, "PrefixTuningConfig(init_weights='zero')"),
        section=SECTION,
        numeric=peft_check("impl.zero_init", zero_init_measure(count_offset), names),
    )


def prompt_is_prefix_claim(names: Sequence[str] = CAUSAL) -> Claim:
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
        numeric=peft_check("impl.prompt_is_prefix", prompt_measure, names),
    )


def kv_text_claim(names: Sequence[str] = CAUSAL, convention: str = "peft") -> Claim:
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
        numeric=peft_check("impl.kv_from_text", text_measure(convention), names),
    )


CLAIMS = [
    relative_attention_claim(),
    position_shift_claim(),
    rope_shift_claim(),
    zero_init_claim(),
    prompt_is_prefix_claim(),
    kv_text_claim(),
]
