"""Soft prompting is strictly weaker than prefix-tuning (paper Sec. 2-3, the hierarchy prompting < soft prompting <
prefix-tuning; notes 1.2): an exact invariant of every soft prompt on a concrete two-layer model.

The model is `theory.depth.TinyModel`'s semantics (residual, one head per layer, W_O folded into W_V, no norm, no MLP,
causal, exp kept), width d = 2 with coordinates (a, b), one content token x at position 1:

* layer 1: any W_Q^(1), W_K^(1) (symbolic), ``W_V^(1) = [[0, 0], [0, -1]]`` (``write_b``, the factory's parameter);
* layer 2: W_Q^(2) = 0 (uniform attention), ``W_V^(2) = [[0, 1], [0, 0]]`` (reads b, writes a).

A soft prompt s sits at position 0. Under the causal mask it attends only to itself, so its layer-2 state is
``h^(2)_0 = (I + W_V^(1)) s = (s_a, 0)``: a function of the one vector s whose b-coordinate is always 0. A prefix
sets the layer-2 key/value ``p^(2)`` independently of ``p^(1)``. Layer 2 writes ``(h^(2)_0 + h^(2)_1)_b / 2`` into
coordinate a, and layer 1 never writes coordinate a, so for every soft prompt, every layer-1 attention and every x:

    out_a - out_b / 2 - x_a = (h^(2)_0)_b / 2 = 0.

The target ``out = (1, 0)`` at ``x = 0`` violates it (1 != 0): no soft prompt reaches it. The prefix
``p^(1) = 0, p^(2) = (0, 2)`` reaches it exactly. With ``W_V^(1) = 0`` (the false twin: I + W_V^(1) invertible) the
residual is ``s_b / 2``, not 0, and the soft prompt ``s = (0, 2)`` reaches the target.

`decide` is the kernel's decision on both facts (one certificate for the invariant and the prefix's reach).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from theory.depth import mat, vec
from theory.head import exp_logit, matmul
from theory.kernel import Certificate, ZeroTest, certify_zero, decide_zero

D = 2
W_V2 = sp.Matrix([[0, 1], [0, 0]])
TARGET = (sp.Integer(1), sp.Integer(0))
X_TARGET = (sp.Integer(0), sp.Integer(0))
PREFIX = ((0, 0), (0, 2))  # p^(1), p^(2) reaching TARGET at X_TARGET
SCOPE = ("this two-layer model (d = 2, one content token, one soft token against one prefix position per layer): "
         "every soft prompt s, every input x and every layer-1 W_Q, W_K")
ABSTRACTION = ("exact: sympy on symbols, softmax weights as exp of symbolic logits; residual single-head layers, W_O "
               "folded, no norm or MLP, causal mask")


def w_v1(write_b: bool) -> sp.Matrix:
    """Layer 1's value map: ``[[0, 0], [0, -1]]`` (the strict model) or 0 (the twin)."""
    return sp.Matrix([[0, 0], [0, -1 if write_b else 0]])


def _layer(h: list[sp.Matrix], keys: list[sp.Matrix], W_Q: sp.Matrix, W_K: sp.Matrix, W_V: sp.Matrix,
           first_key: int) -> list[sp.Matrix]:
    """One residual layer: query position i sees keys[: first_key + i + 1] (causal, prefix keys first)."""
    out = []
    for i, q in enumerate(h):
        visible = keys[:first_key + i + 1]
        w = [exp_logit(matmul(matmul(matmul(q.T, W_Q.T), W_K), k)[0, 0]) for k in visible]
        out.append(q + sum((matmul(wj * W_V, k) for wj, k in zip(w, visible)), sp.zeros(D, 1)) / sum(w))
    return out


def soft_output(write_b: bool, s: Sequence[Any] | None = None, x: Sequence[Any] | None = None) -> sp.Matrix:
    """The content output with the soft prompt s (position 0) and content x (position 1); symbols by default."""
    s_ = sp.Matrix(s) if s is not None else vec("s", D)
    x_ = sp.Matrix(x) if x is not None else vec("x", D)
    W_Q1, W_K1 = mat("Q1", D, D), mat("K1", D, D)
    h1 = [s_, x_]
    h2 = _layer(h1, h1, W_Q1, W_K1, w_v1(write_b), 0)
    h3 = _layer(h2, h2, sp.zeros(D, D), sp.zeros(D, D), W_V2, 0)
    return h3[1]


def prefix_output(write_b: bool, p1: Sequence[Any], p2: Sequence[Any], x: Sequence[Any]) -> sp.Matrix:
    """The content output with per-layer prefixes p1, p2 (keys/values only, never queried)."""
    W_Q1, W_K1 = mat("Q1", D, D), mat("K1", D, D)
    x_ = sp.Matrix(x)
    h2 = _layer([x_], [sp.Matrix(p1), x_], W_Q1, W_K1, w_v1(write_b), 1)
    h3 = _layer(h2, [sp.Matrix(p2), h2[0]], sp.zeros(D, D), sp.zeros(D, D), W_V2, 1)
    return h3[0]


def invariant_residual(write_b: bool) -> sp.Expr:
    """``out_a - out_b / 2 - x_a`` of the soft-prompted model, symbolic in s, x, W_Q^(1), W_K^(1)."""
    out, x = soft_output(write_b), vec("x", D)
    return out[0] - out[1] / 2 - x[0]


def target_gap() -> sp.Expr:
    """The invariant's value at the target: ``1 - 0/2 - 0 = 1`` (non-zero, so the target is out of reach)."""
    return TARGET[0] - TARGET[1] / 2 - X_TARGET[0]


def twin_solution() -> tuple[tuple[sp.Integer, sp.Integer], sp.Matrix]:
    """For the twin (W_V^(1) = 0), the soft prompt ``s = (0, 2)``: it reaches the target (its output, exactly)."""
    s = (sp.Integer(0), sp.Integer(2))
    return s, soft_output(False, s, X_TARGET)


@dataclass
class StrictDecision:
    """``invariant``: the decision on ``out_a - out_b/2 - x_a = 0`` for every soft prompt; ``reach``: on the prefix's
    output minus the target (decided only when the invariant is 0); ``certificate`` when both are 0 and the target
    violates the invariant."""

    invariant: ZeroTest
    reach: ZeroTest | None = None
    certificate: Certificate | None = None


def decide(write_b: bool, seed: int = 0) -> StrictDecision:
    """The strict hierarchy on this model, decided exactly: every soft prompt satisfies the invariant, the target
    does not (`target_gap`), and the prefix `PREFIX` reaches the target."""
    invariant = decide_zero(invariant_residual(write_b), seed)
    if invariant.status != "zero":
        return StrictDecision(invariant)
    reach = decide_zero(prefix_output(write_b, *PREFIX, X_TARGET) - sp.Matrix(TARGET), seed)
    if reach.status != "zero" or target_gap() == 0:
        return StrictDecision(invariant, reach)
    return StrictDecision(invariant, reach, certify_zero([invariant, reach], SCOPE, ABSTRACTION,
                                                         "soft-prompt invariant out_a - out_b/2 - x_a and the "
                                                         "prefix's output minus the target reduced to 0 exactly"))

