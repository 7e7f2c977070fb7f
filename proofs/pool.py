"""Worker processes for `proofs.runner.run` with ``jobs`` > 1, planned by `proofs.schedule`.

The run, on ``jobs`` forked processes:
1. the light tasks (a claim's exact layers, which need no torch) start at once, in ``jobs - 1`` *light* workers;
2. meanwhile this process imports torch and the packages the heavy tasks imported last time (the preload), once;
3. then it forks *full* workers, which inherit the preload: each takes heavy tasks first, then light ones;
4. a light worker with no light task left exits, and a full worker takes its place while tasks are left.
Importing torch once, on a core the light tasks leave free, instead of in every worker, is where the time goes:
torch, transformers and peft are seconds of CPU per process, as much as many claims' own work.

Workers take their next task from shared counters (no hand-off through this process, which may be busy importing)
and report on a pipe each: "start" before a task, then its results. A claim whose two tasks ran in different
workers is merged here: its layers in check order, its derivation records by layer, its verdict recomputed, so its
JSON is that of a ``jobs=1`` run. A worker that dies makes the task it had started an ERROR, and the run goes on.
Certificates cannot cross the process boundary: results come back as records (`proofs.runner.from_json`).
"""
from __future__ import annotations

import fcntl
import gc
import importlib
import multiprocessing
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from proofs import schedule
from proofs.claim import Claim, Context, LayerResult, Status, verdict
from proofs.runner import WORKER_FAILED, ClaimResult, claim_json, from_json, run_claim
from proofs.schedule import Entry, Observed, Task

#: What the workers run: set in this process just before the first fork, so the workers inherit the claims (whose
#: checks are closures, which cannot be pickled) and address tasks by index.
_PLAN: tuple[list[Claim], Context, list[Task], dict[str, Entry]] | None = None

#: A worker's queues: (task numbers in the order to take them, the shared count of those already taken).
Queues = list[tuple[list[int], "Synchronized[int]"]]

_PIPE_BYTES = 1 << 20  # a pipe that holds a light worker's results while this process is busy importing
_F_SETPIPE_SZ = 1031  # Linux


@dataclass
class _Worker:
    process: BaseProcess
    #: the task it started and has not finished
    current: int | None = None


@dataclass
class _Claims:
    """The results of the claims as their tasks finish."""

    claims: list[Claim]
    tasks: list[Task]
    on_done: Callable[[ClaimResult], None] | None
    entries: dict[int, list[tuple[Task, dict[str, Any]]]] = field(default_factory=dict)
    results: dict[int, ClaimResult] = field(default_factory=dict)
    #: the number of tasks of each claim
    per_claim: Counter[int] = field(init=False)

    def __post_init__(self) -> None:
        self.per_claim = Counter(t.claim for t in self.tasks)

    def finish(self, task: Task, entry: dict[str, Any]) -> None:
        got = self.entries.setdefault(task.claim, [])
        got.append((task, entry))
        if len(got) == self.per_claim[task.claim]:
            result = _merge(self.claims[task.claim], got)
            self.results[task.claim] = result
            if self.on_done is not None:
                self.on_done(result)


def run_parallel(claims: list[Claim], ctx: Context, layers: tuple[str, ...],
                 on_done: Callable[[ClaimResult], None] | None, jobs: int) -> tuple[list[ClaimResult], list[Observed]]:
    """The results of ``claims`` (in their order) run on ``jobs`` worker processes, and what the run observed of
    each finished task (for `schedule.keep`)."""
    global _PLAN
    record = schedule.record()
    plan = schedule.tasks(claims, layers)
    number = {task: k for k, task in enumerate(plan)}
    light = [number[t] for t in schedule.order([t for t in plan if not schedule.heavy(t, record)], record)]
    heavy = [number[t] for t in schedule.order([t for t in plan if schedule.heavy(t, record)], record)]
    packages = schedule.preload(plan, record)
    mp = multiprocessing.get_context("fork")
    taken_light, taken_heavy = mp.Value("i", 0), mp.Value("i", 0)
    queues: dict[str, Queues] = {"light": [(light, taken_light)],
                                 "full": [(heavy, taken_heavy), (light, taken_light)]}

    def left() -> bool:
        return taken_heavy.value < len(heavy) or taken_light.value < len(light)

    done = _Claims(claims, plan, on_done)
    observed: list[Observed] = []
    live: dict[Connection, _Worker] = {}

    def fork(kind: str) -> None:
        reader, writer = mp.Pipe(duplex=False)
        try:
            fcntl.fcntl(writer.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:
            pass
        process = mp.Process(target=_work, args=(writer, queues[kind]), daemon=True)
        process.start()
        writer.close()
        live[reader] = _Worker(process)

    _PLAN = (claims, ctx, plan, record)
    try:
        if packages and light:
            for _ in range(max(1, min(jobs - 1, len(light)))):
                fork("light")
        _import(packages)
        while len(live) < jobs and left():
            fork("full")
        while live:
            for conn in wait(list(live)):
                assert isinstance(conn, Connection)
                worker = live[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):  # the worker is gone: finished, or died
                    del live[conn]
                    conn.close()
                    worker.process.join()
                    if worker.current is not None:
                        reason = f"{WORKER_FAILED}: exit code {worker.process.exitcode}"
                        done.finish(plan[worker.current], _failed(plan[worker.current], reason))
                    while len(live) < jobs and left():
                        fork("full")
                    continue
                if message[0] == "start":
                    worker.current = message[1]
                else:
                    _, number, entry, imported, unseen = message
                    worker.current = None
                    task = plan[number]
                    observed.append(Observed(task.key, sum(raw.get("seconds", 0.0) for raw in entry["layers"].values()),
                                             True, tuple(imported), tuple(unseen)))
                    done.finish(task, entry)
    finally:
        _PLAN = None
        for worker in live.values():
            worker.process.terminate()
            worker.process.join()
    for task in plan:  # a task taken by a worker that died before it could say so
        if not any(t is task for t, _ in done.entries.get(task.claim, [])):
            done.finish(task, _failed(task, f"{WORKER_FAILED}: the task was taken but never started"))
    return [done.results[k] for k in range(len(claims))], observed


def _import(packages: Sequence[str]) -> None:
    """Import ``packages`` in this process, quietly; one that fails to import is left to the workers. The garbage
    collector is off meanwhile (importing creates objects that live as long as the process, and the collections
    importing torch, transformers and peft trigger are about 0.7 s of CPU), and what the imports made is frozen
    (`gc.freeze`) for the workers forked next."""
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in packages:
                try:
                    importlib.import_module(name)
                except Exception:
                    pass
    finally:
        gc.freeze()
        gc.enable()


def _packages() -> set[str]:
    """The top-level packages this process has imported."""
    return {name for name in sys.modules if "." not in name and not name.startswith("_")}


def _work(conn: Connection, queues: Queues) -> None:
    """A worker: torch on one thread; take tasks from ``queues`` in turn until none is left, reporting each.

    What the worker inherited (the catalogue, sympy, and after the preload torch, transformers, peft: millions of
    objects) is moved out of the garbage collector's reach (`gc.freeze`): a full collection would otherwise walk it
    all, twice in a run, about half a second of CPU charged to whichever claim was running."""
    from numeric.threads import pin_process

    assert _PLAN is not None
    claims, ctx, plan, record = _PLAN
    gc.freeze()
    pin_process(1)
    try:
        for numbers, taken in queues:
            while (i := _take(taken, len(numbers))) is not None:
                task = plan[numbers[i]]
                conn.send(("start", numbers[i]))
                before = _packages()
                entry = run_claim(claims[task.claim], ctx, task.layers).to_json()
                imported = sorted(_packages() - before)
                unseen = [p for p in schedule.imports(task, record) if p in before]
                conn.send(("done", numbers[i], entry, imported, unseen))
    except BaseException:
        os._exit(1)  # reported by this worker's parent as its started task's failure
    conn.close()


def _take(taken: Synchronized[int], n: int) -> int | None:
    """The next of ``n`` tasks not taken yet (shared between the workers), or None."""
    with taken.get_lock():
        i = taken.value
        if i >= n:
            return None
        taken.value = i + 1
        return i


def _failed(task: Task, reason: str) -> dict[str, Any]:
    return {"layers": {name: LayerResult(Status.ERROR, reason).to_json() for name in task.layers}}


def _merge(claim: Claim, entries: list[tuple[Task, dict[str, Any]]]) -> ClaimResult:
    """One claim's result from its tasks' JSON: the layers in check order, the derivation records ordered by layer
    (each task's in its own order), the verdict over all its layers."""
    order = list(claim.checks())
    raw = {name: entry["layers"][name] for name in order for _, entry in entries if name in entry["layers"]}
    source = f"worker process (claim {claim.id})"
    try:
        v, outcome = verdict(claim.expected, {name: LayerResult.from_json(r, source) for name, r in raw.items()})
        derivations = None
        if claim.derivation is not None:
            derivations = sorted((d for _, entry in entries for d in entry.get("derivations") or []),
                                 key=lambda d: order.index(d["layer"]) if d.get("layer") in order else len(order))
        return from_json(claim, claim_json(claim, v, outcome, raw, derivations), source)
    except Exception as exc:  # a malformed entry: the claim's layers are errors
        reason = f"{WORKER_FAILED}: {type(exc).__name__}: {exc}"
        return _merge(claim, [(task, _failed(task, reason)) for task, _ in entries])
