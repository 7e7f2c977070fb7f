"""Full fine-tuning of one head (paper-notes 2.2, eq. 7), symbolically.

``t^ft_i = sum_j softmax_j(tau x_i^T (H + Delta H) x_j) (W_V + Delta W_V) x_j``. With ``Delta H = 0`` the attention
pattern is the pretrained one and ``t^ft_i = t_i + Delta W_V xbar_i`` with ``xbar_i = sum_j A_ij x_j``
(`FineTuneHead`). A rank-1 ``Delta W_K`` already reverses every attention order of a query (`rank1_reversal`).
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import sympy as sp

from theory.depth import decide, mat, vec
from theory.head import Mode, UnrolledHead, exp_logit
from theory.kernel import ZeroTest


class FineTuneHead:
    """An `UnrolledHead` plus symbolic deltas ``Delta H`` (d x d) and ``Delta W_V`` (d x d); quantities are
    d x n matrices whose column i is the value at query position i."""

    def __init__(self, n: int, d: int, mode: Mode = "exp") -> None:
        self.head = UnrolledHead(n, d, n_S=0, mode="exp")
        self.n, self.d, self.mode = n, d, mode
        self.dH = sp.Matrix(d, d, lambda a, b: sp.Symbol(f"dh_{a}{b}", real=True))
        self.dWV = sp.Matrix(d, d, lambda a, b: sp.Symbol(f"dv_{a}{b}", real=True))

    def _weights(self, i: int, delta_H: bool) -> list[sp.Expr]:
        h, X = self.head, self.head.X
        if self.mode == "positive":
            tag = "f" if delta_H else ""
            return [sp.Symbol(f"w{tag}_{i}{j}", positive=True) for j in range(1, i + 1)]
        H = h.H + (self.dH if delta_H else sp.zeros(self.d, self.d))
        return [exp_logit(sp.expand(h.tau * (X[i - 1].T * H * X[j - 1])[0, 0])) for j in range(1, i + 1)]

    def _columns(self, f: Callable[[int], sp.Matrix]) -> sp.Matrix:
        return sp.Matrix.hstack(*[f(i) for i in range(1, self.n + 1)])

    def _attend(self, i: int, delta_H: bool, W: sp.Matrix) -> sp.Matrix:
        w = self._weights(i, delta_H)
        return sum((W * self.head.X[j] * w[j] for j in range(i)), sp.zeros(self.d, 1)) / sum(w)

    @property
    def t(self) -> sp.Matrix:
        return self._columns(lambda i: self._attend(i, False, self.head.W_V))

    def t_ft(self, delta_H: bool, delta_V: bool) -> sp.Matrix:
        W = self.head.W_V + (self.dWV if delta_V else sp.zeros(self.d, self.d))
        return self._columns(lambda i: self._attend(i, delta_H, W))

    def dWV_xbar(self, delta_V: bool) -> sp.Matrix:
        if not delta_V:
            return sp.zeros(self.d, self.n)
        return self._columns(lambda i: self._attend(i, False, self.dWV))


# ---- a rank-1 Delta W_K reverses a head (paper-notes 2.2) ------------------------------------------------------

def rank1_reversal(factor: Fraction | int = -2) -> tuple[ZeroTest, ZeroTest | None, int]:
    """(2-D witness of paper-notes 2.2, general construction, rank of Delta W_K), for the exact ``factor``.

    2-D: tokens x_j = (v_j, 1), W_Q = [0 1], W_K = [c 0] (l_ij = tau c v_j), Delta W_K = [-2c 0] = b a^T with b = 1:
    the new logit differences are the negated old ones. General: for the query q = W_Q x_i,
    Delta W_K = factor q q^T W_K / |q|^2 makes q^T (W_K + Delta W_K) x_j = (1 + factor) q^T W_K x_j; factor = -2
    negates every logit of that query, reversing every order."""
    ratio = Fraction(factor)
    fac = sp.Rational(ratio.numerator, ratio.denominator)
    c, tau = sp.Symbol("c", real=True), sp.Symbol("tau", positive=True)
    vj, vk = sp.symbols("v_j v_k", real=True)
    WQ, WK = sp.Matrix([[0, 1]]), sp.Matrix([[c, 0]])
    dWK = sp.Matrix([[1]]) * sp.Matrix([[fac * c, 0]])  # b a^T with b = 1, a = (factor c, 0)
    xi, xj, xk = sp.Matrix([vk, 1]), sp.Matrix([vj, 1]), sp.Matrix([vk, 1])

    def logit(W: sp.Matrix, a: sp.Matrix, b: sp.Matrix) -> sp.Expr:
        return tau * ((WQ * a).T * (W * b))[0, 0]

    two_d = decide((logit(WK + dWK, xi, xj) - logit(WK + dWK, xi, xk)) + (logit(WK, xi, xj) - logit(WK, xi, xk)))
    if two_d.status != "zero":
        return two_d, None, dWK.subs(c, 1).rank()
    k, d = 2, 2
    Q, K = mat("Q", k, d), mat("K", k, d)
    x_i, x_j = vec("xi", d), vec("xj", d)
    q = Q * x_i
    delta = fac * q * (q.T * K) / (q.T * q)[0, 0]
    general = (q.T * (K + delta) * x_j)[0, 0] + (q.T * K * x_j)[0, 0]
    point = {s: sp.Rational(r % 7 + 1, r % 3 + 1) for r, s in enumerate(sorted(delta.free_symbols, key=str))}
    rank = max(dWK.subs(c, 1).rank(), delta.subs(point).rank())  # q (q^T W_K): an outer product, rank <= 1
    return two_d, decide(general), rank
