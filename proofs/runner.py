"""Run claims: every applicable layer, timed, exceptions contained per layer; in this process or in worker
processes (``jobs`` > 1).

Certificates are objects of one process's kernel (`theory.kernel`): a certificate cannot cross a process boundary.
A worker runs a claim exactly as ``jobs=1`` does (its kernel issues the certificates and `run_layer` refuses a
PROVED without a genuine one there) and sends back ``ClaimResult.to_json()``; this process rebuilds a result for
display whose certificates are records (`theory.kernel.from_record`), and whose JSON is the worker's, verbatim.
In-process runs (``jobs=1``) keep live certificates.

For a claim with a derivation, the checks of derivation chains that its layers make are recorded step by step
(`theory.derivation.recording`) in ``ClaimResult.derivations``, so the LaTeX report reads them instead of checking
again.

Schedule: the wall time of a parallel run is bounded below by its longest claim and by the work left when the
last claim starts, so workers take the claims longest first, by the seconds each claim took in the previous run
on this machine (`claim_costs`; claims never timed go first, in the order asked for). Those seconds order the
work and nothing else: every claim runs in full, and its result does not depend on when or where it ran.
"""
from __future__ import annotations

import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proofs.claim import LAYERS, Claim, Context, LayerResult, Status, verdict
from theory.kernel import KernelError, genuine

if TYPE_CHECKING:
    from concurrent.futures import Future

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
        c = self.claim
        out: dict[str, Any] = {
            "id": c.id,
            "title": c.title,
            "paper_ref": c.paper_ref,
            "expected": c.expected,
            "verdict": self.verdict,
            "outcome": self.outcome,
            "layers": {name: r.to_json() for name, r in self.layers.items()},
        }
        if self.derivations is not None:
            out["derivations"] = self.derivations
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
    process claims run in."""
    layers = tuple(layers)
    if jobs > 1 and len(claims) > 1 and _can_fork():
        out = _run_parallel(claims, ctx, layers, on_done, jobs)
    else:
        out = []
        for claim in claims:
            result = run_claim(claim, ctx, layers)
            out.append(result)
            if on_done is not None:
                on_done(result)
    record_costs(out)
    return out


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


# ---- the schedule: recorded seconds per claim ------------------------------------------------------------------

def costs_path() -> Path:
    """Where each claim's seconds are kept between runs: ``$PREFIXCHECK_CACHE_DIR/claim-seconds.json``, by
    default under ``$XDG_CACHE_HOME`` (``~/.cache``)``/prefixcheck``."""
    root = os.environ.get("PREFIXCHECK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "prefixcheck")
    return Path(root) / "claim-seconds.json"


def claim_costs() -> dict[str, float]:
    """The recorded seconds per claim id (empty when there is no readable record)."""
    try:
        raw = json.loads(costs_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def record_costs(results: Sequence[ClaimResult]) -> None:
    """Keep the seconds of each claim that ran (the sum over its layers) for the next run's schedule; a claim
    whose worker died is not recorded. Best effort: a record that cannot be written is skipped silently."""
    timed = {r.claim.id: round(sum(lr.seconds for lr in r.layers.values()), 3) for r in results
             if r.layers and not any(lr.detail.startswith(WORKER_FAILED) for lr in r.layers.values())}
    if not timed:
        return
    path = costs_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**claim_costs(), **timed}, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def schedule(claims: Sequence[Claim], costs: dict[str, float], jobs: int) -> list[list[int]]:
    """The tasks for ``jobs`` workers (lists of indices into ``claims``, each run by one worker in order), in the
    order the workers take them. A claim without a recorded cost is a task of its own, first (in the order given).
    The timed claims of one section form one task, as they share their imports and caches (the impl section alone
    imports transformers and peft, seconds of CPU in every process that does), unless the section's seconds exceed
    a worker's share of the whole (sum / jobs): then each of its claims is a task (one section asked for alone
    still runs in parallel). Tasks go longest first (ties in the order given): the last tasks to start are short."""
    untimed = [[k] for k, c in enumerate(claims) if c.id not in costs]
    sections: dict[str, list[int]] = {}
    for k, c in enumerate(claims):
        if c.id in costs:
            sections.setdefault(c.section, []).append(k)
    share = sum(costs.get(c.id, 0.0) for c in claims) / max(1, jobs)

    def seconds(task: list[int]) -> float:
        return sum(costs[claims[k].id] for k in task)

    timed = [task for members in sections.values()
             for task in ([members] if seconds(members) <= share else [[k] for k in members])]
    return untimed + sorted(timed, key=lambda task: (-seconds(task), task[0]))


# ---- worker processes ------------------------------------------------------------------------------------------

# What the workers run: set in this process just before the pool forks, so the workers inherit the claims (whose
# checks are closures, which cannot be pickled) and address them by index.
_WORK: tuple[list[Claim], Context, tuple[str, ...]] | None = None


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _worker_init() -> None:
    from numeric.threads import pin_process

    pin_process(1)


def _worker_run(task: list[int]) -> list[dict[str, Any]]:
    assert _WORK is not None
    claims, ctx, layers = _WORK
    return [run_claim(claims[k], ctx, layers).to_json() for k in task]


def _run_parallel(claims: list[Claim], ctx: Context, layers: tuple[str, ...],
                  on_done: Callable[[ClaimResult], None] | None, jobs: int) -> list[ClaimResult]:
    """The tasks of `schedule` on ``jobs`` forked worker processes, each with torch on one thread; a task's
    results arrive together when its last claim is done."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    global _WORK
    _WORK = (claims, ctx, layers)
    results: list[ClaimResult | None] = [None] * len(claims)
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(claims)), mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_init) as pool:
            tasks = schedule(claims, claim_costs(), jobs)
            futures = {pool.submit(_worker_run, task): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                for k, result in zip(task, _task_results(claims, layers, task, future)):
                    results[k] = result
                    if on_done is not None:
                        on_done(result)
    finally:
        _WORK = None
    return [r for r in results if r is not None]


WORKER_FAILED = "worker process failed"


def _task_results(claims: list[Claim], layers: tuple[str, ...], task: list[int],
                  future: Future[list[dict[str, Any]]]) -> list[ClaimResult]:
    """The results of a finished task: each claim's JSON read back, or ERROR layers if the worker died (e.g. out
    of memory) or sent a malformed entry."""
    try:
        entries = future.result()
    except Exception as exc:
        return [_worker_failed(claims[k], layers, exc) for k in task]
    out = []
    for k, entry in zip(task, entries):
        try:
            out.append(from_json(claims[k], entry, f"worker process (claim {claims[k].id})"))
        except Exception as exc:
            out.append(_worker_failed(claims[k], layers, exc))
    return out


def _worker_failed(claim: Claim, layers: tuple[str, ...], exc: BaseException) -> ClaimResult:
    reason = f"{WORKER_FAILED}: {type(exc).__name__}: {exc}"
    failed = {name: LayerResult(Status.ERROR, reason) for name in claim.checks() if name in layers}
    v, outcome = verdict(claim.expected, failed)
    return ClaimResult(claim, failed, v, outcome)
