"""A small instance of the follow-up's sequence-to-sequence statement (paper-notes 7, reconstructed [R]; the instance,
its layers and its error budget are our own): a Kolmogorov–Arnold style composition of univariate maps, each
realised by a prefixed attention head, as explicit layers of the reference model.

Instance (n = 2 tokens, inputs u_1, u_2 ∈ [0, 1]): ``F(u_1, u_2) = Φ((ψ(u_1) + ψ(u_2)) / 2)``, read at the last token.
Residual stream ``(u, 1, s, a, out)`` (width 5), one head per layer, causal, logit scale 1, no norm or MLP:

* layer 1 (prefixed, the inner map ψ): query ``(u_i, 1)``, content keys ``(u_j, 1)``, content values 0, prefix keys
  ``T (2 g_m, 1 − g_m²)`` on the grid ``g_m = (2m + 1) / (2N)`` of [0, 1], prefix values ``ψ(g_m)``, output added to s.
  The prefix logit is ``T (1 + u² − (u − g_m)²)``: the softmax concentrates on the grid point nearest u, and the
  content logits ``u_i u_j + 1 <= 2`` are suppressed by ``e^{2 − T(1 − 1/(4N²))}``.
* layer 2 (the sum; prefix keys and values 0): ``W_Q = W_K = 0``, so every one of the N + 2 visible positions of
  token 2 gets weight 1 / (N + 2); values s, ``W_O = (N + 2) / 2``: ``a_2 = (s_1 + s_2) / 2`` exactly (3).
* layer 3 (prefixed, the outer map Φ): as layer 1 on the coordinate a, its grid over [−δ, 1 + δ], values
  ``Φ(g_m)``, output added to out.

Error budget (ours). Let ``e_1 >= sup |s − ψ(u)|`` over u ∈ [0, 1] and every content context (1 or 2 content
tokens, each with ``u_j ∈ [0, 1]``), ``e_3 >= sup |out − Φ(a)|`` over ``a ∈ [−δ, 1 + δ]`` (δ >= e_1) and content
``a_j ∈ [−δ, 1 + δ]``, and ``L_Φ >= sup |Φ'|`` on that interval. Then, with ``ā = (ψ(u_1) + ψ(u_2)) / 2``,
``|a_2 − ā| <= e_1`` by (3), and

    |out_2 − F(u_1, u_2)| <= |out_2 − Φ(a_2)| + |Φ(a_2) − Φ(ā)| <= e_3 + L_Φ e_1.                     (4)

Each of e_1, e_3, L_Φ is an enclosure certified by interval branch-and-bound over a cover of its interval; (3) is a
zero residual; (4) is an exact rational inequality. Layers 1 and 3 have logit differences linear in the input, so
their interval enclosures on a box are exact up to rounding.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from flint import arb

from theory import branch_bound
from theory.approx import compile_arb
from theory.balls import bounds, interval, precision, q_arb, softmax_average
from theory.branch_bound import Interval, Span, Sup

if TYPE_CHECKING:
    import sympy as sp

    from theory.kernel import Certificate

DELTA = Fraction(1, 8)           # layer 3's domain margin: a ∈ [−δ, 1 + δ]


class Univariate:
    """A map of one variable ``u`` given as a sympy expression: float64 values, arb enclosures (the expression tree
    intersected with the mean-value form) and an enclosure of its derivative."""

    def __init__(self, text: str) -> None:
        import sympy as sp

        self.u = sp.Symbol("u", real=True)
        try:
            expr = sp.sympify(text, locals={"u": self.u})
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise ValueError(f"cannot parse {text!r}: {exc}") from None
        if not isinstance(expr, sp.Expr) or not expr.free_symbols <= {self.u}:
            raise ValueError(f"{text!r} must be an expression in u")
        self.name, self.expr = text, expr
        self._f = compile_arb(expr, self.u)
        self._df = compile_arb(sp.diff(expr, self.u), self.u)
        self._float = sp.lambdify(self.u, expr, "math")

    def value(self, u: float) -> float:
        return float(self._float(u))

    def enclose(self, U: arb) -> arb:
        naive = self._f(U)
        c = arb(U.mid())
        centred = self._f(c) + self._df(U) * (U - c)
        return naive.intersection(centred) if naive.is_finite() and centred.is_finite() else naive

    def derivative(self, U: arb) -> arb:
        return self._df(U)


@dataclass(frozen=True)
class Head:
    """One prefixed head of layer 1 or 3: keys ``(k1_m, k2_m)`` (exact binary values of the float64 weights) against
    the query ``(u, 1)``, values ``v_m``."""

    T: int
    keys: tuple[tuple[Fraction, Fraction], ...]
    values: tuple[Fraction, ...]

    @property
    def N(self) -> int:
        return len(self.values)

    def floats(self) -> tuple[list[list[float]], list[float]]:
        """(keys, values) as the float64 numbers the reference model runs."""
        return [[float(a), float(b)] for a, b in self.keys], [float(v) for v in self.values]


def grid(N: int, lo: Fraction = Fraction(0), hi: Fraction = Fraction(1)) -> list[float]:
    """N cell midpoints of [lo, hi] (covering radius (hi − lo) / (2N)), float64."""
    return [float(lo + (hi - lo) * Fraction(2 * m + 1, 2 * N)) for m in range(N)]


def head_for(g: Univariate, N: int, T: int, lo: Fraction = Fraction(0), hi: Fraction = Fraction(1)) -> Head:
    """Keys ``float(T) * (2 g_m, 1 − g_m²)`` and values ``g(g_m)`` (float64) on the grid over [lo, hi]."""
    if N < 2 or T < 1:
        raise ValueError(f"need N >= 2 and T >= 1, got N={N}, T={T}")
    pts = grid(N, lo, hi)
    keys = tuple((Fraction(float(T) * 2 * x), Fraction(float(T) * (1 - x * x))) for x in pts)
    return Head(T, keys, tuple(Fraction(g.value(x)) for x in pts))


def instance(psi: str, phi: str, N: int, T: int) -> tuple[Univariate, Univariate, Head, Head]:
    """ψ and Φ, layer 1's head (ψ on the grid over [0, 1]) and layer 3's (Φ on the grid over [−δ, 1 + δ])."""
    inner, outer = Univariate(psi), Univariate(phi)
    return inner, outer, head_for(inner, N, T), head_for(outer, N, T, -DELTA, 1 + DELTA)


def head_error(head: Head, g: Univariate, content: tuple[Fraction, Fraction], tokens: int = 2
               ) -> Callable[[Fraction, Fraction], arb]:
    """Box enclosure of ``H(u) − g(u)`` for u in [lo, hi], where H is the head with up to ``tokens`` content tokens
    (value 0, key ``(u_j, 1)`` with ``u_j`` anywhere in ``content``): each content weight is enclosed by
    ``[0, e^{u u_j + 1 − k_r . (u, 1)}]`` relative to the nearest grid position r (0 covers absent tokens)."""
    with precision():
        keys = [(q_arb(a), q_arb(b)) for a, b in head.keys]
        vals = [q_arb(v) for v in head.values]
        cont = interval(*content)
    kf = [(float(a), float(b)) for a, b in head.keys]

    def enclose(lo: Fraction, hi: Fraction) -> arb:
        with precision():
            c = float(lo + hi) / 2
            r = max(range(len(kf)), key=lambda m: kf[m][0] * c + kf[m][1])
            U = interval(lo, hi)
            G = g.enclose(U)
            kr = keys[r]
            num, den = arb(0), arb(0)
            for m, (k1, k2) in enumerate(keys):
                rho = arb(1) if m == r else ((k1 - kr[0]) * U + (k2 - kr[1])).exp()
                num += rho * (vals[m] - G)
                den += rho
            rho_c = arb(0).union(tokens * (U * cont + 1 - kr[0] * U - kr[1]).exp())
            num += rho_c * (-G)
            den += rho_c
            return num / den
    return enclose


def derivative_box(g: Univariate) -> Callable[[Fraction, Fraction], arb]:
    def enclose(lo: Fraction, hi: Fraction) -> arb:
        with precision():
            return g.derivative(interval(lo, hi))
    return enclose


# ---- branch-and-bound over an interval (theory.branch_bound) ---------------------------------------------------

def sup_abs(enclose: Callable[[Fraction, Fraction], arb], lo: Fraction, hi: Fraction, pieces: int,
            rtol: Fraction = Fraction(1, 50), max_boxes: int = 20_000) -> Sup[Span]:
    """`theory.branch_bound.sup_abs` for sup |q| over [lo, hi] (boxes bisected) from ``pieces`` equal spans,
    refined until the upper end is within ``rtol`` of the certified lower end (or the budget runs out)."""
    domain = Interval(lo, hi, f"[{lo}, {hi}]")
    return branch_bound.sup_abs(lambda span: enclose(*span), domain, domain.pieces(pieces), rtol=rtol,
                                max_boxes=max_boxes)


def sum_layer_residual(N: int) -> sp.Expr:
    """Layer 2 at token 2, exactly: N prefix positions and 2 content tokens, all logits 0, prefix values 0,
    content values s_1, s_2, ``W_O = (N + 2) / 2``; minus ``(s_1 + s_2) / 2``."""
    import sympy as sp

    s1, s2 = sp.symbols("s1 s2", real=True)
    logits = [sp.Integer(0)] * (N + 2)
    values = [sp.Integer(0)] * N + [s1, s2]
    weights = [sp.exp(l) / sum(sp.exp(x) for x in logits) for l in logits]
    return sp.Rational(N + 2, 2) * sum(w * v for w, v in zip(weights, values)) - (s1 + s2) / 2


ABSTRACTION = ("none beyond outward rounding: the exact binary float64 weights; exp and the maps in python-flint arb "
               "balls; content tokens enclosed by weight intervals [0, max]; composition by the exact budget (4)")


def budget(e1: Fraction, e3: Fraction, lip: Fraction) -> Fraction:
    """The end-to-end bound (4): ``e_3 + L_Φ e_1``."""
    return e3 + lip * e1


def certify_budget(psi: Univariate, e1: Fraction, total: Fraction, eps: Fraction, pieces: int = 64) -> Certificate:
    """The kernel's ``enclosure`` certificate of the side conditions of (4): ψ([0, 1]) ⊂ [−δ + e_1, 1 + δ − e_1] on
    ``pieces`` arb boxes (so layer 3's input ``a_2`` and the content ``a_j`` stay in [−δ, 1 + δ]), ``e_1 <= δ``, and
    ``total = e_3 + L_Φ e_1 <= ε``; raises `theory.kernel.KernelError` when one is not certified."""
    from theory import kernel

    with precision(), kernel.enclosure_session() as ledger:
        for a, b in branch_bound.pieces(Fraction(0), Fraction(1), pieces):
            lo, hi = bounds(psi.enclose(interval(a, b)))
            kernel.check_bound((lo, hi), -DELTA + e1, above=True)
            kernel.check_bound((lo, hi), 1 + DELTA - e1)
        kernel.check_bound((e1, e1), DELTA)
        kernel.check_bound((total, total), eps)
    return kernel.certify_enclosure(ledger, 2 * pieces + 2, "ψ([0, 1]) within [−δ + e1, 1 + δ − e1]; e1 <= δ; "
                                    "e3 + L e1 <= ε", "exact rationals and arb balls")


def _head_at(head: Head, q: arb, content: Sequence[arb]) -> arb:
    """The head output (exact, in arb) for query ``(q, 1)`` with content keys ``(c_j, 1)`` and content values 0."""
    logits = [q_arb(k1) * q + q_arb(k2) for k1, k2 in head.keys] + [q * c + 1 for c in content]
    return softmax_average(logits, [q_arb(v) for v in head.values] + [arb(0)] * len(content))


def network_error(h1: Head, h3: Head, psi: Univariate, phi: Univariate, u1: Fraction, u2: Fraction) -> arb:
    """A ball containing ``out_2 − F(u_1, u_2)`` for the three layers at one input (every position summed)."""
    with precision():
        U1, U2 = q_arb(u1), q_arb(u2)
        s1 = _head_at(h1, U1, [U1])
        s2 = _head_at(h1, U2, [U1, U2])
        N = h1.N
        a1 = q_arb(Fraction(N + 2, 2)) * s1 / (N + 1)
        a2 = q_arb(Fraction(N + 2, 2)) * (s1 + s2) / (N + 2)
        out = _head_at(h3, a2, [a1, a2])
        return out - phi.enclose((psi.enclose(U1) + psi.enclose(U2)) / 2)


def grid_witness(h1: Head, h3: Head, psi: Univariate, phi: Univariate, g: int
                 ) -> tuple[Fraction, tuple[Fraction, Fraction]]:
    """The largest certified lower end of ``|out_2 − F(u_1, u_2)|`` over the ``(g + 1)^2`` grid of [0, 1]^2 (edges
    included), and the input where it is reached (a refutation when it exceeds ε)."""
    best, where = Fraction(0), (Fraction(0), Fraction(0))
    for i in range(g + 1):
        for j in range(g + 1):
            u = (Fraction(i, g), Fraction(j, g))
            lo = bounds(abs(network_error(h1, h3, psi, phi, *u)))[0]
            if lo > best:
                best, where = lo, u
    return best, where
