"""Real implementations: Hugging Face transformers + peft prefix-tuning and prompt tuning (paper-notes 1.2; 5
items 1-4, 6, 9, 10; E5), across position schemes.

Each claim compares a real peft-wrapped model with the real base model, on tiny random models built offline from
the default configs of transformers model types (`numeric.hf_build`), read by the generic attention capture
(`numeric.hf_capture`). The representative set covers learned absolute positions (gpt2, bert: bidirectional),
RoPE (llama; llama-gqa: grouped keys), partial rotary (phi with half the dimensions rotated), ALiBi (bloom) and
relative position buckets (t5, decoder self-attention). The checks are numeric: CONSISTENT within the tolerance
the dtype probe sets for that pass (``ctx.tol`` in float64; 1e-5 where the model computes in float32), VIOLATED
with the model, seed and error otherwise.

The factories (`relative_attention_claim`, ...) are public so tests can build false twins. Each names its measure
(`numeric.hf_measures`); `proofs.impl_checks.peft_check` runs it.
"""
from __future__ import annotations

from collections.abc import Sequence

from proofs.claim import Check, Claim, Expected
from proofs.impl_checks import peft_check

SECTION = "impl transformers+peft"
PEFT = ("peft prefix-tuning without projection: raw per-layer keys k_m and values v_m injected as a cache "
        "(no norm, no W_K / W_V, no rotary on the prefix keys)",
        "tiny random models from default configs, float64 where the kernels allow, eager attention, eval mode")
CONTENT_AT_NS = "peft gives the content positions n_S, n_S+1, ... (it offsets any user position_ids by n_S)"

ABSOLUTE = ("gpt2", "bert")
RELATIVE = ("llama", "llama-gqa", "phi-partial-rotary", "bloom-alibi", "t5")
CAUSAL = ("gpt2", "llama", "llama-gqa", "phi-partial-rotary", "bloom-alibi")
ALL = ABSOLUTE + RELATIVE


def _claim(id: str, title: str, paper_ref: str, statement: str, assumptions: tuple[str, ...], numeric: Check,
           expected: Expected = "holds") -> Claim:
    """A numeric-only claim of this section."""
    return Claim(id=id, title=title, paper_ref=paper_ref, statement=statement, assumptions=assumptions,
                 expected=expected, section=SECTION, numeric=numeric)


def relative_attention_claim(names: Sequence[str] = ALL, reference: str = "same") -> Claim:
    return _claim(
        id="impl.peft_prefix.relative_attention",
        title="peft prefix-tuning, first prefixed attention: content attention is the base model's scaled by "
              "1 - alpha_i, and the head output is (1 - alpha_i) t_i + sum_m A^pt_im v_m, for absolute, rotary, "
              "partial-rotary, ALiBi and relative-bucket positions",
        paper_ref="Sec. 4, eqs. (2)-(6) (no. unconfirmed) in peft; notes 5 items 1, 3, 4, 6",
        statement=r"A^{pt}_{ij}=(1-\alpha_i)A_{ij},\ t^{pt}_i=(1-\alpha_i)t_i+\sum_m A^{pt}_{im}v_m"
                  r"\ \text{(layer 0, base model at the same content positions)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "the base model is run at the same content positions n_S.. (peft's cache "
                     "with the prefix masked out)", "every content query sees the whole prefix (no window)"),
        numeric=peft_check("impl.relative_attention", "relative_attention", names, reference=reference),
    )


def position_shift_claim(names: Sequence[str] = ABSOLUTE) -> Claim:
    return _claim(
        id="impl.peft_prefix.position_shift",
        title="(false for absolute positions) peft's renormalised content attention equals the base model's on the "
              "same content at positions 0, 1, ...",
        paper_ref="Sec. 4 (relative attention; not under peft's absolute-position shift); notes 1.2, 5 item 1",
        statement=(r"A^{pt}_{ij}/\textstyle\sum_r A^{pt}_{ir}=A_{ij}\ "
                   r"\text{(peft content at }n_S..\text{, base at }0..)"),
        assumptions=(*PEFT, CONTENT_AT_NS, "learned absolute position embeddings (gpt2, bert)"),
        expected="fails",
        numeric=peft_check("impl.position_shift", "shift", names),
    )


def rope_shift_claim(names: Sequence[str] = RELATIVE, tol: float | None = None) -> Claim:
    return _claim(
        id="impl.peft_prefix.rope_position_shift",
        title="with relative positions (RoPE, partial rotary, ALiBi, relative buckets) the shift to positions n_S.. "
              "leaves the relative content attention unchanged, up to the rounding of the dtypes the model uses",
        paper_ref="Sec. 4 (the LLaMA check E5, RoPE; ALiBi, relative buckets); notes 5 items 1, 4",
        statement=r"|A^{pt}_{ij}/\textstyle\sum_r A^{pt}_{ir}-A_{ij}|\le\varepsilon\ \text{(relative positions)}",
        assumptions=(*PEFT, CONTENT_AT_NS, "content logits and biases depend on i - j only",
                     "tolerance from the dtype probe (float32 rotary tables, ALiBi slopes and softmax: 1e-5)"),
        numeric=peft_check("impl.rope_position_shift", "shift", names, tol=tol),
    )


def zero_init_claim(names: Sequence[str] = ALL, count_offset: int = 0) -> Claim:
    return _claim(
        id="impl.peft_prefix.zero_init_not_noop",
        title="peft's zero-initialised prefix is not a no-op: every head output is scaled by 1 - alpha_i with "
              "alpha_i = n_S / (n_S + sum_j exp(l_ij)) (each prefix term e^{b_im} under a position bias)",
        paper_ref="Sec. 4, eqs. (2)-(6) (no. unconfirmed) with k_m = v_m = 0; notes 5 items 2, 3, 6",
        statement=(r"t^{pt}_i=(1-\alpha_i)t_i,\ "
                   r"\alpha_i=\frac{\sum_m e^{b_{im}}}{\sum_m e^{b_{im}}+\sum_j e^{\ell_{ij}}}"
                   r"\ \text{(layer 0; } b=0 \text{ without a prefix bias)}"),
        assumptions=(*PEFT, CONTENT_AT_NS, "PrefixTuningConfig(init_weights='zero')"),
        numeric=peft_check("impl.zero_init", "zero_init", names, count_offset=count_offset),
    )


def prompt_is_prefix_claim(names: Sequence[str] = CAUSAL) -> Claim:
    return _claim(
        id="impl.peft_prompt.is_prefix",
        title="peft prompt tuning in a causal model equals prefix-tuning whose per-layer keys / values are the "
              "frozen model's keys / values of the virtual tokens alone",
        paper_ref="Sec. 2-3 (soft prompting is a prefix); notes 1.2, 5 items 9, 10",
        statement=r"\mathrm{PT}(s_{1..n_S};X)=\mathrm{Prefix}\big(k^{(l)}_m=W_K^{(l)}h^{(l)}_m(s),"
                  r"v^{(l)}_m=W_V^{(l)}h^{(l)}_m(s)\big)(X)",
        assumptions=(*PEFT, "causal mask (the prompt positions never see the content)",
                     "virtual tokens at positions 0..n_S-1, content at n_S.. in both"),
        numeric=peft_check("impl.prompt_is_prefix", "prompt", names),
    )


def kv_text_claim(names: Sequence[str] = CAUSAL, convention: str = "peft") -> Claim:
    return _claim(
        id="impl.kv_from_text.equals_prompting",
        title="a prefix initialised from a real prompt's key/value cache gives the base model's logits on "
              "prompt + content, when the content continues at positions n_S, n_S+1, ... (peft's convention)",
        paper_ref="Sec. 2-3 (prompting is a special prefix); notes 1.2, 5 item 10",
        statement=r"\mathrm{Prefix}\big(\mathrm{KV}(S)\big)(X)=f(S\,X)_{n_S..}\ \text{(prompt cached at }"
                  r"0..n_S-1\text{, content at } n_S..)",
        assumptions=(*PEFT, "causal mask", "S cached at positions 0..n_S-1; content at n_S.. (peft's default, "
                     "the only one peft allows); content at 0.. breaks it for absolute and rotary positions"),
        numeric=peft_check("impl.kv_from_text", "text", names, convention=convention),
    )



CLAIMS = [
    relative_attention_claim(),
    position_shift_claim(),
    rope_shift_claim(),
    zero_init_claim(),
    prompt_is_prefix_claim(),
    kv_text_claim(),
]
