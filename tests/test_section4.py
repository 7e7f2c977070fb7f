"""Section 4 claims: each is ok, and each checker catches a false twin in every layer that applies."""
from __future__ import annotations

import pytest

from proofs.catalogue import section4 as s4
from proofs.claim import Context, Status
from proofs.registry import catalogue
from proofs.runner import run_claim
from proofs.testing import FAILS, assert_caught
from theory.head import Shape

CTX = Context(seed=0, timeout=20.0, instances=200)
HOLDS = {Status.PROVED, Status.CONSISTENT}
SECTION4 = [c for c in catalogue() if c.section == s4.SECTION]


SLOW_CLAIMS = {"prefix.multihead.span", "prefix.multi.closed_form"}  # over half a second of CPU each


@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.slow) if c.id in SLOW_CLAIMS else c
                                   for c in SECTION4], ids=lambda c: c.id)
def test_catalogue_claim_ok(claim):
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", {k: v.detail for k, v in result.layers.items()}
    wanted = HOLDS if claim.expected == "holds" else FAILS
    assert {r.status for r in result.layers.values()} <= wanted


def _twin(claim_id: str, statement, **kw):
    original = next(c for c in SECTION4 if c.id == claim_id)
    return s4.identity_claim(claim_id + ".twin", "false twin", "test", "twin", statement,
                             **{"smt": original.smt is not None, **kw})


def _all_fail(claim):
    return assert_caught(claim, seed=CTX.seed, timeout=CTX.timeout, instances=CTX.instances)


# Each twin changes one thing: a sign, a weight, a dropped term, a wrong normaliser.
IDENTITY_TWINS = {
    "prefix.alpha_sigmoid": (lambda E: (E.h.alpha, E.h.sigmoid(E.h.l_prefix[0] + E.h.lse)), {}),
    "prefix.single.closed_form": (lambda E: (E.h.t_pt, (1 + E.h.alpha) * E.h.t + E.h.alpha * E.h.u[0]), {}),
    "prefix.contraction": (lambda E: (E.h.t_pt - E.h.u[0], (1 - E.h.alpha) * (E.h.t + E.h.u[0])), {}),
    "prefix.relative_attention": (lambda E: (E.h.A_pt, E.h.A), {}),
    "prefix.multi.closed_form": (lambda E: (E.h.t_pt, (1 - E.h.alpha) * E.h.t), {"shape": s4.MULTI}),
    "prefix.multi.mixture_softmax": (lambda E: (E.h.alphas[0], E.h.prefix_softmax[0]), {"shape": s4.MULTI}),
    "prefix.content_mass": (lambda E: (E.h.mass_pt, 1 - E.h.alphas[0]), {"shape": s4.MULTI}),
    "prefix.multihead.span": (
        lambda E: (E.total([E.h.matvec(E.W_O(h), E.view(0, h).t_pt) for h in range(2)]),
                   E.total([E.h.matvec(E.W_O(h), (1 - E.view(0, h).alpha) * E.view(0, h).t) + E.view(0, h).alpha
                            * E.view(0, h).u[0] for h in range(2)])),
        {"shape": s4.TWO_HEADS, "general_d": 2, "smt_n": 2}),
}


@pytest.mark.parametrize("claim_id", sorted(IDENTITY_TWINS))
def test_identity_twin_is_caught(claim_id):
    statement, kw = IDENTITY_TWINS[claim_id]
    result = _all_fail(_twin(claim_id, statement, **kw))
    assert len(result.layers) == len(next(c for c in SECTION4 if c.id == claim_id).checks())


def test_ordering_twin_is_caught():
    """A map that is j-independent but not positive (2 alpha - 1) flips the order when alpha < 1/2."""
    _all_fail(s4.order_claim("prefix.ordering.twin", "twin", lambda h: h.A - h.A_pt * 2))


@pytest.mark.slow
def test_eq7_twin_is_caught():
    """With Delta H != 0 the prediction t + Delta W_V xbar is wrong: the attention pattern moved."""
    _all_fail(s4.eq7_claim("finetune.eq7.twin", delta_H=True))


# Pinned-false claims: their checker must not invent counterexamples. Fed the *true* neighbour of the false
# statement, every layer must find it holds (and the verdict is a mismatch against expected="fails").
TRUE_NEIGHBOURS = {
    "prefix.bias_parallel_naive": (
        lambda E: (E.h.minors(E.h.t_pt - E.h.t, E.h.u[0] - E.h.t), 0 * E.h.minors(E.h.t, E.h.t)),
        {"general_d": 2, "smt_n": 2}),
    "prefix.multihead.single_direction": (
        lambda E: (E.h.minors(E.view(0).bias + 0 * E.view(0).t, E.view(1).bias + 0 * E.view(1).t),
                   0 * E.h.minors(E.view(0).t, E.view(0).t)),
        {"shape": Shape(inputs=2, heads=1), "general_d": 2, "smt_n": 2}),
    "prefix.longer.fixed_direction": (
        s4.longer_fixed_direction, {"shape": Shape(inputs=2, n_S=1), "general": False, "smt_n": 2}),
}


@pytest.mark.parametrize("claim_id", sorted(TRUE_NEIGHBOURS))
@pytest.mark.slow
def test_pinned_false_checker_accepts_true_neighbour(claim_id):
    statement, kw = TRUE_NEIGHBOURS[claim_id]
    claim = _twin(claim_id, statement, expected="fails", **kw)
    result = run_claim(claim, CTX)
    assert {r.status for r in result.layers.values()} <= HOLDS, {k: v.detail for k, v in result.layers.items()}
    assert result.verdict == "mismatch"


def test_counterexamples_carry_validated_witnesses():
    claim = next(c for c in SECTION4 if c.id == "prefix.bias_parallel_naive")
    result = run_claim(claim, CTX)
    smt = result.layers["smt"]
    assert smt.status is Status.COUNTEREXAMPLE and smt.witness["error"] > 1e-6
    assert result.layers["numeric"].witness["instance"] >= 0
    assert result.layers["symbolic"].witness["point"]
