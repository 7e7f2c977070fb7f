"""The command line: listing, showing, checking, the JSON report and bad input (one line, exit 2)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proofs.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, timeout=300)


def test_list_names_every_section4_claim(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for claim_id in ("prefix.single.closed_form", "prefix.ordering", "prefix.bias_parallel_naive"):
        assert claim_id in out


def test_show_prints_statement_assumptions_and_derivation(capsys):
    assert main(["show", "prefix.single.closed_form"]) == 0
    out = capsys.readouterr().out
    assert "assumptions" in out and "derivation" in out and "alpha_i" in out


@pytest.mark.slow
def test_check_writes_json_in_the_design_shape(tmp_path, capsys):
    path = tmp_path / "out.json"
    code = main(["check", "prefix.contraction", "prefix.bias_parallel_naive", "--json", str(path),
                 "--seed", "3", "--instances", "50"])
    assert code == 0
    report = json.loads(path.read_text())
    assert set(report) == {"claims", "summary", "environment"}
    assert report["environment"]["seed"] == 3
    assert {"python", "torch", "sympy", "z3"} <= set(report["environment"])
    assert report["summary"]["ok"] == 2 and report["summary"]["mismatch"] == 0
    for claim in report["claims"]:
        assert {"id", "title", "paper_ref", "expected", "verdict", "layers"} <= set(claim)
        assert claim["verdict"] in ("ok", "mismatch", "inconclusive")
        for layer, result in claim["layers"].items():
            assert layer in ("symbolic", "numeric", "smt")
            assert isinstance(result["status"], str) and isinstance(result["seconds"], float)
        assert claim["layers"]["numeric"]["instances"] >= 50  # and the longer heads of the size probe
    assert report["claims"][1]["layers"]["smt"]["witness"]["error"] > 0


def test_layers_option_restricts_the_run(tmp_path):
    path = tmp_path / "out.json"
    assert main(["check", "prefix.contraction", "--layers", "smt", "--json", str(path)]) == 0
    assert list(json.loads(path.read_text())["claims"][0]["layers"]) == ["smt"]


def test_prefix_selection():
    from proofs.registry import catalogue, select

    chosen = select(catalogue(), ["prefix.multi.*"])
    assert {c.id for c in chosen} == {"prefix.multi.closed_form", "prefix.multi.mixture_softmax"}


@pytest.mark.parametrize("args, needle", [
    (["check", "prefix.singel.closed_form"], "closest: prefix.single.closed_form"),
    (["show", "nope"], "unknown claim id"),
    (["check", "--layers", "symbolic,proof"], "unknown layer"),
    (["check", "--timeout", "-1"], "positive finite"),
    (["check", "--instances", "0"], "must be positive"),
    (["check", "--seed", "x"], "not an integer"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in lines if "error" in line]) == 1


@pytest.mark.slow
def test_python_m_proofs_alias_and_exit_codes():
    proc = run_cli("check", "prefix.content_mass", "--instances", "20")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 claims: 1 ok" in proc.stdout


# ---- defaults, completion, reported drops and duplicates ----------------------------------------------------------

CLAIM_FILE = """\
from proofs import Claim, LayerResult, Status


def consistent(ctx):
    return LayerResult(Status.CONSISTENT, f"instances {ctx.instances}, seed {ctx.seed}", instances=ctx.instances)


CLAIMS = [Claim("mine.one", "a numeric claim", "-", "-", numeric=consistent)]
"""


def test_pyproject_defaults_apply_and_the_command_line_wins(tmp_path, monkeypatch, capsys):
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "mine.py").write_text(CLAIM_FILE)
    (tmp_path / "pyproject.toml").write_text('[tool.prefixcheck]\nseed = 3\ninstances = 70\n'
                                             'claims = ["claims/mine.py"]\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)  # found from a subfolder, like pytest and ruff
    assert main(["check", "--json", "r.json"]) == 0
    report = json.loads((sub / "r.json").read_text())
    assert report["environment"]["seed"] == 3 and [c["id"] for c in report["claims"]] == ["mine.one"]
    assert report["claims"][0]["layers"]["numeric"]["instances"] == 70
    assert main(["check", "--seed", "5", "--instances", "9", "--json", "r.json"]) == 0
    report = json.loads((sub / "r.json").read_text())
    assert report["environment"]["seed"] == 5 and report["claims"][0]["layers"]["numeric"]["instances"] == 9
    capsys.readouterr()
    assert main(["check", "--help"]) == 0
    assert "(default: 70)" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("table, needle", [
    ("seed = -1", "seed must be >= 0"),
    ("instances = 1e12", "over the limit"),
    ("timeout = 'x'", "must be a number"),
    ("colour = 1", "unknown key(s) colour"),
    ("claims = [1]", "claims must be a list of file names"),
])
def test_bad_pyproject_is_one_line_exit_2(tmp_path, monkeypatch, capsys, table, needle):
    (tmp_path / "pyproject.toml").write_text(f"[tool.prefixcheck]\n{table}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "pyproject.toml") in err[0] and needle in err[0]


def test_shell_completion_script(capsys):
    assert main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert "prefixcheck" in out and "--instances" in out and "construct" in out


def test_a_claim_without_the_selected_layer_is_reported(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert main(["check", "capacity.decoder_identity", "finetune.eq7_reduces", "--layers", "smt",
                 "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not run finetune.eq7_reduces: no smt check (it has symbolic, numeric)" in out
    report = json.loads(path.read_text())
    assert [c["id"] for c in report["claims"]] == ["capacity.decoder_identity"]
    assert report["not_run"] == [{"id": "finetune.eq7_reduces", "reason": "no smt check"}]


def test_the_same_claims_file_twice_is_loaded_once(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(CLAIM_FILE)
    same = tmp_path / "." / "mine.py"
    assert main(["check", "--claims", str(path), "--claims", str(same), "--instances", "5"]) == 0
    out, err = capsys.readouterr()
    assert "1 claims: 1 ok" in out and "duplicate" not in out
    assert err.strip() == "prefixcheck: note: a --claims file was given more than once; it is loaded once"


def test_latex_with_a_claims_file_reports_only_that_file(tmp_path):
    from proofs.latex import label

    path = tmp_path / "mine.py"
    path.write_text(CLAIM_FILE)
    out = tmp_path / "rep"
    assert main(["latex", "--claims", str(path), "-o", str(out), "--no-figures", "--instances", "5"]) == 0
    source = (out / "report.tex").read_text()
    assert label("mine.one") in source and label("prefix.ordering") not in source


@pytest.mark.slow
def test_verbose_check_prints_each_layers_abstraction(capsys):
    assert main(["check", "prefix.contraction", "-v", "--instances", "20"]) == 0
    out = capsys.readouterr().out
    assert "    abstraction: " in out
