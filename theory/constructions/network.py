"""Hand-built transformers as exact weights: the common container of the Section 3 constructions.

A `Network` is a transformer in the form of paper-notes 3: width ``d``, no LayerNorm, no residual connection,
no causal mask, no ``W_O`` (head outputs are summed). Position ``p`` of the input is
``x_p = E[:, y_p] + P[p]`` for a hard token ``y_p`` and ``x_p = s_p + P[p]`` for a virtual token ``s_p``; the
constructions keep content and the one-hot position in separate coordinates, so ``P[p] = e_{pos(p)}`` and the
sum is the paper's concatenation ``[content; e_p]``. Each layer is

    l_ij = T * (W_Q^h x_i) . (W_K^h x_j) / sqrt(L)      (L = number of positions, the authors' scaling)
    A^h = softmax_j(l),  t_i = sum_h sum_j A^h_ij W_V^h x_j,  x_i <- MLP(t_i)

where the MLP is a stack of affine maps with a ReLU after every one. The logits are ``W_U x_i`` at the last
position and decoding is greedy (argmax; ties go to the smaller token, as ``torch.argmax``).

Every weight is an exact rational (`fractions.Fraction`) in a sparse matrix. The same weights are evaluated
exactly (`theory.exact`) and, handed over as plain numbers by `proofs.constructions.float_weights`, run on the
float64 reference transformer (`numeric.constructions.transformer`). This module is pure Python: it imports
neither torch nor sympy.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

Vector = tuple[Fraction, ...]


@dataclass(frozen=True)
class Sparse:
    """A ``rows x cols`` matrix given by its non-zero ``entries`` ``(i, j, value)``."""

    rows: int
    cols: int
    entries: tuple[tuple[int, int, Fraction], ...]

    @classmethod
    def build(cls, rows: int, cols: int, values: dict[tuple[int, int], Fraction | int]) -> Sparse:
        for (i, j) in values:
            if not (0 <= i < rows and 0 <= j < cols):
                raise ValueError(f"entry ({i}, {j}) outside a {rows}x{cols} matrix")
        return cls(rows, cols, tuple(sorted((i, j, Fraction(v)) for (i, j), v in values.items() if v != 0)))

    def row_lists(self) -> list[list[tuple[int, Fraction]]]:
        """For each row, its non-zero ``(column, value)`` pairs."""
        out: list[list[tuple[int, Fraction]]] = [[] for _ in range(self.rows)]
        for i, j, v in self.entries:
            out[i].append((j, v))
        return out

    def dense(self) -> list[list[Fraction]]:
        out = [[Fraction(0)] * self.cols for _ in range(self.rows)]
        for i, j, v in self.entries:
            out[i][j] = v
        return out


@dataclass(frozen=True)
class Affine:
    """``x -> ReLU(A x + b)``."""

    A: Sparse
    b: Vector


@dataclass(frozen=True)
class Head:
    """One attention head: ``W_Q, W_K`` are ``k x d``, ``W_V`` is ``d x d`` (heads are summed, no ``W_O``)."""

    name: str
    W_Q: Sparse
    W_K: Sparse
    W_V: Sparse

    @property
    def k(self) -> int:
        return self.W_Q.rows


@dataclass(frozen=True)
class Layer:
    heads: tuple[Head, ...]
    mlp: tuple[Affine, ...]


@dataclass(frozen=True)
class Network:
    """A construction: ``E`` is ``d x V`` (token v embeds as ``E[:, v]``), ``P`` is ``n_pos x d`` (row p is
    added at position p), ``W_U`` is ``V x d``, ``T`` the inverse temperature."""

    name: str
    V: int
    d: int
    n_pos: int
    E: Sparse
    P: Sparse
    layers: tuple[Layer, ...]
    W_U: Sparse
    T: Fraction

    def __post_init__(self) -> None:
        d = self.d
        if (self.E.rows, self.E.cols) != (d, self.V) or (self.P.rows, self.P.cols) != (self.n_pos, d):
            raise ValueError(f"{self.name}: embedding shapes do not match d={d}, V={self.V}, n_pos={self.n_pos}")
        if (self.W_U.rows, self.W_U.cols) != (self.V, d):
            raise ValueError(f"{self.name}: W_U must be {self.V}x{d}")
        for l, layer in enumerate(self.layers):
            for h in layer.heads:
                if h.W_Q.cols != d or h.W_K.cols != d or h.W_K.rows != h.k or (h.W_V.rows, h.W_V.cols) != (d, d):
                    raise ValueError(f"{self.name}: head {h.name} of layer {l} has inconsistent shapes")
            width = d
            for a in layer.mlp:
                if a.A.cols != width or len(a.b) != a.A.rows:
                    raise ValueError(f"{self.name}: MLP of layer {l} has inconsistent shapes")
                width = a.A.rows
            if width != d:
                raise ValueError(f"{self.name}: MLP of layer {l} must end at width d={d}, got {width}")
        if self.T <= 0:
            raise ValueError(f"{self.name}: the inverse temperature T must be positive, got {self.T}")

    @property
    def heads_per_layer(self) -> tuple[int, ...]:
        return tuple(len(layer.heads) for layer in self.layers)

    def inputs(self, virtual: Sequence[Sequence[Any]], tokens: Sequence[int]) -> list[tuple[Any, ...]]:
        """The input rows ``x_p``: virtual tokens ``s_1..s_{n_S}`` at positions 0.., then hard ``tokens``.
        Virtual-token entries may be rationals, sympy expressions (`theory.capacity`) or ``(lo, hi)`` boxes
        (`theory.exact`); a box entry must sit where ``P`` is zero (content coordinates)."""
        self.check_length(len(virtual) + len(tokens))
        n_S = len(virtual)
        return [self.virtual_row(p, s) for p, s in enumerate(virtual)] + [self.token_row(n_S + i, y)
                                                                           for i, y in enumerate(tokens)]

    def check_length(self, n: int) -> None:
        """Refuse ``n`` positions beyond the context size."""
        if n > self.n_pos:
            raise ValueError(f"{self.name}: {n} positions exceed the context size {self.n_pos}")

    def virtual_row(self, p: int, s: Sequence[Any]) -> tuple[Any, ...]:
        """``x_p = s + P[p]`` for a virtual token ``s`` of d entries (any number type, or ``(lo, hi)`` boxes)."""
        if len(s) != self.d:
            raise ValueError(f"{self.name}: a virtual token must have d={self.d} entries, got {len(s)}")
        return self._add_position(p, list(s))

    def token_row(self, p: int, y: int) -> tuple[Any, ...]:
        """``x_p = E[:, y] + P[p]`` for a hard token ``y``."""
        if not 0 <= y < self.V:
            raise ValueError(f"{self.name}: token {y} outside [0, {self.V})")
        x: list[Any] = [Fraction(0)] * self.d
        for i, v in self._E_columns[y]:
            x[i] += v
        return self._add_position(p, x)

    def _add_position(self, p: int, x: list[Any]) -> tuple[Any, ...]:
        for j, v in self._P_rows[p]:
            x[j] += v
        return tuple(x)

    @cached_property
    def _E_columns(self) -> list[list[tuple[int, Fraction]]]:
        return _columns(self.E)

    @cached_property
    def _P_rows(self) -> list[list[tuple[int, Fraction]]]:
        return self.P.row_lists()


def _columns(M: Sparse) -> list[list[tuple[int, Fraction]]]:
    cols: list[list[tuple[int, Fraction]]] = [[] for _ in range(M.cols)]
    for i, j, v in M.entries:
        cols[j].append((i, v))
    return cols


def decoder(V: int, d: int, z: int = 0, one: int = 1) -> Sparse:
    """The read-out ``W_U``: logit ``f_u(z) = (2u/V - 1) z + 1/4 - (u/V)^2 = (z - 1/2)^2 - (z - u/V)^2`` for
    token ``u``, from coordinate ``z`` and a coordinate ``one`` that holds the constant 1. Its argmax is the grid
    point ``u/V`` nearest to ``z`` (claim ``capacity.decoder_identity``)."""
    values: dict[tuple[int, int], Fraction | int] = {}
    for u in range(V):
        values[(u, z)] = Fraction(2 * u, V) - 1
        values[(u, one)] = Fraction(1, 4) - Fraction(u * u, V * V)
    return Sparse.build(V, d, values)


def select_and_read(d: int, blocks: Sequence[int], width: int) -> tuple[Affine, Affine]:
    """The shared read-out MLP: ``sigma_i = ReLU(sum_b h_{b+i} - 1)`` for ``i < width`` keeps the one coordinate
    where a one-hot selector meets a table of values in ``[0, 1)`` (both summed into one block, or in two blocks
    listed in ``blocks``); then ``z = ReLU(sum_i sigma_i)`` goes to coordinate 0 and the constant 1 to
    coordinate 1 (for `decoder`)."""
    first = Sparse.build(width, d, {(i, b + i): 1 for i in range(width) for b in blocks})
    read = Sparse.build(d, width, {(0, i): 1 for i in range(width)})
    return (Affine(first, tuple([Fraction(-1)] * width)),
            Affine(read, tuple([Fraction(0), Fraction(1)] + [Fraction(0)] * (d - 2))))


def one_layer(name: str, V: int, d: int, n_pos: int, E: Sparse, pos_start: int, heads: tuple[Head, ...],
              width: int, T: Fraction | int) -> Network:
    """The one-layer constructions' common form: one-hot positions ``P[p] = e_{pos_start + p}``, the ``heads``,
    the read-out MLP `select_and_read` over the first ``width`` coordinates and the quadratic `decoder`."""
    return Network(name=name, V=V, d=d, n_pos=n_pos, E=E, P=one_hot_positions(n_pos, d, pos_start),
                   layers=(Layer(heads, select_and_read(d, (0,), width)),), W_U=decoder(V, d), T=Fraction(T))


def one_hot_positions(n_pos: int, d: int, start: int) -> Sparse:
    """``P[p] = e_{start + p}``."""
    return Sparse.build(n_pos, d, {(p, start + p): 1 for p in range(n_pos)})


def identity_block(rows: int, cols: int, pairs: Iterable[tuple[int, int, int]]) -> Sparse:
    """A 0/1 matrix copying ``length`` coordinates from ``src`` to ``dst`` for each ``(dst, src, length)``."""
    return Sparse.build(rows, cols, {(dst + i, src + i): 1 for dst, src, n in pairs for i in range(n)})
