"""The three search claims hold, and every checker catches its false twin (design.md rule 5)."""
from __future__ import annotations

import pytest

from proofs.catalogue.search import cannot_reverse_claim, reachable_segment_claim, separation_claim
from proofs.claim import Context, Status
from proofs.runner import run_claim

CTX = Context(seed=0, timeout=60.0, instances=200)


@pytest.mark.parametrize("claim", [cannot_reverse_claim(), reachable_segment_claim(), separation_claim()],
                         ids=lambda c: c.id)
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


def test_separation_twin_largest_head_is_refuted():
    """On a head already attending to the largest token a prefix solves the task: a validated prefix."""
    result = run_claim(separation_claim("twin.separation_easy", c=3.0), CTX)
    assert result.layers["smt"].status == Status.COUNTEREXAMPLE, result.layers["smt"].detail
    assert result.layers["smt"].witness["params"]["s"]
    assert result.layers["numeric"].status == Status.VIOLATED
