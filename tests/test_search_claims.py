"""The three search claims hold, and every checker catches its false twin (design.md rule 5)."""
from __future__ import annotations

import pytest

from proofs.catalogue.reachability import cannot_reverse_claim, reachable_segment_claim, separation_claim, wide_segment_claim
from proofs.claim import Context, Status
from proofs.runner import run_claim

CTX = Context(seed=0, timeout=60.0, instances=200)


@pytest.mark.parametrize("claim", [cannot_reverse_claim(), reachable_segment_claim(), separation_claim()],
                         ids=lambda c: c.id)
@pytest.mark.slow
def test_claim_ok(claim):
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", {k: (v.status, v.detail) for k, v in result.layers.items()}
    assert result.layers["smt"].status == Status.PROVED


def test_cannot_reverse_twin_lora_is_refuted():
    """A rank-1 update of W_K shifts content logits per token: z3 finds a reversal, torch confirms it."""
    result = run_claim(cannot_reverse_claim("twin.lora_reverse", method="lora"), CTX)
    assert result.layers["smt"].status == Status.COUNTEREXAMPLE, result.layers["smt"].detail
    assert result.layers["numeric"].status == Status.VIOLATED
    assert result.verdict == "mismatch"


def test_segment_twin_wrong_end_is_refuted():
    """Segments from 0 (instead of t_i) to W_V s miss the planted reachable outputs."""
    result = run_claim(reachable_segment_claim("twin.segment_from_zero", end="zero"), CTX)
    assert result.layers["smt"].status == Status.COUNTEREXAMPLE, result.layers["smt"].detail
    assert result.layers["numeric"].status == Status.VIOLATED


@pytest.mark.slow
def test_separation_twin_largest_head_is_refuted():
    """On a head already attending to the largest token a prefix solves the task: a validated prefix."""
    result = run_claim(separation_claim("twin.separation_easy", c=3.0), CTX)
    assert result.layers["smt"].status == Status.COUNTEREXAMPLE, result.layers["smt"].detail
    assert result.layers["smt"].witness["params"]["s"]
    assert result.layers["numeric"].status == Status.VIOLATED


@pytest.mark.slow
def test_wide_segment_claim_is_decided_by_the_layered_engine():
    """d = 64, 16 inputs of 32 tokens: far targets IMPOSSIBLE by an exact Farkas certificate, planted FOUND."""
    result = run_claim(wide_segment_claim(), CTX)
    smt = result.layers["smt"]
    assert result.verdict == "ok" and smt.status == Status.PROVED, (smt.status, smt.detail)
    assert smt.certificate.kind == "unsat" and "prefix-ray" in smt.certificate.abstraction
    assert "d=64" in smt.certificate.scope


def test_wide_segment_twin_from_zero_is_refuted():
    """Segments from 0: the exact LP certifies the planted outputs off them; torch measures the distance."""
    result = run_claim(wide_segment_claim("twin.wide_from_zero", end="zero"), CTX)
    assert result.layers["smt"].status == Status.COUNTEREXAMPLE, result.layers["smt"].detail
    assert result.layers["numeric"].status == Status.VIOLATED
