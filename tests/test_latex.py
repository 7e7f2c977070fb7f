"""The LaTeX report: escaping, derivations printed from the checked sympy objects and marked from the step checks
the run recorded, the full document compiled to a PDF with a page per claim, a rendered page that is not blank,
missing LaTeX, and bad input.

LaTeX policy: tests that compile need ``pdflatex`` (+ latexmk) and ``pdftotext`` / ``pdftoppm`` / ``pdfinfo``
(Debian: texlive-latex-base texlive-latex-recommended latexmk poppler-utils). Without them the tests are skipped,
and one summary line (tests/conftest.py) names what is missing and how to install it, so ``make test``
passes on a machine with nothing but Python. CI sets ``PREFIXCHECK_REQUIRE_LATEX=1`` (`.ci/run`, after installing
the packages): there a missing tool FAILS the tests, so CI always compiles the PDF.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proofs.claim import Claim, LayerResult, Status
from proofs.cli import main
from proofs.latex import LatexError, compile_pdf, label, latex_engine, snippet_name
from proofs.registry import catalogue
from proofs.runner import ClaimResult
from proofs.texmath import tex, tex_escape, tex_lines
from theory.derivation import Derivation, Step

TOOLS = ("pdflatex", "latexmk", "pdftotext", "pdftoppm", "pdfinfo")
ROOT = Path(__file__).resolve().parents[1]


def need_latex() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return
    message = (f"LaTeX report compilation: {', '.join(missing)} not installed; install with `sudo apt-get install "
               f"texlive-latex-base texlive-latex-recommended latexmk poppler-utils`")
    if os.environ.get("PREFIXCHECK_REQUIRE_LATEX") == "1":
        pytest.fail(message + " (PREFIXCHECK_REQUIRE_LATEX=1: CI must compile)")
    pytest.skip(message)


# ---- text and formulas ----------------------------------------------------------------------------------------

def test_escape_specials_and_unicode() -> None:
    out = tex_escape(r"50% of $x_1 & y#2 {a} ~ ^ \ <>| α_i ≤ Σ ∀ é ☃")
    for raw, want in (("%", r"\%"), ("$", r"\$"), ("&", r"\&"), ("#", r"\#"), ("_", r"\_"), ("{", r"\{"),
                      ("α", r"\ensuremath{\alpha}"), ("≤", r"\ensuremath{\le}"), ("Σ", r"\ensuremath{\Sigma}")):
        assert want in out, raw
    assert "e" in out and "[U+2603]" in out  # é decomposes to e; the snowman is spelled out
    assert all(ord(c) < 128 for c in out)


def test_latex_engine_missing_names_the_packages(tmp_path: Path) -> None:
    with pytest.raises(LatexError) as err:
        latex_engine(path=str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and "texlive-latex-base" in message and "texlive-latex-recommended" in message


def _derivation_claims() -> list:
    claims = [c for c in catalogue() if c.derivation is not None]
    assert claims, "the catalogue has derivations"
    return claims


def _recorded(claim: Claim, deriv: Derivation | None = None) -> ClaimResult:
    """A result whose step records are those a run records when a layer (UNKNOWN: no certificate) checks
    ``deriv`` (default: the claim's own chain)."""
    from proofs.runner import derivation_record
    from theory.derivation import recording

    with recording() as checked:
        (deriv or claim.derivation()).check(0)
    layer = LayerResult(Status.UNKNOWN, "")
    return ClaimResult(claim, {}, "ok", "holds", derivations=[derivation_record(c, "symbolic", layer) for c in checked])


def test_every_derivation_expression_is_printed_from_its_sympy_object() -> None:
    from proofs.latex import derivation_block

    for claim in _derivation_claims():
        deriv = claim.derivation()
        block = derivation_block(_recorded(claim, deriv))
        for expr in deriv.exprs:
            pieces = tex_lines(expr)
            assert all(piece in block for piece in pieces), (claim.id, expr)
            assert len(pieces) > 1 or tex(expr) in block
        for sym, value in deriv.used_definitions():
            assert f"{tex(sym)} &:= {tex_lines(value)[0]}" in block
        assert "\\times\\;" not in block and block.count("\\checkmark\\;") == len(deriv.steps)
        assert "no certificate rests on" in block and "(the symbolic layer is not PROVED)" in block


def test_changing_a_derivation_step_changes_the_latex() -> None:
    import sympy as sp

    from proofs.latex import derivation_block

    claim = next(c for c in catalogue() if c.id == "prefix.single.closed_form")
    original = claim.derivation()
    changed = original.steps[-1].expr * 2  # a wrong last step
    wrong = dataclasses.replace(original, steps=[*original.steps[:-1], Step(changed, original.steps[-1].why)])
    twin = dataclasses.replace(claim, derivation=lambda: wrong)
    before = derivation_block(_recorded(claim))
    after = derivation_block(_recorded(twin))
    assert before != after
    assert all(piece in after for piece in tex_lines(changed)) and tex(changed) not in before
    assert "\\times\\;" in after and "does \\emph{not} reduce to 0" in after
    assert isinstance(changed, sp.Basic)
    # the original chain's records never mark the changed chain (nor the other way round)
    swapped = (dataclasses.replace(_recorded(claim), claim=twin), dataclasses.replace(_recorded(twin), claim=claim))
    for result in swapped:
        block = derivation_block(result)
        assert "\\checkmark" not in block and "\\times\\;" not in block and "differ from the chain shown" in block


def test_unrecorded_steps_are_shown_unmarked_never_checked() -> None:
    """No record (a report written before steps were recorded, a claim not run, a chain no layer reached) or a record
    that does not say True: the chain is printed without a single check mark, and the block says why."""
    from proofs.latex import derivation_block

    claim = next(c for c in catalogue() if c.id == "prefix.contraction")
    cases = {"do not record step checks": ClaimResult(claim, {}, "ok", "holds"),
             "the claim was not run": ClaimResult(claim, {}, "not run", "unknown"),
             "no layer checked this chain": ClaimResult(claim, {}, "ok", "holds", derivations=[])}
    for reason, result in cases.items():
        block = derivation_block(result)
        assert "\\checkmark" not in block and "steps are not marked" in block and reason in block, reason
        assert "\\begin{align*}" in block  # the chain itself is still printed
    record = _recorded(claim).derivations
    assert record is not None
    forged = [{**record[0], "steps": [{**s, "checked": "yes"} for s in record[0]["steps"]]}]
    block = derivation_block(ClaimResult(claim, {}, "ok", "holds", derivations=forged))
    assert "\\checkmark\\;" not in block and "All " not in block


def test_check_records_steps_and_latex_reads_them_without_checking(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A run records each step (expression, justification, checked, certificate kind of the PROVED layer); the JSON
    round trip keeps them; ``latex --results`` typesets from them and never calls `Derivation.check`."""
    from proofs import report
    from proofs.claim import Context
    from proofs.latex import derivation_block
    from proofs.runner import from_json, run_claim
    from theory.derivation import Derivation, text

    claim = next(c for c in catalogue() if c.id == "prefix.contraction")
    result = run_claim(claim, Context(), layers=("symbolic",))
    assert result.layers["symbolic"].status is Status.PROVED
    deriv = claim.derivation()
    [record] = result.to_json()["derivations"]
    assert record["title"] == deriv.title and record["layer"] == "symbolic"
    assert [(s["expr"], s["why"], s["checked"], s["certificate"]) for s in record["steps"]] == \
        [(text(s.expr), s.why_text, True, "zero-residual") for s in deriv.steps]
    plain = next(c for c in catalogue() if c.derivation is None)
    assert "derivations" not in run_claim(plain, Context(instances=5), layers=("numeric",)).to_json()

    live = derivation_block(result)
    read = derivation_block(from_json(claim, json.loads(json.dumps(result.to_json())), "r.json"))
    for block in (live, read):
        assert block.count("\\checkmark\\;") == len(deriv.steps)
        assert "the symbolic layer's certificate (\\texttt{zero-residual}) rests on them" in block
    assert "(in this run)" in live and "(as recorded, not re-checked here)" in read

    path = tmp_path / "r.json"
    path.write_text(json.dumps(report.to_json([result], 1.0, 0)))

    def no_check(self: Derivation, seed: int = 0) -> None:
        raise AssertionError("the report re-checked a derivation")

    monkeypatch.setattr(Derivation, "check", no_check)
    assert main(["latex", "--results", str(path), "-o", str(tmp_path / "o"), "--no-figures"]) == 0
    source = (tmp_path / "o" / "report.tex").read_text()
    assert source.count("\\checkmark\\;") == len(deriv.steps) and "rests on them" in source


def test_a_broken_derivation_is_reported_not_raised() -> None:
    from proofs.latex import derivation_block

    def broken() -> None:
        raise ValueError("no such symbol")

    claim = dataclasses.replace(next(c for c in catalogue() if c.derivation is not None), derivation=broken)
    block = derivation_block(ClaimResult(claim, {}, "ok", "holds"))
    assert "could not be built" in block and "no such symbol" in block


def test_long_expressions_are_broken_between_terms() -> None:
    import sympy as sp

    xs = sp.symbols("x_0:12", real=True)
    c = sp.Symbol("c", positive=True)
    long_sum = sp.Add(*(sp.cos(x) * x for x in xs))
    lines = tex_lines(long_sum)
    assert len(lines) > 2 and all(line for line in lines)
    joined = " ".join(lines)
    assert all(tex(term) in joined for term in long_sum.args)
    nested = tex_lines(sp.Mul(c, long_sum, evaluate=False))
    assert nested[0].startswith("c \\Big(") and nested[-1].endswith("\\Big)")
    assert tex_lines(xs[0] + xs[1]) == [tex(xs[0] + xs[1])]


# ---- the full report ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_latex()
    out = tmp_path_factory.mktemp("report")
    # a generous solver timeout: on a loaded machine a 30 s query budget can run out (UNKNOWN, exit 3)
    code = main(["latex", "-o", str(out), "--pdf", "--standalone-snippets", "--instances", "50", "--timeout", "300"])
    assert code == 0
    return out


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


@pytest.mark.slow
def test_full_report_compiles_with_a_page_per_claim(report_dir: Path) -> None:
    pdf = report_dir / "report.pdf"
    log = (report_dir / "report.log").read_text(errors="replace")
    assert not [line for line in log.splitlines() if line.startswith("!")], "LaTeX errors in the log"
    assert "undefined references" not in log and "Reference `" not in log
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    claims = catalogue()
    assert pages >= len(claims) + 2  # title page, contents/summary, one page (at least) per claim
    texts = _pages(pdf)
    starts = {}
    for claim in claims:
        heads = [k for k, page in enumerate(texts) if f". {claim.id}" in " ".join(page.split()[:3]) or
                 page.split()[1:2] == [claim.id]]
        assert heads, f"no page starts with the section of {claim.id}"
        starts[claim.id] = heads[0]
    assert len(set(starts.values())) == len(claims), "each claim section starts its own page"


@pytest.mark.slow
def test_report_contents_cover_each_claim(report_dir: Path) -> None:
    tex_source = (report_dir / "report.tex").read_text()
    for claim in catalogue():
        assert f"\\label{{{label(claim.id)}}}" in tex_source
        assert (report_dir / "snippets" / f"{snippet_name(claim.id)}.tex").exists()
    assert "\\begin{align*}" in tex_source and "Solver query" in tex_source
    assert "Counterexample witness" in tex_source  # the catalogue pins claims false; their witnesses are shown
    for claim in (c for c in catalogue() if c.opt_in):  # slow opt-in claims: a section, marked not run
        section = tex_source.split(f"\\label{{{label(claim.id)}}}")[1].split("\\clearpage")[0]
        assert "not run" in section
    for key in ("torch", "sympy", "z3-solver", "seed"):
        assert key in tex_source
    for fig in ("attention_heatmap", "reachable_segment", "bias_directions"):
        assert (report_dir / "figures" / f"{fig}.pdf").exists() and (report_dir / "figures" / f"{fig}.png").exists()


@pytest.mark.slow
def test_rendered_page_is_not_blank(report_dir: Path) -> None:
    import numpy as np
    from matplotlib.image import imread

    texts = _pages(report_dir / "report.pdf")
    page = next(k for k, t in enumerate(texts) if "Derivation" in t) + 1
    prefix = report_dir / "page"
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", str(page), "-l", str(page), "-singlefile",
                    str(report_dir / "report.pdf"), str(prefix)], check=True)
    pixels = np.asarray(imread(str(prefix) + ".png"))[..., :3]
    dark = (pixels.mean(axis=-1) < 0.5).mean()
    assert 0.005 < dark < 0.5, f"page {page} looks blank or black (dark fraction {dark:.4f})"


@pytest.mark.slow
def test_snippet_compiles_inside_a_paper(report_dir: Path) -> None:
    from proofs.latex import PACKAGES

    name = snippet_name("prefix.contraction")
    paper = report_dir / "paper.tex"
    preamble = "\\documentclass{article}\n" + "".join(f"\\usepackage{{{p}}}\n" for p in PACKAGES)
    paper.write_text(preamble + "\\begin{document}\nAppendix.\n\\input{snippets/" + name + "}\n\\end{document}\n")
    pdf = compile_pdf(paper)
    assert "prefix.contraction" in "".join(_pages(pdf))


# ---- command line -----------------------------------------------------------------------------------------------

def _run_cli(args: list[str], path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.slow
def test_pdf_without_latex_is_one_line_and_keeps_the_tex(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    results = tmp_path / "r.json"
    assert main(["check", "prefix.contraction", "--instances", "20", "--json", str(results)]) == 0
    out = tmp_path / "rep"
    proc = _run_cli(["latex", "--results", str(results), "-o", str(out), "--pdf", "--no-figures"], path=str(empty))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "texlive-latex-base" in lines[0] and "Traceback" not in proc.stderr
    assert (out / "report.tex").exists()


@pytest.mark.slow
def test_results_json_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    results = tmp_path / "r.json"
    assert main(["check", "prefix.contraction", "prefix.bias_parallel_naive", "--instances", "20",
                 "--json", str(results)]) == 0
    out = tmp_path / "rep"
    assert main(["latex", "--results", str(results), "-o", str(out), "--no-figures"]) == 0
    source = (out / "report.tex").read_text()
    for claim_id in ("prefix.contraction", "prefix.bias_parallel_naive"):
        assert f"\\label{{{label(claim_id)}}}" in source
    assert label("prefix.alpha_sigmoid") not in source  # only the claims with results
    assert "Counterexample witness" in source


@pytest.mark.slow
def test_user_claims_get_sections(tmp_path: Path) -> None:
    example = ROOT / "docs" / "examples" / "prefix_claims.py"
    out = tmp_path / "rep"
    code = main(["latex", "--claims", str(example), "example.", "-o", str(out), "--no-figures", "--instances", "50"])
    assert code in (0, 3)
    source = (out / "report.tex").read_text()
    assert source.count("\\section{") >= 2 and label("example.constant_bias") in source


@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    ("{not json", "not readable JSON"),
    ('{"claims": 3}', "not a prefixcheck check report"),
    ('{"claims": [{"id": "prefix.contraction", "verdict": "ok", "layers": {"smt": {"status": "MAYBE"}}}]}',
     "bad status"),
    ('{"claims": [{"id": "no.such.claim", "verdict": "ok", "layers": {}}]}', "no results"),
])
def test_bad_results_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, content: str | None,
                                             needle: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert main(["latex", "--results", str(path), "-o", str(tmp_path / "o"), "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_bad_output_directory_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert main(["latex", "prefix.contraction", "-o", str(a_file), "--no-figures"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["latex", "prefix.contraction", "-o", str(a_file / "sub"), "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot create the output directory" in err


def test_unknown_claim_and_bad_matrix_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["latex", "prefix.contractoin", "-o", str(tmp_path / "o")]) == 2
    assert "closest: prefix.contraction" in capsys.readouterr().err
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"cells": [{"variant": "rope"}]}))
    assert main(["latex", "prefix.contraction", "--matrix", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "matrix" in capsys.readouterr().err


@pytest.mark.slow
def test_matrix_table_compiles(tmp_path: Path) -> None:
    need_latex()
    from proofs.latex import PREAMBLE, matrix_section

    cells = [{"claim": "prefix.single.closed_form", "variant": v, "outcome": o, "status": s, "assumption": a}
             for v, o, s, a in (("pre/rope/causal", "holds", "as expected", None),
                                ("none/learned/bidir", "fails", "explained", "needs a causal_mask & 50%"))]
    cells.append({"claim": "prefix.relative_attention", "variant": "pre/rope/causal", "holds": True})
    doc = tmp_path / "m.tex"
    doc.write_text(PREAMBLE + "\\begin{document}\n" + matrix_section({"cells": cells}) + "\n\\end{document}\n")
    text = "".join(_pages(compile_pdf(doc)))
    assert "prefix.single.closed_form" in text and "none/learned/bidir" in text and "& 50%" in text


@pytest.mark.slow
def test_latex_error_names_the_claim(tmp_path: Path) -> None:
    need_latex()
    from proofs.runner import ClaimResult

    claim = next(c for c in catalogue() if c.id == "prefix.contraction")
    broken = dataclasses.replace(claim, statement=r"x \text{n_S} y")  # '_' in text mode: a LaTeX error
    from proofs.latex import write

    written = write(tmp_path, [ClaimResult(broken, {}, "inconclusive", "unknown")], {"seed": 0}, {})
    with pytest.raises(LatexError) as err:
        compile_pdf(written.tex)
    message = str(err.value)
    assert "\n" not in message and "Missing $" in message and "prefix.contraction" in message


def test_solver_queries_are_recorded_for_checks_that_do_not_describe_them() -> None:
    import z3

    from proofs.claim import Claim, Context, LayerResult, Status
    from proofs.runner import run_claim
    from theory.smt import solve

    def smt(ctx: Context) -> LayerResult:
        x = z3.Real("x")
        first, second = solve([x > 0, x < 0], ctx.timeout), solve([x > 1], ctx.timeout)
        assert (first.result, second.result) == ("unsat", "sat")
        return LayerResult(Status.UNKNOWN, "two queries")

    result = run_claim(Claim("t.recorded", "t", "t", "x=x", smt=smt), Context())
    assert result.layers["smt"].query == ("2 z3 queries: QF_NRA, up to 1 real unknowns and 2 assertions each; "
                                          "1 unsat, 1 sat")


# ---- typesetting of prose, witnesses ------------------------------------------------------------------------------

def test_titles_abstractions_and_captions_are_typeset_as_latex() -> None:
    from proofs.figures import FIGURES
    from proofs.latex import statement_block
    from proofs.runner import ClaimResult
    from proofs.texprose import prose

    assert "t^{\\mathrm{pt}}_{i}" in prose("t^pt_i") and "\\sum_{j\\le i}" in prose("Z_i = sum_{j<=i} e^{l_ij}")
    assert "e^{T/\\sqrt{L}}" in prose("when e^{T/sqrt L} > (4V-1)(L-1)") and "e^{l_{ij}}" in prose("e^{l_ij}")
    assert prose("init_weights and max_error") == "init\\_weights and max\\_error"  # words stay text
    def raw(tex: str) -> bool:
        return "\\textasciicircum" in tex or "sum\\_" in tex or "sqrt" in tex.replace("\\sqrt", "")

    for claim in catalogue():
        title = statement_block(ClaimResult(claim, {}, "ok", "holds")).splitlines()[0]
        assert not raw(title), (claim.id, title)
    for spec in FIGURES:
        assert not raw(prose(spec.caption)), spec.name


def test_witness_tables_use_the_papers_symbols() -> None:
    from proofs.claim import LayerResult, Status
    from proofs.latex import witness_block
    from proofs.runner import ClaimResult

    claim = next(c for c in catalogue() if c.id == "prefix.bias_parallel_naive")
    witness = {"heads": [[{"w": [1.0, 2.0], "v": [[1.0]], "p": [0.5], "u": [[2.0]]}]], "W_O": [[[1.0]]],
               "error": 0.5}
    block = witness_block(ClaimResult(claim, {"smt": LayerResult(Status.COUNTEREXAMPLE, "x", witness=witness)},
                                      "ok", "fails"))
    for symbol in ("$e^{l_{ij}}", "$W_V x_j", "$W_V s_m", "$W_O^{(1)}$", "$|\\mathrm{lhs} - \\mathrm{rhs}|$"):
        assert symbol in block, symbol


@pytest.mark.slow
def test_engine_column_title_page_and_check_v_name_each_proofs_certificate(capsys: pytest.CaptureFixture) -> None:
    from proofs.claim import Context
    from proofs.latex import certificate_block, layer_table, title_page
    from proofs.runner import run_claim

    claim = next(c for c in catalogue() if c.id == "prefix.contraction")
    result = run_claim(claim, Context(instances=20))
    cert = result.layers["symbolic"].certificate
    assert cert is not None and cert.kind == "zero-residual"
    table = layer_table(result)
    assert "symbolic & sympy, exact zero residual & \\textbf{PROVED}" in table
    assert "numeric & torch float64 & CONSISTENT" in table  # no certificate: the layer's tool, nothing more
    block = certificate_block(result)  # the kind, scope and evidence paragraph per PROVED layer
    assert "Certificate (symbolic).} Kind \\texttt{zero-residual}" in block and "(numeric)" not in block
    page = title_page({"seed": 0}, {}, [result])
    assert "PROVED layers rest on: 1 sympy, exact zero residual (zero-residual), 1 solver UNSAT (unsat)" in page
    assert "rest on" not in title_page({"seed": 0}, {}, [])
    assert main(["check", "prefix.contraction", "-v", "--instances", "20"]) == 0
    out = capsys.readouterr().out
    assert f"    certificate: zero-residual; scope: {cert.scope}" in out
