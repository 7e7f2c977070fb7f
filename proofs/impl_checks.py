"""The check builder of the real-implementation claims (`proofs.catalogue.impl`): a `numeric.hf_measures` measure
over seeded random instances of representative models, turned into the numeric layer's verdict."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from proofs.claim import Check, Context, LayerResult, Status

if TYPE_CHECKING:
    from numeric.hf_measures import Measured


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _summary(rows: list[Measured]) -> str:
    """``name min..max (tol t)note`` for one model's instances (the note of the worst one)."""
    errors = [r.error for r in rows]
    spread = f"{_fmt(min(errors))}..{_fmt(max(errors))}" if len(errors) > 1 else _fmt(errors[0])
    return f"{rows[0].model} {spread} (tol {max(r.tol for r in rows):g}){rows[errors.index(max(errors))].note}"


def peft_check(label: str, measure: str, names: Sequence[str], *, tol: float | None = None,
               **options: str | int) -> Check:
    """Numeric check over random setups per model (``ctx.instances // 500``, at least 1): the measure
    ``numeric.hf_measures.MEASURES[measure](**options)``; CONSISTENT iff every error is within the tolerance the
    dtype probe gave (``tol`` overrides it), else VIOLATED with the worst failing instance; UNKNOWN when
    transformers / peft are missing or peft cannot run the model. ``label`` seeds the instances."""

    def check(ctx: Context) -> LayerResult:
        from numeric.hf import HFUnavailable, PeftUnsupported
        from numeric.hf_measures import MEASURES, measure_models

        instances = max(1, ctx.instances // 500)
        base_seed = ctx.child_seed(label)
        try:
            per_model = measure_models(MEASURES[measure](**options), names, instances, base_seed, ctx.tol, tol)
        except (HFUnavailable, PeftUnsupported) as exc:
            return LayerResult(Status.UNKNOWN, str(exc))
        rows = [r for model in per_model for r in model]
        worst = max(rows, key=lambda r: r.error, default=None)
        failed = [r for r in rows if not r.ok]
        summary = (f"error per model: {', '.join(_summary(m) for m in per_model)}; {instances} random inits each, "
                   f"seeds from {base_seed}")
        if failed:
            f = max(failed, key=lambda r: r.error)
            return LayerResult(Status.VIOLATED, f"{f.model}: error {_fmt(f.error)} > {f.tol:g} (seed {f.seed})"
                               f"{f.note}; {summary}", max_error=f.error, instances=len(rows), witness=asdict(f))
        return LayerResult(Status.CONSISTENT, summary, max_error=worst.error if worst else 0.0, instances=len(rows))

    return check
