"""``prefixcheck reproduce e1|e4 [--quick] [--seed N] [--json PATH] [--figures DIR] [--threads N]``.

Trains the small reproductions of the paper's experiments E1 and E4 (`numeric.empirical`) with a rich progress bar
(loss and a running exact-match accuracy on 128 held-out inputs), prints the results next to the paper's numbers,
saves the attention figure and optionally a JSON record. Torch is imported only when the command runs.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console


def register(sub: argparse._SubParsersAction, parser: argparse.ArgumentParser) -> None:
    from proofs.cli import positive_int, seed_int

    p = sub.add_parser("reproduce", help="train the small reproductions of experiments E1 / E4 (CPU)")
    p.add_argument("experiment", choices=("e1", "e4"), help="e1: sort descending; e4: double histogram")
    p.add_argument("--quick", action="store_true", help="the seconds-long configuration the claims run")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for every random draw (recorded)")
    p.add_argument("--json", metavar="PATH", help="write the results here")
    p.add_argument("--figures", metavar="DIR", default="prefixcheck-figures",
                   help="directory for the attention figure (default: ./prefixcheck-figures)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (fixed for determinism)")
    p.set_defaults(func=cmd_reproduce)


def _check_paths(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """Refuse bad output paths (and a missing matplotlib) before any training starts."""
    import importlib.util

    from proofs.cli import UsageError

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("the attention figures need matplotlib: install it with `pip install prefixcheck[latex]`")
    figures = Path(args.figures)
    if figures.exists() and not figures.is_dir():
        raise UsageError(f"--figures {figures} exists and is not a directory")
    out = Path(args.json) if args.json else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise UsageError(f"cannot write --json {out}: {'it is a directory' if out.is_dir() else 'no such directory'}")
    return figures, out


def cmd_reproduce(args: argparse.Namespace, console: Console) -> int:
    figures, out = _check_paths(args)
    from numeric.empirical import EXPERIMENTS, run

    e = EXPERIMENTS[args.experiment]["quick" if args.quick else "full"]
    mode = "quick" if args.quick else "full"
    console.print(f"[bold]{e.name.upper()}[/bold] ({mode}): {e.size}; n={e.spec.n}, {e.spec.num_digits} digits, "
                  f"n_S={e.spec.n_S}; pretrain {e.pretrain_task} {e.pretrain.steps} steps, "
                  + ", ".join(f"{m} {p.steps}" for m, p in e.methods) + f"; seed {args.seed}", highlight=False)
    start, cpu = time.perf_counter(), time.process_time()
    with _RichReporter(console) as reporter:
        result = run(e, args.seed, reporter, threads=args.threads)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    console.print(_table(result))
    from numeric.figures import plot_attention

    figure = plot_attention(result, figures / f"{e.name}{'_quick' if args.quick else ''}_attention.png")
    change = result.content_change
    console.print("renormalised content attention vs pretrained, max |difference| per layer: "
                  + "; ".join(f"{m} " + ", ".join(f"{v:.2g}" for v in vals) for m, vals in change.items()
                              if m != "pretrained"), highlight=False)
    console.print(f"attention figure: {figure}; total {seconds:.1f} s wall, {cpu:.1f} s CPU, {args.threads} thread(s)")
    if out is not None:
        record = result.to_json() | {"mode": mode, "threads": args.threads, "total_seconds": seconds, "cpu_seconds": cpu,
                                     "figure": str(figure), "environment": _environment()}
        out.write_text(json.dumps(record, indent=2) + "\n")
        console.print(f"JSON written to {out}")
    return 0


def _environment() -> dict[str, str]:
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
            "cpus": str(__import__("os").cpu_count())}


def _table(result):
    from rich.table import Table

    from numeric.empirical import PAPER, PAPER_SETUP
    from proofs.catalogue.empirical import LABELS

    e = result.experiment
    t = Table(title=f"{e.name.upper()}: exact match on {e.eval_samples} held-out inputs "
                    f"(paper: {PAPER_SETUP[e.name]})")
    for col in ("method", "task", "ours", "paper", "parameters", "train s"):
        t.add_column(col, justify="left" if col in ("method", "task") else "right")
    for (method, task), value in result.acc.items():
        paper = PAPER[e.name].get((method, task))
        t.add_row(LABELS.get(method, method), task, f"{value:.2%}", "—" if paper is None else f"{paper:.2%}",
                  f"{result.params[method]:,}", f"{result.seconds[method]:.1f}")
    return t


class _RichReporter:
    """A rich progress bar per phase: steps, loss, running accuracy, elapsed time."""

    wants_evals = True

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TextColumn("acc {task.fields[acc]}"),
                                 TimeElapsedColumn(), console=console)
        self.task = None

    def __enter__(self) -> "_RichReporter":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def phase(self, label: str, steps: int) -> None:
        self.task = self.progress.add_task(label, total=steps, loss="—", acc="—")

    def step(self, step: int, loss: float) -> None:
        self.progress.update(self.task, completed=step, loss=f"{loss:.3f}")

    def accuracy(self, value: float) -> None:
        self.progress.update(self.task, acc=f"{value:.1%}")
