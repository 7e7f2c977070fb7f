"""Experiments on real transformers + peft models, and the per-layer, per-head audit built from them.

Three experiments, each comparing a real peft-wrapped model with the real base model (numeric.hf):

* `run_prefix`: peft prefix-tuning (random raw prefix, or peft's ``init_weights="zero"``) on content X, against
  the base model on X at the positions peft gives the content (n_S, n_S+1, ...) and at positions 0, 1, ...
* `run_prompt`: peft prompt tuning against prefix-tuning whose per-layer keys / values are the frozen model's
  keys / values of the virtual tokens alone (paper-notes 1.2 hierarchy; 5 items 9, 10).
* `run_text`: a prefix loaded from the key/value cache of a real (hard-token) prompt S against the base model on
  S + X; the prefix model is run with peft's position convention (content at n_S, ...) and with the content
  at 0, 1, ....

`audit` turns them into `Measure` rows: one quantity at one layer, the worst deviation per head, the tolerance,
whether the theory predicts it holds there, and the assumption that decides it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch

from numeric import hf_theory as th
from numeric.hf import Family, Size, Trace, build_base, fresh_copy, load_prefix, prefix_cache, \
    quiet, random_tokens, trace, versions, with_prefix_cache, wrap

FLOAT32_TOL = 1e-5
"""Tolerance for families that compute parts in float32 (LLaMA's softmax, RMSNorm, RoPE tables): the float32
unit roundoff 2^-24 ~ 6e-8, times the few hundred roundings that accumulate through a tiny model."""


def tolerance(fam: Family, tol64: float) -> float:
    """The tolerance an exact identity gets on ``fam``: ``tol64`` if it computes in float64, else float32's."""
    return max(tol64, FLOAT32_TOL) if fam.float32_parts else tol64


@dataclass(frozen=True)
class Setup:
    """One random instance: base weights N(0, init_std^2), prefix / prompt N(0, prefix_std^2) (0: peft's zero
    prefix), n content tokens in ``batch`` sequences; seeds derived from ``seed``."""

    seed: int = 0
    n_S: int = 3
    n: int = 6
    batch: int = 2
    init_std: float = 0.3
    prefix_std: float = 1.0
    size: Size = Size()

    @property
    def seeds(self) -> dict[str, int]:
        return {"model": self.seed, "prefix": self.seed + 1, "tokens": self.seed + 2}


def _content(setup: Setup) -> torch.Tensor:
    return random_tokens(setup.n, setup.size.vocab, setup.seeds["tokens"], setup.batch)


def _at(positions: torch.Tensor, batch: int) -> torch.Tensor:
    return positions.unsqueeze(0).expand(batch, -1)


@dataclass
class PrefixRun:
    P: Trace  # peft prefix-tuned model on X
    same: Trace  # base model on X at the positions peft gave the content
    shifted: Trace  # base model on X at positions 0..n-1
    keys: list[torch.Tensor]  # injected raw prefix keys per layer, (H, n_S, d_h)
    values: list[torch.Tensor]
    zero: bool


def run_prefix(fam: Family, setup: Setup) -> PrefixRun:
    zero = setup.prefix_std == 0
    base = build_base(fam, setup.seeds["model"], setup.size, setup.init_std)
    model = wrap(fam, base, "prefix", setup.n_S, seed=setup.seeds["prefix"], init_std=setup.prefix_std, zero=zero)
    X = _content(setup)
    P = trace(fam, base, model, input_ids=X)
    same = trace(fam, base, input_ids=X, position_ids=_at(P.positions, setup.batch))
    shifted = trace(fam, base, input_ids=X, position_ids=_at(torch.arange(setup.n), setup.batch))
    keys, values = prefix_cache(model)
    return PrefixRun(P, same, shifted, keys, values, zero)


@dataclass
class PromptRun:
    full: Trace  # the prompted run: n_S prompt positions then the content
    alone: Trace  # the frozen model on the prompt alone (batch 1)
    prefixed: Trace  # prefix-tuning with the prompt's per-layer keys / values, content at n_S.. (peft's default)
    at_zero: Optional[Trace] = None  # the same prefix, content at positions 0..n-1 (text experiment only)


def _kv(T: Trace) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-layer keys / values of the pass's first sequence, one per key/value head (what a cache stores)."""
    pairs = [L.kv_heads() for L in T.layers]
    return [k for k, _ in pairs], [v for _, v in pairs]


def run_prompt(fam: Family, setup: Setup) -> PromptRun:
    """Soft prompt (peft prompt tuning) against the prefix of its virtual tokens' per-layer keys / values."""
    base = build_base(fam, setup.seeds["model"], setup.size, setup.init_std)
    prompted = wrap(fam, base, "prompt", setup.n_S, seed=setup.seeds["prefix"], init_std=setup.prefix_std)
    X = _content(setup)
    full = trace(fam, base, prompted, input_ids=X)
    virtual = prompted.prompt_encoder[prompted.active_adapter].embedding.weight.detach()
    alone = trace(fam, base, inputs_embeds=virtual.unsqueeze(0))
    other = fresh_copy(base)
    prefix_model = wrap(fam, other, "prefix", setup.n_S, seed=setup.seeds["prefix"], init_std=None)
    load_prefix(prefix_model, *_kv(alone))
    prefixed = trace(fam, other, prefix_model, input_ids=X)
    return PromptRun(full, alone, prefixed)


def run_text(fam: Family, setup: Setup) -> PromptRun:
    """A hard prompt S: the base model on S + X against a prefix loaded from S's key/value cache."""
    base = build_base(fam, setup.seeds["model"], setup.size, setup.init_std)
    X = _content(setup)
    S = random_tokens(setup.n_S, setup.size.vocab, setup.seeds["prefix"], 1)
    full = trace(fam, base, input_ids=torch.cat([S.expand(setup.batch, -1), X], dim=1))
    alone = trace(fam, base, input_ids=S)
    other = fresh_copy(base)
    prefix_model = wrap(fam, other, "prefix", setup.n_S, seed=setup.seeds["prefix"], init_std=None)
    load_prefix(prefix_model, *_kv(alone))
    prefixed = trace(fam, other, prefix_model, input_ids=X)
    at_zero = with_prefix_cache(fam, base, *_kv(alone), input_ids=X,
                                position_ids=_at(torch.arange(setup.n), setup.batch))
    return PromptRun(full, alone, prefixed, at_zero)


# ---- the audit ------------------------------------------------------------------------------------------------

@dataclass
class Measure:
    quantity: str
    layer: int
    per_head: list[float]
    tol: float
    expect: str  # "holds" (deviation <= tol predicted) or "deviates"
    assumption: str

    @property
    def worst(self) -> float:
        return max(self.per_head)

    @property
    def holds(self) -> bool:
        return self.worst <= self.tol

    @property
    def as_expected(self) -> bool:
        return self.holds == (self.expect == "holds")


@dataclass
class Audit:
    family: str
    method: str
    setup: dict[str, Any]
    positions: dict[str, list[int]]
    measures: list[Measure]
    outputs: dict[str, float]
    notes: list[str]
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, Optional[str]] = field(default_factory=versions)
    seconds: float = 0.0

    @property
    def unexpected(self) -> list[Measure]:
        return [m for m in self.measures if not m.as_expected]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for row, m in zip(out["measures"], self.measures):
            row.update(worst=m.worst, holds=m.holds, as_expected=m.as_expected)
        return out


DEEPER = "deeper layer: earlier layers' prefixes changed this layer's inputs (paper-notes 5 item 17)"
def _exact(fam: Family) -> str:
    return "up to the float32 parts (see note)" if fam.float32_parts else "exact in float64"


def _prefix_measures(fam: Family, run: PrefixRun, n_S: int, tol: float) -> list[Measure]:
    out: list[Measure] = []
    exact = _exact(fam)
    for l, (P, same, shifted) in enumerate(zip(run.P.layers, run.same.layers, run.shifted.layers)):
        K, V = run.keys[l], run.values[l]
        cond = (f"raw k_m, v_m injected (no norm, W_K/W_V or rotary): the paper's head with W_K s_m -> k_m, "
                f"W_V s_m -> v_m, given this layer's inputs; {exact}")
        out.append(Measure("A^pt = softmax(tau q.[k_m ; k_j]) (own inputs)", l,
                           th.conditional_attention(P, K, fam.causal).tolist(), tol, "holds", cond))
        out.append(Measure("t^pt = A^pt [v_m ; v_j] (own inputs)", l, th.conditional_output(P, V).tolist(), tol,
                           "holds", cond))
        if run.zero:
            out.append(Measure("alpha = n_S/(n_S + sum_j e^l_ij) (zero prefix, own inputs)", l,
                               th.zero_prefix_alpha_error(P, P, n_S, fam.causal).tolist(), tol, "holds",
                               f"zero keys give l_im = 0; {exact}"))
        first = l == 0
        why_same = (f"first layer, base model at the same content positions; {exact}" if first else DEEPER)
        out.append(Measure("A^pt_ij = (1-alpha_i) A_ij vs base, same positions", l,
                           th.relative_attention(P, same, n_S).tolist(), tol, "holds" if first else "deviates",
                           why_same))
        bias = "t^pt = (1-alpha) t (zero prefix)" if run.zero else "t^pt = (1-alpha) t + sum A^pt_im v_m"
        out.append(Measure(f"{bias} vs base, same positions", l,
                           (th.zero_prefix_output(P, same, n_S, fam.causal) if run.zero
                            else th.head_output(P, same, n_S, V)).tolist(), tol,
                           "holds" if first else "deviates", why_same))
        if run.zero and first:
            out.append(Measure("alpha = n_S/(n_S + sum_j e^l_ij) vs base q, k", l,
                               th.zero_prefix_alpha_error(P, same, n_S, fam.causal).tolist(), tol, "holds",
                               f"zero keys give l_im = 0 in every head; {exact}"))
        if fam.positions == "rope":
            why_shift = ("RoPE logits depend on i - j only; the base model at 0.. differs by the float32 "
                         "rounding of the cos/sin tables and softmax" if first else DEEPER)
            expect = "holds" if first else "deviates"
        else:
            why_shift = ("learned absolute positions: peft moves the content to positions n_S.., so the base "
                         "model at 0.. sees different inputs (paper-notes 5 item 1, 'fails if')")
            expect = "deviates"
        out.append(Measure("renormalised A^pt vs base at positions 0..", l,
                           th.renormalised_attention(P, shifted, n_S).tolist(), tol, expect, why_shift))
        if fam.positions == "rope" and first:
            drift = th._worst(th.content_logits(same, fam.causal).nan_to_num(0.0, 0.0, 0.0)
                              - th.content_logits(shifted, fam.causal).nan_to_num(0.0, 0.0, 0.0))
            out.append(Measure("content logits l_ij at n_S.. vs at 0.. (RoPE shift)", l, drift.tolist(), tol,
                               "holds", "RoPE is relative; the drift is the float32 rounding of the angles "
                                        "p * theta and of cos/sin"))
    return out


def _prompt_measures(fam: Family, run: PromptRun, n_S: int, tol: float, text: bool) -> list[Measure]:
    out: list[Measure] = []
    exact = _exact(fam)
    what = "the hard prompt S" if text else "the virtual tokens"
    for l, (F, A, Q) in enumerate(zip(run.full.layers, run.alone.layers, run.prefixed.layers)):
        independent = fam.causal or l == 0
        why = (f"causal mask: the prompt positions never see the content; {exact}" if fam.causal else
               (f"first layer: embeddings are per position; {exact}" if l == 0 else
                "bidirectional attention: the prompt's states depend on the content (paper-notes 5 item 10)"))
        out.append(Measure(f"prompt-position k, v = those of {what} alone", l, th.states(F, A, n_S).tolist(), tol,
                           "holds" if independent else "deviates", why))
        expect = "holds" if (fam.causal or l == 0) else "deviates"
        out.append(Measure(f"content A = prefix-tuning with {what}' k, v", l,
                           th.attention_after(F, Q).tolist(), tol, expect, why))
        out.append(Measure(f"content t = prefix-tuning with {what}' k, v", l, th.heads_after(F, Q).tolist(), tol,
                           expect, why))
        if run.at_zero is not None:
            Z = run.at_zero.layers[l]
            reason = ("the prefix was cached at positions 0..n_S-1: content at 0.. changes the "
                      + ("absolute position embeddings" if fam.positions == "absolute"
                         else "relative offsets i - m between content and prefix"))
            out.append(Measure("content t, prefix model with content at 0.. (other convention)", l,
                               th.heads_after(F, Z).tolist(), tol, "deviates", reason))
    return out


def _output_gap(full: Trace, other: Trace) -> float:
    n = other.output.shape[1]
    return float((full.output[:, -n:] - other.output).abs().max())


def audit(fam: Family, method: str, setup: Setup, tol64: float = 1e-10) -> Audit:
    """Run the experiment of ``method`` on ``fam`` and measure every identity per layer and head."""
    start = time.perf_counter()
    tol = tolerance(fam, tol64)
    notes: list[str] = []
    with quiet() as captured:
        if method == "prefix":
            run = run_prefix(fam, setup)
            measures = _prefix_measures(fam, run, setup.n_S, tol)
            positions = {"content (peft prefix)": run.P.positions.tolist(),
                         "base, same positions": run.same.positions.tolist(),
                         "base, shifted": run.shifted.positions.tolist()}
            outputs = {"max |out_peft - out_base| (same positions)": _output_gap(run.same, run.P),
                       "max |out_peft - out_base| (positions 0..)": _output_gap(run.shifted, run.P)}
            if run.zero:
                notes.append("peft's init_weights='zero' prefix is not a no-op: every head's output is scaled by "
                             "1 - alpha_i, alpha_i = n_S / (n_S + sum_j exp(l_ij))")
        elif method in ("prompt", "text"):
            run = run_text(fam, setup) if method == "text" else run_prompt(fam, setup)
            measures = _prompt_measures(fam, run, setup.n_S, tol, text=method == "text")
            positions = {"prompted run": run.full.positions.tolist(),
                         "prompt alone": run.alone.positions.tolist(),
                         "content under the prefix": run.prefixed.positions.tolist()}
            outputs = {"max |out_prompted - out_prefix| (content)": _output_gap(run.full, run.prefixed)}
            if run.at_zero is not None:
                positions["content at 0.. (other convention)"] = run.at_zero.positions.tolist()
                outputs["max |out_prompted - out_prefix| (content at 0..)"] = _output_gap(run.full, run.at_zero)
        else:
            raise KeyError(f"unknown method {method!r}")
    if fam.float32_parts:
        notes.append(f"{fam.name} computes in float32 even in a float64 model: {'; '.join(fam.float32_parts)}; "
                     f"identities are checked at tolerance {tol:g}")
    return Audit(family=fam.name, method=method, setup={**asdict(setup), "seeds": setup.seeds}, positions=positions,
                 measures=measures, outputs=outputs, notes=notes, warnings=captured,
                 seconds=time.perf_counter() - start)
