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
from functools import lru_cache

from theory.constructions.network import Network, Sparse
from theory.interval import ZERO, Pair, ceil_div, enclose, exp_fixed, mul, sqrt_ratio
from theory.kernel import certified_argmax

#: an input entry: an exact rational, or a box ``(lo, hi)`` of rationals (the enclosures then hold on all of it)
Entry = Fraction | int | tuple[Fraction, Fraction]


def _enclose_input(v: Entry, bits: int) -> Pair:
    """The tightest enclosure of a rational (`theory.interval.enclose`, inlined) or of a box ``(lo, hi)``."""
    if isinstance(v, tuple):
        lo, hi = v
        box = (lo.numerator << bits) // lo.denominator, -((-hi.numerator << bits) // hi.denominator)
        if box[0] > box[1]:
            raise ValueError(f"an input box needs lo <= hi, got {v}")
        return box
    if not v:
        return ZERO
    num = v.numerator << bits
    return num // v.denominator, -((-num) // v.denominator)


Row = tuple[int, list[int], list[tuple[int, int, int]]]
Compiled = tuple[int, list[tuple[int, int]], list[Row]]


def _rows(M: Sparse) -> Compiled:
    """The number of rows; the rows ``i`` that copy one coordinate ``j`` (a single entry, equal to 1) as
    ``(i, j)``; and, per other non-zero row ``i``, the columns of its entries equal to 1 and its other
    ``(column, numerator, denominator)`` entries."""
    rows: dict[int, tuple[list[int], list[tuple[int, int, int]]]] = {}
    for i, j, v in M.entries:
        ones, scaled = rows.setdefault(i, ([], []))
        if v == 1:
            ones.append(j)
        else:
            scaled.append((j, v.numerator, v.denominator))
    return _split(M.rows, [(i, ones, scaled) for i, (ones, scaled) in sorted(rows.items())])


def _split(n: int, rows: list[Row]) -> Compiled:
    """Rows with a single entry equal to 1 become copies; empty rows are dropped."""
    copies = [(i, ones[0]) for i, ones, scaled in rows if len(ones) == 1 and not scaled]
    return n, copies, [(i, ones, scaled) for i, ones, scaled in rows if (ones or scaled) and not
                       (len(ones) == 1 and not scaled)]


def _matvec(M: Compiled, x: Sequence[Pair]) -> list[Pair]:
    """``M x`` enclosed: a copy row takes ``x_j`` as it is, ``x_j p / q`` is rounded outward
    (`theory.interval.scale`, inlined); zero rows give the exact zero."""
    n, copies, rows = M
    out = [ZERO] * n
    for i, j in copies:
        out[i] = x[j]
    for i, ones, scaled in rows:
        lo = hi = 0
        for j in ones:
            xj = x[j]
            lo += xj[0]
            hi += xj[1]
        for j, p, q in scaled:
            xlo, xhi = x[j]
            if p < 0:
                xlo, xhi = xhi, xlo
            lo += (xlo * p) // q
            hi -= (-xhi * p) // q
        out[i] = (lo, hi)
    return out


def _columns(M: Compiled, keep: set[int]) -> Compiled:
    """``M`` restricted to the columns in ``keep`` (the other entries dropped)."""
    n, copies, rows = M
    kept: list[Row] = [(i, [j], []) for i, j in copies if j in keep]
    kept += [(i, [j for j in ones if j in keep], [e for e in scaled if e[0] in keep]) for i, ones, scaled in rows]
    return _split(n, kept)


def _nonzero(v: list[Pair]) -> list[tuple[int, Pair]]:
    """The ``(index, enclosure)`` pairs of ``v`` other than the exact zero ``(0, 0)`` (which every product skips)."""
    return [(c, vc) for c, vc in enumerate(v) if vc != ZERO]


#: one head's data at one position: the query's non-zero entries (None where no query is read), the key, the
#: value's non-zero entries
HeadRow = tuple[list[tuple[int, Pair]] | None, list[Pair], list[tuple[int, Pair]]]
Heads = list[tuple[Compiled, Compiled, Compiled]]


def _head_rows(heads: Heads, x: Sequence[Pair], query: bool) -> list[HeadRow]:
    """``W_Q^h x, W_K^h x, W_V^h x`` of one position for every head ``h`` (the query only if ``query``)."""
    return [(_nonzero(_matvec(WQ, x)) if query else None, _matvec(WK, x), _nonzero(_matvec(WV, x)))
            for WQ, WK, WV in heads]


@dataclass
class ExactStep:
    """One greedy step: the logit enclosures at the last position and the certified token (None if not)."""

    logits: list[Pair]
    bits: int
    token: int | None


class ExactNetwork:
    """A compiled network for repeated exact evaluation.

    The first layer's head data at a position, ``W_Q^h x_p, W_K^h x_p, W_V^h x_p``, depends on the row ``x_p``
    alone: for a hard token ``y`` at position ``p`` it is computed once per resolution and kept (keyed by
    ``(p, y, bits)``); for fixed virtual tokens, `ExactPrefix` keeps it across greedy steps. A coordinate whose
    row of the last affine map ``A_m`` is empty leaves the MLP as the constant ``ReLU(b_m)`` (the read-out's
    constant 1): its terms of ``W_U x`` are summed once per resolution (`_read_out`). The enclosures are the same
    integers as when every row is evaluated afresh."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.layers: list[tuple[Heads, list[tuple[Compiled, list[Fraction]]]]] = [
            ([(_rows(h.W_Q), _rows(h.W_K), _rows(h.W_V)) for h in layer.heads],
             [(_rows(a.A), [Fraction(b) for b in a.b]) for a in layer.mlp]) for layer in net.layers]
        last = net.layers[-1].mlp[-1] if net.layers and net.layers[-1].mlp else None
        self._constant = [] if last is None else sorted(set(range(last.A.rows)) - {i for i, _, _ in last.A.entries})
        W_U = _rows(net.W_U)
        self.W_U = _columns(W_U, set(range(net.d)) - set(self._constant))
        self._W_U_constant = _columns(W_U, set(self._constant))
        self._read_offsets: dict[int, list[Pair]] = {}
        self._tokens: dict[tuple[int, int, int], list[HeadRow]] = {}
        self._factor: dict[tuple[int, int], Pair] = {}
        self._bias: dict[int, list[list[list[Pair | None]]]] = {}

    def logits(self, rows: Sequence[Sequence[Entry]], bits: int) -> list[Pair]:
        """Enclosures of the logits at the last position for the input rows ``x_0..x_{L-1}``. An entry is a
        rational or a pair ``(lo, hi)`` of rationals: then the enclosures hold for every input in that box."""
        return self._logits([self.first_layer(row, bits) for row in rows], bits)

    def first_layer(self, row: Sequence[Entry], bits: int) -> list[HeadRow]:
        """The first layer's head data of one input row (an entry repeated as the same object, such as one box
        over many coordinates, is enclosed once)."""
        seen: dict[int, Pair] = {}
        x = []
        for v in row:
            enc = seen.get(id(v))
            if enc is None:
                enc = seen[id(v)] = _enclose_input(v, bits)
            x.append(enc)
        return _head_rows(self.layers[0][0], x, True)

    def token_row(self, p: int, y: int, bits: int) -> list[HeadRow]:
        """`first_layer` of the row ``E[:, y] + P[p]`` of hard token ``y`` at position ``p`` (kept)."""
        key = (p, y, bits)
        found = self._tokens.get(key)
        if found is None:
            found = self._tokens[key] = self.first_layer(self.net.token_row(p, y), bits)
        return found

    def prefix(self, virtual: Sequence[Sequence[Entry]]) -> ExactPrefix:
        """These virtual tokens, fixed for greedy steps that append hard tokens."""
        return ExactPrefix(self, virtual)

    def _logits(self, first: list[list[HeadRow]], bits: int) -> list[Pair]:
        """The logits at the last position from the first layer's head data of every position."""
        L = len(first)
        factor = self._factor.get((L, bits))
        if factor is None:
            factor = self._factor[(L, bits)] = sqrt_ratio(Fraction(self.net.T), L, bits)
        biases = self._bias.get(bits)
        if biases is None:
            biases = self._bias[bits] = [[[enclose(b, bits) if b else None for b in bs] for _, bs in mlp]
                                         for _, mlp in self.layers]
        last = len(self.layers) - 1
        per_row = first
        x: list[list[Pair]] = []
        for index, (heads, mlp) in enumerate(self.layers):
            queries = [L - 1] if index == last else list(range(L))
            if index:
                per_row = [_head_rows(heads, x[i], index < last or i == L - 1) for i in range(L)]
            h = self._attend(per_row, len(heads), queries, factor, bits)
            x = [self._mlp(mlp, biases[index], hv) for hv in h]
        return self._read_out(x[-1], biases[-1][-1] if self._constant else [], bits)

    def _read_out(self, x: Sequence[Pair], bias: list[Pair | None], bits: int) -> list[Pair]:
        """``W_U x``: the terms of the constant coordinates (``ReLU(b_m)`` from the enclosed last ``bias``, the
        same integers `_mlp` gives them) are summed once per resolution, the others per call."""
        offsets = self._read_offsets.get(bits)
        if offsets is None:
            const = [ZERO] * self.net.d
            for i in self._constant:
                enc = bias[i]
                const[i] = ZERO if enc is None else (max(enc[0], 0), max(enc[1], 0))
            offsets = self._read_offsets[bits] = _matvec(self._W_U_constant, const)
        return [(lo + a, hi + b) for (lo, hi), (a, b) in zip(_matvec(self.W_U, x), offsets)]

    def _attend(self, per_row: list[list[HeadRow]], n_heads: int, queries: list[int], factor: Pair, bits: int
                ) -> list[list[Pair]]:
        """``t_i = sum_h sum_j A^h_ij W_V^h x_j`` at each query position ``i``, with
        ``A^h_i = softmax_j(T (W_Q^h x_i) . (W_K^h x_j) / sqrt(L))``."""
        d = self.net.d
        h = [[ZERO] * d for _ in queries]
        for head in range(n_heads):
            keys = [r[head][1] for r in per_row]
            values = [r[head][2] for r in per_row]
            for qi, i in enumerate(queries):
                q = per_row[i][head][0]
                assert q is not None
                weights = softmax(tuple([mul(factor, self._dot(q, k, bits), bits) for k in keys]), bits)
                acc = h[qi]
                for (w0, w1), v in zip(weights, values):  # softmax weights: 0 <= w0 <= w1
                    for c, vc in v:
                        v0, v1 = vc
                        if v0 >= 0:  # `theory.interval.mul` when both lower ends are >= 0, inlined
                            a, b = (w0 * v0) >> bits, -((-w1 * v1) >> bits)
                        else:
                            a, b = mul((w0, w1), vc, bits)
                        lo, hi = acc[c]
                        acc[c] = (lo + a, hi + b)
        return h

    @staticmethod
    def _mlp(mlp: list[tuple[Compiled, list[Fraction]]], biases: list[list[Pair | None]], hv: list[Pair]
             ) -> list[Pair]:
        """``ReLU(A_m ... ReLU(A_1 t + b_1) ... + b_m)`` with the biases enclosed."""
        for (A, _), bias in zip(mlp, biases):
            y = _matvec(A, hv)
            hv = []
            for (lo, hi), enc in zip(y, bias):
                if enc is not None:
                    lo, hi = lo + enc[0], hi + enc[1]
                hv.append((lo if lo > 0 else 0, hi if hi > 0 else 0))
        return hv

    @staticmethod
    def _dot(q: list[tuple[int, Pair]], k: Sequence[Pair], bits: int) -> Pair:
        """``q . k`` over the non-zero entries of ``q``."""
        lo = hi = 0
        for j, a in q:
            b = k[j]
            if b != ZERO:
                if a[0] >= 0 and b[0] >= 0:  # `theory.interval.mul` on non-negative lower ends, inlined
                    lo += (a[0] * b[0]) >> bits
                    hi -= (-a[1] * b[1]) >> bits
                else:
                    p = mul(a, b, bits)
                    lo += p[0]
                    hi += p[1]
        return lo, hi

    def step(self, rows: Sequence[Sequence[Entry]], bits: int = 128, max_bits: int = 4096) -> ExactStep:
        """Certify the greedy token for these inputs, doubling the resolution while intervals overlap."""
        return _certify(lambda b: self.logits(rows, b), bits, max_bits)


@lru_cache(maxsize=1 << 12)
def softmax(logits: tuple[Pair, ...], bits: int) -> tuple[Pair, ...]:
    """``A_j = e^{l_j} / sum_r e^{l_r}`` enclosed: lower ends over the largest possible denominator, upper ends
    over the smallest (logits shifted by the largest lower end, which changes nothing exactly). Kept for repeated
    logits (boxes that differ only in values share their attention weights)."""
    m = max(lo for lo, _ in logits)
    e = [(exp_fixed(lo - m, bits, upper=False), exp_fixed(hi - m, bits, upper=True)) for lo, hi in logits]
    sum_lo, sum_hi = sum(a for a, _ in e), sum(b for _, b in e)
    one = 1 << bits
    out = []
    for lo, hi in e:
        den_hi = sum_hi - hi + lo  # e_j at its lower end, the others at their upper ends
        den_lo = sum_lo - lo + hi
        out.append(((lo * one) // den_hi if den_hi > 0 else 0, min(one, ceil_div(hi * one, den_lo))))
    return tuple(out)


class ExactPrefix:
    """Virtual tokens ``s_1..s_{n_S}`` (copied when made) followed by hard tokens: the first layer's head data of
    the virtual rows is computed once per resolution, for every greedy step."""

    def __init__(self, exact: ExactNetwork, virtual: Sequence[Sequence[Entry]]) -> None:
        self.exact = exact
        self.virtual = [tuple(s) for s in virtual]
        self._rows: dict[int, list[list[HeadRow]]] = {}

    def logits(self, tokens: Sequence[int], bits: int) -> list[Pair]:
        """`ExactNetwork.logits` of ``net.inputs(virtual, tokens)``."""
        exact, n_S = self.exact, len(self.virtual)
        exact.net.check_length(n_S + len(tokens))
        first = self._rows.get(bits)
        if first is None:
            first = self._rows[bits] = [exact.first_layer(exact.net.virtual_row(p, s), bits)
                                        for p, s in enumerate(self.virtual)]
        return exact._logits(first + [exact.token_row(p, y, bits) for p, y in enumerate(tokens, n_S)], bits)

    def step(self, tokens: Sequence[int], bits: int = 128, max_bits: int = 4096) -> ExactStep:
        """`ExactNetwork.step` on ``net.inputs(virtual, tokens)``."""
        return _certify(lambda b: self.logits(tokens, b), bits, max_bits)

    def generate(self, tokens: Sequence[int], steps: int, bits: int = 128, max_bits: int = 4096,
                 progress: Callable[[int], None] | None = None) -> ExactGeneration:
        """Greedy generation of ``steps`` tokens after these virtual tokens and the hard ``tokens``, every step
        certified exactly (stops at the first step that cannot be certified); ``progress(1)`` after each step."""
        seq = list(tokens)
        out: list[int] = []
        trace: list[ExactStep] = []
        for _ in range(steps):
            st = self.step(seq, bits, max_bits)
            trace.append(st)
            if progress is not None:
                progress(1)
            if st.token is None:
                return ExactGeneration(out, False, trace)
            out.append(st.token)
            seq.append(st.token)
        return ExactGeneration(out, True, trace)


def _certify(logits: Callable[[int], list[Pair]], bits: int, max_bits: int) -> ExactStep:
    """Evaluate at ``bits``, doubling the resolution up to ``max_bits`` until the kernel's `certified_argmax`
    separates one token."""
    while True:
        enclosures = logits(bits)
        token = certified_argmax(enclosures)
        if token is not None or bits >= max_bits:
            return ExactStep(enclosures, bits, token)
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
    """`ExactPrefix.generate` of these virtual tokens on ``net`` (or its ``compiled`` form)."""
    return (compiled or ExactNetwork(net)).prefix(virtual).generate(tokens, steps, bits, max_bits, progress)
