"""Symbolic single attention heads with prefixes, as *views*: named quantities for one query position i.

Notation (paper-notes section 1-2): ``H = W_Q^T W_K``, logits ``l_ij = tau x_i^T H x_j``, causal mask ``j <= i``,
content weights ``e_ij = exp(l_ij)``, ``A_ij = e_ij / Z_i`` with ``Z_i = sum_{r<=i} e_ir``, head output
``t_i = sum_j A_ij W_V x_j``. A prefix of ``n_S`` positions contributes weights ``p_m = exp(tau x_i^T H s_m)``
and values ``u_m = W_V s_m`` (or raw key/value vectors). With the prefix,
``A^pt_ij = e_ij / (P + Z_i)``, ``alpha_im = p_m / (P + Z_i)``,
``t^pt_i = (sum_m p_m u_m + sum_j e_ij v_j) / (P + Z_i)``.

Every view exposes the same attribute names, so one statement function ``h -> (lhs, rhs)`` is evaluated by
sympy here, by z3 (`theory.smt`) and by torch (`numeric.attention`):

    t, t_pt      head output without / with the prefix             (vector)
    A, A_pt      attention on content without / with the prefix    (scalar for a generic j, or a vector over j)
    alpha        total prefix attention  sum_m alpha_im            (scalar)
    alphas       [alpha_im for each prefix position m]
    u            [u_m = W_V s_m]                                    (vectors)
    bias         sum_m alpha_im u_m                                 (vector)
    l_prefix     [tau x_i^T H s_m];  lse = log Z_i                  (only where logarithms exist)
    sigmoid(x), minors(a, b) (all 2x2 minors of [a b]; zero iff a, b parallel), matvec(M, v)

Two symbolic forms:

* `GeneralHead`: any number n of content tokens and any n_S. Sums are abstracted as symbols
  ``Z = sum_j e_ij``, ``T = sum_j e_ij v_j``, ``P = sum_m p_m``, ``U = sum_m p_m u_m``; a generic content position
  has weight ``e_j`` (with ``e_j <= Z`` not needed by any identity) and a generic prefix position weight ``p_m``.
  Vectors are taken componentwise (``d=None``: one generic real component, valid for every d because every
  operation is componentwise) or with d explicit components.
* `UnrolledHead`: concrete n, d, n_S built from explicit matrices ``W_Q, W_K, W_V``, ``X``, ``s_m``; weights kept as
  ``exp(l)`` or abstracted as independent positive symbols.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar

import sympy as sp

from theory.mentions import note
from theory.shape import Shape

Mode = Literal["exp", "positive"]


class ContentMatrix(sp.MutableDenseMatrix):
    """A column indexed by content position: every index or slice a statement applies is recorded
    (`theory.mentions`), so a check can tell a statement that names positions from a size-generic one."""

    def __getitem__(self, key: Any) -> Any:
        note(key)
        return super().__getitem__(key)


def sigmoid(x: sp.Expr) -> sp.Expr:
    """sigma(x) = 1 / (1 + exp(-x))."""
    return 1 / (1 + sp.exp(-x))


def minors(a: sp.Matrix | sp.Expr, b: sp.Matrix) -> sp.Matrix:
    """All 2x2 minors a_r b_c - a_c b_r (r < c); they all vanish iff a and b are parallel."""
    if not isinstance(a, sp.MatrixBase):
        raise ValueError("parallelism needs explicit vector components (d >= 2)")
    d = len(a)
    return sp.Matrix([a[r] * b[c] - a[c] * b[r] for r in range(d) for c in range(r + 1, d)])


def matmul(A: sp.MatrixBase, B: sp.MatrixBase) -> sp.Matrix:
    """The product ``A B`` of sympy matrices: entry (r, c) is ``Add(*[A[r, k] B[k, c]])`` over the k where neither
    factor is the literal 0, which is exactly the matrix ``A * B`` builds when no entry is infinite (sympy adds the
    same products with ``Add``; entries here are finite expressions in real symbols). Unlike ``A * B`` it does not
    form ``0 * A[r, k]`` and ``0 * B[k, c]`` for every entry to look for infinities: on large entries (a head
    output, a layer-1 state) each such product asks the assumptions ``is_finite`` of the whole expression."""
    if A.cols != B.rows:
        raise sp.ShapeError(f"cannot multiply a {A.rows}x{A.cols} by a {B.rows}x{B.cols} matrix")
    rows, columns = A.tolist(), B.T.tolist()
    return sp.Matrix([[sp.Add(*[a * b for a, b in zip(row, col) if a != 0 and b != 0]) for col in columns]
                      for row in rows])


def _vec(prefix: str, d: int | None, **assumptions: bool) -> sp.Symbol | sp.Matrix:
    if d is None:
        return sp.Symbol(prefix, **assumptions)
    return sp.Matrix([sp.Symbol(f"{prefix}_{c}", **assumptions) for c in range(d)])


class _Helpers:
    sigmoid = staticmethod(sigmoid)
    minors = staticmethod(minors)

    @staticmethod
    def matvec(M: sp.Matrix, v: sp.Matrix) -> sp.Matrix:
        """M v (`matmul`)."""
        return matmul(M, v)


class GeneralHead(_Helpers):
    """A head for general n (content) and n_S (prefix), at a generic query position i.

    ``n_prefix=1``: one prefix position with weight ``p = exp(l_0)`` and value ``u``.
    ``n_prefix=None``: general n_S with totals ``P, U`` and a generic prefix position ``m`` (``p_m, u_m``).
    ``mode="exp"`` keeps ``p = exp(l_0)`` and ``e_j = exp(l_j)``; ``"positive"`` uses positive symbols.
    """

    def __init__(self, n_prefix: int | None = 1, d: int | None = None, mode: Mode = "positive",
                 tag: str = "") -> None:
        if n_prefix not in (1, None):
            raise ValueError("GeneralHead takes n_prefix=1 or None (general n_S)")
        self.n_prefix, self.d, self.mode = n_prefix, d, mode
        pos = dict(positive=True)
        self.Z = sp.Symbol(f"Z{tag}", **pos)
        self.T = _vec(f"T{tag}", d, real=True)
        if mode == "exp":
            self.l_j, self.l_0 = sp.Symbol(f"l_j{tag}", real=True), sp.Symbol(f"l_0{tag}", real=True)
            self.e_j, p = sp.exp(self.l_j), sp.exp(self.l_0)
        else:
            self.e_j, p = sp.Symbol(f"e_j{tag}", **pos), sp.Symbol(f"p{tag}", **pos)
        if n_prefix == 1:
            self.p_m, self.P = p, p
            self.u_m = _vec(f"u{tag}", d, real=True)
            self.U = self.P * self.u_m
        else:
            self.p_m = p
            self.P = sp.Symbol(f"P{tag}", **pos)
            self.u_m = _vec(f"u_m{tag}", d, real=True)
            self.U = _vec(f"U{tag}", d, real=True)

    @property
    def t(self) -> sp.Expr | sp.Matrix:
        return self.T / self.Z

    @property
    def A(self) -> sp.Expr:
        return self.e_j / self.Z

    @property
    def A_pt(self) -> sp.Expr:
        return self.e_j / (self.P + self.Z)

    @property
    def t_pt(self) -> sp.Expr | sp.Matrix:
        """Softmax over prefix and content keys: the two sums are the separate summands U and T."""
        return (self.U + self.T) / (self.P + self.Z)

    @property
    def alpha(self) -> sp.Expr:
        return self.P / (self.P + self.Z)

    @property
    def alphas(self) -> list[sp.Expr]:
        return [self.p_m / (self.P + self.Z)]

    @property
    def u(self) -> list[sp.Expr | sp.Matrix]:
        return [self.u_m]

    @property
    def bias(self) -> sp.Expr | sp.Matrix:
        return self.U / (self.P + self.Z)

    @property
    def prefix_softmax(self) -> list[sp.Expr]:
        """softmax over the prefix logits alone: p_m / P."""
        return [self.p_m / self.P]

    @property
    def mass_pt(self) -> sp.Expr:
        """sum_j A^pt_ij = Z / (P + Z) (the content weights sum to Z by definition)."""
        return self.Z / (self.P + self.Z)

    @property
    def l_prefix(self) -> list[sp.Expr]:
        return [self.l_0 if self.mode == "exp" else sp.log(self.p_m)]

    @property
    def lse(self) -> sp.Expr:
        return sp.log(self.Z)


@dataclass
class WeightedView(_Helpers):
    """Quantities from explicit lists: content weights ``w`` / values ``v``, prefix weights ``p`` / values ``u``.

    Engine-agnostic: only ``+ - * /`` are used, so the lists may hold sympy expressions or z3 terms
    (with `theory.smt.Vec` vectors). ``zero`` is the zero vector of the engine.
    """

    w: Sequence[Any]
    v: Sequence[Any]
    p: Sequence[Any]
    u: Sequence[Any]
    zero: Any
    l_prefix_: Sequence[Any] | None = None
    lse_: Any = None
    lse_of: Callable[[], Any] | None = None  # builds ``lse_`` when a statement first reads ``lse``

    def _wsum(self, ws: Sequence[Any], vs: Sequence[Any]) -> Any:
        total = self.zero
        for weight, value in zip(ws, vs):
            total = total + value * weight
        return total

    @cached_property
    def Z(self) -> Any:
        return sum(self.w[1:], self.w[0])

    @cached_property
    def P(self) -> Any:
        return sum(self.p[1:], self.p[0]) if self.p else 0

    @property
    def t(self) -> Any:
        return self._wsum(self.w, self.v) / self.Z

    @property
    def t_pt(self) -> Any:
        """Softmax over the concatenated keys (prefix first), values weighted and summed."""
        keys_w = [*self.p, *self.w]
        return self._wsum(keys_w, [*self.u, *self.v]) / sum(keys_w[1:], keys_w[0])

    @property
    def A(self) -> Any:
        return self._vector([wj / self.Z for wj in self.w])

    @property
    def A_pt(self) -> Any:
        return self._vector([wj / (self.P + self.Z) for wj in self.w])

    @property
    def alphas(self) -> list[Any]:
        return [pm / (self.P + self.Z) for pm in self.p]

    @property
    def alpha(self) -> Any:
        return self.P / (self.P + self.Z)

    @property
    def bias(self) -> Any:
        return self._wsum(self.alphas, self.u)

    @property
    def prefix_softmax(self) -> list[Any]:
        return [pm / self.P for pm in self.p]

    @property
    def mass_pt(self) -> Any:
        return sum((wj / (self.P + self.Z) for wj in self.w[1:]), self.w[0] / (self.P + self.Z))

    @property
    def l_prefix(self) -> list[Any]:
        if self.l_prefix_ is None:
            raise ValueError("this view has no logits (weights are abstract)")
        return list(self.l_prefix_)

    @property
    def lse(self) -> Any:
        if self.lse_ is None and self.lse_of is not None:
            self.lse_ = self.lse_of()
        if self.lse_ is None:
            raise ValueError("this view has no logits (weights are abstract)")
        return self.lse_

    def _vector(self, items: list[Any]) -> Any:
        """A content-indexed column (``A``, ``A_pt``) that records which positions a statement names."""
        return ContentMatrix(items)


class UnrolledHead:
    """A concrete head: n content tokens ``x_1..x_n`` in R^d, prefix ``s_1..s_{n_S}``, ``W_Q, W_K`` in R^{k x d},
    ``W_V`` in R^{d x d}, scale ``tau``; all entries are real symbols.

    ``prefix="hidden"``: prefix keys/values ``W_K s_m``, ``W_V s_m``; ``"kv"``: raw key/value vectors.
    ``mode="exp"`` keeps ``exp(l_ij)``; ``"positive"`` replaces each weight by an independent positive symbol
    (an over-approximation: the identities then hold for all positive weights, so in particular for softmax).
    """

    def __init__(self, n: int, d: int, n_S: int = 1, k: int | None = None, mode: Mode = "positive",
                 prefix: Literal["hidden", "kv"] = "hidden") -> None:
        if n < 1 or d < 1 or n_S < 0:
            raise ValueError(f"impossible dimensions n={n}, d={d}, n_S={n_S}")
        k = k or d
        self.n, self.d, self.n_S, self.k, self.mode = n, d, n_S, k, mode
        real = dict(real=True)
        self.W_Q = sp.Matrix(k, d, lambda a, b: sp.Symbol(f"q_{a}{b}", **real))
        self.W_K = sp.Matrix(k, d, lambda a, b: sp.Symbol(f"k_{a}{b}", **real))
        self.W_V = sp.Matrix(d, d, lambda a, b: sp.Symbol(f"v_{a}{b}", **real))
        self.X = [sp.Matrix(d, 1, lambda a, _b, j=j: sp.Symbol(f"x_{j}{a}", **real)) for j in range(1, n + 1)]
        self.S = [sp.Matrix(d, 1, lambda a, _b, m=m: sp.Symbol(f"s_{m}{a}", **real)) for m in range(1, n_S + 1)]
        self.tau = sp.Symbol("tau", positive=True)
        self._products: dict[tuple[str, int], sp.Matrix] = {}  # W x_j by (W, j), see `_product`
        if prefix == "hidden":
            self.prefix_keys = [self.W_K * s for s in self.S]
            self.prefix_values = [self.W_V * s for s in self.S]
        else:
            self.prefix_keys = [sp.Matrix(k, 1, lambda a, _b, m=m: sp.Symbol(f"kp_{m}{a}", **real))
                                for m in range(1, n_S + 1)]
            self.prefix_values = [sp.Matrix(d, 1, lambda a, _b, m=m: sp.Symbol(f"vp_{m}{a}", **real))
                                  for m in range(1, n_S + 1)]

    @property
    def H(self) -> sp.Matrix:
        return self.W_Q.T * self.W_K

    def with_tokens(self, X: list[sp.Matrix]) -> UnrolledHead:
        """This head (same W_Q, W_K, W_V, prefix and tau) reading the tokens ``X`` (another input)."""
        other = copy.copy(self)
        other.X, other._products = X, {}
        return other

    def _product(self, W: Literal["Q", "K", "V"], j: int) -> sp.Matrix:
        """``W x_j`` (W one of W_Q, W_K, W_V), computed once per head and token: a view at query position i
        reads ``W_K x_j``, ``W_V x_j`` for every j <= i, and every position's view shares them."""
        if (W, j) not in self._products:
            self._products[W, j] = {"Q": self.W_Q, "K": self.W_K, "V": self.W_V}[W] * self.X[j - 1]
        return self._products[W, j]

    def logit(self, i: int, key: sp.Matrix) -> sp.Expr:
        """l = tau (W_Q x_i)^T key, with key = W_K x_j for content or a prefix key."""
        return sp.expand(self.tau * (self._product("Q", i).T * key)[0, 0])

    def view(self, i: int) -> WeightedView:
        """Quantities at query position i (1-based); the causal mask keeps content j <= i. The logits are
        expanded only for ``mode="exp"`` (the positive mode's weights are independent symbols)."""
        if not 1 <= i <= self.n:
            raise ValueError(f"query position {i} outside 1..{self.n}")
        if self.mode == "exp":
            content_logits = [self.logit(i, self._product("K", j)) for j in range(1, i + 1)]
            prefix_logits = [self.logit(i, key) for key in self.prefix_keys]
            w = [exp_logit(l) for l in content_logits]
            p = [exp_logit(l) for l in prefix_logits]
        else:
            w = [sp.Symbol(f"w_{i}{j}", positive=True) for j in range(1, i + 1)]
            p = [sp.Symbol(f"w_{i}p{m}", positive=True) for m in range(1, self.n_S + 1)]
            prefix_logits = [sp.log(pm) for pm in p]
        v = [self._product("V", j) for j in range(1, i + 1)]
        return WeightedView(w, v, p, list(self.prefix_values), sp.zeros(self.d, 1), prefix_logits,
                            lse_of=lambda: sp.log(sum(w)))


def exp_logit(l: sp.Expr) -> sp.Expr:
    """exp(l) for a logit l: the expression ``sp.exp(l)`` returns, without its evaluation when l is not a number and
    has no logarithm, pi or i in it. That evaluation rewrites only numbers, logarithms, multiples of pi i (in l or
    in a term of the sum l) and an argument it proves zero (no non-zero l), so it returns exp(l) itself for such
    an l, after asking the assumptions of every term and of the whole sum to find that out."""
    if l.is_number or l.has(sp.log, sp.pi, sp.I):
        return sp.exp(l)
    return sp.exp(l, evaluate=False)


View = TypeVar("View")


class Env(Generic[View]):
    """What a statement function receives: ``view(r, h)`` for input r and head h, ``W_O(h)``, ``total(xs)``.

    A statement is ``Callable[[Env], tuple[lhs, rhs]]`` and claims ``lhs == rhs`` (`proofs.view.EnvView` names
    what every engine's environment provides)."""

    shape: Shape
    _views: list[list[View]]
    _W_O: list[sp.Matrix | None]

    def view(self, r: int = 0, head: int = 0) -> View:
        return self._views[r][head]

    @property
    def h(self) -> View:
        return self.view(0, 0)

    def W_O(self, head: int) -> sp.Matrix | None:
        """The output matrix of ``head`` (None on the componentwise general view, which has no matrices)."""
        return self._W_O[head]

    @property
    def n_heads(self) -> int:
        return self.shape.heads

    @staticmethod
    def total(xs: Sequence[Any]) -> Any:
        """Sum of a non-empty list of scalars or vectors (works for sympy matrices, z3 `Vec`, tensors)."""
        acc = xs[0]
        for x in xs[1:]:
            acc = acc + x
        return acc


class GeneralEnv(Env[GeneralHead]):
    """`GeneralHead` views. Several inputs share the prefix value ``u`` (possible for n_S = 1 only)."""

    def __init__(self, shape: Shape, d: int | None = None, mode: Mode = "positive") -> None:
        n_prefix = 1 if shape.n_S == 1 else None
        if shape.inputs > 1 and n_prefix is None:
            raise ValueError("the general-n_S view cannot share prefix values across inputs; use UnrolledEnv")
        if shape.heads > 1 and d is None:
            raise ValueError("several heads mixed by W_O need explicit vector components (d)")
        self.shape = shape
        self._views = [[GeneralHead(n_prefix, d, mode, tag=f"{r}{h}" if (shape.inputs, shape.heads) != (1, 1) else "")
                        for h in range(shape.heads)] for r in range(shape.inputs)]
        for h in range(shape.heads):
            for r in range(1, shape.inputs):
                head = self._views[r][h]
                head.u_m = self._views[0][h].u_m
                head.U = head.P * head.u_m
        self._W_O = [sp.Matrix(d, d, lambda a, b, h=h: sp.Symbol(f"o{h}_{a}{b}", real=True)) if d else None
                     for h in range(shape.heads)]


class UnrolledEnv(Env[WeightedView]):
    """`UnrolledHead` views at query position i: each head has its own W_Q, W_K, W_V; all share the prefix
    hidden states s_m; input r has its own tokens x^(r)_j."""

    def __init__(self, shape: Shape, n: int, d: int, i: int | None = None, mode: Mode = "positive",
                 _grid: list[list[UnrolledHead]] | None = None) -> None:
        self.shape, self.n, self.d, self.mode = shape, n, d, mode
        self._grid = _grid if _grid is not None else self._build_grid(shape, n, d, mode)
        self.i = i = n if i is None else i
        self._views = []
        for r, heads in enumerate(self._grid):
            row = []
            for h, head in enumerate(heads):
                view = head.view(i)
                if mode == "positive":  # weights are per (input, head); rename to keep them distinct
                    view = _retag(view, f"r{r}h{h}")
                row.append(view)
            self._views.append(row)
        self._W_O = [sp.Matrix(d, d, lambda a, b, h=h: sp.Symbol(f"o{h}_{a}{b}", real=True))
                     for h in range(shape.heads)]

    @staticmethod
    def _build_grid(shape: Shape, n: int, d: int, mode: Mode) -> list[list[UnrolledHead]]:
        """The heads each input reads, ``[r][h]``: head h's weights are shared by every input; with several
        inputs, input r reads its own tokens x^(r)_j."""
        heads = [UnrolledHead(n, d, shape.n_S, mode=mode) for _ in range(shape.heads)]
        for h, head in enumerate(heads):
            _rename(head, f"h{h}" if shape.heads > 1 else "")
        if shape.inputs == 1:
            return [heads]
        tokens = [[sp.Matrix(d, 1, lambda a, _b, j=j, r=r: sp.Symbol(f"x{r}_{j}{a}", real=True))
                   for j in range(1, n + 1)] for r in range(shape.inputs)]
        return [[head.with_tokens(X) for head in heads] for X in tokens]

    def positions(self) -> list[UnrolledEnv]:
        """The envs at every query position i = 1..n, sharing this env's heads (built once); this env itself at
        its own position."""
        return [self if i == self.i else UnrolledEnv(self.shape, self.n, self.d, i, self.mode, _grid=self._grid)
                for i in range(1, self.n + 1)]


def _rename(head: UnrolledHead, tag: str) -> None:
    """Give a head's weight matrices distinct symbol names (the prefix s_m stays shared)."""
    if not tag:
        return
    rename = {s: sp.Symbol(f"{s.name}{tag}", real=True)
              for M in (head.W_Q, head.W_K, head.W_V) for s in M.free_symbols}
    head.W_Q, head.W_K, head.W_V = (M.xreplace(rename) for M in (head.W_Q, head.W_K, head.W_V))
    head.prefix_keys = [head.W_K * s for s in head.S]
    head.prefix_values = [head.W_V * s for s in head.S]
    head._products = {}


def _retag(view: WeightedView, tag: str) -> WeightedView:
    subs = {s: sp.Symbol(f"{s.name}_{tag}", positive=True) for x in [*view.w, *view.p] for s in x.free_symbols}
    w = [x.xreplace(subs) for x in view.w]
    return WeightedView(w, view.v, [x.xreplace(subs) for x in view.p], view.u, view.zero,
                        [sp.log(x.xreplace(subs)) for x in view.p], lse_of=lambda: sp.log(sum(w)))
