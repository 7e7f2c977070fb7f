"""Full fine-tuning of one head (paper-notes 2.2, eq. 7), symbolically.

``t^ft_i = sum_j softmax_j(tau x_i^T (H + Delta H) x_j) (W_V + Delta W_V) x_j``. With ``Delta H = 0`` the attention
pattern is the pretrained one and ``t^ft_i = t_i + Delta W_V xbar_i`` with ``xbar_i = sum_j A_ij x_j``.
"""
from __future__ import annotations

import sympy as sp

from theory.head import Mode, UnrolledHead


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
        return [sp.exp(sp.expand(h.tau * (X[i - 1].T * H * X[j - 1])[0, 0])) for j in range(1, i + 1)]

    def _columns(self, f) -> sp.Matrix:
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
