"""Section 4 views of a whole transformer: the head quantities of `numeric.attention.TorchHead` (t, t_pt, A, A_pt,
alpha, u, bias, ...) read from the traces of two runs of `numeric.model.Transformer`, one without and one with a
hidden-state prefix, so every Section 4 statement ``Env -> (lhs, rhs)`` can be evaluated on a real layer.

The un-prefixed run is the baseline: its content sits at positions 0.. (``keep_positions=False``; under absolute
PE the prefixed content is then shifted by n_S) or at n_S.. (placeholders, as in the authors' minGPT code).
"""
from __future__ import annotations

import torch

from numeric.attention import EnvBase, TorchHead
from numeric.model import Adapter, LayerTrace, Transformer


class TracedHead(TorchHead):
    """Head ``head`` of one layer: ``base`` (no prefix) and ``pre`` (with the prefix) traces of the same inputs."""

    def __init__(self, base: LayerTrace, pre: LayerTrace, head: int) -> None:  # noqa: D107 (no TorchHead init)
        self.n_S = pre.n_prefix
        self.logits, self._A, self._t = base.logits[:, head], base.attn[:, head], base.head_out[head]
        self.logits_pt, self.A_full, self._t_pt = pre.logits[:, head], pre.attn[:, head], pre.head_out[head]
        self.pv = pre.v[head][:, :self.n_S]


class TracedEnv(EnvBase):
    """`theory.head.Env` over model traces: ``view(r, h)`` is input batch r, head h of the chosen layer."""

    def __init__(self, model: Transformer, bases: list[LayerTrace], pres: list[LayerTrace], layer: int) -> None:
        self._views = [[TracedHead(b, p, h) for h in range(model.cfg.n_heads)] for b, p in zip(bases, pres)]
        attn = model.layers[layer].attn
        B = bases[0].attn.shape[0]
        identity = torch.eye(model.cfg.d, dtype=model.cfg.dtype)
        blocks = [attn.head(h).W_O for h in range(model.cfg.n_heads)]
        self._W_O = [(identity if w is None else w.detach()).expand(B, -1, -1) for w in blocks]


def traced_env(model: Transformer, inputs: list[torch.Tensor], prefix: Adapter, layer: int = 0,
               keep_positions: bool = False) -> TracedEnv:
    """Run ``model`` on each input batch without and with ``prefix`` (hidden-state or raw key/value form) and view
    layer ``layer`` (0-based).

    Layer 0 is compared with the un-prefixed model. A deeper layer is compared *conditionally on its inputs*: the
    baseline is the same layer applied to the prefixed run's layer inputs without the prefix keys (the un-prefixed
    model's own deeper layers differ, see prefix.deep_layer_invariance)."""
    n_S = prefix.prefix_length(model)
    bases, pres = [], []
    with torch.no_grad():
        for idx in inputs:
            pre = model(idx, adapter=prefix, trace=True).layers[layer]
            if layer == 0:
                base = model(idx, offset=n_S if keep_positions else 0, trace=True).layers[0]
            else:
                positions = torch.arange(n_S, n_S + idx.shape[1])
                base = model.layers[layer](pre.resid_in, positions, None, None, None)
            bases.append(base)
            pres.append(pre)
    return TracedEnv(model, bases, pres, layer)
