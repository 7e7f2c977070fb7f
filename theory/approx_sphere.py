"""The universal approximator on the sphere S^2 (paper-notes 7, reconstructed [R]; the grid, its covering radius and
the sizes are our own): one prefixed head of width 3 whose prefix keys sit on a ring grid over S^2, and a certified
enclosure of its error by interval branch-and-bound over boxes in spherical coordinates.

The pretrained head: ``W_Q = W_K = I_3``, ``W_V = w^T`` with ``w = (1/2, −1/4, 0)``, logit scale 1; the content token
is the input ``x = x(θ, φ) = (sin θ cos φ, sin θ sin φ, cos θ)``, so the content logit is ``x . x = 1``. The prefix:
keys ``k_m = T g_m`` (float64, taken at their exact binary values), values ``v_m = f(g_m)``.

Ring grid (ours). ``n`` rings at polar angles ``θ_i = (i + 1/2) π / n``; ring i holds ``n_i = ⌊2 n sin θ_i⌋ + 1``
points at
azimuths ``φ_ij = 2π (j + s_i) / n_i`` (``s_i`` = 0 or 1/2, staggered). Covering radius: a point (θ, φ) is within
``π/(2n)`` of the nearest ring along its meridian, then within ``sin θ_i π / n_i <= π/(2n)`` of a grid point along
that ring's latitude circle, so (triangle inequality for the geodesic distance d)

    r := sup_x min_m d(x, g_m) <= π / n.                                                          (S1)

Jackson-type size (ours). For L-Lipschitz f (geodesic), as on S^1 with weights A summing to 1,
``|H − f| <= L Σ_m A_m d(x, g_m) + A_c C``; positions farther than ``R > r`` have weight at most
``e^{−T (cos r − cos R)}`` relative to the nearest, the content at most ``e^{1 − T cos r}``, so

    sup_x |H − f| <= L R + L π N e^{−T (cos r − cos R)} + C e^{1 − T cos r},                      (S2)

hence ``n(ε) = ⌊π L / ε⌋ + 1`` rings (L r < ε), ``N = Σ_i n_i ≈ 4 n² / π = O((L/ε)^2)`` positions, and T of order
``log N / (cos r − cos R)``. (S2) is sufficient, not tight; the certificates below do not use it: they enclose
``H − f`` for one given f on the actual weights.

Enclosures on a box ``Θ × Φ`` (half-widths a, b, centre c), relative to the grid point r nearest the centre:
``ρ_m = exp((k_m − k_r) . x)`` with the logit difference ``q(θ, φ) = d . x(θ, φ)`` enclosed by its Taylor form
``q(c) + q_θ(c) Δθ + q_φ(c) Δφ ± |d|_1 (a + b)^2 / 2`` (every second derivative of x has norm <= 1, so
``|Δ^T ∇²q Δ| <= |d|_2 (|Δθ| + |Δφ|)^2``). Two enclosures of the error are intersected: the ratio
``(Σ ρ_m t_m + ρ_c t_c) / (Σ ρ_m + ρ_c)`` with ``t_m = v_m − f(X)``, and the hull bound (the weights are a convex
combination and ``ρ_r = 1``) ``max_{m ∈ S} |t_m| + Σ_{m ∉ S} ρ_m |t_m| + ρ_c |t_c|`` for S the positions with
``ρ_m >= τ`` — robust near cell boundaries, where the ratio form loses to the Taylor remainder.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from flint import arb, arb_mat, fmpq

from theory import branch_bound
from theory.approx import PI_UP, compile_arb
from theory.balls import bounds, precision, q_arb, softmax_average
from theory.branch_bound import Rect, Rectangle, Sup

if TYPE_CHECKING:
    from theory.kernel import Certificate

SPHERE_W = (Fraction(1, 2), Fraction(-1, 4), Fraction(0))
HULL_TAU = Fraction(1, 10**4)           # positions with ρ_m >= τ enter the hull bound's max
THETA_MAX, PHI_MAX = PI_UP, 2 * PI_UP   # boxes cover [0, 355/113] x [0, 710/113] ⊃ [0, π] x [0, 2π]
PARAMETERS = Rectangle(THETA_MAX, PHI_MAX, "[0, π] x [0, 2π] in spherical coordinates (θ, φ)")


# ---- the grid --------------------------------------------------------------------------------------------------

def ring_sizes(n: int) -> list[int]:
    """``n_i = ⌊2 n sin θ_i⌋ + 1`` (the floor of an outward upper bound, so ``n_i > 2 n sin θ_i`` strictly and
    `check_ring_sizes` always decides)."""
    with precision():
        return [math.floor(bounds(2 * n * ((i + q_arb(Fraction(1, 2))) * arb.pi() / n).sin())[1]) + 1
                for i in range(n)]


def check_ring_sizes(n: int, sizes: Sequence[int]) -> list[tuple[Fraction, Fraction]]:
    """Outward enclosures of ``2 n sin θ_i − n_i`` per ring (each must be <= 0 for the covering bound (S1))."""
    with precision():
        return [bounds(2 * n * ((i + q_arb(Fraction(1, 2))) * arb.pi() / n).sin() - s) for i, s in enumerate(sizes)]


def certify_rings(n: int) -> Certificate | None:
    """The kernel's certificate of the premise of (S1): ``n_i >= 2 n sin θ_i`` on each of the n rings (every ring
    decided on an arb ball); None when one is not certified."""
    from theory import kernel

    with kernel.enclosure_session() as ledger:
        for enc in check_ring_sizes(n, ring_sizes(n)):
            kernel.check_bound(enc, 0)
    if ledger.wrong or ledger.undecided:
        return None
    return kernel.certify_enclosure(ledger, n, f"ring grid with n = {n} rings", "arb balls of sin",
                                    f"n_i >= 2 n sin θ_i on all {n} rings: covering radius <= π/{n}")


def grid(n: int) -> list[tuple[float, float]]:
    """The ring grid as (θ_i, φ_ij) pairs (float64 angles)."""
    out = []
    for i, ni in enumerate(ring_sizes(n)):
        th = (i + 0.5) * math.pi / n
        shift = 0.5 * (i % 2)
        out += [(th, 2 * math.pi * (j + shift) / ni) for j in range(ni)]
    return out


def cartesian(theta: float, phi: float) -> tuple[float, float, float]:
    return (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta))


@dataclass(frozen=True)
class SphereConstruction:
    """Keys ``T g_m`` and values ``v_m`` (exact binary values of the float64 weights), content value row ``w``."""

    n: int
    T: Fraction
    keys: tuple[tuple[Fraction, Fraction, Fraction], ...]
    values: tuple[Fraction, ...]
    w: tuple[Fraction, Fraction, Fraction] = SPHERE_W

    @property
    def N(self) -> int:
        return len(self.values)

    def key_floats(self) -> list[list[float]]:
        return [[float(c) for c in k] for k in self.keys]

    def value_floats(self) -> list[float]:
        return [float(v) for v in self.values]

    def w_floats(self) -> list[float]:
        return [float(x) for x in self.w]


class SphereTarget:
    """f given as a sympy expression in the Cartesian coordinates ``x, y, z`` of the point on S^2, with the user's
    geodesic Lipschitz constant L (it sets the grid size only; the certificates do not use it)."""

    def __init__(self, text: str, lipschitz: Fraction) -> None:
        import sympy as sp

        self.syms = sp.symbols("x y z", real=True)
        try:
            expr = sp.sympify(text, locals={s.name: s for s in self.syms})
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise ValueError(f"cannot parse f={text!r}: {exc}") from None
        if not isinstance(expr, sp.Expr) or not expr.free_symbols <= set(self.syms):
            raise ValueError(f"f={text!r} must be an expression in x, y, z")
        self.name, self.expr, self.lipschitz = text, expr, Fraction(lipschitz)
        self._f = compile_arb(expr, self.syms)
        self._float = sp.lambdify(self.syms, expr, "math")
        self.scope = f"f(x, y, z) = {text} on S^2 (enclosed exactly)"

    def value(self, p: Sequence[float]) -> float:
        return float(self._float(*p))

    def enclose(self, X: Sequence[arb]) -> arb:
        return self._f(tuple(X))


def build(n: int, T: Fraction | int, target: SphereTarget, w: tuple[Fraction, Fraction, Fraction] = SPHERE_W
          ) -> SphereConstruction:
    """Keys ``float(T) * g_m`` on the ring grid with n rings, values ``f(g_m)`` (float64)."""
    if n < 1:
        raise ValueError(f"need at least one ring, got n={n}")
    T = Fraction(T)
    pts = [cartesian(th, ph) for th, ph in grid(n)]
    t = float(T)
    keys = tuple((Fraction(t * x), Fraction(t * y), Fraction(t * z)) for x, y, z in pts)
    return SphereConstruction(n, T, keys, tuple(Fraction(target.value(p)) for p in pts), w)


def rings_for(eps: Fraction, L: Fraction) -> int:
    """n(ε) = ⌊π L / ε⌋ + 1 rings: L π / n < ε, so L r < ε by (S1)."""
    from theory.approx import prefix_length

    return prefix_length(eps, L)


# ---- enclosures on boxes in spherical coordinates --------------------------------------------------------------

class SphereEnclosure:
    """Balls containing ``H(x) − f(x)`` for every ``x = x(θ, φ)`` with (θ, φ) in a box."""

    def __init__(self, con: SphereConstruction, target: SphereTarget, tau: Fraction = HULL_TAU) -> None:
        self.con, self.target = con, target
        with precision():
            self.keys = [tuple(q_arb(c) for c in k) for k in con.keys]
            self.values = [q_arb(v) for v in con.values]
            self.w = tuple(q_arb(c) for c in con.w)
            self.tau = q_arb(tau)
        self.kf = con.key_floats()
        self._diffs: dict[int, tuple[arb_mat, arb_mat]] = {}

    def diffs(self, r: int) -> tuple[arb_mat, arb_mat]:
        """``D_r`` (rows ``k_m − k_r``, then ``−k_r`` for the content) and the column of the rows' 1-norms."""
        if r not in self._diffs:
            kr = self.keys[r]
            rows = [[k[i] - kr[i] for i in range(3)] for k in self.keys] + [[-c for c in kr]]
            self._diffs[r] = (arb_mat(rows), arb_mat([[abs(a) + abs(b) + abs(c)] for a, b, c in rows]))
        return self._diffs[r]

    def box(self, ta: Fraction, tb: Fraction, pa: Fraction, pb: Fraction) -> arb:
        with precision():
            return self._box(ta, tb, pa, pb)

    def _box(self, ta: Fraction, tb: Fraction, pa: Fraction, pb: Fraction) -> arb:
        fta, ftb, fpa, fpb = (fmpq(q.numerator, q.denominator) for q in (ta, tb, pa, pb))  # C-level, exact
        tc, pc = (fta + ftb) / 2, (fpa + fpb) / 2
        a, b = (ftb - fta) / 2, (fpb - fpa) / 2
        tcf, pcf = int(tc.p) / int(tc.q), int(pc.p) / int(pc.q)  # float(tc), float(pc) as for Fractions
        st, ct, sp_, cp = (math.sin(tcf), math.cos(tcf), math.sin(pcf), math.cos(pcf))
        scores = [k0 * st * cp + k1 * st * sp_ + k2 * ct for k0, k1, k2 in self.kf]
        r = scores.index(max(scores))  # the nearest key (the first of equal ones)
        Tc, Pc = arb(tc), arb(pc)
        st, ct, sp_, cp = Tc.sin(), Tc.cos(), Pc.sin(), Pc.cos()
        # columns x(c), x_θ(c), x_φ(c); then the Taylor form q(c) + q_θ(c) Δθ + q_φ(c) Δφ per row of D_r
        J = arb_mat([[st * cp, ct * cp, -st * sp_], [st * sp_, ct * sp_, st * cp], [ct, -st, arb(0)]])
        u = arb_mat([[arb(1)], [arb(0, 1) * arb(a)], [arb(0, 1) * arb(b)]])
        D, l1 = self.diffs(r)
        q = (D * J) * u + l1 * arb(0, 1) * arb((a + b) ** 2 / 2)
        Th, Ph = arb(fta).union(arb(ftb)), arb(fpa).union(arb(fpb))   # `theory.balls.interval`
        X = (Th.sin() * Ph.cos(), Th.sin() * Ph.sin(), Th.cos())
        F = self.target.enclose(X)
        N = len(self.values)
        num, den = arb(0), arb(0)
        hull_max, hull_rest = arb(0), arb(0)
        for m in range(N):
            rho = arb(1) if m == r else q[m, 0].exp()
            t = self.values[m] - F
            num += rho * t
            den += rho
            if m == r or not rho < self.tau:
                hull_max = hull_max.max(abs(t))
            else:
                hull_rest += rho * abs(t)
        rho_c = (1 + q[N, 0]).exp()
        t_c = self.w[0] * X[0] + self.w[1] * X[1] + self.w[2] * X[2] - F
        num += rho_c * t_c
        den += rho_c
        hull = (hull_max + hull_rest + rho_c * abs(t_c)).abs_upper()
        ratio = num / den
        bound = arb(0, 1) * hull
        return ratio.intersection(bound) if ratio.is_finite() and ratio.overlaps(bound) else bound


def error_at(con: SphereConstruction, target: SphereTarget, theta: Fraction, phi: Fraction) -> arb:
    """A ball containing ``H(x) − f(x)`` at the single point x(θ, φ) (every position summed)."""
    with precision():
        Th, Ph = q_arb(theta), q_arb(phi)
        X = (Th.sin() * Ph.cos(), Th.sin() * Ph.sin(), Th.cos())
        logits = [q_arb(k[0]) * X[0] + q_arb(k[1]) * X[1] + q_arb(k[2]) * X[2] for k in con.keys] + [arb(1)]
        content = sum((q_arb(c) * xi for c, xi in zip(con.w, X)), arb(0))
        return softmax_average(logits, [q_arb(v) for v in con.values] + [content]) - target.enclose(X)


# ---- branch-and-bound over [0, π] x [0, 2π] (theory.branch_bound) ----------------------------------------------

def sup_abs(enclose: Callable[[Fraction, Fraction, Fraction, Fraction], arb], pieces: tuple[int, int],
            bound: Fraction, rtol: Fraction | None = None, max_boxes: int = 50_000) -> Sup[Rect]:
    """`theory.branch_bound.sup_abs` over the parameter rectangle (`PARAMETERS`: boxes (θ_a, θ_b, φ_a, φ_b), split
    along the longer side) from ``pieces`` = (n_θ, n_φ) equal boxes; ``enclose(θ_a, θ_b, φ_a, φ_b)`` a ball
    containing q there. The rectangle covers S^2 through x(θ, φ), so a certified cover of it bounds sup over S^2."""
    return branch_bound.sup_abs(lambda bx: enclose(*bx), PARAMETERS, PARAMETERS.pieces(*pieces), bound=bound,
                                rtol=rtol, max_boxes=max_boxes)


ABSTRACTION = ("none beyond outward rounding: the exact binary float64 weights; sin, cos, exp in python-flint arb "
               "balls; logit differences by second-order Taylor forms in (θ, φ) with exact remainders; the ratio "
               "enclosure intersected with the convex-hull bound")
