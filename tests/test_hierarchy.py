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


# ---- the exact decisions and float64 re-checks the declarations call ---------------------------------------------

def test_the_target_decision_certifies_the_outside_target_and_realises_the_inside_one():
    from theory.layer2 import OUTSIDE, decide_target, inside_target, z3_prefix

    outside = decide_target(OUTSIDE, timeout=20)
    assert outside.tie.status == "zero" and outside.answer.result == "unsat" and outside.certificate is not None
    assert outside.prefix is None and z3_prefix(OUTSIDE, 20) is None
    inside = decide_target(inside_target(), timeout=20)  # the false twin: a target in P
    assert inside.certificate is None and inside.prefix is not None and inside.residual <= 1e-12
    assert z3_prefix(inside_target(), 20) == [float(v) for v in inside.prefix]


def test_z3_numbers_are_exact_when_rational():
    import sympy as sp
    import z3

    from theory.layer2 import z3_number

    x, y = z3.Reals("x y")
    solver = z3.Solver()
    solver.add(3 * x == 1, y * y == 2, y > 0)
    assert solver.check() == z3.sat
    assert z3_number(solver.model(), x) == sp.Rational(1, 3)
    assert abs(float(z3_number(solver.model(), y)) - 2 ** 0.5) < 1e-15  # irrational: a 40-digit rational approximation


def test_the_lora_decision_reaches_the_outside_target_only_on_layer_1():
    from theory.layer2 import OUTSIDE, decide_lora, lora_point

    layer1 = decide_lora(OUTSIDE, 0, timeout=20)
    assert layer1.answer.result == "sat" and layer1.test.status == "zero" and layer1.certificate is not None
    assert lora_point(OUTSIDE, 0, 20) == [float(v) for v in layer1.point]
    layer2 = decide_lora(OUTSIDE, 1, timeout=20)  # W_O of layer 2 acts after the layer-2 logits
    assert layer2.answer.result == "unsat" and layer2.certificate is None


def test_the_strict_decision_certifies_only_the_erasing_model():
    from theory.strictness import decide

    strict = decide(write_b=True)
    assert strict.invariant.status == strict.reach.status == "zero" and strict.certificate is not None
    twin = decide(write_b=False)
    assert twin.invariant.status == "nonzero" and twin.reach is None and twin.certificate is None


@pytest.mark.slow
def test_float_rechecks_find_what_is_reachable_and_miss_what_is_not():
    from numeric.layer2 import reach_targets
    from numeric.strictness import strict_run
    from theory.layer2 import H2_ROWS, OUTSIDE, QUERY, W_V1_ROWS, X_ROWS, inside_target
    from theory.strictness import PREFIX, TARGET, X_TARGET

    inside, outside = reach_targets(W_V1_ROWS, H2_ROWS, X_ROWS, QUERY, [inside_target(), OUTSIDE], [None, None], 3, 0)
    assert inside.distance <= 1e-9 and outside.distance > 0.1 and "L-BFGS" in inside.how
    strict = strict_run(True, TARGET, X_TARGET, PREFIX, 64, 3, 0)
    assert strict.prefix_error <= 1e-12 and strict.invariant_error <= 1e-9 and strict.soft.distance > 0.1
    assert strict_run(False, TARGET, X_TARGET, PREFIX, 64, 3, 0).soft.distance <= 1e-9  # the twin: reachable


def test_minimise_runs_lbfgs_in_place():
    import torch

    from numeric.adapt import minimise

    x = torch.tensor([3.0, -2.0], dtype=torch.float64, requires_grad=True)
    minimise([x], lambda: ((x - torch.tensor([1.0, 0.5], dtype=torch.float64)) ** 2).sum(), 50)
    assert torch.allclose(x.detach(), torch.tensor([1.0, 0.5], dtype=torch.float64), atol=1e-10)


def test_judged_takes_the_first_failure_that_holds():
    from proofs.layer_results import judged

    rules = [(False, Status.VIOLATED, "missed target reached", 0.0), (True, Status.UNKNOWN, "not reached", None)]
    assert judged("facts", {}, 2, 0.0, rules).status is Status.UNKNOWN
    assert judged("facts", {}, 2, 0.0, [(True, Status.VIOLATED, "x", 0.5), *rules]).max_error == 0.5
    ok = judged("facts", {"s": 1}, 2, 1e-15, [rule for rule in rules if not rule[0]], found="FOUND: ")
    assert ok.status is Status.CONSISTENT and ok.detail == "FOUND: facts" and ok.max_error == 1e-15
