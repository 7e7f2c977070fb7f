"""Run claims: every applicable layer, timed, exceptions contained per layer; in this process or in worker
processes (``jobs`` > 1).

Certificates are objects of one process's kernel (`theory.kernel`): a certificate cannot cross a process boundary.
A worker (`proofs.pool`) runs a claim's layers exactly as ``jobs=1`` does (its kernel issues the certificates and
`run_layer` refuses a PROVED without a genuine one there) and sends back their JSON; this process rebuilds a result
for display whose certificates are records (`theory.kernel.from_record`), and whose JSON is the workers', verbatim
(one claim's exact and numeric layers may come from two workers: `proofs.pool` merges them). In-process runs
(``jobs=1``) keep live certificates.

For a claim with a derivation, the checks of derivation chains that its layers make are recorded step by step
(`theory.derivation.recording`) in ``ClaimResult.derivations``, so the LaTeX report reads them instead of checking
again.

Schedule: `proofs.schedule` plans a parallel run (which worker takes which layers, in which order, and what this
process imports before forking them) from what each task took and imported in the previous run on this machine.
That record orders the work and nothing else: every claim runs in full, and its result does not depend on when or
where it ran.
"""
from __future__ import annotations

import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from proofs import schedule
from proofs.claim import LAYERS, Claim, Context, LayerResult, Status, verdict
from theory.kernel import KernelError, genuine

if TYPE_CHECKING:
    from theory.derivation import DerivationCheck


@dataclass
class ClaimResult:
    claim: Claim
    layers: dict[str, LayerResult]
    verdict: str
    outcome: str
    #: the JSON a worker process sent (``jobs`` > 1) or a saved report held: ``to_json`` returns it unchanged
    record: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    #: the derivation chains the layers checked (`derivation_record`); None: not recorded (no derivation, not run,
    #: or a report written before steps were recorded)
    derivations: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.record is not None:
            return dict(self.record)
        return claim_json(self.claim, self.verdict, self.outcome,
                          {name: r.to_json() for name, r in self.layers.items()}, self.derivations)


def claim_json(claim: Claim, verdict_: str, outcome: str, layers: dict[str, dict[str, Any]],
               derivations: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A claim's entry in a check report, from its layers' JSON."""
    out: dict[str, Any] = {
        "id": claim.id,
        "title": claim.title,
        "paper_ref": claim.paper_ref,
        "expected": claim.expected,
        "verdict": verdict_,
        "outcome": outcome,
        "layers": layers,
    }
    if derivations is not None:
        out["derivations"] = derivations
    if claim.source != "catalogue":
        out["source"] = claim.source
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
    results: dict[str, LayerResult] = {}
    derivations: list[dict[str, Any]] = []
    for name in (n for n in claim.checks() if n in wanted):
        with _derivation_checks(claim) as checked:
            results[name] = run_layer(claim, name, ctx)
        derivations += [derivation_record(c, name, results[name]) for c in checked]
    v, outcome = verdict(claim.expected, results)
    return ClaimResult(claim, results, v, outcome, derivations=derivations if claim.derivation is not None else None)


def _derivation_checks(claim: Claim) -> AbstractContextManager[list[DerivationCheck]]:
    """Record the derivation checks of a claim that shows a derivation (others need not import sympy)."""
    if claim.derivation is None:
        return nullcontext([])
    from theory.derivation import recording

    return recording()


def derivation_record(check: DerivationCheck, layer: str, result: LayerResult) -> dict[str, Any]:
    """A `theory.derivation.DerivationCheck` made while ``layer`` ran, as JSON: the title, the layer and per step
    the step, its justification and the kernel's decision; a step reduced to 0 also names ``certificate``, the kind
    of the certificate of the PROVED layer whose check it is part of (absent when the layer is not PROVED)."""
    cert = result.certificate if result.status is Status.PROVED else None
    steps = [s.to_json() for s in check.steps]
    if cert is not None:
        steps = [{**s, "certificate": cert.kind} if s["checked"] else s for s in steps]
    return {"title": check.title, "layer": layer, "steps": steps}


def run(
    claims: list[Claim],
    ctx: Context,
    layers: Iterable[str] = LAYERS,
    on_done: Callable[[ClaimResult], None] | None = None,
    jobs: int = 1,
) -> list[ClaimResult]:
    """Run ``claims``; the results in the order of ``claims`` whatever ``jobs`` is. ``on_done`` is called as each
    claim finishes (in completion order when ``jobs`` > 1). Each check's randomness derives from
    `Context.child_seed` (the seed, the claim id and a label), so the results do not depend on the order or the
    process claims run in. What the tasks took is kept for the next run's schedule (`schedule.keep`)."""
    layers = tuple(layers)
    if jobs > 1 and len(schedule.tasks(claims, layers)) > 1 and _can_fork():
        from proofs.pool import run_parallel

        out, observed = run_parallel(claims, ctx, layers, on_done, jobs)
    else:
        out = []
        for claim in claims:
            result = run_claim(claim, ctx, layers)
            out.append(result)
            if on_done is not None:
                on_done(result)
        observed = _observed(out, layers)
    schedule.keep(observed)
    return out


def _observed(results: Sequence[ClaimResult], layers: tuple[str, ...]) -> list[schedule.Observed]:
    """The seconds of each task of in-process ``results`` (imports are not watched in process)."""
    return [schedule.Observed(task.key, sum(results[task.claim].layers[name].seconds for name in task.layers))
            for task in schedule.tasks([r.claim for r in results], layers)
            if all(name in results[task.claim].layers for name in task.layers)]


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def from_json(claim: Claim, entry: dict[str, Any], source: str) -> ClaimResult:
    """A `ClaimResult` rebuilt from its JSON (``ClaimResult.to_json()``, one entry of a check report): every
    certificate is a record (`theory.kernel.from_record`, naming ``source``), never a live one. Raises KeyError,
    ValueError, TypeError or `KernelError` on malformed input; ``record`` keeps ``entry``."""
    layers = {}
    for name, raw in (entry.get("layers") or {}).items():
        if name not in LAYERS or not isinstance(raw, dict):
            raise ValueError(f"unknown layer {name!r}")
        layers[name] = LayerResult.from_json(raw, source)
    verdict_, outcome = entry["verdict"], entry.get("outcome", "unknown")
    if verdict_ not in ("ok", "mismatch", "inconclusive"):
        raise ValueError(f"not a verdict: {verdict_!r}")
    derivations = entry.get("derivations")
    if derivations is not None and not (isinstance(derivations, list) and all(
            isinstance(d, dict) and isinstance(d.get("title"), str) and isinstance(d.get("steps"), list)
            and all(isinstance(s, dict) for s in d["steps"]) for d in derivations)):
        raise ValueError("'derivations' is not a list of {title, steps} records")
    return ClaimResult(claim, layers, verdict_, str(outcome), record=entry, derivations=derivations)


def without_clock(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Report entries (``ClaimResult.to_json()``) without what depends on the clock: each layer's ``seconds``
    dropped and durations quoted in its text masked; equal for two runs that found the same (``-j 1`` and ``-j N``)."""
    def text(value: Any) -> Any:
        return re.sub(r"\d+(\.\d+)?\s?s\b", "<t>", value) if isinstance(value, str) else value

    return [{**c, "layers": {name: {k: text(v) for k, v in layer.items() if k != "seconds"}
                             for name, layer in c["layers"].items()}} for c in entries]


WORKER_FAILED = "worker process failed"
