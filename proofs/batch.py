"""``prefixcheck search --batch``: many heads and/or target sets from one ``.npz``, decided by the layered
engine (`proofs.layered`) in parallel worker processes, as JSON lines plus a summary table.

Arrays (H heads, T target sets per head, R inputs of n tokens):

* ``W_Q``, ``W_K``: (k, d) or (H, k, d); ``W_V``: (d_v, d) or (H, d_v, d); optional ``tau``: scalar or (H,);
* ``X``: (R, n, d) shared by every head, or (H, R, n, d), one set of inputs per head;
* ``Y``: (R, d_v), (T, R, d_v) or, with H heads, (H, R, d_v) / (H, T, R, d_v).

Each job is one (head, target set). Workers are spawned processes (``-j N``), each with torch on one thread.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Job:
    head: int
    targets: int
    W_Q: list
    W_K: list
    W_V: list
    tau: float | None
    X: list
    Y: list


def load_jobs(path: str) -> list[Job]:
    """The jobs of a batch archive; ValueError (one line) on a malformed one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"batch file {path} is not a readable .npz archive ({type(exc).__name__})") from None
    missing = [k for k in ("W_Q", "W_K", "W_V", "X", "Y") if k not in arrays]
    if missing:
        raise ValueError(f"batch file {path} lacks {', '.join(missing)}")
    if not all(np.isfinite(a).all() for a in arrays.values()):
        raise ValueError(f"batch file {path} has NaN or inf entries")
    W_Q, W_K, W_V, X, Y = (arrays[k] for k in ("W_Q", "W_K", "W_V", "X", "Y"))
    if W_Q.ndim == 2:
        W_Q, W_K, W_V = W_Q[None], W_K[None], W_V[None]
        many = False
    else:
        many = True
    if not (W_Q.ndim == W_K.ndim == W_V.ndim == 3) or W_Q.shape != W_K.shape or W_V.shape[:1] != W_Q.shape[:1]:
        raise ValueError("W_Q, W_K must be (k, d) or (H, k, d) alike, W_V (d_v, d) or (H, d_v, d)")
    H, k, d = W_Q.shape
    d_v = W_V.shape[1]
    if W_V.shape[2] != d:
        raise ValueError(f"W_V has {W_V.shape[2]} columns but d = {d}")
    if X.ndim == 3:
        X = np.broadcast_to(X, (H, *X.shape))
    if X.ndim != 4 or X.shape[0] != H or X.shape[3] != d:
        raise ValueError(f"X must be (R, n, {d}) or ({H}, R, n, {d}), got {arrays['X'].shape}")
    R = X.shape[1]
    if many:
        if Y.ndim == 3:
            Y = Y[:, None]
    else:
        Y = Y[None] if Y.ndim == 3 else Y[None, None]
    if Y.ndim != 4 or Y.shape[0] != H or Y.shape[2:] != (R, d_v):
        raise ValueError(f"Y must hold ({R}, {d_v}) target sets per head, got {arrays['Y'].shape}")
    tau = arrays.get("tau")
    taus: list[float | None] = [None] * H
    if tau is not None:
        tau = np.broadcast_to(tau, (H,))
        if not (tau > 0).all():
            raise ValueError("tau must be positive")
        taus = [float(x) for x in tau]
    return [Job(h, t, W_Q[h].tolist(), W_K[h].tolist(), W_V[h].tolist(), taus[h], X[h].tolist(), Y[h, t].tolist())
            for h in range(H) for t in range(Y.shape[1])]


def run_job(job: Job, method: Any, tol: float, timeout: float, seed: int) -> dict[str, Any]:
    """Decide one job; a JSON-ready record."""
    from proofs.layered import decide
    from proofs.z3_search import Problem
    from theory.smt_prefix import Task

    problem = Problem(job.W_Q, job.W_K, job.W_V, method, Task(job.X, job.Y, tol=tol), tau=job.tau)
    out = decide(problem, timeout, seed=seed)
    record = {"head": job.head, "targets": job.targets, "verdict": out.verdict, "seconds": round(out.seconds, 4),
              "detail": out.detail, "max_error": out.max_error, "params": out.params}
    if out.certificate is not None:
        record["certificate"] = out.certificate.to_json()
    return record


def run_batch(jobs: list[Job], method: Any, tol: float, timeout: float, seed: int, workers: int,
              console: Any) -> list[dict[str, Any]]:
    """Every job, in parallel across ``workers`` processes, with a progress bar; records in job order."""
    import multiprocessing

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from numeric.threads import pin_process, torch_threads

    records: dict[int, dict[str, Any]] = {}
    with Progress(TextColumn("search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("jobs", total=len(jobs))
        if workers <= 1:
            with torch_threads(1):
                for i, job in enumerate(jobs):
                    records[i] = run_job(job, method, tol, timeout, seed)
                    bar.advance(task)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=pin_process) as pool:
                futures = {pool.submit(run_job, job, method, tol, timeout, seed): i for i, job in enumerate(jobs)}
                for fut in as_completed(futures):
                    records[futures[fut]] = fut.result()
                    bar.advance(task)
    return [records[i] for i in range(len(jobs))]


def summary(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    verdicts = [r["verdict"] for r in records]
    times = sorted(r["seconds"] for r in records)
    return {"jobs": len(records), **{v: verdicts.count(v) for v in ("FOUND", "IMPOSSIBLE", "UNKNOWN")},
            "decided_fraction": (len(records) - verdicts.count("UNKNOWN")) / max(1, len(records)),
            "median_seconds": times[len(times) // 2] if times else 0.0, "max_seconds": times[-1] if times else 0.0,
            "wall_seconds": round(seconds, 3)}


def write_jsonl(path: str, records: list[dict[str, Any]]) -> None:
    from proofs.cliutil import write_text

    write_text(path, "".join(json.dumps(r) + "\n" for r in records))  # atomic: no half-written file on Ctrl-C


def print_summary(console: Any, records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    from rich.table import Table

    s = summary(records, seconds)
    t = Table(title=f"{s['jobs']} jobs, {s['wall_seconds']:.1f}s wall")
    for col in ("FOUND", "IMPOSSIBLE", "UNKNOWN", "decided", "median s", "max s"):
        t.add_column(col)
    t.add_row(str(s["FOUND"]), str(s["IMPOSSIBLE"]), str(s["UNKNOWN"]), f"{100 * s['decided_fraction']:.1f}%",
              f"{s['median_seconds']:.3f}", f"{s['max_seconds']:.3f}")
    console.print(t)
    return s


def timed_batch(jobs: list[Job], method: Any, tol: float, timeout: float, seed: int, workers: int,
                console: Any) -> tuple[list[dict[str, Any]], float]:
    start = time.perf_counter()
    records = run_batch(jobs, method, tol, timeout, seed, workers, console)
    return records, time.perf_counter() - start
