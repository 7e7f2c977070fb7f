"""FALSE: statements true only at some sizes. They name fixed content positions ("the first six content tokens carry
all the content attention": true for n <= 6 only), fixed vector components or a fixed width d (Cayley-Hamilton for
a 2x2 W_O, |t|^2 = t_1^2 + t_2^2), or hold for one head / one prefix position only. A layer that checks them at
one small size and calls the result "general n" / "any length" / "any d" is unsound.

Positions, components and matrix entries are named through `mutant_views` (the same helpers a user writes once:
each engine spells indexing differently). The general-n view has no positions (A is the attention of a generic j),
so the positional claims turn it off (``general=False``), as a user would.
"""
from __future__ import annotations

import sympy
from mutant_views import comp, det, dot, entry, identity_family, keys, size, trace

from proofs import Shape

TRUTH = False


claim = identity_family("mut.false.size", "mutants: fixed sizes")


# ---- named content positions --------------------------------------------------------------------------------

def first_k_carry_content(k):
    """sum_{j<k} A^pt_ij = sum_j A^pt_ij: the first k content tokens carry all the content attention (n <= k)."""
    def statement(E):
        h = E.h
        return keys(h.A_pt, k), h.mass_pt
    return statement


def first_k_carry_all(k):
    """sum_{j<k} A_ij = 1 without a prefix (n <= k only)."""
    def statement(E):
        h = E.h
        return keys(h.A, k), 1 + 0 * h.alpha
    return statement


def first_k_closed(k):
    """sum_{j<k} A^pt_ij = 1 - alpha_i (n <= k only)."""
    def statement(E):
        h = E.h
        return keys(h.A_pt, k), 1 - h.alpha
    return statement


# ---- named dimensions ---------------------------------------------------------------------------------------

def cayley_hamilton_generic(E):
    """W_O^2 t - tr(W_O) W_O t + det(W_O) t = 0 (Cayley-Hamilton for 2x2 matrices), W_O of any size d."""
    h, M = E.h, E.W_O(0)
    Mt = h.matvec(M, h.t)
    return h.matvec(M, Mt) - Mt * trace(M) + h.t * det(M), h.t * 0


def cayley_hamilton_2x2_det(E):
    """The same, with det written as the 2x2 formula m_00 m_11 - m_01 m_10 (only d = 2 makes it the determinant)."""
    h, M = E.h, E.W_O(0)
    Mt = h.matvec(M, h.t_pt)
    d2 = entry(M, 0, 0) * entry(M, 1, 1) - entry(M, 0, 1) * entry(M, 1, 0)
    return h.matvec(M, Mt) - Mt * trace(M) + h.t_pt * d2, h.t_pt * 0


def cayley_hamilton_eye2(E):
    """W_O^2 - tr(W_O) W_O + det(W_O) I_2 = 0 with I_2 hard-coded, as matrices (sympy) / applied to t elsewhere."""
    h, M = E.h, E.W_O(0)
    if isinstance(M, sympy.MatrixBase):
        return M * M - M.trace() * M + M.det() * sympy.eye(2), sympy.zeros(2, 2)
    Mt = h.matvec(M, h.t)
    return h.matvec(M, Mt) - Mt * trace(M) + h.t * det(M), h.t * 0


def norm_two_components(E):
    """|t|^2 = t_1^2 + t_2^2 (the value vectors have two components only at d = 2)."""
    h = E.h
    return dot(h.t, h.t), comp(h.t, 0) * comp(h.t, 0) + comp(h.t, 1) * comp(h.t, 1)


def inner_two_components(E):
    """<t^pt, W_V s_1> = sum over the first two components only."""
    h = E.h
    u = h.u[0]
    return dot(h.t_pt, u), comp(h.t_pt, 0) * comp(u, 0) + comp(h.t_pt, 1) * comp(u, 1)


def trace_is_two_diagonals(E):
    """tr(W_O) t = (w_00 + w_11) t: the trace of a d x d matrix has d diagonal entries."""
    h, M = E.h, E.W_O(0)
    return h.t * trace(M), h.t * (entry(M, 0, 0) + entry(M, 1, 1))


def trace_matches_size_two(E):
    """size(W_O) t = 2 t written with the size helper: the width is 2 (a fixed dimension)."""
    h, M = E.h, E.W_O(0)
    return h.t * size(M), h.t * 2


# ---- heads and prefix positions -----------------------------------------------------------------------------

def one_head_layer(E):
    """sum_h W_O^h t^pt,h = W_O^0 ((1 - a) t + a W_V s) (the other heads forgotten: true for one head only)."""
    mv = E.h.matvec
    out = E.total([mv(E.W_O(h), E.view(0, h).t_pt) for h in range(E.n_heads)])
    h0 = E.view(0, 0)
    return out, mv(E.W_O(0), (1 - h0.alpha) * h0.t + h0.alpha * h0.u[0])


def single_prefix_form_for_two(E):
    """t^pt = (1 - alpha) t + alpha W_V s_1 for n_S = 2 (true for one prefix position only)."""
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t + h.alpha * h.u[0]


CLAIMS = [
    claim("first_six_carry_content", "the first six content tokens carry all the content attention",
          r"\sum_{j<6}A^{pt}_{ij}=\sum_jA^{pt}_{ij}", first_k_carry_content(6), general=False),
    claim("first_three_carry_content", "the first three content tokens carry all the content attention",
          r"\sum_{j<3}A^{pt}_{ij}=\sum_jA^{pt}_{ij}", first_k_carry_content(3), general=False),
    claim("first_six_carry_all", "without a prefix, the first six tokens take all the attention",
          r"\sum_{j<6}A_{ij}=1", first_k_carry_all(6), general=False),
    claim("first_four_closed", "the first four tokens take 1 - alpha", r"\sum_{j<4}A^{pt}_{ij}=1-\alpha_i",
          first_k_closed(4), general=False),
    claim("first_six_closed_n_S2", "n_S = 2: the first six tokens take 1 - sum alpha",
          r"\sum_{j<6}A^{pt}_{ij}=1-\sum_m\alpha_{im}", first_k_closed(6), shape=Shape(n_S=2), general=False),
    claim("cayley_hamilton_generic", "Cayley-Hamilton of a 2x2 matrix, for W_O of any size",
          r"W_O^2t-\mathrm{tr}(W_O)W_Ot+\det(W_O)t=0", cayley_hamilton_generic, general_d=2),
    claim("cayley_hamilton_2x2_det", "Cayley-Hamilton with the 2x2 determinant formula, for any d",
          r"W_O^2t^{pt}-\mathrm{tr}(W_O)W_Ot^{pt}+(w_{00}w_{11}-w_{01}w_{10})t^{pt}=0", cayley_hamilton_2x2_det,
          general_d=2),
    claim("cayley_hamilton_eye2", "Cayley-Hamilton with I_2 hard-coded", r"W_O^2-\mathrm{tr}(W_O)W_O+\det(W_O)I_2=0",
          cayley_hamilton_eye2, general_d=2),
    claim("norm_two_components", "|t|^2 = t_1^2 + t_2^2", r"\lVert t_i\rVert^2=t_{i1}^2+t_{i2}^2",
          norm_two_components, general_d=2),
    claim("inner_two_components", "<t^pt, W_V s> uses two components", r"\langle t^{pt},W_Vs\rangle=\sum_{c<2}\dots",
          inner_two_components, general_d=2),
    claim("trace_two_diagonals", "tr(W_O) = w_00 + w_11", r"\mathrm{tr}(W_O)t=(w_{00}+w_{11})t",
          trace_is_two_diagonals, general_d=2),
    claim("width_is_two", "the width d of W_O is 2", r"d\,t=2t", trace_matches_size_two, general_d=2),
    claim("one_head_layer", "a two-head layer output written with head 0 only", r"\sum_hW_O^ht^{pt,h}=W_O^0t^{pt,0}",
          one_head_layer, shape=Shape(heads=2), general_d=2, smt_n=2, unrolled=((2, 2),)),
    claim("single_prefix_form_for_two", "n_S = 2 with the one-position closed form",
          r"t^{pt}=(1-\alpha)t+\alpha W_Vs_1\ (n_S=2)", single_prefix_form_for_two, shape=Shape(n_S=2),
          general=False),
]
