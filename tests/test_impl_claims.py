"""The transformers + peft claims: each is ok, and each checker can fail on a false twin."""
from __future__ import annotations

import importlib.util
import sys

import pytest

if importlib.util.find_spec("peft") is None:  # not importorskip: importing peft at collection costs seconds
    pytest.skip("needs the [hf] extra (transformers + peft)", allow_module_level=True)
pytestmark = pytest.mark.slow  # builds Hugging Face models: `make test-fast` leaves this module out

from proofs.catalogue import impl  # noqa: E402
from proofs.claim import Context, Status  # noqa: E402
from proofs.runner import run_claim  # noqa: E402

CTX = Context(seed=3)
IDS = {"impl.peft_prefix.relative_attention", "impl.peft_prefix.position_shift",
       "impl.peft_prefix.zero_init_not_noop", "impl.peft_prompt.is_prefix", "impl.kv_from_text.equals_prompting"}


def numeric(claim):
    return claim.numeric(CTX)


def test_catalogue_has_the_design_ids():
    assert IDS <= {c.id for c in impl.CLAIMS}
    assert all(set(c.checks()) == {"numeric"} for c in impl.CLAIMS)


@pytest.mark.parametrize("claim", impl.CLAIMS, ids=lambda c: c.id)
def test_claim_is_ok(claim):
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", result.layers["numeric"].detail


def test_position_shift_is_large_for_absolute_positions():
    r = numeric(impl.position_shift_claim())
    assert r.status is Status.VIOLATED and r.max_error > 0.05


def test_relative_attention_twin_against_shifted_base_is_violated():
    r = numeric(impl.relative_attention_claim(names=("gpt2",), reference="shifted"))
    assert r.status is Status.VIOLATED and r.witness["model"] == "gpt2"


def test_position_shift_checker_finds_no_shift_on_alibi():
    result = run_claim(impl.position_shift_claim(names=("bloom-alibi",)), CTX)
    assert result.layers["numeric"].status is Status.CONSISTENT and result.verdict == "mismatch"


def test_relative_shift_is_real_float32_rounding_not_zero():
    r = numeric(impl.rope_shift_claim(names=("llama", "phi-partial-rotary"), tol=1e-12))
    assert r.status is Status.VIOLATED and 1e-12 < r.max_error < 1e-5


def test_zero_init_twin_with_wrong_count_is_violated():
    r = numeric(impl.zero_init_claim(names=("gpt2", "bloom-alibi"), count_offset=1))
    assert r.status is Status.VIOLATED


def test_prompt_is_prefix_fails_for_a_bidirectional_encoder():
    r = numeric(impl.prompt_is_prefix_claim(names=("bert",)))
    assert r.status is Status.VIOLATED and r.max_error > 1e-3


def test_kv_from_text_twin_with_content_at_zero_is_violated():
    for name in ("gpt2", "llama"):
        r = numeric(impl.kv_text_claim(names=(name,), convention="zero"))
        assert r.status is Status.VIOLATED, name


def test_missing_hf_extra_is_unknown(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)
    r = numeric(impl.zero_init_claim(names=("gpt2",)))
    assert r.status is Status.UNKNOWN and "[hf] extra" in r.detail


# ---- the pieces the checks are built from (numeric.hf_measures, proofs.impl_checks) ------------------------------

def test_every_measure_is_named_and_every_representative_resolves():
    from numeric.hf_build import ModelSpec
    from numeric.hf_measures import MEASURES, representative

    assert set(MEASURES) == {"relative_attention", "shift", "zero_init", "prompt", "text"}
    assert representative("phi-partial-rotary").overrides == {"partial_rotary_factor": 0.5}
    assert representative("bloom-alibi").model_type == "bloom"
    assert representative("opt") == ModelSpec(model_type="opt")


def test_peft_check_reports_the_worst_failing_instance(monkeypatch):
    """A planted measure (no model built): one error per model; the check must be VIOLATED on the worst failure (NaN
    fails too), name its model and seed, and CONSISTENT when every error is within the tolerance."""
    from numeric import hf_measures
    from proofs.impl_checks import peft_check

    def planted(errors):
        def factory():
            return lambda spec, setup, tol64: (errors[spec.model_type], 1e-3, "")
        return factory

    bad = {"gpt2": 1e-4, "llama": 5e-2, "t5": float("nan")}
    monkeypatch.setitem(hf_measures.MEASURES, "planted", planted(bad))
    monkeypatch.setattr(hf_measures, "representative", lambda name: hf_measures.ModelSpec(model_type=name))
    r = peft_check("planted", "planted", ("gpt2", "llama", "t5"))(CTX)
    assert r.status is Status.VIOLATED and r.witness["model"] == "llama" and r.max_error == 5e-2
    assert r.instances == 6 and "gpt2 0.0001..0.0001 (tol 0.001)" in r.detail
    good = {"gpt2": 1e-4, "llama": 2e-4}
    monkeypatch.setitem(hf_measures.MEASURES, "planted", planted(good))
    r = peft_check("planted", "planted", ("gpt2", "llama"))(CTX)
    assert r.status is Status.CONSISTENT and r.max_error == 2e-4
    r = peft_check("planted", "planted", ("gpt2", "llama"), tol=1e-5)(CTX)
    assert r.status is Status.VIOLATED and r.witness["tol"] == 1e-5
