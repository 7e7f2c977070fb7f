"""Design rule 6: a claim factory honours every parameter it takes, or refuses it. Each case changes one parameter
and checks that the statement the symbolic layer decides changes with it (never another scheme's lemma)."""
from __future__ import annotations

import dataclasses

import pytest

from proofs.catalogue.depth import deep_claim, layer1_claim, prompt_prefix_claim, rank1_claim, rope_claim, shift_claim
from proofs.catalogue.section4 import eq7_claim
from proofs.claim import Context, Status

CTX = Context(instances=32, timeout=20)


def symbolic(claim):
    return claim.symbolic(CTX)


@pytest.mark.parametrize("positions, want", [
    (("learned",), Status.REFUTED), (("sinusoidal",), Status.REFUTED), (("learned", "sinusoidal"), Status.REFUTED),
    (("rope",), Status.PROVED), (("alibi",), Status.PROVED), (("none",), Status.PROVED),
    (("rope", "learned"), Status.REFUTED),
])
@pytest.mark.slow
def test_shift_claim_derives_each_position_scheme(positions, want):
    result = symbolic(shift_claim("t.shift", positions=positions, expected=None))
    assert result.status is want, result.detail
    if want is Status.PROVED:
        assert "/".join(positions) in result.certificate.scope


@pytest.mark.parametrize("pos, rotate_keys, want", [
    ("rope", True, Status.PROVED), ("rope", False, Status.REFUTED), ("learned", True, Status.REFUTED),
    ("sinusoidal", True, Status.REFUTED), ("alibi", True, Status.PROVED),
])
def test_rope_claim_uses_the_scheme_it_names(pos, rotate_keys, want):
    result = symbolic(rope_claim("t.rope", rotate_keys=rotate_keys, pos=pos, expected=None))
    assert result.status is want, result.detail
    if pos != "rope" and want is Status.PROVED:
        assert "4x4 block rotations" not in result.detail  # not the RoPE lemma


def test_unknown_schemes_and_layers_are_refused():
    with pytest.raises(ValueError, match="position scheme"):
        shift_claim("t.bad", positions=("t5-buckets",))
    with pytest.raises(ValueError, match="position scheme"):
        rope_claim("t.bad", pos="xpos")
    with pytest.raises(ValueError, match="layer"):
        deep_claim("t.bad", layer=3)


@pytest.mark.parametrize("make, true_variant, false_variant", [
    (lambda v: layer1_claim("t.l1", add_position=v, expected=None), True, False),
    (lambda v: prompt_prefix_claim("t.pp", causal=v, expected=None), True, False),
    (lambda v: rank1_claim("t.r1", factor=v, expected=None), -2, -1),
    pytest.param(lambda v: eq7_claim("t.eq7", delta_H=v, expected=None), False, True, marks=pytest.mark.slow),
])
def test_each_boolean_or_numeric_parameter_changes_the_statement(make, true_variant, false_variant):
    assert symbolic(make(true_variant)).status is Status.PROVED
    assert symbolic(make(false_variant)).status is Status.REFUTED


def test_deep_claim_layer_parameter_is_honoured():
    assert symbolic(deep_claim("t.deep2", layer=2, expected=None)).status is Status.REFUTED
    assert symbolic(deep_claim("t.deep1", layer=1, expected=None)).status is Status.PROVED


# ---- identity_claim's options (proofs.factories.IdentityOptions) ----------------------------------------------

def _same_bias(E):
    """A prefix adds the same vector to the first and the last input's outputs: true for one input, false for two."""
    a, b = E.view(0), E.view(-1)
    return a.t_pt - a.t, b.t_pt - b.t


def test_identity_options_defaults_are_the_old_keyword_defaults():
    from proofs.factories import SECTION, SINGLE, IdentityOptions

    assert dataclasses.asdict(IdentityOptions()) == {
        "shape": None, "derivation": None, "expected": "holds", "assumptions": SINGLE, "general": True,
        "general_d": None, "unrolled": ((3, 2),), "numeric_n": 6, "smt": True, "smt_n": 3, "smt_d": 2,
        "section": SECTION}


@pytest.mark.parametrize("how", ["options", "keyword"])
def test_an_option_changes_the_statement_decided(how):
    from proofs import IdentityOptions, Shape, identity_claim

    two = {"shape": Shape(inputs=2)}
    one_input = identity_claim("t.bias1", "t", "-", "-", _same_bias, expected=None)
    two_inputs = (identity_claim("t.bias2", "t", "-", "-", _same_bias, IdentityOptions(expected=None, **two))
                  if how == "options" else identity_claim("t.bias2", "t", "-", "-", _same_bias, expected=None, **two))
    assert symbolic(one_input).status is Status.PROVED
    assert symbolic(two_inputs).status is Status.REFUTED


def test_keyword_overrides_apply_on_top_of_options_and_old_calls_still_work():
    from proofs import IdentityOptions, Shape, identity_claim
    from proofs.catalogue.section4 import multi_closed_form

    claim = identity_claim("t.multi", "t", "-", "-", multi_closed_form, shape=Shape(n_S=2), numeric_n=8, smt=False)
    assert claim.smt is None and claim.expected == "holds"
    result = claim.numeric(CTX)
    assert result.status is Status.CONSISTENT and "n=8, d=4" in result.detail and "n_S=2" not in result.detail
    base = IdentityOptions(shape=Shape(n_S=2), smt=False, section="mine")
    claim = identity_claim("t.multi2", "t", "-", "-", multi_closed_form, base, expected="fails", numeric_n=3)
    assert (claim.smt, claim.expected, claim.section) == (None, "fails", "mine")
    assert "n=3, d=4" in claim.numeric(CTX).detail


def test_unknown_options_and_impossible_sizes_are_refused():
    from proofs import IdentityOptions, identity_claim

    with pytest.raises(TypeError, match=r"unknown option\(s\) numeric_m; the options are shape, derivation, .*"
                                        r"numeric_n, smt, smt_n, smt_d, section"):
        identity_claim("t.bad", "t", "-", "-", _same_bias, numeric_m=8)
    with pytest.raises(ValueError, match="smt_n=0"):
        IdentityOptions(smt_n=0)
    with pytest.raises(ValueError, match="unrolled"):
        IdentityOptions(unrolled=())
