"""The plan of a parallel run (`prefixcheck check -j N`): the tasks, their order, what each worker process imports.

A task is one claim's layers of one *group*: its exact layers (symbolic, smt: sympy, python-flint, z3, cvc5) or its
numeric layer (torch). torch, and the libraries over it (transformers, peft), cost seconds of CPU to import, in
every process that imports them, while the exact layers of the catalogue never need them. So a task is *light* when
it imports no package of `HEAVY`, and *heavy* otherwise; `proofs.pool` runs the light tasks in a worker forked
before torch is imported, while this process imports the heavy tasks' packages once (the *preload*) for the
workers it forks afterwards.

What a task imports and how long it takes are read from the previous run on this machine (`record`); a numeric task
is always heavy, an exact one is light unless it was seen importing torch. A task keeps a recorded package while it
runs where that package is loaded already (it cannot be seen not importing it): an exact task that stopped needing
torch is found out only once the record is deleted. The record orders the work and decides where it
runs, nothing else: a task runs in full wherever it runs (a light task that turns out to import torch simply
imports it), and its result does not depend on when or where it ran.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from proofs.claim import Claim

#: The groups of layers a claim's check splits into; each group of a claim is one task.
GROUPS: dict[str, tuple[str, ...]] = {"exact": ("symbolic", "smt"), "numeric": ("numeric",)}

#: The packages whose import makes a task heavy: torch, which every numeric layer uses (transformers and peft
#: import it too).
HEAVY: tuple[str, ...] = ("torch",)


@dataclass(frozen=True)
class Task:
    """The layers ``layers`` (in the claim's check order) of claim number ``claim`` of a run."""

    claim: int
    group: str
    layers: tuple[str, ...]
    #: the claim's id and the group: the task's entry in the record
    key: str


@dataclass(frozen=True)
class Observed:
    """One task as a run saw it: its seconds (the sum over its layers) and, when ``tracked`` (a worker process
    watched its imports), the top-level packages it imported and the expected ones (`imports`) it may have
    imported unseen, as they were imported before it started."""

    key: str
    seconds: float
    tracked: bool = False
    imported: tuple[str, ...] = ()
    unseen: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    """What the record keeps of a task."""

    seconds: float
    imports: tuple[str, ...]


def tasks(claims: Sequence[Claim], layers: Iterable[str]) -> list[Task]:
    """The tasks of ``claims``: per claim, one task per group with a layer among ``layers``, in claim order."""
    wanted = set(layers)
    out = []
    for k, claim in enumerate(claims):
        present = [name for name in claim.checks() if name in wanted]
        for group, members in GROUPS.items():
            chosen = tuple(name for name in present if name in members)
            if chosen:
                out.append(Task(k, group, chosen, f"{claim.id}/{group}"))
    return out


def imports(task: Task, record: dict[str, Entry]) -> tuple[str, ...]:
    """The top-level packages ``task`` is expected to import: those recorded, and `HEAVY` for a numeric task (the
    numeric layer is torch's, whatever a run in process, where imports are not watched, recorded)."""
    recorded = record[task.key].imports if task.key in record else ()
    prior = HEAVY if task.group == "numeric" else ()
    return tuple(dict.fromkeys((*prior, *recorded)))


def heavy(task: Task, record: dict[str, Entry]) -> bool:
    """Whether ``task`` is expected to import a package of `HEAVY`."""
    return any(name in HEAVY for name in imports(task, record))


def order(chosen: Sequence[Task], record: dict[str, Entry]) -> list[Task]:
    """The tasks never recorded first (in the order given), then the recorded ones longest first (ties in the order
    given): the wall time of a parallel run is bounded below by the work left when the last task starts, so the
    last tasks to start should be short."""
    untimed = [t for t in chosen if t.key not in record]
    timed = sorted((t for t in chosen if t.key in record), key=lambda t: -record[t.key].seconds)
    return untimed + timed


def preload(chosen: Sequence[Task], record: dict[str, Entry]) -> list[str]:
    """The packages to import before forking the workers that run the heavy tasks among ``chosen``: `HEAVY` and
    every top-level package a heavy task imported when last recorded (none without a heavy task)."""
    wanted = {name for t in chosen if heavy(t, record) for name in imports(t, record)}
    return list(HEAVY) + sorted(wanted - set(HEAVY)) if wanted else []


# ---- the record: per task, the seconds it took and the packages it imported ------------------------------------

def record_path() -> Path:
    """Where the record is kept between runs: ``$PREFIXCHECK_CACHE_DIR/tasks.json``, by default under
    ``$XDG_CACHE_HOME`` (``~/.cache``)``/prefixcheck``."""
    root = os.environ.get("PREFIXCHECK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "prefixcheck")
    return Path(root) / "tasks.json"


def record() -> dict[str, Entry]:
    """The recorded tasks (empty when there is no readable record; malformed entries are skipped)."""
    try:
        raw = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    out = {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            continue
        seconds, imports = value.get("seconds"), value.get("imports", [])
        if (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and isinstance(imports, list)
                and all(isinstance(name, str) for name in imports)):
            out[str(key)] = Entry(float(seconds), tuple(imports))
    return out


def keep(observed: Iterable[Observed]) -> None:
    """Record the tasks a run observed, over the previous record. A tracked task's packages: those it imported and
    those it may have imported unseen; an untracked one (in-process runs) keeps the recorded ones. Best effort: a
    record that cannot be written is skipped silently."""
    seen = list(observed)
    if not seen:
        return
    before = record()
    updated = dict(before)
    for o in seen:
        imports = set(o.imported) | set(o.unseen) if o.tracked or o.key not in before else set(before[o.key].imports)
        updated[o.key] = Entry(round(o.seconds, 3), tuple(sorted(imports)))
    path = record_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: {"seconds": e.seconds, "imports": list(e.imports)}
                                   for k, e in sorted(updated.items())}, indent=0), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
