"""Section 3 (capacity) in sympy: the quadratic read-out, the temperature condition, and the attention of the
hand-built constructions with ``E = e^{T/sqrt L}`` kept as a positive symbol.

Symbols: vocabulary size ``V``, grid index ``u`` (token), read-out input ``z``, sequence length ``L``,
``E = e^{T/sqrt L}``, target symbol ``Y`` (0-indexed, the paper's ``Y_n - 1``), ``c = Y/V``.
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy as sp

from theory.constructions.network import Network, Sparse
from theory.derivation import Derivation, chain

u, w, z = sp.symbols("u w z", real=True)
Vs = sp.Symbol("V", positive=True)
L, E, Y = sp.symbols("L E Y", positive=True)


# ---- the read-out (paper-notes 5 item 12) ------------------------------------------------------------------

def readout(u_: Any, V_: Any, z_: Any) -> sp.Expr:
    """``f_u(z) = (2u/V - 1) z + 1/4 - u^2/V^2``: the linear logit the constructions' ``W_U`` computes."""
    return (2 * u_ / V_ - 1) * z_ + sp.Rational(1, 4) - u_ ** 2 / V_ ** 2


def decoder_identity() -> Derivation:
    """``f_u(z) = (z - 1/2)^2 - (z - u/V)^2``."""
    return chain(
        "read-out logit as a difference of squares",
        readout(u, Vs, z),
        [(z ** 2 - z + sp.Rational(1, 4) - (z ** 2 - 2 * u * z / Vs + u ** 2 / Vs ** 2), "expand (2u/V - 1) z"),
         ((z - sp.Rational(1, 2)) ** 2 - (z - u / Vs) ** 2, "complete both squares")],
        abstraction="V > 0, u and z real")


def decoder_gap() -> Derivation:
    """``f_u(z) - f_w(z) = (z - w/V)^2 - (z - u/V)^2``: token u beats token w iff ``u/V`` is nearer to z."""
    return chain(
        "logit gap between two tokens",
        readout(u, Vs, z) - readout(w, Vs, z),
        [((z - w / Vs) ** 2 - (z - u / Vs) ** 2, "decoder identity for u and for w; the (z - 1/2)^2 terms cancel")],
        abstraction="V > 0, u, w, z real; the argmax is the u minimising |z - u/V| (ties only at midpoints)")


# ---- the temperature condition (paper-notes 3.1, 5 item 18) ----------------------------------------------------

def head_weight() -> sp.Expr:
    """``a = E / (E + L - 1)``: weight of the one key whose logit is ``T/sqrt L`` above the other ``L - 1``."""
    return E / (E + L - 1)


def temperature_error() -> Derivation:
    """With both heads at weight a: ``z = a c - (1 - a)``, and the read-out error ``c - z``."""
    a = head_weight()
    c = Y / Vs
    return chain(
        "read-out error at position L - 1 (ReLU active)",
        c - (a * c - (1 - a)),
        [((1 - a) * (1 + c), "collect (1 - a)"),
         ((L - 1) * (1 + Y / Vs) / (E + L - 1), "1 - a = (L - 1)/(E + L - 1)")],
        abstraction="E = e^{T/sqrt L} > 0, L >= 1, V > 0")


def temperature_margin() -> Derivation:
    """``1/(2V) - (c - z) = (E - (2V + 2Y - 1)(L - 1)) / (2V (E + L - 1))``: decoding emits Y iff E exceeds
    ``(2V + 2Y - 1)(L - 1)`` (the denominator is positive)."""
    err = (L - 1) * (1 + Y / Vs) / (E + L - 1)
    return chain(
        "distance to the decision boundary",
        1 / (2 * Vs) - err,
        [(((E + L - 1) - 2 * (Vs + Y) * (L - 1)) / (2 * Vs * (E + L - 1)), "common denominator"),
         ((E - (2 * Vs + 2 * Y - 1) * (L - 1)) / (2 * Vs * (E + L - 1)), "collect L - 1")],
        abstraction="E > 0, L >= 1, V > 0")


def sufficient_gap() -> Derivation:
    """``(4V - 1)(L - 1) - (2V + 2Y - 1)(L - 1) = 2 (V - Y)(L - 1) >= 0`` for ``Y <= V``: the paper's condition
    ``E > (4V - 1)(L - 1)`` implies the exact one for every symbol; the exact worst case is ``Y = V - 1``:
    ``E > (4V - 3)(L - 1)``."""
    return chain(
        "the paper's bound dominates the exact condition",
        (4 * Vs - 1) * (L - 1) - (2 * Vs + 2 * Y - 1) * (L - 1),
        [(2 * (Vs - Y) * (L - 1), "factor")],
        abstraction="0 <= Y <= V - 1, L >= 1")


def threshold(V_: int, N_: int) -> sp.Expr:
    """The exact inverse temperature ``T* = sqrt(N) log((4V - 3)(N - 1))`` (the binding length is ``L = N``,
    because ``sqrt(L) log((4V - 3)(L - 1))`` increases with L)."""
    return sp.sqrt(N_) * sp.log((4 * V_ - 3) * (N_ - 1))


# ---- symbolic attention of a construction --------------------------------------------------------------------

def _sym(q: Fraction | int) -> sp.Rational:
    q = Fraction(q)
    return sp.Rational(q.numerator, q.denominator)


def _apply(M: Sparse, x: Sequence[sp.Expr]) -> list[sp.Expr]:
    out = [sp.Integer(0)] * M.rows
    for i, j, v in M.entries:
        out[i] += _sym(v) * x[j]
    return out


def head_sum(net: Network, rows: Sequence[Sequence[sp.Expr]], E_: sp.Symbol) -> list[sp.Expr]:
    """The first layer's summed head output at the last position, ``sum_h sum_j A^h_j W_V^h x_j``, with
    ``exp(T q.k / sqrt L)`` written as ``E^{q.k}`` (``E = e^{T/sqrt L}``). Rows may hold sympy symbols."""
    layer = net.layers[0]
    last = rows[-1]
    total = [sp.Integer(0)] * net.d
    for head in layer.heads:
        q = _apply(head.W_Q, last)
        weights = []
        for x in rows:
            k = _apply(head.W_K, x)
            weights.append(E_ ** sp.expand(sum(a * b for a, b in zip(q, k))))
        Z = sum(weights)
        for wj, x in zip(weights, rows):
            v = _apply(head.W_V, x)
            total = [t + wj / Z * vc for t, vc in zip(total, v)]
    return total
