"""Derivations as checked chains of equalities, in the spirit of Lean's ``calc``.

A `Derivation` is ``e_0 = e_1 = ... = e_m``; each step carries a justification. Expressions may use display
symbols (`TexSymbol`: ``\\alpha_i``, ``t_i``, ``W_V s_1``, ...) whose meaning is given by ``definitions``, and
`Notation` functions (``sigma``) that print by name; checking unfolds every definition and notation and
reduces ``e_{k-1} - e_k`` to zero with the trusted kernel's `theory.kernel.decide_zero` (exact arithmetic:
floats become the exact rationals of their binary values; the fast test is ``together`` + expanding the
numerator). A residual that is not zero is evaluated exactly at a rational point of its domain: a non-zero value
there is a witness that the step is false (REFUTED), otherwise the result is UNKNOWN.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import sympy as sp
from sympy.printing.latex import LatexPrinter

from theory.kernel import ZeroTest, decide_zero

Expr = sp.Basic


class TexSymbol(sp.Symbol):
    """A display symbol whose name is its LaTeX (``W_V s_1``, ``t^{pt}_i``, ``\\alpha_i``): printed verbatim
    instead of sympy's splitting of names at ``_`` and ``^``."""

    def _latex(self, printer: object) -> str:
        return self.name


class Notation(sp.Function):
    """A function the paper writes by name (e.g. sigma). Subclasses give ``tex`` and ``meaning``; `unfold`
    replaces every occurrence by its meaning before a step is checked."""

    tex: str = ""

    @classmethod
    def meaning(cls, *args: Expr) -> Expr:
        raise NotImplementedError

    def _latex(self, printer: object, exp: object = None) -> str:
        inner = ", ".join(printer._print(a) for a in self.args)  # type: ignore[attr-defined]
        head = f"{self.tex}^{{{exp}}}" if exp else self.tex
        return f"{head}\\left({inner}\\right)"


class sigma(Notation):
    """The logistic function sigma(x) = 1 / (1 + e^{-x})."""

    tex = r"\sigma"

    @classmethod
    def meaning(cls, x: Expr) -> Expr:  # type: ignore[override]
        return 1 / (1 + sp.exp(-x))


class _Printer(LatexPrinter):
    """sympy's LaTeX printer keeping sums and products in the order written; a product with a denominator is
    printed as a fraction (sympy's canonical order), which the written order would split into ``1/x`` factors.
    A symbol whose name is already LaTeX (it has a backslash, a brace or a space) is printed verbatim."""

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if any(c in expr.name for c in "\\{} "):
            return expr.name
        return super()._print_Symbol(expr, style)

    def _print_Mul(self, expr: sp.Mul) -> str:
        if any(f.is_Pow and f.exp.is_negative for f in expr.args):
            order, self._settings["order"] = self._settings["order"], None
            try:
                return super()._print_Mul(expr)
            finally:
                self._settings["order"] = order
        return super()._print_Mul(expr)


def tex(expr: Expr) -> str:
    """The one LaTeX printer of the project: sympy's, keeping the order in which a formula was written."""
    return _Printer({"order": "none"}).doprint(expr)


def _visible(latex: str) -> int:
    """Rough printed width of LaTeX math: a command name counts as up to three characters (``\\cos``), braces,
    spacing and sizing commands as none."""
    latex = re.sub(r"\\(left|right|Big|big|frac)\b", "", latex)
    latex = re.sub(r"\\([A-Za-z]+)", lambda m: "x" * min(len(m.group(1)), 3), latex)
    return len(re.sub(r"[{}\s^_]", "", latex))


def tex_lines(expr: Expr, width: int = 42) -> list[str]:
    """``tex(expr)`` split into lines of about ``width`` visible characters for an ``align*``: a long sum is
    broken between its terms; a long product ``c (a + b) (d + e)`` gets its sum factors on lines of their own
    (``\\cdot``), a long factor broken inside its parentheses (``\\Big(`` ... ``\\Big)``, which need no
    pairing on one line). Anything else stays on one line."""
    whole = tex(expr)
    if _visible(whole) <= width or not isinstance(expr, sp.Basic):
        return [whole]
    if isinstance(expr, sp.Add):
        lines: list[str] = []
        for term in expr.args:
            first, *rest = tex_lines(term, width)
            if lines and not first.startswith("-"):
                first = "+ " + first
            if lines and not rest and _visible(lines[-1] + first) <= width:
                lines[-1] = f"{lines[-1]} {first}"
            else:
                lines.append(first)
            lines += rest
        return lines
    if isinstance(expr, sp.Mul):
        adds = [f for f in expr.args if isinstance(f, sp.Add)]
        if adds:
            rest = sp.Mul(*[f for f in expr.args if not isinstance(f, sp.Add)], evaluate=False)
            lines = [{"1": "", "-1": "-"}.get(tex(rest), tex(rest) + " ")]
            for k, factor in enumerate(adds):
                inner = tex_lines(factor, width)
                dot = "\\cdot " if k else ""
                if len(inner) == 1 and _visible(lines[-1] + inner[0]) + 2 <= width:
                    lines[-1] += f"\\left({inner[0]}\\right)"
                elif len(inner) == 1:
                    lines.append(f"{dot}\\left({inner[0]}\\right)")
                else:
                    opening = f"{dot}\\Big({inner[0]}"
                    if k == 0:
                        lines[-1] += opening
                    else:
                        lines.append(opening)
                    lines += inner[1:-1]
                    lines.append(f"{inner[-1]}\\Big)")
            return [line for line in lines if line.strip()] or [whole]
    return [whole]


def text(expr: Expr) -> str:
    """Plain-text form of an expression (``sstr``), in the order it was written; equations as ``a = b``."""
    if isinstance(expr, sp.Equality):
        return f"{text(expr.lhs)} = {text(expr.rhs)}"
    return sp.sstr(expr, order="none")


Why = Union[str, Sequence[Union[str, Expr]]]


def why_parts(why: Why) -> list[Union[str, Expr]]:
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
            checks.append(StepCheck(k, step.why_text, decide_zero(residual, seed)))
        return DerivationCheck(all(c.test.status == "zero" for c in checks), checks)

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

    def as_latex(self, marks: Optional[dict[int, bool]] = None, width: int = 42) -> str:
        """An ``align*`` body: one line per step (a long sum broken after about ``width`` visible characters,
        continuation rows indented), its justification in a ``\\parbox`` (formulas in it printed by the same
        printer). ``marks`` (step index -> checked) prefixes a justification with a check or a cross."""

        def note(k: int, why: Why) -> str:
            mark = "" if marks is None or k not in marks else ("\\checkmark\\; " if marks[k] else "\\times\\; ")
            return mark + _why_latex(why)

        start = tex_lines(self.start, width)
        if len(start) == 1:  # e_0 &= e_1
            lhs, rows = start[0], []
        else:  # a long e_0 gets rows of its own, then &= e_1
            lhs, rows = "", [f"&{start[0]}", *(f"&\\qquad {line}" for line in start[1:])]
        for k, s in enumerate(self.steps, start=1):
            first, *rest = tex_lines(s.expr, width)
            rows.append(f"{lhs if k == 1 else ''}&= {first} && {note(k, s.why)}")
            rows += [f"&\\qquad {line}" for line in rest]
        return " \\\\\n".join(rows or [lhs])


def _why_latex(why: Why) -> str:
    out = []
    for part in why_parts(why):
        out.append(tex_escape(part) if isinstance(part, str) else f"\\({tex(part)}\\)")
    return "\\parbox[t]{0.34\\linewidth}{\\raggedright\\footnotesize " + "".join(out) + "}"


UNICODE_TEX = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\varepsilon", "ζ": r"\zeta",
    "η": r"\eta", "θ": r"\theta", "κ": r"\kappa", "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi",
    "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma", "τ": r"\tau", "φ": r"\varphi", "χ": r"\chi", "ψ": r"\psi",
    "ω": r"\omega", "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Π": r"\Pi",
    "Σ": r"\Sigma", "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega", "∑": r"\sum", "∏": r"\prod",
    "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "≈": r"\approx", "≡": r"\equiv", "·": r"\cdot", "×": r"\times",
    "→": r"\to", "←": r"\leftarrow", "↦": r"\mapsto", "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow",
    "∈": r"\in", "∉": r"\notin", "⊂": r"\subset", "⊆": r"\subseteq", "∪": r"\cup", "∩": r"\cap",
    "∀": r"\forall", "∃": r"\exists", "∞": r"\infty", "∂": r"\partial", "∇": r"\nabla", "√": r"\surd",
    "∥": r"\parallel", "⊥": r"\perp", "⊤": r"\top", "−": "-", "±": r"\pm", "∘": r"\circ", "ℓ": r"\ell",
    "ℝ": r"\mathbb{R}", "⟨": r"\langle", "⟩": r"\rangle", "′": "'", "∼": r"\sim", "≪": r"\ll", "≫": r"\gg",
}
_TEXT_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "\"": "''",
                 "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}",
                 "\u00a0": "~"}


def tex_escape(text: str) -> str:
    """Plain text (titles, justifications, detail lines) as LaTeX text: specials escaped, mathematical unicode
    (α, Σ, ≤, ...) as inline math, any other non-ASCII character spelled out so pdflatex never stops on it."""
    import unicodedata

    out = []
    for ch in text:
        if ch in _TEXT_SPECIAL:
            out.append(_TEXT_SPECIAL[ch])
        elif ch in UNICODE_TEX:
            out.append(f"\\ensuremath{{{UNICODE_TEX[ch]}}}")
        elif ord(ch) < 128:
            out.append(ch if ch.isprintable() or ch in "\n\t" else " ")
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(tex_escape(plain) if plain else f"[U+{ord(ch):04X}]")
    return "".join(out)


def tex_math_unicode(math: str) -> str:
    """LaTeX math written by hand (a claim's statement) with mathematical unicode replaced by commands."""
    return "".join(f"{UNICODE_TEX[ch]} " if ch in UNICODE_TEX else ch for ch in math)


def equal(lhs: Expr, rhs: Expr, definitions: Optional[dict[sp.Symbol, Expr]] = None, seed: int = 0) -> ZeroTest:
    """Zero test of ``lhs - rhs`` after unfolding definitions."""
    defs = definitions or {}
    return decide_zero(unfold(lhs, defs) - unfold(rhs, defs), seed)


def chain(title: str, start: Expr, steps: Sequence[tuple[Expr, Why]], definitions=None, abstraction: str = "") -> Derivation:
    """Convenience constructor: ``chain("t", e0, [(e1, "why"), (e2, "why")], defs)``."""
    return Derivation(title, start, [Step(e, w) for e, w in steps], dict(definitions or {}), abstraction)
