"""Numeric experiments on whole reference transformers (`numeric.model`): soft prompts vs prefixes, position
shifts, and deeper layers (paper-notes 1.2, 2.2 items 9-10, 2.3; section 5 items 1, 9, 10, 17, 22).

Every function draws its models and inputs from ``seed`` and returns a `Finding`: the largest discrepancy of the
identity it measures and, with it, a witness that names where it occurs (so a violation can be reproduced).
Models are small (width 8, two heads, two layers) so a sweep over all 40 variants takes seconds.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from numeric.model import NORMS, POSITIONS, Config, ConfigError, Output, PrefixHidden, SoftPrompt, Transformer
from numeric.threads import one_thread

ABSOLUTE = ("learned", "sinusoidal")


@dataclass(frozen=True)
class Variant:
    """An architecture variant: norm placement, positional encoding, mask."""

    norm: str
    pos: str
    causal: bool
    d: int = 8
    n_heads: int = 2

    @property
    def name(self) -> str:
        return f"{self.norm}/{self.pos}/{'causal' if self.causal else 'bidir'}"

    def config(self, **overrides: Any) -> Config:
        base = dict(vocab=10, d=self.d, n_layers=2, n_heads=self.n_heads, norm=self.norm, pos=self.pos,
                    causal=self.causal)
        return Config(**{**base, **overrides})


def all_variants(d: int = 8, n_heads: int = 2) -> list[Variant]:
    """All 40 variants at width ``d`` with ``n_heads`` heads (raises `ConfigError` if a size does not fit)."""
    out = [Variant(n, p, c, d, n_heads) for n, p, c in itertools.product(NORMS, POSITIONS, (True, False))]
    for v in out:
        v.config()
    return out


def parse_variant(text: str, d: int = 8, n_heads: int = 2) -> Variant:
    """``norm/pos/mask`` with mask ``causal`` or ``bidir``, e.g. ``pre/rope/causal``."""
    parts = text.split("/")
    if len(parts) != 3 or parts[2] not in ("causal", "bidir"):
        raise ConfigError(f"variant {text!r} must look like norm/pos/causal|bidir, e.g. pre/rope/causal")
    v = Variant(parts[0], parts[1], parts[2] == "causal", d, n_heads)
    v.config()  # validates the names and sizes
    return v


@dataclass
class Finding:
    """``max_error`` of an identity over ``instances`` (models x inputs); ``witness`` locates the worst case."""

    max_error: float
    instances: int
    witness: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: Finding) -> Finding:
        worst = self if self.max_error >= other.max_error else other
        return Finding(worst.max_error, self.instances + other.instances, worst.witness)


#: ``measure(variant, seed, models=...)``: one identity measured on ``models`` random models of a variant.
Measure = Callable[..., Finding]


def models_per_variant(instances: int) -> int:
    """Random models per variant for a check of ``instances``: 1 at the default 1000, one more per further 1000."""
    return max(1, instances // 1000)


def sweep(select: Callable[[Variant], bool], measure: Measure, seed: int, instances: int) -> tuple[Finding, int]:
    """The worst `Finding` of ``measure(variant, seed, models=models_per_variant(instances))`` over the variants
    ``select`` keeps (on one torch thread), and how many variants that was."""
    variants = [v for v in all_variants() if select(v)]
    worst = Finding(0.0, 0)
    with one_thread():
        for v in variants:
            worst = worst.merge(measure(v, seed, models=models_per_variant(instances)))
    return worst, len(variants)


def _worst(diff: torch.Tensor) -> tuple[float, list[int]]:
    """Max of |diff| and its index (NaN counts as inf)."""
    a = torch.nan_to_num(diff.abs(), nan=float("inf"))
    flat = int(a.argmax())
    return float(a.flatten()[flat]), _unravel(flat, tuple(a.shape))


def _unravel(flat: int, shape: tuple[int, ...]) -> list[int]:
    """The row-major index of entry ``flat`` of a tensor of ``shape`` (``torch.unravel_index`` without its import
    of torch.fx's symbolic shapes, 0.4 s of CPU)."""
    index = []
    for size in reversed(shape):
        flat, i = divmod(flat, size)
        index.append(i)
    return index[::-1]


def _random_models(variant: Variant, seed: int, models: int, batch: int, n: int, **overrides: Any,
                   ) -> Iterator[tuple[int, Config, Transformer, torch.Tensor]]:
    """``models`` random models of the variant (model k seeded ``seed + k``), each with a batch of random token ids
    (B, n) drawn from one generator seeded ``seed``: (k, config, model, ids)."""
    g = torch.Generator().manual_seed(seed)
    for k in range(models):
        cfg = variant.config(**overrides)
        yield k, cfg, Transformer(cfg, seed=seed + k), torch.randint(0, cfg.vocab, (batch, n), generator=g)


def _renorm(A: torch.Tensor) -> torch.Tensor:
    return A / A.sum(-1, keepdim=True)


def layer1_soft_vs_prefix(variant: Variant, seed: int, models: int = 4, batch: int = 8, n: int = 6, n_S: int = 2,
                          add_position: bool = True) -> Finding:
    """Layer 1 with a soft prompt s at positions 0..n_S-1 against the hidden-state prefix s^(1) = s + p_{0..n_S-1}
    (p = the absolute position vectors, zero for none/RoPE/ALiBi): content attention and head outputs agree.
    ``add_position=False`` (prefix s^(1) = s) is the false twin under absolute PE."""
    found = Finding(0.0, 0)
    for k, cfg, model, idx in _random_models(variant, seed, models, batch, n):
        soft = SoftPrompt(n_S, cfg.d, seed=seed + 100 + k)
        with torch.no_grad():
            a = model(idx, adapter=soft, offset=0, trace=True).layers[0]
            p = model.positional(torch.arange(n_S))
            s1 = soft.s + p if (add_position and p is not None) else soft.s
            b = model(idx, adapter=PrefixHidden(cfg.n_layers, n_S, cfg.d, init=s1.expand(cfg.n_layers, n_S, cfg.d)),
                      trace=True).layers[0]
        err_a, at_a = _worst(a.attn[:, :, n_S:] - b.attn)
        err_t = max(_worst(ta[:, n_S:] - tb)[0] for ta, tb in zip(a.head_out, b.head_out))
        found = found.merge(Finding(max(err_a, err_t), batch, {
            "variant": variant.name, "model_seed": seed + k, "input": at_a[0], "head": at_a[1], "query": at_a[2],
            "attention_error": err_a, "head_output_error": err_t}))
    return found


def soft_prompt_states(model: Transformer, idx: torch.Tensor, soft: SoftPrompt) -> tuple[Output, torch.Tensor]:
    """The run with the soft prompt and the prompt positions' layer inputs h^(l)_m: (B, L, n_S, d)."""
    out = model(idx, adapter=soft, offset=0, trace=True)
    n_S = soft.s.shape[0]
    return out, torch.stack([t.resid_in[:, :n_S] for t in out.layers], dim=1)


def soft_prompt_as_prefix(variant: Variant, seed: int, models: int = 4, batch: int = 8, n: int = 6,
                          n_S: int = 2, n_layers: int = 3) -> tuple[Finding, Finding]:
    """Soft prompting against prefix-tuning with the input-independent prefixes h^(l)_m computed from input 0.

    Returns (state dependence: max_b |h^(l)_m(X_b) - h^(l)_m(X_0)|, output error: soft-prompted logits and every
    layer's content attention against the prefixed model's, for every input)."""
    dep, err = Finding(0.0, 0), Finding(0.0, 0)
    for k, cfg, model, idx in _random_models(variant, seed, models, batch, n, n_layers=n_layers):
        soft = SoftPrompt(n_S, cfg.d, seed=seed + 100 + k)
        with torch.no_grad():
            out, states = soft_prompt_states(model, idx, soft)
            pre = model(idx, adapter=PrefixHidden(n_layers, n_S, cfg.d, init=states[0]), trace=True)
        e_dep, at_dep = _worst(states - states[:1])
        dep = dep.merge(Finding(e_dep, batch, {"variant": variant.name, "model_seed": seed + k, "input": at_dep[0],
                                               "layer": at_dep[1] + 1, "prompt_position": at_dep[2]}))
        e_out, at_out = _worst(out.logits[:, n_S:] - pre.logits)
        e_att = max(_worst(a.attn[:, :, n_S:] - b.attn)[0] for a, b in zip(out.layers, pre.layers))
        err = err.merge(Finding(max(e_out, e_att), batch, {
            "variant": variant.name, "model_seed": seed + k, "input": at_out[0], "position": at_out[1] + n_S,
            "logit_error": e_out, "attention_error": e_att, "prefix_from": "input 0"}))
    return dep, err


def soft_prompt_is_prefix(variant: Variant, seed: int, models: int = 4) -> Finding:
    """`soft_prompt_as_prefix` as one measurement: the larger of the prompt states' input dependence and the output
    error, with the output witness and where the dependence peaks."""
    dep, err = soft_prompt_as_prefix(variant, seed, models=models)
    return Finding(max(dep.max_error, err.max_error), err.instances,
                   {**err.witness, "prompt_state_dependence": dep.max_error, "dependence_at": dep.witness})


def _prefixed_pair(model: Transformer, idx: torch.Tensor, prefix: PrefixHidden, baseline_offset: int,
                   ) -> tuple[Output, Output]:
    with torch.no_grad():
        base = model(idx, offset=baseline_offset, trace=True)
        pre = model(idx, adapter=prefix, trace=True)
    return base, pre


def relative_attention_change(variant: Variant, seed: int, layer: int = 1, models: int = 4, batch: int = 8,
                              n: int = 6, n_S: int = 2, keep_positions: bool = False) -> Finding:
    """max |renormalised content attention with the prefix - attention without it| at ``layer`` (1-based).

    The un-prefixed baseline has its content at positions 0.. (``keep_positions=False``: the prefixed model's
    content sits at n_S.., so absolute PE shifts it) or at n_S.. (placeholders, as in the authors' minGPT)."""
    found = Finding(0.0, 0)
    for k, cfg, model, idx in _random_models(variant, seed, models, batch, n):
        prefix = PrefixHidden(cfg.n_layers, n_S, cfg.d, seed=seed + 100 + k)
        base, pre = _prefixed_pair(model, idx, prefix, n_S if keep_positions else 0)
        A0 = base.layers[layer - 1].attn
        A1 = _renorm(pre.layers[layer - 1].attn[..., n_S:])
        e, at = _worst(A1 - A0)
        found = found.merge(Finding(e, batch, {
            "variant": variant.name, "layer": layer, "model_seed": seed + k, "input": at[0], "head": at[1],
            "query": at[2], "key": at[3], "attention_without_prefix": float(A0[tuple(at)]),
            "renormalised_attention_with_prefix": float(A1[tuple(at)]),
            "content_positions": "kept (placeholders)" if keep_positions else "shifted by n_S"}))
    return found


def rope_shift(variant: Variant, seed: int, models: int = 4, batch: int = 8, n: int = 6,
               shifts: tuple[int, ...] = (1, 3, 17)) -> Finding:
    """Relative change of the layer-1 content logits and of the model outputs when every position moves by c."""
    found = Finding(0.0, 0)
    for k, _, model, idx in _random_models(variant, seed, models, batch, n, max_len=64):
        with torch.no_grad():
            base = model(idx, trace=True)
            for c in shifts:
                moved = model(idx, offset=c, trace=True)
                l0, l1 = base.layers[0].logits, moved.layers[0].logits
                finite = torch.isfinite(l0)
                scale = float(l0[finite].abs().max()) or 1.0
                e_l, at = _worst(torch.where(finite, l1 - l0, torch.zeros_like(l0)) / scale)
                e_o = _worst(moved.logits - base.logits)[0] / (float(base.logits.abs().max()) or 1.0)
                found = found.merge(Finding(max(e_l, e_o), batch, {
                    "variant": variant.name, "model_seed": seed + k, "shift": c, "input": at[0], "head": at[1],
                    "query": at[2], "key": at[3], "relative_logit_error": e_l, "relative_output_error": e_o}))
    return found


# ---- layer 2: the perturbation of paper-notes 2.3 ---------------------------------------------------------

@dataclass
class LayerTwo:
    """Layer-2 content logits of a no-norm, no-MLP, single-head (no W_O) causal model, with and without a
    one-position prefix, and the prediction of paper-notes 2.3:

        l2pt_ij = l2_ij + tau a_i (u - t_i)^T H_2 y_j + tau a_j y_i^T H_2 (u - t_j)
                  + tau a_i a_j (u - t_i)^T H_2 (u - t_j)

    with y_j = x_j + t_j (layer-1 residual stream), a_j = A^pt_j0 (layer-1 prefix attention), u = W_V s^(1)."""

    l2: torch.Tensor
    l2_pt: torch.Tensor
    predicted: torch.Tensor
    A2: torch.Tensor
    A2_pt_renorm: torch.Tensor


def layer_two(seed: int, batch: int = 64, n: int = 6, d: int = 6, pos: str = "none") -> LayerTwo:
    cfg = Config(vocab=10, d=d, n_layers=2, n_heads=1, norm="none", pos=pos, causal=True, w_o=False, mlp="none",
                 unembed=False)
    model = Transformer(cfg, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, n, d, generator=g, dtype=torch.float64)
    prefix = PrefixHidden(2, 1, d, init=2.0 * torch.randn(2, 1, d, generator=g, dtype=torch.float64))
    with torch.no_grad():
        base = model(embeds=x, trace=True)
        pre = model(embeds=x, adapter=prefix, trace=True)
        L1, L2 = base.layers
        y, t = L1.resid_out, L1.head_out[0]
        a = pre.layers[0].attn[:, 0, :, :1]                              # (B, n, 1)
        u = model.layers[0].attn.W_V(prefix.s[0])                        # (1, d)
        H2 = model.layers[1].attn.head(0).H                              # W_Q^T W_K of layer 2
        tau = cfg.scale(d, n)
        delta = a * (u - t)                                              # y^pt - y
        predicted = L2.logits[:, 0] + tau * (delta @ H2 @ y.transpose(-1, -2) + y @ H2 @ delta.transpose(-1, -2)
                                             + delta @ H2 @ delta.transpose(-1, -2))
        return LayerTwo(L2.logits[:, 0], pre.layers[1].logits[:, 0, :, 1:], predicted, L2.attn[:, 0],
                        _renorm(pre.layers[1].attn[:, 0, :, 1:]))


def layer_two_formula(seed: int, batch: int = 64) -> Finding:
    """Relative error of the 2.3 prediction against the model's layer-2 logits (visible entries)."""
    r = layer_two(seed, batch)
    vis = torch.isfinite(r.l2)
    scale = float(r.l2_pt[vis].abs().max())
    e, at = _worst(torch.where(vis, r.l2_pt - r.predicted, torch.zeros_like(r.l2)) / scale)
    return Finding(e, batch, {"seed": seed, "input": at[0], "query": at[1], "key": at[2], "logit_scale": scale})


def layer_two_change(seed: int, batch: int = 64) -> Finding:
    """max |renormalised layer-2 content attention with the prefix - without|, witness with the logits."""
    r = layer_two(seed, batch)
    e, at = _worst(r.A2_pt_renorm - r.A2)
    b, i, j = at
    return Finding(e, batch, {"seed": seed, "input": b, "query": i, "key": j,
                              "attention_without_prefix": float(r.A2[b, i, j]),
                              "renormalised_attention_with_prefix": float(r.A2_pt_renorm[b, i, j])})


def deep_layer_change(layer: int, seed: int, models: int = 1) -> tuple[Finding, Finding]:
    """(relative error of the 2.3 formula against the model's layer-2 logits, change of the layer-``layer``
    renormalised content attention), on one torch thread. Layer 2: the no-norm 2-layer model of `layer_two`, 64
    inputs per model; layer 1: the no-norm, no-position causal variant with its content positions kept."""
    with one_thread():
        formula = layer_two_formula(seed, batch=64 * models)
        if layer == 2:
            return formula, layer_two_change(seed, batch=64 * models)
        return formula, relative_attention_change(Variant("none", "none", True), seed, layer=1, keep_positions=True)
