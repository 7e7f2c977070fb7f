"""python-flint arb balls as the enclosures of the certified computations (`theory.approx*`, `theory.enclose`,
`theory.branch_bound`): a working precision, balls around rationals and intervals, and the exact rational ends of
a ball.

An arb ball ``[m ± r]`` contains the real value of every expression evaluated in it (outward rounding); its
``lower()`` / ``upper()`` / ``abs_lower()`` / ``abs_upper()`` are exact dyadic numbers, returned here as
`Fraction` s so that the kernel compares them with a bound exactly (docs/kernel.md).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction

import flint
from flint import arb, fmpq

PREC = 96                       # default arb working precision (bits)


@contextmanager
def precision(bits: int = PREC) -> Iterator[None]:
    """arb's working precision inside the block (python-flint's context is global; restored on exit)."""
    old = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = old


def q_arb(q: Fraction | int) -> arb:
    """A ball containing the rational ``q`` (rounded outward at the working precision)."""
    if type(q) is not Fraction:
        q = Fraction(q)
    return arb(fmpq(q.numerator, q.denominator))


def interval(lo: Fraction, hi: Fraction) -> arb:
    """A ball containing the interval ``[lo, hi]``."""
    return q_arb(lo).union(q_arb(hi))


def exact(x: arb) -> Fraction:
    """The exact value of an exact arb (an endpoint from ``lower``/``upper``/``abs_upper``): ``man · 2^e``."""
    man, e = x.mid().man_exp()
    man, e = int(man), int(e)
    return Fraction(man << e) if e >= 0 else Fraction(man, 1 << -e)


def bounds(x: arb) -> tuple[Fraction, Fraction]:
    """Rationals ``lo <= every point of x <= hi`` (outward); ArithmeticError for a non-finite ball."""
    if not x.is_finite():
        raise ArithmeticError("enclosure is not finite")
    return exact(x.lower()), exact(x.upper())


def abs_bounds(x: arb) -> tuple[Fraction, Fraction]:
    """Rationals ``lo <= |q| <= hi`` for every point q of the ball; ArithmeticError for a non-finite ball."""
    if not x.is_finite():
        raise ArithmeticError("enclosure is not finite")
    return exact(x.abs_lower()), exact(x.abs_upper())


def softmax_average(logits: Sequence[arb], values: Sequence[arb]) -> arb:
    """A ball containing the attention output ``Σ_j e^{l_j} v_j / Σ_j e^{l_j}`` for logits and values in the given
    balls (every logit shifted by the largest midpoint first, which cancels exactly and keeps exp finite)."""
    shift = arb(max(float(l.mid()) for l in logits))
    num, den = arb(0), arb(0)
    for l, v in zip(logits, values, strict=True):
        e = (l - shift).exp()
        num += e * v
        den += e
    return num / den
