"""Derivations as checked chains of equalities, in the spirit of Lean's ``calc``.

A `Derivation` is ``e_0 = e_1 = ... = e_m``; each step carries a justification. Expressions may use display
symbols (``alpha_i``, ``t_i``, ...) whose meaning is given by ``definitions``; checking unfolds every definition
and reduces ``e_{k-1} - e_k`` to zero. The fast zero test is ``together`` + expanding the numerator
(design.md); `simplify` is a fallback. A residual that is not zero is evaluated at random rational points:
a non-zero value there is a witness that the step is false (REFUTED), otherwise the result is UNKNOWN.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Optional, Sequence

import sympy as sp

Expr = sp.Basic


@dataclass(frozen=True)
class Step:
    expr: Expr
    why: str


@dataclass
class ZeroTest:
    """Outcome of reducing a residual: zero (proved), nonzero (with a witness point) or unknown."""

    status: str  # "zero" | "nonzero" | "unknown"
    method: str = ""
    witness: Optional[dict[str, str]] = None
    value: Optional[str] = None


def _components(expr: Expr) -> list[Expr]:
    if isinstance(expr, sp.MatrixBase):
        return list(expr)
    return [expr]


def _fast_zero(e: Expr) -> bool:
    if e == 0:
        return True
    num = sp.numer(sp.together(e))
    return sp.expand(num) == 0


def _exp_log_zero(e: Expr) -> bool:
    """Second pass: expand exp of sums and logs of products (valid for the positive symbols used here)."""
    e = sp.expand(sp.expand_log(e, force=False), power_exp=True, log=True)
    return _fast_zero(sp.powsimp(e))


def _witness(e: Expr, rng: random.Random, tries: int = 8) -> tuple[Optional[dict[str, str]], Optional[str]]:
    """A rational point (respecting positivity assumptions) where ``e`` is clearly non-zero."""
    syms = sorted(e.free_symbols, key=lambda s: s.name)
    for _ in range(tries):
        point = {}
        for s in syms:
            q = sp.Rational(rng.randint(1, 19), rng.randint(1, 7))
            point[s] = q if (s.is_positive or s.is_nonnegative or rng.random() < 0.5) else -q
        try:
            value = sp.N(e.subs(point), 30)
        except (ZeroDivisionError, TypeError):
            continue
        if value.is_number and value.is_finite and abs(value) > sp.Float("1e-20"):
            return {s.name: str(v) for s, v in point.items()}, str(sp.N(value, 12))
    return None, None


def zero_test(expr: Expr, seed: int = 0) -> ZeroTest:
    """Decide ``expr == 0`` (componentwise for matrices) with the fast path first."""
    parts = _components(expr)
    if all(_fast_zero(p) for p in parts):
        return ZeroTest("zero", "together + expand numerator")
    if all(_fast_zero(p) or _exp_log_zero(p) for p in parts):
        return ZeroTest("zero", "expand exp/log (positive symbols), together + expand numerator")
    rng = random.Random(seed)
    pending = [p for p in parts if not (_fast_zero(p) or _exp_log_zero(p))]
    for p in pending:
        witness, value = _witness(p, rng)
        if witness is not None:
            return ZeroTest("nonzero", "evaluation at a rational point", witness, value)
    if any(sp.simplify(p) != 0 for p in pending):
        return ZeroTest("unknown", "simplify could not reduce the residual and no witness was found")
    return ZeroTest("zero", "simplify")


def unfold(expr: Expr, definitions: dict[sp.Symbol, Expr]) -> Expr:
    """Replace display symbols by their definitions until none is left (definitions may nest)."""
    for _ in range(len(definitions) + 1):
        new = expr.xreplace(definitions) if definitions else expr
        if new == expr:
            return expr
        expr = new
    raise ValueError("cyclic definitions in derivation")


@dataclass
class StepCheck:
    index: int
    why: str
    test: ZeroTest


@dataclass
class DerivationCheck:
    ok: bool
    steps: list[StepCheck]

    @property
    def failed(self) -> Optional[StepCheck]:
        return next((s for s in self.steps if s.test.status != "zero"), None)


@dataclass
class Derivation:
    """``start = steps[0].expr = steps[1].expr = ...``, with display-symbol ``definitions``."""

    title: str
    start: Expr
    steps: list[Step]
    definitions: dict[sp.Symbol, Expr] = field(default_factory=dict)
    abstraction: str = ""

    @property
    def exprs(self) -> list[Expr]:
        return [self.start, *(s.expr for s in self.steps)]

    @property
    def end(self) -> Expr:
        return self.steps[-1].expr if self.steps else self.start

    def check(self, seed: int = 0) -> DerivationCheck:
        """Check every consecutive equality after unfolding definitions."""
        checks = []
        exprs = [unfold(e, self.definitions) for e in self.exprs]
        for k, step in enumerate(self.steps, start=1):
            residual = exprs[k - 1] - exprs[k]
            checks.append(StepCheck(k, step.why, zero_test(residual, seed)))
        return DerivationCheck(all(c.test.status == "zero" for c in checks), checks)

    def as_text(self) -> str:
        lines = [f"  {self.title}", f"      {sp.sstr(self.start)}"]
        for s in self.steps:
            lines.append(f"    = {sp.sstr(s.expr)}    [{s.why}]")
        if self.definitions:
            defs = "; ".join(f"{sp.sstr(k)} := {sp.sstr(v)}" for k, v in self.definitions.items())
            lines.append(f"  where {defs}")
        if self.abstraction:
            lines.append(f"  abstraction: {self.abstraction}")
        return "\n".join(lines)

    def as_latex(self) -> str:
        """An ``align*`` body: one line per step with its justification as ``\\text``."""
        rows = [f"{sp.latex(self.start)} &= {sp.latex(self.steps[0].expr)} && \\text{{{_tex_text(self.steps[0].why)}}}"]
        for s in self.steps[1:]:
            rows.append(f"&= {sp.latex(s.expr)} && \\text{{{_tex_text(s.why)}}}")
        return " \\\\\n".join(rows)


def _tex_text(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        text = text.replace(a, b)
    return text


def equal(lhs: Expr, rhs: Expr, definitions: Optional[dict[sp.Symbol, Expr]] = None, seed: int = 0) -> ZeroTest:
    """Zero test of ``lhs - rhs`` after unfolding definitions."""
    defs = definitions or {}
    return zero_test(unfold(lhs, defs) - unfold(rhs, defs), seed)


def chain(title: str, start: Expr, steps: Sequence[tuple[Expr, str]], definitions=None, abstraction: str = "") -> Derivation:
    """Convenience constructor: ``chain("t", e0, [(e1, "why"), (e2, "why")], defs)``."""
    return Derivation(title, start, [Step(e, w) for e, w in steps], dict(definitions or {}), abstraction)
