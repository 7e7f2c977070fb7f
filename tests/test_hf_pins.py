"""Pins of the installed transformers 5.24.0 + peft 0.21.2 behaviour the audit relies on.

Each assertion message says what changed, so an upgrade fails loudly with the reason the claims or the
audit need revisiting."""
from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch

if importlib.util.find_spec("peft") is None:  # not importorskip: importing peft at collection costs seconds
    pytest.skip("needs the [hf] extra (transformers + peft)", allow_module_level=True)
pytestmark = pytest.mark.slow  # builds Hugging Face models: `make test-fast` leaves this module out

import numeric.hf as hf  # noqa: E402
from numeric.hf import PINNED, load_prefix, prefix_cache, prefix_weight, quiet, random_tokens, versions, wrap  # noqa: E402
from numeric.hf_audit import Setup, run_prefix, tolerance  # noqa: E402
from numeric.hf_build import PRESETS, load, tiny_config  # noqa: E402
from numeric.hf_capture import capture  # noqa: E402

N_S, N = 3, 5


@pytest.fixture(autouse=True)
def _quiet():
    with quiet():
        yield


def _prefixed(name: str, **kw):
    loaded = load(PRESETS[name], seed=11)
    return loaded, wrap(loaded.model, loaded.task_type, "prefix", N_S, seed=12, **kw)


def test_versions_are_the_pinned_ones():
    installed = versions()
    for dist, pin in PINNED.items():
        assert installed[dist] == pin, (f"{dist} is {installed[dist]}, the audit pins {pin}: re-run "
                                        "tests/test_hf_pins.py and update numeric/hf.py PINNED, pyproject's [hf] "
                                        "extra and docs/implementations.md")


@pytest.mark.parametrize("name", ["gpt2", "llama-gqa"])
def test_prefix_is_injected_raw_and_content_continues_at_n_S(name):
    loaded, model = _prefixed(name)
    cache = model.get_prompt(1)
    assert type(cache).__name__ == "DynamicCache", f"peft now injects a {type(cache).__name__}, not a DynamicCache"
    stored, stored_values = prefix_cache(model, expand=False)
    weight = model.prompt_encoder[model.active_adapter].embedding.weight
    assert torch.equal(prefix_weight(stored, stored_values), weight), (
        "peft's embedding.weight -> per-layer key/value layout changed (was [m, (2l+c)d + h d_h + e])")
    keys, _ = prefix_cache(model)
    run = run_prefix(PRESETS[name], Setup(seed=11, n_S=N_S, n=N))
    calls = run.P.self_calls()
    for c in calls:
        assert c.n_pre == N_S, "the attention no longer has n_S prefix keys before the content"
    P, R = calls[0], run.same.self_calls()[0]
    gap = float((P.inputs - R.inputs[..., -N:, :]).abs().max())
    assert gap == 0.0, (f"peft prefix-tuning on {name} no longer puts the content at n_S.. (the masked-cache reference "
                        f"at n_S.. differs by {gap} at the first attention's input)")


def test_injected_keys_are_used_without_rotary():
    loaded, model = _prefixed("llama")
    keys, values = prefix_cache(model)
    P = capture(loaded.model, model, input_ids=random_tokens(N, 64, 2))
    for l, c in enumerate(P.self_calls()):
        assert torch.equal(c.k[0, :, :N_S], keys[l].to(c.k.dtype)), "peft's prefix keys are transformed (rotary/norm)"
        assert torch.equal(c.v[0, :, :N_S], values[l].to(c.v.dtype))


def test_prefix_offsets_user_position_ids_by_n_S():
    loaded, model = _prefixed("gpt2")
    X = random_tokens(N, 64, 1)
    with torch.no_grad():
        plain = model(input_ids=X).logits
        given = model(input_ids=X, position_ids=torch.arange(N).unsqueeze(0).expand(2, -1)).logits
    assert torch.equal(plain, given), (
        "peft no longer adds num_virtual_tokens to user position_ids for prefix-tuning: content can now be placed "
        "at 0.. through peft")


def test_prompt_tuning_warns_it_ignores_position_ids():
    loaded = load(PRESETS["gpt2"], seed=3)
    model = wrap(loaded.model, loaded.task_type, "prompt", N_S, seed=4)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with torch.no_grad():
            model(input_ids=random_tokens(N, 64, 1), position_ids=torch.arange(N).unsqueeze(0).expand(2, -1))
    assert any("Position ids are not supported" in str(w.message) for w in rec), (
        "peft prompt tuning no longer warns that it ignores position_ids")


def test_load_prefix_round_trip():
    loaded, model = _prefixed("llama")
    g = torch.Generator().manual_seed(0)
    keys = [torch.randn(2, N_S, 8, generator=g, dtype=torch.float64) for _ in range(2)]
    values = [torch.randn(2, N_S, 8, generator=g, dtype=torch.float64) for _ in range(2)]
    load_prefix(model, keys, values)
    k2, v2 = prefix_cache(model)
    assert all(torch.equal(a, b) for a, b in zip(keys + values, k2 + v2))


def test_prompt_encoder_is_float32_in_peft():
    _, peft = hf.require_hf()
    model = peft.get_peft_model(load(PRESETS["gpt2"], seed=0).model,
                                peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=2))
    dtype = model.prompt_encoder[model.active_adapter].embedding.weight.dtype
    assert dtype == torch.float32, (f"peft now creates the prompt encoder in {dtype} for a float64 base model; "
                                    "numeric.hf.wrap casts it and may no longer need to")


def test_past_key_values_deprecation_warning():
    _, model = _prefixed("gpt2")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with torch.no_grad():
            model(input_ids=random_tokens(N, 64, 3))
    messages = [str(w.message) for w in rec]
    assert any("past_key_values" in m and "5.40" in m for m in messages), (
        "transformers no longer warns that peft's past_key_values keyword goes away in 5.40: update "
        f"docs/implementations.md (warnings seen: {messages})")


def test_bert_sequence_classification_prefix_is_broken():
    _, peft = hf.require_hf()
    import transformers

    base = transformers.BertForSequenceClassification(tiny_config("bert")).double().eval()
    model = peft.get_peft_model(base, peft.PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=2))
    with pytest.raises(ValueError, match="does not support past key values"):
        model(input_ids=random_tokens(N, 64, 0))


def test_dtype_probe_sees_llama_float32_and_gpt2_float64():
    for name, expect in (("llama", "float32"), ("gpt2", "float64 throughout")):
        loaded = load(PRESETS[name], seed=5)
        cap = capture(loaded.model, input_ids=random_tokens(N, 64, 5))
        tol, why = tolerance(cap, 0, 1e-10)
        assert why.startswith(expect), f"{name}: the dtype probe now says {why!r}; update docs/implementations.md"
        assert (tol == 1e-5) == (expect == "float32")


def test_prefix_attention_mask_is_extended_with_ones():
    _, model = _prefixed("gpt2")
    X = random_tokens(N, 64, 7)
    with torch.no_grad():
        plain = model(input_ids=X).logits
        masked = model(input_ids=X, attention_mask=torch.ones_like(X)).logits
    assert torch.allclose(plain, masked, rtol=0, atol=1e-12), (
        "peft no longer prepends n_S ones to a user attention_mask for prefix-tuning (the prefix became maskable)")


def _tensors(model):
    return dict(model.named_parameters()) | dict(model.named_buffers())


@pytest.mark.parametrize("name", ["gpt2", "llama-gqa", "bloom-alibi", "t5"])
def test_a_spec_recipe_reused_builds_bit_identical_models(name, monkeypatch):
    """`load` derives the config and the dtype once per spec; a later load (config copied, no smoke pass) gives the
    same weights, buffers and forward as a load from a fresh recipe, and a config of its own."""
    from numeric import hf_build
    from numeric.hf_measures import representative

    spec = representative(name)
    monkeypatch.setattr(hf_build, "_RECIPES", {})
    first, again = load(spec, seed=5), load(spec, seed=5)
    assert again.model.config is not first.model.config and again.dtype_note == first.dtype_note
    a, b = _tensors(first.model), _tensors(again.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    X = random_tokens(N, 64, 5)
    inputs = {"input_ids": X, **({"decoder_input_ids": X} if first.encoder_decoder else {})}
    assert torch.equal(capture(first.model, **inputs).output, capture(again.model, **inputs).output)


def test_a_spec_probed_float32_stays_float32_without_a_second_smoke_pass(monkeypatch):
    from numeric import hf_build

    passes = []

    def smoke(model, encoder_decoder):
        passes.append(next(model.parameters()).dtype)
        if passes[-1] == torch.float64:
            raise RuntimeError("no float64 kernel\nsecond line")

    monkeypatch.setattr(hf_build, "_RECIPES", {})
    monkeypatch.setattr(hf_build, "_smoke", smoke)
    first, again = load(PRESETS["gpt2"], seed=1), load(PRESETS["gpt2"], seed=2)
    assert passes == [torch.float64, torch.float32], "the float64 probe ran again for a spec already probed"
    for loaded in (first, again):
        assert next(loaded.model.parameters()).dtype == torch.float32
        assert loaded.dtype_note == "runs in float32: float64 fails (no float64 kernel)"


def test_prefix_references_do_not_depend_on_the_order_they_are_run():
    """`PrefixRun.same` / `.shifted` run on first read: either order gives the same captures."""
    setup = Setup(seed=3, n_S=N_S, n=N)
    one, two = run_prefix(PRESETS["llama"], setup), run_prefix(PRESETS["llama"], setup)
    same_first = (one.same, one.shifted)
    shifted_first = (two.shifted, two.same)
    for a, b in zip(same_first, reversed(shifted_first)):
        assert torch.equal(a.output, b.output)
        assert all(torch.equal(c.attn, d.attn) and torch.equal(c.heads, d.heads) for c, d in zip(a.calls, b.calls))
