"""TRUE: the catalogue's factories with parameters that keep the statement true (none of these is a catalogue
claim): shift-invariant position schemes (RoPE, ALiBi, none) through the shift factories, the layer-1 case of the
depth claim, capacity constructions with an exact bound or an exact alternative read-out, ordering claims for maps
that preserve the order (with exact tiny constants), fine-tuning identities through the eq. 7 check builders.
"""
from __future__ import annotations

from fractions import Fraction

import sympy

from proofs import Claim, order_claim
from proofs.catalogue import capacity, depth
from proofs.catalogue.section4 import eq7_numeric, eq7_symbolic

TRUTH = True
HOLDS = "holds"


def _hard_token_true():
    """The hard-token bound at one prompt length only (main's signature: ``lengths=(1,)``; the old one: the bound
    V^2 for n_S = 2). The factory's parameters changed on main (6d80663); this file runs on both signatures until
    issue-12 is rebased. (A looser ``bound`` would make main's claim false: it also states that soft prompts give
    more than the bound.)"""
    import inspect

    if "bound" in inspect.signature(capacity.hard_token_claim).parameters:
        return capacity.hard_token_claim("mut.true.capacity.hard_token_one_length", lengths=(1,), expected=HOLDS)
    return capacity.hard_token_claim("mut.true.capacity.hard_token_one_length", n_S=2, expected=HOLDS)


def finetune(name, title, statement):
    return Claim(id=f"mut.true.finetune.{name}", title=title, paper_ref="mutation suite (issue 12)",
                 statement=title, expected=HOLDS, symbolic=eq7_symbolic(statement), numeric=eq7_numeric(statement))


CLAIMS = [
    depth.shift_claim("mut.true.pos.shift_alibi", positions=("alibi",), expected=HOLDS),
    depth.rope_claim("mut.true.pos.invariant_alibi", pos="alibi", expected=HOLDS),
    depth.rope_claim("mut.true.pos.invariant_none", pos="none", expected=HOLDS),
    depth.deep_claim("mut.true.depth.layer1_invariant", layer=1, expected=HOLDS),
    capacity.temperature_claim("mut.true.capacity.bound_exact_threshold", bound=lambda V: 4 * V - 3, expected=HOLDS),
    capacity.temperature_claim("mut.true.capacity.bound_above_threshold_rational",
                               bound=lambda V: 4 * V - 3 + sympy.Rational(1, 10**30), expected=HOLDS),
    capacity.temperature_claim("mut.true.capacity.bound_4V", bound=lambda V: 4 * V, expected=HOLDS),
    capacity.decoder_claim("mut.true.capacity.readout_expanded",
                           readout=lambda u, V, z: (2 * u / V - 1) * z + Fraction(1, 4) - u * u / (V * V),
                           expected=HOLDS),
    _hard_token_true(),
    order_claim("mut.true.order.restored", "A^pt + alpha A (= A) keeps the order of A",
                lambda h: h.A_pt + h.alpha * h.A),
    order_claim("mut.true.order.scaled_by_alpha", "alpha A keeps the order of A", lambda h: h.A * h.alpha),
    order_claim("mut.true.order.plus_constant", "A^pt + 10^-30 alpha (a j-independent shift) keeps the order",
                lambda h: h.A_pt + sympy.Rational(1, 10**30) * h.alpha),
    order_claim("mut.true.order.thousandfold", "1000 A^pt keeps the order of A", lambda h: h.A_pt * 1000),
    finetune("eq7_no_update", "t^ft (Delta H = 0, Delta W_V = 0) = t", lambda E: (E.t_ft(False, False), E.t)),
    finetune("eq7_rearranged", "t^ft - Delta W_V xbar = t (Delta H = 0)",
             lambda E: (E.t_ft(False, True) - E.dWV_xbar(True), E.t)),
]
