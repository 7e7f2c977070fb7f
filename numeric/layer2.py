"""The Section 5.2 model of `theory.layer2` as a float64 reference transformer (`numeric.model`): layer-2 content
logit perturbations induced by a layer-1 prefix, measured on the model itself, and a seeded L-BFGS search for a
prefix that induces a given perturbation (paper Sec. 5.2).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from numeric.model import Adapter, Config, LoRA, Transformer

DTYPE = torch.float64


def build(W_V1: Sequence[Sequence[float]], H2: Sequence[Sequence[float]], w_o: bool = False) -> Transformer:
    """Two residual single-head layers, d = 2, no norm/MLP, logit scale 1; layer 1 W_Q = 0 (uniform attention),
    W_V = ``W_V1`` (with ``w_o``: W_V = I and W_O = ``W_V1``, the same map, so LoRA can adapt W_O alone);
    layer 2 W_Q = I, W_K = ``H2`` (so q^T k = x^T H2 y)."""
    cfg = Config(vocab=2, d=2, n_layers=2, n_heads=1, norm="none", pos="none", mlp="none", w_o=w_o, causal=True,
                 unembed=False, logit_scale=lambda k, n: 1.0)
    model = Transformer(cfg, seed=0)
    with torch.no_grad():
        a1, a2 = model.layers[0].attn, model.layers[1].attn
        a1.W_Q.weight.zero_()
        if w_o:
            a1.W_V.weight.copy_(torch.eye(2, dtype=DTYPE))
            a1.W_O.weight.copy_(torch.tensor(W_V1, dtype=DTYPE))
        else:
            a1.W_V.weight.copy_(torch.tensor(W_V1, dtype=DTYPE))
        a2.W_Q.weight.copy_(torch.eye(2, dtype=DTYPE))
        a2.W_K.weight.copy_(torch.tensor(H2, dtype=DTYPE))
    return model


class LayerOnePrefix(Adapter):
    """The authors' hidden-state prefix with a free layer-1 vector ``s`` (differentiable) and a zero layer-2 one."""

    def __init__(self, s: torch.Tensor) -> None:
        super().__init__()
        self.h = torch.stack([s, torch.zeros_like(s)])[:, None, :]

    def prefix_length(self, model: Transformer) -> int:
        return 1

    def prefix_hidden(self, layer: int) -> torch.Tensor:
        return self.h[layer]


def perturbation(model: Transformer, X: torch.Tensor, s: torch.Tensor, query: int) -> torch.Tensor:
    """Layer-2 logits of content query ``query`` over the content keys with the layer-1 prefix ``s`` minus those
    without a prefix (the layer-2 prefix is 0; it adds a key but does not enter content logits)."""
    prefix = LayerOnePrefix(s)
    base = model(embeds=X[None], trace=True).layers[1].logits[0, 0, query]
    pre = model(embeds=X[None], adapter=prefix, trace=True).layers[1].logits[0, 0, query, 1:]
    return pre - base


@dataclass
class PrefixSearch:
    distance: float
    s: list[float]
    start: int


def search(model: Transformer, X: torch.Tensor, target: torch.Tensor, query: int, starts: int,
           seed: int, max_iter: int = 100) -> PrefixSearch:
    """Seeded L-BFGS over the layer-1 prefix from ``starts`` N(0, 3^2) points, minimising
    ``|perturbation - target|^2``; the distance (max norm) re-measured in float64 on the result; stops at the
    first start within 1e-10."""
    g = torch.Generator().manual_seed(seed)
    best = PrefixSearch(float("inf"), [], -1)
    for k in range(starts):
        s = (3 * torch.randn(2, generator=g, dtype=DTYPE)).requires_grad_(True)
        opt = torch.optim.LBFGS([s], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-14,
                                tolerance_change=1e-16)

        def closure() -> torch.Tensor:
            opt.zero_grad()  # noqa: B023 (called within this iteration)
            loss = (perturbation(model, X, s, query) - target).pow(2).sum()  # noqa: B023 (called within this iteration)
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            dist = float((perturbation(model, X, s.detach(), query) - target).abs().max())
        if dist < best.distance:
            best = PrefixSearch(dist, s.detach().tolist(), k)
        if best.distance <= 1e-10:
            break
    return best


def lora_perturbation(model: Transformer, X: torch.Tensor, lora: LoRA, query: int) -> torch.Tensor:
    """Layer-2 logits of content query ``query`` over the content keys with the LoRA update minus without."""
    base = model(embeds=X[None], trace=True).layers[1].logits[0, 0, query]
    return model(embeds=X[None], adapter=lora, trace=True).layers[1].logits[0, 0, query] - base


def lora_from(model: Transformer, X: torch.Tensor, target: torch.Tensor, query: int, name: str,
              point: Sequence[float]) -> PrefixSearch:
    """Rank-1 LoRA on ``name`` with B = (b0, b1), A = (a0, a1) from ``point``, re-checked on the float64 model."""
    lora = LoRA(model, [name], rank=1)
    with torch.no_grad():
        lora.B[0].copy_(torch.tensor(point[:2], dtype=DTYPE)[:, None])
        lora.A[0].copy_(torch.tensor(point[2:], dtype=DTYPE)[None, :])
        dist = float((lora_perturbation(model, X, lora, query) - target).abs().max())
    return PrefixSearch(dist, list(point), 0)


def lora_search(model: Transformer, X: torch.Tensor, target: torch.Tensor, query: int, targets: Sequence[str],
                starts: int, seed: int) -> PrefixSearch:
    """Seeded L-BFGS over rank-1 LoRA factors (B, A both N(0, 1) at the start) on the named maps, minimising
    ``|lora_perturbation - target|^2``; the distance re-measured in float64."""
    best = PrefixSearch(float("inf"), [], -1)
    for k in range(starts):
        lora = LoRA(model, targets, rank=1, seed=seed + k)
        g = torch.Generator().manual_seed(seed + 100 + k)
        with torch.no_grad():
            for B in lora.B:
                B.copy_(torch.randn(B.shape, generator=g, dtype=DTYPE))
        opt = torch.optim.LBFGS(lora.parameters(), max_iter=100, line_search_fn="strong_wolfe", tolerance_grad=1e-14,
                                tolerance_change=1e-16)

        def closure() -> torch.Tensor:
            opt.zero_grad()  # noqa: B023 (called within this iteration)
            loss = (lora_perturbation(model, X, lora, query) - target).pow(2).sum()  # noqa: B023 (called within this iteration)
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            dist = float((lora_perturbation(model, X, lora, query) - target).abs().max())
        if dist < best.distance:
            best = PrefixSearch(dist, [float(v) for p in lora.parameters() for v in p.detach().flatten()], k)
    return best
