"""Derivations as checked chains of equalities, in the spirit of Lean's ``calc``.

A `Derivation` is ``e_0 = e_1 = ... = e_m``; each step carries a justification. Expressions may use display
symbols (`TexSymbol`: ``\\alpha_i``, ``t_i``, ``W_V s_1``, ...) whose meaning is given by ``definitions``, and
`Notation` functions (``sigma``) that print by name; checking unfolds every definition and notation and
reduces ``e_{k-1} - e_k`` to zero with the trusted kernel's `theory.kernel.decide_zero` (exact arithmetic:
floats become the exact rationals of their binary values; the fast test is ``together`` + expanding the
numerator). A residual that is not zero is evaluated exactly at a rational point of its domain: a non-zero value
there is a witness that the step is false (REFUTED), otherwise the result is UNKNOWN.

Every check made inside `recording()` is collected (the runner records a claim's step verdicts this way, so a
report reads them from the results instead of checking again). Printing is not done here: `proofs.texmath`
prints these objects as LaTeX.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import sympy as sp

from theory.kernel import ZeroTest, decide_zero
from theory.recorder import Recorder

Expr: TypeAlias = sp.Basic  # sympy ships no type information: to mypy this is Any


class TexSymbol(sp.Symbol):
    """A display symbol whose name is its LaTeX (``W_V s_1``, ``t^{pt}_i``, ``\\alpha_i``): the report prints the
    name verbatim (`proofs.texmath.tex`) instead of sympy's splitting of names at ``_`` and ``^``."""


class Notation(sp.Function):
    """A function the paper writes by name (e.g. sigma; `proofs.texmath.tex` prints the name). Subclasses give
    ``meaning``; `unfold` replaces every occurrence by its meaning before a step is checked."""

    @classmethod
    def meaning(cls, *args: Expr) -> Expr:
        raise NotImplementedError


class sigma(Notation):
    """The logistic function sigma(x) = 1 / (1 + e^{-x})."""

    @classmethod
    def meaning(cls, x: Expr) -> Expr:
        return 1 / (1 + sp.exp(-x))


def text(expr: Expr) -> str:
    """Plain-text form of an expression (``sstr``), in the order it was written; equations as ``a = b``."""
    if isinstance(expr, sp.Equality):
        return f"{text(expr.lhs)} = {text(expr.rhs)}"
    return sp.sstr(expr, order="none")


Why = str | Sequence[str | Expr]


def why_parts(why: Why) -> list[str | Expr]:
    """A justification as alternating prose (str) and formulas (sympy objects, printed by the same printer)."""
    return [why] if isinstance(why, str) else list(why)


def why_text(why: Why) -> str:
    return "".join(p if isinstance(p, str) else text(p) for p in why_parts(why))


@dataclass(frozen=True)
class Step:
    """One ``= expr`` of a chain. ``why`` is prose, or a sequence of prose and sympy formulas such as
    ``("divide by ", e_i0)`` or ``(sp.Eq(alpha_i, e_i0 / (e_i0 + Z_i), evaluate=False),)``."""

    expr: Expr
    why: Why

    @property
    def why_text(self) -> str:
        return why_text(self.why)


def unfold(expr: Expr, definitions: dict[sp.Symbol, Expr]) -> Expr:
    """Replace display symbols by their definitions and `Notation` by its meaning until none is left
    (definitions may nest); unevaluated operations written for display are evaluated."""
    for _ in range(len(definitions) + 2):
        new = expr.xreplace(definitions) if definitions else expr
        new = new.replace(lambda e: isinstance(e, Notation), lambda e: e.meaning(*e.args))
        if new == expr:
            return expr.doit(deep=True) if isinstance(expr, sp.Basic) else expr
        expr = new
    raise ValueError("cyclic definitions in derivation")


@dataclass
class StepCheck:
    """The kernel's decision on step ``index`` (1-based): ``e_{index-1} - e_index`` with definitions unfolded."""

    index: int
    step: Step
    test: ZeroTest

    @property
    def why(self) -> str:
        return self.step.why_text

    def to_json(self) -> dict[str, Any]:
        """The step (plain text), its justification and the decision: ``checked`` (reduced to 0), ``status``
        ("zero", "nonzero" with the witness point and value, or "unknown") and ``method``."""
        t = self.test
        out: dict[str, Any] = {"step": self.index, "expr": text(self.step.expr), "why": self.why,
                               "checked": t.status == "zero", "status": t.status, "method": t.method}
        if t.witness is not None:
            out |= {"witness": t.witness, "value": t.value}
        return out


@dataclass
class DerivationCheck:
    title: str
    ok: bool
    steps: list[StepCheck]

    @property
    def failed(self) -> StepCheck | None:
        return next((s for s in self.steps if s.test.status != "zero"), None)


_checks: Recorder[DerivationCheck] = Recorder()


def recording() -> AbstractContextManager[list[DerivationCheck]]:
    """Collect every `Derivation.check` made inside the block (an inner block collects its own)."""
    return _checks.recording()


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
            checks.append(StepCheck(k, step, decide_zero(residual, seed)))
        result = DerivationCheck(self.title, all(c.test.status == "zero" for c in checks), checks)
        _checks.add(result)
        return result

    def used_definitions(self) -> list[tuple[sp.Symbol, Expr]]:
        """The definitions a reader needs: defined symbols that occur in the chain or its justifications (or in
        the definitions of those), except renamings of the underlying head's symbols (``Z_i := Z``,
        ``ell_i0 := log p``: a definition with no defined symbol in it and at most one operation)."""
        keys = set(self.definitions)

        def defined_in(expr: Expr) -> list[sp.Symbol]:
            if not isinstance(expr, sp.Basic):
                return []
            return sorted((s for s in expr.free_symbols if s in keys), key=lambda s: s.name)

        wanted: list[sp.Symbol] = []
        todo = [s for e in self.exprs for s in defined_in(e)]
        for p in (p for s in self.steps for p in why_parts(s.why) if not isinstance(p, str)):
            todo.extend(defined_in(p))
        while todo:
            sym = todo.pop(0)
            if sym in wanted:
                continue
            wanted.append(sym)
            todo.extend(defined_in(self.definitions[sym]))
        order = list(self.definitions)

        def renaming(value: Expr) -> bool:
            return not defined_in(value) and (not isinstance(value, sp.Basic) or sp.count_ops(value) <= 1)

        return [(s, self.definitions[s]) for s in sorted(wanted, key=order.index)
                if not renaming(self.definitions[s])]

    def as_text(self) -> str:
        lines = [f"  {self.title}", f"      {text(self.start)}"]
        for s in self.steps:
            lines.append(f"    = {text(s.expr)}    [{s.why_text}]")
        if defs := self.used_definitions():
            lines.append("  where " + "; ".join(f"{text(k)} := {text(v)}" for k, v in defs))
        if self.abstraction:
            lines.append(f"  abstraction: {self.abstraction}")
        return "\n".join(lines)


def equal(lhs: Expr, rhs: Expr, definitions: dict[sp.Symbol, Expr] | None = None, seed: int = 0) -> ZeroTest:
    """Zero test of ``lhs - rhs`` after unfolding definitions."""
    defs = definitions or {}
    return decide_zero(unfold(lhs, defs) - unfold(rhs, defs), seed)


def chain(title: str, start: Expr, steps: Sequence[tuple[Expr, Why]],
          definitions: dict[sp.Symbol, Expr] | None = None, abstraction: str = "") -> Derivation:
    """Convenience constructor: ``chain("t", e0, [(e1, "why"), (e2, "why")], defs)``."""
    return Derivation(title, start, [Step(e, w) for e, w in steps], dict(definitions or {}), abstraction)
