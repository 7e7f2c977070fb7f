"""The measurements behind the ``impl.*`` claims (paper-notes 1.2; 5 items 1-4, 6, 9, 10): one random instance of a
real peft-wrapped model against the real base model, read by `numeric.hf_audit`, reduced to one number.

A `Measure` maps (model spec, `Setup`, float64 tolerance) to (error, tolerance, note): the worst deviation from the
statement, the tolerance the dtype probe gives for that pass (`numeric.hf_audit.tolerance`) and a note for the
report. `measure_models` runs one measure over seeded instances of several representative models.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from numeric import hf_theory as th
from numeric.hf import quiet
from numeric.hf_audit import PrefixRun, Setup, prefixed_pairs, run_prefix, run_prompt, run_text, tolerance
from numeric.hf_build import PRESETS, ModelSpec
from numeric.hf_capture import AttentionCall

Measure = Callable[[ModelSpec, Setup, float], tuple[float, float, str]]  # (spec, setup, tol64) -> (error, tol, note)

_VARIANTS = {"phi-partial-rotary": ModelSpec(model_type="phi", overrides={"partial_rotary_factor": 0.5},
                                             label="phi-partial-rotary"),
             "bloom-alibi": ModelSpec(model_type="bloom", label="bloom-alibi")}


def representative(name: str) -> ModelSpec:
    """The `ModelSpec` of a representative name: a position-scheme variant (``phi-partial-rotary``: half the
    dimensions rotated; ``bloom-alibi``), a preset shorthand, or a model type."""
    return _VARIANTS.get(name) or PRESETS.get(name) or ModelSpec(model_type=name)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _first(run: PrefixRun, reference: str = "same") -> tuple[int, AttentionCall, AttentionCall]:
    """(index, prefixed call, reference call) of the first attention that received the prefix; the reference is the
    base model at peft's content positions n_S.. (``same``) or at 0.. (``shifted``)."""
    R = run.same if reference == "same" else run.shifted
    return next((i, P, Q) for i, P, Q in prefixed_pairs(run.P, R) if P.n_pre > 0)


def relative_attention_measure(reference: str = "same") -> Measure:
    """First prefixed attention: max over heads of |A_ij - (1-alpha_i) A^0_ij|, of the renormalised difference and
    of |t_i - (1-alpha_i) t^0_i - sum_m A_im v_m| against the base model at the content positions peft used
    (``reference="shifted"``: at 0.., a false twin for absolute positions)."""

    def measure(model: ModelSpec, setup: Setup, tol64: float) -> tuple[float, float, str]:
        run = run_prefix(model, setup)
        i, P, R = _first(run, reference)
        error = max(float(th.relative_attention(P, R).max()), float(th.renormalised_attention(P, R).max()),
                    float(th.head_output(P, R).max()))
        return error, tolerance(run.P, i, tol64)[0], ""

    return measure


def shift_measure() -> Measure:
    """First prefixed attention: max |renormalised A_ij - A^0_ij| with the base model's content at 0, 1, ..."""

    def measure(model: ModelSpec, setup: Setup, tol64: float) -> tuple[float, float, str]:
        run = run_prefix(model, setup)
        i, P, S = _first(run, "shifted")
        return float(th.renormalised_attention(P, S).max()), tolerance(run.P, i, tol64)[0], ""

    return measure


def zero_init_measure(count_offset: int = 0) -> Measure:
    """peft ``init_weights="zero"``, first prefixed attention: max of |alpha_i - sigma(LSE_m S~_im - LSE_j S~^0_ij)|
    (zero keys: a prefix score is its position bias alone, b_im - S_ii, so without a bias alpha_i = n_S / (n_S +
    sum_j e^{l_ij})) and |t_i - (1-alpha_i) t^0_i|; a nonzero ``count_offset`` counts n_S + count_offset prefix
    terms (a false twin). Also requires the prefix to change the output (not a no-op)."""

    def measure(model: ModelSpec, setup: Setup, tol64: float) -> tuple[float, float, str]:
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


def prompt_measure() -> Measure:
    """Prompt tuning vs prefix-tuning with the virtual tokens' per-layer keys / values: the worst difference of the
    content's head outputs (every layer) and of the outputs."""

    def measure(model: ModelSpec, setup: Setup, tol64: float) -> tuple[float, float, str]:
        _, run = run_prompt(model, setup)
        heads = max(float(th.heads_after(F, Q).max())
                    for F, Q in zip(run.full.self_calls(), run.prefixed.self_calls()))
        n = run.prefixed.output.shape[1]
        out = float((run.full.output[:, -n:] - run.prefixed.output).abs().max())
        return max(heads, out), tolerance(run.full, len(run.full.calls) - 1, tol64)[0], ""

    return measure


def text_measure(convention: str = "peft") -> Measure:
    """A prefix loaded from a hard prompt's key/value cache vs the base model on prompt + content: the worst output
    difference over the content. ``"peft"``: content at n_S.. (what peft does); ``"zero"``: at 0.. (a false twin)."""

    def measure(model: ModelSpec, setup: Setup, tol64: float) -> tuple[float, float, str]:
        _, run = run_text(model, setup)
        other = run.prefixed if convention == "peft" else run.at_zero
        if other is None:
            return float("inf"), 0.0, " (the model takes no position ids: content cannot be put at 0..)"
        n = other.output.shape[1]
        return (float((run.full.output[:, -n:] - other.output).abs().max()),
                tolerance(run.full, len(run.full.calls) - 1, tol64)[0], "")

    return measure


MEASURES: dict[str, Callable[..., Measure]] = {
    "relative_attention": relative_attention_measure, "shift": shift_measure, "zero_init": zero_init_measure,
    "prompt": prompt_measure, "text": text_measure}
"""The measures by name, so that a claim can name its measure without importing torch (`proofs.impl_checks`)."""


@dataclass(frozen=True)
class Measured:
    """One instance: model name, seed, error, the tolerance it is held to and the measure's note."""

    model: str
    seed: int
    error: float
    tol: float
    note: str

    @property
    def ok(self) -> bool:
        return self.error <= self.tol  # False for NaN


def measure_models(measure: Measure, names: Sequence[str], instances: int, base_seed: int, tol64: float,
                   tol: float | None = None) -> list[list[Measured]]:
    """Per model name, ``instances`` seeded random setups (seeds ``base_seed + 10 k``), each held to ``tol`` if
    given, else to the probed tolerance; transformers' logging silenced. Raises `numeric.hf.HFUnavailable` or
    `numeric.hf.PeftUnsupported` when the stack cannot run."""
    out: list[list[Measured]] = []
    with quiet():
        for name in names:
            rows = []
            for k in range(instances):
                seed = base_seed + 10 * k
                error, probed, note = measure(representative(name), Setup(seed=seed), tol64)
                rows.append(Measured(name, seed, error, tol if tol is not None else probed, note))
            out.append(rows)
    return out
