"""User claim files: loading, verdicts (mismatch with witness, holds/fails/unknown), errors per claim with file
and line, bad input (one line, exit 2), and the lazy public API."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proofs.cli import main
from proofs.user_claims import ClaimFileError, load_claim_file

HEADER = """\
from proofs import Claim, LayerResult, Shape, Status, identity_claim


def constant_bias(E):
    a, b = E.view(0), E.view(1)
    return a.t_pt - a.t, b.t_pt - b.t


def consistent(ctx):
    return LayerResult(Status.CONSISTENT, "fine")
"""


def claim_file(tmp_path: Path, body: str, name: str = "my_claims.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def run_json(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "report.json"
    code = main(["check", *args, "--instances", "100", "--json", str(out)])
    return code, json.loads(out.read_text())


def test_false_claim_expected_to_hold_is_a_mismatch_with_its_witness(tmp_path, capsys):
    path = claim_file(tmp_path, """
        CLAIMS = [identity_claim("mine.constant_bias", "naive: one fixed bias for every input", "-", "-",
                                 constant_bias, shape=Shape(inputs=2), expected="holds")]
    """)
    code, report = run_json(tmp_path, "--claims", str(path))
    out = capsys.readouterr().out
    assert code == 1
    (claim,) = report["claims"]
    assert claim["verdict"] == "mismatch" and claim["outcome"] == "fails"
    assert claim["source"] == f"{path}:{line_of(path, 'mine.constant_bias')}"
    layers = claim["layers"]
    assert (layers["symbolic"]["status"], layers["numeric"]["status"], layers["smt"]["status"]) == (
        "REFUTED", "VIOLATED", "COUNTEREXAMPLE")
    assert layers["symbolic"]["witness"]["point"] and layers["numeric"]["witness"]["seed"] > 0
    assert layers["smt"]["witness"]["error"] > 0
    assert "mismatch" in out and out.count("witness:") == 3
    assert report["summary"]["ok"] == 0 and report["summary"]["mismatch"] == 1


def test_a_raising_check_is_an_error_for_that_claim_only(tmp_path, capsys):
    path = claim_file(tmp_path, """
        def broken(ctx):
            scale = 0
            return LayerResult(Status.CONSISTENT, f"{1 / scale}")


        CLAIMS = [
            Claim("mine.broken", "a check that raises", "-", "-", numeric=broken, symbolic=consistent),
            Claim("mine.fine", "a check that works", "-", "-", numeric=consistent),
            Claim("mine.returns_bool", "a check that returns True", "-", "-", smt=lambda ctx: True),
        ]
    """)
    code, report = run_json(tmp_path, "--claims", str(path))
    out = capsys.readouterr().out
    broken, fine, returns_bool = report["claims"]
    assert returns_bool["layers"]["smt"] == {"status": "ERROR", "seconds": returns_bool["layers"]["smt"]["seconds"],
                                             "detail": f"the check of the claim at {path}:"
                                                       f"{line_of(path, 'mine.returns_bool')} returned bool, "
                                                       f"not a LayerResult"}
    assert broken["layers"]["numeric"]["status"] == "ERROR"
    assert broken["layers"]["symbolic"]["status"] == "CONSISTENT"
    assert f"ZeroDivisionError: division by zero ({path}:{line_of(path, '1 / scale')})" in (
        broken["layers"]["numeric"]["detail"])
    assert broken["verdict"] == "inconclusive"
    assert fine["verdict"] == "ok" and fine["layers"]["numeric"]["status"] == "CONSISTENT"
    assert code == 3 and "ERROR" in out and "ZeroDivisionError" in out


def test_a_check_that_raises_inside_the_library_names_the_claim_and_the_library_line(tmp_path):
    path = claim_file(tmp_path, """
        def uses_sigmoid_in_z3(E):
            return E.h.alpha, E.h.sigmoid(E.h.alpha)


        CLAIMS = [identity_claim("mine.sigmoid", "z3 has no sigmoid", "-", "-", uses_sigmoid_in_z3)]
    """)
    _, report = run_json(tmp_path, "--claims", str(path), "--layers", "smt")
    detail = report["claims"][0]["layers"]["smt"]["detail"]
    assert detail.startswith("ValueError: sigmoid is not encodable in z3")
    assert f"({path}:{line_of(path, 'E.h.sigmoid')})" in detail  # the statement line, not the library's


@pytest.mark.slow
def test_expectation_free_claims_report_holds_fails_unknown(tmp_path, capsys):
    path = claim_file(tmp_path, """
        def unknown(ctx):
            return LayerResult(Status.UNKNOWN, "solver timeout")


        def shift(E):
            h = E.h
            return h.t_pt - h.t, h.alpha * (h.u[0] - h.t)


        CLAIMS = [
            identity_claim("mine.shift", "prefix shift", "-", "-", shift, expected=None, smt=False),
            identity_claim("mine.constant_bias", "constant bias", "-", "-", constant_bias, shape=Shape(inputs=2),
                           expected=None, smt=False),
            Claim("mine.unknown", "undecided", "-", "-", smt=unknown, expected=None),
        ]
    """)
    code, report = run_json(tmp_path, "--claims", str(path))
    out = capsys.readouterr().out
    got = {c["id"]: (c["expected"], c["verdict"], c["outcome"]) for c in report["claims"]}
    assert got == {"mine.shift": (None, "ok", "holds"), "mine.constant_bias": (None, "ok", "fails"),
                   "mine.unknown": (None, "inconclusive", "unknown")}
    assert code == 3
    table = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in out.splitlines()
             if line.startswith("│ mine.")}
    assert table == {"mine.shift": "holds", "mine.constant_bias": "fails", "mine.unknown": "unknown"}


def test_file_errors_are_reported_with_file_and_line_and_the_other_claims_run(tmp_path, capsys):
    good = claim_file(tmp_path, """
        CLAIMS = [
            Claim("mine.one", "first", "-", "-", numeric=consistent),
            Claim("mine.one", "same id again", "-", "-", numeric=consistent),
            "not a claim",
        ]
    """, "good.py")
    syntax = tmp_path / "syntax.py"
    syntax.write_text("from proofs import Claim\n\nCLAIMS = [Claim(\n")
    imports = tmp_path / "imports.py"
    imports.write_text("import math\nfrom proofs import NoSuchThing\nCLAIMS = []\n")
    building = tmp_path / "building.py"
    building.write_text("from proofs import Claim\n\nCLAIMS = [Claim('has space', 't', '-', '-')]\n")
    code, report = run_json(tmp_path, *(a for p in (syntax, imports, good, building) for a in ("--claims", str(p))))
    out, err = capsys.readouterr()
    assert [c["id"] for c in report["claims"]] == ["mine.one"] and report["claims"][0]["verdict"] == "ok"
    errors = {(e["file"], e["line"]): e for e in report["errors"]}
    assert errors[(str(syntax), 3)]["message"].startswith("SyntaxError")
    assert errors[(str(imports), 2)]["message"].startswith("ImportError: cannot import name 'NoSuchThing'")
    assert errors[(str(building), 3)]["message"].startswith("ValueError: claim id must be a non-empty word")
    dup = errors[(str(good), line_of(good, "same id again"))]
    assert dup["id"] == "mine.one" and f"first defined at {good}:{line_of(good, 'first')}" in dup["message"]
    assert errors[(str(good), line_of(good, "CLAIMS ="))]["message"] == "CLAIMS[2] is not a Claim (got str)"
    assert report["summary"]["errors"] == 5
    assert code == 2 and "5 load error(s)" in out  # a file that fails to load is bad input (exit 2)
    err = err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"prefixcheck: error: {syntax}:3: SyntaxError")
    assert "(and 4 more, listed above); the other claims ran" in err[0]


def test_ids_select_among_file_and_catalogue_claims(tmp_path):
    path = claim_file(tmp_path, """
        CLAIMS = [Claim("mine.one", "first", "-", "-", numeric=consistent),
                  Claim("mine.two", "second", "-", "-", numeric=consistent)]
    """)
    code, report = run_json(tmp_path, "--claims", str(path), "mine.two", "prefix.content_mass", "--layers", "numeric")
    assert code == 0
    assert [c["id"] for c in report["claims"]] == ["mine.two", "prefix.content_mass"]
    assert "source" not in report["claims"][1]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "missing.py", "claims file not found"),
    (lambda d: d, "must be a Python file"),
    (lambda d: claim_file(d, "x = 1\n"), "defines no claims"),
    (lambda d: claim_file(d, "CLAIMS = []\n"), "defines no claims"),
    (lambda d: claim_file(d, "CLAIMS = 'x'\n"), "CLAIMS must be a list"),
    (lambda d: claim_file(d, "CLAIMS = [Claim('prefix.ordering', 't', '-', '-', numeric=consistent)]\n"),
     "'prefix.ordering' is already a catalogue claim"),
])
def test_bad_claim_files_are_one_line_errors_exit_2(tmp_path, capsys, make, needle):
    path = make(tmp_path)
    assert main(["check", "--claims", str(path)]) == 2
    line = error_line(capsys)
    assert line.startswith("prefixcheck: error:") and needle in line


def test_clash_names_file_and_line(tmp_path, capsys):
    path = claim_file(tmp_path, "\nCLAIMS = [Claim('prefix.ordering', 't', '-', '-', numeric=consistent)]\n")
    assert main(["check", "--claims", str(path)]) == 2
    assert f"{path}:{line_of(path, 'prefix.ordering')}: claim id 'prefix.ordering'" in error_line(capsys)


def test_unknown_id_with_claims_file_is_exit_2(tmp_path, capsys):
    path = claim_file(tmp_path, "CLAIMS = [Claim('mine.one', 't', '-', '-', numeric=consistent)]\n")
    assert main(["check", "--claims", str(path), "mine.onr"]) == 2
    assert "closest: mine.one" in error_line(capsys)


@pytest.mark.slow
def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "proofs", "check", "--claims", str(tmp_path / "nope.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"prefixcheck: error: claims file not found: {tmp_path / 'nope.py'}"


def test_loader_api_returns_claims_with_sources(tmp_path):
    path = claim_file(tmp_path, "CLAIMS = [Claim('mine.one', 't', '-', '-', numeric=consistent)]\n")
    loaded = load_claim_file(path)
    assert [c.id for c in loaded.claims] == ["mine.one"] and not loaded.errors
    assert loaded.claims[0].source == f"{path}:{line_of(path, 'mine.one')}"
    with pytest.raises(ClaimFileError, match="already a catalogue claim"):
        load_claim_file(path, reserved=["mine.one"])


def test_public_api_is_lazy_and_complete():
    code = "import sys, proofs, proofs.cli; print(sorted({'sympy', 'torch', 'z3'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr
    import proofs

    for name in proofs.__all__:
        assert getattr(proofs, name) is not None
    assert proofs.Shape.__module__ == "theory.shape" and proofs.solve.__module__ == "theory.smt"
    with pytest.raises(AttributeError):
        _ = proofs.no_such_name


def test_list_and_show_read_claim_files(capsys):
    example = str(Path(__file__).resolve().parents[1] / "docs" / "examples" / "prefix_claims.py")
    assert main(["list", "--claims", example]) == 0
    out = capsys.readouterr().out
    assert "example.prefix_shift" in out and "prefix.ordering" in out
    assert main(["show", "example.prefix_shift", "--claims", example]) == 0
    out = capsys.readouterr().out
    assert "[softmax over the prefix key and the content keys]" in out  # justifications are text, not markup
    assert r"where \alpha_i := e^{\ell_{i0}}/(Z_i + e^{\ell_{i0}})" in out


def test_list_and_show_stop_at_a_broken_file_or_derivation(tmp_path, capsys):
    syntax = tmp_path / "syntax.py"
    syntax.write_text("CLAIMS = [\n")
    assert main(["list", "--claims", str(syntax)]) == 2
    assert error_line(capsys).startswith(f"prefixcheck: error: {syntax}:1: SyntaxError")
    path = claim_file(tmp_path, """
        def derivation():
            raise RuntimeError("not written yet")


        CLAIMS = [Claim("mine.one", "t", "-", "-", numeric=consistent, derivation=derivation)]
    """)
    assert main(["show", "mine.one", "--claims", str(path)]) == 2
    assert error_line(capsys).endswith("the derivation of mine.one raised RuntimeError: not written yet")
