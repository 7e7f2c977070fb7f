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
