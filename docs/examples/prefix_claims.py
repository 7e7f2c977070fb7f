"""Three user claims about one attention head with a prefix, written with prefixcheck's public API.

    prefixcheck check --claims docs/examples/prefix_claims.py

Notation (paper-notes 1-2): logits l_ij = tau x_i^T H x_j with H = W_Q^T W_K, content attention A_ij, head output
t_i = sum_j A_ij W_V x_j; a prefix s_1 adds the key W_K s_1 and the value W_V s_1, takes the attention
alpha_i = A^pt_i0 and gives the output t^pt_i. docs/writing-claims.md walks through this file.
"""
from __future__ import annotations

from typing import Any, Callable

from proofs import (ABSTRACTION, Check, Claim, Context, LayerResult, Shape, Status, TorchEnv, Z3Head, certify_unsat,
                    chain, identity_claim, realize, solve)

SECTION = "examples"


# ---- 1. an identity that holds, with a derivation chain -------------------------------------------------------

def prefix_shift(E: Any) -> tuple[Any, Any]:
    """What a prefix adds to the output: t^pt_i - t_i = alpha_i (W_V s_1 - t_i)."""
    h = E.h
    return h.t_pt - h.t, h.alpha * (h.u[0] - h.t)


def prefix_shift_derivation() -> Any:
    """The same identity as a chain of equalities over the general-n view of a head (any number of tokens):
    Z_i = sum_j e^{l_ij}, T_i = sum_j e^{l_ij} W_V x_j, prefix weight e^{l_i0} and value W_V s_1."""
    from proofs import GeneralHead, TexSymbol

    g = GeneralHead()
    # display symbols, printed as their LaTeX and unfolded into the head's symbols when the chain is checked
    Z, T = TexSymbol("Z_i", positive=True), TexSymbol("T_i")
    p, u = TexSymbol(r"e^{\ell_{i0}}", positive=True), TexSymbol("W_V s_1")
    alpha, t, t_pt = TexSymbol(r"\alpha_i"), TexSymbol("t_i"), TexSymbol(r"t^{pt}_i")
    definitions = {Z: g.Z, T: g.T, p: g.p_m, u: g.u_m,
                   alpha: p / (p + Z), t: T / Z, t_pt: (p * u + T) / (p + Z)}
    return chain("what a prefix adds to the head output", t_pt - t, [
        ((p * u + T) / (p + Z) - T / Z, "softmax over the prefix key and the content keys"),
        (p / (p + Z) * u + (Z / (p + Z) - 1) * T / Z, "split the first fraction; multiply T_i/Z_i by Z_i"),
        (alpha * u - alpha * t, "Z_i/(e^{l_i0} + Z_i) - 1 = -alpha_i"),
        (alpha * (u - t), "factor alpha_i"),
    ], definitions, abstraction="sums over content as symbols Z, T (any n); weights positive reals")


PREFIX_SHIFT = identity_claim(
    "example.prefix_shift", "a prefix moves t_i toward W_V s_1 by the fraction alpha_i",
    "paper-notes 2.2 consequence 2", r"t^{pt}_i-t_i=\alpha_i\,(W_Vs_1-t_i)",
    prefix_shift, derivation=prefix_shift_derivation, section=SECTION)


# ---- 2. a limitation proved by z3: a prefix can only take attention away from content --------------------------

Bound = Callable[[Any], tuple[Any, Any]]  # a view -> (lhs, rhs), claiming lhs <= rhs for every content position j


def never_more_attention(h: Any) -> tuple[Any, Any]:
    """A^pt_ij <= A_ij: no prefix, of any length, raises the attention on any content token."""
    return h.A_pt, h.A


def smt_at_most(bound: Bound, n: int = 3, n_S: int = 2) -> Check:
    """z3, one query per content position j: ``lhs_j > rhs_j`` over positive weights (the sound abstraction of
    softmax weights). UNSAT for every j is PROVED, with a certificate the trusted kernel issues from those UNSAT
    answers; a model is re-checked on a float64 torch head first."""

    def check(ctx: Context) -> LayerResult:
        head = Z3Head(n, n_S, d=1)
        lhs, rhs = bound(head.view)
        answers = []
        for j in range(n):
            q = solve([*head.constraints, lhs[j] > rhs[j]], ctx.timeout)
            answers.append(q)
            if q.result == "unknown":
                return LayerResult(Status.UNKNOWN, f"position {j}: z3 {q.reason}", abstraction=ABSTRACTION)
            if q.result == "sat":
                numbers = head.numbers(q.model)
                (instance,) = realize([numbers], numbers["u"])
                big, small = bound(TorchEnv([[instance]], []).h)
                excess = float(big[0, -1, j] - small[0, -1, j])
                if excess <= ctx.tol:
                    return LayerResult(Status.UNKNOWN, f"z3 model did not survive re-checking (excess {excess:.3g})",
                                       abstraction=ABSTRACTION, witness=numbers)
                return LayerResult(Status.COUNTEREXAMPLE, f"position {j}: lhs exceeds rhs by {excess:.3g} on a "
                                   f"float64 torch head", abstraction=ABSTRACTION, witness={**numbers, "position": j})
        scope = f"n = {n} content positions (longer heads by aggregating the last), n_S = {n_S}"
        return LayerResult(Status.PROVED, f"negation UNSAT at each of {n} positions (n_S={n_S})",
                           abstraction=ABSTRACTION,
                           certificate=certify_unsat(answers, "positive-weights", scope, ABSTRACTION))

    return check


def numeric_at_most(bound: Bound, n: int = 6, d: int = 4, n_S: int = 2) -> Check:
    """torch float64 over ``ctx.instances`` random heads, every query and content position."""

    def check(ctx: Context) -> LayerResult:
        seed = ctx.child_seed("at-most")
        h = TorchEnv.random(1, 1, n_S, B=ctx.instances, n=n, d=d, seed=seed).h
        lhs, rhs = bound(h)
        excess = lhs - rhs
        worst = float(excess.max())
        if worst <= ctx.tol:
            return LayerResult(Status.CONSISTENT, f"max excess {worst:.3g} <= {ctx.tol:g} (seed {seed})",
                               max_error=max(worst, 0.0), instances=ctx.instances)
        b, i, j = (int(k) for k in (excess == excess.max()).nonzero()[0])
        return LayerResult(Status.VIOLATED, f"excess {worst:.3g} at seed {seed}, instance {b}, query {i}, key {j}",
                           max_error=worst, instances=ctx.instances,
                           witness={"seed": seed, "instance": b, "query": i, "key": j, "excess": worst})

    return check


def at_most_claim(id: str, title: str, bound: Bound, expected: Any = "holds") -> Claim:
    return Claim(
        id=id, title=title, paper_ref="paper-notes 2.2 consequence 1", section=SECTION, expected=expected,
        statement=r"A^{pt}_{ij}\le A_{ij}\quad\forall j\le i,\ \forall n_S,\ \forall s_{1..n_S}",
        assumptions=("one softmax head; content q, k, v unchanged by the prefix; causal mask",),
        numeric=numeric_at_most(bound), smt=smt_at_most(bound))


NEVER_MORE = at_most_claim("example.prefix_never_adds_attention",
                           "a prefix cannot raise the attention on any content token", never_more_attention)


# ---- 3. a false statement, refuted with a witness ------------------------------------------------------------

def constant_bias(E: Any) -> tuple[Any, Any]:
    """(false) a prefix adds the same vector to every input's output: (t^pt - t)(x) = (t^pt - t)(x')."""
    a, b = E.view(0), E.view(1)
    return a.t_pt - a.t, b.t_pt - b.t


CONSTANT_BIAS = identity_claim(
    "example.constant_bias", "naive: a prefix adds one fixed vector to the output, whatever the input",
    "paper-notes 2.2 consequence 2 (caution)", r"t^{pt}_i(x)-t_i(x)=t^{pt}_i(x')-t_i(x')",
    constant_bias, shape=Shape(inputs=2), expected="fails", section=SECTION)


CLAIMS = [PREFIX_SHIFT, NEVER_MORE, CONSTANT_BIAS]
