"""The universal-approximator construction (theory/approx.py) run in float64 on the reference transformer.

The pretrained model is a `numeric.model.Transformer` with one layer and one head: width 2, ``W_Q = W_K = I_2``,
``W_V = w^T`` (value width 1), logit scale 1, no norm, positions, residual, MLP, ``W_O`` or unembedding. The
prefix is a `PrefixKV` adapter holding the construction's keys ``T ĝ_m`` and values ``v_m``; the content token is
``x = (cos θ, sin θ)`` (input embeddings), so the model's output at that token is the head output ``H(θ)``.
Everything here takes plain numbers: a construction is anything with the float64 weights of `PrefixWeights`
(`theory.approx.Construction` and `theory.approx_sphere.SphereConstruction` are), targets are float functions; no
sympy, no z3. Every entry point runs torch on one thread (`torch_threads` as a decorator): on a shared CPU even
elementwise sin/cos of a few thousand angles took 20 ms per call on the intra-op pool against well under 1 ms on
one thread.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from numeric.model import Config, ConfigError, PrefixKV, Transformer
from numeric.threads import torch_threads

SAMPLES_PER_CELL = 64           # sampled angles per grid cell h = 2π/N on the circle


class PrefixWeights(Protocol):
    """The float64 weights of a construction: prefix keys (N x d), prefix values (N), the content value row w (d)."""

    def key_floats(self) -> list[list[float]]: ...

    def value_floats(self) -> list[float]: ...

    def w_floats(self) -> list[float]: ...


def pretrained(w: Sequence[float]) -> Transformer:
    """The fixed one-head model of width ``d = len(w)`` with ``W_Q = W_K = I_d`` and ``W_V = w^T`` (d = 2: the
    circle, d = 3: the sphere S^2)."""
    d = len(w)
    cfg = Config(vocab=1, d=d, n_layers=1, n_heads=1, d_head=d, d_value=1, norm="none", pos="none", causal=True,
                 residual=False, w_o=False, mlp="none", unembed=False, logit_scale=lambda k, L: 1.0,
                 dtype=torch.float64)
    model = Transformer(cfg)
    attn = model.layers[0].attn
    with torch.no_grad():
        attn.W_Q.weight.copy_(torch.eye(d, dtype=torch.float64))
        attn.W_K.weight.copy_(torch.eye(d, dtype=torch.float64))
        attn.W_V.weight.copy_(torch.tensor([list(w)], dtype=torch.float64))
    return model


def prefix(model: Transformer, keys: Sequence[Sequence[float]], values: Sequence[float]) -> PrefixKV:
    """A `PrefixKV` adapter holding exactly these keys (N x d) and values (N)."""
    adapter = PrefixKV(model, len(values))
    with torch.no_grad():
        adapter.keys.copy_(torch.tensor([list(map(list, keys))], dtype=torch.float64))
        adapter.values.copy_(torch.tensor([[[v] for v in values]], dtype=torch.float64))
    return adapter


def points(thetas: torch.Tensor) -> torch.Tensor:
    """Content tokens ``(cos θ, sin θ)`` as a (B, 1, 2) batch of one-token inputs."""
    return torch.stack([thetas.cos(), thetas.sin()], -1).unsqueeze(1)


@torch_threads(1)
def head(con: PrefixWeights, thetas: torch.Tensor) -> torch.Tensor:
    """H(θ) for each angle (float64), through the reference model with the prefix."""
    return head_at(con, points(thetas.to(torch.float64)))


@torch_threads(1)
def head_at(con: PrefixWeights, x: torch.Tensor) -> torch.Tensor:
    """The head output at each one-token input ``x`` (B, 1, d) (float64), through the reference model with the
    prefix."""
    model = pretrained(con.w_floats())
    with torch.no_grad():
        out = model(embeds=x, adapter=prefix(model, con.key_floats(), con.value_floats()))
    return out.hidden[:, 0, 0]


def sphere_points(rings: int, per_ring: int, offset: float = 0.5) -> list[tuple[float, float, float]]:
    """Points ``x(θ, φ)`` on S^2 at ``rings`` x ``per_ring`` angles (θ, φ) shifted by ``offset`` of a step."""
    out = []
    for i in range(rings):
        th = math.pi * (i + offset) / rings
        for j in range(per_ring):
            ph = 2 * math.pi * (j + offset) / per_ring
            out.append((math.sin(th) * math.cos(ph), math.sin(th) * math.sin(ph), math.cos(th)))
    return out


@torch_threads(1)
def sampled_error_at(con: PrefixWeights, xs: Sequence[Sequence[float]], f_values: Sequence[float]
                     ) -> tuple[float, int]:
    """``max |H(x) − f(x)|`` over the points ``xs`` (float64 reference model) and the index where it is reached."""
    x = torch.tensor([list(p) for p in xs], dtype=torch.float64).unsqueeze(1)
    err = (head_at(con, x) - torch.tensor(list(f_values), dtype=torch.float64)).abs()
    k = int(err.argmax())
    return float(err[k]), k


def sphere_error(con: PrefixWeights, f: Callable[[Sequence[float]], float], rings: int, per_ring: int
                 ) -> tuple[float, tuple[float, float, float]]:
    """``max |H(x) − f(x)|`` over the `sphere_points` grid of ``rings`` x ``per_ring`` angles, and the point."""
    xs = sphere_points(rings, per_ring)
    err, k = sampled_error_at(con, xs, [f(p) for p in xs])
    return err, xs[k]


@dataclass
class Sampled:
    """The sampled error ``max |H(θ) − f(θ)|`` over the given angles, where it is reached, and its value there."""

    max_error: float
    theta: float
    samples: int


@torch_threads(1)
def sampled_error(con: PrefixWeights, thetas: Sequence[float], f_values: Sequence[float]) -> Sampled:
    """``max |H(θ) − f(θ)|`` over the angles ``thetas`` (float64 reference model)."""
    t = torch.tensor(list(thetas), dtype=torch.float64)
    err = (head(con, t) - torch.tensor(list(f_values), dtype=torch.float64)).abs()
    k = int(err.argmax())
    return Sampled(float(err[k]), float(t[k]), len(t))


def circle_error(con: PrefixWeights, f: Callable[[list[float]], Sequence[float]],
                 per_cell: int = SAMPLES_PER_CELL) -> Sampled:
    """`sampled_error` at ``per_cell`` angles per grid cell of the N prefix positions, offset half a step from the
    grid; ``f`` maps a list of angles to f's values there."""
    thetas = circle(per_cell * len(con.value_floats()), offset=0.5)
    return sampled_error(con, thetas, f(thetas))


def circle(samples: int, offset: float = 0.0) -> list[float]:
    """``samples`` equally spaced angles in [0, 2π), shifted by ``offset`` of a step."""
    return [2 * math.pi * (k + offset) / samples for k in range(samples)]


@dataclass
class Mixture:
    """Discrepancies of the Section 4 statements on the prefixed head (max over instances and positions):
    content attention ratios vs the unprefixed head, the output vs ``(1 − α) t_content + α t_prefix``, and the
    distance of the output outside ``[min, max]`` of the content and prefix values it mixes."""

    ratio: float
    mixture: float
    hull: float
    drop_content: float
    instances: int


@torch_threads(1)
def mixture_check(con: PrefixWeights, n: int, instances: int, seed: int) -> Mixture:
    """Random content sequences of ``n`` tokens on the circle (causal), with and without the prefix."""
    g = torch.Generator().manual_seed(seed)
    thetas = torch.rand(instances, n, generator=g, dtype=torch.float64) * 2 * math.pi
    x = torch.stack([thetas.cos(), thetas.sin()], -1)
    model = pretrained(con.w_floats())
    values = con.value_floats()
    adapter = prefix(model, con.key_floats(), values)
    N = len(values)
    with torch.no_grad():
        plain = model(embeds=x, trace=True).layers[0]
        pref = model(embeds=x, adapter=adapter, trace=True).layers[0]
    A0, A = plain.attn[:, 0], pref.attn[:, 0]            # (B, n, n) and (B, n, N + n)
    content = A[..., N:]
    alpha = A[..., :N].sum(-1)                          # prefix mass per query
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    # ratios: the prefixed content weights, renormalised over the content, equal the unprefixed weights
    ratio = ((content / content.sum(-1, keepdim=True) - A0).abs() * mask).amax().item()
    v_content = plain.v[0][..., 0]                      # (B, n) content values w . x_j
    t0 = plain.head_out[0][..., 0]                      # unprefixed outputs
    vals = torch.tensor(list(values), dtype=torch.float64)
    t_prefix = (A[..., :N] / alpha.unsqueeze(-1)) @ vals
    t = pref.head_out[0][..., 0]
    mixture = (t - ((1 - alpha) * t0 + alpha * t_prefix)).abs().amax().item()
    visible = torch.where(mask, v_content.unsqueeze(1).expand(-1, n, -1), torch.nan)
    lo = torch.minimum(torch.nan_to_num(visible, nan=math.inf).amin(-1), vals.min())
    hi = torch.maximum(torch.nan_to_num(visible, nan=-math.inf).amax(-1), vals.max())
    hull = torch.clamp(torch.maximum(lo - t, t - hi), min=0).amax().item()
    drop = (t - t_prefix).abs().amax().item()
    return Mixture(ratio, mixture, hull, drop, instances)


@torch_threads(1)
def one_error(con: PrefixWeights, theta: float, f_value: float) -> float:
    """|H(θ) − f(θ)| at one angle (the float64 re-check of a witness)."""
    t = torch.tensor([theta], dtype=torch.float64)
    return abs(float(head(con, t)[0]) - f_value)


@torch_threads(1)
def random_lipschitz(L: float, terms: int, count: int, seed: int) -> list[tuple[list[float], list[float]]]:
    """``count`` random trigonometric polynomials ``Σ_k a_k cos(kθ) + b_k sin(kθ)`` (k <= terms) scaled so that
    ``Σ_k k (|a_k| + |b_k|) = L`` (hence L-Lipschitz in arc length); each as (a, b) coefficient lists."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        a = torch.randn(terms, generator=g, dtype=torch.float64)
        b = torch.randn(terms, generator=g, dtype=torch.float64)
        k = torch.arange(1, terms + 1, dtype=torch.float64)
        s = float((k * (a.abs() + b.abs())).sum())
        out.append(((a * L / s).tolist(), (b * L / s).tolist()))
    return out


@torch_threads(1)
def trig(coeffs: tuple[Sequence[float], Sequence[float]], thetas: Sequence[float]) -> list[float]:
    a, b = (torch.tensor(list(c), dtype=torch.float64) for c in coeffs)
    kt = torch.arange(1, len(a) + 1, dtype=torch.float64)[:, None] * torch.tensor(list(thetas), dtype=torch.float64)
    return (a @ kt.cos() + b @ kt.sin()).tolist()


def depth_model(N: int) -> Transformer:
    """The three-layer model of `theory.approx_depth` (residual stream ``(u, 1, s, a, out)``, one head per layer,
    head width 2, value width 1): layers 1 and 3 query ``(u, 1)`` resp. ``(a, 1)`` against content keys of the same
    form (content values 0) and write to s resp. out; layer 2 has ``W_Q = W_K = 0``, reads s and writes
    ``(N + 2) / 2`` times its uniform average to a."""
    cfg = Config(vocab=1, d=5, n_layers=3, n_heads=1, d_head=2, d_value=1, norm="none", pos="none", causal=True,
                 residual=True, w_o=True, mlp="none", unembed=False, logit_scale=lambda k, L: 1.0,
                 dtype=torch.float64)
    model = Transformer(cfg)
    reads = ((0, 2), None, (3, 4))          # per layer: (query/key coordinate, output coordinate); None: the sum
    with torch.no_grad():
        for layer, read in zip(model.layers, reads, strict=True):
            w = layer.attn.head(0)             # views into the layer's parameters
            if w.W_O is None:
                raise ConfigError("the depth model writes through W_O")
            for W in (w.W_Q, w.W_K, w.W_V, w.W_O):
                W.zero_()
            if read is None:
                w.W_V[0, 2] = 1.0
                w.W_O[3, 0] = (N + 2) / 2
                continue
            src, dst = read
            for W in (w.W_Q, w.W_K):
                W[0, src] = 1.0
                W[1, 1] = 1.0
            w.W_O[dst, 0] = 1.0
    return model


@torch_threads(1)
def depth_outputs(layer1: tuple[Sequence[Sequence[float]], Sequence[float]],
                  layer3: tuple[Sequence[Sequence[float]], Sequence[float]], inputs: Sequence[Sequence[float]]
                  ) -> torch.Tensor:
    """out at the last token for each input pair (u_1, u_2), through the reference model with a `PrefixKV` holding
    layer 1's and layer 3's keys and values (layer 2's prefix: keys and values 0)."""
    N = len(layer1[1])
    model = depth_model(N)
    adapter = PrefixKV(model, N)
    with torch.no_grad():
        adapter.keys.zero_()
        adapter.values.zero_()
        for l, (keys, values) in ((0, layer1), (2, layer3)):
            adapter.keys[l] = torch.tensor([list(k) for k in keys], dtype=torch.float64)
            adapter.values[l] = torch.tensor([[v] for v in values], dtype=torch.float64)
        u = torch.tensor([list(p) for p in inputs], dtype=torch.float64)
        x = torch.stack([u, torch.ones_like(u)] + [torch.zeros_like(u)] * 3, -1)
        return model(embeds=x, adapter=adapter).hidden[:, -1, 4]


def depth_error(layer1: tuple[Sequence[Sequence[float]], Sequence[float]],
                layer3: tuple[Sequence[Sequence[float]], Sequence[float]], F: Callable[[float, float], float],
                samples: int) -> tuple[float, tuple[float, float]]:
    """``max |out_2 − F(u_1, u_2)|`` over the ``(samples + 1)^2`` grid of [0, 1]^2 (edges included), and where."""
    pts = [(i / samples, j / samples) for i in range(samples + 1) for j in range(samples + 1)]
    out = depth_outputs(layer1, layer3, pts).tolist()
    errs = [abs(o - F(a, b)) for o, (a, b) in zip(out, pts)]
    k = max(range(len(errs)), key=errs.__getitem__)
    return errs[k], pts[k]
