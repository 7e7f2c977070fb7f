"""Outward-rounded fixed-point interval arithmetic: exact enclosures of real computations with e^x and sqrt.

A number is enclosed by an `Interval` ``[lo, hi] * 2^-bits`` with Python integers ``lo <= hi``. Every operation
rounds the lower end down and the upper end up, so the true real value of any expression built from exact
rationals with ``+, -, *, /, max(0, .), exp, sqrt`` always lies inside the computed interval. Nothing here uses
floating point. The cost is exact big-integer arithmetic; ``bits`` (the absolute resolution ``2^-bits``) is
chosen by the caller.

e^x is enclosed by a Taylor sum with a remainder bound after range reduction ``e^x = (e^{x/2^m})^{2^m}``:
for ``0 <= y <= 1/2``, ``sum_{k<=K} y^k/k! <= e^y <= sum_{k<=K} y^k/k! + 2 y^{K+1}/(K+1)!``; negative arguments
use ``e^x = 1/e^{-x}``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache


def _floor_div(a: int, b: int) -> int:
    return a // b


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass(frozen=True)
class Interval:
    """The real interval ``[lo, hi] / 2^bits``."""

    lo: int
    hi: int
    bits: int

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise ValueError(f"empty interval [{self.lo}, {self.hi}]")

    # ---- constructors -------------------------------------------------------------------------------------

    @classmethod
    def exact(cls, value: Fraction | int, bits: int) -> "Interval":
        """The tightest enclosure of a rational at this resolution."""
        q = Fraction(value)
        num, den = q.numerator << bits, q.denominator
        return cls(_floor_div(num, den), _ceil_div(num, den), bits)

    # ---- views --------------------------------------------------------------------------------------------

    @property
    def lower(self) -> Fraction:
        return Fraction(self.lo, 1 << self.bits)

    @property
    def upper(self) -> Fraction:
        return Fraction(self.hi, 1 << self.bits)

    @property
    def width(self) -> Fraction:
        return Fraction(self.hi - self.lo, 1 << self.bits)

    def contains(self, value: Fraction | int) -> bool:
        return self.lower <= Fraction(value) <= self.upper

    def __repr__(self) -> str:
        return f"[{float(self.lower):.6g}, {float(self.upper):.6g}]"

    # ---- arithmetic ---------------------------------------------------------------------------------------

    def __add__(self, other: "Interval") -> "Interval":
        return Interval(self.lo + other.lo, self.hi + other.hi, self.bits)

    def __sub__(self, other: "Interval") -> "Interval":
        return Interval(self.lo - other.hi, self.hi - other.lo, self.bits)

    def __neg__(self) -> "Interval":
        return Interval(-self.hi, -self.lo, self.bits)

    def scale(self, c: Fraction | int) -> "Interval":
        """Multiplication by an exact rational constant."""
        c = Fraction(c)
        p, q = c.numerator, c.denominator
        a, b = self.lo * p, self.hi * p
        if p < 0:
            a, b = b, a
        return Interval(_floor_div(a, q), _ceil_div(b, q), self.bits)

    def __mul__(self, other: "Interval") -> "Interval":
        products = (self.lo * other.lo, self.lo * other.hi, self.hi * other.lo, self.hi * other.hi)
        return Interval(min(products) >> self.bits, _ceil_div(max(products), 1 << self.bits), self.bits)

    def relu(self) -> "Interval":
        return Interval(max(self.lo, 0), max(self.hi, 0), self.bits)

    def shift(self, c: int) -> "Interval":
        """Add an exact fixed-point constant ``c / 2^bits``."""
        return Interval(self.lo + c, self.hi + c, self.bits)

    def exp(self) -> "Interval":
        return Interval(exp_fixed(self.lo, self.bits, upper=False), exp_fixed(self.hi, self.bits, upper=True),
                        self.bits)


def total(xs: list[Interval], bits: int) -> Interval:
    """The sum of intervals (the empty sum is exactly 0)."""
    return Interval(sum(x.lo for x in xs), sum(x.hi for x in xs), bits)


def ratio(num: Interval, den: Interval) -> Interval:
    """``num / den`` for ``num >= 0`` and ``den > 0`` (as used by softmax weights)."""
    if num.lo < 0 or den.lo <= 0:
        raise ValueError("ratio needs num >= 0 and den > 0")
    one = 1 << num.bits
    return Interval(_floor_div(num.lo * one, den.hi), _ceil_div(num.hi * one, den.lo), num.bits)


def sqrt_ratio(t: Fraction, L: int, bits: int) -> Interval:
    """An enclosure of ``t / sqrt(L)`` for rational ``t >= 0`` and integer ``L >= 1`` (= sqrt(t^2 / L))."""
    t = Fraction(t)
    if t < 0 or L < 1:
        raise ValueError("sqrt_ratio needs t >= 0 and L >= 1")
    num = t.numerator ** 2 << (2 * bits)
    den = t.denominator ** 2 * L
    lo = math.isqrt(_floor_div(num, den))
    hi = math.isqrt(_ceil_div(num, den))
    if hi * hi < _ceil_div(num, den):
        hi += 1
    return Interval(lo, hi, bits)


@lru_cache(maxsize=1 << 16)
def exp_fixed(x: int, bits: int, upper: bool) -> int:
    """A lower (``upper=False``) or upper bound of ``e^{x / 2^bits} * 2^bits``, as an integer."""
    if x < 0:
        # e^{-y} = 1 / e^{y}: a lower bound needs an upper bound of e^{y} and vice versa.
        other = _exp_nonneg(-x, bits, upper=not upper)
        one2 = 1 << (2 * bits)
        return _ceil_div(one2, other) if upper else _floor_div(one2, other)
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
        term = _ceil_div(prod, k << w) if upper else _floor_div(prod, k << w)
        if term == 0 and not upper:
            break
        acc += term
        if term <= 1:
            break
    if upper:
        nxt = _ceil_div(term * y, (k + 1) << w)
        acc += 2 * nxt + 2
    for _ in range(m):
        acc = _ceil_div(acc * acc, one) if upper else _floor_div(acc * acc, one)
    shift = w - bits
    return _ceil_div(acc, 1 << shift) if upper else acc >> shift
