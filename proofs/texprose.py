"""Plain-text claim prose (titles, assumptions, abstractions, figure captions) typeset as LaTeX, and witness keys
in the paper's symbols.

The catalogue writes its titles and abstractions once, in the plain notation of the terminal table (``t^pt_i``,
``sum_{j<=i} e^{l_ij}``, ``e^{T/sqrt L}``, ``W_V s_1``); `prose` is the one translation of that notation to LaTeX,
so the report never shows raw ``^`` and ``_``. Words that are not math (``init_weights``, ``max_error``) stay text:
a bare sub/superscript is at most three characters, longer ones need braces.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from proofs.texmath import UNICODE_TEX, tex_escape

_GREEK = "\u0370-\u03ff"
_BARE = rf"[A-Za-z0-9{_GREEK}]{{1,2}}(?![A-Za-z0-9{_GREEK}])"
_SCRIPT = rf"[_^](?:\{{[^{{}}]*\}}|\([^()]*\)|{_BARE})"
_BASE = rf"\[[A-Za-z]\]|\([^()]{{1,24}}\)|[A-Za-z{_GREEK}]+|\d+"
#: a math word: a base (letters, a Greek letter, a number, ``[V]`` or a short parenthesis) followed by
#: sub/superscripts, or sqrt(...)
MATH_WORD = re.compile(rf"(?<![\w\\])(?:{_BASE})(?:{_SCRIPT})+|(?<![\w\\])sqrt\s*(?:\([^()]*\)|[A-Za-z0-9]+)")
NAMED = {**{name: "\\" + name for name in ("alpha", "beta", "gamma", "delta", "epsilon", "lambda", "mu", "sigma",
                                             "tau", "theta", "rho", "Delta", "Sigma")},
         "sum": r"\sum", "exp": r"\exp", "log": r"\log", "max": r"\max", "min": r"\min", "LSE": r"\mathrm{LSE}",
         "softmax": r"\operatorname{softmax}", "sigmoid": r"\sigma"}
RELATIONS = (("<=", r"\le "), (">=", r"\ge "), ("!=", r"\ne "), ("%", r"\%"), ("#", r"\#"), ("&", r"\&"),
             ("$", r"\$"))


def _base(text: str) -> str:
    if text in NAMED:
        return NAMED[text]
    return "".join(f"{UNICODE_TEX[ch]} " if ch in UNICODE_TEX else ch for ch in text).rstrip()


def math(text: str) -> str:
    """Plain math notation (no ``$``) as LaTeX math."""
    for plain, tex in RELATIONS:
        text = text.replace(plain, tex)
    out, pos = [], 0
    for m in MATH_WORD.finditer(text):
        out.append(_symbols(text[pos:m.start()]))
        out.append(_word(m.group(0)))
        pos = m.end()
    out.append(_symbols(text[pos:]))
    return "".join(out)


def _symbols(text: str) -> str:
    text = re.sub(r"(?<![\w\\])(sum|exp|log|LSE)(?![\w])", lambda m: NAMED[m.group(1)], text)
    return "".join(f"{UNICODE_TEX[ch]} " if ch in UNICODE_TEX else ch for ch in text)


def _word(word: str) -> str:
    if word.startswith("sqrt"):
        arg = word[4:].strip()
        return rf"\sqrt{{{math(arg[1:-1] if arg.startswith('(') else arg)}}}"
    found = re.match(_BASE, word)
    assert found is not None  # MATH_WORD matched ``word``, so it starts with a base
    base = found.group(0)
    out = [math(base) if base.startswith("(") else _base(base)]
    for mark, body in re.findall(rf"([_^])(\{{[^{{}}]*\}}|\([^()]*\)|{_BARE})", word[len(base):]):
        if body.startswith("{"):
            inner = math(body[1:-1])
        elif body.startswith("("):
            inner = body
        elif mark == "^" and len(body) > 1 and body.isalpha():
            inner = rf"\mathrm{{{body}}}"  # t^pt: a label, upright
        else:
            inner = "".join(_base(ch) for ch in body)
        out.append(f"{mark}{{{inner}}}")
    return "".join(out)


def prose(text: str) -> str:
    """Text with plain math words, as LaTeX text with those words as inline math."""
    out, pos = [], 0
    for m in MATH_WORD.finditer(text):
        out.append(tex_escape(text[pos:m.start()]))
        out.append(f"\\ensuremath{{{_word(m.group(0))}}}")
        pos = m.end()
    out.append(tex_escape(text[pos:]))
    return "".join(out)


# ---- witness keys ----------------------------------------------------------------------------------------------

def _head_part(part: str, head: str, row: str) -> str:
    where = rf"\quad\text{{(head {int(head) + 1}, input {int(row) + 1})}}"
    return {"w": r"e^{l_{ij}},\ j = 1..n", "v": r"W_V x_j,\ j = 1..n", "p": r"e^{l_{i s_m}},\ m = 1..n_S",
            "u": r"W_V s_m,\ m = 1..n_S"}[part] + where


WITNESS_SYMBOLS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"heads\[(\d+)\]\[(\d+)\]\.([wvpu])"), lambda m: _head_part(m.group(3), m.group(1), m.group(2))),
    (re.compile(r"W_O\[(\d+)\]"), lambda m: rf"W_O^{{({int(m.group(1)) + 1})}}"),
    (re.compile(r"lora\.([AB])"), lambda m: rf"{m.group(1)}\quad\text{{(LoRA: }}\Delta W = BA\text{{)}}"),
    (re.compile(r"(?:max_)?error"), lambda m: r"|\mathrm{lhs} - \mathrm{rhs}|"),
    (re.compile(r"s"), lambda m: "s"),
    (re.compile(r"tau"), lambda m: r"\tau"),
)


def witness_symbol(key: str) -> str | None:
    """The paper's symbol (LaTeX math, no ``$``) for a witness key of the JSON report, or None if it has none:
    solver heads (``heads[h][r].w`` are the content softmax weights e^{l_ij}), W_O, LoRA factors, and the points of
    a symbolic refutation (``point.alpha_i`` -> alpha_i, as sympy prints the symbol)."""
    for pattern, symbol in WITNESS_SYMBOLS:
        m = pattern.fullmatch(key)
        if m:
            return symbol(m)
    if key.startswith("point."):
        import sympy as sp

        return sp.latex(sp.Symbol(key[len("point."):]))
    return None
