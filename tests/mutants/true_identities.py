"""TRUE: identities that are not in the catalogue: algebraic rearrangements of the Section 4 closed forms, exact
Rational / Fraction constants (1/3 forms), float constants whose binary values make the statement exact, 1e3-sized
quantities, division forms (A^pt / (1 - alpha) = A), statements that name position 0 or the query's own position,
vector components and several heads / inputs, all valid at every size. No layer may refute any of them; every
decisive layer should prove or confirm them.
"""
from __future__ import annotations

from fractions import Fraction

import sympy
from mutant_views import comp, dot, identity_family, key, keys

from proofs import Shape

TRUTH = True


claim = identity_family("mut.true", "mutants: true identities")


# ---- rearrangements ---------------------------------------------------------------------------------------------

def shift_toward_prefix(E):
    h = E.h
    return h.t_pt, h.t + h.alpha * (h.u[0] - h.t)


def content_weight_from_output(E):
    """(1 - alpha)(t - W_V s) = t^pt - W_V s, sides swapped and expanded."""
    h = E.h
    return (1 - h.alpha) * h.t - (1 - h.alpha) * h.u[0], h.t_pt - h.u[0]


def attention_plus_share(E):
    h = E.h
    return h.A_pt + h.alpha * h.A, h.A


def division_form(E):
    """A^pt / (1 - alpha) = A (the division form: cancellation when alpha ~ 1 must not refute it)."""
    h = E.h
    return h.A_pt / (1 - h.alpha), h.A


def ratio_to_attention(E):
    """A^pt_ij / A_ij = 1 - alpha_i for every visible j (written elementwise: a view that divides at masked
    positions, 0/0, must not refute it)."""
    h = E.h
    return h.A_pt / h.A, 1 - h.alpha


def mass_plus_alpha(E):
    h = E.h
    return h.mass_pt + h.alpha, 1 + 0 * h.alpha


def ratio_at_position_zero(E):
    """A^pt_i0 / A_i0 = 1 - alpha_i (n_S = 2; position 0 is visible to every query)."""
    h = E.h
    return key(h.A_pt, 0) / key(h.A, 0), 1 - h.alpha


def multi_rearranged(E):
    """n_S = 2: t^pt - t = bias - alpha t."""
    h = E.h
    return h.t_pt - h.t, h.bias - h.alpha * h.t


def mixture_times_alpha(E):
    """n_S = 2: alpha_i1 = alpha_i softmax_1(prefix logits)."""
    h = E.h
    return h.alphas[0], h.alpha * h.prefix_softmax[0]


def two_prefix_alphas(E):
    """n_S = 2: alpha_i1 + alpha_i2 = alpha_i (named prefix positions; the shape fixes n_S = 2)."""
    h = E.h
    return h.alphas[0] + h.alphas[1], h.alpha


def sigmoid_rearranged(E):
    """1 - alpha = sigma(LSE - l_0)."""
    h = E.h
    return 1 - h.alpha, h.sigmoid(h.lse - h.l_prefix[0])


# ---- exact constants ----------------------------------------------------------------------------------------

def thirds_rational(E):
    h = E.h
    third = sympy.Rational(1, 3)
    return h.t_pt, third * (3 * (1 - h.alpha) * h.t + 3 * h.alpha * h.u[0])


def thirds_fraction(E):
    h = E.h
    return Fraction(1, 3) * h.A_pt + Fraction(2, 3) * h.A_pt, (1 - h.alpha) * h.A


def thirds_division(E):
    """t/3 + t/3 + t/3 = t (exact division by the integer 3 in every engine)."""
    h = E.h
    return h.t_pt / 3 + h.t_pt / 3 + h.t_pt / 3, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def tenths_rational(E):
    h = E.h
    return sympy.Rational(1, 10) * h.t + sympy.Rational(2, 10) * h.t, sympy.Rational(3, 10) * h.t


def binary_floats(E):
    """0.5 t + 0.25 t = 0.75 t: these floats are exact binary fractions."""
    h = E.h
    return 0.5 * h.t_pt + 0.25 * h.t_pt, 0.75 * ((1 - h.alpha) * h.t + h.alpha * h.u[0])


def float_folded(E):
    """(1 + 1e-17) t^pt = t^pt: in Python floats 1 + 1e-17 is exactly 1.0 before any engine sees it."""
    h = E.h
    return (1 + 1e-17) * h.t_pt, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def tiny_cancels_rational(E):
    """t^pt + 10^-40 t - Rational("1e-40") t = closed form (the two spellings of 10^-40 are the same rational)."""
    h = E.h
    lhs = h.t_pt + sympy.Rational(1, 10**40) * h.t - sympy.Rational("1e-40") * h.t
    return lhs, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def tiny_on_both_sides(E):
    """A^pt + 1e-40 A = (1 - alpha + 1e-40) A: the same float on both sides."""
    h = E.h
    return h.A_pt + 1e-40 * h.A, (1 - h.alpha + 1e-40) * h.A


def mpf_on_both_sides(E):
    h = E.h
    eps = sympy.Float("1e-40", 60)
    return h.mass_pt + eps * h.alpha, 1 - h.alpha + eps * h.alpha


def thousands(E):
    """1e3-sized quantities: 1000 t^pt = 1000 (1 - alpha) t + 1000 alpha W_V s."""
    h = E.h
    return 1e3 * h.t_pt, 1e3 * (1 - h.alpha) * h.t + 1e3 * h.alpha * h.u[0]


def large_shift(E):
    """(t^pt + 1234.5 W_V s) - 1234.5 W_V s = t^pt with a 1e3 offset (absolute error grows with the offset)."""
    h = E.h
    big = 1234.5
    return (h.t_pt + big * h.u[0]) - big * h.u[0] + 0 * h.t, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def scaled_attention(E):
    h = E.h
    return 4096 * h.A_pt, (4096 - 4096 * h.alpha) * h.A


# ---- positions, components, heads, inputs (valid at every size) ----------------------------------------------

def position_zero(E):
    """A^pt_i0 = (1 - alpha_i) A_i0: the first content token, any n."""
    h = E.h
    return key(h.A_pt, 0), (1 - h.alpha) * key(h.A, 0)


def own_position(E):
    """A^pt_ii = (1 - alpha_i) A_ii: the query's own position, any n."""
    h = E.h
    return key(h.A_pt, -1), (1 - h.alpha) * key(h.A, -1)


def first_two_scaled(E):
    """sum_{j<2} A^pt_ij = (1 - alpha_i) sum_{j<2} A_ij (any n: the first two tokens scale like the rest)."""
    h = E.h
    return keys(h.A_pt, 2), (1 - h.alpha) * keys(h.A, 2)


def component_zero(E):
    """t^pt_i[0] = (1 - alpha) t_i[0] + alpha (W_V s)[0]: the first component, any d."""
    h = E.h
    return comp(h.t_pt, 0), (1 - h.alpha) * comp(h.t, 0) + h.alpha * comp(h.u[0], 0)


def shift_parallel(E):
    """t^pt - t is parallel to W_V s - t: every 2x2 minor vanishes (any d)."""
    h = E.h
    return h.minors(h.t_pt - h.t, h.u[0] - h.t), 0 * h.minors(h.t, h.t)


def inner_product_split(E):
    """<t^pt, t> = (1 - alpha)|t|^2 + alpha <W_V s, t> (any d)."""
    h = E.h
    return dot(h.t_pt, h.t), (1 - h.alpha) * dot(h.t, h.t) + h.alpha * dot(h.u[0], h.t)


def through_W_O(E):
    """W_O t^pt = (1 - alpha) W_O t + alpha W_O W_V s (any d)."""
    h, M = E.h, E.W_O(0)
    return h.matvec(M, h.t_pt), (1 - h.alpha) * h.matvec(M, h.t) + h.alpha * h.matvec(M, h.u[0])


def two_heads_shift(E):  # not in CLAIMS: ~40 s on the loaded CI machine (size probes of a two-head view)
    """Two heads: sum_h W_O^h (t^pt,h - t^h) = sum_h alpha^h W_O^h (W_V^h s - t^h)."""
    mv = E.h.matvec
    lhs = E.total([mv(E.W_O(h), E.view(0, h).t_pt - E.view(0, h).t) for h in range(E.n_heads)])
    rhs = E.total([mv(E.W_O(h), E.view(0, h).alpha * (E.view(0, h).u[0] - E.view(0, h).t)) for h in range(E.n_heads)])
    return lhs, rhs


def two_inputs_shared_prefix(E):
    """Two inputs, one prefix: t^pt(x) - (1 - a(x)) t(x) - a(x) W_V s = t^pt(x') - (1 - a(x')) t(x') - a(x') W_V s."""
    a, b = E.view(0), E.view(1)
    return a.t_pt - (1 - a.alpha) * a.t - a.alpha * a.u[0], b.t_pt - (1 - b.alpha) * b.t - b.alpha * b.u[0]


TWO = Shape(n_S=2)
CLAIMS = [
    claim("shift_toward_prefix", "t^pt = t + alpha (W_V s - t)", r"t^{pt}=t+\alpha(W_Vs_1-t)", shift_toward_prefix),
    claim("content_weight_from_output", "(1-a) t - (1-a) W_V s = t^pt - W_V s", r"(1-\alpha)(t-W_Vs)=t^{pt}-W_Vs",
          content_weight_from_output),
    claim("attention_plus_share", "A^pt + alpha A = A", r"A^{pt}+\alpha A=A", attention_plus_share),
    claim("division_form", "A^pt / (1 - alpha) = A", r"A^{pt}_{ij}/(1-\alpha_i)=A_{ij}", division_form),
    claim("ratio_to_attention", "A^pt / A = 1 - alpha", r"A^{pt}_{ij}/A_{ij}=1-\alpha_i", ratio_to_attention),
    claim("mass_plus_alpha", "content mass + alpha = 1", r"\sum_jA^{pt}_{ij}+\alpha_i=1", mass_plus_alpha),
    claim("ratio_at_position_zero", "n_S=2: A^pt_i0 / A_i0 = 1 - alpha", r"A^{pt}_{i0}/A_{i0}=1-\alpha_i",
          ratio_at_position_zero, shape=TWO, general=False),
    claim("multi_rearranged", "n_S=2: t^pt - t = bias - alpha t", r"t^{pt}-t=b-\alpha t", multi_rearranged, shape=TWO),
    claim("mixture_times_alpha", "n_S=2: alpha_1 = alpha softmax_1", r"\alpha_{i1}=\alpha_i\,\mathrm{softmax}_1",
          mixture_times_alpha, shape=TWO),
    claim("two_prefix_alphas", "n_S=2: alpha_1 + alpha_2 = alpha", r"\alpha_{i1}+\alpha_{i2}=\alpha_i",
          two_prefix_alphas, shape=TWO, general=False),
    claim("sigmoid_rearranged", "1 - alpha = sigma(LSE - l_0)", r"1-\alpha_i=\sigma(\mathrm{LSE}_i-\ell_{i0})",
          sigmoid_rearranged, smt=False),
    claim("thirds_rational", "t^pt = Rational(1, 3) (3 (1-a) t + 3 a W_V s)", r"t^{pt}=\tfrac13(\dots)",
          thirds_rational),
    claim("thirds_fraction", "Fraction(1,3) A^pt + Fraction(2,3) A^pt = (1-a) A",
          r"\tfrac13A^{pt}+\tfrac23A^{pt}=(1-\alpha)A", thirds_fraction),
    claim("thirds_division", "t^pt/3 + t^pt/3 + t^pt/3 = closed form", r"3\cdot t^{pt}/3=t^{pt}", thirds_division),
    claim("tenths_rational", "Rational(1,10) t + Rational(2,10) t = Rational(3,10) t",
          r"\tfrac1{10}t+\tfrac2{10}t=\tfrac3{10}t", tenths_rational),
    claim("binary_floats", "0.5 t^pt + 0.25 t^pt = 0.75 (closed form)", r"0.5t^{pt}+0.25t^{pt}=0.75t^{pt}",
          binary_floats),
    claim("float_folded", "(1 + 1e-17) t^pt = closed form (1 + 1e-17 == 1.0 in Python)",
          r"(1+10^{-17})_{\mathrm{fl}}t^{pt}=t^{pt}", float_folded),
    claim("tiny_cancels_rational", "t^pt + 10^-40 t - Rational('1e-40') t = closed form",
          r"t^{pt}+\epsilon t-\epsilon t=t^{pt}", tiny_cancels_rational),
    claim("tiny_on_both_sides", "A^pt + 1e-40 A = (1 - a + 1e-40) A", r"A^{pt}+\epsilon A=(1-\alpha+\epsilon)A",
          tiny_on_both_sides),
    claim("mpf_on_both_sides", "mass + Float('1e-40', 60) alpha = 1 - alpha + Float('1e-40', 60) alpha",
          r"m+\epsilon\alpha=1-\alpha+\epsilon\alpha", mpf_on_both_sides),
    claim("thousands", "1e3 t^pt = 1e3 (closed form)", r"10^3t^{pt}=10^3((1-\alpha)t+\alpha W_Vs)", thousands),
    claim("large_shift", "(t^pt + 1234.5 W_V s) - 1234.5 W_V s = closed form", r"(t^{pt}+cW_Vs)-cW_Vs=t^{pt}",
          large_shift),
    claim("scaled_attention", "4096 A^pt = (4096 - 4096 alpha) A", r"4096A^{pt}=(4096-4096\alpha)A", scaled_attention),
    claim("position_zero", "A^pt_i0 = (1 - alpha) A_i0 (first content token, any n)", r"A^{pt}_{i0}=(1-\alpha_i)A_{i0}",
          position_zero, general=False),
    claim("own_position", "A^pt_ii = (1 - alpha) A_ii (the query's own position, any n)",
          r"A^{pt}_{ii}=(1-\alpha_i)A_{ii}", own_position, general=False),
    claim("first_two_scaled", "the first two tokens' attention scales by 1 - alpha (any n)",
          r"\sum_{j<2}A^{pt}_{ij}=(1-\alpha_i)\sum_{j<2}A_{ij}", first_two_scaled, general=False),
    claim("component_zero", "component 0 of the closed form (any d)", r"t^{pt}_i[0]=(1-\alpha)t_i[0]+\alpha(W_Vs)[0]",
          component_zero, general_d=2),
    claim("shift_parallel", "t^pt - t is parallel to W_V s - t (any d)", r"t^{pt}-t\parallel W_Vs-t", shift_parallel,
          general_d=2, smt_n=2),
    claim("inner_product_split", "<t^pt, t> = (1-a)|t|^2 + a <W_V s, t>", r"\langle t^{pt},t\rangle=\dots",
          inner_product_split, general_d=2),
    claim("through_W_O", "W_O t^pt = (1-a) W_O t + a W_O W_V s", r"W_Ot^{pt}=(1-\alpha)W_Ot+\alpha W_OW_Vs",
          through_W_O, general_d=2),
    claim("two_inputs_shared_prefix", "two inputs: the closed-form remainder is 0 for both",
          r"t^{pt}(x)-(1-\alpha(x))t(x)-\alpha(x)W_Vs=\dots(x')", two_inputs_shared_prefix, shape=Shape(inputs=2)),
]
