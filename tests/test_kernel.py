"""The trusted kernel (theory/kernel.py): PROVED cannot be built without a certificate it issued, its decisions are
exact, its exp bounds are rigorous at any magnitude, and the checks state an honest scope."""
from __future__ import annotations

import copy
import dataclasses
from fractions import Fraction

import mpmath
import pytest
import sympy as sp
import torch

from proofs import identity_claim
from proofs.claim import Claim, Context, LayerResult, Status
from proofs.runner import run_claim
from theory import kernel
from theory.head import Shape

CTX = Context(instances=64, timeout=20)


def genuine_certificate() -> kernel.Certificate:
    return kernel.certify_zero([kernel.decide_zero(sp.Integer(0))], "test", "none")


# ---- the kernel cannot be bypassed ---------------------------------------------------------------------------

def test_certificates_cannot_be_constructed_outside_the_kernel():
    with pytest.raises(kernel.KernelError):
        kernel.Certificate("zero-residual", "all n", "none", "forged")
    with pytest.raises(kernel.KernelError):
        dataclasses.replace(genuine_certificate(), scope="everything")


def test_proved_needs_a_genuine_certificate():
    with pytest.raises(kernel.KernelError):
        LayerResult(Status.PROVED, "trust me")
    forged = object.__new__(kernel.Certificate)
    for name, value in (("kind", "unsat"), ("scope", "all"), ("abstraction", ""), ("evidence", "")):
        object.__setattr__(forged, name, value)
    with pytest.raises(kernel.KernelError):
        LayerResult(Status.PROVED, "forged", certificate=forged)
    with pytest.raises(kernel.KernelError):
        LayerResult(Status.PROVED, "copied", certificate=copy.copy(genuine_certificate()))
    result = LayerResult(Status.UNKNOWN, "later")
    with pytest.raises(kernel.KernelError):
        result.status = Status.PROVED
    assert LayerResult(Status.PROVED, "ok", certificate=genuine_certificate()).certificate.kind == "zero-residual"


def test_kernel_decisions_cannot_be_forged():
    fake = kernel.ZeroTest("zero", "I say so")
    with pytest.raises(kernel.KernelError):
        kernel.certify_zero([fake], "all", "none")
    with pytest.raises(kernel.KernelError):
        kernel.certify_unsat([kernel.SolverAnswer("unsat")], "positive-weights", "all")
    import z3

    x = z3.Real("x")
    answer = kernel.run_z3([x > 0, x < 0], 5)
    assert answer.result == "unsat"
    with pytest.raises(kernel.KernelError):
        kernel.certify_unsat([answer], "my-own-encoding", "all")
    assert kernel.certify_unsat([answer], "polynomial", "all x").kind == "unsat"


def test_runner_refuses_a_recorded_certificate_as_a_new_proof():
    record = kernel.from_record({"kind": "unsat", "scope": "all"}, "old.json")

    def check(ctx: Context) -> LayerResult:
        return LayerResult(Status.PROVED, "from an old report", certificate=record)

    result = run_claim(Claim("t.record", "t", "t", "x", symbolic=check), CTX)
    assert result.layers["symbolic"].status is Status.ERROR and "did not issue" in result.layers["symbolic"].detail


def test_search_impossible_needs_a_certificate():
    from proofs.z3_search import IMPOSSIBLE, Outcome

    with pytest.raises(kernel.KernelError):
        Outcome(IMPOSSIBLE, "trust me")


# ---- exact arithmetic --------------------------------------------------------------------------------------

def test_floats_are_their_exact_binary_values():
    x = sp.Symbol("x", real=True)
    with kernel.exact_floats():
        tiny = x + 1e-17 * x - x
        decimals = 0.1 * x + 0.2 * x - 0.3 * x
    assert kernel.decide_zero(tiny).status == "nonzero"
    assert kernel.decide_zero(decimals).status == "nonzero"  # 0.1 + 0.2 != 0.3 in binary floats
    assert kernel.decide_zero(sp.Rational(1, 10) * x + sp.Rational(2, 10) * x - sp.Rational(3, 10) * x).status == "zero"
    assert kernel.to_fraction(0.1) == Fraction(3602879701896397, 36028797018963968)
    assert kernel.to_fraction("1e-40") == Fraction(1, 10**40)
    assert kernel.to_fraction(sp.Float("1e-40", 60)) != 0


def test_witnesses_are_exact_and_inside_the_domain():
    alpha = kernel.bounded_symbol("alpha_test", 0, 1)
    tau = sp.Symbol("tau_test", positive=True)
    test = kernel.decide_zero(alpha * tau - sp.Rational(1, 10**30))
    assert test.status == "nonzero"
    point = {k: Fraction(v) for k, v in test.witness.items()}
    assert 0 < point["alpha_test"] < 1 and point["tau_test"] > 0
    assert Fraction(test.exact_value) == point["alpha_test"] * point["tau_test"] - Fraction(1, 10**30)


def test_rational_function_test_decides_true_zeros_and_only_them():
    a, b, Z, T, u = (sp.Symbol(s, real=True) for s in ("a", "b", "Z", "T", "u"))
    x = sp.Symbol("x", real=True)
    p = sp.exp(a)
    # t_pt = (1 - alpha) t + alpha u with alpha = p / (p + Z), t = T / Z
    closed_form = (p * u + T) / (p + Z) - ((1 - p / (p + Z)) * T / Z + p / (p + Z) * u)
    test = kernel.decide_zero(closed_form)
    assert test.status == "zero" and test.method == kernel.RATIONAL
    # exp of a sum is the product of the exps (expanding the product meets exp(a) exp(b/2) = exp(a + b/2))
    product = (1 + sp.exp(a)) * (1 + sp.exp(b / 2))
    assert kernel._rational_zero(sp.expand(product) - product)
    assert kernel._rational_zero((1 + sp.exp(a / 2)) ** 2 - 1 - 2 * sp.exp(a / 2) - sp.exp(a))
    # non-zero rational functions and exp sums are never called 0; decide_zero refutes them at an exact point
    for wrong in ((x**2 + 1) / (x - 1) - (x + 1), sp.exp(a) + sp.exp(b) - sp.exp(a + b), closed_form + u / 10**9):
        assert not kernel._rational_zero(wrong)
        assert kernel.decide_zero(wrong).status == "nonzero"


def test_rational_function_test_treats_singularities_as_together_did():
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    # a removable singularity: 0 as a rational function (where x != 1), as `together` + expand decided before
    removable = (x**2 - 1) / (x - 1) - (x + 1)
    assert kernel._rational_zero(removable)
    assert sp.expand(sp.numer(sp.together(removable))) == 0
    assert kernel.decide_zero(removable).status == "zero"
    # dividing by a formally zero expression is refused (0/0 is not 0), and so is an infinity
    formal_zero = sp.Add(sp.exp(x + y), -sp.Mul(sp.exp(x), sp.exp(y), evaluate=False), evaluate=False)
    assert not kernel._rational_zero(sp.Mul(0, sp.Pow(formal_zero, -1, evaluate=False), evaluate=False))
    assert not kernel._rational_zero(sp.Add(sp.zoo, x, -x, evaluate=False))
    # what the rational test leaves open, the previous tests still decide (sin/cos as complex exponentials)
    trig = sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1
    assert not kernel._rational_zero(trig)
    assert kernel.decide_zero(trig).status == "zero"


def test_rational_verdict_nonzero_only_on_free_generators():
    """"nonzero" (the other zero tests are skipped) only for a non-zero numerator in algebraically independent
    generators: real symbols with an open domain and exp of non-constant monomials in them; "open" otherwise."""
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", positive=True)
    n = sp.Symbol("n", integer=True)
    alpha = kernel.bounded_symbol("alpha_verdict", 0, 1)
    for nonzero in (x - y, sp.exp(x * y / 3) - sp.exp(x) * y, 1 / (x + y) - 1 / x, alpha - sp.Rational(1, 2),
                    sp.exp(x**2) - sp.exp(x) ** 2):
        assert kernel._rational_verdict(nonzero) == "nonzero"
        assert kernel.decide_zero(nonzero).status == "nonzero"
    for open_ in (sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1, sp.log(x * y) - sp.log(x) - sp.log(y), n - x,
                  sp.exp(x + 1) - sp.exp(x), x * sp.sqrt(y) - 1, sp.exp(x / y) - x,
                  sp.Add(1, 2, -3, evaluate=False)):
        assert kernel._rational_verdict(open_) == "open"
    assert kernel.decide_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1).status == "zero"
    assert kernel.decide_zero(sp.Add(1, 2, -3, evaluate=False)).status == "zero"
    assert kernel._rational_verdict((x**2 - 1) / (x - 1) - (x + 1)) == "zero"


def test_floats_are_the_float_atoms():
    """`exact` finds the Floats by a traversal visiting each shared subexpression once: the set ``atoms(Float)``."""
    x = sp.Symbol("x", real=True)
    shared = sp.exp(x + sp.Float(0.25)) / (1 + sp.exp(x + sp.Float(0.25)))
    for e in (shared * x + sp.Float(1e-17) * shared ** 2, shared, x + 1, sp.Integer(3)):
        assert kernel._floats(e) == e.atoms(sp.Float)
    assert kernel.exact(shared).atoms(sp.Float) == set()


def test_z3_reads_floats_and_rationals_exactly():
    import z3

    from theory.smt import raw

    def value(term):
        return z3.simplify(term).as_fraction()

    assert value(raw(0.1) + raw(0.2) - raw(0.3)) != 0  # as the binary floats are
    assert value(raw(sp.Rational(1, 3)) * 3) == 1
    assert value(raw(Fraction(1, 3)) * 3) == 1


# ---- rigorous exp bounds -----------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [Fraction(-10**7), Fraction(-10**6), Fraction(-10**5, 3), Fraction(-1, 7), Fraction(0),
                               Fraction(22, 7), Fraction(10**3), Fraction(10**5), Fraction(10**6), Fraction(10**9)])
def test_exp_bounds_are_rigorous_at_any_magnitude(x):
    lo, hi = kernel.exp_bounds(x, x)
    mpmath.mp.dps = 60
    true = mpmath.exp(mpmath.mpf(x.numerator) / x.denominator)
    assert lo >= 0 and mpmath.mpf(lo.numerator) / lo.denominator <= true
    if hi is not None:
        assert hi > 0 and true <= mpmath.mpf(hi.numerator) / hi.denominator
        assert max(hi.numerator.bit_length(), hi.denominator.bit_length()) < 2 * kernel.EXP_RANGE
    if x < 100:
        assert hi is not None  # an upper bound is kept (and never 0) for every negative or moderate logit


# ---- Farkas certificates -----------------------------------------------------------------------------------

def test_farkas_multipliers_are_checked_exactly():
    rows = [({"x": 1}, "<=", 1), ({"x": 1}, ">=", 2)]  # x <= 1 and x >= 2
    assert kernel.certify_farkas(rows, [1, -1], "toy", "none").kind == "unsat"
    with pytest.raises(kernel.KernelError):
        kernel.certify_farkas(rows, [1, 1], "toy", "none")  # wrong sign for the >= row
    with pytest.raises(kernel.KernelError):
        kernel.certify_farkas(rows, [1, Fraction(-1) + Fraction(1, 10**30)], "toy", "none")  # x does not cancel
    feasible = [({"x": 1}, "<=", 2), ({"x": 1}, ">=", 1)]
    with pytest.raises(kernel.KernelError):
        kernel.certify_farkas(feasible, [1, -1], "toy", "none")


# ---- honest scope ------------------------------------------------------------------------------------------

def first_six(E):
    """(false for n >= 7) the first six content tokens carry all the content attention."""
    h = E.h
    return E.total([h.A_pt[j] for j in range(min(6, len(h.A_pt)))]), h.mass_pt


def test_a_statement_naming_positions_is_not_proved_beyond_them():
    claim = identity_claim("t.first_six", "t", "t", "x", first_six, general=False)
    result = run_claim(claim, CTX)
    assert result.verdict != "ok"
    assert all(r.status is not Status.PROVED for r in result.layers.values()), result.layers
    assert result.layers["symbolic"].status is Status.REFUTED
    assert result.layers["smt"].status is Status.COUNTEREXAMPLE


def cayley_hamilton(E):
    """(true only at d = 2) W_O^2 - tr(W_O) W_O + det(W_O) I = 0, written for any size."""
    M = E.W_O(0)
    if isinstance(M, torch.Tensor):
        I = torch.eye(M.shape[-1], dtype=M.dtype).expand_as(M)
        tr = M.diagonal(dim1=-2, dim2=-1).sum(-1)[:, None, None]
        return M @ M - tr * M + torch.linalg.det(M)[:, None, None] * I, torch.zeros_like(M)
    if isinstance(M, list):  # z3: a list of rows
        raise ValueError("no determinant in the z3 view")
    return M * M - M.trace() * M + M.det() * sp.eye(M.rows), sp.zeros(M.rows, M.rows)


def test_an_identity_true_only_at_one_d_is_refuted():
    claim = identity_claim("t.cayley", "t", "t", "x", cayley_hamilton, shape=Shape(heads=1), general_d=2,
                           unrolled=((2, 2),), smt=False)
    result = run_claim(claim, CTX)
    assert result.layers["symbolic"].status is Status.REFUTED
    assert result.layers["numeric"].status is Status.VIOLATED
    assert result.verdict != "ok"


def test_proved_names_its_certificate_and_scope():
    from proofs.registry import catalogue

    claim = next(c for c in catalogue() if c.id == "prefix.single.closed_form")
    result = run_claim(claim, CTX)
    for layer in ("symbolic", "smt"):
        out = result.layers[layer].to_json()
        assert out["status"] == "PROVED" and out["certificate"] in kernel.KINDS and out["scope"]
    assert result.layers["symbolic"].certificate.scope.startswith("all n")


@pytest.mark.slow
def test_numeric_tolerance_is_relative_and_excuses_rounding_only():
    big = identity_claim("t.big", "t", "t", "x", lambda E: (1e3 * E.h.t_pt, 1e3 * ((1 - E.h.alpha) * E.h.t
                                                                                     + E.h.alpha * E.h.u[0])))
    assert run_claim(big, CTX).layers["numeric"].status is Status.CONSISTENT
    division = identity_claim("t.div", "t", "t", "x", lambda E: (E.h.A_pt / (1 - E.h.alpha), E.h.A), smt=False)
    assert run_claim(division, CTX).layers["numeric"].status is Status.CONSISTENT
    off = identity_claim("t.off", "t", "t", "x", lambda E: (E.h.t_pt, (1 - E.h.alpha) * E.h.t
                                                           + E.h.alpha * E.h.u[0] + 1e-6 * E.h.t))
    result = run_claim(off, CTX)
    assert result.layers["numeric"].status is Status.VIOLATED
    assert result.layers["symbolic"].status is Status.REFUTED


# ---- search at extreme magnitudes ----------------------------------------------------------------------------

@pytest.mark.parametrize("scale, seed", [(1e3, 0), (1e4, 1), (1e5, 2), (1e6, 3)])
def test_planted_witnesses_at_extreme_magnitudes_are_never_impossible(scale, seed):
    """Prefix entries of size ``scale`` (logits far beyond +-1e4 at 1e5 and 1e6): the target a real prefix reaches
    is FOUND or UNKNOWN by both engines, never IMPOSSIBLE, and no bound crashes."""
    from numeric.adapt import ConcreteHead
    from proofs.layered import decide
    from proofs.z3_search import IMPOSSIBLE, Problem, search
    from theory.smt_prefix import Method, Task

    g = torch.Generator().manual_seed(seed)
    W_Q, W_K, W_V = (torch.round(torch.randn(2, 2, generator=g, dtype=torch.float64) * 8) / 8 for _ in range(3))
    inputs = [torch.round(torch.randn(r + 2, 2, generator=g, dtype=torch.float64) * 8) / 8 for r in range(3)]
    s_star = torch.round(torch.randn(1, 2, generator=g, dtype=torch.float64) * scale)
    head = ConcreteHead(W_Q, W_K, W_V, 1.0)
    targets = [head.last(X, "prefix", "W_K", {"s": s_star})[0].tolist() for X in inputs]
    task = Task([X.tolist() for X in inputs], targets, tol=1e-3)
    problem = Problem(W_Q.tolist(), W_K.tolist(), W_V.tolist(), Method("prefix", 1), task, tau=1.0)
    assert decide(problem, 10.0, seed=seed).verdict != IMPOSSIBLE
    assert search(problem, 10.0, seed=seed, starts=1).verdict != IMPOSSIBLE


def test_z3_solver_from_the_cached_tactic_answers_as_a_fresh_one():
    """kernel.z3_solver builds the qfnra-nlsat tactic once: solvers made from it one after another (sat, unsat,
    sat again) answer as solvers made from a fresh tactic, with the same nlsat counters."""
    import z3

    x, y = z3.Reals("x y")
    queries = [[x * y > 1, x > 0], [x * x < 0], [x * x + y * y == 1, x * y > z3.RealVal("1/3")], [x * x < 0]]

    def answers(make):
        out = []
        for q in queries:
            s = make()
            s.add(*q)
            r = s.check()
            st = s.statistics()
            out.append((str(r), {k: st.get_key_value(k) for k in st.keys() if k.startswith("nlsat")}))
        return out

    assert kernel._nlsat_tactic() is kernel._nlsat_tactic()
    fresh = answers(lambda: z3.With("qfnra-nlsat", inline_vars=True).solver())
    assert answers(kernel.z3_solver) == fresh
    assert [a for a, _ in fresh] == ["sat", "unsat", "sat", "unsat"]
