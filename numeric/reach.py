"""The float64 side of the concrete-head search claims (paper-notes 2.2 consequences and LoRA, 2.4; 5 items 13, 14,
16, 22): seeded heads, torch realisations of solver witnesses and measurements on random heads. Numbers only (no
z3, no sympy): setups are returned as plain lists, so that `proofs` can hand them to the encodings of `theory`.

* `prefix.cannot_reverse_attention`: `realised_flip` turns a reverse-query model (weights ``e_j``, prefix mass
  ``P`` or LoRA weights ``f_j``) into a head whose attention order flips; `order_flips` counts strict flips
  ``(A_j - A_k)(F_j - F_k) < 0`` on random heads;
* `prefix.reachable_segment` and its d = 64 version: with n_S = 1 the adapted output is
  ``t^pt_i = (1 - alpha_i) t_i + alpha_i W_V s``, a point of the segment ``[t_i, W_V s]``; `segment_distance` is
  the distance of a point to a segment, `segment_setup` / `wide_setup` the seeded heads and planted prefixes;
* `prefix.vs_lora_separation`: `best_fits`, the best float64 L-BFGS error per method from seeded starts.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from numeric.adapt import ConcreteHead, polish, recheck
from numeric.attention import DTYPE, TorchHead, causal_mask, random_instances

Rows = list[list[float]]

# ---- prefix.cannot_reverse_attention ----------------------------------------------------------------------------


def realised_flip(method: str, e: Sequence[float], P: float = 1.0,
                  f: Sequence[float] | None = None) -> tuple[bool, str]:
    """A reverse-query witness as a torch head: tokens are the basis vectors of R^(n+1), the last content token is
    the query, ``W_Q = W_V = I``, tau = 1 and row n-1 of ``W_K`` holds ``log e_j``, so ``A_j = e_j / sum e``.
    The prefix (the basis vector e_n, logit ``log P``) or the rank-1 LoRA update of ``W_K`` (content logits become
    ``log f_j``) gives F; ok iff ``A_0 < A_1`` but ``F_0 >= F_1`` at the last position."""
    n = len(e)
    W_K = torch.zeros(n + 1, n + 1, dtype=DTYPE)
    W_K[n - 1, :n] = torch.tensor([math.log(x) for x in e], dtype=DTYPE)
    eye = torch.eye(n + 1, dtype=DTYPE)
    head = ConcreteHead(eye, W_K, eye, 1.0)
    X = eye[:n]
    _, A = head.last(X, "prefix", "W_K", {"s": torch.zeros(0, n + 1, dtype=DTYPE)})
    if method == "prefix":
        W_K[n - 1, n] = math.log(P)
        _, F = head.last(X, "prefix", "W_K", {"s": eye[n:]})
    else:
        if f is None:
            raise ValueError("a LoRA witness needs the adapted weights f")
        a = torch.zeros(1, n + 1, dtype=DTYPE)
        a[0, :n] = torch.tensor([math.log(y) - math.log(x) for y, x in zip(f, e)], dtype=DTYPE)
        _, F = head.last(X, "lora", "W_K", {"B": eye[:, n - 1:n], "A": a})
    j, k = 0, 1
    ok = bool(A[j] < A[k]) and bool(F[j] >= F[k])
    return ok, f"torch: A {float(A[j]):.6g} < {float(A[k]):.6g} but adapted {float(F[j]):.6g} >= {float(F[k]):.6g}"


def order_flips(method: str, B: int, seed: int, n: int = 64, d: int = 8,
                prefix_lengths: Sequence[int] = (1, 3, 8)) -> tuple[int, int]:
    """(strict order flips, visible pairs) over B random heads per prefix length: content attention A against the
    adapted F (a random prefix of n_S tokens, or a random rank-1 update ``b a^T`` of W_K), at every query position
    and every pair (j, k) it sees; a flip is ``(A_j - A_k)(F_j - F_k) < 0`` with both gaps above 1e-9."""
    vis = causal_mask(n)
    pair_vis = vis[:, :, None] & vis[:, None, :]
    flips, pairs = 0, 0
    for t, n_S in enumerate(prefix_lengths):
        inst = random_instances(B, n, d, n_S, seed=seed + t)
        q = inst.X @ inst.W_Q.transpose(-1, -2)
        k = inst.X @ inst.W_K.transpose(-1, -2)
        logits = inst.tau * q @ k.transpose(-1, -2)
        A = torch.softmax(logits.masked_fill(~vis, float("-inf")), -1)
        if method == "prefix":
            pk = inst.S @ inst.W_K.transpose(-1, -2)
            full = torch.cat([inst.tau * q @ pk.transpose(-1, -2), logits.masked_fill(~vis, float("-inf"))], -1)
            F = torch.softmax(full, -1)[..., n_S:]
        else:
            g = torch.Generator().manual_seed(seed + 100 + t)
            b = torch.randn(B, d, 1, generator=g, dtype=DTYPE)
            a = torch.randn(B, 1, d, generator=g, dtype=DTYPE)
            k2 = inst.X @ (inst.W_K + b @ a).transpose(-1, -2)
            F = torch.softmax((inst.tau * q @ k2.transpose(-1, -2)).masked_fill(~vis, float("-inf")), -1)
        dA = A[..., :, None] - A[..., None, :]
        dF = F[..., :, None] - F[..., None, :]
        flips += int(((dA * dF < 0) & (dA.abs() > 1e-9) & (dF.abs() > 1e-9) & pair_vis).sum())
        pairs += int(pair_vis.sum()) * B
    return flips, pairs


# ---- segments [e_i, W_V s] --------------------------------------------------------------------------------------


def segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance of ``p`` to the segment ``[a, b]`` over the last axis: ``|p - (a + lam (b - a))|`` with
    ``lam = clamp((p - a).(b - a) / |b - a|^2, 0, 1)``."""
    lam = (((p - a) * (b - a)).sum(-1, keepdim=True) / ((b - a) ** 2).sum(-1, keepdim=True)).clamp(0, 1)
    return (p - (a + lam * (b - a))).norm(dim=-1)


@dataclass(frozen=True)
class SegmentSetup:
    """A seeded 2-d head, its three inputs (the causal prefixes of one input of 3 tokens), the content outputs
    ``t_i``, a planted prefix ``s*`` (n_S = 1) and the outputs it reaches, rounded to multiples of 2^-12."""

    seed: int
    W_Q: Rows
    W_K: Rows
    W_V: Rows
    inputs: list[Rows]
    t: Rows
    reach: Rows
    s_star: Rows


def segment_setup(seed: int) -> SegmentSetup:
    """Entries are multiples of 1/8 (short rationals for z3); tau = 1."""
    g = torch.Generator().manual_seed(seed)

    def grid(*shape: int) -> torch.Tensor:
        return torch.round(torch.randn(*shape, generator=g, dtype=DTYPE) * 8) / 8

    W_Q, W_K, W_V = (grid(2, 2) for _ in range(3))
    X, s_star = grid(3, 2), grid(1, 2)
    head = ConcreteHead(W_Q, W_K, W_V, 1.0)
    inputs = [X[:i] for i in range(1, 4)]
    with torch.no_grad():
        t = [head.last(x, "prefix", "W_K", {"s": s_star[:0]})[0].tolist() for x in inputs]
        reach = [(torch.round(head.last(x, "prefix", "W_K", {"s": s_star})[0] * 2**12) / 2**12).tolist()
                 for x in inputs]
    return SegmentSetup(seed, W_Q.tolist(), W_K.tolist(), W_V.tolist(), [x.tolist() for x in inputs], t, reach,
                        s_star.tolist())


def off_segment_targets(ends: Rows) -> Rows:
    """Three 2-d targets at distance 1 from the ends ``e_0, e_1, e_2``, on alternating sides of the line through
    ``e_0, e_1`` (along its unit normal; along (1, 0) when ``e_0 = e_1``)."""
    e = torch.tensor(ends, dtype=DTYPE)
    d = e[1] - e[0]
    gdir = torch.stack([-d[1], d[0]]) if float(d.norm()) > 1e-9 else torch.tensor([1.0, 0.0], dtype=DTYPE)
    gdir = gdir / gdir.norm()
    return [(e[0] + gdir).tolist(), (e[1] - gdir).tolist(), (e[2] + gdir).tolist()]


def segment_distances(instances: int, seed: int, end: str = "t", n: int = 6, d: int = 4) -> tuple[float, int]:
    """(worst distance, its instance) of ``t^pt_i`` to ``[e_i, W_V s]`` over random heads with an n_S = 1 prefix and
    every position i; ``e_i = t_i`` (``end="t"``) or 0 (a false twin)."""
    h = TorchHead(random_instances(instances, n, d, 1, seed=seed))
    a = h.t if end == "t" else torch.zeros_like(h.t)
    dist = segment_distance(h.t_pt, a, h.u[0].expand_as(a))
    return float(dist.max()), int(dist.amax(-1).argmax())


@dataclass(frozen=True)
class WideSetup:
    """A seeded head of width d (entries N(0, 1/d), tau = 1/sqrt(d)), R inputs of n tokens, a planted prefix s*
    (n_S = 1) with its float64 outputs, and far targets (N(0, 9) entries)."""

    seed: int
    W: list[Rows]  # W_Q, W_K, W_V
    X: list[Rows]
    s_star: Rows
    planted: Rows
    far: Rows


def wide_setup(seed: int, d: int, n: int, R: int) -> WideSetup:
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3)]
    X = rng.standard_normal((R, n, d))
    s_star = rng.standard_normal((1, d)) * 2
    head = ConcreteHead(torch.tensor(W[0]), torch.tensor(W[1]), torch.tensor(W[2]), 1 / math.sqrt(d))
    with torch.no_grad():
        planted = [head.last(torch.tensor(x), "prefix", "W_K", {"s": torch.tensor(s_star)})[0].tolist() for x in X]
    far = (rng.standard_normal((R, d)) * 3).tolist()
    return WideSetup(seed, [w.tolist() for w in W], X.tolist(), s_star.tolist(), planted, far)


def wide_segment_distance(setup: WideSetup, end: str = "t", prefixes: int = 200) -> float:
    """Worst distance of ``t^pt_r`` to ``[e_r, W_V s]`` over ``prefixes`` random prefixes s (n_S = 1, N(0, 4)
    entries) and every input r of ``setup``, with the real softmax over the prefix and the content."""
    head = ConcreteHead.from_lists(setup.W[0], setup.W[1], setup.W[2], None)
    X = torch.tensor(setup.X, dtype=DTYPE)  # (R, n, d)
    g = torch.Generator().manual_seed(setup.seed)
    S = torch.randn(prefixes, X.shape[-1], generator=g, dtype=DTYPE) * 2  # n_S = 1
    q = X[:, -1] @ head.W_Q.T  # (R, k)
    content = head.tau * torch.einsum("rnk,rk->rn", X @ head.W_K.T, q)  # (R, n)
    pre = head.tau * (S @ head.W_K.T) @ q.T  # (prefixes, R)
    A = torch.softmax(torch.cat([pre[..., None], content.expand(prefixes, -1, -1)], -1), -1)
    u = (S @ head.W_V.T)[:, None, :]  # (prefixes, 1, d_v)
    out = A[..., :1] * u + torch.einsum("prn,rnv->prv", A[..., 1:], X @ head.W_V.T)
    t = torch.einsum("rn,rnv->rv", torch.softmax(content, -1), X @ head.W_V.T)
    a = (t if end == "t" else torch.zeros_like(t)).expand_as(out)
    return float(segment_distance(out, a, u.expand_as(out)).max())


# ---- prefix.vs_lora_separation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """One adaptation method to fit: ``kind`` "prefix" (n_S tokens) or "lora" (rank 1 on ``matrix``)."""

    kind: str
    matrix: str = "W_K"
    n_S: int = 0


def best_fits(W_Q: Rows, W_K: Rows, W_V: Rows, tau: float | None, inputs: list[Rows], outputs: Rows,
              fits: Sequence[Fit], starts: int, seed: int, tol: float, iterations: int = 50) -> dict[str, float]:
    """Per method, the least max-norm output error after a float64 L-BFGS polish (`numeric.adapt.polish`) from
    ``starts`` seeded random starts (prefix entries N(0, 9); LoRA B, A entries N(0, 1)), methods in order on one
    generator, each re-checked by `numeric.adapt.recheck`."""
    g = torch.Generator().manual_seed(seed)
    head = ConcreteHead.from_lists(W_Q, W_K, W_V, tau)
    X = [torch.tensor(x, dtype=DTYPE) for x in inputs]
    d = len(W_K[0])
    best: dict[str, float] = {}
    for m in fits:
        errs = []
        for _ in range(starts):
            start = ({"s": torch.randn(m.n_S, d, generator=g, dtype=DTYPE) * 3} if m.kind == "prefix"
                     else {"B": torch.randn(len(W_K), 1, generator=g, dtype=DTYPE),
                           "A": torch.randn(1, d, generator=g, dtype=DTYPE)})
            fit = polish(head, m.kind, m.matrix, start, X, outputs, None, tol, iterations=iterations)
            errs.append(recheck(head, m.kind, m.matrix, fit, X, outputs, None, tol).max_error)
        best[m.kind] = min(errs)
    return best
