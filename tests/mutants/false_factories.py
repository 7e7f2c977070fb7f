"""FALSE: the catalogue's claim factories with a parameter that makes the statement false: every position scheme
through the depth factories (a prefix shifts relative attention under learned and sinusoidal positions; RoPE's
rotation lemma says nothing about them), wrong masks and layers, capacity constructions with a shifted virtual
token, wrong read-outs and temperature bounds (a bound just below the exact threshold, written as a float, a
Fraction and a Rational), fine-tuning variants, the follow-up's approximator, search factories. (Not here, for time:
the impl.* factories need transformers + peft models; approx.single_head_uniform_claim and
reachability.wide_segment_claim take 10-16 s each.) Each is stated with ``expected="holds"``.
"""
from __future__ import annotations

from fractions import Fraction

import sympy

from proofs import Claim
from proofs.catalogue import approx, capacity, depth, reachability
from proofs.catalogue.section4 import eq7_numeric, eq7_symbolic

TRUTH = False
HOLDS = "holds"


def _hard_token_false():
    """A hard-token bound that is too small. The factory's parameters changed on main (6d80663: ``bound``,
    ``lengths``, ``decoding``); this file runs on both signatures until issue-12 is rebased."""
    import inspect

    if "bound" in inspect.signature(capacity.hard_token_claim).parameters:
        return capacity.hard_token_claim("mut.false.capacity.hard_token_bound_too_small",
                                         bound=lambda V, n_S: V ** (n_S - 1), expected=HOLDS)
    return capacity.hard_token_claim("mut.false.capacity.hard_token_bound_too_small", n_S=0, expected=HOLDS)

CLAIMS = [
    # ---- positions: every scheme that is not shift-invariant, through every factory that takes a scheme ----
    depth.shift_claim("mut.false.pos.shift_sinusoidal", positions=("sinusoidal",), expected=HOLDS),
    depth.shift_claim("mut.false.pos.shift_learned", positions=("learned",), expected=HOLDS),
    depth.shift_claim("mut.false.pos.shift_learned_sinusoidal", positions=("learned", "sinusoidal"), expected=HOLDS),
    depth.shift_claim("mut.false.pos.shift_every_scheme", positions=("none", "learned", "sinusoidal", "rope", "alibi"),
                      expected=HOLDS),
    depth.rope_claim("mut.false.pos.invariant_sinusoidal", pos="sinusoidal", expected=HOLDS),
    depth.rope_claim("mut.false.pos.invariant_learned", pos="learned", expected=HOLDS),
    depth.rope_claim("mut.false.pos.rope_keys_not_rotated", rotate_keys=False, expected=HOLDS),
    depth.layer1_claim("mut.false.depth.layer1_without_position", add_position=False, expected=HOLDS),
    depth.prompt_prefix_claim("mut.false.depth.bidirectional_is_prefix", causal=False, expected=HOLDS),
    depth.deep_claim("mut.false.depth.layer2_invariant", layer=2, expected=HOLDS),
    # ---- fine-tuning: rank-1 updates that scale instead of reversing; Delta H != 0 in eq. 7 ----
    depth.rank1_claim("mut.false.finetune.rank1_half", factor=(-1, 2), expected=HOLDS),
    depth.rank1_claim("mut.false.finetune.rank1_zero", factor=0, expected=HOLDS),
    depth.rank1_claim("mut.false.finetune.rank1_flatten", factor=-1, expected=HOLDS),
    # (eq7_claim(delta_H=True) is the catalogue's own false twin in tests/test_section4.py: ~25 s, not repeated)
    # ---- capacity: shifted virtual tokens, wrong read-outs, bounds below the exact threshold ----
    capacity.conditional_map_claim("mut.false.capacity.map_offset", offset=(0, 0, Fraction(1, 2)), expected=HOLDS),
    capacity.decoder_claim("mut.false.capacity.readout_sign",
                           readout=lambda u, V, z: (z - Fraction(1, 2)) ** 2 + (z - u / V) ** 2, expected=HOLDS),
    capacity.decoder_claim("mut.false.capacity.readout_tiny_fraction",
                           readout=lambda u, V, z: ((z - Fraction(1, 2)) ** 2 - (z - u / V) ** 2
                                                    + Fraction(1, 10**30) * u),
                           expected=HOLDS),
    capacity.decoder_claim("mut.false.capacity.readout_tiny_float",
                           readout=lambda u, V, z: (z - 0.5) ** 2 - (z - u / V) ** 2 + 1e-25 * u, expected=HOLDS),
    capacity.temperature_claim("mut.false.capacity.bound_4V_minus_3_minus_float", bound=lambda V: 4 * V - 3 - 1e-30,
                               expected=HOLDS),
    capacity.temperature_claim("mut.false.capacity.bound_4V_minus_3_minus_fraction",
                               bound=lambda V: 4 * V - 3 - Fraction(1, 10**30), expected=HOLDS),
    capacity.temperature_claim("mut.false.capacity.bound_4V_minus_3_minus_rational",
                               bound=lambda V: 4 * V - 3 - sympy.Rational(1, 10**40), expected=HOLDS),
    capacity.temperature_claim("mut.false.capacity.bound_4V_minus_4", bound=lambda V: 4 * V - 4, expected=HOLDS),
    capacity.temperature_claim("mut.false.capacity.bound_3V", bound=lambda V: 3 * V, expected=HOLDS),
    _hard_token_false(),
    # ---- the follow-up's universal approximator (proofs/catalogue/approx.py) ----
    approx.prefix_length_bound_claim("mut.false.approx.two_positions_short", cases=((1, Fraction(1, 4)),),
                                     n_offset=-2, expected=HOLDS),
    approx.prefix_length_bound_claim("mut.false.approx.quarter_temperature", cases=((1, Fraction(1, 4)),),
                                     t_scale=Fraction(1, 4), expected=HOLDS),
    approx.consistent_claim("mut.false.approx.prefix_mixture_alone", drop_content=True, expected=HOLDS),
    approx.depth_linear_claim("mut.false.approx.depth_eps_below_corner", eps=Fraction(3, 50), expected=HOLDS),
    approx.sphere_uniform_claim("mut.false.approx.sphere_two_rings", rings=2, expected=HOLDS),
    # ---- search factories ----
    reachability.cannot_reverse_claim("mut.false.search.lora_cannot_reverse", method="lora", expected=HOLDS),
    reachability.reachable_segment_claim("mut.false.search.segment_from_zero", end="zero", expected=HOLDS),
    reachability.separation_claim("mut.false.search.separation_attend_largest", c=3.0, expected=HOLDS),
]


# ---- fine-tuning identities through the eq. 7 check builders ---------------------------------------------------

def finetune(name, title, statement):
    return Claim(id=f"mut.false.finetune.{name}", title=title, paper_ref="mutation suite (issue 12)",
                 statement=title, expected=HOLDS, symbolic=eq7_symbolic(statement), numeric=eq7_numeric(statement))


CLAIMS += [
    finetune("eq7_dropped_update", "t^ft (Delta H = 0) = t: the Delta W_V term dropped",
             lambda E: (E.t_ft(False, True), E.t)),
    finetune("eq7_doubled_update", "t^ft (Delta H = 0) = t + 2 Delta W_V xbar",
             lambda E: (E.t_ft(False, True), E.t + 2 * E.dWV_xbar(True))),
    finetune("eq7_tiny_rational", "t^ft = t + (1 + 10^-30) Delta W_V xbar",
             lambda E: (E.t_ft(False, True), E.t + E.dWV_xbar(True) * (1 + sympy.Rational(1, 10**30)))),
    finetune("eq7_tiny_float", "t^ft = t + Delta W_V xbar + 1e-20 t",
             lambda E: (E.t_ft(False, True), E.t + E.dWV_xbar(True) + 1e-20 * E.t)),
]
