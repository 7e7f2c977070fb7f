"""FALSE: closed forms of Section 4 off by a tiny amount, the amount written as a Python float, a sympy Rational,
a fractions.Fraction, or a string (sympy.Rational("1e-40"), sympy.Float("1e-40", 60)); and float constants that
differ in binary (0.1 + 0.2 != 0.3).

Every claim below is false for every head: the perturbation is not 0 as a real number (a float's exact binary value
is not 0 either), and nothing cancels it. A layer that decides the residual on 53-bit floats, or a solver that
rounds the constant, will be fooled; the numeric layer cannot see amounts below its tolerance and must not be
taken as proof.
"""
from __future__ import annotations

from fractions import Fraction

import sympy
from mutant_views import identity_family

from proofs import Shape

TRUTH = False

# the same amounts in every spelling a user might choose
AMOUNTS = {
    "float1e-9": 1e-9, "float1e-12": 1e-12, "float1e-17": 1e-17, "float1e-25": 1e-25, "float1e-40": 1e-40,
    "rat1e-9": sympy.Rational(1, 10**9), "rat1e-17": sympy.Rational(1, 10**17), "rat1e-30": sympy.Rational(1, 10**30),
    "rat1e-40": sympy.Rational(1, 10**40),
    "frac1e-12": Fraction(1, 10**12), "frac1e-20": Fraction(1, 10**20), "frac1e-40": Fraction(1, 10**40),
    "ratstr1e-40": sympy.Rational("1e-40"), "ratstr1e-25": sympy.Rational("1e-25"),
    "mpf1e-40": sympy.Float("1e-40", 60), "mpf1e-30": sympy.Float("1e-30", 50),
}


def closed_form_plus(eps):
    """t^pt = (1 - alpha) t + alpha W_V s_1 + eps t  (an extra term eps t)."""
    def statement(E):
        h = E.h
        return h.t_pt, (1 - h.alpha) * h.t + h.alpha * h.u[0] + eps * h.t
    return statement


def closed_form_scaled_weight(eps):
    """t^pt = (1 - alpha - eps) t + alpha W_V s_1  (the content weight off by eps)."""
    def statement(E):
        h = E.h
        return h.t_pt, (1 - h.alpha - eps) * h.t + h.alpha * h.u[0]
    return statement


def relative_attention_off(eps):
    """A^pt_ij = (1 - alpha_i + eps) A_ij."""
    def statement(E):
        h = E.h
        return h.A_pt, (1 - h.alpha + eps) * h.A
    return statement


def content_mass_off(eps):
    """sum_j A^pt_ij = 1 - sum_m alpha_im + eps  (two prefix positions)."""
    def statement(E):
        h = E.h
        return h.mass_pt, 1 - h.alpha + eps
    return statement


def sigmoid_shifted(eps):
    """alpha_i = sigma(l_i0 - LSE_i + eps)."""
    def statement(E):
        h = E.h
        return h.alpha, h.sigmoid(h.l_prefix[0] - h.lse + eps)
    return statement


def contraction_off(eps):
    """t^pt - W_V s_1 = (1 - alpha)(t - W_V s_1) + eps W_V s_1."""
    def statement(E):
        h = E.h
        return h.t_pt - h.u[0], (1 - h.alpha) * (h.t - h.u[0]) + eps * h.u[0]
    return statement


def multi_off(eps):
    """t^pt = (1 - sum alpha) t + sum alpha_m W_V s_m, with the bias scaled by (1 + eps) (n_S = 2)."""
    def statement(E):
        h = E.h
        return h.t_pt, (1 - h.alpha) * h.t + h.bias * (1 + eps)
    return statement


claim = identity_family("mut.false.tiny", "mutants: tiny perturbations")


CLAIMS = []
for label, eps in AMOUNTS.items():
    CLAIMS.append(claim(f"closed_form_plus.{label}", f"t^pt = (1-a) t + a W_V s + {label} t",
                        r"t^{pt}_i=(1-\alpha_i)t_i+\alpha_iW_Vs_1+\varepsilon t_i", closed_form_plus(eps)))
for label in ("float1e-17", "rat1e-30", "frac1e-40", "ratstr1e-40", "mpf1e-40"):
    eps = AMOUNTS[label]
    CLAIMS.append(claim(f"relative_attention.{label}", f"A^pt = (1 - a + {label}) A",
                        r"A^{pt}_{ij}=(1-\alpha_i+\varepsilon)A_{ij}", relative_attention_off(eps)))
for label in ("float1e-25", "rat1e-40", "frac1e-20", "mpf1e-30"):
    eps = AMOUNTS[label]
    CLAIMS.append(claim(f"content_mass.{label}", f"content mass = 1 - sum alpha + {label} (n_S = 2)",
                        r"\sum_jA^{pt}_{ij}=1-\sum_m\alpha_{im}+\varepsilon", content_mass_off(eps),
                        shape=Shape(n_S=2)))
for label in ("float1e-17", "rat1e-17", "frac1e-40", "ratstr1e-25"):
    eps = AMOUNTS[label]
    CLAIMS.append(claim(f"alpha_sigmoid.{label}", f"alpha = sigma(l - LSE + {label})",
                        r"\alpha_i=\sigma(\ell_{i0}-\mathrm{LSE}_i+\varepsilon)", sigmoid_shifted(eps), smt=False))
for label in ("float1e-12", "rat1e-30", "ratstr1e-40"):
    eps = AMOUNTS[label]
    CLAIMS.append(claim(f"content_weight.{label}", f"t^pt = (1 - a - {label}) t + a W_V s",
                        r"t^{pt}_i=(1-\alpha_i-\varepsilon)t_i+\alpha_iW_Vs_1", closed_form_scaled_weight(eps)))
for label in ("float1e-25", "frac1e-12"):
    eps = AMOUNTS[label]
    CLAIMS.append(claim(f"contraction.{label}", f"contraction with an extra {label} W_V s",
                        r"t^{pt}_i-W_Vs_1=(1-\alpha_i)(t_i-W_Vs_1)+\varepsilon W_Vs_1", contraction_off(eps)))
for label in ("float1e-9", "rat1e-40"):
    eps = AMOUNTS[label]
    CLAIMS.append(claim(f"multi_closed_form.{label}", f"n_S = 2 closed form with the bias scaled by 1 + {label}",
                        r"t^{pt}_i=(1-\sum_m\alpha_{im})t_i+(1+\varepsilon)\sum_m\alpha_{im}W_Vs_m", multi_off(eps),
                        shape=Shape(n_S=2)))


# ---- float constants that differ in binary ------------------------------------------------------------------

def tenths_floats(E):
    """0.1 t + 0.2 t = 0.3 t with Python floats: false as floats (0.1 + 0.2 = 0.30000000000000004 in binary)."""
    h = E.h
    return 0.1 * h.t + 0.2 * h.t, 0.3 * h.t


def tenths_floats_prefixed(E):
    """0.1 t^pt + 0.2 t^pt = 0.3 ((1 - alpha) t + alpha W_V s_1)."""
    h = E.h
    return 0.1 * h.t_pt + 0.2 * h.t_pt, 0.3 * ((1 - h.alpha) * h.t + h.alpha * h.u[0])


def third_as_decimal(E):
    """t^pt / 3 = 0.3333333333333333 t^pt: the float is not 1/3."""
    h = E.h
    return h.t_pt / 3, 0.3333333333333333 * h.t_pt


def third_as_string(E):
    """A^pt / 3 = Rational("0.333333333333333333333333333333") A^pt (30 digits are not 1/3)."""
    h = E.h
    return h.A_pt / 3, sympy.Rational("0.333333333333333333333333333333") * h.A_pt


def mpf_third(E):
    """alpha / 3 = Float(1/3, 60) alpha: a 60-digit float is not 1/3."""
    h = E.h
    return h.alpha / 3, sympy.Float("0.3333333333333333333333333333333333333333333333333333333333", 60) * h.alpha


CLAIMS += [
    claim("tenths_floats", "0.1 t + 0.2 t = 0.3 t (Python floats)", r"0.1t+0.2t=0.3t", tenths_floats),
    claim("tenths_floats_prefixed", "0.1 t^pt + 0.2 t^pt = 0.3 (closed form) (Python floats)",
          r"0.1t^{pt}+0.2t^{pt}=0.3((1-\alpha)t+\alpha W_Vs_1)", tenths_floats_prefixed),
    claim("third_as_decimal", "t^pt / 3 = 0.3333333333333333 t^pt", r"t^{pt}/3=0.3333333333333333\,t^{pt}",
          third_as_decimal),
    claim("third_as_string", "A^pt / 3 = Rational('0.333...3' (30 digits)) A^pt", r"A^{pt}/3=0.\bar3_{30}A^{pt}",
          third_as_string),
    claim("third_as_mpf", "alpha / 3 = Float(1/3, 60 digits) alpha", r"\alpha/3=0.\bar3_{60}\alpha", mpf_third),
]
