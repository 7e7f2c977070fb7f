"""z3 encodings of prefixed heads, and the query helpers every smt check uses.

Soundness (design.md rule 1): the encodings replace each softmax weight ``exp(l)`` by a fresh positive real.
That is an over-approximation: every real head gives weights that satisfy the encoding, so UNSAT of a negated
claim proves the claim for every softmax head. A SAT model is only a candidate; the caller must realise it as a
concrete float64 torch head (`numeric.realize`) and re-check before calling it a counterexample.

The exponential lemmas (positivity; injectivity and monotonicity, ``l_a < l_b <=> e_a < e_b``) are added where a
query mentions logits; tangent-line bounds ``exp(x) >= 1 + x`` are available for encodings that need them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import z3

from theory.head import Env, WeightedView
from theory.kernel import SolverAnswer, run_z3, to_fraction
from theory.mentions import note as note_position
from theory.recorder import Recorder
from theory.shape import Shape

ABSTRACTION = ("each softmax weight exp(l) is a fresh positive real (content positions other than the ones named "
               "are aggregated into one position of positive weight); every real head satisfies the encoding, "
               "so UNSAT holds for all softmax heads of any length")


def raw(x: Any) -> Any:
    """The z3 term inside a `Scalar`; a number that is not an int (a float, Fraction, Decimal or sympy number) as
    the exact z3 rational of its value (a float's binary value, not its decimal repr); anything else unchanged."""
    if isinstance(x, Scalar):
        return x.term
    if isinstance(x, (int, z3.ExprRef)):
        return x
    try:
        q = to_fraction(x)
    except TypeError:
        return x
    return z3.RealVal(f"{q.numerator}/{q.denominator}")


class Scalar:
    """A z3 arithmetic term that also multiplies `Vec` from the left (z3's own ``*`` raises on unknown types)."""

    def __init__(self, term: z3.ArithRef) -> None:
        self.term = term

    def _op(self, other: Any, f: Callable[[Any, Any], Any]) -> Any:
        if isinstance(other, Vec):
            return NotImplemented
        return Scalar(f(self.term, raw(other)))

    def __add__(self, o: Any) -> Any: return self._op(o, lambda a, b: a + b)
    def __radd__(self, o: Any) -> Any: return self._op(o, lambda a, b: b + a)
    def __sub__(self, o: Any) -> Any: return self._op(o, lambda a, b: a - b)
    def __rsub__(self, o: Any) -> Any: return self._op(o, lambda a, b: b - a)
    def __truediv__(self, o: Any) -> Any: return self._op(o, lambda a, b: a / b)
    def __rtruediv__(self, o: Any) -> Any: return self._op(o, lambda a, b: b / a)
    def __neg__(self) -> Scalar: return Scalar(-self.term)

    def __pow__(self, k: Any) -> Scalar:
        """Integer powers only (z3 real arithmetic); a negative power is a reciprocal."""
        if not isinstance(k, int) or isinstance(k, bool):
            raise ValueError(f"only integer powers are encodable in z3, got {k!r}")
        out = z3.RealVal(1)
        for _ in range(abs(k)):
            out = out * self.term
        return Scalar(out if k >= 0 else 1 / out)
    def __lt__(self, o: Any) -> z3.BoolRef: return self.term < raw(o)
    def __le__(self, o: Any) -> z3.BoolRef: return self.term <= raw(o)
    def __gt__(self, o: Any) -> z3.BoolRef: return self.term > raw(o)
    def __ge__(self, o: Any) -> z3.BoolRef: return self.term >= raw(o)

    def __mul__(self, o: Any) -> Any:
        if isinstance(o, Vec):
            return o * self.term
        return self._op(o, lambda a, b: a * b)

    __rmul__ = __mul__


class Vec:
    """A small vector of z3 terms supporting + - and scalar * /, indexable, so `WeightedView` works on z3."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = [raw(x) for x in items]

    def __add__(self, other: Vec) -> Vec:
        return Vec(a + b for a, b in zip(self.items, other.items, strict=True))

    def __sub__(self, other: Vec) -> Vec:
        return Vec(a - b for a, b in zip(self.items, other.items, strict=True))

    def __mul__(self, scalar: Any) -> Vec:
        return Vec(a * raw(scalar) for a in self.items)

    __rmul__ = __mul__

    def __truediv__(self, scalar: Any) -> Vec:
        """``v / y`` as ``v * (1/y)``: one reciprocal for the whole vector. Equal wherever ``y != 0`` (the real
        quotient is undefined elsewhere); every denominator of the encodings is a sum of positive weights (Z, P + Z),
        so the query has the same models. z3 purifies each quotient by a non-constant term into a fresh unknown: d
        quotients ``v_c / y`` made d unknowns where the reciprocal makes one (prefix.multihead.span's length-1, d = 3
        query: 0.43 s of z3 time before, 2 ms after)."""
        inv = z3.RealVal(1) / raw(scalar)
        return Vec(a * inv for a in self.items)

    def __neg__(self) -> Vec:
        return Vec(-a for a in self.items)

    def __rsub__(self, other: Any) -> Vec:
        if isinstance(other, (int, float)) and other == 0:
            return -self
        return NotImplemented

    def __getitem__(self, i: int) -> z3.ArithRef:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)


def components(x: Vec | Scalar | z3.ArithRef | int) -> list[z3.ArithRef]:
    return list(x.items) if isinstance(x, Vec) else [raw(x)]


class Z3Helpers:
    @staticmethod
    def sigmoid(x: object) -> Scalar:
        raise ValueError("sigmoid is not encodable in z3 without exp; this claim has no smt layer")

    @staticmethod
    def minors(a: Vec, b: Vec) -> Vec:
        d = len(a)
        return Vec(a[r] * b[c] - a[c] * b[r] for r in range(d) for c in range(r + 1, d))

    @staticmethod
    def matvec(M: Sequence[Sequence[z3.ArithRef]], v: Vec) -> Vec:
        """M v for a list-of-rows matrix of z3 terms."""
        return Vec(sum((row[c] * v[c] for c in range(len(v))), z3.RealVal(0)) for row in M)


class ContentVec(Vec):
    """A `Vec` indexed by content position (``A``, ``A_pt``): records the positions a statement names."""

    def __getitem__(self, i: int) -> z3.ArithRef:
        note_position(i)
        return self.items[i]


class Z3View(Z3Helpers, WeightedView):
    """`WeightedView` over z3 reals."""

    def _vector(self, items: list[Any]) -> ContentVec:
        return ContentVec(items)


@dataclass
class Z3Head:
    """A prefixed head at one query position: n content and n_S prefix weights (fresh positive reals) and
    d-dimensional values (free reals). ``constraints`` holds positivity; ``view`` the named quantities."""

    n: int
    n_S: int
    d: int
    tag: str = ""
    constraints: list[z3.BoolRef] = field(default_factory=list)

    def __post_init__(self) -> None:
        R = z3.Real
        self.w = [R(f"w{self.tag}_{j}") for j in range(self.n)]
        self.p = [R(f"p{self.tag}_{m}") for m in range(self.n_S)]
        self.v = [Vec(R(f"v{self.tag}_{j}_{c}") for c in range(self.d)) for j in range(self.n)]
        self.u = [Vec(R(f"u{self.tag}_{m}_{c}") for c in range(self.d)) for m in range(self.n_S)]
        self.constraints += [x > 0 for x in [*self.w, *self.p]]
        self.view = self._make_view()

    def _make_view(self) -> Z3View:
        return Z3View([Scalar(x) for x in self.w], self.v, [Scalar(x) for x in self.p], self.u,
                      Vec([z3.RealVal(0)] * self.d))

    def with_shared_prefix(self, other: Z3Head) -> Z3Head:
        """Use ``other``'s prefix values (same prefix, different input): only the weights differ."""
        self.u = other.u
        self.view = self._make_view()
        return self

    def numbers(self, model: z3.ModelRef) -> dict[str, Any]:
        """The model as plain floats: content weights/values, prefix weights/values."""
        return {
            "w": [value(model, x) for x in self.w],
            "v": [[value(model, x) for x in vec.items] for vec in self.v],
            "p": [value(model, x) for x in self.p],
            "u": [[value(model, x) for x in vec.items] for vec in self.u],
        }


def value(model: z3.ModelRef, term: z3.ArithRef) -> float:
    """A model value as a float (rationals exactly converted, algebraic numbers to 20 digits)."""
    v = model.eval(term, model_completion=True)
    if z3.is_rational_value(v):
        return float(Fraction(v.numerator_as_long(), v.denominator_as_long()))
    if z3.is_algebraic_value(v):
        return float(v.approx(20).as_fraction())
    raise ValueError(f"non-numeric model value {v}")


@dataclass(frozen=True)
class QueryRecord:
    """Size and result of one `solve` call."""

    unknowns: int
    assertions: int
    result: str


_queries: Recorder[QueryRecord] = Recorder()


def recording() -> AbstractContextManager[list[QueryRecord]]:
    """Record every `solve` call made inside the block, so a report can say what the solver was asked even
    when a check does not describe its query itself."""
    return _queries.recording()


def summarize(records: Sequence[QueryRecord]) -> str:
    """One line: how many queries, how large, and their results."""
    if not records:
        return "no z3 query was made"
    results = ", ".join(f"{sum(r.result == k for r in records)} {k}" for k in ("unsat", "sat", "unknown")
                        if any(r.result == k for r in records))
    if len(records) == 1:
        r = records[0]
        return f"one z3 query: QF_NRA, {r.unknowns} real unknowns, {r.assertions} assertions; {results}"
    return (f"{len(records)} z3 queries: QF_NRA, up to {max(r.unknowns for r in records)} real unknowns and "
            f"{max(r.assertions for r in records)} assertions each; {results}")


def solve(constraints: Sequence[z3.BoolRef], timeout: float) -> SolverAnswer:
    """Check satisfiability of the conjunction with a timeout in seconds (through the trusted kernel, so an UNSAT
    answer can back a certificate); timeouts are 'unknown'."""
    answer = run_z3(constraints, timeout)
    note(constraints, answer.result)
    return answer


def note(constraints: Sequence[z3.BoolRef], result: str) -> None:
    """Record a solver call for `recording` (every z3 entry point calls this)."""
    if _queries.active:
        _queries.add(QueryRecord(len(_unknowns(constraints)), len(constraints), result))


def _unknowns(constraints: Sequence[z3.BoolRef]) -> set[str]:
    """The names of the uninterpreted constants of the constraints (each shared subterm visited once; the walk uses
    z3's C API directly, about 5x faster than through Python wrappers of every subterm)."""
    from z3 import z3core as api

    seen: set[str] = set()
    visited: set[int] = set()
    terms = [raw(c) for c in constraints]
    if not terms:
        return seen
    ref = terms[0].ctx.ref()
    todo = [t.as_ast() for t in terms]
    while todo:
        a = todo.pop()
        if (key := api.Z3_get_ast_id(ref, a)) in visited:
            continue
        visited.add(key)
        if api.Z3_get_ast_kind(ref, a) != z3.Z3_APP_AST:
            continue
        if n := api.Z3_get_app_num_args(ref, a):
            todo.extend(api.Z3_get_app_arg(ref, a, i) for i in range(n))
            continue
        decl = api.Z3_get_app_decl(ref, a)
        if api.Z3_get_decl_kind(ref, decl) == z3.Z3_OP_UNINTERPRETED:
            seen.add(api.Z3_get_symbol_string(ref, api.Z3_get_decl_name(ref, decl)))
    return seen


def describe(constraints: Sequence[z3.BoolRef]) -> str:
    """Size of a query: its logic, unknowns and assertions."""
    return f"QF_NRA, {len(_unknowns(constraints))} real unknowns, {len(constraints)} assertions"


def exact_difference(model: z3.ModelRef, lhs: Any, rhs: Any) -> Fraction | None:
    """The largest |lhs_c - rhs_c| at the model's point as an exact rational (None if some component is not a
    rational number there, e.g. an algebraic one)."""
    best = Fraction(0)
    for a, b in zip(components(lhs), components(rhs), strict=True):
        v = model.eval(raw(a) - raw(b), model_completion=True)
        if not z3.is_rational_value(v):
            return None
        q = abs(Fraction(v.numerator_as_long(), v.denominator_as_long()))
        best = max(best, q)
    return best


def differs(lhs: Vec | Scalar | z3.ArithRef, rhs: Vec | Scalar | z3.ArithRef | int) -> z3.BoolRef:
    """The negation of ``lhs == rhs`` (componentwise for vectors)."""
    pairs = list(zip(components(lhs), components(rhs), strict=True))
    return z3.Or([a != b for a, b in pairs]) if len(pairs) > 1 else pairs[0][0] != pairs[0][1]


def exp_lemmas(logits: Sequence[z3.ArithRef], weights: Sequence[z3.ArithRef]) -> list[z3.BoolRef]:
    """Sound facts about e = exp(l): e > 0; l_a < l_b <=> e_a < e_b (so also injectivity); e >= 1 + l."""
    facts = [e > 0 for e in weights] + [e >= 1 + l for l, e in zip(logits, weights)]
    for a in range(len(logits)):
        for b in range(a + 1, len(logits)):
            facts.append((logits[a] < logits[b]) == (weights[a] < weights[b]))
            facts.append((logits[a] == logits[b]) == (weights[a] == weights[b]))
    return facts


class Z3Env:
    """`theory.head.Env` over z3: a `Z3Head` per (input, head); inputs share each head's prefix values;
    ``W_O(h)`` is a d x d matrix of free reals. ``constraints`` collects positivity of every weight."""

    total = staticmethod(Env.total)

    def __init__(self, shape: Shape, n: int, d: int) -> None:
        self.shape, self.n, self.d = shape, n, d
        self.heads = [[Z3Head(n, shape.n_S, d, tag=f"r{r}h{h}") for h in range(shape.heads)]
                      for r in range(shape.inputs)]
        for r in range(1, shape.inputs):
            for h in range(shape.heads):
                self.heads[r][h].with_shared_prefix(self.heads[0][h])
        self._W_O = [[[z3.Real(f"o{h}_{a}_{b}") for b in range(d)] for a in range(d)] for h in range(shape.heads)]

    @property
    def constraints(self) -> list[z3.BoolRef]:
        return [c for row in self.heads for head in row for c in head.constraints]

    def view(self, r: int = 0, head: int = 0) -> Z3View:
        return self.heads[r][head].view

    @property
    def h(self) -> Z3View:
        return self.view(0, 0)

    def W_O(self, head: int) -> list[list[z3.ArithRef]]:
        return self._W_O[head]

    @property
    def n_heads(self) -> int:
        return self.shape.heads

    def numbers(self, model: z3.ModelRef) -> dict[str, Any]:
        """The model as plain numbers: per head, per input weights and values; per head W_O."""
        return {
            "heads": [[self.heads[r][h].numbers(model) for r in range(self.shape.inputs)]
                      for h in range(self.shape.heads)],
            "W_O": [[[value(model, x) for x in row] for row in M] for M in self._W_O],
        }
