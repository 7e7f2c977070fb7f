"""``prefixcheck audit``: any model type or checkpoint, per-head classification, JSON, one-line errors (exit 2)."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest

if importlib.util.find_spec("peft") is None:  # not importorskip: importing peft at collection costs seconds
    pytest.skip("needs the [hf] extra (transformers + peft)", allow_module_level=True)
pytestmark = pytest.mark.slow  # builds Hugging Face models: `make test-fast` leaves this module out

from numeric.hf_audit import Row, Setup, audit, classify  # noqa: E402
from numeric.hf_build import PRESETS, ModelSpec, load  # noqa: E402
from proofs.cli import main  # noqa: E402


def rows(a, quantity, layer=0):
    return [r for r in a.rows if r.layer == layer and r.quantity.startswith(quantity)][0]


def test_audit_every_shorthand_and_method(tmp_path, capsys):
    for method in ("prefix", "prompt", "text"):
        out = tmp_path / f"{method}.json"
        assert main(["audit", "--arch", "all", "--method", method, "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        assert data["unexpected"] == 0
        assert [a["model"] for a in data["audits"]] == ["gpt2", "llama", "llama-gqa", "bert"]
        assert data["environment"]["peft"] == "0.21.2" and data["audits"][0]["setup"]["seeds"]["model"] == 0
        assert all(r["cls"] in ("holds", "deviates as predicted") for a in data["audits"] for r in a["rows"])
    text = capsys.readouterr().out
    assert "captured" in text and "5.40" in text  # library warnings are summarised, not spilled


def test_sliding_window_shorter_than_the_sequence_breaks_the_premise():
    """Window 4, n_S = 3, n = 6: content token i sits at position 3 + i and sees keys 0 + i .. 3 + i, so token 1 no
    longer sees prefix entry 0, and tokens >= 3 see no prefix at all (alpha_i = 0 there)."""
    a = audit(ModelSpec(model_type="mistral", overrides={"sliding_window": 4}), "prefix", Setup())
    assert a.counts()["premise broken"] == len(a.rows) and not a.unexpected
    r = rows(a, "A_ij = (1-alpha_i) A^0_ij")
    assert "prefix hidden from content tokens [1, 2, 3, 4, 5] (entries [0, 1, 2]) (sliding window 4)" in r.premise
    assert r.worst < 1e-6 and r.tol == 1e-5  # the identity itself still holds on what each token sees (float32 parts)
    assert rows(a, "alpha_i = sigma").worst > 0.1  # the position-free alpha assumes the whole prefix is visible


def test_alibi_prefix_bias_deviates_as_predicted():
    a = audit(ModelSpec(model_type="bloom"), "prefix", Setup())
    free = rows(a, "alpha_i = sigma")
    assert free.cls == "deviates as predicted" and "b_im - b_ii in [-0.5, -0.00391]" in free.assumption
    assert 0.05 < free.worst < 0.2
    closed = rows(a, "alpha_i closed form")
    assert closed.cls == "holds" and closed.worst < 1e-6 and closed.tol == 1e-5 and "softmax" in closed.precision
    assert rows(a, "renormalised A vs base at positions 0..").cls == "holds"  # ALiBi is relative
    assert "baddbmm alpha" in " ".join(a.notes)


def test_partial_rotary_holds_up_to_float32():
    a = audit(ModelSpec(model_type="phi", overrides={"partial_rotary_factor": 0.5}), "prefix", Setup())
    assert not a.unexpected and a.counts()["premise broken"] == 0
    for quantity in ("alpha_i = sigma", "A_ij = (1-alpha_i)", "t_i = (1-alpha_i)", "renormalised A vs base"):
        r = rows(a, quantity)
        assert r.cls == "holds" and 1e-9 < r.worst < 1e-6 and r.tol == 1e-5, (quantity, r.worst)
    assert rows(a, "A_ij = (1-alpha_i)", layer=1).cls == "deviates as predicted"


def test_checkpoint_audit_equals_in_memory(tmp_path):
    loaded = load(ModelSpec(model_type="gpt_neox"), seed=0)
    loaded.model.save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "disk.json"
    assert main(["audit", "--model", str(tmp_path / "ckpt"), "--json", str(out)]) == 0
    disk = json.loads(out.read_text())["audits"][0]
    memory = audit(ModelSpec(model_type="gpt_neox"), "prefix", Setup()).to_json()
    assert [r["quantity"] for r in disk["rows"]] == [r["quantity"] for r in memory["rows"]]
    assert [r["per_head"] for r in disk["rows"]] == [r["per_head"] for r in memory["rows"]]
    assert [r["cls"] for r in disk["rows"]] == [r["cls"] for r in memory["rows"]]


def test_encoder_decoder_prefix_reaches_the_decoder_only():
    a = audit(ModelSpec(model_type="bart"), "prefix", Setup())
    assert not a.unexpected and all(".decoder." in r.path for r in a.rows)
    assert any("get no prefix" in n and "encoder" in n for n in a.notes)
    assert rows(a, "renormalised A vs base").cls == "deviates as predicted"  # learned positions


def test_unexplained_rows_are_flagged():
    r = classify(Row("q", 0, "p", [1.0, 0.0], 1e-10, "float64", "holds", "x"))
    assert r.classes == ["unexplained", "holds"] and not r.as_expected
    assert classify(Row("q", 0, "p", [1.0], 1e-10, "float64", "deviates", "x")).as_expected
    assert classify(Row("q", 0, "p", [1.0], 1e-10, "float64", "holds", "x", premise="cropped")).cls == "premise broken"


@pytest.mark.parametrize("argv, needle", [
    (["--arch", "gpt3"], "any transformers model type works with --model-type"),
    (["--model-type", "gpt3"], "unknown model type 'gpt3'"),
    (["--model-type", "mpt"], "mpt: unsupported by peft 0.21.2: ValueError: Please specify `num_attention_heads`"),
    (["--model-type", "t5", "--method", "text"], "t5 is encoder-decoder"),
    (["--model", "/nonexistent/dir"], "not a directory"),
    (["--arch", "gpt2", "--method", "lora"], "supported: prefix, prompt, text"),
    (["--arch", "llama", "--method", "prompt", "--init-std", "0"], "--method prefix only"),
    (["--arch", "gpt2", "--n-prefix", "40", "--tokens", "40"], "<= 60"),
    (["--arch", "gpt2", "--tol", "nan"], "--tol"),
    (["--arch", "gpt2", "--tokens", "1"], ">= 2"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys):
    assert main(["audit", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_checkpoint_without_config_is_exit_2(tmp_path, capsys):
    assert main(["audit", "--model", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--arch", "gpt2", "--init-std", "nan"], ["--arch", "gpt2", "--n-prefix", "0"],
                                  ["--model-type", "gpt2", "--config", "novalue"], []])
def test_bad_numbers_exit_2(argv):
    assert main(["audit", *argv]) == 2


def test_missing_hf_extra_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "peft", None)
    assert main(["audit", "--arch", "gpt2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "[hf] extra" in err and "--model-type" in err and "\n" not in err


def test_unwritable_json_is_exit_2(tmp_path, capsys):
    assert main(["audit", "--arch", "bert", "--json", str(tmp_path / "missing" / "x.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_presets_are_model_types_with_overrides():
    assert PRESETS["llama-gqa"].overrides == {"num_key_value_heads": 1} and PRESETS["gpt2"].model_type == "gpt2"
