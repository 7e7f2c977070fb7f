"""The trusted kernel: the only code that can issue a `Certificate`, and PROVED / IMPOSSIBLE require one.

In the manner of LCF (HOL Light's ``thm``, Lean's kernel), everything else in prefixcheck -- claim factories,
views, printers, simplification strategies, heuristics, realisation of solver models -- is untrusted and can only
*propose*: an expression it claims is zero, a query it claims is unsatisfiable, a decision it claims is enclosed.
The kernel decides each proposal itself, exactly, and issues a certificate only when the decision is sound
(design.md, soundness rule 1):

* ``zero-residual``: `decide_zero` reduces a residual to 0 in exact arithmetic (every float is first replaced by
  the exact rational of its binary value; the residual as a rational function over Q in python-flint's
  ``fmpq_mpoly``, else sympy's ``together``/``expand`` on rationals and symbols, the exp/log expansions valid
  under the symbols' assumptions, sin/cos as complex exponentials); `certify_zero` turns a set of such decisions
  into a certificate.
* ``unsat``: `run_z3` asks z3 and remembers which answers were UNSAT; `certify_unsat` accepts only those answers,
  and only for an encoding in `ENCODINGS` (the project's encodings whose soundness argument is written there).
  `certify_farkas` checks Farkas multipliers of an infeasible linear system in exact rational arithmetic.
* ``enclosure``: `certified_argmax` decides a greedy step from outward-rounded interval enclosures (one lower end
  strictly above every other upper end), `check_bound` decides that an enclosed real quantity lies below (or
  above) a bound; both record the decision in the open `Ledger`; `certify_enclosure` accepts a ledger with
  every case decided and none failed.

A certificate carries its kind, its scope (what it covers: "all n, n_S" only where the statement was shown
size-generic, else the sizes covered) and its abstraction. `genuine` tells a certificate the kernel issued from
anything else; `proofs.claim.LayerResult` refuses PROVED without a genuine certificate.

The trusted base is this module plus the libraries it calls: sympy's polynomial arithmetic (``together``,
``expand``, ``expand_log(force=False)``, ``powsimp``, ``rewrite(exp)``, ``simplify`` as a last resort), z3's
UNSAT answers, python-flint's ``fmpq_mpoly`` polynomials (`_rational_zero`) and arb balls (`exp_bounds`),
Python's ``Fraction`` and integer arithmetic, and the interval arithmetic of `theory.interval` / `theory.exact`
that computes the enclosures `certified_argmax` decides.
docs/kernel.md explains why each is trusted.
"""
from __future__ import annotations

import contextvars
import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import sympy as sp

Kind = Literal["zero-residual", "unsat", "enclosure"]
KINDS: tuple[str, ...] = ("zero-residual", "unsat", "enclosure")


class KernelError(Exception):
    """A proposal the kernel refuses (a forged certificate, an unregistered encoding, a wrong multiplier)."""


_issuing: contextvars.ContextVar[bool] = contextvars.ContextVar("kernel_issuing", default=False)
_ISSUED: dict[int, Certificate] = {}


@dataclass(frozen=True, eq=False)
class Certificate:
    """Evidence that a statement holds. ``kind`` in `KINDS`; ``scope`` says what it covers; ``abstraction`` the
    over-approximation it was decided under; ``evidence`` one line on what was checked. Only the kernel issues
    certificates: constructing one anywhere else raises `KernelError`."""

    kind: str
    scope: str
    abstraction: str
    evidence: str

    def __post_init__(self) -> None:
        if not _issuing.get():
            raise KernelError("certificates are issued by theory.kernel only")
        if not all(k in KINDS for k in self.kind.split("+")):
            raise KernelError(f"unknown certificate kind {self.kind!r}")
        if not self.scope:
            raise KernelError("a certificate states its scope")

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "scope": self.scope, "abstraction": self.abstraction, "evidence": self.evidence}


def _issue(kind: str, scope: str, abstraction: str, evidence: str) -> Certificate:
    token = _issuing.set(True)
    try:
        cert = Certificate(kind, scope, abstraction, evidence)
    finally:
        _issuing.reset(token)
    _ISSUED[id(cert)] = cert  # a strong reference: the id stays this certificate's
    return cert


def genuine(cert: Any) -> bool:
    """True only for a certificate this kernel issued in this run (not a copy, not a forgery, not a record)."""
    return isinstance(cert, Certificate) and _ISSUED.get(id(cert)) is cert


_RECORDS: dict[int, Certificate] = {}


def from_record(data: dict[str, Any], source: str) -> Certificate:
    """A certificate read back from a saved report (for rendering it): it says what a previous run's kernel
    certified and is marked as a record (``evidence`` names the file). `genuine` is False for it, and the runner
    refuses it as the basis of a new PROVED."""
    kind, scope = str(data.get("kind", "")), str(data.get("scope", ""))
    token = _issuing.set(True)
    try:
        cert = Certificate(kind, scope or "(not recorded)", str(data.get("abstraction", "")),
                           f"recorded in {source}: {data.get('evidence', '')}")
    finally:
        _issuing.reset(token)
    _RECORDS[id(cert)] = cert
    return cert


def recorded(cert: Any) -> bool:
    """True for a certificate read back by `from_record`."""
    return isinstance(cert, Certificate) and _RECORDS.get(id(cert)) is cert


def conjoin(certs: Sequence[Certificate], scope: str, evidence: str) -> Certificate:
    """One certificate for the conjunction of several genuine ones (kinds joined by "+", abstractions listed)."""
    if not certs or not all(genuine(c) for c in certs):
        raise KernelError("conjoin needs genuine certificates")
    kinds = sorted({k for c in certs for k in c.kind.split("+")}, key=KINDS.index)
    abstractions = list(dict.fromkeys(c.abstraction for c in certs if c.abstraction))
    return _issue("+".join(kinds), scope, "; ".join(abstractions), evidence)


# ---- exact numbers -------------------------------------------------------------------------------------------

def to_fraction(x: Any) -> Fraction:
    """The exact rational value of a number: a float's binary value (not its decimal repr), an int, a Fraction,
    a Decimal, a sympy Rational/Integer/Float (its binary value), or a decimal string ("1e-40" is 10^-40)."""
    if isinstance(x, bool):
        return Fraction(int(x))
    if isinstance(x, (int, Fraction)):
        return Fraction(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"non-finite number {x}")
        return Fraction(x)
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise ValueError(f"non-finite number {x}")
        return Fraction(x)
    if isinstance(x, str):
        return Fraction(x.strip())
    try:
        import sympy as sp

        if isinstance(x, sp.Basic):
            x = sp.sympify(x)
            if isinstance(x, sp.Rational):
                return Fraction(int(x.p), int(x.q))
            if isinstance(x, sp.Float):
                if not x.is_finite:
                    raise ValueError(f"non-finite number {x}")
                return _float_fraction(x)
    except ImportError:  # pragma: no cover - sympy is a dependency
        pass
    if hasattr(x, "item") and callable(x.item):  # numpy / torch scalars
        return to_fraction(x.item())
    raise TypeError(f"not an exact number: {x!r}")


def _float_fraction(f: sp.Float) -> Fraction:
    """The exact binary value of a sympy Float (its mpf mantissa and exponent)."""
    sign, man, exp, _ = f._mpf_
    value = Fraction(int(man)) * (Fraction(2) ** int(exp))
    return -value if sign else value


def exact(expr: Any) -> Any:
    """``expr`` with every sympy Float replaced by the exact rational of its binary value (componentwise for
    matrices): so a zero test never runs on rounded numbers."""
    import sympy as sp

    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(exact)
    if not isinstance(expr, sp.Basic):
        return sp.Rational(to_fraction(expr)) if isinstance(expr, (float, Fraction, Decimal)) else expr
    floats = _floats(expr)
    if not floats:
        return expr
    return expr.xreplace({f: sp.Rational(*_fraction_pair(_float_fraction(f))) for f in floats})


def _floats(expr: sp.Basic) -> set[sp.Float]:
    """The Float atoms of ``expr`` (``expr.atoms(Float)``), each distinct subexpression visited once: a residual
    shares subexpressions (the weights exp(l) recur in every entry), which sympy's traversal walks again each
    time."""
    import sympy as sp

    seen: set[sp.Basic] = set()
    out: set[sp.Float] = set()
    stack = [expr]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if isinstance(x, sp.Float):
            out.add(x)
        else:
            stack.extend(x.args)
    return out


def _fraction_pair(q: Fraction) -> tuple[int, int]:
    return q.numerator, q.denominator


@contextmanager
def exact_floats() -> Iterator[None]:
    """Inside the block, sympy turns a Python float it meets (``1e-17 * t``) into the exact rational of the
    float's binary value instead of a 53-bit Float, so sums such as ``t + 1e-17 t`` are not rounded to ``t``
    before any test sees them."""
    import sys

    import sympy as sp

    conv = sys.modules["sympy.core.sympify"]._sympy_converter
    old = conv.get(float)
    def convert(x: float) -> Any:
        if not math.isfinite(x):  # sympy itself compares with float("inf"); keep its meaning
            return sp.Float(x)
        return sp.Rational(*_fraction_pair(Fraction(x)))

    conv[float] = convert
    try:
        yield
    finally:
        if old is None:
            conv.pop(float, None)
        else:
            conv[float] = old


# ---- zero residuals ------------------------------------------------------------------------------------------

_ZEROS: dict[int, ZeroTest] = {}


@dataclass(frozen=True, eq=False)
class ZeroTest:
    """The kernel's decision on ``residual == 0``: "zero" (decided exactly), "nonzero" (an exact witness point
    in the symbols' domain and the residual's value there, exact and as a decimal) or "unknown"."""

    status: str
    method: str = ""
    witness: dict[str, str] | None = None
    value: str | None = None
    exact_value: str | None = None


def _components(expr: Any) -> list[Any]:
    import sympy as sp

    if isinstance(expr, sp.MatrixBase):
        return list(expr)
    if isinstance(expr, (list, tuple)):
        return [c for e in expr for c in _components(e)]
    return [expr]


RATIONAL = "rational function over Q in the residual's generators (python-flint), numerator 0"
TOGETHER = "together + expand numerator"


class _NotRational(Exception):
    """A residual outside the rational-function test: an infinity, a nan, a float, a non-commutative term, or a
    division by a formally zero expression."""


def _exponent_terms(x: Any) -> list[tuple[Any, Any]]:
    """An atom ``x`` of a residual (not a sum, product, integer power or rational) as ``[(m_r, c_r)]`` with
    ``x = prod_r exp(m_r)^c_r``: for ``exp(c_1 m_1 + ... + c_k m_k)`` (argument expanded, ``c_r`` rational) the
    terms of its argument; any other atom (a symbol, log(x), sin(x), x^(1/2), pi) is ``[(x, None)]``, its own
    generator."""
    import sympy as sp

    if not isinstance(x, sp.exp):
        return [(x, None)]
    out = []
    for term in sp.Add.make_args(sp.expand(x.args[0])):
        c, m = term.as_coeff_Mul()
        out.append((m, c) if c.is_Rational else (term, sp.Integer(1)))
    return out


def _generators(e: Any) -> tuple[dict[Any, int], dict[Any, list[tuple[Any, int]]]]:
    """The generators of ``e`` (numbered) and each atom's powers of them. ``exp(c m)`` (``c`` rational) is
    ``exp(m/q_m)^(c q_m)``, ``q_m`` the lcm of the denominators of every coefficient ``m`` has in an exp of ``e``
    (exp(a + b) = exp(a) exp(b) and exp(k a) = exp(a)^k for integer k hold for every complex a, b); any other atom
    is its own generator. Raises `_NotRational` for an infinity, a nan, a float or a non-commutative term."""
    import sympy as sp

    terms: dict[Any, list[tuple[Any, Any]]] = {}
    lcm: dict[Any, int] = {}
    seen: set[Any] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x in seen or x.is_Rational:
            continue
        seen.add(x)
        if x.is_Add or x.is_Mul:
            stack.extend(x.args)
        elif x.is_Pow and x.exp.is_Integer:
            stack.append(x.base)
        elif (not isinstance(x, sp.Expr) or x.is_Number or not x.is_commutative
              or x.has(sp.nan, sp.zoo, sp.oo, -sp.oo)):
            raise _NotRational(x)
        else:
            terms[x] = _exponent_terms(x)
            for m, c in terms[x]:
                if c is not None:
                    lcm[m] = math.lcm(lcm.get(m, 1), int(c.q))
    gens: dict[Any, int] = {}
    atoms: dict[Any, list[tuple[Any, int]]] = {}
    for x, ts in terms.items():
        atoms[x] = [(m, 1) if c is None else (sp.exp(m / lcm[m]), int(c * lcm[m])) for m, c in ts]
        for g, _ in atoms[x]:
            gens.setdefault(g, len(gens))
    return gens, atoms


_UNDISCRETE = ("integer", "rational", "irrational", "algebraic", "transcendental", "zero")


def _open_symbol(s: Any) -> bool:
    """``s`` is a real symbol whose domain has interior: its assumptions allow every value of a half-line, of
    R \\ {0} or of R (none of integer, rational, irrational, algebraic, transcendental, zero), narrowed by
    `bounded_symbol` to a non-empty open interval at most."""
    import sympy as sp

    if not isinstance(s, sp.Symbol) or s.is_real is not True or any(getattr(s, f"is_{k}") for k in _UNDISCRETE):
        return False
    lo_hi = _DOMAINS.get(s)
    return lo_hi is None or lo_hi[0] < lo_hi[1]


def _free_generator(g: Any) -> bool:
    """``g`` is a symbol with an open domain (`_open_symbol`) or exp(m/q) for a non-constant monomial m (a product
    of positive integer powers of such symbols) and a positive integer q. Any finite set of distinct free
    generators is algebraically independent over C: the symbols are independent variables, and the exponentials
    of Q-linearly independent non-constant polynomials (distinct monomials are) are algebraically independent over
    the rational functions (a polynomial relation would be a vanishing sum sum_a c_a(x) exp(phi_a(x)) with
    distinct polynomial exponents phi_a; restricted to a generic line it contradicts the linear independence of
    exponentials of distinct polynomials over C(t))."""
    import sympy as sp

    if isinstance(g, sp.exp):
        c, m = g.args[0].as_coeff_Mul()
        return bool(c.is_Rational and c > 0 and c.p == 1 and m != 1 and all(
            _open_symbol(f) or (f.is_Pow and _open_symbol(f.base) and f.exp.is_Integer and f.exp > 0)
            for f in sp.Mul.make_args(m)))
    return _open_symbol(g)


Verdict = Literal["zero", "nonzero", "open", "untested"]


def _rational_verdict(e: Any) -> Verdict:
    """``e`` as a formal rational function with rational coefficients in its generators (`_generators`, taken as
    independent variables): ``e`` is evaluated bottom-up as a pair (numerator, denominator) of python-flint
    ``fmpq_mpoly`` polynomials (sums over the lcm of the denominators, exact division by their gcd); a negative
    power of a formally zero polynomial is refused. The denominator is then a product of non-zero polynomials.

    "zero": the numerator is 0, so ``e`` = 0 at every point where the denominators it divides by are non-zero,
    which is what ``together`` + expanding the numerator decides (so (x^2 - 1)/(x - 1) - (x + 1) is 0 for both,
    the removable singularity at x = 1 set aside). Sound because an identity between rational functions of
    independent variables holds whatever values the generators take.

    "nonzero": the numerator is not 0 and every generator is free (`_free_generator`): the generators are then
    algebraically independent, so the numerator is a non-zero analytic function of the symbols, hence non-zero
    somewhere on the symbols' open domain (the identity theorem), and ``e`` is not 0 as a function: no sound
    test can reduce it to 0, and only a witness point can decide it. "open": neither (not decided)."""
    import flint

    if e == 0:
        return "zero"
    try:
        gens, atoms = _generators(e)
    except _NotRational:
        return "open"
    if not gens:
        return "open"
    ctx = flint.fmpq_mpoly_ctx.get(tuple(f"g{k}" for k in range(len(gens))), "lex")
    variables, one = ctx.gens(), ctx.constant(1)
    memo: dict[Any, tuple[Any, Any]] = {}

    def pair(x: Any) -> tuple[Any, Any]:
        if (known := memo.get(x)) is not None:
            return known
        if x.is_Rational:
            out = (ctx.constant(flint.fmpq(int(x.p), int(x.q))), one)
        elif x.is_Add:
            num, den = pair(x.args[0])
            for a in x.args[1:]:
                a_num, a_den = pair(a)
                if a_den == den:
                    num = num + a_num
                else:
                    g = den.gcd(a_den)
                    num, den = num * (a_den / g) + a_num * (den / g), den * (a_den / g)
            out = (num, den)
        elif x.is_Mul:
            num, den = one, one
            for a in x.args:
                a_num, a_den = pair(a)
                num, den = num * a_num, den * a_den
            out = (num, den)
        elif x.is_Pow and x.exp.is_Integer:
            b_num, b_den = pair(x.base)
            k = int(x.exp)
            if k < 0 and b_num == 0:
                raise _NotRational(x)
            out = (b_num ** k, b_den ** k) if k >= 0 else (b_den ** -k, b_num ** -k)
        else:
            num, den = one, one
            for g, k in atoms[x]:
                if k >= 0:
                    num = num * variables[gens[g]] ** k
                else:
                    den = den * variables[gens[g]] ** -k
            out = (num, den)
        memo[x] = out
        return out

    try:
        numerator = pair(e)[0]
    except (_NotRational, RecursionError):  # RecursionError: nested deeper than Python's stack; left to together
        return "open"
    if numerator == 0:
        return "zero"
    return "nonzero" if all(_free_generator(g) for g in gens) else "open"


def _rational_zero(e: Any) -> bool:
    """``e`` is 0 as a formal rational function in its generators (`_rational_verdict` "zero")."""
    return _rational_verdict(e) == "zero"


def _fast_zero(e: Any, verdict: Verdict = "untested") -> str | None:
    """The method that reduced ``e`` to 0 as a rational function (`RATIONAL`, else `TOGETHER`), or None;
    ``verdict``: `_rational_verdict` of ``e`` when already known."""
    import sympy as sp

    if (_rational_verdict(e) if verdict == "untested" else verdict) == "zero":
        return RATIONAL
    if sp.expand(sp.numer(sp.together(e))) == 0:
        return TOGETHER
    return None


def _exp_log_zero(e: Any) -> str | None:
    """exp of sums and logs of products expanded where the symbols' assumptions make it valid."""
    import sympy as sp

    e = sp.expand(sp.expand_log(e, force=False), power_exp=True, log=True)
    found = _fast_zero(sp.powsimp(e))
    return found and f"expand exp/log (valid under the symbols' assumptions), {found}"


def _trig_zero(e: Any) -> str | None:
    import sympy as sp

    if not e.has(sp.sin, sp.cos):
        return None
    found = _fast_zero(sp.expand(e.rewrite(sp.exp)))
    return found and f"sin/cos as complex exponentials, expand, {found}"


_DOMAINS: dict[Any, tuple[Fraction, Fraction]] = {}


def bounded_symbol(name: str, lo: Any, hi: Any) -> sp.Symbol:
    """A real symbol with values in the open interval (lo, hi) (e.g. an attention weight alpha in (0, 1)):
    witnesses refuting a statement about it are drawn from that interval only."""
    import sympy as sp

    lo_q, hi_q = to_fraction(lo), to_fraction(hi)
    sym = sp.Symbol(name, positive=True) if lo_q >= 0 else sp.Symbol(name, real=True)
    _DOMAINS[sym] = (lo_q, hi_q)
    return sym


def _domain_value(s: Any, rng: random.Random) -> Any:
    """A rational point in a symbol's domain: its sympy assumptions, narrowed by `bounded_symbol`."""
    import sympy as sp

    lo_hi = _DOMAINS.get(s)
    if lo_hi is not None:
        lo, hi = (sp.Rational(*_fraction_pair(to_fraction(v))) for v in lo_hi)
        t = sp.Rational(rng.randint(1, 97), 98)
        return lo + (hi - lo) * t
    q = sp.Rational(rng.randint(1, 19), rng.randint(1, 7))
    if s.is_integer:
        q = sp.Integer(rng.randint(1, 9))
    if s.is_positive or s.is_nonnegative:
        return q
    if s.is_negative or s.is_nonpositive:
        return -q
    return q if rng.random() < 0.5 else -q


def _witness(e: Any, rng: random.Random, tries: int = 12) -> ZeroTest | None:
    """An exact rational point in the domain where ``e`` is provably non-zero: the value is exact when it is
    rational, otherwise evaluated by sympy's evalf with ``strict=True`` (which raises rather than return a value
    whose requested accuracy was not reached), so a printed non-zero value is a certified sign."""
    import sympy as sp

    syms = sorted(e.free_symbols, key=lambda s: s.name)
    for _ in range(tries):
        point = {s: _domain_value(s, rng) for s in syms}
        try:
            value = e.xreplace(point).doit()  # e is exact (no Float), the point rational
            if value.is_Rational:
                if value == 0:
                    continue
                exact_value = str(value)
                decimal = str(sp.N(value, 12))
            else:
                approx = sp.N(value, 30, strict=True)
                if not (approx.is_number and approx.is_finite) or approx == 0:
                    continue
                exact_value, decimal = sp.sstr(value)[:400], str(sp.N(approx, 12))
        except (ZeroDivisionError, TypeError, ValueError, sp.PrecisionExhausted, ArithmeticError):
            continue
        if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            continue
        return ZeroTest("nonzero", "exact evaluation at a rational point", {s.name: str(v) for s, v in point.items()},
                        decimal, exact_value)
    return None


def find_witness(expr: Any, seed: int = 0) -> ZeroTest | None:
    """Only the refuting half of `decide_zero`: a "nonzero" decision at an exact point in the domain, or None
    (cheap for residuals expected to be non-zero)."""
    import sympy as sp

    rng = random.Random(seed)
    for p in _components(expr):
        p = exact(sp.sympify(p))
        if p != 0 and (found := _witness(p, rng)) is not None:
            return found
    return None


def decide_zero(expr: Any, seed: int = 0) -> ZeroTest:
    """Decide ``expr == 0`` (componentwise for matrices and lists) in exact arithmetic: floats are replaced by
    their exact rationals first; each part is tried as a formal rational function (`_rational_zero`), then with
    ``together`` + expanding the numerator (design.md), then with exp/log expanded, then sin/cos as complex
    exponentials; the decision's method names every test that reduced a part to 0. A part the rational-function
    test shows is not 0 as a function (`_rational_verdict` "nonzero") skips the other tests, which cannot reduce
    it, and goes to the witness search."""
    import sympy as sp

    parts = [exact(sp.sympify(p)) for p in _components(expr)]
    methods: dict[str, None] = {}
    pending = []
    for p in parts:
        verdict = _rational_verdict(p)
        if verdict != "nonzero" and (method := _fast_zero(p, verdict) or _exp_log_zero(p) or _trig_zero(p)):
            methods[method] = None
        else:
            pending.append(p)
    if not pending:
        return _zero("; ".join(methods) or RATIONAL)
    rng = random.Random(seed)
    for p in pending:
        found = _witness(p, rng)
        if found is not None:
            return found
    if all(sp.simplify(p) == 0 for p in pending):
        return _zero("simplify")
    return ZeroTest("unknown", "the residual was not reduced to 0 and no witness point was found")


def _zero(method: str) -> ZeroTest:
    test = ZeroTest("zero", method)
    _ZEROS[id(test)] = test
    return test


def certify_zero(tests: Sequence[ZeroTest], scope: str, abstraction: str, evidence: str = "") -> Certificate:
    """A ``zero-residual`` certificate for residuals the kernel itself decided to be 0."""
    if not tests or not all(_ZEROS.get(id(t)) is t and t.status == "zero" for t in tests):
        raise KernelError("certify_zero needs zero decisions made by decide_zero")
    methods = sorted({t.method for t in tests})
    return _issue("zero-residual", scope, abstraction,
                  evidence or f"{len(tests)} residual(s) reduced to 0 exactly ({'; '.join(methods)})")


def _positive_form(e: Any) -> bool:
    """``e`` is a ratio of polynomials with positive coefficients in positive symbols (so e > 0 everywhere)."""
    import sympy as sp

    if not all(x.is_positive for x in e.free_symbols):
        return False
    num, den = sp.fraction(sp.together(e))
    for part in (num, den):
        part = sp.expand(part)
        if part.is_number:
            if not part > 0:
                return False
            continue
        poly = sp.Poly(part, *sorted(part.free_symbols, key=lambda x: x.name))
        if not poly.coeffs() or not all(c.is_Rational and c > 0 for c in poly.coeffs()):
            return False
    return True


def certify_positive_multiple(f: Any, base: Any, factor: Any, varying: Any, scope: str, abstraction: str,
                              seed: int = 0) -> Certificate | None:
    """A ``zero-residual`` certificate that ``f = c * base`` with ``c > 0`` not depending on ``varying`` (so f
    orders every family of values exactly as base does), or None: ``f - c base`` must reduce to 0 exactly and
    ``c`` be a ratio of positive-coefficient polynomials in positive symbols without ``varying``."""
    factor = exact(factor)
    if varying in factor.free_symbols or not _positive_form(factor):
        return None
    test = decide_zero(f - factor * base, seed)
    if test.status != "zero":
        return None
    return _issue("zero-residual", scope, abstraction,
                  f"f - c base reduced to 0 ({test.method}); c positive (positive coefficients, positive symbols) "
                  f"and free of {varying}")


def certify_nonnegative(poly: Any, var: Any, scope: str, abstraction: str) -> Certificate | None:
    """An ``enclosure`` certificate (an exact sign decision) that the polynomial ``poly`` in ``var`` is >= 0 for
    every ``var >= 0``: every coefficient is a rational >= 0. None if that criterion does not apply."""
    import sympy as sp

    expanded = sp.expand(exact(sp.sympify(poly)))
    if expanded.free_symbols - {var}:
        return None
    coeffs = sp.Poly(expanded, var).all_coeffs() if expanded.free_symbols else [expanded]
    if not all(c.is_Rational and c >= 0 for c in coeffs):
        return None
    return _issue("enclosure", scope, abstraction,
                  f"{len(coeffs)} rational coefficients of a polynomial in {var} >= 0, all >= 0")


# ---- solver UNSAT --------------------------------------------------------------------------------------------

ENCODINGS: dict[str, str] = {
    "positive-weights": "each softmax weight exp(l) is a fresh positive real; values, prefix values and matrices "
                        "free reals: every real head satisfies the encoding",
    "exp-facts": "each weight exp(l) a fresh positive real tied to its logit only by facts true of exp: e > 0, "
                 "e >= 1 + l, monotonicity and injectivity between weights, tangent bounds at exact points, "
                 "rigorous rational enclosures (exp_bounds); constants exact rationals",
    "real-relaxation": "integers relaxed to reals and exp(T/sqrt L) to a positive real: every integer instance "
                       "satisfies the encoding",
    "polynomial": "the statement itself, polynomial in real unknowns with exact rational constants (no "
                  "abstraction)",
}


@dataclass(frozen=True, eq=False)
class SolverAnswer:
    """One solver call: "sat" (with model), "unsat" or "unknown" (with reason)."""

    result: str
    model: Any = None
    reason: str = ""
    seconds: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)


_UNSAT: dict[int, SolverAnswer] = {}


def z3_solver(logic: str = "QF_NRA") -> Any:
    """The z3 solver `run_z3` asks. QF_NRA: z3's nlsat procedure (the ``qfnra-nlsat`` tactic: simplification,
    then nlsat, complete for nonlinear real arithmetic) with ``inline_vars`` (variables isolated from equations
    are substituted away, with a model converter that restores them). On the catalogue's queries it answers as
    ``SolverFor("QF_NRA")`` does, about 1.5-2x faster (``python -m bench bench_smt``). Any other logic:
    ``SolverFor(logic)``; none: z3's default solver. Whatever the configuration, an UNSAT is z3's answer."""
    import z3

    if logic == "QF_NRA":
        return _nlsat_tactic().solver()
    return z3.SolverFor(logic) if logic else z3.Solver()


@cache
def _nlsat_tactic() -> Any:
    """The ``qfnra-nlsat`` tactic with ``inline_vars``, built once (z3 takes about 1 ms to build it); each solver
    made from it answers as one made from a fresh tactic (same answers and counters on the catalogue's queries)."""
    import z3

    return z3.With("qfnra-nlsat", inline_vars=True)


def run_z3(constraints: Sequence[Any], timeout: float, logic: str = "QF_NRA") -> SolverAnswer:
    """Ask z3 (`z3_solver`, with a timeout in seconds; a timeout is "unknown"); UNSAT answers are remembered
    for `certify_unsat`."""
    import time

    import z3

    solver = z3_solver(logic)
    solver.set("timeout", max(1, int(timeout * 1000)))
    solver.add(*constraints)
    start = time.perf_counter()
    r = solver.check()
    seconds = time.perf_counter() - start
    st = solver.statistics()
    stats = {k: float(st.get_key_value(k)) for k in st.keys()}
    stats["assertions"] = float(len(solver.assertions()))
    if r == z3.unsat:
        answer = SolverAnswer("unsat", seconds=seconds, stats=stats)
        _UNSAT[id(answer)] = answer
    elif r == z3.sat:
        answer = SolverAnswer("sat", solver.model(), seconds=seconds, stats=stats)
    else:
        answer = SolverAnswer("unknown", reason=solver.reason_unknown() or "unknown", seconds=seconds, stats=stats)
    return answer


def certify_unsat(answers: Sequence[SolverAnswer], encoding: str, scope: str, abstraction: str = "",
                  evidence: str = "") -> Certificate:
    """An ``unsat`` certificate from UNSAT answers of `run_z3` on a registered sound encoding."""
    if encoding not in ENCODINGS:
        raise KernelError(f"encoding {encoding!r} is not registered as sound (theory.kernel.ENCODINGS)")
    if not answers or not all(_UNSAT.get(id(a)) is a for a in answers):
        raise KernelError("certify_unsat needs UNSAT answers obtained through run_z3")
    seconds = sum(a.seconds for a in answers)
    return _issue("unsat", scope, abstraction or ENCODINGS[encoding],
                  evidence or f"{len(answers)} z3 quer{'y' if len(answers) == 1 else 'ies'} UNSAT "
                              f"({seconds:.3f}s; encoding {encoding})")


Row = tuple[dict[str, Any], str, Any]  # (coefficients by variable, sense "<=" | ">=" | "==", right-hand side)


def certify_farkas(rows: Sequence[Row], multipliers: Sequence[Any], scope: str, abstraction: str,
                   evidence: str = "") -> Certificate:
    """An ``unsat`` certificate for an infeasible linear system ``a_r . x (sense_r) b_r`` from Farkas
    multipliers ``y``, checked in exact rationals: ``y_r >= 0`` for ``<=`` rows, ``y_r <= 0`` for ``>=`` rows,
    free for ``==`` rows; ``sum_r y_r a_r = 0`` and ``sum_r y_r b_r < 0`` (so ``0 = y.Ax <= y.b < 0``)."""
    if len(rows) != len(multipliers) or not rows:
        raise KernelError("one multiplier per row")
    combo: dict[str, Fraction] = {}
    rhs = Fraction(0)
    for (coeffs, sense, b), y_raw in zip(rows, multipliers):
        y = to_fraction(y_raw)
        if sense == "<=" and y < 0 or sense == ">=" and y > 0:
            raise KernelError(f"multiplier {y} has the wrong sign for a {sense} row")
        if sense not in ("<=", ">=", "=="):
            raise KernelError(f"unknown row sense {sense!r}")
        if y == 0:
            continue
        for var, a in coeffs.items():
            combo[var] = combo.get(var, Fraction(0)) + y * to_fraction(a)
        rhs += y * to_fraction(b)
    if any(v != 0 for v in combo.values()):
        raise KernelError("the multipliers do not cancel every variable")
    if not rhs < 0:
        raise KernelError(f"y.b = {rhs} is not negative")
    return _issue("unsat", scope, abstraction,
                  evidence or f"Farkas multipliers of {len(rows)} linear rows checked exactly (y.b = {float(rhs):.3g})")


# ---- rigorous exp bounds -------------------------------------------------------------------------------------

EXP_RANGE = 4096  # beyond 2^±EXP_RANGE, bounds are clamped to powers of two (still valid, never 0 above)


def exp_bounds(lo: Any, hi: Any, bits: int = 40) -> tuple[Fraction, Fraction | None]:
    """Rationals ``a <= exp(lo)`` and ``b >= exp(hi)`` (``b`` None: no finite bound is kept, for hi beyond
    the range) from python-flint's arb balls, rounded outward to ``bits`` significant bits. ``b`` is never 0;
    ``a`` may be 0 only when exp(lo) < 2^-EXP_RANGE. Any magnitude is safe: no bound has more than about
    EXP_RANGE bits."""
    import flint

    lo_q, hi_q = to_fraction(lo), to_fraction(hi)
    if hi_q < lo_q:
        raise ValueError("empty interval")
    ln2 = Fraction(6931471805599453, 10**16)  # < ln 2
    ln2_up = Fraction(6931471805599454, 10**16)  # > ln 2

    def ball(q: Fraction) -> Any:
        ctx = flint.ctx
        old = ctx.prec
        ctx.prec = max(64, bits + 32 + abs(q.numerator // q.denominator).bit_length())
        try:
            return flint.arb(flint.fmpq(q.numerator, q.denominator)).exp()
        finally:
            ctx.prec = old

    # lower bound of exp(lo)
    if lo_q < -EXP_RANGE * ln2:
        a = Fraction(0)
    elif lo_q > EXP_RANGE * ln2_up:
        a = Fraction(2) ** EXP_RANGE
    else:
        a = _dyadic(_arf_fraction(ball(lo_q).lower()), bits, down=True)
        a = max(a, Fraction(0))
    # upper bound of exp(hi)
    if hi_q < -EXP_RANGE * ln2_up:
        b: Fraction | None = Fraction(1, 2**EXP_RANGE)
    elif hi_q > EXP_RANGE * ln2:
        b = None
    else:
        b = _dyadic(_arf_fraction(ball(hi_q).upper()), bits, down=False)
        if b <= 0:  # cannot happen for an arb upper end of a positive ball; kept as a guard
            b = Fraction(1, 2**EXP_RANGE)
    return a, b


def _arf_fraction(x: Any) -> Fraction:
    """The exact value of a flint arf/arb midpoint (mantissa times a power of two)."""
    import flint

    if isinstance(x, flint.arb):
        x = x.mid()
    man, e = x.man_exp()
    man, e = int(man), int(e)
    return Fraction(man) * Fraction(2) ** e


def _dyadic(q: Fraction, bits: int, down: bool) -> Fraction:
    """``q`` rounded down (or up) to a dyadic rational with about ``bits`` significant bits."""
    if q == 0:
        return q
    shift = bits - (abs(q.numerator).bit_length() - q.denominator.bit_length())
    scaled = q * Fraction(2) ** shift
    n = math.floor(scaled) if down else math.ceil(scaled)
    return Fraction(n) / Fraction(2) ** shift


# ---- certified enclosures ------------------------------------------------------------------------------------

@dataclass
class Ledger:
    """Decisions `check_decision` / `check_bound` made inside `enclosure_session`: certified, wrong or undecided."""

    certified: int = 0
    undecided: int = 0
    wrong: int = 0


_ledger: contextvars.ContextVar[Ledger | None] = contextvars.ContextVar("kernel_ledger", default=None)


@contextmanager
def enclosure_session() -> Iterator[Ledger]:
    """Open a ledger; every `check_decision` / `check_bound` inside the block is recorded in it."""
    ledger = Ledger()
    token = _ledger.set(ledger)
    try:
        yield ledger
    finally:
        _ledger.reset(token)


def certified_argmax(logits: Sequence[tuple[int, int]]) -> int | None:
    """The index whose enclosure ``(lo, hi)`` lies strictly above every other one's upper end, else None (an
    exact tie is never certified)."""
    best = max(range(len(logits)), key=lambda u: logits[u][0])
    lo = logits[best][0]
    if all(logits[u][1] < lo for u in range(len(logits)) if u != best):
        return best
    return None


def check_decision(logits: Sequence[tuple[int, int]], want: int, ledger: Ledger | None = None) -> bool | None:
    """Record in ``ledger`` (default: the open session's) whether the enclosures certify ``want`` as the greedy
    choice: True (certified), False (another token certified: the construction is wrong there), None
    (undecided)."""
    got = certified_argmax(logits)
    ledger = ledger if ledger is not None else _ledger.get()
    if ledger is not None:
        if got is None:
            ledger.undecided += 1
        elif got == want:
            ledger.certified += 1
        else:
            ledger.wrong += 1
    return None if got is None else got == want


def check_bound(enclosure: tuple[Any, Any], bound: Any, *, above: bool = False,
                ledger: Ledger | None = None) -> bool | None:
    """Record in ``ledger`` (default: the open session's) whether a real quantity ``q`` known to lie in
    ``[lo, hi]`` (an outward-rounded enclosure) satisfies ``q <= bound`` (``above``: ``q >= bound``): True
    (certified: ``hi <= bound``, resp. ``lo >= bound``), False (the enclosure lies strictly on the wrong side:
    ``q`` violates the bound), None (undecided). Every number is converted with `to_fraction`, so the comparison
    is exact."""
    lo, hi, b = to_fraction(enclosure[0]), to_fraction(enclosure[1]), to_fraction(bound)
    if lo > hi:
        raise KernelError(f"empty enclosure [{lo}, {hi}]")
    if above:
        got: bool | None = True if lo >= b else (False if hi < b else None)
    else:
        got = True if hi <= b else (False if lo > b else None)
    ledger = ledger if ledger is not None else _ledger.get()
    if ledger is not None:
        if got is None:
            ledger.undecided += 1
        elif got:
            ledger.certified += 1
        else:
            ledger.wrong += 1
    return got


def certify_enclosure(ledgers: Ledger | Sequence[Ledger], cases: int, scope: str, abstraction: str,
                      evidence: str = "") -> Certificate:
    """An ``enclosure`` certificate: every one of at least ``cases`` decisions recorded in the ledger(s)
    certified, none wrong or undecided."""
    parts = [ledgers] if isinstance(ledgers, Ledger) else list(ledgers)
    ledger = Ledger(sum(x.certified for x in parts), sum(x.undecided for x in parts), sum(x.wrong for x in parts))
    if ledger.wrong or ledger.undecided:
        raise KernelError(f"{ledger.wrong} wrong and {ledger.undecided} undecided steps: nothing to certify")
    if ledger.certified < max(cases, 1):
        raise KernelError(f"{ledger.certified} certified steps recorded, {cases} claimed")
    return _issue("enclosure", scope, abstraction,
                  evidence or f"{ledger.certified} greedy steps certified by outward-rounded interval enclosures")
