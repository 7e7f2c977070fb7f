"""Outward-rounded fixed-point interval arithmetic: exact enclosures of real computations with e^x and sqrt.

A real number is enclosed by a `Pair` ``(lo, hi)`` of Python integers meaning ``[lo, hi] * 2^-bits``. Every
operation rounds the lower end down and the upper end up, so the true value of any expression built from exact
rationals with ``+, -, *, /, max(0, .), exp, sqrt`` always lies inside the computed pair. Nothing here uses
floating point; ``bits`` (the absolute resolution ``2^-bits``) is chosen by the caller.

e^x is enclosed by a Taylor sum with a remainder bound after range reduction ``e^x = (e^{x/2^m})^{2^m}``:
for ``0 <= y <= 1/2``, ``sum_{k<=K} y^k/k! <= e^y <= sum_{k<=K} y^k/k! + 2 y^{K+1}/(K+1)!``; negative arguments
use ``e^x = 1/e^{-x}``.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

Pair = tuple[int, int]  # [lo, hi] * 2^-bits
ZERO: Pair = (0, 0)


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def enclose(value: Fraction | int, bits: int) -> Pair:
    """The tightest enclosure of a rational at this resolution."""
    q = value if isinstance(value, Fraction) else Fraction(value)
    num = q.numerator << bits
    return num // q.denominator, ceil_div(num, q.denominator)


def scale(x: Pair, p: int, q: int) -> Pair:
    """``x * p / q`` for integers ``p`` and ``q > 0``."""
    a, b = x[0] * p, x[1] * p
    if p < 0:
        a, b = b, a
    return a // q, ceil_div(b, q)


def mul(x: Pair, y: Pair, bits: int) -> Pair:
    """``x y``: the least and the greatest of the four end products, rounded outward (when both lower ends are
    >= 0 they are ``x_lo y_lo`` and ``x_hi y_hi``)."""
    x0, x1 = x
    y0, y1 = y
    if x0 >= 0 and y0 >= 0:
        return (x0 * y0) >> bits, -((-x1 * y1) >> bits)
    prods = (x0 * y0, x0 * y1, x1 * y0, x1 * y1)
    return min(prods) >> bits, ceil_div(max(prods), 1 << bits)


def exp(x: Pair, bits: int) -> Pair:
    return exp_fixed(x[0], bits, upper=False), exp_fixed(x[1], bits, upper=True)


def sqrt_ratio(t: Fraction | int, L: int, bits: int) -> Pair:
    """An enclosure of ``t / sqrt(L)`` for rational ``t >= 0`` and integer ``L >= 1`` (= sqrt(t^2 / L))."""
    t = Fraction(t)
    if t < 0 or L < 1:
        raise ValueError("sqrt_ratio needs t >= 0 and L >= 1")
    num = t.numerator ** 2 << (2 * bits)
    den = t.denominator ** 2 * L
    lo = math.isqrt(num // den)
    top = ceil_div(num, den)
    hi = math.isqrt(top)
    if hi * hi < top:
        hi += 1
    return lo, hi


@lru_cache(maxsize=1 << 16)
def exp_fixed(x: int, bits: int, upper: bool) -> int:
    """A lower (``upper=False``) or upper bound of ``e^{x / 2^bits} * 2^bits``, as an integer."""
    if x < 0:
        # e^{-y} = 1 / e^{y}: a lower bound needs an upper bound of e^{y} and vice versa.
        other = _exp_nonneg(-x, bits, upper=not upper)
        one2 = 1 << (2 * bits)
        return ceil_div(one2, other) if upper else one2 // other
    return _exp_nonneg(x, bits, upper)


def _exp_nonneg(x: int, bits: int, upper: bool) -> int:
    """Bound of ``e^{x/2^bits} * 2^bits`` for ``x >= 0``: Taylor at ``y = x / 2^(bits+m) <= 1/2``, then m squarings."""
    m = max(0, x.bit_length() - bits + 1)  # x / 2^(bits+m) <= 1/2
    w = bits + m + 40  # working resolution: every rounding step costs at most one unit of 2^-w
    y = x << (w - bits - m)  # y / 2^w = x / 2^(bits+m), exact
    one = 1 << w
    term, acc, k = one, one, 0
    while True:
        k += 1
        prod = term * y
        term = ceil_div(prod, k << w) if upper else prod // (k << w)
        if term == 0 and not upper:
            break
        acc += term
        if term <= 1:
            break
    if upper:
        nxt = ceil_div(term * y, (k + 1) << w)
        acc += 2 * nxt + 2
    for _ in range(m):
        acc = ceil_div(acc * acc, one) if upper else (acc * acc) // one
    shift = w - bits
    return ceil_div(acc, 1 << shift) if upper else acc >> shift
