"""Depth claims: each is ok, and each checker catches its false twin in every layer."""
from __future__ import annotations

import pytest
import torch

from proofs.catalogue import depth
from proofs.claim import Context, Status
from proofs.runner import run_claim

torch.set_num_threads(1)

CTX = Context(seed=0)
FAILING = {Status.REFUTED, Status.VIOLATED, Status.COUNTEREXAMPLE}
HOLDING = {Status.PROVED, Status.CONSISTENT}


@pytest.mark.parametrize("claim", depth.CLAIMS, ids=lambda c: c.id)
def test_catalogue_claim_ok(claim) -> None:
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", {k: v.detail for k, v in result.layers.items()}
    wanted = FAILING if claim.expected == "fails" else HOLDING
    assert {r.status for r in result.layers.values()} <= wanted


TWINS = [
    # a claim that holds, stated wrongly: every layer must refute it
    depth.layer1_claim("twin.layer1_without_position", add_position=False),
    depth.rope_claim("twin.rope_keys_not_rotated", rotate_keys=False, pos="learned"),
    depth.rank1_claim("twin.rank1_half", factor=(-1, 2)),
]
TRUE_TWINS = [
    # a pinned-false claim moved into the setting where it is true: every layer must find it holds (mismatch)
    depth.prompt_prefix_claim("twin.bidirectional_made_causal", causal=True, expected="fails"),
    pytest.param(depth.shift_claim("twin.shift_with_rope", positions=("rope", "alibi"), expected="fails"),
                 marks=pytest.mark.slow),
    depth.deep_claim("twin.deep_layer_1", layer=1, expected="fails"),
]


@pytest.mark.parametrize("claim", TWINS, ids=lambda c: c.id)
def test_false_twin_is_refuted_in_every_layer(claim) -> None:
    result = run_claim(claim, CTX)
    assert result.verdict == "mismatch"
    for name, layer in result.layers.items():
        assert layer.status in FAILING, (name, layer.detail)


@pytest.mark.parametrize("claim", TRUE_TWINS, ids=lambda c: c.id)
def test_true_twin_of_a_pinned_false_claim_is_a_mismatch(claim) -> None:
    result = run_claim(claim, CTX)
    assert result.verdict == "mismatch"
    for name, layer in result.layers.items():
        assert layer.status in HOLDING, (name, layer.detail)


def test_witnesses_are_recorded() -> None:
    (shift,) = [c for c in depth.CLAIMS if c.id == "prefix.absolute_pe_shift"]
    numeric = run_claim(shift, CTX).layers["numeric"]
    assert numeric.witness["variant"].split("/")[1] in ("learned", "sinusoidal")
    assert abs(numeric.witness["attention_without_prefix"]
               - numeric.witness["renormalised_attention_with_prefix"]) == pytest.approx(numeric.max_error)
