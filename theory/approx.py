"""The follow-up's universal approximator on S^1 (paper-notes 7; the mechanism is reconstructed [R], the constants
below are our own): one prefixed attention head, its derived prefix length and temperature, and certified
enclosures of its error by interval branch-and-bound.

The pretrained head (fixed, the same for every target f): width 2, ``W_Q = W_K = I_2``, ``W_V = w^T`` (a 1 x 2
row), logit scale 1, no norm, residual, MLP or ``W_O``. The content token is the input itself,
``x = (cos θ, sin θ)``: the query is ``x`` and the content logit is ``x . x = 1``.

The prefix (the only tuned part): N positions with keys ``k_m = T ĝ_m``, ``ĝ_m ≈ (cos φ_m, sin φ_m)``,
``φ_m = 2π m / N`` (each key coordinate is the float64 number ``float(T) * cos(φ_m)``, taken at its exact binary
value, so the exact and the float64 layers run the same weights), and values ``v_m ≈ f(φ_m)``. The output is

    H(θ) = (Σ_m e^{k_m . x} v_m + e w . x) / (Σ_m e^{k_m . x} + e),    e = e^{x . x}.

Derivation (docs/approximation.md; h = 2π/N, δ = distance from θ to the nearest grid angle <= h/2, A the
attention weights, C = |w|_1 + M for targets with |f| <= M). ``H − f(x) = Σ_m A_m (v_m − f(x)) + A_c (w.x − f(x))``
because the weights sum to 1, so for every L-Lipschitz f (arc length) with v_m = f(φ_m)

    |H(θ) − f(θ)| <= W(θ) := L Σ_m A_m d(θ, φ_m) + A_c C.                                            (1)

The two grid angles bracketing θ (distances δ and h − δ, the nearer one weighted more) contribute at most L h/2;
every other grid angle lies at distance >= h + δ, so its weight relative to the nearest is at most
``e^{−T(cos δ − cos(h+δ))} <= e^{−T(1 − cos h)}``; the content weight is at most ``e^{1 − T cos(h/2)}``:

    sup_θ |H − f| <= π L / N + L π (N − 2) e^{−T (1 − cos h)} + C e^{1 − T cos(h/2)}.                (2)

Conversely at a cell midpoint every grid angle is at least h/2 away, so the tent ``f = M − L d(θ, θ*)`` centred
there has error >= L h / 2 = π L / N at every temperature (3). Hence ``N(ε) = ⌊π L / ε⌋ + 1`` is the least prefix
length that meets ε for the whole class, and with ``μ = ε − π L / N`` the temperature

    T(ε) = ⌈max( log(2 L π (N−2) / μ) / (1 − cos h), (1 + log(2 C / μ)) / cos(h/2) )⌉                (4)

makes each leakage term of (2) at most μ / 2. (2) and (4) assume keys exactly on the circle; the certificates
below do not: they enclose (1), or ``H − f`` for one given f, on the actual construction.

Enclosures (python-flint arb balls, outward rounded): on a box Θ of angles, relative to the grid index r nearest
the box, ``ρ_m = exp((k_m − k_r) . x(Θ))`` with the logit difference enclosed by its second-order Taylor form
(value and slope at the centre, remainder |k_m − k_r|_1 r^2 / 2), the content likewise; prefix positions more
than K grid steps from r are bounded in bulk by ``exp(T (cos((K+1) h − ρ) − cos ρ) + 2 Δ)`` each (ρ bounds
|θ − φ_r| on the box, Δ bounds |k_m − T g_m|_1 over m, the float keys' distance from the exact circle). The
branch-and-bound splits the box with the largest upper end until the bound is within ``rtol`` of the best lower
end (and below the claimed ε, if one is given).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flint import arb, fmpq

from theory import branch_bound
from theory.balls import PREC, abs_bounds, bounds, interval, precision, q_arb, softmax_average
from theory.branch_bound import Interval, Span, Sup

if TYPE_CHECKING:
    import sympy as sp

    from theory.kernel import Certificate

PI_UP = Fraction(355, 113)      # > π (by 2.7e-7): boxes cover [0, 2 PI_UP] ⊃ [0, 2π]
TWO_PI_UP = 2 * PI_UP
CIRCLE = Interval(Fraction(0), TWO_PI_UP, "[0, 2π]")
DEFAULT_W = (Fraction(1, 2), Fraction(-1, 4))   # the pretrained W_V row (|w|_1 = 3/4 <= 1)
BULK_NEGLIGIBLE = Fraction(1, 10**12)           # far prefix positions are bounded in bulk once below this


# ---- targets ---------------------------------------------------------------------------------------------------

class Target:
    """A function on S^1 (of the angle θ): ``value`` (float64, for prefix values and sampling), ``enclose`` (a ball
    containing f(θ) for every θ in a ball of angles), ``lipschitz`` (the user's L), ``describe`` (one line), and
    ``scope`` (what a certificate about it covers)."""

    name: str
    lipschitz: Fraction
    scope: str

    def value(self, theta: float) -> float:
        raise NotImplementedError

    def values(self, thetas: Sequence[float]) -> list[float]:
        """f at each angle (float64)."""
        return [self.value(t) for t in thetas]

    def enclose(self, theta: arb) -> arb:
        raise NotImplementedError

    def sup_abs(self) -> Fraction:
        """A certified upper bound M of sup |f| over the circle (computed once per target)."""
        if getattr(self, "_sup", None) is None:
            best = Fraction(0)
            with precision():
                for a, b in CIRCLE.pieces(256):
                    best = max(best, abs_bounds(self.enclose(interval(a, b)))[1])
            self._sup = best
        return self._sup


_SMOOTH = ("sin", "cos", "tan", "exp", "log", "atan", "sinh", "cosh", "tanh", "asin", "acos")


class Expression(Target):
    """f given as a sympy expression in the angle ``x`` (2π-periodic, checked exactly). Enclosures evaluate the
    expression tree in arb; when its derivative uses only smooth functions, the mean-value form
    ``f(c) + f'(Θ)(Θ − c)`` is intersected in (second-order tight on small boxes)."""

    def __init__(self, expr: sp.Expr, lipschitz: Fraction, text: str = "") -> None:
        import sympy as sp

        self.x = sp.Symbol("x", real=True)
        free = expr.free_symbols
        if len(free) > 1 or (free and next(iter(free)).name != "x"):
            raise ValueError(f"f must be an expression in x only, got symbols {sorted(s.name for s in free)}")
        expr = expr.xreplace({s: self.x for s in free})
        self.expr, self.lipschitz, self.name = expr, Fraction(lipschitz), text or str(expr)
        self._f = compile_arb(expr, self.x)
        self._float = sp.lambdify(self.x, expr, "math")
        d = sp.diff(expr, self.x)
        funcs = {type(a).__name__ for a in d.atoms(sp.Function)}
        self._df = compile_arb(d, self.x) if funcs <= set(_SMOOTH) and not d.has(sp.Abs, sp.sign) else None
        self.derivative = d
        self.scope = f"f(x) = {self.name} (enclosed exactly)"

    @classmethod
    def parse(cls, text: str, lipschitz: Fraction) -> Expression:
        """Parse ``text`` (sympy syntax, variable ``x`` = the angle); ValueError with a one-line reason."""
        import sympy as sp

        try:
            expr = sp.sympify(text, locals={"x": sp.Symbol("x", real=True)})
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise ValueError(f"cannot parse f={text!r}: {exc}") from None
        if not isinstance(expr, sp.Expr):
            raise ValueError(f"f={text!r} is not an expression")
        target = cls(expr, lipschitz, text)
        target.check_periodic()
        return target

    def check_periodic(self) -> None:
        """f(x + 2π) − f(x) must reduce to 0 exactly (a function on the circle)."""
        import sympy as sp

        from theory.kernel import decide_zero

        test = decide_zero(self.expr.subs(self.x, self.x + 2 * sp.pi) - self.expr)
        if test.status != "zero":
            raise ValueError(f"f={self.name} is not shown 2π-periodic (f(x+2π) − f(x) {test.status}), so it is "
                             f"not a function on the circle")

    def value(self, theta: float) -> float:
        return float(self._float(theta))

    def enclose(self, theta: arb) -> arb:
        naive = self._f(theta)
        if self._df is None or theta.rad() == 0:
            return naive
        c = arb(theta.mid())
        centred = self._f(c) + self._df(theta) * (theta - c)
        return naive.intersection(centred) if naive.is_finite() and centred.is_finite() else naive

    def derivative_enclosure(self) -> Callable[[arb], arb] | None:
        return self._df


def compile_arb(e: sp.Expr, x: sp.Symbol | tuple[sp.Symbol, ...]) -> Callable[[Any], arb]:
    """An arb evaluator of a sympy expression tree: a ball containing e(θ) for every θ in the argument ball (``x``
    one symbol), or e(t_1, ..., t_k) for every point of the box of balls ``t`` (``x`` a tuple of k symbols)."""
    import sympy as sp

    if isinstance(x, tuple):
        if e in x:
            i = x.index(e)
            return lambda t: t[i]
    elif e == x:
        return lambda t: t
    if e.is_Rational:
        q = Fraction(int(e.p), int(e.q))
        return lambda t: q_arb(q)
    if e.is_Float:
        from theory.kernel import to_fraction

        q = to_fraction(e)
        return lambda t: q_arb(q)
    if e is sp.pi:
        return lambda t: arb.pi()
    if e is sp.E:
        return lambda t: arb.const_e()
    args = [compile_arb(a, x) for a in e.args]
    if isinstance(e, sp.Add):
        return lambda t: _fold(args, t, lambda u, v: u + v)
    if isinstance(e, sp.Mul):
        return lambda t: _fold(args, t, lambda u, v: u * v)
    if isinstance(e, sp.Pow):
        base, ex = args
        if e.exp.is_Integer:
            n = int(e.exp)
            return (lambda t: base(t) ** n) if n >= 0 else (lambda t: 1 / base(t) ** (-n))
        if e.exp == sp.Rational(1, 2):
            return lambda t: base(t).sqrt()
        return lambda t: (ex(t) * base(t).log()).exp()
    if isinstance(e, sp.Abs):
        return lambda t: abs(args[0](t))
    name = type(e).__name__
    if name in _SMOOTH and len(args) == 1:
        return lambda t: getattr(args[0](t), name)()
    raise ValueError(f"unsupported in f: {name} (use + - * / ^, sqrt, abs, {', '.join(_SMOOTH)}, pi, E)")


def _fold(fs: Sequence[Callable[[arb], arb]], t: arb, op: Callable[[arb, arb], arb]) -> arb:
    acc = fs[0](t)
    for g in fs[1:]:
        acc = op(acc, g(t))
    return acc


class Table(Target):
    """f known at sample angles only (a table, or a Python callable sampled on an equal grid), with a Lipschitz
    constant L: the certificate covers *every* L-Lipschitz function through the samples. ``value`` is the
    piecewise-linear interpolant (one such function); ``enclose`` is the Lipschitz envelope
    ``∩_j [y_j − L |θ − t_j|, y_j + L |θ − t_j|]`` over the samples nearest the ball."""

    def __init__(self, values: Sequence[Any], lipschitz: Fraction, angles: Sequence[Any] | None = None,
                 name: str = "table") -> None:
        from theory.kernel import to_fraction

        if len(values) < 2:
            raise ValueError("a table needs at least 2 values")
        self.lipschitz, self.name = Fraction(lipschitz), name
        self.y = [to_fraction(v) for v in values]
        J = len(self.y)
        with precision():
            if angles is None:                   # equally spaced: t_j = 2π j / J
                turns = [Fraction(j, J) for j in range(J)]
                self._t_float = [float(q) * 2 * math.pi for q in turns]
                self._t = [2 * arb.pi() * q_arb(q) for q in turns]
            else:
                if len(angles) != J:
                    raise ValueError(f"{len(angles)} angles for {J} values")
                radians = [to_fraction(a) for a in angles]
                if any(b <= a for a, b in zip(radians, radians[1:])) or radians[0] < 0:
                    raise ValueError("table angles must be increasing and >= 0")
                self._t_float = [float(a) for a in radians]
                self._t = [q_arb(a) for a in radians]
            if not self._t[-1] < 2 * arb.pi():
                raise ValueError("table angles must lie in [0, 2π)")
            self._check_lipschitz()
        self.scope = f"every {self.lipschitz}-Lipschitz f through the {J} table values"

    def _check_lipschitz(self) -> None:
        """Adjacent samples (around the circle) must satisfy |Δy| <= L Δt, certified; the piecewise-linear
        interpolant is then L-Lipschitz in arc length, so the class is not empty."""
        J = len(self.y)
        for j in range(J):
            t0, t1 = self._t[j], self._t[(j + 1) % J] + (2 * arb.pi() if j == J - 1 else 0)
            gap = q_arb(abs(self.y[(j + 1) % J] - self.y[j])) - q_arb(self.lipschitz) * (t1 - t0)
            if not gap <= 0:
                raise ValueError(f"the table is not {self.lipschitz}-Lipschitz between samples {j} and {(j + 1) % J}")

    def value(self, theta: float) -> float:
        import bisect

        two_pi = 2 * math.pi
        th = theta % two_pi
        t, J = self._t_float, len(self.y)
        j = bisect.bisect_right(t, th) - 1
        a, b = (t[j], t[j + 1]) if 0 <= j < J - 1 else (t[-1], t[0] + two_pi)
        if j < 0:
            th += two_pi
        ya, yb = float(self.y[j % J]), float(self.y[(j + 1) % J])
        return ya + (yb - ya) * (th - a) / (b - a)

    def enclose(self, theta: arb) -> arb:
        import bisect

        J = len(self.y)
        c = float(theta.mid())
        turns = math.floor(c / (2 * math.pi))
        j = bisect.bisect_right(self._t_float, c - turns * 2 * math.pi) - 1
        lip = q_arb(self.lipschitz)
        out: arb | None = None
        for k in (j - 1, j, j + 1, j + 2):
            t = self._t[k % J] + 2 * arb.pi() * (turns + k // J)
            ball = q_arb(self.y[k % J]) + lip * abs(theta - t) * arb(0, 1)
            out = ball if out is None else out.intersection(ball)
        return out


# ---- the construction ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Construction:
    """N prefix positions with keys ``T ĝ_m`` and values ``v_m``, on the fixed head with content value row ``w``.
    Every number is the exact binary value of the float64 number the reference model runs."""

    N: int
    T: Fraction
    keys: tuple[tuple[Fraction, Fraction], ...]
    values: tuple[Fraction, ...]
    w: tuple[Fraction, Fraction] = DEFAULT_W

    def key_floats(self) -> list[list[float]]:
        return [[float(a), float(b)] for a, b in self.keys]

    def value_floats(self) -> list[float]:
        return [float(v) for v in self.values]

    def w_floats(self) -> list[float]:
        return [float(x) for x in self.w]

    @property
    def h(self) -> float:
        return 2 * math.pi / self.N


def grid_angles(N: int) -> list[float]:
    return [2 * math.pi * m / N for m in range(N)]


def build(N: int, T: Fraction | int, values: Sequence[float], w: tuple[Fraction, Fraction] = DEFAULT_W
          ) -> Construction:
    """The construction with float64 keys ``float(T) * (cos φ_m, sin φ_m)`` and the given prefix values."""
    if N < 2 or len(values) != N:
        raise ValueError(f"need N >= 2 and N values, got N={N}, {len(values)} values")
    T = Fraction(T)
    t = float(T)
    keys = tuple((Fraction(t * math.cos(p)), Fraction(t * math.sin(p))) for p in grid_angles(N))
    return Construction(N, T, keys, tuple(Fraction(float(v)) for v in values), w)


def for_target(target: Target, N: int, T: Fraction | int, w: tuple[Fraction, Fraction] = DEFAULT_W) -> Construction:
    return build(N, T, [target.value(p) for p in grid_angles(N)], w)


# ---- derived constants (exact arithmetic on balls) -------------------------------------------------------------

def prefix_length(eps: Fraction, L: Fraction) -> int:
    """N(ε) = ⌊π L / ε⌋ + 1, the least N with π L / N < ε (decided on a ball of π; π L / ε is never an integer
    for rational L, ε, so a fine enough ball always decides)."""
    bits = PREC
    while True:
        with precision(bits):
            q = arb.pi() * q_arb(Fraction(L)) / q_arb(Fraction(eps))
            lo, hi = bounds(q)
        if math.floor(lo) == math.floor(hi):
            return math.floor(lo) + 1
        bits *= 2


def certify_prefix_length(eps: Fraction, L: Fraction) -> tuple[int, Certificate]:
    """N(ε) and the kernel's certificate that it is the least length: π L / N(ε) <= ε <= π L / (N(ε) − 1), each
    side decided on an arb ball of π."""
    from theory import kernel

    n0 = prefix_length(eps, L)
    with precision(), kernel.enclosure_session() as ledger:
        kernel.check_bound(bounds(arb.pi() * q_arb(L) / n0), eps)
        kernel.check_bound(bounds(arb.pi() * q_arb(L) / (n0 - 1)), eps, above=True)
    return n0, kernel.certify_enclosure(ledger, 2, f"L = {L}, ε = {eps}", "arb balls of π",
                                        f"π L / {n0} < ε <= π L / {n0 - 1}")


def sufficient_temperature(eps: Fraction, L: Fraction, N: int, C: Fraction) -> int:
    """T(ε) of (4): an integer at least max(log(2Lπ(N−2)/μ)/(1 − cos h), (1 + log(2C/μ))/cos(h/2)),
    μ = ε − πL/N > 0 (ValueError when N is too small for ε)."""
    with precision():
        pi = arb.pi()
        h = 2 * pi / N
        mu = q_arb(Fraction(eps)) - pi * q_arb(Fraction(L)) / N
        if not mu > 0:
            raise ValueError(f"N={N} cannot meet ε={eps} for L={L}: π L / N >= ε")
        far = (2 * q_arb(Fraction(L)) * pi * max(N - 2, 1) / mu).log() / (1 - h.cos())
        content = (1 + (2 * q_arb(Fraction(C)) / mu).log()) / (h / 2).cos()
        return math.ceil(bounds(far.max(content))[1])


def necessary_bound(N: int, L: Fraction) -> float:
    """π L / N: the error the tent centred at a cell midpoint reaches at every temperature (lower bound (3))."""
    return math.pi * float(L) / N


def necessary_temperature(L: Fraction, eps: Fraction, N: int) -> float:
    """T_nec = log(L h / μ) / (cos(h/2) − cos(3h/2)), μ = ε − π L / N: below it the midpoint tent's two grid
    positions at 3h/2 carry enough weight to push its error past ε (docs/approximation.md; float64, it only sets
    the temperature of a false twin)."""
    h = 2 * math.pi / N
    mu = float(eps) - math.pi * float(L) / N
    return math.log(float(L) * h / mu) / (math.cos(h / 2) - math.cos(1.5 * h))


def content_bound(M: Fraction, w: Sequence[Fraction] = DEFAULT_W) -> Fraction:
    """C = |w|_1 + M: bounds the content term |w . x − f(x)| of (1) for every f with |f| <= M."""
    return sum((abs(x) for x in w), Fraction(0)) + M


def class_sup(L: Fraction) -> Fraction:
    """M for the class of L-Lipschitz f: L π / 2 (rounded up), so the tent witness fits and every L-Lipschitz f
    lies within M of a constant."""
    return Fraction(L) * PI_UP / 2


def class_temperature(L: Fraction, eps: Fraction, N: int) -> int:
    """T(ε) of (4) for the whole class: C = |w|_1 + `class_sup` (L)."""
    return sufficient_temperature(eps, L, N, content_bound(class_sup(L)))


def uniform_sizes(target: Target, eps: Fraction, N: int | None = None, T: int | None = None) -> tuple[int, int, int]:
    """(N(ε), N, T) for one target: N(ε) of the prefix length, N = ``N`` or N(ε), T = ``T`` or T(ε) of (4) at N(ε)
    with C = |w|_1 + the certified sup |f|."""
    n_eps = prefix_length(eps, target.lipschitz)
    t = T if T is not None else sufficient_temperature(eps, target.lipschitz, n_eps, content_bound(target.sup_abs()))
    return n_eps, (N if N is not None else n_eps), t


@lru_cache(maxsize=32)
def expression(text: str, L: Fraction) -> Expression:
    """`Expression.parse`, memoised: one parse, periodicity check and certified sup |f| per (text, L)."""
    return Expression.parse(text, L)


# ---- enclosures of the error on boxes of angles ----------------------------------------------------------------

class Enclosure:
    """Balls containing ``H(θ) − f(θ)`` (``target`` given) or the class bound ``W(θ)`` of (1) (``target`` None:
    every ``lipschitz``-Lipschitz f with |f| <= ``sup_f``) for every θ in a box [a, b] of angles."""

    def __init__(self, con: Construction, target: Target | None = None, lipschitz: Fraction | None = None,
                 sup_f: Fraction | None = None) -> None:
        if (target is None) == (lipschitz is None) or (lipschitz is not None and sup_f is None):
            raise ValueError("give a target, or a Lipschitz constant and sup_f (the class), not both")
        self.con, self.target = con, target
        self.N = con.N
        with precision():
            self.keys = [(q_arb(a), q_arb(b)) for a, b in con.keys]
            self.values = [q_arb(v) for v in con.values]
            self.w = (q_arb(con.w[0]), q_arb(con.w[1]))
            self.h = 2 * arb.pi() / self.N
            self.T = T = q_arb(con.T)
            dev = Fraction(0)
            for m, (k1, k2) in enumerate(self.keys):
                c, s = (self.h * m).cos(), (self.h * m).sin()
                dev = max(dev, abs_bounds(abs(k1 - T * c) + abs(k2 - T * s))[1])
            self.delta = q_arb(dev)
            if target is not None:
                self.L = self.C = None
                self.spread = q_arb(max(abs(v) for v in con.values) + target.sup_abs())
            elif lipschitz is not None and sup_f is not None:   # the class (one of the two, checked above)
                self.L = q_arb(Fraction(lipschitz))
                self.C = q_arb(content_bound(Fraction(sup_f), con.w))
                self.spread = self.L * arb.pi()
            self.K = self._choose_K()

    def _bulk(self, K: int, rho: arb) -> arb | None:
        """Upper bound of the summed weight of the prefix positions more than K steps from r, relative to r's,
        when |θ − φ_r| <= rho; None when the bulk bound does not apply (then every position is near)."""
        n_far = self.N - (2 * K + 1)
        if n_far <= 0:
            return None
        dmin = (K + 1) * self.h - rho
        if not (dmin >= rho and dmin <= arb.pi()):
            return None
        return n_far * (self.T * (dmin.cos() - rho.cos()) + 2 * self.delta).exp()

    def _choose_K(self) -> int:
        """The fewest near positions (each side) for which the bulk is negligible on boxes of width <= h/8."""
        rho = self.h * q_arb(Fraction(5, 8))
        K = 2
        while 2 * K + 1 < self.N:
            bulk = self._bulk(K, rho)
            if bulk is not None and bulk * self.spread < q_arb(BULK_NEGLIGIBLE):
                return K
            K = K + max(1, K // 2)
        return self.N  # every position near

    def box(self, a: Fraction, b: Fraction) -> arb:
        """A ball containing the quantity at every θ in [a, b]."""
        with precision():
            return self._box(a, b)

    def _box(self, a: Fraction, b: Fraction) -> arb:
        N = self.N
        fa, fb = fmpq(a.numerator, a.denominator), fmpq(b.numerator, b.denominator)  # exact, C-level arithmetic
        c, r = (fa + fb) / 2, (fb - fa) / 2
        i = round(int(c.p) / int(c.q) * N / (2 * math.pi))      # float(c), correctly rounded as for a Fraction
        theta = arb(fa).union(arb(fb))                          # `theory.balls.interval` (a, b)
        cb = arb(c)
        cos_c, sin_c = cb.cos(), cb.sin()
        spread_t = arb(0, 1) * arb(r)
        spread_2 = arb(0, 1) * arb(r * r / 2)
        kr1, kr2 = self.keys[i % N]

        def logit_diff(d1: arb, d2: arb) -> arb:  # (d1, d2) . x(Θ), second-order Taylor form
            return (d1 * cos_c + d2 * sin_c) + (d2 * cos_c - d1 * sin_c) * spread_t + (abs(d1) + abs(d2)) * spread_2

        rho = abs(theta - i * self.h)
        bulk = self._bulk(self.K, rho) if self.K < N else None
        if bulk is None:
            lo_j = i - (N - 1) // 2
            near = range(lo_j, lo_j + N)
        else:
            near = range(i - self.K, i + self.K + 1)
        f_box = self.target.enclose(theta) if self.target is not None else None
        num, den = arb(0), arb(0)
        for j in near:
            k1, k2 = self.keys[j % N]
            rho_j = logit_diff(k1 - kr1, k2 - kr2).exp()
            if self.target is not None:
                term = self.values[j % N] - f_box
            else:
                term = self.L * abs(theta - j * self.h)
            num += rho_j * term
            den += rho_j
        rho_c = (1 + logit_diff(-kr1, -kr2)).exp()
        if self.target is not None:
            content = self.w[0] * theta.cos() + self.w[1] * theta.sin() - f_box
        else:
            content = self.C
        num += rho_c * content
        den += rho_c
        if bulk is not None:
            share = arb(0).union(bulk)
            den += share
            num += share * self.spread * (arb(0, 1) if self.target is not None else arb(0).union(arb(1)))
        return num / den


def error_at(con: Construction, theta: Fraction | arb, f_value: arb, values: Sequence[arb] | None = None) -> arb:
    """A ball containing H(θ) − f(θ) at one angle given a ball ``f_value`` ∋ f(θ), summing every prefix position (no
    bulk bound). ``values`` override the prefix values (exact reals as balls)."""
    with precision():
        th = theta if isinstance(theta, arb) else q_arb(theta)
        x1, x2 = th.cos(), th.sin()
        logits = [q_arb(k1) * x1 + q_arb(k2) * x2 for k1, k2 in con.keys] + [arb(1)]   # prefix, then content
        vals = list(values) if values is not None else [q_arb(v) for v in con.values]
        content = q_arb(con.w[0]) * x1 + q_arb(con.w[1]) * x2
        return softmax_average(logits, vals + [content]) - f_value


def mixture_residuals(N: int = 3, n: int = 2, prefix_alone: bool = False) -> dict[str, sp.Expr]:
    """Section 4 on the grid construction, as exact residuals (0 iff the statement holds): N prefix positions with
    keys ``T g_m`` on the exact grid ``g_m = (cos 2πm/N, sin 2πm/N)`` and values ``v_m``, n content tokens ``x_j``
    (every real vector; the last one queries), content values ``w . x_j``, every T > 0 and w. With
    ``A`` the prefixed weights, ``A^0`` the unprefixed ones, ``α`` the prefix mass, ``t^0`` the unprefixed output
    and ``t_prefix`` the prefix values' softmax mixture: ``A_1/A_2 = A^0_1/A^0_2``, ``t = (1 − α) t^0 + α t_prefix``
    and ``Σ A + α = 1``. ``prefix_alone`` adds the false statement ``t = t_prefix``."""
    import sympy as sp

    T = sp.Symbol("T", positive=True)
    xs = [sp.Matrix(sp.symbols(f"x{j}_1:3", real=True)) for j in range(1, n + 1)]
    v = sp.symbols(f"v1:{N + 1}", real=True)
    w = sp.Matrix(sp.symbols("w1:3", real=True)).T
    g = [sp.Matrix([sp.cos(2 * sp.pi * m / N), sp.sin(2 * sp.pi * m / N)]) for m in range(N)]
    q = xs[-1]                                             # the last content token queries
    e_content = [sp.exp((q.T * x)[0]) for x in xs]
    e_prefix = [sp.exp(T * (g[m].T * q)[0]) for m in range(N)]
    vals_c = [(w * x)[0] for x in xs]
    Z = sum(e_content) + sum(e_prefix)
    A_content = [e / Z for e in e_content]
    A0 = [e / sum(e_content) for e in e_content]
    t = (sum(e * vc for e, vc in zip(e_content, vals_c)) + sum(e * vm for e, vm in zip(e_prefix, v))) / Z
    alpha = sum(e_prefix) / Z
    t0 = sum(a * vc for a, vc in zip(A0, vals_c))
    t_prefix = sum(e * vm for e, vm in zip(e_prefix, v)) / sum(e_prefix)
    residuals = {
        "content ratio A_21/A_22 = A0_21/A0_22": A_content[0] / A_content[1] - A0[0] / A0[1],
        "t = (1 − α) t_content + α t_prefix": t - ((1 - alpha) * t0 + alpha * t_prefix),
        "weights sum to 1 (convex combination)": sum(A_content) + alpha - 1,
    }
    if prefix_alone:
        residuals["t = t_prefix (the prefix overrides the content)"] = t - t_prefix
    return residuals


def midpoint_tent_error(N: int, T: Fraction | int, L: Fraction, M: Fraction,
                        w: tuple[Fraction, Fraction] = DEFAULT_W) -> tuple[arb, arb, Construction]:
    """The witness of (3): the tent ``f(θ) = M − L d(θ, θ*)`` centred at the cell midpoint ``θ* = (i + 1/2) h``
    with the most negative ``w . x`` (so the content term adds to the error), its construction (float64 prefix
    values), and a ball containing ``|H(θ*) − f(θ*)|`` computed with the *exact* tent values
    ``M − L h |m − i − 1/2|_circ`` and the float64 keys. Returns (θ* as a ball, the error ball, the float64
    construction). The tent is L-Lipschitz with |f| <= M when M >= L π / 2."""
    with precision():
        h = 2 * arb.pi() / N
        best = min(range(N), key=lambda i: float(w[0]) * math.cos((i + .5) * 2 * math.pi / N)
                   + float(w[1]) * math.sin((i + .5) * 2 * math.pi / N))
        theta = (best + q_arb(Fraction(1, 2))) * h
        def steps(m: int) -> Fraction:  # |m − best − 1/2| around the circle, in grid steps
            d = abs(Fraction(2 * (m - best) - 1, 2)) % N
            return min(d, N - d)
        exact_vals = [q_arb(M) - q_arb(L) * h * q_arb(steps(m)) for m in range(N)]
        floats = [float(M) - float(L) * (2 * math.pi / N) * float(steps(m)) for m in range(N)]
        con = build(N, T, floats, w)
        err = error_at(con, theta, values=exact_vals, f_value=q_arb(M))
        return theta, abs(err), con


# ---- branch-and-bound over the circle (theory.branch_bound) --------------------------------------------------

def sup_abs(enclose: Callable[[Fraction, Fraction], arb], pieces: int, rtol: Fraction | None = Fraction(1, 100),
            bound: Fraction | None = None, max_boxes: int = 200_000) -> Sup[Span]:
    """`theory.branch_bound.sup_abs` for sup_θ |q(θ)| over [0, 2π] (`CIRCLE`, boxes [a, b] of angles, bisected),
    from ``pieces`` equal arcs; ``enclose(a, b)`` a ball containing q on [a, b]."""
    return branch_bound.sup_abs(lambda arc: enclose(*arc), CIRCLE, CIRCLE.pieces(pieces), bound=bound, rtol=rtol,
                                max_boxes=max_boxes)


def certify_above(ball: arb, bound: Fraction, scope: str, abstraction: str, what: str) -> Certificate:
    """The kernel's ``enclosure`` certificate that a quantity enclosed by ``ball`` is at least ``bound``."""
    from theory import kernel

    with kernel.enclosure_session() as ledger:
        kernel.check_bound(bounds(ball), bound, above=True)
    return kernel.certify_enclosure(ledger, 1, scope, abstraction,
                                    evidence=f"{what} >= {float(bound):.6g} (outward-rounded arb ball)")


ABSTRACTION = ("none beyond outward rounding: the construction's exact binary weights; sin, cos, exp, π in "
               "python-flint arb balls; logit differences by second-order Taylor forms with exact remainders; "
               "prefix positions far from the box bounded in bulk")
