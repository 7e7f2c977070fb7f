"""Counterexample search on concrete heads (paper-notes 2.2 consequences and LoRA, 2.4; 5 items 13, 14, 16, 22).

* `prefix.cannot_reverse_attention`: no prefix of any length reverses two content attention weights (z3, exp as
  positive reals with lemmas; per pair, all n at once by aggregation, and explicitly at n = 8; bench: n = 64).
* `prefix.reachable_segment`: with n_S = 1 every output of one input lies on a segment [t_i, W_V s] with a
  common end W_V s; a target off those segments is UNSAT, one on them is FOUND with a validated s.
* `prefix.vs_lora_separation`: on a head pretrained to attend to the smallest token, rank-1 LoRA on W_K makes it
  copy the largest (validated witness); z3 proves no prefix with the same parameter count can, on all inputs.

The factories take the piece a false twin changes (the method, the segment end point, the pretrained head). The
checks are built by `proofs.search_checks`.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from proofs.claim import Claim, Expected
from proofs.search_checks import (
    reverse_numeric,
    reverse_smt,
    segment_numeric,
    segment_smt,
    separation_numeric,
    separation_smt,
    wide_numeric,
    wide_smt,
)

if TYPE_CHECKING:
    from proofs.z3_search import Problem
    from theory.smt_prefix import Method

SECTION = "4 search (concrete heads)"
ASSUME = ("one softmax head, causal mask, the prefix is only a key/value (never a query); first layer or "
          "conditional on the layer's inputs",)


# ---- prefix.cannot_reverse_attention -------------------------------------------------------------------------

def cannot_reverse_claim(id: str = "prefix.cannot_reverse_attention", method: str = "prefix",
                         expected: Expected = "holds") -> Claim:
    return Claim(
        id=id, title="no prefix of any length reverses the order of two content attention weights (n up to 64)",
        paper_ref="Sec. 4 (the attention pattern over the content cannot change); notes 2.2, 5 item 13",
        statement=r"\ell_{ij}<\ell_{ik}\ \Rightarrow\ A^{pt}_{ij}<A^{pt}_{ik}\quad\forall n,\ n_S,\ s_{1..n_S}",
        assumptions=ASSUME, expected=expected, section=SECTION,
        smt=reverse_smt(method), numeric=reverse_numeric(method))


# ---- prefix.reachable_segment --------------------------------------------------------------------------------

def reachable_segment_claim(id: str = "prefix.reachable_segment", end: str = "t",
                            expected: Expected = "holds") -> Claim:
    return Claim(
        id=id, title="n_S=1: reachable outputs lie on segments from t_i to a common W_V s; a target off them is UNSAT",
        paper_ref="Sec. 4 (the output is biased towards W_V s_1); notes 2.2, 5 items 5, 14",
        statement=r"t^{pt}_i\in[t_i,\,W_Vs]\ \forall i;\quad y\notin\bigcup_s\prod_i[t_i,W_Vs]\Rightarrow"
                  r"\text{UNSAT},\ \ y\text{ on them}\Rightarrow\text{validated }s",
        assumptions=ASSUME, expected=expected, section=SECTION,
        smt=segment_smt(end), numeric=segment_numeric(end))


# ---- prefix.vs_lora_separation --------------------------------------------------------------------------------

SEPARATION_INPUTS = [[[0.0, 1.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 1.0]], [[1.0, 1.0], [2.0, 1.0]]]
EPS = 0.05


def separation_problem(c: float, method: Method) -> Problem:
    """Tokens x = (v, 1); W_Q = [[0,1],[0,0]], W_K = [[c,0],[0,0]] so l_ij = c v_j (c < 0: attend to the
    smallest, paper-notes 2.2 LoRA example); W_V = I; task: output the largest token of each input within EPS."""
    from proofs.z3_search import Problem
    from theory.smt_prefix import Task

    targets = [max(x, key=lambda tok: tok[0]) for x in SEPARATION_INPUTS]
    return Problem([[0.0, 1.0], [0.0, 0.0]], [[c, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], method,
                   Task(SEPARATION_INPUTS, targets, tol=EPS), tau=1.0)


def separation_claim(id: str = "prefix.vs_lora_separation", c: float = -3.0,
                     expected: Expected = "holds") -> Claim:
    return Claim(
        id=id, title="rank-1 LoRA on W_K turns 'attend to smallest' into 'copy the largest'; no equal-size prefix can",
        paper_ref=("Sec. 4 rank-1 LoRA remark; Sec. 6 (LoRA here on W_K, not the paper's placement); "
                   "notes 2.2, 2.4, 5 items 16, 22"),
        statement=r"\exists\,\Delta W_K=ba^\top:\ \|t^{lora}(X)-W_Vx_{\max}(X)\|_\infty\le\varepsilon\ \forall X;"
                  r"\quad\nexists\,s_1,s_2:\ \|t^{pt}(X)-W_Vx_{\max}(X)\|_\infty\le\varepsilon\ \forall X",
        assumptions=ASSUME + ("x = (v, 1), l_ij = c v_j with c = -3, tau = 1, W_V = I; inputs {0,1}, {0,2}, {1,2}; "
                              f"eps = {EPS}; 4 parameters each (n_S = 2, d = 2)",),
        expected=expected, section=SECTION, smt=separation_smt(partial(separation_problem, c)),
        numeric=separation_numeric(partial(separation_problem, c)))


# ---- prefix.reachable_segment_d64 ---------------------------------------------------------------------------

def wide_segment_claim(id: str = "prefix.reachable_segment_d64", end: str = "t",
                       expected: Expected = "holds") -> Claim:
    return Claim(
        id=id, title="n_S=1 at d=64, 16 inputs of 32 tokens: far targets are unreachable (exact certificate), "
                     "planted ones are found",
        paper_ref="Sec. 4 (the output is biased towards W_V s_1), at d = 64; notes 2.2, 5 items 5, 14",
        statement=r"t^{pt}_r\in[t_r,\,W_Vs];\ y\ \text{off every ray from } t_r \text{ through a common } "
                  r"W_Vs\Rightarrow\text{IMPOSSIBLE}\ (d=64,\ R=16,\ n=32)",
        assumptions=ASSUME + ("a seeded random head of width 64 (tau = 1/8), 16 seeded inputs of 32 tokens; "
                              "tol = 1e-3 (max-norm)",),
        expected=expected, section=SECTION, smt=wide_smt(end), numeric=wide_numeric(end))



CLAIMS = [cannot_reverse_claim(), reachable_segment_claim(), separation_claim(), wide_segment_claim()]
