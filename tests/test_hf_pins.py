"""Pins of the installed transformers 5.24.0 + peft 0.21.2 behaviour the audit relies on.

Each assertion message says what changed, so an upgrade fails loudly with the reason the claims or the
audit need revisiting."""
from __future__ import annotations

import warnings

import pytest
import torch

pytest.importorskip("peft")

import numeric.hf as hf  # noqa: E402
from numeric.hf import (FAMILIES, PINNED, build_base, family, load_prefix, prefix_cache, prefix_weight,  # noqa: E402
                        quiet, random_tokens, trace, versions, wrap)

N_S, N = 3, 5


@pytest.fixture(autouse=True)
def _quiet():
    with quiet():
        yield


def _prefixed(name: str, **kw):
    fam = family(name)
    base = build_base(fam, seed=11)
    return fam, base, wrap(fam, base, "prefix", N_S, seed=12, **kw)


def test_versions_are_the_pinned_ones():
    installed = versions()
    for dist, pin in PINNED.items():
        assert installed[dist] == pin, (f"{dist} is {installed[dist]}, the audit pins {pin}: re-run tests/test_hf_pins.py "
                                        f"and update numeric/hf.py PINNED, pyproject's [hf] extra and docs/implementations.md")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_prefix_content_positions_start_at_n_S(name):
    fam, base, model = _prefixed(name)
    X = random_tokens(N, 64, 1)
    P = trace(fam, base, model, input_ids=X)
    assert P.positions.tolist() == list(range(N_S, N_S + N)), (
        f"peft prefix-tuning on {name} now gives the content positions {P.positions.tolist()}, not n_S.. "
        f"(it used the cache length n_S as the offset): the position_shift claims and docs describe the old rule")
    assert P.layers[0].attn.shape[-1] == N_S + N, "the attention no longer has n_S prefix keys before the content"


def test_prefix_offsets_user_position_ids_by_n_S():
    fam, base, model = _prefixed("gpt2")
    X = random_tokens(N, 64, 1)
    P = trace(fam, base, model, input_ids=X, position_ids=torch.arange(N).unsqueeze(0).expand(2, -1))
    assert P.positions.tolist() == list(range(N_S, N_S + N)), (
        "peft no longer adds num_virtual_tokens to user position_ids for prefix-tuning: content can now be placed "
        "at 0.. through peft, so numeric.hf.with_prefix_cache is no longer the only way")


def test_prompt_tuning_ignores_position_ids_and_puts_virtual_tokens_first():
    fam = family("gpt2")
    base = build_base(fam, seed=3)
    model = wrap(fam, base, "prompt", N_S, seed=4)
    X = random_tokens(N, 64, 1)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        T = trace(fam, base, model, input_ids=X, position_ids=torch.arange(N).unsqueeze(0).expand(2, -1))
    assert T.positions.tolist() == list(range(N_S + N)), "peft prompt tuning changed the positions it uses"
    assert any("Position ids are not supported" in str(w.message) for w in rec), (
        "peft prompt tuning no longer warns that it ignores position_ids")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_prefix_is_injected_raw_as_a_dynamic_cache(name):
    fam, base, model = _prefixed(name)
    cache = model.get_prompt(1)
    assert type(cache).__name__ == "DynamicCache", f"peft now injects a {type(cache).__name__}, not a DynamicCache"
    stored, stored_values = prefix_cache(model, expand=False)
    kv_heads = base.config.num_attention_heads // fam.kv_groups
    assert stored[0].shape == (kv_heads, N_S, base.config.hidden_size // base.config.num_attention_heads), (
        f"peft now injects {stored[0].shape[0]} prefix key heads on {name}, not one per key/value head ({kv_heads})")
    weight = model.prompt_encoder[model.active_adapter].embedding.weight
    assert torch.equal(prefix_weight(stored, stored_values), weight), (
        "peft's embedding.weight -> per-layer key/value layout changed (was [m, (2l+c)d + h d_h + e])")
    keys, values = prefix_cache(model)
    X = random_tokens(N, 64, 2)
    P = trace(fam, base, model, input_ids=X)
    for l, L in enumerate(P.layers):  # attention = softmax over the raw keys (no norm, W_K or rotary on them)
        logits = torch.cat([L.scaling * L.q @ keys[l].transpose(-1, -2), L.scaling * L.q @ L.k.transpose(-1, -2)], -1)
        if fam.causal:
            logits[..., N_S:] = logits[..., N_S:].masked_fill(~torch.ones(N, N, dtype=torch.bool).tril(),
                                                              float("-inf"))
        err = float((torch.softmax(logits, -1) - L.attn).abs().max())
        assert err < (1e-5 if fam.float32_parts else 1e-12), (
            f"{name} layer {l}: the attention is no longer softmax over the raw injected prefix keys (error {err})")


def test_load_prefix_round_trip():
    fam, base, model = _prefixed("llama")
    g = torch.Generator().manual_seed(0)
    L, H, dh = 2, 2, 8
    keys = [torch.randn(H, N_S, dh, generator=g, dtype=torch.float64) for _ in range(L)]
    values = [torch.randn(H, N_S, dh, generator=g, dtype=torch.float64) for _ in range(L)]
    load_prefix(model, keys, values)
    k2, v2 = prefix_cache(model)
    assert all(torch.equal(a, b) for a, b in zip(keys + values, k2 + v2))


def test_prompt_encoder_is_float32_in_peft():
    fam = family("gpt2")
    _, peft = hf.require_hf()
    model = peft.get_peft_model(build_base(fam, seed=0), peft.PrefixTuningConfig(task_type="CAUSAL_LM",
                                                                                 num_virtual_tokens=2))
    dtype = model.prompt_encoder[model.active_adapter].embedding.weight.dtype
    assert dtype == torch.float32, (f"peft now creates the prompt encoder in {dtype} for a float64 base model; "
                                    "numeric.hf.wrap casts it to float64 and may no longer need to")


def test_past_key_values_deprecation_warning():
    fam, base, model = _prefixed("gpt2")
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

    base = transformers.BertForSequenceClassification(hf._config(family("bert"), hf.Size(), 0.3)).double().eval()
    model = peft.get_peft_model(base, peft.PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=2))
    with pytest.raises(ValueError, match="does not support past key values"):
        model(input_ids=random_tokens(N, 64, 0))


def test_llama_softmax_is_float32_and_gpt2_is_float64():
    for name, float32 in (("llama", True), ("gpt2", False)):
        fam = family(name)
        base = build_base(fam, seed=5)
        A = trace(fam, base, input_ids=random_tokens(N, 64, 5)).layers[0].attn
        assert A.dtype == torch.float64
        representable = torch.equal(A.float().double(), A)
        assert representable == float32, (
            f"{name}'s eager softmax {'no longer' if float32 else 'now'} rounds to float32: update "
            f"Family.float32_parts and the tolerances in numeric/hf_audit.py")
    assert FAMILIES["llama"].float32_parts and not FAMILIES["gpt2"].float32_parts


def test_hooked_rotary_keys_equal_the_real_cache():
    fam = family("llama")
    base = build_base(fam, seed=6)
    T = trace(fam, base, input_ids=random_tokens(N, 64, 6), use_cache=True)
    for l, L in enumerate(T.layers):
        assert torch.equal(L.k, T.cache.layers[l].keys), "the hook-side rotary embedding differs from the model's"
        assert torch.equal(L.v, T.cache.layers[l].values)


def test_prefix_attention_mask_is_extended_with_ones():
    fam, base, model = _prefixed("gpt2")
    X = random_tokens(N, 64, 7)
    with torch.no_grad():
        plain = model(input_ids=X).logits
        masked = model(input_ids=X, attention_mask=torch.ones_like(X)).logits
    assert torch.allclose(plain, masked, rtol=0, atol=1e-12), (
        "peft no longer prepends n_S ones to a user attention_mask for prefix-tuning (the prefix became maskable)")
