"""The public claim factories: one statement about a prefixed attention head, checked by every layer.

* `identity_claim`: a statement ``E -> (lhs, rhs)`` (`proofs.view.Statement`) claiming ``lhs == rhs``, checked by
  `proofs.checks.symbolic_identity`, `numeric_identity` and `smt_identity`; how it is checked is an
  `IdentityOptions` (which inputs, heads and prefix positions, at which sizes, which layers).
* `order_claim`: a map ``h -> F`` claiming ``sign(F_ij - F_ik) = sign(A_ij - A_ik)`` for every visible j, k.

Tests and users build false twins of a catalogue claim with them (docs/writing-claims.md).
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofs.checks import (
    numeric_identity,
    numeric_order,
    smt_identity,
    smt_order,
    symbolic_identity,
    symbolic_order,
)
from proofs.claim import Claim, Expected
from proofs.view import Attention, Statement
from theory.shape import Shape

if TYPE_CHECKING:
    from theory.derivation import Derivation

SECTION = "4 single layer"
SINGLE = ("one softmax head; the content q, k, v are the same with and without the prefix (first layer, or "
          "conditional on the layer's inputs)", "the prefix is visible to every content query and is never a query",
          "causal mask over content; no attention dropout")


@dataclass(frozen=True)
class IdentityOptions:
    """How `identity_claim` checks its statement (every field is honoured, design.md rule 6).

    shape:       inputs (sharing the prefix), heads (mixed by W_O^h) and prefix positions n_S the statement reads;
                 None is one input, one head, n_S = 1
    derivation:  a checked chain of equalities whose ends must be the statement's two sides (symbolic layer)
    expected:    "holds", "fails" (pinned false) or None
    assumptions: the conditions under which the statement is claimed
    general:     decide it on the general-n view first (sums as symbols: "all n" if it reduces to 0 there)
    general_d:   the general view's vector width: None is componentwise (any d), an int d decides it at d and d + 1
    unrolled:    the (n, d) sizes of the explicit heads it is also decided on, at every query position
    numeric_n:   content length n of the random float64 heads (then longer ones, beyond every named position)
    smt:         whether a z3 layer applies (the statement must use + - * / only)
    smt_n, smt_d: the z3 queries' content lengths 1..max(smt_n, named + 3) and width smt_d (and smt_d + 1)
    section:     the catalogue section it is listed under
    """

    shape: Shape | None = None
    derivation: Callable[[], Derivation] | None = None
    expected: Expected = "holds"
    assumptions: tuple[str, ...] = SINGLE
    general: bool = True
    general_d: int | None = None
    unrolled: tuple[tuple[int, int], ...] = ((3, 2),)
    numeric_n: int = 6
    smt: bool = True
    smt_n: int = 3
    smt_d: int = 2
    section: str = SECTION

    def __post_init__(self) -> None:
        sizes = {"numeric_n": self.numeric_n, "smt_n": self.smt_n, "smt_d": self.smt_d,
                 **({} if self.general_d is None else {"general_d": self.general_d}),
                 **{f"unrolled{nd}": min(nd) for nd in self.unrolled}}
        bad = [f"{name}={value}" for name, value in sizes.items() if value < 1]
        if bad or not self.unrolled:
            raise ValueError(f"identity options need positive sizes and at least one unrolled (n, d): "
                             f"{', '.join(bad) or 'unrolled=()'}")

    def replace(self, **overrides: Any) -> IdentityOptions:
        """These options with ``overrides`` applied; an unknown name is a TypeError naming the valid ones."""
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(f"identity_claim: unknown option(s) {', '.join(unknown)}; the options are "
                            f"{', '.join(names)}")
        return dataclasses.replace(self, **overrides)


def identity_claim(id: str, title: str, paper_ref: str, statement_tex: str, statement: Statement,
                   options: IdentityOptions | None = None, **overrides: Any) -> Claim:
    """A claim ``lhs == rhs`` checked by all three layers (smt optional: it needs + - * / only).

    ``options`` (default `IdentityOptions()`) says how; keyword ``overrides`` (``shape=Shape(n_S=2)``,
    ``numeric_n=8``, ``smt=False``, ...) replace single fields of it."""
    o = (options or IdentityOptions()).replace(**overrides)
    return Claim(
        id=id, title=title, paper_ref=paper_ref, statement=statement_tex, assumptions=o.assumptions,
        expected=o.expected, section=o.section, derivation=o.derivation,
        symbolic=symbolic_identity(statement, o.shape, derivation=o.derivation, general=o.general,
                                   general_d=o.general_d, unrolled=o.unrolled),
        numeric=numeric_identity(statement, o.shape, n=o.numeric_n),
        smt=smt_identity(statement, o.shape, n=o.smt_n, d=o.smt_d) if o.smt else None,
    )


def order_claim(id: str, title: str, attn_pt: Attention, expected: Expected = "holds") -> Claim:
    """Applying ``attn_pt`` keeps the order of the content attention: sign(F_ij - F_ik) = sign(A_ij - A_ik) for
    every visible j, k, any n_S and prefix (the paper's claim for F = A^pt)."""
    return Claim(
        id=id, title=title, paper_ref="Sec. 4 (the attention ordering over the content is kept); notes 2.2, 5 item 13",
        statement=r"\operatorname{sign}(A^{pt}_{ij}-A^{pt}_{ik})=\operatorname{sign}(A_{ij}-A_{ik})"
                  r"\ \ \forall j,k\le i,\ \forall n_S,\ \forall s_{1..n_S}",
        assumptions=SINGLE, expected=expected, section=SECTION,
        symbolic=symbolic_order(attn_pt), numeric=numeric_order(attn_pt), smt=smt_order(attn_pt),
    )


def lazy_derivation(module: str, name: str) -> Callable[[], Derivation]:
    """A builder of the derivation ``<module>.<name>()`` (e.g. ``theory.section4``, ``alpha_sigmoid``) that imports
    ``module`` only when called, so declaring a claim does not import sympy."""

    def build() -> Derivation:
        derivation: Derivation = getattr(importlib.import_module(module), name)()
        return derivation

    return build
