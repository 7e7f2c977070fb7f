"""The Section 5.2 model of `theory.layer2` as a float64 reference transformer (`numeric.model`): layer-2 content
logit perturbations induced by a layer-1 prefix, measured on the model itself, and a seeded L-BFGS search for a
prefix that induces a given perturbation (paper Sec. 5.2); the same for a rank-1 LoRA on W_O (the paper's E4
placement). The model's numbers come in as plain numbers (ints, fractions, or anything ``float()`` takes).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import SupportsFloat

import torch

from numeric.adapt import minimise
from numeric.model import Adapter, Config, LoRA, Transformer
from numeric.threads import one_thread

DTYPE = torch.float64
Numbers = Sequence[SupportsFloat]
Rows = Sequence[Numbers]


def _tensor(rows: Rows | Numbers) -> torch.Tensor:
    """float64 tensor of plain numbers, a vector or a matrix given by its rows."""
    return torch.tensor([[float(v) for v in row] if isinstance(row, Sequence) else float(row) for row in rows],
                        dtype=DTYPE)


def build(W_V1: Rows, H2: Rows, w_o: bool = False) -> Transformer:
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
            model.linear("layers.0.attn.W_O").weight.copy_(_tensor(W_V1))
        else:
            a1.W_V.weight.copy_(_tensor(W_V1))
        a2.W_Q.weight.copy_(torch.eye(2, dtype=DTYPE))
        a2.W_K.weight.copy_(_tensor(H2))
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
    """The closest an adaptation came to the target (max norm, re-measured in float64), its parameters and how it
    was found."""

    distance: float
    s: list[float]
    start: int
    how: str = ""


def search(model: Transformer, X: torch.Tensor, target: torch.Tensor, query: int, starts: int,
           seed: int, max_iter: int = 100) -> PrefixSearch:
    """Seeded L-BFGS over the layer-1 prefix from ``starts`` N(0, 3^2) points, minimising
    ``|perturbation - target|^2``; the distance (max norm) re-measured in float64 on the result; stops at the
    first start within 1e-10."""
    g = torch.Generator().manual_seed(seed)
    best = PrefixSearch(float("inf"), [], -1)
    for k in range(starts):
        s = (3 * torch.randn(2, generator=g, dtype=DTYPE)).requires_grad_(True)
        minimise([s], lambda: (perturbation(model, X, s, query) - target).pow(2).sum(), max_iter)  # noqa: B023 (run now)
        with torch.no_grad():
            dist = float((perturbation(model, X, s.detach(), query) - target).abs().max())
        if dist < best.distance:
            best = PrefixSearch(dist, s.detach().tolist(), k, f"best of {starts} L-BFGS starts")
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
    return PrefixSearch(dist, list(point), 0, "z3's point")


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
        minimise(lora.parameters(), lambda: (lora_perturbation(model, X, lora, query) - target).pow(2).sum(),  # noqa: B023 (run now)
                 100)
        with torch.no_grad():
            dist = float((lora_perturbation(model, X, lora, query) - target).abs().max())
        if dist < best.distance:
            best = PrefixSearch(dist, [float(v) for p in lora.parameters() for v in p.detach().flatten()], k,
                                f"{starts} L-BFGS starts")
    return best


def reach(model: Transformer, X: torch.Tensor, target: torch.Tensor, query: int, point: Sequence[float] | None,
          starts: int, seed: int) -> PrefixSearch:
    """A layer-1 prefix inducing ``target``: an exact solver's ``point`` if it survives the float64 re-check (within
    1e-9), else the best of ``starts`` seeded L-BFGS starts (40 iterations each)."""
    if point is not None:
        with torch.no_grad():
            dist = float((perturbation(model, X, _tensor(point), query) - target).abs().max())
        if dist <= 1e-9:
            return PrefixSearch(dist, list(point), 0, "z3's point re-checked")
    return search(model, X, target, query, starts, seed, max_iter=40)


def reach_targets(W_V1: Rows, H2: Rows, X: Rows, query: int, targets: Sequence[Numbers],
                  points: Sequence[Sequence[float] | None], starts: int, seed: int) -> list[PrefixSearch]:
    """`reach` for each target (with its solver point, if any) on the model `build` (W_V1, H2) with content ``X``,
    on one torch thread; target r's L-BFGS starts are seeded ``seed + 6 + r``."""
    with one_thread():
        model, Xt = build(W_V1, H2), _tensor(X)
        return [reach(model, Xt, _tensor(t), query, p, starts, seed + 6 + r)
                for r, (t, p) in enumerate(zip(targets, points, strict=True))]


def lora_against_prefix(W_V1: Rows, H2: Rows, X: Rows, query: int, target: Numbers, lora_target: str,
                        point: Sequence[float] | None, starts: int, seed: int) -> tuple[PrefixSearch, PrefixSearch]:
    """(rank-1 LoRA on ``lora_target`` inducing ``target``, the closest layer-1 prefix) on the model `build` with
    W_V = I and W_O^(1) = W_V1, on one torch thread. The LoRA is the solver's ``point`` (b0, b1, a0, a1) re-checked,
    or the best of 2 seeded L-BFGS starts; the prefix the best of ``starts`` (seed + 1)."""
    with one_thread():
        model, Xt, t = build(W_V1, H2, w_o=True), _tensor(X), _tensor(target)
        if point is not None:
            lora = lora_from(model, Xt, t, query, lora_target, point)
        else:
            lora = lora_search(model, Xt, t, query, [lora_target], 2, seed)
        return lora, search(model, Xt, t, query, starts, seed + 1, max_iter=40)
