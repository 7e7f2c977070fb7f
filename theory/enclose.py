"""Rigorous enclosures of the *frozen* quantities of a concrete head, the exact data of the LP relaxations
(`theory.relax`).

For input r with tokens ``x_1..x_n`` (float64 rows) and query ``x_q = x_n`` (causal: the last token sees every
token), with ``g_r = W_K^T W_Q x_q``:

* raw content logits ``g_r . x_j`` and values ``v_j = W_V x_j``: exact rationals (python-flint ``fmpq_mat``; every
  float64 entry is its exact binary value);
* content logits ``l_j = tau g_r . x_j``, ``tau`` exact when rational, else the arb ball of ``1/sqrt(k)``;
* the content output ``t_r = sum_j A_j v_j`` with ``A = softmax(l)`` and ``log Z_r = log sum_j exp(l_j)``:
  arb balls (outward-rounded ball arithmetic at 128 bits, any magnitude), whose ends are rounded outward once
  more to float64 numbers, so the relaxation's data are exactly the doubles an LP solver receives.

Every enclosure contains the true real value; a relaxation built from them is satisfied by the real head.
No torch here; python-flint is the kernel's ball arithmetic (docs/kernel.md).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import flint

from theory.balls import exact, precision

PREC = 128


def _q(x: float) -> flint.fmpq:
    n, d = float(x).as_integer_ratio()
    return flint.fmpq(n, d)


def qmat(M: Sequence[Sequence[float]]) -> flint.fmpq_mat:
    """A float64 matrix as an exact ``fmpq_mat``."""
    rows, cols = len(M), len(M[0])
    return flint.fmpq_mat(rows, cols, [_q(x) for row in M for x in row])


def frac(x: flint.fmpq) -> Fraction:
    """A flint ``fmpq`` as a ``Fraction``."""
    return Fraction(int(x.p), int(x.q))


def down(q: Fraction) -> Fraction:
    """The largest float64 number <= q, as a Fraction."""
    f = float(q)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return Fraction(f)


def up(q: Fraction) -> Fraction:
    """The smallest float64 number >= q, as a Fraction."""
    f = float(q)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return Fraction(f)


def ball_bounds(x: flint.arb) -> tuple[Fraction, Fraction]:
    """(lower, upper) float64 ends enclosing an arb ball."""
    return down(exact(x.lower())), up(exact(x.upper()))


@dataclass(frozen=True)
class InputEnclosure:
    """One input at its last position. ``t_lo <= t_r <= t_hi`` componentwise, ``logZ_lo <= log Z_r <= logZ_hi``,
    ``g``: the exact key direction ``W_K^T W_Q x_q`` (so a prefix logit is ``tau g . s``), ``raw``: exact raw
    content logits ``g . x_j``, ``tokens``: the exact tokens (an n x d ``fmpq_mat``), ``xbar_lo/hi``: the
    attention-weighted mean token ``sum_j A_j x_j``."""

    t_lo: list[Fraction]
    t_hi: list[Fraction]
    logZ_lo: Fraction
    logZ_hi: Fraction
    g: list[Fraction]
    raw: list[Fraction]
    tokens: flint.fmpq_mat
    xbar_lo: list[Fraction]
    xbar_hi: list[Fraction]


class HeadEnclosure:
    """Exact matrices and per-input enclosures, computed on first use (`input`): a relaxation over a few inputs
    never pays for the others. ``tau`` is the exact rational when it is one (a given float, or ``1/sqrt(k)`` for
    square k), else None (then ``tau_lo <= tau <= tau_hi``)."""

    def __init__(self, W_Q: Sequence[Sequence[float]], W_K: Sequence[Sequence[float]],
                 W_V: Sequence[Sequence[float]], tau: float | None,
                 inputs: Sequence[Sequence[Sequence[float]]]) -> None:
        self._source = (W_Q, W_K, W_V, tau, inputs)
        self._inputs = inputs
        self._cache: dict[int, InputEnclosure] = {}
        self.W_V = [[Fraction(float(x)) for x in row] for row in W_V]
        k = len(W_Q)
        root = math.isqrt(k)
        if tau is not None:
            self.tau: Fraction | None = Fraction(float(tau))
        else:
            self.tau = Fraction(1, root) if root * root == k else None
        with precision(PREC):
            if self.tau is not None:
                self._tau_ball = flint.arb(flint.fmpq(self.tau.numerator, self.tau.denominator))
                self.tau_lo = self.tau_hi = self.tau
            else:
                self._tau_ball = flint.arb(1) / flint.arb(k).sqrt()
                self.tau_lo, self.tau_hi = ball_bounds(self._tau_ball)
            Q, K, self._V = qmat(W_Q), qmat(W_K), qmat(W_V)
            self._KtQ = K.transpose() * Q  # d x d, exact
            self._Vt = flint.arb_mat(self._V.transpose())

    def built_from(self, W_Q: Sequence[Sequence[float]], W_K: Sequence[Sequence[float]],
                   W_V: Sequence[Sequence[float]], tau: float | None,
                   inputs: Sequence[Sequence[Sequence[float]]]) -> bool:
        """True if this enclosure was built from these matrices, tau and inputs (equal values), so that a caller
        deciding several problems on one head may share it."""
        return self._source == (W_Q, W_K, W_V, tau, inputs)

    @property
    def R(self) -> int:
        return len(self._inputs)

    @property
    def d_v(self) -> int:
        return len(self.W_V)

    @property
    def d(self) -> int:
        return len(self.W_V[0])

    @property
    def W_V_exact(self) -> flint.fmpq_mat:
        """W_V as an exact ``fmpq_mat``."""
        return self._V

    def input(self, r: int) -> InputEnclosure:
        """The enclosure of input r at its last position (see the module docstring)."""
        if r not in self._cache:
            with precision(PREC):
                self._cache[r] = self._enclose(self._inputs[r])
        return self._cache[r]

    def _enclose(self, tokens: Sequence[Sequence[float]]) -> InputEnclosure:
        X = qmat(tokens)  # n x d
        n, d = X.nrows(), X.ncols()
        xq = flint.fmpq_mat(d, 1, [X[n - 1, c] for c in range(d)])
        g = self._KtQ * xq  # d x 1
        raw = X * g  # n x 1
        logits = [self._tau_ball * flint.arb(raw[j, 0]) for j in range(n)]
        m = max(logits, key=lambda a: float(a.mid()))
        E = flint.arb_mat(1, n, [(l - m).exp() for l in logits])
        Z = sum((E[0, j] for j in range(1, n)), E[0, 0])
        xv = E * flint.arb_mat(X)  # 1 x d
        tv = xv * self._Vt  # 1 x d_v
        t_b = [ball_bounds(tv[0, c] / Z) for c in range(tv.ncols())]
        x_b = [ball_bounds(xv[0, c] / Z) for c in range(d)]
        lz = ball_bounds(m + Z.log())
        return InputEnclosure([a for a, _ in t_b], [b for _, b in t_b], lz[0], lz[1],
                              [frac(g[c, 0]) for c in range(d)], [frac(raw[j, 0]) for j in range(n)],
                              X, [a for a, _ in x_b], [b for _, b in x_b])

