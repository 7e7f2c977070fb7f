"""The exact evaluator: interval enclosures of exp and sqrt, certified argmax, and the sympy capacity derivations."""
from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import interval as iv
from theory.exact import ExactNetwork, certified_argmax, generate

mpmath.mp.prec = 600


@settings(max_examples=60, deadline=None)
@given(st.fractions(min_value=-800, max_value=800, max_denominator=10 ** 6), st.sampled_from([64, 128, 300]))
def test_exp_enclosure_contains_the_true_value(x, bits):
    one = 1 << bits
    lo, hi = iv.exp(iv.enclose(x, bits), bits)
    true = mpmath.exp(mpmath.mpf(x.numerator) / x.denominator)
    assert mpmath.mpf(lo) / one <= true <= mpmath.mpf(hi) / one
    assert hi - lo <= max(16, int(true * 2 ** -40 * one))  # tight: relative width far below 2^-40


@given(st.fractions(min_value=0, max_value=2000, max_denominator=1000), st.integers(1, 500))
def test_sqrt_ratio_encloses_t_over_sqrt_L(t, L):
    lo, hi = iv.sqrt_ratio(t, L, 100)
    true = mpmath.mpf(t.numerator) / t.denominator / mpmath.sqrt(L)
    assert mpmath.mpf(lo) / 2 ** 100 <= true <= mpmath.mpf(hi) / 2 ** 100
    assert hi - lo <= 2


def test_interval_arithmetic_is_outward_rounded():
    bits = 20
    a, b = iv.enclose(Fraction(1, 3), bits), iv.enclose(Fraction(-2, 7), bits)
    for got, true in ((iv.mul(a, b, bits), Fraction(-2, 21)), (iv.scale(a, -5, 3), Fraction(-5, 9)),
                      (iv.scale(b, 7, 1), Fraction(-2)), (iv.enclose(Fraction(-1, 3), bits), Fraction(-1, 3))):
        lo, hi = Fraction(got[0], 1 << bits), Fraction(got[1], 1 << bits)
        assert lo <= true <= hi and hi - lo <= Fraction(8, 1 << bits)
    with pytest.raises(ValueError):
        iv.sqrt_ratio(-1, 2, bits)


def test_certified_argmax_refuses_overlaps_and_ties():
    assert certified_argmax([(0, 1), (5, 6), (2, 3)]) == 1
    assert certified_argmax([(0, 5), (4, 6)]) is None
    assert certified_argmax([(4, 4), (4, 4)]) is None


def test_exact_tie_on_the_decision_boundary_is_never_certified():
    """z exactly halfway between two grid points: the evaluator must not pick a side."""
    from theory.constructions import conditional

    net = conditional.build_map(2)
    # r_x = 1/4 is halfway between 0/2 and 1/2: the read-out f_0(1/4) = f_1(1/4)
    rows = net.inputs([(Fraction(1, 4), Fraction(1, 4), 0, 0)], [0])
    step = ExactNetwork(net).step(rows, bits=64, max_bits=512)
    assert step.token is None and step.bits == 512


def test_interval_valued_inputs_certify_only_uniform_decisions():
    """A box of virtual tokens is certified only if every token in it decodes the same way."""
    from theory.constructions import conditional

    net = conditional.build_map(4)
    exact = ExactNetwork(net)
    narrow = net.inputs([((Fraction(2, 4), Fraction(2, 4) + Fraction(1, 100)), 0, 0, 0, 0, 0)], [0])
    wide = net.inputs([((Fraction(0), Fraction(3, 4)), 0, 0, 0, 0, 0)], [0])
    assert exact.step(narrow).token == 2
    assert exact.step(wide, max_bits=256).token is None


def test_capacity_derivations_reduce_to_zero():
    from theory import capacity

    for d in (capacity.decoder_identity(), capacity.decoder_gap(), capacity.temperature_error(),
              capacity.temperature_margin(), capacity.sufficient_gap()):
        assert d.check().ok, d.title
    assert abs(float(capacity.threshold(94, 20)) - 39.6500351868712) < 1e-9


def _fingerprint(net) -> str:
    import hashlib

    parts = [repr((net.V, net.d, net.n_pos, net.T)), repr(net.E), repr(net.P), repr(net.W_U), repr(net.layers)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def test_constructions_keep_their_exact_weights_and_outputs():
    """The weights and exact logits as built in numeric/constructions before the move to theory/constructions."""
    from theory.constructions import conditional, two_token, unconditional

    nets = (unconditional.build(4, 3), unconditional.build(94, 20), conditional.build_map(3),
            conditional.build_sequence(3, 2), two_token.build(3))
    assert [_fingerprint(n) for n in nets] == ["5346f6837c3cd092", "2989435f60e68724", "d250a85f4f63c1b9",
                                               "231483260d802d5f", "bac2a7ef41944005"]
    net = conditional.build_map(3)
    step = ExactNetwork(net).step(net.inputs([conditional.map_token(net, [2, 0, 1])], [1]), bits=64)
    assert step.token == 0 and step.logits == [(4611686018427387903, 4611686018427387904),
                                               (2562047788015215501, 2562047788015215503),
                                               (-3586866903221301704, -3586866903221301702)]
    net = two_token.build(3)
    step = ExactNetwork(net).step(net.inputs([two_token.table_token(net, [[0, 1, 2], [2, 2, 0], [1, 0, 1]])], [1, 2]),
                                  bits=64)
    assert step.token == 0 and step.logits == [(4611686018427387898, 4611686018427387904),
                                               (2562047788015215500, 2562047788015215503),
                                               (-3586866903221301704, -3586866903221301701)]


def test_bound_dominance_decides_exactly_against_4V_minus_3():
    from theory import capacity

    assert capacity.bound_dominance(lambda V: 4 * V - 3, "t").certificate is not None
    assert capacity.bound_dominance(lambda V: 4 * V - 1, "t").certificate is not None
    for bound, below in ((lambda V: 4 * V - 4, 2), (lambda V: 4 * V - 3 - 1e-30, 2), (lambda V: 3 * V, 4)):
        d = capacity.bound_dominance(bound, "t")
        assert d.certificate is None and d.counterexample == below


def test_prefix_steps_equal_fresh_evaluation():
    """`ExactPrefix` (virtual rows kept across steps, hard-token rows kept per network) gives the same enclosures,
    resolution and token as evaluating every row afresh, on one- and two-layer networks, boxes included, and
    when the resolution doubles."""
    from theory.constructions import conditional, two_token, unconditional

    cases = []
    net = unconditional.build(4, 3)
    box = [(Fraction(0), Fraction(3, 4)), Fraction(2, 4), (Fraction(0), Fraction(3, 4))] + [Fraction(0)] * 3
    cases += [(net, [unconditional.virtual_token(net, [3, 1, 2])], [0] * L) for L in range(3)]
    cases += [(net, [box], [0])]
    net2 = two_token.build(3)
    cases += [(net2, [two_token.table_token(net2, [[0, 1, 2], [2, 2, 0], [1, 0, 1]])], [x, y])
              for x in range(3) for y in range(3)]
    net3 = conditional.build_map(2)
    cases += [(net3, [(Fraction(1, 4), Fraction(1, 4), 0, 0)], [0])]  # an exact tie: doubles up to max_bits
    shared = {id(n): ExactNetwork(n) for n in (net, net2, net3)}
    for n, virtual, tokens in cases:
        prefix = shared[id(n)].prefix(virtual)
        for _ in range(2):  # the second step reads the kept rows
            got = prefix.step(tokens, bits=64, max_bits=256)
            want = ExactNetwork(n).step(n.inputs(virtual, tokens), bits=64, max_bits=256)
            assert (got.logits, got.bits, got.token) == (want.logits, want.bits, want.token)
    # one prefix generating after several inputs (the sweeps share it between a map's inputs)
    prefix = ExactNetwork(net2).prefix(cases[4][1])
    for x, y in ((0, 1), (2, 2), (0, 1)):
        got_g, want_g = prefix.generate([x, y], 1, bits=64), generate(net2, cases[4][1], [x, y], 1, bits=64)
        assert [(s.logits, s.bits, s.token) for s in got_g.steps] == [(s.logits, s.bits, s.token)
                                                                      for s in want_g.steps]


def test_read_out_with_constant_coordinates_equals_the_full_product():
    """`ExactNetwork` sums the read-out terms of the MLP's constant coordinates (the constant 1) once per
    resolution: the logits are the integers of the full product ``W_U x``."""
    import random

    from theory.constructions import conditional, two_token, unconditional
    from theory.exact import _matvec, _rows

    rng = random.Random(0)
    for net in (unconditional.build(94, 20), conditional.build_map(5), conditional.build_sequence(3, 2),
                two_token.build(3)):
        exact = ExactNetwork(net)
        assert 0 not in exact._constant and 1 in exact._constant
        bits = 96
        exact.step(net.inputs([[Fraction(0)] * net.d], [0] * (net.n_pos - 1)), bits=bits, max_bits=bits)
        bias = exact._bias[bits][-1][-1]
        mlp = exact.layers[-1][1]
        for _ in range(5):
            t = [(a, a + rng.randrange(1 << 40)) for a in (rng.randrange(-(1 << 98), 1 << 98) for _ in range(net.d))]
            x = exact._mlp(mlp, exact._bias[bits][-1], t)
            assert exact._read_out(x, bias, bits) == _matvec(_rows(net.W_U), x)


def test_inverted_box_is_refused():
    from theory.constructions import conditional

    net = conditional.build_map(2)
    with pytest.raises(ValueError, match="lo <= hi"):
        ExactNetwork(net).prefix([((Fraction(1, 2), Fraction(0)), 0, 0, 0)]).step([0])
