"""A layer's result from an engine's raw answer, for the catalogue's checks: exact zero tests (`theory.kernel.ZeroTest`)
and derivation checks become PROVED / REFUTED / UNKNOWN, a float64 measurement (max error, instances, witness)
becomes CONSISTENT / VIOLATED, a float64 re-check of found and missed targets is `judged` by its failure rules;
`variant_sweep` builds the numeric check that measures one identity over the
architecture variants of the reference model (`numeric.depth.sweep`).

PROVED is built here only from `theory.kernel.certify_zero` over tests that are all exactly zero (design.md rule 1);
a REFUTED carries the exact witness point and the residual there, exactly and as a decimal (rule 3).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from proofs.claim import Check, Context, LayerResult, Status

if TYPE_CHECKING:
    from numeric.depth import Variant
    from theory.derivation import DerivationCheck
    from theory.kernel import ZeroTest

#: The measurements of `numeric.depth` a variant sweep can run (each ``(variant, seed, models=...) -> Finding``).
VariantMeasure = Literal["layer1_soft_vs_prefix", "soft_prompt_is_prefix", "relative_attention_change", "rope_shift"]


class Measurement(Protocol):
    """A float64 measurement of an identity: its largest error over ``instances``, and where it occurs."""

    max_error: float
    instances: int
    witness: dict[str, Any]


def refuted(test: ZeroTest, abstraction: str, what: str = "") -> LayerResult:
    """REFUTED at the exact witness point of a non-zero residual; ``what`` names the residual."""
    return LayerResult(Status.REFUTED, f"{what + ': ' if what else ''}residual {test.value} (exactly "
                       f"{test.exact_value}) at a rational point",
                       witness={"point": test.witness, "residual": test.value, "exact_residual": test.exact_value},
                       abstraction=abstraction)


def zero_tests(tests: Sequence[ZeroTest], proved: str, abstraction: str, scope: str) -> LayerResult:
    """PROVED (one kernel certificate over every decision) if every residual is exactly 0; REFUTED at the first
    non-zero one; UNKNOWN if one is not decided."""
    from theory.kernel import certify_zero

    for test in tests:
        if test.status == "nonzero":
            return refuted(test, abstraction)
    for test in tests:
        if test.status != "zero":
            return LayerResult(Status.UNKNOWN, f"residual not decided ({test.method})", abstraction=abstraction)
    cert = certify_zero(tests, scope, abstraction)
    methods = "; ".join(sorted({t.method for t in tests}))
    return LayerResult(Status.PROVED, f"{proved} ({methods})", abstraction=abstraction, certificate=cert)


def failed_step(check: DerivationCheck, abstraction: str, refutes: bool) -> LayerResult | None:
    """None if every step of a checked derivation reduced to 0. Otherwise the first step that did not: REFUTED at its
    witness when ``refutes`` (the chain is the claim, so a false step is a false claim), else UNKNOWN (the chain only
    prepares the claim's residual)."""
    bad = check.failed
    if bad is None:
        return None
    if refutes and bad.test.status == "nonzero":
        return refuted(bad.test, abstraction, f"step {bad.index} ({bad.why})")
    return LayerResult(Status.UNKNOWN, f"derivation step {bad.index} ({bad.why}) not reduced", abstraction=abstraction)


def measured(found: Measurement, tol: float, what: str, scope: str) -> LayerResult:
    """CONSISTENT if ``found.max_error <= tol``, else VIOLATED with the witness (design.md rule 2: never PROVED)."""
    if found.max_error <= tol:
        return LayerResult(Status.CONSISTENT, f"max {what} {found.max_error:.3g} <= {tol:g} over {scope}",
                           max_error=found.max_error, instances=found.instances)
    located = ", ".join(f"{k}={v}" for k, v in list(found.witness.items())[:4])
    return LayerResult(Status.VIOLATED, f"{what} {found.max_error:.3g} > {tol:g}; witness {located}",
                       max_error=found.max_error, instances=found.instances, witness=found.witness)


def judged(facts: str, witness: dict[str, Any], instances: int, max_error: float,
           failures: Sequence[tuple[bool, Status, str, float | None]], found: str = "") -> LayerResult:
    """A float64 re-check (of targets a method must reach and targets it must miss) against its rules: the first
    failure ``(holds, status, why, error)`` that holds gives its status (VIOLATED with its ``error``; UNKNOWN when the
    re-check cannot decide), else CONSISTENT with ``max_error``. Every detail carries ``facts`` and the witness."""
    for holds, status, why, error in failures:
        if holds:
            if status is Status.VIOLATED:
                return LayerResult(status, f"{why}: {facts}", witness=witness, max_error=error, instances=instances)
            return LayerResult(status, f"{why}: {facts}", witness=witness)
    return LayerResult(Status.CONSISTENT, found + facts, max_error=max_error, instances=instances, witness=witness)


def variant_sweep(label: str, select: Callable[[Variant], bool], measure: VariantMeasure, what: str, scope: str,
                  **options: Any) -> Check:
    """The numeric check: the worst error of ``numeric.depth.<measure>(variant, seed, models=..., **options)`` over
    the variants ``select`` keeps, seeded ``ctx.child_seed(label)``, CONSISTENT within ``ctx.tol``. ``scope`` may
    name ``{variants}`` (how many were swept) and ``{seed}``. torch is imported when the check runs."""

    def check(ctx: Context) -> LayerResult:
        from functools import partial

        import numeric.depth

        seed = ctx.child_seed(label)
        found, variants = numeric.depth.sweep(select, partial(getattr(numeric.depth, measure), **options), seed,
                                              ctx.instances)
        return measured(found, ctx.tol, what, scope.format(variants=variants, seed=seed))

    return check

