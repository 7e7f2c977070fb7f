"""Exact evaluation of hand-built transformers: certified greedy decoding beyond floating point.

A `theory.constructions.network.Network` has rational weights in sparse matrices and computes, per layer,

    l_ij = T (W_Q^h x_i) . (W_K^h x_j) / sqrt(L),   A^h = softmax_j(l),   t_i = sum_h sum_j A^h_ij W_V^h x_j,
    x_i <- ReLU(A_m ... ReLU(A_1 t_i + b_1) ... + b_m),   logits = W_U x_{L-1}.

Every real number is enclosed in an outward-rounded fixed-point interval (`theory.interval`): the inputs and
weights are exact rationals, ``sqrt`` and ``exp`` are enclosed rigorously, so the true logits lie inside the
computed intervals. A greedy step is *certified* when one token's lower bound exceeds every other token's upper
bound: then the exact real-arithmetic model emits that token, whatever floating point would do. If the
intervals overlap, the step is retried with twice the resolution up to ``max_bits``; an exact tie (a target
on a decision boundary) is never certified. Pure Python (no torch, no sympy).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from theory.constructions.network import Network, Sparse
from theory.interval import ZERO, Pair, ceil_div, enclose, exp_fixed, mul, scale, sqrt_ratio
from theory.kernel import certified_argmax

#: an input entry: an exact rational, or a box ``(lo, hi)`` of rationals (the enclosures then hold on all of it)
Entry = Fraction | int | tuple[Fraction, Fraction]


def _enclose_input(v: Entry, bits: int) -> Pair:
    if isinstance(v, tuple):
        return enclose(v[0], bits)[0], enclose(v[1], bits)[1]
    if not v:
        return ZERO
    return enclose(v, bits)


def _rows(M: Sparse) -> list[list[tuple[int, int, int]]]:
    """Per row, the non-zero ``(column, numerator, denominator)`` triples."""
    out: list[list[tuple[int, int, int]]] = [[] for _ in range(M.rows)]
    for i, j, v in M.entries:
        out[i].append((j, v.numerator, v.denominator))
    return out


def _matvec(rows: list[list[tuple[int, int, int]]], x: Sequence[Pair]) -> list[Pair]:
    out = []
    for row in rows:
        lo = hi = 0
        for j, p, q in row:
            xj = x[j]
            if xj == ZERO:
                continue
            if q == 1 and p == 1:
                lo += xj[0]
                hi += xj[1]
            else:
                a, b = scale(xj, p, q)
                lo += a
                hi += b
        out.append((lo, hi))
    return out


@dataclass
class ExactStep:
    """One greedy step: the logit enclosures at the last position and the certified token (None if not)."""

    logits: list[Pair]
    bits: int
    token: int | None


class ExactNetwork:
    """A compiled network for repeated exact evaluation."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.layers = [([(_rows(h.W_Q), _rows(h.W_K), _rows(h.W_V)) for h in layer.heads],
                        [(_rows(a.A), [Fraction(b) for b in a.b]) for a in layer.mlp]) for layer in net.layers]
        self.W_U = _rows(net.W_U)

    def logits(self, rows: Sequence[Sequence[Entry]], bits: int) -> list[Pair]:
        """Enclosures of the logits at the last position for the input rows ``x_0..x_{L-1}``. An entry is a
        rational or a pair ``(lo, hi)`` of rationals: then the enclosures hold for every input in that box."""
        L = len(rows)
        x = [[_enclose_input(v, bits) for v in row] for row in rows]
        factor = sqrt_ratio(Fraction(self.net.T), L, bits)
        for index, (heads, mlp) in enumerate(self.layers):
            queries = [L - 1] if index == len(self.layers) - 1 else list(range(L))
            d = len(x[0])
            h = [[ZERO] * d for _ in queries]
            for WQ, WK, WV in heads:
                keys = [_matvec(WK, xj) for xj in x]
                values = [_matvec(WV, xj) for xj in x]
                for qi, i in enumerate(queries):
                    q = _matvec(WQ, x[i])
                    weights = self._softmax([mul(factor, self._dot(q, k, bits), bits) for k in keys], bits)
                    acc = h[qi]
                    for w, v in zip(weights, values):
                        for c, vc in enumerate(v):
                            if vc != ZERO:
                                a, b = mul(w, vc, bits)
                                acc[c] = (acc[c][0] + a, acc[c][1] + b)
            out = []
            for hv in h:
                for A, biases in mlp:
                    y = _matvec(A, hv)
                    hv = []
                    for (lo, hi), bias in zip(y, biases):
                        if bias:
                            blo, bhi = enclose(bias, bits)
                            lo, hi = lo + blo, hi + bhi
                        hv.append((max(lo, 0), max(hi, 0)))
                out.append(hv)
            x = out
        return _matvec(self.W_U, x[-1])

    @staticmethod
    def _dot(q: Sequence[Pair], k: Sequence[Pair], bits: int) -> Pair:
        lo = hi = 0
        for a, b in zip(q, k):
            if a != ZERO and b != ZERO:
                p = mul(a, b, bits)
                lo += p[0]
                hi += p[1]
        return lo, hi

    @staticmethod
    def _softmax(logits: list[Pair], bits: int) -> list[Pair]:
        """``A_j = e^{l_j} / sum_r e^{l_r}`` enclosed: lower ends over the largest possible denominator, upper ends
        over the smallest (logits shifted by the largest lower end, which changes nothing exactly)."""
        m = max(lo for lo, _ in logits)
        e = [(exp_fixed(lo - m, bits, upper=False), exp_fixed(hi - m, bits, upper=True)) for lo, hi in logits]
        sum_lo, sum_hi = sum(a for a, _ in e), sum(b for _, b in e)
        one = 1 << bits
        out = []
        for lo, hi in e:
            den_hi = sum_hi - hi + lo  # e_j at its lower end, the others at their upper ends
            den_lo = sum_lo - lo + hi
            out.append(((lo * one) // den_hi if den_hi > 0 else 0, min(one, ceil_div(hi * one, den_lo))))
        return out

    def step(self, rows: Sequence[Sequence[Entry]], bits: int = 128, max_bits: int = 4096) -> ExactStep:
        """Certify the greedy token for these inputs, doubling the resolution while intervals overlap."""
        while True:
            logits = self.logits(rows, bits)
            token = certified_argmax(logits)
            if token is not None or bits >= max_bits:
                return ExactStep(logits, bits, token)
            bits *= 2


@dataclass
class ExactGeneration:
    """Greedy tokens certified exactly; ``complete`` is False if a step could not be certified."""

    tokens: list[int]
    complete: bool
    steps: list[ExactStep]


def generate(net: Network, virtual: Sequence[Sequence[Entry]], tokens: Sequence[int], steps: int,
             bits: int = 128, max_bits: int = 4096, compiled: ExactNetwork | None = None,
             progress: Callable[[int], None] | None = None) -> ExactGeneration:
    """Greedy generation of ``steps`` tokens after the virtual tokens and the hard ``tokens``, every step
    certified exactly (stops at the first step that cannot be certified); ``progress(1)`` after each step."""
    exact = compiled or ExactNetwork(net)
    seq = list(tokens)
    out: list[int] = []
    trace: list[ExactStep] = []
    for _ in range(steps):
        st = exact.step(net.inputs(virtual, seq), bits, max_bits)
        trace.append(st)
        if progress is not None:
            progress(1)
        if st.token is None:
            return ExactGeneration(out, False, trace)
        out.append(st.token)
        seq.append(st.token)
    return ExactGeneration(out, True, trace)
