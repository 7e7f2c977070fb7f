"""Depth claims: each is ok, and each checker catches its false twin in every layer."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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
    pytest.param(depth.layer1_claim("twin.layer1_without_position", add_position=False), FAILING),
    pytest.param(depth.rope_claim("twin.rope_keys_not_rotated", rotate_keys=False, pos="learned"), FAILING),
    pytest.param(depth.rank1_claim("twin.rank1_half", factor=(-1, 2)), FAILING),
    # a pinned-false claim moved into the setting where it is true: every layer must find it holds (mismatch)
    pytest.param(depth.prompt_prefix_claim("twin.bidirectional_made_causal", causal=True, expected="fails"), HOLDING),
    pytest.param(depth.shift_claim("twin.shift_with_rope", positions=("rope", "alibi"), expected="fails"), HOLDING,
                 marks=pytest.mark.slow),
    pytest.param(depth.deep_claim("twin.deep_layer_1", layer=1, expected="fails"), HOLDING),
]


@pytest.mark.parametrize("claim, wanted", TWINS, ids=lambda c: getattr(c, "id", "refuted" if c is FAILING else "holds"))
def test_twin_is_a_mismatch_in_every_layer(claim, wanted) -> None:
    result = run_claim(claim, CTX)
    assert result.verdict == "mismatch"
    for name, layer in result.layers.items():
        assert layer.status in wanted, (name, layer.detail)


def test_witnesses_are_recorded() -> None:
    (shift,) = [c for c in depth.CLAIMS if c.id == "prefix.absolute_pe_shift"]
    numeric = run_claim(shift, CTX).layers["numeric"]
    assert numeric.witness["variant"].split("/")[1] in ("learned", "sinusoidal")
    assert abs(numeric.witness["attention_without_prefix"]
               - numeric.witness["renormalised_attention_with_prefix"]) == pytest.approx(numeric.max_error)


# ---- the engines the declarations call -------------------------------------------------------------------------

def test_zero_tests_prove_only_when_every_residual_is_exactly_zero() -> None:
    import sympy as sp

    from proofs.layer_results import zero_tests
    from theory.kernel import ZeroTest, decide_zero

    x = sp.Symbol("x", real=True)
    zero, nonzero = decide_zero(sp.expand((x + 1) ** 2 - x**2 - 2 * x - 1)), decide_zero(x**2 + 1 - x)
    proved = zero_tests([zero], "expanded", "sympy", "all real x")
    assert proved.status is Status.PROVED and proved.certificate is not None
    false_twin = zero_tests([zero, nonzero], "expanded", "sympy", "all real x")
    assert false_twin.status is Status.REFUTED and false_twin.witness["point"] == nonzero.witness
    assert zero_tests([zero, ZeroTest("unknown", "timeout")], "", "sympy", "").status is Status.UNKNOWN


def test_a_failed_derivation_step_refutes_only_when_the_chain_is_the_claim() -> None:
    import sympy as sp

    from proofs.layer_results import failed_step
    from theory.derivation import chain

    x = sp.Symbol("x", real=True)
    good = chain("square", (x + 1) ** 2, [(x**2 + 2 * x + 1, "expand")]).check()
    bad = chain("square", (x + 1) ** 2, [(x**2 + 1, "drop the cross term")]).check()
    assert failed_step(good, "sympy", refutes=True) is None
    assert failed_step(bad, "sympy", refutes=True).status is Status.REFUTED
    assert failed_step(bad, "sympy", refutes=False).status is Status.UNKNOWN


def test_measured_is_consistent_within_the_tolerance_only() -> None:
    from numeric.depth import Finding
    from proofs.layer_results import measured

    assert measured(Finding(1e-12, 8), 1e-10, "error", "8 inputs").status is Status.CONSISTENT
    twin = measured(Finding(1e-9, 8, {"input": 3}), 1e-10, "error", "8 inputs")
    assert twin.status is Status.VIOLATED and twin.witness == {"input": 3}


def test_sweep_measures_the_selected_variants_and_keeps_the_worst() -> None:
    from numeric.depth import Finding, models_per_variant, sweep

    seen = []

    def measure(v, seed, models):
        seen.append((v.name, seed, models))
        return Finding(1.0 if v.norm == "post" else 0.0, 1, {"variant": v.name})

    worst, count = sweep(lambda v: v.pos == "rope", measure, 7, instances=3000)
    assert count == len(seen) == 8 and all(name.split("/")[1] == "rope" and s == 7 and m == 3 for name, s, m in seen)
    assert worst.max_error == 1.0 and worst.witness["variant"].startswith("post/") and worst.instances == 8
    assert models_per_variant(1000) == models_per_variant(10) == 1


def test_rank1_reversal_is_exact_in_its_factor() -> None:
    from fractions import Fraction

    from theory.finetune import rank1_reversal

    two_d, general, rank = rank1_reversal(-2)
    assert (two_d.status, general.status, rank) == ("zero", "zero", 1)
    two_d, general, _ = rank1_reversal(Fraction(-1, 2))  # halves the logits: orders kept, not reversed
    assert two_d.status == "nonzero" and general is None


def test_the_float_reversal_matches_the_exact_one() -> None:
    from numeric.finetune import reversal

    explicit, random = reversal(seed=0, models=2)
    assert explicit.max_error == random.max_error == 0.0
    assert (explicit.witness["argmax_before"], explicit.witness["argmax_after"]) == (-0.7, 2.0)
    explicit, random = reversal(seed=0, models=2, factor=-0.5)
    assert explicit.max_error == 1.0 and random.max_error == 1.0


@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data())
@settings(max_examples=50, deadline=None)
def test_worst_entry_index_is_torchs_unravel_index(shape, data) -> None:
    from numeric.depth import _unravel

    flat = data.draw(st.integers(0, math.prod(shape) - 1))
    assert _unravel(flat, tuple(shape)) == [int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(shape))]
