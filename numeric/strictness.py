"""The soft-prompt-vs-prefix model of `theory.strictness` as a float64 reference transformer (`numeric.model`), for
re-checking: the prefix that reaches the target, the soft-prompt invariant on random inputs, and a seeded L-BFGS
search over soft prompts (paper Sec. 2-3, the strict hierarchy).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import torch

from numeric.adapt import minimise
from numeric.model import Config, PrefixHidden, SoftPrompt, Transformer
from numeric.threads import one_thread

DTYPE = torch.float64


def build(write_b: bool, seed: int) -> Transformer:
    """Two residual single-head layers, d = 2, no norm, no MLP, no W_O, logit scale 1; layer 1 W_Q, W_K random
    (seeded), W_V = [[0, 0], [0, -1]] (or 0 for the twin); layer 2 W_Q = W_K = 0, W_V = [[0, 1], [0, 0]]."""
    cfg = Config(vocab=2, d=2, n_layers=2, n_heads=1, norm="none", pos="none", mlp="none", w_o=False, causal=True,
                 unembed=False, logit_scale=lambda k, n: 1.0)
    model = Transformer(cfg, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        a1, a2 = model.layers[0].attn, model.layers[1].attn
        a1.W_Q.weight.copy_(torch.randn(2, 2, generator=g, dtype=DTYPE))
        a1.W_K.weight.copy_(torch.randn(2, 2, generator=g, dtype=DTYPE))
        a1.W_V.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, -1.0 if write_b else 0.0]], dtype=DTYPE))
        a2.W_Q.weight.zero_()
        a2.W_K.weight.zero_()
        a2.W_V.weight.copy_(torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=DTYPE))
    return model


def soft_out(model: Transformer, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Outputs at the content token: soft prompts ``s (B, 2)``, content ``x (B, 2)`` -> ``(B, 2)``."""
    embeds = torch.stack([s, x], dim=1)
    return model(embeds=embeds).hidden[:, -1]


def prefix_out(model: Transformer, p1: torch.Tensor, p2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Output at the content token with per-layer prefixes p1, p2 (the authors' hidden-state form)."""
    adapter = PrefixHidden(2, 1, 2, init=torch.stack([p1, p2])[:, None, :], dtype=DTYPE)
    with torch.no_grad():
        return model(embeds=x[None, None, :], adapter=adapter).hidden[0, -1]


@dataclass
class SoftSearch:
    """The closest a soft prompt came to the target: distance, the soft prompt, its start."""

    distance: float
    s: list[float]
    start: int


def soft_search(model: Transformer, target: torch.Tensor, x: torch.Tensor, starts: int, seed: int) -> SoftSearch:
    """Seeded L-BFGS from ``starts`` random soft prompts N(0, 3^2), minimising ``|out - target|^2`` through the
    model's own soft-prompt path (`SoftPrompt`); the distance is re-measured in float64 on the result."""
    g = torch.Generator().manual_seed(seed)
    best = SoftSearch(float("inf"), [], -1)
    for k in range(starts):
        prompt = SoftPrompt(1, 2, init=3 * torch.randn(1, 2, generator=g, dtype=DTYPE), dtype=DTYPE)
        minimise(prompt.parameters(),
                 lambda: (model(embeds=x[None, None, :], adapter=prompt).hidden[0, -1] - target).pow(2).sum(),  # noqa: B023 (run now)
                 40, tolerance_grad=1e-7, tolerance_change=1e-9)
        with torch.no_grad():
            s = prompt.s.detach()[0]
            dist = float((soft_out(model, s[None], x[None])[0] - target).abs().max())
        if dist < best.distance:
            best = SoftSearch(dist, s.tolist(), k)
    return best


def invariant_error(model: Transformer, instances: int, seed: int) -> float:
    """max |out_a - out_b / 2 - x_a| over random soft prompts and inputs N(0, 2^2)."""
    g = torch.Generator().manual_seed(seed)
    s = 2 * torch.randn(instances, 2, generator=g, dtype=DTYPE)
    x = 2 * torch.randn(instances, 2, generator=g, dtype=DTYPE)
    with torch.no_grad():
        out = soft_out(model, s, x)
    return float((out[:, 0] - out[:, 1] / 2 - x[:, 0]).abs().max())


@dataclass
class StrictRun:
    """The float64 re-check of the strict hierarchy on the model seeded ``seed``: the prefix's distance to the
    target, the largest violation of the soft-prompt invariant over random (s, x), and the closest soft prompt found."""

    seed: int
    prefix_error: float
    invariant_error: float
    soft: SoftSearch

    @property
    def witness(self) -> dict[str, Any]:
        return {"seed": self.seed, "prefix_error": self.prefix_error, "soft_distance": self.soft.distance,
                "soft_prompt": self.soft.s, "invariant_error": self.invariant_error}


def strict_run(write_b: bool, target: Sequence[SupportsFloat], x: Sequence[SupportsFloat],
               prefix: Sequence[Sequence[SupportsFloat]], instances: int, starts: int, seed: int) -> StrictRun:
    """On the model `build` (seeded ``seed``), on one torch thread: the per-layer prefix ``prefix = (p^(1), p^(2))``
    at content ``x`` against ``target``, the invariant over ``instances`` random inputs, and `soft_search` from
    ``starts`` starts."""
    f = lambda v: torch.tensor([float(c) for c in v], dtype=DTYPE)  # noqa: E731
    with one_thread():
        model = build(write_b, seed)
        t, xt = f(target), f(x)
        reached = float((prefix_out(model, f(prefix[0]), f(prefix[1]), xt) - t).abs().max())
        invariant = invariant_error(model, instances, seed)
        return StrictRun(seed, reached, invariant, soft_search(model, t, xt, starts, seed))

