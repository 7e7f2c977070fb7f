"""Section 4 derivations (paper-notes 2.2), written with the paper's symbols and checked step by step.

Display symbols (``alpha_i``, ``t_i``, ``t^pt_i``, ...) are defined in terms of the symbols of
`theory.head.GeneralHead` (``Z, T, p, u`` for one prefix position; ``P, U, p_m, u_m`` for general n_S), so the
checker can unfold them and each derivation's two ends can be tied to the claim's statement.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation, chain
from theory.head import GeneralHead

ABSTRACTION = ("Z_i = sum_{j<=i} e^{l_ij} and T_i = sum_j e^{l_ij} W_V x_j are symbols (any n); vectors are "
               "taken componentwise; weights are positive reals, so the identity holds for softmax in particular")

# Display symbols.
alpha_i = sp.Symbol(r"\alpha_i")
t_i = sp.Symbol("t_i")
t_pt = sp.Symbol(r"t^{pt}_i")
A_ij = sp.Symbol("A_{ij}")
A_pt_ij = sp.Symbol(r"A^{pt}_{ij}")
Z_i = sp.Symbol("Z_i", positive=True)
T_i = sp.Symbol("T_i")
e_i0 = sp.Symbol(r"e^{\ell_{i0}}", positive=True)
e_ij = sp.Symbol(r"e^{\ell_{ij}}", positive=True)
Wvs = sp.Symbol("W_V s_1")
l_i0 = sp.Symbol(r"\ell_{i0}", real=True)
P_i = sp.Symbol("P_i", positive=True)
U_i = sp.Symbol("U_i")
e_im = sp.Symbol(r"e^{\ell_{i,-m}}", positive=True)
Wvs_m = sp.Symbol("W_V s_m")
alpha_im = sp.Symbol(r"\alpha_{im}")
bias_i = sp.Symbol(r"b_i")


def _single() -> tuple[GeneralHead, dict]:
    g = GeneralHead(n_prefix=1)
    defs = {Z_i: g.Z, T_i: g.T, e_i0: g.p_m, Wvs: g.u_m, e_ij: g.e_j,
            alpha_i: e_i0 / (e_i0 + Z_i), t_i: T_i / Z_i, t_pt: (e_i0 * Wvs + T_i) / (e_i0 + Z_i),
            A_ij: e_ij / Z_i, A_pt_ij: e_ij / (e_i0 + Z_i), l_i0: sp.log(g.p_m)}
    return g, defs


def _multi() -> tuple[GeneralHead, dict]:
    g = GeneralHead(n_prefix=None)
    defs = {Z_i: g.Z, T_i: g.T, P_i: g.P, U_i: g.U, e_im: g.p_m, Wvs_m: g.u_m, e_ij: g.e_j,
            alpha_i: P_i / (P_i + Z_i), alpha_im: e_im / (P_i + Z_i), t_i: T_i / Z_i, bias_i: U_i / (P_i + Z_i),
            t_pt: (U_i + T_i) / (P_i + Z_i), A_ij: e_ij / Z_i, A_pt_ij: e_ij / (P_i + Z_i)}
    return g, defs


def alpha_sigmoid() -> Derivation:
    _, defs = _single()
    return chain(
        "prefix attention is a sigmoid of the logit gap", alpha_i,
        [(e_i0 / (e_i0 + Z_i), "definition: softmax weight of the prefix key"),
         (1 / (1 + Z_i / e_i0), "divide numerator and denominator by e^{l_i0}"),
         (1 / (1 + sp.exp(sp.log(Z_i) - l_i0)), "Z/e^{l_i0} = exp(log Z - l_i0)"),
         (1 / (1 + sp.exp(-(l_i0 - sp.log(Z_i)))), "sigma(x) = 1/(1+e^{-x}) with x = l_i0 - log Z_i")],
        defs, ABSTRACTION)


def single_closed_form() -> Derivation:
    _, defs = _single()
    return chain(
        "head output with one prefix position", t_pt,
        [((e_i0 * Wvs + T_i) / (e_i0 + Z_i), "softmax over the prefix key and the content keys; split the sum"),
         (sp.Add(sp.Mul(e_i0 / (e_i0 + Z_i), Wvs, evaluate=False),
                 sp.Mul(Z_i / (e_i0 + Z_i), T_i / Z_i, evaluate=False), evaluate=False), "factor the two summands"),
         (alpha_i * Wvs + (1 - alpha_i) * t_i, "alpha_i = e^{l_i0}/(e^{l_i0}+Z_i), 1 - alpha_i = Z_i/(e^{l_i0}+Z_i), t_i = T_i/Z_i")],
        defs, ABSTRACTION)


def contraction() -> Derivation:
    _, defs = _single()
    return chain(
        "the prefix contracts the output toward W_V s_1", t_pt - Wvs,
        [(alpha_i * Wvs + (1 - alpha_i) * t_i - Wvs, "single-prefix closed form"),
         ((1 - alpha_i) * (t_i - Wvs), "collect the W_V s_1 terms")],
        defs, ABSTRACTION)


def relative_attention() -> Derivation:
    _, defs = _single()
    return chain(
        "the prefix scales content attention uniformly", A_pt_ij,
        [(e_ij / (e_i0 + Z_i), "definition: softmax over the prefix key and the content keys"),
         (sp.Mul(Z_i / (e_i0 + Z_i), e_ij / Z_i, evaluate=False), "multiply and divide by Z_i"),
         ((1 - alpha_i) * A_ij, "1 - alpha_i = Z_i/(e^{l_i0}+Z_i), A_ij = e^{l_ij}/Z_i")],
        defs, ABSTRACTION)


def multi_closed_form() -> Derivation:
    _, defs = _multi()
    return chain(
        "head output with n_S prefix positions", t_pt,
        [((U_i + T_i) / (P_i + Z_i), "softmax over prefix and content keys, P_i = sum_m e^{l_i,-m}, U_i = sum_m e^{l_i,-m} W_V s_m"),
         (sp.Add(sp.Mul(Z_i / (P_i + Z_i), T_i / Z_i, evaluate=False), U_i / (P_i + Z_i), evaluate=False),
          "split the sum"),
         ((1 - alpha_i) * t_i + bias_i, "alpha_i = P_i/(P_i+Z_i) = sum_m alpha_im; b_i = sum_m alpha_im W_V s_m")],
        defs, ABSTRACTION + "; P_i, U_i likewise for any n_S")


def mixture_softmax() -> Derivation:
    _, defs = _multi()
    return chain(
        "mixture weights over prefix positions depend on the query only", alpha_im / alpha_i,
        [((e_im / (P_i + Z_i)) / (P_i / (P_i + Z_i)), "definitions"),
         (e_im / P_i, "cancel P_i + Z_i: a softmax over the prefix logits alone, no content key appears")],
        defs, ABSTRACTION)


def content_mass() -> Derivation:
    _, defs = _multi()
    return chain(
        "content attention mass", sp.Symbol(r"\sum_j A^{pt}_{ij}"),
        [(Z_i / (P_i + Z_i), "sum_j e^{l_ij} = Z_i"),
         (1 - P_i / (P_i + Z_i), "algebra"),
         (1 - alpha_i, "alpha_i = sum_m alpha_im = P_i/(P_i+Z_i)")],
        {**defs, sp.Symbol(r"\sum_j A^{pt}_{ij}"): Z_i / (P_i + Z_i)}, ABSTRACTION)
