"""Section 3 capacity claims: every claim ok, every false twin caught in every layer that applies, and the
constructions checked at their limits (wrong virtual token, temperature threshold, float32 precision)."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from proofs.catalogue import capacity as cap
from proofs.claim import Context, Status
from proofs.constructions import float_weights
from proofs.runner import run_claim
from proofs.testing import assert_caught

CTX = Context(seed=0)


@pytest.mark.parametrize("claim", cap.CLAIMS, ids=lambda c: c.id)
@pytest.mark.slow
def test_catalogue_claim_is_ok(claim):
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", {k: (v.status, v.detail) for k, v in result.layers.items()}
    assert all(r.status in (Status.PROVED, Status.CONSISTENT) for r in result.layers.values())


def _wrong_decoder(V: int, d: int):
    from theory.constructions.network import Sparse

    return Sparse.build(V, d, {**{(u, 0): Fraction(2 * u, V) - 1 for u in range(V)},
                               **{(u, 1): Fraction(1, 4) + Fraction(u * u, V * V) for u in range(V)}})


SLOW = pytest.mark.slow
TWINS = [
    pytest.param(cap.single_token_claim("twin.single", offset=(0, 0, Fraction(1, 4))), marks=SLOW),
    cap.conditional_map_claim("twin.map", offset=(0, 0, Fraction(1, 4))),
    pytest.param(cap.conditional_sequence_claim("twin.sequence", offset=(0, 0, Fraction(1, 3))), marks=SLOW),
    pytest.param(cap.two_token_claim("twin.two_token", offset=(0, 0, Fraction(1, 2))), marks=SLOW),
    cap.decoder_claim("twin.decoder", readout=lambda u, V, z: (2 * u / V - 1) * z + Fraction(1, 4) + u * u / (V * V),
                      weights=_wrong_decoder),
    cap.temperature_claim("twin.temperature", bound=lambda V: 2 * V),
    cap.hard_token_claim("twin.hard_token.bound", bound=lambda V, n_S: V ** (n_S - 1)),
    cap.hard_token_claim("twin.hard_token.sampled", decoding="sample"),
    cap.hard_token_claim("twin.hard_token.soft_point", soft_scale=0.0),
]


@pytest.mark.parametrize("twin", TWINS, ids=lambda c: c.id)
def test_false_twin_is_caught_in_every_layer(twin):
    assert_caught(twin)


def test_virtual_token_off_by_one_over_V_generates_a_different_sequence():
    from numeric.constructions.transformer import generate, to_model, virtual_tensor
    from theory.constructions import unconditional
    from theory.exact import generate as exact_generate

    V, N = 94, 20
    net = unconditional.build(V, N)
    target = [(7 * n + 3) % (V - 1) for n in range(N)]
    good = list(unconditional.virtual_token(net, target))
    bad = list(good)
    bad[5] += Fraction(1, V)
    model = to_model(float_weights(net))
    assert generate(model, virtual_tensor([[good]]), None, N)[0].tolist() == target
    wrong = generate(model, virtual_tensor([[bad]]), None, N)[0].tolist()
    assert wrong != target and wrong[5] == target[5] + 1
    exact = exact_generate(net, [bad], [], N)
    assert exact.complete and exact.tokens == wrong


def test_below_the_temperature_threshold_the_worst_target_fails():
    from numeric.constructions.sweeps import sweep_unconditional
    from theory.constructions import unconditional
    from theory.constructions.sweeps import exact_unconditional

    V, N = 10, 6
    T_star = Fraction(unconditional.threshold_T(V, N))
    worst = torch.full((1, N), V - 1, dtype=torch.long)
    below, above = T_star * (1 - Fraction(1, 10 ** 5)), T_star * (1 + Fraction(1, 10 ** 5))
    w_below, w_above = (float_weights(unconditional.build(V, N, T)) for T in (below, above))
    assert sweep_unconditional(w_below, worst).failures == 1
    assert sweep_unconditional(w_above, worst).failures == 0
    assert exact_unconditional(V, N, [[V - 1] * N], T=below).failures == 1
    assert exact_unconditional(V, N, [[V - 1] * N], T=above).ok
    # a symbol below V - 1 has more room: (2V + 2Y - 1)(L - 1) < (4V - 3)(L - 1)
    assert sweep_unconditional(w_below, torch.full((1, N), V - 2, dtype=torch.long)).failures == 0


def test_batched_threshold_equals_the_sequential_bisection():
    """`threshold` decides several bisection levels per batch (one temperature per sequence): the same final
    temperature as one level at a time, and each batched row decodes as the model at its own temperature."""
    import dataclasses

    from numeric.constructions.sweeps import _midpoints, generate, sweep_unconditional, threshold, to_model
    from theory.constructions import unconditional

    V, N = 10, 6
    T_star = unconditional.threshold_T(V, N)
    worst = torch.full((1, N), V - 1, dtype=torch.long)
    net = float_weights(unconditional.build(V, N))
    sequential = threshold(net, worst, T_star / 2, T_star * 2, 11, depth=1)
    assert threshold(net, worst, T_star / 2, T_star * 2, 11, depth=4) == sequential
    assert abs(sequential - T_star) / T_star < 1e-3
    mids = _midpoints(T_star * 0.99, T_star * 1.01, 3)
    model = to_model(net)
    model.cfg.logit_scale.T = torch.tensor(mids, dtype=torch.float64)[:, None, None]
    virtual = torch.zeros(len(mids), 1, net.d, dtype=torch.float64)
    virtual[:, 0, :N] = (V - 1) / V
    batched = (generate(model, virtual, None, N) != worst).any(dim=1).tolist()
    assert batched == [bool(sweep_unconditional(dataclasses.replace(net, T=m), worst).failures) for m in mids]
    assert True in batched and False in batched


def test_failing_steps_below_the_threshold_are_exactly_those_the_derivation_predicts():
    """Exact boxes at a too-low T: the (length L, symbol y) steps that fail are exactly those with
    e^{T/sqrt L} <= (2V + 2y - 1)(L - 1) (capacity.temperature_condition)."""
    import math

    from theory.constructions.sweeps import exact_unconditional_all

    V, N, T = 10, 12, Fraction(18)
    predicted = [(L, y) for L in range(2, N + 1) for y in range(1, V)
                 if math.exp(T / math.sqrt(L)) <= (2 * V + 2 * y - 1) * (L - 1)]
    sweep = exact_unconditional_all(V, N, T=T)
    assert sweep.uncertified == 0 and sweep.failures == len(predicted) > 0
    first = sweep.first_failure
    assert (first["length"], first["symbol"]) == predicted[0] and first["generated"] == first["symbol"] - 1


def test_float32_breaks_the_two_token_map_where_float64_and_exact_do_not():
    from numeric.constructions.sweeps import random_tuples, sweep_two_token
    from theory.constructions import two_token
    from theory.constructions.sweeps import exact_two_token, random_tables

    V = 8  # V^V = 2^24: float32 cannot resolve the table, float64 can
    maps = random_tuples(V, V * V, 6, seed=1).reshape(-1, V, V)
    net = float_weights(two_token.build(V))
    assert sweep_two_token(net, maps, dtype=torch.float32).failures > 0
    assert sweep_two_token(net, maps, dtype=torch.float64).failures == 0
    assert exact_two_token(V, random_tables(V, V, 1, seed=2), pairs=[(0, 1), (7, 7), (3, 5)]).ok
    assert sweep_two_token(float_weights(two_token.build(7)), random_tuples(7, 49, 6, seed=1).reshape(-1, 7, 7),
                           dtype=torch.float32).failures == 0


def test_soft_prompt_adapter_and_batched_embeds_agree():
    from numeric.constructions.transformer import generate, generate_soft_prompt, to_model, virtual_tensor
    from theory.constructions import conditional

    V, N0 = 6, 3
    net = conditional.build_sequence(V, N0)
    m = [[(x + k) % V for k in range(N0)] for x in range(V)]
    vt = conditional.sequence_tokens(net, m)
    model = to_model(float_weights(net))
    for x in range(V):
        batched = generate(model, virtual_tensor([vt]), torch.tensor([[x]]), N0)[0].tolist()
        assert batched == generate_soft_prompt(model, virtual_tensor([vt])[0], [x], N0) == m[x]


def test_two_token_map_is_one_transformer_without_a_python_decoder():
    from numeric.constructions.transformer import to_model
    from theory.constructions import two_token

    net = two_token.build(5)
    model = to_model(float_weights(net))
    assert len(model.layers) == 2 and [len(layer.heads) for layer in net.layers] == [2, 2]
    assert len(net.layers[0].mlp) == 2 * 5 + 2  # the digit extractor: explicit affine maps


def test_network_rejects_bad_shapes_and_inputs():
    from theory.constructions import conditional, unconditional

    with pytest.raises(ValueError):
        unconditional.build(0, 3)
    net = unconditional.build(4, 3)
    with pytest.raises(ValueError):
        unconditional.virtual_token(net, [0, 1])
    with pytest.raises(ValueError):
        unconditional.virtual_token(net, [0, 1, 4])
    with pytest.raises(ValueError):
        net.inputs([unconditional.virtual_token(net, [0, 1, 2])], [0, 0, 0])
    with pytest.raises(ValueError):
        conditional.map_token(conditional.build_map(3), [0, 1, 3])


def test_catalogue_and_construct_sweep_share_one_plan():
    """The claims run the sweeps of proofs.constructions.DEFAULT (what `construct sweep` runs), and each sweep
    counts the cases the plan declares."""
    from proofs.constructions import DEFAULT

    detail = cap.conditional_map_claim().numeric(CTX).detail
    assert all(s.label in detail for s in DEFAULT["conditional_map"] if not s.exact)
    for sweep in (s for group in DEFAULT.values() for s in group if s.cases <= 300):
        result = sweep.run(0)
        assert result.cases == sweep.cases and result.failures == 0, sweep.label
