"""The three search claims hold, and every checker catches its false twin (design.md rule 5)."""
from __future__ import annotations

import pytest

from proofs.catalogue.reachability import (
    cannot_reverse_claim,
    reachable_segment_claim,
    separation_claim,
    wide_segment_claim,
)
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


# ---- the pieces the checks are built from (numeric.reach, theory.smt_prefix) --------------------------------------

def test_segment_distance_is_zero_on_the_segment_and_euclidean_off_it():
    import torch

    from numeric.reach import segment_distance

    a, b = torch.tensor([0.0, 0.0], dtype=torch.float64), torch.tensor([2.0, 0.0], dtype=torch.float64)
    points = torch.tensor([[1.0, 0.0], [1.0, 3.0], [5.0, 4.0], [-3.0, 0.0]], dtype=torch.float64)
    dist = segment_distance(points, a.expand_as(points), b.expand_as(points))
    assert dist.tolist() == pytest.approx([0.0, 3.0, 5.0, 3.0])


def test_segment_query_sat_on_the_segments_unsat_off_them():
    """W_V = I, ends e_0 = (0, 0), e_1 = (2, 0): targets (1, 1) and (2, 1) lie on [e_i, s] for s = (2, 2); a target
    beyond e_1 on the far side from every common s is UNSAT."""
    from theory.smt_prefix import segment_query

    eye, ends = [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [2.0, 0.0]]
    assert segment_query(eye, ends, [[1.0, 1.0], [2.0, 1.0]], 1e-3, 10.0).result == "sat"
    assert segment_query(eye, ends, [[1.0, 1.0], [3.0, -1.0]], 1e-3, 10.0).result == "unsat"


def test_off_segment_targets_are_at_distance_one_from_the_ends():
    from numeric.reach import off_segment_targets

    ends = [[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]]
    off = off_segment_targets(ends)
    assert [((o[0] - e[0]) ** 2 + (o[1] - e[1]) ** 2) ** 0.5 for o, e in zip(off, ends)] == pytest.approx([1.0] * 3)
    assert off_segment_targets([[0.0, 0.0]] * 3)[0] == [1.0, 0.0]


def test_realised_flip_confirms_a_lora_reversal_and_refuses_a_prefix_one():
    """A LoRA update may move content logits separately (e = (1, 2) -> f = (3, 1) flips the order); a prefix only
    adds mass P to the denominator, so no witness of it can flip (the re-check rejects a forged one)."""
    from numeric.reach import realised_flip

    assert realised_flip("lora", [1.0, 2.0, 1.0], f=[3.0, 1.0, 1.0])[0]
    assert not realised_flip("prefix", [1.0, 2.0, 1.0], P=5.0)[0]
    with pytest.raises(ValueError):
        realised_flip("lora", [1.0, 2.0])


def test_reverse_witness_puts_the_pair_first():
    from theory.smt_prefix import ReverseQuery, reverse_witness, solve

    q = ReverseQuery(4, [(2, 1)], "lora")
    cs, handles = q.build()
    r = solve(cs, 30.0)
    assert r.result == "sat"
    w = reverse_witness(r.model, handles, (2, 1))
    assert w["names"] == [2, 1, 0, 3]
    assert w["l"][0] < w["l"][1] and set(w) == {"names", "l", "e", "f"}


def test_order_flips_counts_lora_flips_only():
    from numeric.reach import order_flips

    assert order_flips("prefix", 2, seed=1, n=8, d=4)[0] == 0
    flips, pairs = order_flips("lora", 2, seed=1, n=8, d=4)
    assert 0 < flips <= pairs


def test_best_fits_separation_prefix_misses_lora_reaches():
    """The catalogue's separation task: the float64 fits agree with the claim (prefix above eps, LoRA within)."""
    from numeric.reach import Fit, best_fits
    from proofs.catalogue.reachability import EPS, separation_problem
    from proofs.search_checks import separation_methods

    _, prefix = separation_methods()
    p = separation_problem(-3.0, prefix)
    best = best_fits(p.W_Q, p.W_K, p.W_V, p.tau, p.task.inputs, p.task.outputs, [Fit("prefix", n_S=2), Fit("lora")],
                     4, seed=0, tol=EPS)
    assert best["prefix"] > EPS >= best["lora"]
