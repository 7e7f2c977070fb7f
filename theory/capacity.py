"""Section 3 (capacity) in sympy: the quadratic read-out, the temperature condition, and the attention of the
hand-built constructions with ``E = e^{T/sqrt L}`` kept as a positive symbol.

Symbols: vocabulary size ``V``, grid index ``u`` (token), read-out input ``z``, sequence length ``L``,
``E = e^{T/sqrt L}``, target symbol ``Y`` (0-indexed, the paper's ``Y_n - 1``), ``c = Y/V``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

from theory.constructions import conditional, unconditional
from theory.constructions.network import Network, Sparse
from theory.derivation import Derivation, chain
from theory.kernel import Certificate, ZeroTest, certify_nonnegative, decide_zero, exact, exact_floats

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


@dataclass
class Dominance:
    """``bound(V)`` (``stated``, exact) against the exact worst case ``4V - 3``: a ``certificate`` that it is at
    least ``4V - 3`` for every ``V >= 1``, or the first integer ``counterexample`` ``V >= 2`` (where a symbol
    ``Y = V - 1 >= 1`` exists) at which it is below, or neither."""

    stated: sp.Expr
    certificate: Certificate | None
    counterexample: int | None


def bound_dominance(bound: Callable[[sp.Symbol], Any], abstraction: str) -> Dominance:
    """Whether the sufficient condition ``E > bound(V) (L - 1)`` implies the exact one for every symbol, i.e.
    ``bound(V) >= 4V - 3`` for all ``V >= 1`` (`sufficient_gap`): the polynomial ``bound(1 + t) - (4(1 + t) - 3)``
    has only coefficients >= 0 in ``t >= 0`` (an exact sign decision of the kernel). A float in ``bound`` is its
    exact binary value (``4V - 3 - 1e-30`` is below, not rounded to, ``4V - 3``)."""
    t = sp.Symbol("t", nonnegative=True)
    with exact_floats():
        stated = exact(sp.sympify(bound(Vs)))
    slack = sp.expand(stated - (4 * Vs - 3))
    certificate = certify_nonnegative(slack.subs(Vs, 1 + t), t, "every V >= 1", abstraction)
    below = None if certificate else next((v for v in range(2, 10 ** 4) if slack.subs(Vs, v) < 0), None)
    return Dominance(stated, certificate, below)


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


def unconditional_head_sums(V_: int, N_: int) -> tuple[list[ZeroTest], int | None]:
    """The Theorem 1 model's summed heads at every length ``L <= N`` against the model of `temperature_error`:
    coordinate j is ``a c_j + a`` at ``j = L - 1``, ``a c_j + delta`` for ``j < L - 1`` and ``a c_j`` after, with
    ``a = E/(E + L - 1)``, ``delta = 1/(E + L - 1)`` and symbolic content ``c``. The zero tests, and the first L whose
    residual is not decided 0 (None if every one is)."""
    net = unconditional.build(V_, N_)
    c = sp.symbols(f"c0:{N_}", nonnegative=True)
    a, delta = head_weight(), 1 / (E + L - 1)
    tests: list[ZeroTest] = []
    for Ln in range(1, N_ + 1):
        h = head_sum(net, net.inputs([list(c) + [0] * N_], [0] * (Ln - 1)), E)
        want = [a * c[j] + (a if j == Ln - 1 else (delta if j < Ln else 0)) for j in range(N_)]
        test = decide_zero((sp.Matrix(h[:N_]) - sp.Matrix(want)).subs(L, Ln))
        if test.status != "zero":
            return tests, Ln
        tests.append(test)
    return tests, None


def map_head_sums(V_: int, offset: tuple[int, int, Fraction] | None = None) -> tuple[int, ZeroTest] | None:
    """The `conditional.build_map` model at position 1, for every input x: the summed heads equal ``r + onehot(x)``
    exactly, for every T (``E = e^{T/sqrt 2}`` symbolic, ``r`` symbolic; ``offset`` shifts one coordinate of the
    virtual token, a false twin). None if so, else the first input x and its zero test."""
    net = conditional.build_map(V_)
    r = sp.symbols(f"r0:{V_}", nonnegative=True)
    virtual: list[list[Any]] = [list(r) + [0] * (net.d - V_)]
    if offset is not None:
        virtual[offset[0]][offset[1]] += _sym(offset[2])
    for x in range(V_):
        h = head_sum(net, net.inputs(virtual, [x]), E)
        test = decide_zero(sp.Matrix(h[:V_]) - sp.Matrix([r[i] + (1 if i == x else 0) for i in range(V_)]))
        if test.status != "zero":
            return x, test
    return None
