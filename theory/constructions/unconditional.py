"""Theorem 1 (paper-notes 2.1, 3.1): one virtual token makes a fixed transformer generate any ``Y in [V]^N``.

Tokens are ``0..V-1`` (the paper's ``Y_n - 1``). Width ``d = 2N``: coordinates ``0..N-1`` hold content,
``N..2N-1`` the one-hot position. Hard tokens carry no content (``E = 0``); the virtual token is
``s_1 = (Y_1/V, ..., Y_N/V; 0)``. One layer, two heads, a two-affine ReLU MLP and the quadratic read-out:

* head ``pos``: ``W_Q = W_K = [0 | I_N]`` (``q_i . k_j = [i = j]``), ``W_V`` copies the position one-hot into
  the content coordinates, so it outputs ``a e_i + delta sum_{j != i} e_j``;
* head ``first``: ``W_Q = [0 | 1^T]`` (``q_i = 1``), ``W_K = e_{N+0}^T`` (position-0 indicator), ``W_V = [I_N | 0]``,
  so it outputs ``a c`` (only position 0 has content);
* MLP: ``sigma = ReLU(h - 1)`` keeps coordinate i only, ``z = sum sigma = a c_i - (1 - a)``; logits ``f_u(z)``.

With ``E_L = e^{T/sqrt L}`` both heads give ``a = E_L / (E_L + L - 1)``, so at position ``L-1``
``c_i - z = (L-1)(1 + c_i) / (E_L + L - 1)`` and greedy decoding emits ``Y_L`` iff
``E_L > (2V + 2Y_L - 1)(L - 1)`` (``Y_L >= 1``; ``Y_L = 0`` always decodes): claim
``capacity.temperature_condition``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from theory.constructions.network import Head, Network, Sparse, identity_block, one_layer

NOTEBOOK_T = Fraction(50)


def default_T(V: int, N: int) -> Fraction:
    """The notebook's ``T = 50`` where it suffices, else ``ceil(1.25 T*)``: T must grow with N (at V = 94,
    N = 40 the notebook's 50 is below ``T* = 60.6`` and 903 of the 3760 (length, symbol) steps fail)."""
    return max(NOTEBOOK_T, Fraction(math.ceil(1.25 * threshold_T(V, N))))


def build(V: int, N: int, T: Fraction | int | None = None) -> Network:
    """The fixed model for vocabulary ``V`` and length ``N`` (inverse temperature `default_T` unless given)."""
    if V < 1 or N < 1:
        raise ValueError(f"V and N must be positive, got V={V}, N={N}")
    T = default_T(V, N) if T is None else T
    d = 2 * N
    pos = Head("pos", W_Q=identity_block(N, d, [(0, N, N)]), W_K=identity_block(N, d, [(0, N, N)]),
               W_V=identity_block(d, d, [(0, N, N)]))
    first = Head("first", W_Q=Sparse.build(1, d, {(0, N + p): 1 for p in range(N)}),
                 W_K=Sparse.build(1, d, {(0, N): 1}), W_V=identity_block(d, d, [(0, 0, N)]))
    return one_layer(f"unconditional(V={V}, N={N})", V, d, N, Sparse.build(d, V, {}), N, (pos, first), N, T)


def virtual_token(net: Network, target: Sequence[int]) -> tuple[Fraction, ...]:
    """``s_1 = (Y_n / V)_n`` padded with zeros to width d."""
    N = net.n_pos
    if len(target) != N:
        raise ValueError(f"the target must have N={N} tokens, got {len(target)}")
    if any(not 0 <= y < net.V for y in target):
        raise ValueError(f"target tokens must lie in [0, {net.V})")
    return tuple(Fraction(y, net.V) for y in target) + (Fraction(0),) * (net.d - N)


def threshold_T(V: int, N: int) -> float:
    """The exact inverse temperature below which some target fails: the binding position is the last one
    (``L = N``) and the worst symbol ``V - 1``, so ``T* = sqrt(N) log((4V - 3)(N - 1))`` (``N >= 2``)."""
    if N < 2:
        return 0.0
    return math.sqrt(N) * math.log((4 * V - 3) * (N - 1))
