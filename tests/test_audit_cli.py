"""``prefixcheck audit``: reports, JSON, and one-line errors with exit status 2."""
from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("peft")

from numeric.hf import family  # noqa: E402
from numeric.hf_audit import Measure, Setup, audit  # noqa: E402
from proofs.cli import main  # noqa: E402


def test_audit_every_family_and_method_is_as_predicted(tmp_path, capsys):
    for method in ("prefix", "prompt", "text"):
        out = tmp_path / f"{method}.json"
        assert main(["audit", "--arch", "all", "--method", method, "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        assert data["unexpected"] == 0 and [a["family"] for a in data["audits"]] == ["gpt2", "llama", "llama-gqa", "bert"]
        assert data["environment"]["peft"] == "0.21.2"
    text = capsys.readouterr().out
    assert "captured" in text and "5.40" in text  # library warnings are summarised, not spilled


def test_zero_prefix_audit_rows():
    a = audit(family("gpt2"), "prefix", Setup(prefix_std=0.0, n_S=2))
    names = {m.quantity for m in a.measures}
    assert "alpha = n_S/(n_S + sum_j e^l_ij) vs base q, k" in names
    assert not a.unexpected and a.outputs["max |out_peft - out_base| (same positions)"] > 1e-3


def test_deviation_rows_name_their_assumption():
    a = audit(family("gpt2"), "prefix", Setup())
    shift = [m for m in a.measures if m.quantity.startswith("renormalised") and m.layer == 0][0]
    assert shift.expect == "deviates" and not shift.holds and "absolute positions" in shift.assumption
    deeper = [m for m in a.measures if m.layer == 1 and "same positions" in m.quantity]
    assert deeper and all("item 17" in m.assumption and not m.holds for m in deeper)


def test_unexpected_rows_are_flagged():
    m = Measure("q", 0, [1.0, 0.0], 1e-10, "holds", "x")
    assert not m.as_expected and Measure("q", 0, [1.0], 1e-10, "deviates", "x").as_expected


@pytest.mark.parametrize("argv, needle", [
    (["--arch", "gpt3"], "supported: gpt2, llama, llama-gqa, bert"),
    (["--arch", "bert-cls"], "past_key_values"),
    (["--arch", "gpt2", "--method", "lora"], "supported: prefix, prompt, text"),
    (["--arch", "llama", "--method", "prompt", "--init-std", "0"], "--method prefix only"),
    (["--arch", "gpt2", "--virtual-tokens", "40", "--tokens", "40"], "<= 60"),
    (["--arch", "gpt2", "--tol", "nan"], "--tol"),
    (["--arch", "gpt2", "--tokens", "1"], ">= 2"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys):
    assert main(["audit", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--arch", "gpt2", "--init-std", "nan"], ["--arch", "gpt2", "--virtual-tokens", "0"]])
def test_bad_numbers_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(["audit", *argv])
    assert exc.value.code == 2


def test_missing_hf_extra_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "peft", None)
    assert main(["audit", "--arch", "gpt2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "[hf] extra" in err and "gpt2, llama, llama-gqa, bert" in err and "\n" not in err


def test_unwritable_json_is_exit_2(tmp_path, capsys):
    assert main(["audit", "--arch", "bert", "--json", str(tmp_path / "missing" / "x.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
