"""Run claims: every applicable layer, timed, exceptions contained per layer."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Optional

from proofs.claim import LAYERS, Claim, Context, LayerResult, Status, verdict
from theory.kernel import KernelError, genuine


@dataclass
class ClaimResult:
    claim: Claim
    layers: dict[str, LayerResult]
    verdict: str
    outcome: str

    def to_json(self) -> dict:
        c = self.claim
        out = {
            "id": c.id,
            "title": c.title,
            "paper_ref": c.paper_ref,
            "expected": c.expected,
            "verdict": self.verdict,
            "outcome": self.outcome,
            "layers": {name: r.to_json() for name, r in self.layers.items()},
        }
        if c.source != "catalogue":
            out["source"] = c.source
        return out


def run_layer(claim: Claim, layer: str, ctx: Context) -> LayerResult:
    """Run one check; an exception becomes ERROR with a one-line reason (the check's file and line)."""
    check = claim.checks()[layer]
    start = time.perf_counter()
    try:
        if layer == "smt":  # record the solver calls, so the report can say what was asked
            from theory.smt import recording, summarize

            with recording() as queries:
                result = check(ctx)
            if isinstance(result, LayerResult) and result.query is None and queries:
                result.query = summarize(queries)
        else:
            result = check(ctx)
        if not isinstance(result, LayerResult):
            raise TypeError(f"check returned {type(result).__name__}, expected LayerResult")
        if result.status is Status.PROVED and not genuine(result.certificate):
            raise KernelError("PROVED rests on a certificate this run's kernel did not issue")
    except Exception as exc:  # a failing check must not stop the other claims
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename}:{frame.lineno}"
        result = LayerResult(Status.ERROR, f"{type(exc).__name__}: {exc} ({where})")
    result.seconds = time.perf_counter() - start
    return result


def run_claim(claim: Claim, ctx: Context, layers: Iterable[str] = LAYERS) -> ClaimResult:
    wanted = set(layers)
    ctx = replace(ctx, claim_id=claim.id)
    results = {name: run_layer(claim, name, ctx) for name in claim.checks() if name in wanted}
    v, outcome = verdict(claim.expected, results)
    return ClaimResult(claim, results, v, outcome)


def run(
    claims: list[Claim],
    ctx: Context,
    layers: Iterable[str] = LAYERS,
    on_done: Optional[Callable[[ClaimResult], None]] = None,
) -> list[ClaimResult]:
    layers = tuple(layers)
    out = []
    for claim in claims:
        result = run_claim(claim, ctx, layers)
        out.append(result)
        if on_done is not None:
            on_done(result)
    return out
