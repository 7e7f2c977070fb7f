"""Section 4 derivations (paper-notes 2.2), written with the paper's symbols and checked step by step.

Display symbols (`TexSymbol`: ``\\alpha_i``, ``t_i``, ``t^{pt}_i``, ``W_V s_1``, ...) are defined in terms of the
symbols of `theory.head.GeneralHead` (``Z, T, p, u`` for one prefix position; ``P, U, p_m, u_m`` for general n_S),
so the checker can unfold them and each derivation's two ends can be tied to the claim's statement. Justifications
are prose plus sympy formulas, so the LaTeX report prints every formula with the same printer as the chain.
"""
from __future__ import annotations

import sympy as sp

from theory.derivation import Derivation, TexSymbol, chain, sigma
from theory.head import GeneralHead

ABSTRACTION = ("Z_i = sum_{j<=i} e^{l_ij} and T_i = sum_j e^{l_ij} W_V x_j are symbols (any n); vectors are "
               "taken componentwise; weights are positive reals, so the identity holds for softmax in particular")

# Display symbols (the paper's: H = W_Q^T W_K, logits l_ij = tau x_i^T H x_j, prefix position s_1 / s_m).
alpha_i = TexSymbol(r"\alpha_i")
t_i = TexSymbol("t_i")
t_pt = TexSymbol(r"t^{pt}_i")
A_ij = TexSymbol("A_{ij}")
A_pt_ij = TexSymbol(r"A^{pt}_{ij}")
Z_i = TexSymbol("Z_i", positive=True)
T_i = TexSymbol("T_i")
e_i0 = TexSymbol(r"e^{\ell_{i0}}", positive=True)
e_ij = TexSymbol(r"e^{\ell_{ij}}", positive=True)
e_ir = TexSymbol(r"e^{\ell_{ir}}", positive=True)
Wvs = TexSymbol("W_V s_1")
Wvx = TexSymbol("W_V x_r")
l_i0 = TexSymbol(r"\ell_{i0}", real=True)
P_i = TexSymbol("P_i", positive=True)
U_i = TexSymbol("U_i")
e_im = TexSymbol(r"e^{\ell_{i,-m}}", positive=True)
Wvs_m = TexSymbol("W_V s_m")
alpha_im = TexSymbol(r"\alpha_{im}")
bias_i = TexSymbol(r"b_i")
mass_pt = TexSymbol(r"\textstyle\sum_j A^{pt}_{ij}")
r, m, i, n_S = sp.symbols("r m i n_S", integer=True, positive=True)
x = sp.Symbol("x", real=True)


def _sum_r(term: sp.Expr) -> sp.Sum:
    return sp.Sum(term, (r, 1, i))


def _sum_m(term: sp.Expr) -> sp.Sum:
    return sp.Sum(term, (m, 1, n_S))


def _eq(a: sp.Expr, b: sp.Expr) -> sp.Eq:
    return sp.Eq(a, b, evaluate=False)


def _add(*terms: sp.Expr) -> sp.Expr:
    """A sum printed in the order written."""
    return sp.Add(*terms, evaluate=False)


def _mul(*factors: sp.Expr) -> sp.Expr:
    """A product printed in the order written."""
    return sp.Mul(*factors, evaluate=False)


Z_MEANING = _eq(Z_i, _sum_r(e_ir))
T_MEANING = _eq(T_i, _sum_r(_mul(e_ir, Wvx)))


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
        [(e_i0 / _add(e_i0, Z_i), ("definition: the softmax weight of the prefix key, ", Z_MEANING)),
         (1 / _add(1, Z_i / e_i0), ("divide numerator and denominator by ", e_i0)),
         (1 / _add(1, sp.exp(_add(sp.log(Z_i), -l_i0), evaluate=False)),
          (_eq(Z_i / e_i0, sp.exp(_add(sp.log(Z_i), -l_i0), evaluate=False)),)),
         (sigma(_add(l_i0, -sp.log(Z_i))), (_eq(sigma(x), 1 / _add(1, sp.exp(-x))),))],
        defs, ABSTRACTION)


def single_closed_form() -> Derivation:
    _, defs = _single()
    return chain(
        "head output with one prefix position", t_pt,
        [(_add(_mul(e_i0, Wvs), T_i) / _add(e_i0, Z_i),
          ("softmax over the prefix key and the content keys; ", T_MEANING)),
         (_add(_mul(e_i0 / _add(e_i0, Z_i), Wvs), _mul(Z_i / _add(e_i0, Z_i), T_i / Z_i)), "split the sum"),
         (_add(_mul(_add(1, -alpha_i), t_i), _mul(alpha_i, Wvs)),
          ("by the definitions of ", alpha_i, " and ", t_i, "; ", _eq(1 - alpha_i, Z_i / (e_i0 + Z_i))))],
        defs, ABSTRACTION)


def contraction() -> Derivation:
    _, defs = _single()
    return chain(
        "the prefix contracts the output toward W_V s_1", _add(t_pt, -Wvs),
        [(_add(_mul(_add(1, -alpha_i), t_i), _mul(alpha_i, Wvs), -Wvs), "single-prefix closed form"),
         (_mul(_add(1, -alpha_i), _add(t_i, -Wvs)), ("collect the ", Wvs, " terms"))],
        defs, ABSTRACTION)


def relative_attention() -> Derivation:
    _, defs = _single()
    return chain(
        "the prefix scales content attention uniformly", A_pt_ij,
        [(e_ij / _add(e_i0, Z_i), "definition: softmax over the prefix key and the content keys"),
         (_mul(Z_i / _add(e_i0, Z_i), e_ij / Z_i), ("multiply and divide by ", Z_i)),
         (_mul(_add(1, -alpha_i), A_ij), ("by the definitions of ", alpha_i, " and ", A_ij))],
        defs, ABSTRACTION)


def multi_closed_form() -> Derivation:
    _, defs = _multi()
    return chain(
        "head output with n_S prefix positions", t_pt,
        [(_add(U_i, T_i) / _add(P_i, Z_i),
          ("softmax over prefix and content keys, ", _eq(P_i, _sum_m(e_im)), ", ",
           _eq(U_i, _sum_m(_mul(e_im, Wvs_m))))),
         (_add(_mul(Z_i / _add(P_i, Z_i), T_i / Z_i), U_i / _add(P_i, Z_i)), "split the sum"),
         (_add(_mul(_add(1, -alpha_i), t_i), bias_i),
          (_eq(alpha_i, _sum_m(alpha_im)), ", ", _eq(bias_i, _sum_m(_mul(alpha_im, Wvs_m)))))],
        defs, ABSTRACTION + "; P_i, U_i likewise for any n_S")


def mixture_softmax() -> Derivation:
    _, defs = _multi()
    return chain(
        "mixture weights over prefix positions depend on the query only", alpha_im / alpha_i,
        [(_mul(e_im / (P_i + Z_i), (P_i + Z_i) / P_i), ("by the definitions of ", alpha_im, " and ", alpha_i)),
         (e_im / P_i, ("cancel ", _add(P_i, Z_i), ": a softmax over the prefix logits alone, no content key"))],
        defs, ABSTRACTION)


def content_mass() -> Derivation:
    _, defs = _multi()
    return chain(
        "content attention mass", mass_pt,
        [(Z_i / _add(P_i, Z_i), (_eq(_sum_r(e_ir), Z_i),)),
         (_add(1, -P_i / _add(P_i, Z_i)), "algebra"),
         (_add(1, -alpha_i), (_eq(alpha_i, _sum_m(alpha_im)), " = ", P_i / _add(P_i, Z_i)))],
        {**defs, mass_pt: Z_i / (P_i + Z_i)}, ABSTRACTION)
