"""FALSE: ordering claims (``order_claim``: sign(F_ij - F_ik) = sign(A_ij - A_ik) for every visible j, k) for
attention maps that reverse, tie or only almost preserve the order. Ties count: a map constant in j has
sign 0 where A differs, so "same order" is false.
"""
from __future__ import annotations

from fractions import Fraction

import sympy

from proofs import order_claim

TRUTH = False


def claim(name, title, attn):
    return order_claim(f"mut.false.order.{name}", title, attn)


CLAIMS = [
    claim("negated", "-A^pt keeps the order of A", lambda h: -h.A_pt),
    claim("difference", "A^pt - A (= -alpha A) keeps the order of A", lambda h: h.A_pt - h.A),
    claim("one_minus_two_alpha", "A^pt - alpha A (= (1 - 2 alpha) A) keeps the order of A",
          lambda h: h.A_pt - h.alpha * h.A),
    claim("all_ties", "0 * A^pt (every pair tied) keeps the order of A", lambda h: h.A_pt * 0),
    claim("two_alpha_minus_one", "alpha A - A^pt (= (2 alpha - 1) A) keeps the order of A",
          lambda h: h.alpha * h.A - h.A_pt),
    claim("tiny_float_reversal", "A^pt - 1e-30 A (reverses when alpha > 1 - 1e-30) keeps the order",
          lambda h: h.A_pt - 1e-30 * h.A),
    claim("tiny_rational_reversal", "A^pt - Rational(1, 10**20) A keeps the order",
          lambda h: h.A_pt - sympy.Rational(1, 10**20) * h.A),
    claim("tiny_fraction_reversal", "A^pt - Fraction(1, 10**12) A keeps the order",
          lambda h: h.A_pt - Fraction(1, 10**12) * h.A),
]
