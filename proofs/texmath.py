"""LaTeX for the report: sympy expressions printed in the order written, derivations as ``align*`` bodies, and
plain text escaped. Presentation only: the derivations and their checks live in `theory.derivation`; this module
prints them (the one LaTeX printer of the project, `tex`), display symbols (`TexSymbol`) and notations
(`Notation`) included.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from theory.derivation import Derivation, Expr, Notation, TexSymbol, Why, why_parts

#: how the paper writes each `Notation` (by class name); any other is printed as ``\operatorname{name}``
NOTATION_TEX = {"sigma": r"\sigma"}


class _Printer(LatexPrinter):
    """sympy's LaTeX printer keeping sums and products in the order written; a product with a denominator is
    printed as a fraction (sympy's canonical order), which the written order would split into ``1/x`` factors.
    A `TexSymbol`, or a symbol whose name is already LaTeX (it has a backslash, a brace or a space), is printed
    verbatim; a `Notation` by its name in `NOTATION_TEX`."""

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if isinstance(expr, TexSymbol) or any(c in expr.name for c in "\\{} "):
            return expr.name
        return super()._print_Symbol(expr, style)

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        if not isinstance(expr, Notation):
            return super()._print_Function(expr, exp)
        name = type(expr).__name__
        head = NOTATION_TEX.get(name, f"\\operatorname{{{name}}}")
        inner = ", ".join(self._print(a) for a in expr.args)
        return f"{head}^{{{exp}}}\\left({inner}\\right)" if exp else f"{head}\\left({inner}\\right)"

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


def derivation_latex(derivation: Derivation, marks: dict[int, bool] | None = None, width: int = 42) -> str:
    """A `Derivation` as an ``align*`` body: one line per step (a long sum broken after about ``width`` visible
    characters, continuation rows indented), its justification in a ``\\parbox`` (formulas in it printed by the same
    printer). ``marks`` (step index -> checked) prefixes a justification with a check or a cross."""

    def note(k: int, why: Why) -> str:
        mark = "" if marks is None or k not in marks else ("\\checkmark\\; " if marks[k] else "\\times\\; ")
        return mark + _why_latex(why)

    start = tex_lines(derivation.start, width)
    if len(start) == 1:  # e_0 &= e_1
        lhs, rows = start[0], []
    else:  # a long e_0 gets rows of its own, then &= e_1
        lhs, rows = "", [f"&{start[0]}", *(f"&\\qquad {line}" for line in start[1:])]
    for k, s in enumerate(derivation.steps, start=1):
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
