"""Section 5.2 as a positive statement: the set of layer-2 logit perturbations a layer-1 prefix can induce, exactly,
on a concrete two-layer model (paper Sec. 5.2; notes 2.3).

Model (`theory.depth.TinyModel` semantics: residual, one head per layer, W_O folded, no norm, no MLP, causal, tau = 1),
width 2, content x_1..x_3 (``X``), one prefix position per layer:

* layer 1: W_Q^(1) = 0, so every query attends uniformly to what it sees. Without a prefix query r puts 1/r on each
  content key; with the prefix s, ``alpha_r = 1 / (r + 1)`` on the prefix exactly, whatever s is;
* layer 2: ``H_2 = W_Q^(2)T W_K^(2)`` (``H2``); its prefix is a key/value only and does not enter the content logits.

The perturbation formula of `theory.depth.layer2_derivation` (notes 2.3), with ``u = W_V^(1) s``, ``t_j`` the
un-prefixed layer-1 output and ``y_j = x_j + t_j``,

    delta_ij(u) = alpha_i (u - t_i)^T H_2 y_j + alpha_j y_i^T H_2 (u - t_j) + alpha_i alpha_j (u - t_i)^T H_2 (u - t_j),

is here a quadratic polynomial map of ``u in R^2`` (W_V^(1) is invertible, so u ranges over all of R^2). The set of
perturbations of the last query's logits over the three content keys is its image
``P = {(delta_31(u), delta_32(u), delta_33(u)) : u in R^2}``, a surface in R^3: a prefix moves the three layer-2
logits of a query along two degrees of freedom only. A target in P is reached; a target off P (decided exactly:
the polynomial system ``delta(u) = target`` has no real solution) is out of reach of every prefix.

`decide_target` is that decision (the formula tied to the model exactly, then z3 on the system itself); `decide_lora`
asks the same of a rank-1 LoRA ``b a^T`` on the attention output map (the paper's c_proj placement).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy as sp

from theory.kernel import Certificate, SolverAnswer, ZeroTest, certify_unsat, certify_zero, conjoin, decide_zero, run_z3

if TYPE_CHECKING:
    import z3

R = sp.Rational
X_ROWS = ((1, 0), (0, 1), (1, 1))  # content x_1, x_2, x_3 (plain numbers, for the float64 model)
W_V1_ROWS = ((1, 1), (0, 1))
H2_ROWS = ((1, 2), (0, -1))
X = [sp.Matrix(x) for x in X_ROWS]
W_V1 = sp.Matrix(W_V1_ROWS)
H2 = sp.Matrix(H2_ROWS)
QUERY = 2  # the last content position (0-based)
INSIDE_U = (R(1), R(-1))  # the point of R^2 whose image is the planted inside target
OUTSIDE = (R(0), R(0), R(1))  # raise the last key's logit by 1, leave the others: off P (z3 UNSAT)
SCOPE = ("this two-layer model (d = 2, three content tokens, layer 1 uniform, the last query's three layer-2 content "
         "logits): every layer-1 prefix s in R^2")
ABSTRACTION = ("none: the polynomial system delta(W_V s) = target itself, exact rational coefficients (layer-1 "
               "attention on the prefix is exactly 1/(r+2))")


def _t(r: int) -> sp.Matrix:
    """Un-prefixed layer-1 head output at content position r (0-based): the mean of W_V^(1) x_1..x_{r+1}."""
    return sum((W_V1 * X[j] for j in range(r + 1)), sp.zeros(2, 1)) / (r + 1)


def alpha(r: int) -> sp.Rational:
    """Layer-1 attention on the prefix at content position r (0-based): 1 / (r + 2) (uniform over r + 2 keys)."""
    return R(1, r + 2)


def perturbation(u: sp.Matrix) -> list[sp.Expr]:
    """delta_{QUERY, j}(u) for j = 0, 1, 2 by the notes-2.3 formula (expanded)."""
    i = QUERY
    y = [X[r] + _t(r) for r in range(3)]
    out = []
    for j in range(3):
        a_i, a_j = alpha(i), alpha(j)
        out.append(sp.expand(a_i * ((u - _t(i)).T * H2 * y[j])[0, 0] + a_j * (y[i].T * H2 * (u - _t(j)))[0, 0]
                             + a_i * a_j * ((u - _t(i)).T * H2 * (u - _t(j)))[0, 0]))
    return out


def direct_perturbation(s: sp.Matrix) -> list[sp.Expr]:
    """The same quantity from the model itself: layer-2 content logits with the layer-1 prefix s minus without."""
    keys = [s] + X

    def layer1(prefixed: bool) -> list[sp.Matrix]:
        out = []
        for r in range(3):
            visible = keys[:r + 2] if prefixed else X[:r + 1]
            out.append(X[r] + sum((W_V1 * k for k in visible), sp.zeros(2, 1)) / len(visible))
        return out

    with_p, without = layer1(True), layer1(False)
    i = QUERY
    return [sp.expand((with_p[i].T * H2 * with_p[j])[0, 0] - (without[i].T * H2 * without[j])[0, 0])
            for j in range(3)]


def prefix_for(u: Sequence[Any]) -> sp.Matrix:
    """The layer-1 prefix s with W_V^(1) s = u."""
    return W_V1.inv() * sp.Matrix(u)


def inside_target() -> tuple[sp.Expr, ...]:
    """The planted target delta(INSIDE_U), in P by construction."""
    return tuple(perturbation(sp.Matrix(INSIDE_U)))


def lora_perturbation(b: sp.Matrix, a: sp.Matrix, layer: int = 0) -> list[sp.Expr]:
    """delta_{QUERY, j} when the output map W_O of ``layer`` gets the rank-1 LoRA update b a^T (the paper's c_proj
    placement). Layer 0: W_O = W_V^(1) (with W_V = I) becomes W_V^(1) + b a^T, so t_r -> t_r + b a^T m_r with m_r the
    mean of x_1..x_r. Layer 1: W_O^(2) acts after the layer-2 logits, which do not change (0)."""
    if layer == 1:
        return [sp.Integer(0)] * 3
    W = W_V1 + b * a.T
    i = QUERY

    def y(W_: sp.Matrix) -> list[sp.Matrix]:
        return [X[r] + W_ * sum(X[:r + 1], sp.zeros(2, 1)) / (r + 1) for r in range(3)]

    new, old = y(W), y(W_V1)
    return [sp.expand((new[i].T * H2 * new[j])[0, 0] - (old[i].T * H2 * old[j])[0, 0]) for j in range(3)]


def lora_delta(params: Sequence[Any], layer: int = 0) -> list[sp.Expr]:
    """`lora_perturbation` at the four LoRA numbers ``(b0, b1, a0, a1)``."""
    return lora_perturbation(sp.Matrix(params[:2]), sp.Matrix(params[2:]), layer)


def _z3_poly(e: sp.Expr, syms: Sequence[sp.Symbol], zs: Sequence[z3.ArithRef]) -> z3.ArithRef:
    import z3

    terms = []
    for powers, c in sp.Poly(e, *syms).terms():
        c = sp.Rational(c)
        term = z3.Q(int(c.p), int(c.q))
        for z, k in zip(zs, powers):
            term = term * z ** k if k else term
        terms.append(term)
    return z3.Sum(terms) if terms else z3.RealVal(0)


def z3_system(target: Sequence[Any]) -> tuple[list[z3.BoolRef], list[z3.ArithRef]]:
    """The polynomial system ``delta(u) = target`` over real u = (u0, u1) as z3 constraints with exact rational
    coefficients (``encoding "polynomial"``: the statement itself, no abstraction), and the two unknowns."""
    import z3

    u_sym = sp.symbols("u0 u1", real=True)
    u = z3.Reals("u0 u1")
    return [_z3_poly(e - sp.Rational(t), u_sym, u) == 0
            for e, t in zip(perturbation(sp.Matrix(u_sym)), target)], u


def z3_lora_system(target: Sequence[Any], layer: int = 0) -> tuple[list[z3.BoolRef], list[z3.ArithRef]]:
    """``lora_perturbation(b, a) = target`` over real b, a in R^2 (z3 constraints, exact coefficients; unknowns
    b0, b1, a0, a1)."""
    import z3

    syms = sp.symbols("b0 b1 a0 a1", real=True)
    zs = z3.Reals("b0 b1 a0 a1")
    return [_z3_poly(e - sp.Rational(t), syms, zs) == 0 for e, t in zip(lora_delta(syms, layer), target)], zs


# ---- the decisions ---------------------------------------------------------------------------------------------

def z3_number(model: z3.ModelRef, v: z3.ArithRef) -> sp.Rational:
    """A z3 model value as a sympy number: exact if rational, else a 40-digit rational approximation."""
    import z3

    val = model.eval(v, model_completion=True)
    if z3.is_rational_value(val):
        return sp.Rational(val.numerator_as_long(), val.denominator_as_long())
    approx = val.approx(40).as_fraction()
    return sp.Rational(approx.numerator, approx.denominator)


def _solve(system: tuple[list[z3.BoolRef], list[z3.ArithRef]], timeout: float,
           ) -> tuple[SolverAnswer, list[sp.Rational] | None]:
    """z3 (QF_NRA) on ``(constraints, unknowns)``: its answer and, if sat, the unknowns' values."""
    constraints, unknowns = system
    answer = run_z3(constraints, timeout, "QF_NRA")
    return answer, ([z3_number(answer.model, v) for v in unknowns] if answer.result == "sat" else None)


def z3_prefix(target: Sequence[Any], timeout: float) -> list[float] | None:
    """A layer-1 prefix s (floats) from z3's model of ``delta(W_V s) = target``, or None (unsat / unknown)."""
    _, u = _solve(z3_system(target), timeout)
    return None if u is None else [float(v) for v in prefix_for(u)]


def lora_point(target: Sequence[Any], layer: int, timeout: float) -> list[float] | None:
    """A rank-1 LoRA (b0, b1, a0, a1) (floats) from z3's model of ``lora_delta = target``, or None."""
    _, point = _solve(z3_lora_system(target, layer), timeout)
    return None if point is None else [float(v) for v in point]


@dataclass
class TargetDecision:
    """The kernel's decision on ``delta(W_V s) = target``. ``tie``: the notes-2.3 formula minus the model's layer-2
    logits, as polynomials in s. When the tie is 0: z3's ``answer`` on the system; if sat, the ``prefix`` s from its
    model and the largest ``residual`` of the exact model there; if unsat, the ``certificate`` (tie and UNSAT)."""

    tie: ZeroTest
    query: str
    answer: SolverAnswer | None = None
    prefix: sp.Matrix | None = None
    residual: float | None = None
    certificate: Certificate | None = None


def decide_target(target: Sequence[Any], timeout: float, seed: int = 0) -> TargetDecision:
    """Is ``target`` in P? The formula is tied to the model first (zero residual), then ``delta(u) = target`` is
    put to z3 over the reals; a sat model is re-evaluated on the exact model (`direct_perturbation`)."""
    s = sp.Matrix(sp.symbols("s0 s1", real=True))
    tie = decide_zero(sp.Matrix([a - b for a, b in zip(direct_perturbation(s), perturbation(W_V1 * s))]), seed)
    system = z3_system(target)
    query = (f"exists u = W_V^(1) s in R^2 with delta_3j(u) = {tuple(map(str, target))} for j = 1, 2, 3 "
             f"({len(system[0])} polynomial equations of degree 2)")
    if tie.status != "zero":
        return TargetDecision(tie, query)
    answer, u = _solve(system, timeout)
    if u is not None:
        s_val = prefix_for(u)
        residual = max(abs(float(a - sp.Rational(t))) for a, t in zip(direct_perturbation(s_val), target))
        return TargetDecision(tie, query, answer, s_val, residual)
    if answer.result != "unsat":
        return TargetDecision(tie, query, answer)
    certificate = conjoin([certify_zero([tie], SCOPE, "exact: sympy polynomial identity in s"),
                           certify_unsat([answer], "polynomial", SCOPE, ABSTRACTION)], SCOPE,
                          "formula = model (zero residual) and delta(u) = target UNSAT over the reals")
    return TargetDecision(tie, query, answer, certificate=certificate)


@dataclass
class LoraDecision:
    """z3's ``answer`` on ``lora_delta(b, a) = target``; if sat, its ``point`` (b0, b1, a0, a1) and the exact
    ``test`` of ``lora_delta(point) - target`` (with its certificate when 0)."""

    answer: SolverAnswer
    point: list[sp.Rational] | None = None
    test: ZeroTest | None = None
    certificate: Certificate | None = None


def decide_lora(target: Sequence[Any], layer: int, timeout: float, seed: int = 0) -> LoraDecision:
    """Does a rank-1 LoRA on layer ``layer``'s W_O induce ``target``? z3 over the reals, the point re-checked
    exactly (rational evaluation)."""
    answer, point = _solve(z3_lora_system(target, layer), timeout)
    if point is None:
        return LoraDecision(answer)
    test = decide_zero(sp.Matrix([e - sp.Rational(t) for e, t in zip(lora_delta(point, layer), target)]), seed)
    certificate = certify_zero([test], SCOPE, "exact rational evaluation") if test.status == "zero" else None
    return LoraDecision(answer, point, test, certificate)


def lora_residual(target: Sequence[Any], layer: int) -> list[sp.Expr]:
    """``target - lora_delta(b, a)`` in symbolic b, a: what no real (b, a) makes 0 when z3 says UNSAT."""
    return [sp.Rational(t) - e for e, t in zip(lora_delta(sp.symbols("b0 b1 a0 a1", real=True), layer), target)]

