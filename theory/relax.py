"""Sound linear relaxations of "can this adaptation make this concrete head meet these targets?", built from
catalogue claims that are PROVED symbolically, on the exact data of `theory.enclose`.

Notation (paper-notes 2.2): input r, content output ``t_r`` at its last position, content weights ``A_rj``,
``Z_r = sum_j exp(l_rj)``, target ``y_r`` with max-norm tolerance ``tol``; a prefix ``s_1..s_{n_S}`` has values
``u_m = W_V s_m`` and logits ``lambda_rm = tau g_r . s_m`` (``g_r = W_K^T W_Q x_q``).

Each relaxation is a list of rows ``(coefficients, "<=" | "==", rhs)`` with exact rational data, satisfied by
every real behaviour of the method (its soundness argument is in its docstring, citing the claim ids). So a
Farkas certificate of infeasibility, checked exactly by `theory.kernel.certify_farkas`, proves that no
parameters of the method reach the targets. A feasible relaxation proves nothing; its solution only seeds the
realisation step.

* `prefix_ray` (n_S = 1): ``prefix.single.closed_form`` and ``prefix.alpha_sigmoid`` give
  ``t^pt_r = (1 - alpha_r) t_r + alpha_r u`` with ``alpha_r in (0, 1)`` and one shared ``u = W_V s``. Multiplying
  ``|t^pt_r - y_r| <= tol`` by ``beta_r = 1/alpha_r > 1``: ``|u + (beta_r - 1) t_r - beta_r y_r| <= tol beta_r``:
  linear in ``(s, beta)`` for the true ``t_r``; with ``t_lo <= t_r <= t_hi`` and ``beta_r - 1 >= 0`` each side
  is relaxed to its worst end (the target lies on the ray from ``t_r`` through ``u``, ``beta_r >= 1``).
* `coupling_cut` (n_S = 1, rational tau): the coupling ``beta_r - 1 = exp(kappa_r)``,
  ``kappa_r = log Z_r - lambda_r`` (``prefix.alpha_sigmoid``), relaxed by a tangent of the convex exp at a
  point c: ``exp(kappa) >= L (1 + kappa - c)`` for any ``0 <= L <= exp(c)`` (`kernel.exp_bounds`), and
  ``kappa_r >= logZ_lo - tau g_r . s``.
* `prefix_cone` (any n_S, soft prompts too): ``prefix.multi.closed_form`` gives
  ``t^pt_r = (t_r + sum_m rho_rm u_m) / (1 + sum_m rho_rm)`` with ``rho_rm = alpha_rm / (1 - sum alpha) >= 0``,
  so with ``w_r = sum_m rho_rm s_m`` and ``sigma_r = sum_m rho_rm``:
  ``|t_r + W_V w_r - (1 + sigma_r) y_r| <= tol (1 + sigma_r)``: the shift lies in ``W_V`` times a cone; the
  sharing of the ``s_m`` across inputs is dropped (each input separately).
* `fixed_orderings` (prefix, soft prompt, LoRA on W_V): ``prefix.relative_attention`` (and
  ``prefix.cannot_reverse_attention``): content weight ratios are ``exp(l_j - l_k)``, unchanged, so
  ``A_j > A_k`` needs ``g_r . (x_j - x_k) > 0`` (tau > 0), a sign condition on exact numbers.
* `attention_hull` (LoRA on W_Q or W_K): ``finetune.eq7_reduces`` with ``Delta W_V = 0``: the output is
  ``sum_j A'_j W_V x_j`` for some probability vector ``A'``: it lies in the convex hull of the values.
* `value_linear` (LoRA on W_V): attention is unchanged and ``t'_r = t_r + Delta xbar_r`` with
  ``xbar_r = sum_j A_rj x_j``; dropping ``rank Delta <= r`` leaves an LP in ``Delta`` (exact when
  ``r >= rank [xbar_1 .. xbar_R]``), the uncertainty ``xbar_lo <= xbar_r <= xbar_hi`` absorbed by
  ``P >= |Delta|``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, cast

from theory.enclose import HeadEnclosure, frac, up

if TYPE_CHECKING:
    from flint import fmpq_mat

Inputs = Sequence[int] | None

Row = tuple[dict[str, Fraction], str, Fraction]


@dataclass
class Relaxation:
    """Rows over named real variables (all free; bounds are rows). ``claims``: the catalogue ids the soundness
    argument uses; ``abstraction``: what was dropped; ``scope``: what an infeasibility certificate covers."""

    name: str
    claims: tuple[str, ...]
    abstraction: str
    rows: list[Row] = field(default_factory=list)
    scope: str = "this head, these inputs and targets"

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(v for coeffs, _, _ in self.rows for v in coeffs))


def _which(head: HeadEnclosure, inputs: Inputs) -> Sequence[int]:
    return range(head.R) if inputs is None else inputs


def s_var(m: int, c: int) -> str:
    return f"s{m}_{c}"


def beta_var(r: int) -> str:
    return f"beta{r}"


def _tol_targets(Y: Sequence[Sequence[float]], tol: float) -> tuple[list[list[Fraction]], Fraction]:
    return [[Fraction(float(v)) for v in y] for y in Y], Fraction(float(tol))


def prefix_ray(head: HeadEnclosure, Y: Sequence[Sequence[float]], tol: float, inputs: Inputs = None,
               ends: str = "t") -> Relaxation:
    """n_S = 1: ``u + beta_r (t_lo - y - tol) <= t_lo`` and ``-u - beta_r (t_hi - y + tol) <= -t_hi`` per
    coordinate, ``beta_r >= 1``, ``u = W_V s`` (see the module docstring); over ``inputs`` (default all: rows of
    a subset are a subset of the rows, so its infeasibility is already a proof). ``ends="zero"`` puts 0 in
    place of ``t_r`` (segments from the origin: the false twin of prefix.reachable_segment, unsound)."""
    ys, tq = _tol_targets(Y, tol)
    wv = [{s_var(0, c): a for c, a in enumerate(row) if a} for row in head.W_V]
    neg = [{v: -a for v, a in row.items()} for row in wv]
    rel = Relaxation("prefix-ray", ("prefix.single.closed_form", "prefix.alpha_sigmoid"),
                     "n_S = 1: the coupling alpha_r = sigmoid(tau (W_Q x_q)^T W_K s - log Z_r) between the prefix "
                     "weight and s is dropped (alpha_r free in (0, 1], relaxed to beta_r = 1/alpha_r >= 1); t_r "
                     "replaced by its outward-rounded ball enclosure; data exact rationals of the float64 head")
    zero = [Fraction(0)] * head.d_v
    for r in _which(head, inputs):
        y, b = ys[r], beta_var(r)
        t_lo, t_hi = (head.input(r).t_lo, head.input(r).t_hi) if ends == "t" else (zero, zero)
        for c in range(head.d_v):
            rel.rows.append(({**wv[c], b: t_lo[c] - y[c] - tq}, "<=", t_lo[c]))
            rel.rows.append(({**neg[c], b: -(t_hi[c] - y[c] + tq)}, "<=", -t_hi[c]))
        rel.rows.append(({b: Fraction(-1)}, "<=", Fraction(-1)))
    return rel


def coupling_cut(head: HeadEnclosure, r: int, c: Fraction, L: Fraction) -> Row:
    """Tangent of exp at ``c`` for input r (n_S = 1, rational tau): ``beta_r - 1 >= L (1 + logZ_lo - tau g_r.s
    - c)``, i.e. ``-beta_r - L tau g_r . s <= -1 - L (1 + logZ_lo - c)``; needs ``0 <= L <= exp(c)``."""
    if head.tau is None:
        raise ValueError("coupling cuts need a rational tau")
    if L < 0:
        raise ValueError("L must be >= 0")
    enc = head.input(r)
    coeffs = {s_var(0, i): -L * head.tau * g for i, g in enumerate(enc.g) if g}
    coeffs[beta_var(r)] = Fraction(-1)
    return coeffs, "<=", -1 - L * (1 + enc.logZ_lo - c)


def w_var(r: int, c: int) -> str:
    return f"w{r}_{c}"


def sigma_var(r: int) -> str:
    return f"sigma{r}"


def prefix_cone(head: HeadEnclosure, Y: Sequence[Sequence[float]], tol: float, inputs: Inputs = None) -> Relaxation:
    """Any n_S: per input, ``W_V w_r - sigma_r (y + tol) <= y + tol - t_lo``,
    ``-W_V w_r + sigma_r (y - tol) <= t_hi - y + tol``, ``sigma_r >= 0``."""
    ys, tq = _tol_targets(Y, tol)
    rel = Relaxation("prefix-cone", ("prefix.multi.closed_form", "prefix.single.closed_form"),
                     "the prefix shift sum_m rho_rm W_V s_m taken as any W_V w_r with its own weight sigma_r >= 0 "
                     "per input (the sharing of s_1..s_nS across inputs and the coupling to the logits dropped); "
                     "t_r replaced by its ball enclosure; data exact rationals of the float64 head")
    for r in _which(head, inputs):
        enc, y, sg = head.input(r), ys[r], sigma_var(r)
        for c, row in enumerate(head.W_V):
            base = {w_var(r, i): a for i, a in enumerate(row) if a}
            rel.rows.append(({**base, sg: -(y[c] + tq)}, "<=", y[c] + tq - enc.t_lo[c]))
            rel.rows.append(({**{v: -a for v, a in base.items()}, sg: y[c] - tq}, "<=", enc.t_hi[c] - y[c] + tq))
        rel.rows.append(({sg: Fraction(-1)}, "<=", Fraction(0)))
    return rel


def fixed_orderings(head: HeadEnclosure, orderings: Sequence[Sequence[tuple[int, int]]]) -> Relaxation:
    """One constant row ``0 <= g_r . (x_j - x_k)`` per required ``A_j > A_k`` (a weakening of the strict
    condition, so sound); infeasible exactly when the head ranks k above j."""
    rel = Relaxation("fixed-orderings", ("prefix.relative_attention", "prefix.cannot_reverse_attention"),
                     "content logit differences are unchanged by the method; the strict A_j > A_k weakened to "
                     "l_j - l_k >= 0 (tau > 0 factored out); exact rational logits")
    for r, pairs in enumerate(orderings):
        raw = head.input(r).raw
        for j, k in pairs:
            rel.rows.append(({}, "<=", raw[j] - raw[k]))
    return rel


def a_var(r: int, j: int) -> str:
    return f"a{r}_{j}"


def attention_hull(head: HeadEnclosure, Y: Sequence[Sequence[float]], tol: float, inputs: Inputs = None) -> Relaxation:
    """LoRA on W_Q / W_K: ``a_rj >= 0``, ``sum_j a_rj = 1``, ``|sum_j a_rj v_rj - y_r| <= tol`` with the exact
    values ``v_rj = W_V x_rj``."""
    ys, tq = _tol_targets(Y, tol)
    rel = Relaxation("attention-hull", ("finetune.eq7_reduces",),
                     "the adapted attention replaced by any probability vector over the content positions "
                     "(positivity of softmax weights relaxed to >= 0); values exact rationals")
    for r in _which(head, inputs):
        y = ys[r]
        V = cast("fmpq_mat", head.input(r).tokens) * cast("fmpq_mat", head.W_V_exact).transpose()
        n = V.nrows()
        for c in range(head.d_v):
            coeffs = {a_var(r, j): frac(V[j, c]) for j in range(n)}
            rel.rows.append((coeffs, "<=", y[c] + tq))
            rel.rows.append(({v: -a for v, a in coeffs.items()}, "<=", tq - y[c]))
        for j in range(n):
            rel.rows.append(({a_var(r, j): Fraction(-1)}, "<=", Fraction(0)))
        rel.rows.append(({a_var(r, j): Fraction(1) for j in range(n)}, "==", Fraction(1)))
    return rel


def delta_var(c: int, i: int) -> str:
    return f"D{c}_{i}"


def value_linear(head: HeadEnclosure, Y: Sequence[Sequence[float]], tol: float, coordinate: int) -> Relaxation | None:
    """LoRA on W_V, one output coordinate c (the coordinates are independent): ``Delta_c . xbar_lo <= y + tol -
    t_lo + eps_c`` and ``-Delta_c . xbar_lo <= t_hi - y + tol + eps_c``, where ``eps_c = sum_i U_ci h_i`` bounds
    ``|Delta_c . (xbar_r - xbar_lo)|`` (``h = xbar_hi - xbar_lo``, ``U_c`` from `delta_bound`). None when no
    bound is available (fewer inputs than d, or a singular mean-token matrix): no sound relaxation then."""
    ys, tq = _tol_targets(Y, tol)
    c = coordinate
    bound = delta_bound(head, ys, tq, c)
    if bound is None:
        return None
    rel = Relaxation(f"value-linear[{c}]", ("finetune.eq7_reduces",),
                     "LoRA on W_V with attention unchanged: Delta = B A of any rank (rank <= r dropped); |Delta| "
                     "bounded through d of the inputs (ball inverse of their mean tokens), which absorbs the "
                     "enclosure width of xbar_r; t_r replaced by its ball enclosure; data exact rationals")
    d = head.d
    for r in range(head.R):
        enc, y = head.input(r), ys[r]
        eps = up(sum((U * up(b - a) for U, a, b in zip(bound, enc.xbar_lo, enc.xbar_hi)), Fraction(0)))
        lo = {delta_var(c, i): enc.xbar_lo[i] for i in range(d) if enc.xbar_lo[i]}
        rel.rows.append((lo, "<=", y[c] + tq - enc.t_lo[c] + eps))
        rel.rows.append(({v: -a for v, a in lo.items()}, "<=", enc.t_hi[c] - y[c] + tq + eps))
    return rel


def delta_bound(head: HeadEnclosure, ys: list[list[Fraction]], tq: Fraction, c: int) -> list[Fraction] | None:
    """Upper bounds of ``|Delta_ci|`` valid for every Delta meeting the targets of the first d inputs whose mean
    tokens form a ball matrix ``G`` that arb can invert (None when R < d or no such G)."""
    import flint

    from theory.balls import exact, precision
    from theory.enclose import PREC

    d = head.d
    if head.R < d:
        return None
    with precision(PREC):
        def ball(lo: Fraction, hi: Fraction) -> flint.arb:
            mid = (lo + hi) / 2
            return flint.arb(flint.fmpq(mid.numerator, mid.denominator), float(up((hi - lo) / 2)) or 0)

        encs = [head.input(r) for r in range(d)]
        G = flint.arb_mat(d, d, [ball(encs[k].xbar_lo[i], encs[k].xbar_hi[i]) for i in range(d) for k in range(d)])
        try:
            Ginv = G.inv()
        except ZeroDivisionError:
            return None
        b = [max(abs(ys[k][c] + tq - encs[k].t_lo[c]), abs(ys[k][c] - tq - encs[k].t_hi[c])) for k in range(d)]
        out = []
        for i in range(d):
            total = sum((flint.arb(flint.fmpq(b[k].numerator, b[k].denominator)) * abs(Ginv[k, i])
                         for k in range(d)), flint.arb(0))
            out.append(up(exact(total.upper())))
        return out
