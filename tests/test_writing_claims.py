"""docs/writing-claims.md: the worked example runs as documented (CLI and pytest), a flipped claim is caught by
--baseline with exit 1, the example's own checks refute false twins, and assert_claim explains failures."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from proofs import Context, LayerResult, Shape, Status, identity_claim
from proofs.cli import main
from proofs.runner import run_claim
from proofs.testing import ClaimFailed, assert_caught, assert_claim

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "writing-claims.md").read_text()
EXAMPLE = ROOT / "docs" / "examples" / "prefix_claims.py"
STATEMENT = "h.alpha * (h.u[0] - h.t)"
EDITED = "h.alpha * (h.u[0] + h.t)"


def documented_table() -> dict[str, tuple[str, ...]]:
    rows = [line.strip("|").split("|") for line in DOC.splitlines() if line.startswith("| example.")]
    return {cells[0].strip(): tuple(c.strip() for c in cells[1:]) for cells in rows}


def example_module():
    spec = importlib.util.spec_from_file_location("prefix_claims_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_worked_example_passes_as_documented(tmp_path, monkeypatch, capsys):
    assert "$ prefixcheck check --claims docs/examples/prefix_claims.py\n" in DOC
    monkeypatch.chdir(ROOT)
    out = tmp_path / "example.json"
    assert main(["check", "--claims", "docs/examples/prefix_claims.py", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    got = {c["id"]: tuple(c["layers"].get(layer, {}).get("status", "—") for layer in ("symbolic", "numeric", "smt"))
           + (c["verdict"],) for c in report["claims"]}
    assert got == documented_table()
    assert len(got) == 3
    printed = capsys.readouterr().out
    for line in ("example.constant_bias numeric: error 6.59 above the tolerance (2.03e-07) at seed 423586092, "
                 "instance 342 of 1000",
                 "example.constant_bias smt: z3 model (n=1, d=2) realised as a float64 torch head: |lhs - rhs| = 0.5"):
        assert line in DOC and line in printed
    smt = report["claims"][1]["layers"]["smt"]
    assert "positive real" in smt["abstraction"]


@pytest.mark.slow
def test_editing_a_statement_flips_it_and_the_baseline_exits_1(tmp_path, capsys):
    claims = tmp_path / "prefix_claims.py"
    shutil.copy(EXAMPLE, claims)
    base = tmp_path / "base.json"
    run = ["check", "--claims", str(claims), "--instances", "200"]
    assert main([*run, "--json", str(base)]) == 0
    assert main([*run, "--baseline", str(base)]) == 0  # nothing changed: no flip
    assert "0 flip, 0 status" in capsys.readouterr().out
    source = claims.read_text()
    assert source.count(STATEMENT) == 1
    claims.write_text(source.replace(STATEMENT, EDITED))
    now = tmp_path / "now.json"
    assert main([*run, "--baseline", str(base), "--json", str(now)]) == 1
    out = capsys.readouterr().out
    flip = next(line for line in DOC.splitlines() if line.startswith("  flip    example.prefix_shift"))
    assert flip in out
    assert "vs baseline" in out and "1 flip" in out
    edited = json.loads(now.read_text())["claims"][0]
    assert edited["verdict"] == "mismatch"
    assert [r["status"] for r in edited["layers"].values()] == ["REFUTED", "VIOLATED", "COUNTEREXAMPLE"]


def test_the_examples_z3_and_torch_checks_refute_a_false_twin():
    ex = example_module()
    twin = ex.at_most_claim("twin.more_attention", "false: a prefix raises content attention",
                            lambda h: (h.A, h.A_pt))
    result = run_claim(twin, Context(instances=100))
    assert result.layers["smt"].status.value == "COUNTEREXAMPLE"
    assert result.layers["smt"].witness["position"] in range(3)
    assert result.layers["numeric"].status.value == "VIOLATED"
    assert result.verdict == "mismatch"


@pytest.mark.slow
def test_a_wrong_step_in_the_examples_derivation_is_caught():
    ex = example_module()

    def broken():
        d = ex.prefix_shift_derivation()
        d.steps[2] = type(d.steps[2])(d.steps[2].expr * 2, d.steps[2].why)
        return d

    claim = identity_claim("twin.shift", "shift with a wrong step", "-", "-", ex.prefix_shift, derivation=broken,
                           smt=False)
    result = run_claim(claim, Context(instances=20), layers=("symbolic",))
    assert result.layers["symbolic"].status.value == "UNKNOWN"
    assert "derivation step 3" in result.layers["symbolic"].detail


def test_assert_claim_failure_names_layers_and_witnesses():
    ex = example_module()
    false = identity_claim("mine.constant_bias", "naive constant bias", "-", "-", ex.constant_bias,
                           shape=Shape(inputs=2))
    with pytest.raises(ClaimFailed) as info:
        assert_claim(false, instances=50)
    message = str(info.value)
    assert message.startswith("claim mine.constant_bias: mismatch -- expected holds, the layers say fails")
    for needle in ("symbolic  REFUTED", "numeric   VIOLATED", "smt       COUNTEREXAMPLE", "general-n view: residual"):
        assert needle in message
    assert message.count("witness:") == 3
    assert info.value.result.verdict == "mismatch"


def test_assert_caught_accepts_a_caught_twin_and_rejects_a_true_claim_or_a_partial_catch():
    ex = example_module()
    false = identity_claim("mine.constant_bias", "naive constant bias", "-", "-", ex.constant_bias,
                           shape=Shape(inputs=2))
    assert assert_caught(false, instances=50).verdict == "mismatch"
    with pytest.raises(ClaimFailed, match="false twin not caught"):
        assert_caught("example.prefix_shift", claims=EXAMPLE, instances=50, layers=("numeric",))
    # a layer that does not answer is not a catch, even when the others refute
    partial = dataclasses.replace(false, smt=lambda ctx: LayerResult(Status.UNKNOWN, "no answer"))
    with pytest.raises(ClaimFailed, match=r"layers \['smt'\] do not fail"):
        assert_caught(partial, instances=50)


def test_assert_claim_by_id_in_a_file_and_load_errors(tmp_path):
    assert assert_claim("example.constant_bias", claims=EXAMPLE, instances=50).outcome == "fails"
    with pytest.raises(KeyError, match="closest: example.constant_bias"):
        assert_claim("example.constant_bia", claims=EXAMPLE)
    broken = tmp_path / "broken.py"
    broken.write_text("from proofs import Claim\nCLAIMS = [Claim('mine.x', 't', '-', '-')]\n")
    with pytest.raises(AssertionError, match=re.escape(f"{broken}:2: ValueError: claim mine.x: needs at least one")):
        assert_claim("mine.x", claims=broken)


@pytest.mark.slow
def test_pytest_runs_the_example_test_module(monkeypatch):
    class Outcomes:
        def __init__(self) -> None:
            self.passed: list[str] = []
            self.failed: list[str] = []

        def pytest_runtest_logreport(self, report) -> None:
            if report.when == "call":
                (self.passed if report.passed else self.failed).append(report.nodeid)

    outcomes = Outcomes()
    monkeypatch.chdir(ROOT)
    code = pytest.main(["docs/examples/test_prefix_claims.py", "-p", "no:cacheprovider", "-q"], plugins=[outcomes])
    assert code == 0 and not outcomes.failed
    prefix = "docs/examples/test_prefix_claims.py::"
    assert sorted(outcomes.passed) == sorted(prefix + item for item in (
        "test_prefix_claims[example.prefix_shift]", "test_prefix_claims[example.prefix_never_adds_attention]",
        "test_prefix_claims[example.constant_bias]", "test_catalogue_claim_still_holds",
        "test_one_claim_of_the_file_with_more_instances"))
