"""Foundation pieces: verdict logic, derivations, zero tests, timeouts, input validation."""
from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from proofs.catalogue import section4 as s4
from proofs.checks import smt_identity, smt_order
from proofs.claim import Claim, Context, LayerResult, Status, verdict
from proofs.runner import run_claim
from theory.derivation import chain
from theory.head import Shape
from theory.kernel import decide_zero as zero_test

P, C, R, V, U, E = (Status.PROVED, Status.CONSISTENT, Status.REFUTED, Status.VIOLATED, Status.UNKNOWN, Status.ERROR)


def certificate():
    """A genuine kernel certificate (for a trivially true residual), for results that need one."""
    from theory.kernel import certify_zero, decide_zero

    return certify_zero([decide_zero(0)], "test", "none")


def layers(*statuses):
    return {name: LayerResult(s, certificate=certificate() if s is Status.PROVED else None)
            for name, s in zip(("symbolic", "numeric", "smt"), statuses)}


@pytest.mark.parametrize("expected, statuses, want", [
    ("holds", (P, C, P), ("ok", "holds")),
    ("holds", (P, V, P), ("mismatch", "conflict")),
    ("holds", (R, V), ("mismatch", "fails")),
    ("holds", (P, C, U), ("inconclusive", "holds")),
    ("holds", (U,), ("inconclusive", "unknown")),
    ("fails", (R, V, Status.COUNTEREXAMPLE), ("ok", "fails")),
    ("fails", (P,), ("mismatch", "holds")),
    ("fails", (R, E), ("inconclusive", "fails")),
    (None, (P, C), ("ok", "holds")),
    (None, (R, C), ("mismatch", "conflict")),
    (None, (U,), ("inconclusive", "unknown")),
])
def test_verdict(expected, statuses, want):
    assert verdict(expected, layers(*statuses)) == want


def test_claim_validation():
    with pytest.raises(ValueError, match="at least one"):
        Claim("x.y", "t", "r", "s")
    with pytest.raises(ValueError, match="expected"):
        Claim("x.y", "t", "r", "s", expected="maybe", numeric=lambda ctx: LayerResult(P))


def test_raising_check_is_an_error_for_that_layer_only():
    def boom(ctx):
        raise RuntimeError("kaput")

    claim = Claim("x.boom", "t", "r", "s", symbolic=boom, numeric=lambda ctx: LayerResult(C))
    result = run_claim(claim, Context())
    assert result.layers["symbolic"].status is E and "kaput" in result.layers["symbolic"].detail
    assert result.layers["numeric"].status is C
    assert result.verdict == "inconclusive"


def test_derivation_detects_a_wrong_step():
    a, b = sp.symbols("a b", positive=True)
    good = chain("g", (a + b) ** 2, [(a**2 + 2 * a * b + b**2, "expand")])
    bad = chain("b", (a + b) ** 2, [(a**2 + b**2, "forgot the cross term")])
    assert good.check().ok
    result = bad.check()
    assert not result.ok and result.failed.test.status == "nonzero" and result.failed.test.witness


def test_zero_test_exp_log_path():
    p, z = sp.symbols("p z", positive=True)
    assert zero_test(p / (p + z) - 1 / (1 + sp.exp(sp.log(z) - sp.log(p)))).status == "zero"


def test_tiny_timeout_gives_unknown():
    ctx = Context(timeout=1e-9)
    assert smt_order(n=6)(ctx).status is Status.UNKNOWN
    hard = smt_identity(s4.multihead_span, Shape(heads=3), n=4, d=3)
    assert hard(Context(timeout=1e-4)).status is Status.UNKNOWN


def test_nan_weights_rejected():
    from numeric.attention import HeadInstances

    X = torch.zeros(1, 2, 2, dtype=torch.float64)
    bad = torch.full((1, 2, 2), math.nan, dtype=torch.float64)
    with pytest.raises(ValueError, match="NaN"):
        HeadInstances(X, bad, X[:, :, :2], X[:, :, :2], X[:, :1], 1.0)


def test_impossible_dimensions_rejected():
    from numeric.attention import random_instances
    from theory.head import UnrolledHead

    with pytest.raises(ValueError, match="impossible"):
        random_instances(4, 0, 3)
    with pytest.raises(ValueError, match="impossible"):
        UnrolledHead(0, 2)


def test_numeric_checks_are_deterministic():
    ctx = Context(seed=5, instances=64)
    claim = next(c for c in s4.CLAIMS if c.id == "prefix.bias_parallel_naive")
    first, second = claim.numeric(ctx), claim.numeric(ctx)
    assert first.max_error == second.max_error and first.witness == second.witness
    assert claim.numeric(Context(seed=6, instances=64)).witness != first.witness


def test_realized_witness_reproduces_solver_weights():
    from numeric.attention import TorchEnv
    from numeric.realize import realize

    numbers = {"w": [0.5, 2.0, 1.5], "v": [[1, 0], [0, 1], [1, 1]], "p": [3.0], "u": [[2.0, -1.0]]}
    (inst,) = realize([numbers], numbers["u"])
    h = TorchEnv([[inst]], []).h
    weights = torch.tensor([3.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    assert torch.allclose(h.A_full[0, -1], weights / weights.sum(), atol=1e-14)
    assert torch.allclose(h.t_pt[0, -1], (weights[:, None] * torch.tensor([[2.0, -1], [1, 0], [0, 1], [1, 1]],
                                          dtype=torch.float64)).sum(0) / weights.sum(), atol=1e-14)


def test_closed_form_with_raw_key_value_prefix():
    """The peft form (raw key/value vectors instead of W_K s, W_V s) obeys the same identity with u = v_0."""
    from proofs.checks import numeric_identity

    result = numeric_identity(s4.single_closed_form, prefix="kv")(Context(instances=100))
    assert result.status is Status.CONSISTENT and result.max_error < 1e-12


def test_seeds_differ_per_claim_but_are_reproducible():
    a, b = Context(seed=1, claim_id="x"), Context(seed=1, claim_id="y")
    assert a.child_seed("numeric") != b.child_seed("numeric")
    assert a.child_seed("numeric") == Context(seed=1, claim_id="x").child_seed("numeric")
