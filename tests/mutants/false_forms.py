"""FALSE: the Section 4 closed forms with a wrong sign, a wrong constant, a wrong normaliser or a dropped term;
statements about two inputs or two heads that hold for one only. Each is false for generic heads (a random head
refutes it), so every layer that decides anything must refute it or stay UNKNOWN.
"""
from __future__ import annotations

import sympy
from mutant_views import identity_family

from proofs import Shape

TRUTH = False


claim = identity_family("mut.false.form", "mutants: wrong forms")


# ---- t^pt = (1 - alpha) t + alpha W_V s_1 -------------------------------------------------------------------

def plus_alpha_weight(E):
    h = E.h
    return h.t_pt, (1 + h.alpha) * h.t - h.alpha * h.u[0]


def minus_prefix_value(E):
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t - h.alpha * h.u[0]


def dropped_prefix_term(E):
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t


def dropped_content_scaling(E):
    h = E.h
    return h.t_pt, h.t + h.alpha * h.u[0]


def doubled_alpha(E):
    h = E.h
    return h.t_pt, (1 - 2 * h.alpha) * h.t + 2 * h.alpha * h.u[0]


def half_alpha_rational(E):
    h = E.h
    a = sympy.Rational(1, 2) * h.alpha
    return h.t_pt, (1 - a) * h.t + a * h.u[0]


def squared_weight(E):
    h = E.h
    return h.t_pt, (1 - h.alpha) ** 2 * h.t + h.alpha * h.u[0]


# ---- attention ----------------------------------------------------------------------------------------------

def attention_unchanged(E):
    h = E.h
    return h.A_pt, h.A


def attention_plus(E):
    h = E.h
    return h.A_pt, (1 + h.alpha) * h.A


def attention_wrong_normaliser(E):
    """A^pt = A / (1 + alpha): divides where the closed form multiplies."""
    h = E.h
    return h.A_pt, h.A / (1 + h.alpha)


def attention_over_mass(E):
    """A^pt = A / (1 - alpha): the renormalisation applied the wrong way round."""
    h = E.h
    return h.A_pt, h.A / (1 - h.alpha)


def sigmoid_swapped(E):
    h = E.h
    return h.alpha, h.sigmoid(h.lse - h.l_prefix[0])


def sigmoid_dropped_lse(E):
    h = E.h
    return h.alpha, h.sigmoid(h.l_prefix[0])


def sigmoid_double_temperature(E):
    h = E.h
    return h.alpha, h.sigmoid(2 * (h.l_prefix[0] - h.lse))


def sigmoid_sum(E):
    h = E.h
    return h.alpha, h.sigmoid(h.l_prefix[0] + h.lse)


def mass_one_position(E):
    """content mass = 1 - alpha_i1: drops the second prefix position (n_S = 2)."""
    h = E.h
    return h.mass_pt, 1 - h.alphas[0]


def mass_squared(E):
    h = E.h
    return h.mass_pt, (1 - h.alpha) ** 2


def mixture_unnormalised(E):
    """alpha_i1 = softmax_m(prefix logits)_1: forgets the factor sum_m alpha_im (n_S = 2)."""
    h = E.h
    return h.alphas[0], h.prefix_softmax[0]


def mixture_wrong_factor(E):
    h = E.h
    return h.alphas[0], h.prefix_softmax[0] * (1 - h.alpha)


def multi_single_value(E):
    """n_S = 2: t^pt = (1 - sum alpha) t + sum_m alpha_m W_V s_1 (every position given the first value)."""
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def multi_first_weight_only(E):
    """n_S = 2: t^pt = (1 - alpha_1) t + bias (the content weight uses the first prefix position only)."""
    h = E.h
    return h.t_pt, (1 - h.alphas[0]) * h.t + h.bias


def contraction_wrong_sign(E):
    h = E.h
    return h.t_pt - h.u[0], (1 - h.alpha) * (h.t + h.u[0])


def contraction_alpha(E):
    h = E.h
    return h.t_pt - h.u[0], h.alpha * (h.t - h.u[0])


def prefix_shift_wrong_end(E):
    """t^pt - t = alpha (t - W_V s_1): the sign of the shift reversed."""
    h = E.h
    return h.t_pt - h.t, h.alpha * (h.t - h.u[0])


# ---- two inputs, two heads ----------------------------------------------------------------------------------

def same_alpha(E):
    """Two inputs sharing the prefix get the same prefix attention."""
    return E.view(0).alpha, E.view(1).alpha


def same_shift(E):
    a, b = E.view(0), E.view(1)
    return a.t_pt - a.t, b.t_pt - b.t


def head_one_untouched(E):
    """Two heads: the prefix moves only head 0's output (head 1 written without the prefix)."""
    mv = E.h.matvec
    out = E.total([mv(E.W_O(h), E.view(0, h).t_pt) for h in range(E.n_heads)])
    h0 = E.view(0, 0)
    return out, mv(E.W_O(0), (1 - h0.alpha) * h0.t + h0.alpha * h0.u[0]) + mv(E.W_O(1), E.view(0, 1).t)


def heads_share_alpha(E):
    """Two heads: the layer output uses head 0's alpha for both heads."""
    mv = E.h.matvec
    a = E.view(0, 0).alpha
    out = E.total([mv(E.W_O(h), E.view(0, h).t_pt) for h in range(E.n_heads)])
    parts = [mv(E.W_O(h), (1 - a) * E.view(0, h).t + a * E.view(0, h).u[0]) for h in range(E.n_heads)]
    return out, E.total(parts)


def heads_without_W_O_on_bias(E):
    """Two heads: the bias added without W_O."""
    mv = E.h.matvec
    out = E.total([mv(E.W_O(h), E.view(0, h).t_pt) for h in range(E.n_heads)])
    parts = [mv(E.W_O(h), (1 - E.view(0, h).alpha) * E.view(0, h).t) + E.view(0, h).alpha * E.view(0, h).u[0]
             for h in range(E.n_heads)]
    return out, E.total(parts)


TWO = Shape(n_S=2)
HEADS = Shape(heads=2)
CLAIMS = [
    claim("plus_alpha_weight", "t^pt = (1+a) t - a W_V s", r"t^{pt}=(1+\alpha)t-\alpha W_Vs_1", plus_alpha_weight),
    claim("minus_prefix_value", "t^pt = (1-a) t - a W_V s", r"t^{pt}=(1-\alpha)t-\alpha W_Vs_1", minus_prefix_value),
    claim("dropped_prefix_term", "t^pt = (1-a) t", r"t^{pt}=(1-\alpha)t", dropped_prefix_term),
    claim("dropped_content_scaling", "t^pt = t + a W_V s", r"t^{pt}=t+\alpha W_Vs_1", dropped_content_scaling),
    claim("doubled_alpha", "t^pt = (1-2a) t + 2a W_V s", r"t^{pt}=(1-2\alpha)t+2\alpha W_Vs_1", doubled_alpha),
    claim("half_alpha_rational", "t^pt = (1-a/2) t + a/2 W_V s (Rational(1, 2))",
          r"t^{pt}=(1-\alpha/2)t+\alpha/2\,W_Vs_1", half_alpha_rational),
    claim("squared_weight", "t^pt = (1-a)^2 t + a W_V s", r"t^{pt}=(1-\alpha)^2t+\alpha W_Vs_1", squared_weight),
    claim("attention_unchanged", "A^pt = A", r"A^{pt}_{ij}=A_{ij}", attention_unchanged),
    claim("attention_plus", "A^pt = (1+a) A", r"A^{pt}_{ij}=(1+\alpha_i)A_{ij}", attention_plus),
    claim("attention_wrong_normaliser", "A^pt = A / (1 + a)", r"A^{pt}_{ij}=A_{ij}/(1+\alpha_i)",
          attention_wrong_normaliser),
    claim("attention_over_mass", "A^pt = A / (1 - a)", r"A^{pt}_{ij}=A_{ij}/(1-\alpha_i)", attention_over_mass),
    claim("sigmoid_swapped", "alpha = sigma(LSE - l)", r"\alpha_i=\sigma(\mathrm{LSE}_i-\ell_{i0})", sigmoid_swapped,
          smt=False),
    claim("sigmoid_dropped_lse", "alpha = sigma(l)", r"\alpha_i=\sigma(\ell_{i0})", sigmoid_dropped_lse, smt=False),
    claim("sigmoid_double_temperature", "alpha = sigma(2 (l - LSE))", r"\alpha_i=\sigma(2(\ell_{i0}-\mathrm{LSE}_i))",
          sigmoid_double_temperature, smt=False),
    claim("sigmoid_sum", "alpha = sigma(l + LSE)", r"\alpha_i=\sigma(\ell_{i0}+\mathrm{LSE}_i)", sigmoid_sum,
          smt=False),
    claim("mass_one_position", "n_S=2: content mass = 1 - alpha_1", r"\sum_jA^{pt}_{ij}=1-\alpha_{i1}",
          mass_one_position, shape=TWO, general=False),
    claim("mass_squared", "content mass = (1 - alpha)^2", r"\sum_jA^{pt}_{ij}=(1-\alpha_i)^2", mass_squared,
          shape=TWO),
    claim("mixture_unnormalised", "n_S=2: alpha_1 = softmax_m(prefix logits)_1", r"\alpha_{i1}=\mathrm{softmax}_1",
          mixture_unnormalised, shape=TWO),
    claim("mixture_wrong_factor", "n_S=2: alpha_1 = (1 - alpha) softmax_1",
          r"\alpha_{i1}=(1-\alpha_i)\mathrm{softmax}_1", mixture_wrong_factor, shape=TWO),
    claim("multi_single_value", "n_S=2: t^pt = (1-a) t + a W_V s_1", r"t^{pt}=(1-\alpha)t+\alpha W_Vs_1",
          multi_single_value, shape=TWO, general=False),
    claim("multi_first_weight_only", "n_S=2: t^pt = (1-alpha_1) t + bias", r"t^{pt}=(1-\alpha_{i1})t+b_i",
          multi_first_weight_only, shape=TWO, general=False),
    claim("contraction_wrong_sign", "t^pt - W_V s = (1-a)(t + W_V s)", r"t^{pt}-W_Vs=(1-\alpha)(t+W_Vs)",
          contraction_wrong_sign),
    claim("contraction_alpha", "t^pt - W_V s = a (t - W_V s)", r"t^{pt}-W_Vs=\alpha(t-W_Vs)", contraction_alpha),
    claim("prefix_shift_wrong_end", "t^pt - t = a (t - W_V s)", r"t^{pt}-t=\alpha(t-W_Vs_1)", prefix_shift_wrong_end),
    claim("same_alpha", "two inputs: same prefix attention", r"\alpha_i(x)=\alpha_i(x')", same_alpha,
          shape=Shape(inputs=2)),
    claim("same_shift", "two inputs: same output shift", r"t^{pt}(x)-t(x)=t^{pt}(x')-t(x')", same_shift,
          shape=Shape(inputs=2)),
    claim("head_one_untouched", "two heads: the prefix moves head 0 only", r"\sum_hW_O^ht^{pt,h}=\dots",
          head_one_untouched, shape=HEADS, general_d=2, smt_n=2, unrolled=((2, 2),)),
    claim("heads_share_alpha", "two heads: one alpha for both heads", r"\sum_hW_O^ht^{pt,h}=\dots",
          heads_share_alpha, shape=HEADS, general_d=2, smt_n=2, unrolled=((2, 2),)),
    claim("heads_without_W_O_on_bias", "two heads: bias added without W_O", r"\sum_hW_O^ht^{pt,h}=\dots",
          heads_without_W_O_on_bias, shape=HEADS, general_d=2, smt_n=2, unrolled=((2, 2),)),
]
