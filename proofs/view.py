"""What a statement may read: the head view and the environment that every engine implements.

A statement ``E -> (lhs, rhs)`` claims ``lhs == rhs`` and is evaluated, unchanged, on four views of the same
prefixed attention head (paper-notes 1-2: ``A_ij = e_ij / Z_i``, ``A^pt_ij = e_ij / (P + Z_i)``,
``alpha_i = P / (P + Z_i)``, ``t^pt_i = (1 - alpha_i) t_i + sum_m alpha_im W_V s_m``):

* sympy: `theory.head.GeneralEnv` (any n, n_S; sums as symbols) and `theory.head.UnrolledEnv` (explicit n, d);
* z3: `theory.smt.Z3Env` (softmax weights as positive reals);
* torch: `numeric.attention.TorchEnv` (batches of float64 heads, every query position at once).

The four are structural implementations of `EnvView` and `HeadView`: they do not import this module (theory and
numeric never import proofs), and mypy checks that each of them conforms (the block at the end of this module).

The quantities a view returns are the engine's own scalars and vectors (a sympy expression or column, a z3
`theory.smt.Scalar` or `theory.smt.Vec`, a torch tensor). What all of them share, and so what a statement may rely
on, is `Quantity`: ``+``, ``-``, ``*`` and ``/`` with each other and with exact or float numbers. Indexing a vector
or a content-indexed column (``h.A[j]``) is engine-specific (a scalar on the general view, a column on the others);
a statement that names positions is evaluated on the views where that makes sense.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol


class Quantity(Protocol):
    """A scalar or vector of some engine: closed under ``+ - * /`` with numbers and with each other. The result of
    an operation is the engine's own type, which only that engine knows (hence ``Any``)."""

    def __add__(self, other: Any, /) -> Any: ...
    def __sub__(self, other: Any, /) -> Any: ...
    def __rsub__(self, other: Any, /) -> Any: ...
    def __mul__(self, other: Any, /) -> Any: ...
    def __rmul__(self, other: Any, /) -> Any: ...
    def __truediv__(self, other: Any, /) -> Any: ...
    def __neg__(self) -> Any: ...


# An output matrix W_O^h as the engine holds it: a sympy Matrix, a z3 list of rows, a torch (B, d, d) tensor, or
# None on the componentwise general view (which has no matrices); statements only pass it to `HeadView.matvec`.
Matrix = Any

# One side of a statement: a quantity, or a list / tuple of them compared entry by entry.
Side = Quantity | list[Quantity] | tuple[Quantity, ...]


class HeadView(Protocol):
    """One head at query position i (symbols of the paper, paper-notes 1-2).

    t, t_pt          head output without / with the prefix: t_i, t^pt_i                       (vector)
    A, A_pt          content attention without / with the prefix: A_ij, A^pt_ij               (scalar for a generic
                     j on the general view; a column over the visible j on the others)
    alpha            total prefix attention alpha_i = sum_m alpha_im                          (scalar)
    alphas           [alpha_im for each prefix position m]
    u                [u_m = W_V s_m]                                                           (vectors)
    bias             sum_m alpha_im u_m                                                        (vector)
    prefix_softmax   [softmax_m(tau x_i^T H s_m)]: the prefix logits alone
    mass_pt          sum_j A^pt_ij
    l_prefix, lse    [tau x_i^T H s_m] and log Z_i (views whose weights are abstract raise ValueError)
    sigmoid(x), minors(a, b) (the 2x2 minors of [a b]: all 0 iff a, b are parallel), matvec(M, v) = M v
    """

    @property
    def t(self) -> Quantity: ...
    @property
    def t_pt(self) -> Quantity: ...
    @property
    def A(self) -> Quantity: ...
    @property
    def A_pt(self) -> Quantity: ...
    @property
    def alpha(self) -> Quantity: ...
    @property
    def alphas(self) -> Sequence[Quantity]: ...
    @property
    def u(self) -> Sequence[Quantity]: ...
    @property
    def bias(self) -> Quantity: ...
    @property
    def prefix_softmax(self) -> Sequence[Quantity]: ...
    @property
    def mass_pt(self) -> Quantity: ...
    @property
    def l_prefix(self) -> Sequence[Quantity]: ...
    @property
    def lse(self) -> Quantity: ...

    # The helpers take the engine's own values (a z3 `Vec`, a tensor, ...), which only the engine names.
    def sigmoid(self, x: Any, /) -> Quantity: ...
    def minors(self, a: Any, b: Any, /) -> Quantity: ...
    def matvec(self, M: Matrix, v: Any, /) -> Quantity: ...


class EnvView(Protocol):
    """What a statement receives: ``view(r, head)`` for input r (inputs share the prefix) and head ``head`` (heads
    share the input and the prefix hidden states, each has its own weights), ``h = view(0, 0)``, the output matrix
    ``W_O(head)``, ``n_heads`` and ``total(xs)``, the sum of a non-empty list of scalars or vectors."""

    def view(self, r: int = 0, head: int = 0) -> HeadView: ...
    @property
    def h(self) -> HeadView: ...
    def W_O(self, head: int) -> Matrix: ...
    @property
    def n_heads(self) -> int: ...
    def total(self, xs: Sequence[Any], /) -> Quantity: ...


class FineTuneView(Protocol):
    """A head under full fine-tuning (eq. 7), every query position at once: ``t`` = t_i; ``t_ft(delta_H, delta_V)``
    = t^ft_i with H + Delta H and W_V + Delta W_V (each delta applied or not); ``dWV_xbar(delta_V)`` =
    Delta W_V xbar_i with xbar_i = sum_j A_ij x_j (0 without Delta W_V)."""

    @property
    def t(self) -> Quantity: ...
    def t_ft(self, delta_H: bool, delta_V: bool, /) -> Quantity: ...
    def dWV_xbar(self, delta_V: bool, /) -> Quantity: ...


Statement = Callable[[EnvView], tuple[Side, Side]]
"""A claim ``lhs == rhs`` about a prefixed head, evaluated by every layer on its own view."""

Attention = Callable[[HeadView], Quantity]
"""A map from a head to a content attention (the same shape as ``h.A``), for the ordering claims."""


if TYPE_CHECKING:  # mypy checks that each engine's view implements the protocols (no import at run time)
    from numeric.attention import TorchEnv, TorchHead
    from numeric.finetune import TorchFineTune
    from theory.finetune import FineTuneHead
    from theory.head import GeneralEnv, GeneralHead, UnrolledEnv, WeightedView
    from theory.smt import Z3Env, Z3View

    _heads: tuple[type[HeadView], ...] = (GeneralHead, WeightedView, Z3View, TorchHead)
    _envs: tuple[type[EnvView], ...] = (GeneralEnv, UnrolledEnv, Z3Env, TorchEnv)
    _finetune: tuple[type[FineTuneView], ...] = (FineTuneHead, TorchFineTune)
