"""Strictness of the hierarchy and the Section 5.2 reachable set: both claims ok with kernel certificates, and their
false twins caught in every layer (the soft prompt's layer-2 state not erased; an inside target called unreachable)."""
from __future__ import annotations

import pytest

from proofs.catalogue import hierarchy
from proofs.claim import Context, Status
from proofs.runner import run_claim

CTX = Context(seed=0)


@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.slow) if c.id == "prefix.vs_lora_paper_placement"
                                   else c for c in hierarchy.CLAIMS], ids=lambda c: c.id)
def test_claim_is_ok_with_a_kernel_certificate(claim):
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", {k: (v.status, v.detail) for k, v in result.layers.items()}
    sym = result.layers["symbolic"]
    assert sym.status is Status.PROVED and sym.certificate is not None and "IMPOSSIBLE" in sym.detail
    assert result.layers["numeric"].status is Status.CONSISTENT and "FOUND" in result.layers["numeric"].detail


def _inside():
    from theory.layer2 import inside_target

    return inside_target()


@pytest.mark.parametrize("twin", [lambda: hierarchy.strictness_claim("twin.strict", write_b=False),
                                  lambda: hierarchy.layer2_claim("twin.layer2", outside=_inside())],
                         ids=["soft-state-not-erased", "inside-target-called-unreachable"])
def test_false_twin_is_caught_in_every_layer(twin):
    result = run_claim(twin(), CTX)
    assert result.verdict == "mismatch"
    assert result.layers["symbolic"].status is Status.REFUTED, result.layers["symbolic"].detail
    assert result.layers["numeric"].status is Status.VIOLATED, result.layers["numeric"].detail


def test_the_soft_prompt_reaches_the_target_in_the_twin_exactly():
    from theory.strictness import TARGET, twin_solution

    _, out = twin_solution()
    assert tuple(out.applyfunc(lambda e: e.simplify())) == TARGET


def test_lora_twin_on_the_wrong_layer_is_caught():
    """Rank-1 LoRA on layer 2's W_O cannot move layer-2 logits: the LoRA half of the separation fails."""
    twin = hierarchy.lora_placement_claim("twin.lora", lora_target="layers.1.attn.W_O")
    result = run_claim(twin, CTX)
    assert result.verdict == "mismatch"
    for name in ("symbolic", "numeric"):
        assert result.layers[name].status in (Status.REFUTED, Status.VIOLATED), result.layers[name].detail
