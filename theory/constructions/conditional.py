"""Conditional generation with virtual tokens (paper-notes 2.1 Theorem 2, 3.2, 3.3).

Hard tokens embed as one-hot content, ``E = [I_V; 0]``; coordinates ``V..`` hold the one-hot position.

`build_map`: any ``m: [V] -> [V]`` with **one** virtual token ``r = (m(0)/V, ..., m(V-1)/V)``. Input
``(r, x)``, the answer is read at position 1. Head ``val`` (``W_Q = W_K`` = position one-hot) attends to itself,
head ``first`` (``q = 1``, ``k`` = position-0 indicator) attends to the virtual token; both copy content. At
position 1 the two heads see the same logit gap ``T/sqrt 2`` with the roles of the two keys swapped, so their
weights are ``(1-a, a)`` and ``(a, 1-a)`` and the summed output is exactly ``r + onehot(x)`` for every ``T``
(claim ``capacity.conditional_map``, symbolic layer). ``ReLU(h - 1)`` keeps ``r_x = m(x)/V``; the read-out
returns ``m(x)``.

`build_sequence`: any ``m: [V] -> [V]^{N_0}`` with ``N_0`` virtual tokens ``vt_k = (m(x)[k] / V)_x``. Input
``(vt_0..vt_{N_0-1}, x)``, then greedy generation of ``N_0`` tokens; context size ``2 N_0``. Head ``back`` maps the
query position ``N_0 + k`` to the key position ``k`` and copies ``vt_k``; head ``user`` attends to position
``N_0`` and copies ``onehot(x)``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from theory.constructions.network import Head, Network, Sparse, identity_block, one_layer

DEFAULT_T = Fraction(100)


def _content_embedding(V: int, d: int) -> Sparse:
    return Sparse.build(d, V, {(v, v): 1 for v in range(V)})


def build_map(V: int, T: Fraction | int = DEFAULT_T) -> Network:
    """The fixed model realising every ``m: [V] -> [V]`` through its one virtual token."""
    if V < 1:
        raise ValueError(f"V must be positive, got {V}")
    d = V + 2
    copy = identity_block(d, d, [(0, 0, V)])
    val = Head("val", W_Q=identity_block(2, d, [(0, V, 2)]), W_K=identity_block(2, d, [(0, V, 2)]), W_V=copy)
    first = Head("first", W_Q=Sparse.build(1, d, {(0, V): 1, (0, V + 1): 1}), W_K=Sparse.build(1, d, {(0, V): 1}),
                 W_V=copy)
    return one_layer(f"conditional_map(V={V})", V, d, 2, _content_embedding(V, d), V, (val, first), V, T)


def map_token(net: Network, m: Mapping[int, int] | Sequence[int]) -> tuple[Fraction, ...]:
    """``r_x = m(x) / V`` (a missing ``x`` must be rejected by the caller; here every x in [V] is required)."""
    V = net.V
    values = [m[x] for x in range(V)]
    if any(not 0 <= y < V for y in values):
        raise ValueError(f"map values must lie in [0, {V})")
    return tuple(Fraction(y, V) for y in values) + (Fraction(0),) * (net.d - V)


def sequence_T(V: int, N0: int) -> Fraction:
    """``max(100, ceil(1.25 T_s))`` with ``T_s = sqrt(2 N0) log(4V (2 N0 - 1))``: each head leaks at most
    ``delta (L - 1)`` per coordinate (``delta = 1/(E + L - 1)``, contents in ``[0, 1]``), so
    ``|z - m(x)_k / V| <= 2 (L - 1) delta < 1/(2V)`` once ``E = e^{T/sqrt L} > 4V (L - 1)``, binding at
    ``L = 2 N0``. A sufficient margin, not the exact threshold; the exact evaluator certifies every use."""
    return max(DEFAULT_T, Fraction(math.ceil(1.25 * math.sqrt(2 * N0) * math.log(4 * V * max(1, 2 * N0 - 1)))))


def build_sequence(V: int, N0: int, T: Fraction | int | None = None) -> Network:
    """The fixed model realising every ``m: [V] -> [V]^{N0}`` through ``N0`` virtual tokens."""
    if V < 1 or N0 < 1:
        raise ValueError(f"V and N0 must be positive, got V={V}, N0={N0}")
    T = sequence_T(V, N0) if T is None else T
    n_pos = 2 * N0
    d = V + n_pos
    copy = identity_block(d, d, [(0, 0, V)])
    back = Head("back", W_Q=identity_block(N0, d, [(0, V + N0, N0)]), W_K=identity_block(N0, d, [(0, V, N0)]),
                W_V=copy)
    user = Head("user", W_Q=Sparse.build(1, d, {(0, V + p): 1 for p in range(n_pos)}),
                W_K=Sparse.build(1, d, {(0, V + N0): 1}), W_V=copy)
    return one_layer(f"conditional_sequence(V={V}, N0={N0})", V, d, n_pos, _content_embedding(V, d), V,
                     (back, user), V, T)


def sequence_tokens(net: Network, m: Mapping[int, Sequence[int]] | Sequence[Sequence[int]]
                    ) -> list[tuple[Fraction, ...]]:
    """``vt_k[x] = m(x)[k] / V`` for ``k < N0``."""
    V, N0 = net.V, net.n_pos // 2
    rows = [list(m[x]) for x in range(V)]
    if any(len(r) != N0 for r in rows):
        raise ValueError(f"every response must have N0={N0} tokens")
    if any(not 0 <= y < V for r in rows for y in r):
        raise ValueError(f"response tokens must lie in [0, {V})")
    return [tuple(Fraction(rows[x][k], V) for x in range(V)) + (Fraction(0),) * (net.d - V) for k in range(N0)]
