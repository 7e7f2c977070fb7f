"""Property tests (hypothesis): any positive weights and real values, realised as a concrete float64 head,
satisfy the Section 4 identities; a perturbed identity does not."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numeric.attention import TorchEnv, discrepancy
from numeric.realize import realize
from proofs.catalogue.section4 import contraction, relative_attention, single_closed_form

weight = st.floats(min_value=1e-3, max_value=1e3)
value = st.floats(min_value=-10, max_value=10)


@st.composite
def witnesses(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    d = draw(st.integers(min_value=1, max_value=3))
    vec = st.lists(value, min_size=d, max_size=d)
    return {"w": draw(st.lists(weight, min_size=n, max_size=n)), "v": draw(st.lists(vec, min_size=n, max_size=n)),
            "p": [draw(weight)], "u": [draw(vec)]}


@settings(max_examples=60, deadline=None)
@given(witnesses())
def test_identities_hold_on_realised_heads(numbers):
    (inst,) = realize([numbers], numbers["u"])
    env = TorchEnv([[inst]], [])
    for statement in (single_closed_form, contraction, relative_attention):
        lhs, rhs = statement(env)
        assert discrepancy(lhs, rhs).max_error < 1e-9


@settings(max_examples=30, deadline=None)
@given(witnesses())
def test_realised_head_has_the_requested_prefix_attention(numbers):
    (inst,) = realize([numbers], numbers["u"])
    h = TorchEnv([[inst]], []).h
    p, Z = numbers["p"][0], sum(numbers["w"])
    assert abs(float(h.alpha[0, -1, 0]) - p / (p + Z)) < 1e-12
    assert torch.isfinite(h.t_pt).all()
