"""`prefixcheck matrix`: every (claim, variant) cell in the JSON, explanations verified, bad input exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from proofs import matrix as M
from proofs.cli import main

torch.set_num_threads(1)


def test_matrix_json_lists_every_cell(tmp_path) -> None:
    path = tmp_path / "matrix.json"
    variants = "pre/learned/causal,none/rope/bidir"
    assert main(["matrix", "--variants", variants, "--json", str(path), "--seed", "4"]) == 0
    report = json.loads(path.read_text())
    claims = [r.claim_id for r in M.rows()]
    assert report["claims"] == claims and report["variants"] == variants.split(",")
    assert {(c["claim"], c["variant"]) for c in report["cells"]} == {(c, v) for c in claims for v in report["variants"]}
    assert report["seed"] == 4 and report["environment"]["seed"] == 4
    cells = {(c["claim"], c["variant"]): c for c in report["cells"]}
    # absolute PE: Section 4 identities fail against the shifted baseline and hold with content positions kept
    shifted = cells[("prefix.relative_attention", "pre/learned/causal")]
    assert shifted["outcome"] == "fails" and shifted["status"] == "explained"
    assert "absolute PE" in shifted["assumption"] and shifted["with_assumption_restored"]["outcome"] == "holds"
    assert shifted["witness"]["variant"] == "pre/learned/causal"
    # RoPE, bidirectional: Section 4 holds at layer 1; soft prompt is no longer a prefix (explained by the mask)
    assert cells[("prefix.relative_attention", "none/rope/bidir")]["outcome"] == "holds"
    assert cells[("prefix.relative_attention", "none/rope/bidir")]["max_error"] < 1e-12
    causal = cells[("softprompt.causal_is_prefix", "none/rope/bidir")]
    assert causal["outcome"] == "fails" and "causal mask" in causal["assumption"]
    assert cells[("prefix.deep_layer_invariance", "none/rope/bidir")]["outcome"] == "fails"
    assert report["summary"]["unexpected"] == 0


def test_a_false_row_is_unexpected_and_exits_1(monkeypatch, capsys) -> None:
    """The naive 'bias parallel to W_V s' pinned as holding, with no excusing assumption: every cell unexpected."""
    naive = next(r for r in M.rows() if r.claim_id == "prefix.bias_parallel_naive")
    false_row = M.Row("twin.bias_parallel_holds", "holds", naive.measure, lambda v: None)
    monkeypatch.setattr(M, "rows", lambda: [false_row])
    assert main(["matrix", "--variants", "pre/none/causal"]) == 1
    assert "1 unexpected" in capsys.readouterr().out


def test_explanations_are_checked_by_restoring_the_assumption(monkeypatch) -> None:
    """A failing row whose failure persists with the assumption restored is not excused."""
    naive = next(r for r in M.rows() if r.claim_id == "prefix.bias_parallel_naive")
    row = M.Row("twin.excused_wrongly", "holds", naive.measure, lambda v: "made-up assumption", restorable=True)
    monkeypatch.setattr(M, "rows", lambda: [row])
    from numeric.depth import parse_variant
    from proofs.claim import Context

    (cell,) = M.run_matrix(Context(), [parse_variant("pre/learned/causal")]).cells
    assert cell.status == "unexpected" and cell.restored["outcome"] == "fails"


@pytest.mark.parametrize("args,message", [
    (["--variants", "pre/relative/causal"], "unknown positional encoding"),
    (["--variants", "pre/rope"], "must look like"),
    (["--variants", "layer/rope/causal"], "unknown norm"),
    (["--width", "10", "--heads", "3"], "do not divide"),
    (["--width", "6", "--heads", "2"], "even"),
    (["--ids", "prefix.nope"], "unknown matrix claim"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], message: str, capsys) -> None:
    assert main(["matrix", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.slow
def test_bad_input_through_the_console_script_has_no_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "proofs", "matrix", "--variants", "pre/relative/causal"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_layer2_conditional_and_kv_prefix_hold_under_absolute_pe(tmp_path) -> None:
    """Read at layer 2 conditionally on its inputs (and with raw key/value prefixes) the Section 4 identities hold
    even with learned positions: the comparison no longer shifts the content."""
    path = tmp_path / "m.json"
    claims = "prefix.relative_attention,prefix.single.closed_form,prefix.ordering"
    assert main(["matrix", "--variants", "pre/learned/causal", "--ids", claims, "--layer", "2",
                 "--prefix", "kv", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["section4_read_at"] == {"layer": 2, "prefix": "kv"}
    assert all(c["outcome"] == "holds" and c["max_error"] < 1e-12 for c in report["cells"])


def test_claims_is_a_deprecated_alias_of_ids(capsys) -> None:
    assert main(["matrix", "--claims", "prefix.nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--claims is deprecated" in err[0] and "use --ids" in err[0]
    assert "unknown matrix claim(s) prefix.nope" in err[1]
    assert main(["matrix", "--claims", "prefix.ordering", "--ids", "prefix.ordering"]) == 2
    assert "give --ids only" in capsys.readouterr().err


def test_layer_beyond_the_model_is_a_usage_error(capsys) -> None:
    assert main(["matrix", "--layer", "3"]) == 2
    assert "--layer must be 1 or 2" in capsys.readouterr().err
