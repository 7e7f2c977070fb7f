"""The LaTeX report: a complete document (or one fragment per claim) built from claim results.

Per claim: the statement (the claim's LaTeX) and assumptions; the derivation as an ``align*`` chain printed by
sympy's printer from the very objects the symbolic layer checks (`proofs.texmath.derivation_latex`), each
step marked with the decision the check run recorded (`ClaimResult.derivations`: nothing is re-checked here, and
a step is marked checked only if its record says it was reduced to 0); the solver query, its result and the
abstraction; a table of every layer's result (status, time, max error, instances); the validated witness where
a layer found one (always shown for claims pinned false); figures (`proofs.figures`) for the claims they
illustrate. Claims without a derivation or without some layer get the sections that apply, so the document covers
any catalogue.

All text goes through `proofs.texmath.tex_escape`; numbers are formatted here. `compile_pdf` runs latexmk
(or pdflatex twice) and turns every failure into a one-line `LatexError`.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proofs.claim import LAYERS, Status
from proofs.runner import ClaimResult
from proofs.texprose import prose, witness_symbol

if TYPE_CHECKING:
    from theory.derivation import Derivation

DEBIAN_PACKAGES = "texlive-latex-base texlive-latex-recommended latexmk"
PACKAGES = ("amsmath", "amssymb", "graphicx", "booktabs", "longtable", "array", "geometry", "hyperref")
PREAMBLE = r"""\documentclass[11pt,a4paper]{article}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{booktabs,longtable,array}
\usepackage[hidelinks]{hyperref}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
\setlength{\emergencystretch}{3em}
\allowdisplaybreaks
"""
# a display no wider than the line, shrunk to fit otherwise (hand-written claim statements cannot be broken)
FITDISPLAY = (r"\providecommand{\fitdisplay}[1]{\[\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}"
              r"{$\displaystyle #1$}\]}" + "\n")
PREAMBLE += FITDISPLAY
STATUS_TEX = {
    Status.PROVED: r"\textbf{PROVED}", Status.REFUTED: r"\textbf{REFUTED}", Status.CONSISTENT: "CONSISTENT",
    Status.VIOLATED: "VIOLATED", Status.COUNTEREXAMPLE: r"\textbf{COUNTEREXAMPLE}", Status.UNKNOWN: r"\emph{UNKNOWN}",
    Status.ERROR: r"\emph{ERROR}",
}
LAYER_ENGINE = {"symbolic": "sympy", "numeric": "torch float64", "smt": "z3"}
#: what a certificate kind (`theory.kernel.KINDS`) was decided by: the engine column of a PROVED layer
CERTIFICATE_ENGINE = {"zero-residual": "sympy, exact zero residual", "unsat": "solver UNSAT",
                      "enclosure": "exact interval enclosure"}


def engine(layer: str, result: Any) -> str:
    """The engine column: for a layer with a certificate, what the certificate rests on; else the layer's tool."""
    cert = getattr(result, "certificate", None)
    if cert is None:
        return LAYER_ENGINE.get(layer, "")
    return " + ".join(CERTIFICATE_ENGINE.get(kind, kind) for kind in cert.kind.split("+"))
WITNESS_ROWS = 40


class LatexError(Exception):
    """LaTeX is missing or the document did not compile: one line for the user."""


def esc(text: Any) -> str:
    from proofs.texmath import tex_escape

    return tex_escape(str(text))


def tt(text: Any, breakable: bool = False) -> str:
    """Text for a typewriter context: the font's own underscore glyph, so ids copy out of the PDF intact
    (``breakable``: a line may break after an underscore or a dot)."""
    out = esc(text).replace(r"\_", r"\symbol{95}" + (r"\allowbreak{}" if breakable else ""))
    return out.replace(".", r".\allowbreak{}") if breakable else out


def num(x: Any) -> str:
    """A number for a table cell (text mode)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return esc(x)
    if isinstance(x, int):
        return str(x)
    if math.isnan(x) or math.isinf(x):
        return esc(str(x))
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.6g}"
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"\\ensuremath{{{float(mantissa):g}\\times 10^{{{int(exponent)}}}}}"


def label(claim_id: str) -> str:
    return "claim:" + re.sub(r"[^A-Za-z0-9.:-]", "-", claim_id)


def snippet_name(claim_id: str) -> str:
    """A file stem safe for ``\\input`` (no dots or underscores)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", claim_id).strip("-")


def _id_tex(claim_id: str) -> str:
    return f"\\texorpdfstring{{\\texttt{{{tt(claim_id)}}}}}{{{esc(claim_id)}}}"


# ---- per-claim parts ------------------------------------------------------------------------------------------

def statement_block(result: ClaimResult) -> str:
    from proofs.texmath import tex_math_unicode

    c = result.claim
    expected = {"holds": "the claim is expected to hold",
                "fails": "the claim is \\textbf{pinned false}: a validated refutation is the expected outcome",
                None: "no outcome is pinned"}[c.expected]
    lines = [f"\\textbf{{{prose(c.title)}}}\\\\", f"\\emph{{Source:}} {esc(c.paper_ref)}"
             + (f"; \\emph{{section:}} {esc(c.section)}" if c.section else "") + f"; {expected}.",
             "", "\\paragraph{Statement.}", f"\\fitdisplay{{{tex_math_unicode(c.statement)}}}"]
    if c.assumptions:
        lines += ["\\paragraph{Assumptions.}", "\\begin{itemize}"]
        lines += [f"  \\item {prose(a)}" for a in c.assumptions]
        lines.append("\\end{itemize}")
    return "\n".join(lines)


def verdict_line(result: ClaimResult) -> str:
    if result.verdict == "not run":
        return (f"\\paragraph{{Verdict.}} \\emph{{not run}}: an opt-in claim, too slow for a default run; "
                f"\\texttt{{prefixcheck latex {tt(result.claim.id)}}} (or \\texttt{{check}}) runs it.")
    layers = ", ".join(f"{name} {STATUS_TEX[r.status]}" for name, r in result.layers.items())
    return (f"\\paragraph{{Verdict.}} \\textbf{{{esc(result.verdict)}}} (outcome: {esc(result.outcome)}; "
            f"{layers or 'no layer run'}).")


def recorded_steps(result: ClaimResult, deriv: Derivation) -> tuple[dict[str, Any] | None, str]:
    """The record (`proofs.runner.derivation_record`) of the check run's check of ``deriv``: one with its title
    whose steps are ``deriv``'s steps (same expressions and justifications, as plain text). Otherwise None and the
    sentence saying why the chain is shown unmarked."""
    from theory.derivation import text

    if result.derivations is None:
        why = ("the claim was not run" if result.verdict == "not run" else
               "these results do not record step checks (a report written before they were; "
               "\\texttt{prefixcheck check --json} records them)")
        return None, f"The steps are not marked: {why}."
    titled = [r for r in result.derivations if r.get("title") == deriv.title]
    for record in titled:
        steps = record["steps"]
        if len(steps) == len(deriv.steps) and all(s.get("expr") == text(step.expr) and s.get("why") == step.why_text
                                                  for s, step in zip(steps, deriv.steps)):
            return record, ""
    if titled:
        return None, ("The steps are not marked: the recorded steps of this chain differ from the chain shown (it "
                      "changed after the results were written).")
    return None, "The steps are not marked: no layer checked this chain in the run (its check stopped before it)."


def derivation_block(result: ClaimResult) -> str:
    """The chain as ``align*`` (printed from the claim's `Derivation`, built here, not checked), each step marked
    with the kernel's decision that the check run recorded for it (`recorded_steps`; a step counts as checked only
    when its record says it was reduced to 0), then the definitions it uses and its abstraction."""
    from proofs.texmath import derivation_latex, tex, tex_lines

    c = result.claim
    if c.derivation is None:
        return ("\\paragraph{Derivation.} This claim has no step-by-step derivation; its evidence is the layer "
                "results below.")
    try:
        deriv = c.derivation()
    except Exception as exc:  # a broken derivation must not stop the report; it is shown instead
        return (f"\\paragraph{{Derivation.}} \\emph{{The derivation could not be built:}} "
                f"{esc(type(exc).__name__)}: {esc(exc)}.")
    record, unmarked = recorded_steps(result, deriv)
    steps: list[dict[str, Any]] = [] if record is None else record["steps"]
    layer = "" if record is None else esc(record.get("layer"))
    checked = [s.get("checked") is True for s in steps]
    head = f"\\paragraph{{Derivation}} ({esc(deriv.title)})."
    if record is not None:
        source = "as recorded, not re-checked here" if result.record is not None else "in this run"
        head += (f" Each step's residual $e_{{k-1}}-e_k$, with every definition unfolded, was reduced to $0$ by the "
                 f"kernel's exact zero test (\\checkmark) or not ($\\times$) when the {layer} layer ran ({source}).")
    lines = [head, "{\\small", "\\begin{align*}",
             derivation_latex(deriv, marks=None if record is None else dict(enumerate(checked, start=1))),
             "\\end{align*}", "}"]
    if record is None:
        lines.append(unmarked)
    for k, s in enumerate(steps, start=1):
        if checked[k - 1]:
            continue
        if s.get("status") in ("nonzero", "unknown"):
            where = f" at {esc(s['witness'])} (value {esc(s.get('value'))})" if s.get("witness") else ""
            lines.append(f"Step {k} does \\emph{{not}} reduce to 0 ({esc(s['status'])}){where}.")
        else:
            lines.append(f"Step {k} is not recorded as checked.")
    if steps and all(checked):
        methods = "; ".join(sorted({str(s.get("method")) for s in steps}))
        kind = steps[0].get("certificate")
        them = "it" if len(steps) == 1 else "them"
        rests = (f"the {layer} layer's certificate (\\texttt{{{tt(kind)}}}) rests on {them}"
                 if kind is not None and all(s.get("certificate") == kind for s in steps) else
                 f"no certificate rests on {them} (the {layer} layer is not PROVED)")
        every = "The step" if len(steps) == 1 else f"All {len(steps)} steps"
        lines.append(f"{every} checked ({esc(methods)}); {rests}.")
    defs = deriv.used_definitions()
    if defs:
        rows = []
        for sym, value in defs:
            first, *rest = tex_lines(value)
            rows += [f"{tex(sym)} &:= {first}", *(f"&\\qquad {line}" for line in rest)]
        lines += ["where", "{\\small", "\\begin{align*}", " \\\\\n".join(rows), "\\end{align*}", "}"]
    if deriv.abstraction:
        lines.append(f"\\emph{{Abstraction:}} {prose(deriv.abstraction)}.")
    return "\n".join(lines)


def layer_table(result: ClaimResult) -> str:
    if not result.layers:
        return ""
    rows = []
    for name, r in result.layers.items():
        err = num(r.max_error) if r.max_error is not None else "--"
        inst = num(r.instances) if r.instances is not None else "--"
        rows.append(f"{esc(name)} & {esc(engine(name, r))} & {STATUS_TEX[r.status]} & "
                    f"{r.seconds:.3f} & {err} & {inst} \\\\")
    details = [f"  \\item[{esc(name)}] {prose(r.detail)}" for name, r in result.layers.items() if r.detail]
    return "\n".join([
        "\\paragraph{Layer results and numeric cross-check errors.}", "\\begin{center}\\small",
        "\\begin{tabular}{@{}llllrr@{}}", "\\toprule",
        "layer & engine & status & time (s) & max error & instances \\\\", "\\midrule", *rows,
        "\\bottomrule", "\\end{tabular}", "\\end{center}",
        *(["\\begin{description}\\small", *details, "\\end{description}"] if details else [])])


def certificate_block(result: ClaimResult) -> str:
    """For each PROVED layer, the kernel certificate it rests on: kind, scope (what is covered) and evidence."""
    lines = []
    for name, r in result.layers.items():
        cert = r.certificate if r.status is Status.PROVED else None
        if cert is None:
            continue
        data = cert.to_json()
        lines.append(f"\\paragraph{{Certificate ({esc(name)}).}} Kind \\texttt{{{tt(data['kind'])}}}; "
                     f"\\emph{{scope:}} {esc(data['scope'])}"
                     + (f"; \\emph{{evidence:}} {esc(data['evidence'])}" if data.get("evidence") else "") + ".")
    return "\n".join(lines)


def smt_block(result: ClaimResult) -> str:
    r = result.layers.get("smt")
    if r is None:
        if result.claim.smt is None:
            return "\\paragraph{Solver.} No solver query applies to this claim."
        return "\\paragraph{Solver.} The solver layer was not run."
    query = esc(r.query) if r.query else "(not recorded; see the detail line)"
    lines = ["\\paragraph{Solver query.} "
             f"What z3 was asked: {query}. "
             f"Result: {STATUS_TEX[r.status]} --- {esc(r.detail)}."]
    if r.abstraction:
        lines.append(f"\\emph{{Abstraction:}} {prose(r.abstraction)}.")
    if r.status is Status.PROVED:
        lines.append("PROVED means the negated statement is UNSAT on this over-approximating encoding, so no head it "
                     "covers violates the statement.")
    return "\n".join(lines)


def _value_tex(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_value_tex(x) for x in v) + ")"
    if isinstance(v, float):
        return num(v)
    return esc(v)


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    """Witness dicts become (path, leaf) rows; lists of numbers stay one row."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)) and any(isinstance(x, (dict, list, tuple)) for x in value) \
            and not all(isinstance(x, (list, tuple)) and all(isinstance(y, (int, float)) for y in x) for x in value):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, value))


def _quantity(key: str) -> str:
    """A witness row's label: the paper's symbol where there is one, with the JSON key beneath in small type."""
    symbol = witness_symbol(key)
    key_tex = f"\\texttt{{{tt(key, breakable=True)}}}"
    return key_tex if symbol is None else f"${symbol}$\\newline{{\\scriptsize {key_tex}}}"


def witness_block(result: ClaimResult) -> str:
    """The witnesses of the layers that found one (a counterexample re-checked on torch, a refuting point, the
    seed and instance of a numeric violation). Always present for claims pinned false."""
    layers = [(name, r) for name, r in result.layers.items() if r.witness and r.status.supports == "fails"]
    if not layers:
        if result.claim.expected == "fails":
            return ("\\paragraph{Counterexample.} No layer produced a witness in this run, so the pinned-false "
                    "claim is not refuted here (see the verdict).")
        return ""
    lines = ["\\paragraph{Counterexample witness.} Every solver model below was realised as a concrete float64 "
             "torch head and re-checked before being reported."]
    for name, r in layers:
        rows: list[tuple[str, Any]] = []
        _flatten("", r.witness, rows)
        shown = rows[:WITNESS_ROWS]
        lines += [f"\\par\\emph{{{esc(name)} layer ({STATUS_TEX[r.status]}):}}", "\\begin{center}\\small",
                  "\\begin{longtable}{@{}>{\\raggedright}p{0.3\\linewidth} p{0.64\\linewidth}@{}}",
                  "\\toprule",
                  "quantity & value \\\\", "\\midrule"]
        lines += [f"{_quantity(k)} & \\raggedright {_value_tex(v)} \\tabularnewline" for k, v in shown]
        if len(rows) > len(shown):
            lines.append(f"\\multicolumn{{2}}{{@{{}}l}}{{\\emph{{{len(rows) - len(shown)} more entries in the "
                         "JSON report}}}} \\tabularnewline")
        lines += ["\\bottomrule", "\\end{longtable}", "\\end{center}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class Figure:
    """A figure as the document sees it: stem, caption, PDF path relative to the document, claims."""

    name: str
    caption: str
    path: str
    claims: tuple[str, ...]
    note: str = ""

    def environment(self, label_suffix: str = "") -> str:
        note = f" Measured: {esc(self.note)}." if self.note else ""
        return "\n".join(["\\begin{figure}[htbp]", "\\centering",
                          f"\\includegraphics[width=0.95\\linewidth]{{{self.path}}}",
                          f"\\caption{{{prose(self.caption)}{note}}}",
                          f"\\label{{fig:{self.name}{label_suffix}}}", "\\end{figure}"])


def claim_section(result: ClaimResult, figures: Sequence[Figure] = (), placed: set | None = None,
                  standalone: bool = False) -> str:
    """One claim, starting on a new page. ``placed`` collects the figures already placed in the document (a
    figure goes into the first section it illustrates; later sections refer to it); a standalone fragment
    carries its own copies of its figures."""
    c = result.claim
    parts = ["\\clearpage", f"\\section{{{_id_tex(c.id)}}}\\label{{{label(c.id)}}}", statement_block(result),
             verdict_line(result), derivation_block(result), certificate_block(result), smt_block(result),
             layer_table(result),
             witness_block(result)]
    for fig in figures:
        if c.id not in fig.claims:
            continue
        if standalone:
            parts.append(fig.environment(label_suffix=":" + snippet_name(c.id)))
        elif placed is not None and fig.name in placed:
            parts.append(f"Figure~\\ref{{fig:{fig.name}}} (page~\\pageref{{fig:{fig.name}}}) illustrates this claim.")
        else:
            parts.append(fig.environment())
            if placed is not None:
                placed.add(fig.name)
    return "\n\n".join(p for p in parts if p) + "\n"


# ---- the document ---------------------------------------------------------------------------------------------

ENV_NAMES = (("prefixcheck", "prefixcheck"), ("python", "Python"), ("torch", "PyTorch"), ("sympy", "SymPy"),
             ("z3", "z3-solver"), ("cvc5", "cvc5"), ("transformers", "transformers"), ("peft", "peft"),
             ("matplotlib", "matplotlib"))


def title_page(environment: dict[str, Any], settings: dict[str, Any], results: Sequence[ClaimResult]) -> str:
    versions = [f"{esc(title)} & \\texttt{{{tt(environment[key])}}} \\\\" for key, title in ENV_NAMES
                if environment.get(key) is not None]
    run = [f"{esc(k)} & \\texttt{{{tt(v)}}} \\\\" for k, v in settings.items()]
    counts = {v: sum(r.verdict == v for r in results) for v in ("ok", "mismatch", "inconclusive", "not run")}
    return "\n".join([
        "\\begin{titlepage}", "\\centering", "\\vspace*{2cm}",
        "{\\LARGE\\bfseries prefixcheck: machine-checked claims about prompting, soft prompting and "
        "prefix-tuning\\par}", "\\vspace{1em}",
        "{\\large Claims of Petrov, Torr and Bibi, ``When Do Prompting and Prefix-Tuning Work? A Theory of "
        "Capabilities and Limitations'' (arXiv:2310.19698, ICLR 2024), and of their follow-up ``Prompting a "
        "Pretrained Transformer Can Be a Universal Approximator'' (arXiv:2402.14753, ICML 2024)\\par}",
        "\\vspace{2em}",
        f"{len(results)} claims: {counts['ok']} ok, {counts['mismatch']} mismatch, "
        f"{counts['inconclusive']} inconclusive"
        + (f", {counts['not run']} opt-in not run" if counts["not run"] else "") + "\\par", "\\vspace{2em}",
        "\\begin{tabular}{@{}ll@{}}", "\\toprule", "\\multicolumn{2}{@{}l}{\\textbf{Tools and libraries}} \\\\",
        "\\midrule", *versions, "\\midrule", "\\multicolumn{2}{@{}l}{\\textbf{Run settings}} \\\\", "\\midrule",
        *run, "\\bottomrule", "\\end{tabular}", "\\vfill",
        "\\begin{minipage}{0.85\\linewidth}\\small",
        "PROVED comes only from a certificate of the trusted kernel: a sympy residual reduced to 0, a solver UNSAT "
        "on a sound over-approximating encoding, or a certified enclosure (outward-rounded interval arithmetic "
        "deciding the statement on every box of a checked cover); its abstraction and scope are stated. Numeric "
        "agreement is CONSISTENT, never a proof; every "
        "counterexample was re-checked on a float64 torch model before it was reported; timeouts and solver "
        "\\emph{unknown} are UNKNOWN. Every random draw derives from the seed above.",
        *certificate_counts(results),
        "\\end{minipage}", "\\end{titlepage}"])


def certificate_counts(results: Sequence[ClaimResult]) -> list[str]:
    """One line: how many PROVED layers of this report rest on each certificate kind (nothing if none has one)."""
    counts: dict[str, int] = {}
    for r in results:
        for lr in r.layers.values():
            cert = getattr(lr, "certificate", None)
            if lr.status is Status.PROVED and cert is not None:
                for kind in cert.kind.split("+"):
                    counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return []
    parts = ", ".join(f"{n} {esc(CERTIFICATE_ENGINE.get(k, k))} ({esc(k)})" for k, n in counts.items())
    return [f"\\par\\medskip In this report the PROVED layers rest on: {parts} certificates."]


def summary_table(results: Sequence[ClaimResult]) -> str:
    rows = []
    for r in results:
        cells = [STATUS_TEX[r.layers[layer].status] if layer in r.layers else "--" for layer in LAYERS]
        pinned = "$^\\dagger$" if r.claim.expected == "fails" else ""
        rows.append(f"\\hyperref[{label(r.claim.id)}]{{\\texttt{{{tt(r.claim.id)}}}}}{pinned} & "
                    + " & ".join(cells) + f" & \\textbf{{{esc(r.verdict)}}} & \\pageref{{{label(r.claim.id)}}} \\\\")
    note = ("$^\\dagger$ pinned false: the expected outcome is a validated refutation, so REFUTED / VIOLATED / "
            "COUNTEREXAMPLE there means the check works." if any(r.claim.expected == "fails" for r in results) else "")
    return "\n".join([
        "\\section*{Summary}", "\\begin{center}\\scriptsize\\setlength{\\tabcolsep}{4pt}",
        "\\begin{longtable}{@{}lllllr@{}}", "\\toprule", "claim & symbolic & numeric & smt & verdict & page \\\\",
        "\\midrule", "\\endhead", *rows, "\\bottomrule", "\\end{longtable}", "\\end{center}", note])


MATRIX_MARK = {"as expected": "", "explained": "$^{*}$", "unexpected": "$^{!}$"}


def _matrix_cell(cell: dict[str, Any]) -> str:
    """A cell as a mark: check (holds) or cross (fails) from ``outcome`` (or ``holds``), with * when the claim's
    assumption is violated there ("explained") and ! when unexpected; any other ``status`` word as text."""
    outcome = cell.get("outcome")
    if outcome is None and isinstance(cell.get("holds"), bool):
        outcome = "holds" if cell["holds"] else "fails"
    status = cell.get("status")
    if outcome in ("holds", "fails"):
        mark = "\\checkmark" if outcome == "holds" else "$\\times$"
        suffix = MATRIX_MARK.get(status, "") if isinstance(status, str) else ""
        return f"\\textbf{{{mark}{suffix}}}" if status == "unexpected" else mark + suffix
    return esc(status if isinstance(status, str) else "?")


def matrix_section(matrix: dict[str, Any] | None) -> str:
    """The architecture matrix from a `prefixcheck matrix --json` object (``cells: [{claim, variant, outcome,
    status, assumption, ...}]``) as a table with a row per variant and a column per claim, then the violated
    assumptions that explain the cells marked *; absent if no matrix was given."""
    if not matrix:
        return ""
    cells = matrix.get("cells", [])
    claims = list(dict.fromkeys(str(c["claim"]) for c in cells))
    variants = list(dict.fromkeys(str(c["variant"]) for c in cells))
    by_key = {(str(c["claim"]), str(c["variant"])): c for c in cells}
    head = " & ".join(f"\\rotatebox{{90}}{{\\texttt{{{tt(c)}}}}}" for c in claims)
    rows = []
    for v in variants:
        row = [_matrix_cell(by_key[(c, v)]) if (c, v) in by_key else "--" for c in claims]
        rows.append(f"\\texttt{{{tt(v)}}} & " + " & ".join(row) + " \\\\")
    explained: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        if c.get("assumption"):
            explained.setdefault((str(c["claim"]), str(c["assumption"])), []).append(str(c["variant"]))
    notes = [f"  \\item \\texttt{{{tt(claim)}}} ({len(vs)} variant{'s' * (len(vs) != 1)}): {esc(why)}"
             for (claim, why), vs in explained.items()]
    raw = matrix.get("summary")
    summary = raw if isinstance(raw, dict) else {}
    counts = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in summary.items())
    return "\n".join([
        "\\clearpage", "\\section{Architecture matrix}",
        "The Section~4 and depth claims on random float64 models of each architecture variant (from "
        "\\texttt{prefixcheck matrix}): \\checkmark{} holds, $\\times$ fails; $^{*}$ the claim's assumption is "
        "violated in that variant (the explanation is verified by restoring it), $^{!}$ unexpected."
        + (f" Summary: {counts}." if counts else ""),
        "\\begin{center}\\scriptsize\\setlength{\\tabcolsep}{3pt}",
        f"\\begin{{longtable}}{{@{{}}l{'c' * len(claims)}@{{}}}}",
        "\\toprule", f"variant & {head} \\\\", "\\midrule", "\\endhead", *rows, "\\bottomrule",
        "\\end{longtable}", "\\end{center}",
        *(["Assumptions violated where a cell is marked $^{*}$:", "\\begin{itemize}\\small", *notes,
           "\\end{itemize}"] if notes else [])])


def coverage_section(results: Sequence[ClaimResult]) -> str:
    """The paper item by item (`proofs.paper`): where, what, and the claims with their verdicts or the reason
    the item is out of scope."""
    from proofs.paper import rows

    verdicts = {r.claim.id: r.verdict for r in results}
    body = [f"{esc(w)} & {esc(t)} & {esc(m)} \\\\" for w, t, m in rows(verdicts)]
    return "\n".join([
        "\\section*{Coverage of the paper}",
        "Each result of the paper, the claims that check it and their verdicts in this report (or why it is out of "
        "scope). Equation numbers marked ``no.\\ unconfirmed'' are the reading of the project's notes.",
        "\\begin{center}\\scriptsize", "\\begin{longtable}{@{}p{3.6cm}p{5cm}p{7.2cm}@{}}", "\\toprule",
        "paper & result & claims (verdict) \\\\", "\\midrule", "\\endhead", *body, "\\bottomrule",
        "\\end{longtable}", "\\end{center}"])


def document(results: Sequence[ClaimResult], environment: dict[str, Any], settings: dict[str, Any],
             figures: Sequence[Figure] = (), matrix: dict[str, Any] | None = None) -> str:
    placed: set[str] = set()
    sections = [claim_section(r, figures, placed) for r in results]
    return "\n".join([PREAMBLE, "\\begin{document}", title_page(environment, settings, results),
                      "\\tableofcontents", summary_table(results), coverage_section(results), *sections,
                      matrix_section(matrix),
                      "\\end{document}", ""])


def snippet(result: ClaimResult, figures: Sequence[Figure] = ()) -> str:
    header = (f"% prefixcheck: claim {result.claim.id} -- a fragment to \\input into a document that loads\n"
              f"% {', '.join(PACKAGES)} (see the preamble of report.tex); figure paths are relative to it.\n"
              + FITDISPLAY)
    return header + claim_section(result, figures, standalone=True)


@dataclass
class Written:
    tex: Path
    snippets: list[Path]
    figures: list[Path]


def write(out_dir: Path, results: Sequence[ClaimResult], environment: dict[str, Any], settings: dict[str, Any],
          figures: Sequence[Figure] = (), matrix: dict[str, Any] | None = None, snippets: bool = False,
          name: str = "report") -> Written:
    from proofs.cliutil import write_text

    tex = write_text(out_dir / f"{name}.tex", document(results, environment, settings, figures, matrix))
    written: list[Path] = []
    if snippets:
        sdir = out_dir / "snippets"
        for r in results:
            written.append(write_text(sdir / f"{snippet_name(r.claim.id)}.tex", snippet(r, figures)))
    return Written(tex, written, [out_dir / f.path for f in figures])


# ---- compiling ------------------------------------------------------------------------------------------------

def latex_engine(path: str | None = None) -> list[str]:
    """The compile command: latexmk if present, else pdflatex; `LatexError` naming the packages if neither."""
    if shutil.which("latexmk", path=path) and shutil.which("pdflatex", path=path):
        return ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    if shutil.which("pdflatex", path=path):
        return ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    raise LatexError(f"--pdf needs pdflatex, which is not installed; on Debian/Ubuntu run "
                     f"`apt-get install {DEBIAN_PACKAGES} poppler-utils`")


def first_error(log: str) -> str:
    """The first LaTeX error of a log, as one line."""
    for line in log.splitlines():
        if line.startswith("!") or re.match(r"^\S+\.tex:\d+: ", line):
            return line.strip()
    return "see the .log file"


def _where(tex: Path, error: str) -> str:
    """' in the section of claim X' for an error line ``file.tex:N: ...`` (the nearest preceding section)."""
    match = re.match(r"^\S+\.tex:(\d+): ", error)
    if not match:
        return ""
    lines = tex.read_text(errors="replace").splitlines()[:int(match.group(1))]
    for line in reversed(lines):
        if found := re.search(r"\\section\{\\texorpdfstring\{.*?\}\{(.*?)\}\}", line):
            return f" in the section of claim {found.group(1).replace(chr(92) + '_', '_')}"
    return ""


def compile_pdf(tex: Path, timeout: float = 240.0, path: str | None = None) -> Path:
    """Compile ``tex`` in its directory; the PDF path, or `LatexError` with the first error line."""
    command = latex_engine(path)
    runs = 1 if command[0] == "latexmk" else 2  # pdflatex twice: contents and references
    for _ in range(runs):
        try:
            proc = subprocess.run([*command, tex.name], cwd=tex.parent, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise LatexError(f"LaTeX did not finish within {timeout:.0f}s on {tex}") from None
        if proc.returncode != 0:
            log_file = tex.with_suffix(".log")
            log = log_file.read_text(errors="replace") if log_file.exists() else proc.stdout
            error = first_error(log)
            raise LatexError(f"LaTeX failed on {tex}: {error}{_where(tex, error)} (log: {log_file})")
    pdf = tex.with_suffix(".pdf")
    if not pdf.exists():
        raise LatexError(f"LaTeX produced no PDF for {tex}")
    return pdf


def figures_for(files: Iterable[Any], out_dir: Path) -> list[Figure]:
    """`proofs.figures.FigureFile` objects as document figures (PDF paths relative to ``out_dir``)."""
    return [Figure(f.spec.name, f.spec.caption, f.pdf.relative_to(out_dir).as_posix(), f.spec.claims, f.note)
            for f in files]
