"""``prefixcheck reproduce e1|e2|e3|e4 [--quick | --paper] [--budget F] [--seed N | --seeds LIST] [--optimise]
[--json PATH] [--figures DIR] [--threads N]``.

Trains the reproductions of the paper's experiments E1-E4 (`numeric.empirical`) with a rich progress bar (loss and a
running exact-match accuracy on 128 held-out inputs), prints the results next to the paper's numbers, saves the
attention figure and optionally a JSON record (configuration, every seed's numbers, mean and spread, CPU time,
threads, library versions, CPU model). ``--paper`` takes the authors' settings, ``--budget F`` multiplies every
phase's steps by F (a reduced-budget run, labelled so), ``--seeds 0,1,2,3,4`` sweeps seeds, ``--optimise`` runs the
prefix optimisation check (learning-rate sweep and restarts) instead. Torch is imported only when the command runs.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.console import Console

from proofs.cliutil import positive_float, positive_int, seed_int

if TYPE_CHECKING:
    from rich.progress import TaskID

    from numeric.empirical import Reporter


def register(sub: argparse._SubParsersAction, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("reproduce", help="train the reproductions of experiments E1-E4 (CPU)")
    p.add_argument("experiment", choices=("e1", "e2", "e3", "e4"),
                   help="e1: sort descending; e2: elicit skills; e3: combine skills / double histogram; "
                        "e4: LoRA vs prefix on the double histogram")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the seconds-long configuration the claims run")
    mode.add_argument("--paper", action="store_true",
                      help="the authors' settings (paper-notes 4; see docs/empirical.md)")
    p.add_argument("--budget", type=positive_float, default=1.0, metavar="F",
                   help="multiply every phase's steps by F (a reduced-budget run; default 1)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for every random draw (recorded)")
    p.add_argument("--seeds", type=seed_list, metavar="LIST", help="a seed sweep, e.g. 0,1,2,3,4 (overrides --seed)")
    p.add_argument("--optimise", action="store_true",
                   help="prefix optimisation check: learning-rate sweep and restarts on the target task")
    p.add_argument("--lrs", type=float_list, default=None, metavar="LIST",
                   help="learning rates for --optimise (default: the preset's, x10 and x100)")
    p.add_argument("--restarts", type=positive_int, default=2, help="initialisations per learning rate (--optimise)")
    p.add_argument("--json", metavar="PATH", help="write the results here")
    p.add_argument("--figures", metavar="DIR", default="prefixcheck-figures",
                   help="directory for the attention figure (default: ./prefixcheck-figures)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (fixed for determinism)")
    p.set_defaults(func=cmd_reproduce)


def float_list(text: str) -> list[float]:
    return [positive_float(t) for t in text.split(",") if t.strip()] or _empty(text)


def seed_list(text: str) -> list[int]:

    return [seed_int(t.strip()) for t in text.split(",") if t.strip()] or _empty(text)


def _empty(text: str) -> list:
    raise argparse.ArgumentTypeError(f"an empty list: {text!r}")


def _check_paths(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """Refuse bad output paths (and a missing matplotlib) before any training starts."""
    import importlib.util

    from proofs.cliutil import UsageError

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("the attention figures need matplotlib: install it with `pip install prefixcheck[latex]`")
    from proofs.cliutil import output_dir, output_file

    return output_dir(args.figures, "--figures"), output_file(args.json, "--json")


def cmd_reproduce(args: argparse.Namespace, console: Console) -> int:
    figures, out = _check_paths(args)
    from numeric.empirical import EXPERIMENTS, scaled

    mode = "quick" if args.quick else "paper" if args.paper else "full"
    e = EXPERIMENTS[args.experiment][mode]
    if args.budget != 1.0:
        e = scaled(e, args.budget)
    label = mode + ("" if args.budget == 1.0 else f", reduced budget x{args.budget:g}")
    seed_list_ = args.seeds if args.seeds else [args.seed]
    console.print(f"[bold]{e.name.upper()}[/bold] ({label}): {e.size}; n={e.spec.n}, {e.spec.num_digits} digits, "
                  f"vocabulary {e.spec.vocab}, n_S={e.spec.n_S}, dropout {e.dropout:g}; pretrain {e.pretrain_task} "
                  f"{e.pretrain.steps} steps (lr {e.pretrain.lr:g}), "
                  + ", ".join(f"{m} {p.steps} (lr {p.lr:g})" for m, p in e.methods)
                  + (f" on {', '.join(e.all_targets)}" if len(e.all_targets) > 1 else "")
                  + "".join(f"; {t}: {p.steps} steps" for t, p in e.target_phases)
                  + f"; seed{'s' * (len(seed_list_) > 1)} {', '.join(map(str, seed_list_))}", highlight=False)
    start, cpu = time.perf_counter(), time.process_time()
    if args.optimise:
        record = _optimise(args, e, seed_list_[0], console)
    else:
        record = _sweep(args, e, seed_list_, console, figures)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    console.print(f"total {seconds:.1f} s wall, {cpu:.1f} s CPU, {args.threads} thread(s)")
    if out is not None:
        record |= {"mode": mode, "budget": args.budget, "threads": args.threads, "total_seconds": seconds,
                   "cpu_seconds": cpu, "environment": _environment()}
        from proofs.cliutil import write_json

        write_json(out, record)
        console.print(f"JSON written to {out}")
    return 0


def _sweep(args: argparse.Namespace, e, seed_list_: list[int], console: Console, figures: Path) -> dict:
    from numeric.empirical import run, summary

    runs = []
    for seed in seed_list_:
        with _RichReporter(console) as reporter:
            # _RichReporter has Reporter's hooks; it cannot subclass it here (numeric.empirical imports torch)
            runs.append(run(e, seed, cast("Reporter", reporter), threads=args.threads))
    result = runs[0]
    if len(runs) == 1:
        console.print(_table(result))
    else:
        console.print(_summary_table(e, summary(runs), len(runs)))
    from numeric.figures import plot_attention

    suffix = "_quick" if args.quick else "_paper" if args.paper else ""
    from proofs.cliutil import atomic_path

    figure = figures / f"{e.name}{suffix}_attention.png"
    with atomic_path(figure) as tmp:
        plot_attention(result, tmp)
    console.print("renormalised content attention vs pretrained, max |difference| per layer (seed "
                  f"{result.seed}): " + "; ".join(f"{m} " + ", ".join(f"{v:.2g}" for v in vals)
                                                  for m, vals in result.content_change.items() if m != "pretrained"),
                  highlight=False)
    console.print(f"attention figure: {figure}")
    record = result.to_json() if len(runs) == 1 else {"runs": [r.to_json() for r in runs]}
    return record | {"figure": str(figure), "seeds": seed_list_,
                     "summary": [{"method": m, "task": t, **v} for (m, t), v in summary(runs).items()]}


def _optimise(args: argparse.Namespace, e, seed: int, console: Console) -> dict:
    from rich.table import Table

    from numeric.empirical import prefix_optimisation

    phase = e.phase("prefix", e.target)
    lrs = args.lrs or [phase.lr, 10 * phase.lr, 100 * phase.lr]
    with console.status(f"prefix optimisation on {e.target}: {len(lrs)} learning rates x {args.restarts} restarts, "
                        f"{phase.steps} steps each"):
        rec = prefix_optimisation(e, seed, e.target, lrs, args.restarts, phase.steps, threads=args.threads)
    t = Table(title=f"{e.name.upper()} prefix optimisation on {e.target} ({phase.steps} steps each, seed {seed}; "
                    f"losses are means over {50}-step windows, nats per output token)")
    for col in ("lr", "restart", "best loss", "final loss", "exact match"):
        t.add_column(col, justify="right")
    for a in rec["attempts"]:
        t.add_row(f"{a['lr']:g}", str(a["restart"]), f"{a['best_loss']:.3f}", f"{a['final_loss']:.3f}",
                  f"{a['accuracy']:.2%}")
    console.print(t)
    console.print("reference losses: " + "; ".join(f"{k} {v:.3f}" for k, v in rec["reference_losses"].items()),
                  highlight=False)
    return rec


def _summary_table(e, stats: dict, runs: int):
    from rich.table import Table

    from numeric.empirical import PAPER
    from proofs.empirical_checks import LABELS

    t = Table(title=f"{e.name.upper()}: exact match on {e.eval_samples} held-out inputs, {runs} seeds")
    for col in ("method", "task", "mean", "std", "min", "max", "paper"):
        t.add_column(col, justify="left" if col in ("method", "task") else "right")
    for (m, task), v in stats.items():
        paper = PAPER.get(e.name, {}).get((m, task))
        t.add_row(LABELS.get(m, m), task, f"{v['mean']:.2%}", f"{v['std']:.2%}", f"{v['min']:.2%}",
                  f"{v['max']:.2%}", "—" if paper is None else f"{paper:.2%}")
    return t


def _environment() -> dict[str, str]:
    import platform

    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    return {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
            "cpus": str(__import__("os").cpu_count()), "cpu_model": cpu,
            "torch_parallel": "; ".join(line.strip() for line in torch.__config__.parallel_info().splitlines()
                                        if line.startswith(("OpenMP", "Intel", "ATen parallel backend")))}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _table(result):
    from rich.table import Table

    from numeric.empirical import PAPER, PAPER_SETUP
    from proofs.empirical_checks import LABELS

    e = result.experiment
    t = Table(title=f"{e.name.upper()}: exact match on {e.eval_samples} held-out inputs "
                    f"(paper: {PAPER_SETUP[e.name]})")
    for col in ("method", "task", "ours", "paper", "parameters", "train s"):
        t.add_column(col, justify="left" if col in ("method", "task") else "right")
    for (method, task), value in result.acc.items():
        paper = PAPER.get(e.name, {}).get((method, task))
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
        self.task: TaskID | None = None

    def __enter__(self) -> _RichReporter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def phase(self, label: str, steps: int) -> None:
        self.task = self.progress.add_task(label, total=steps, loss="—", acc="—")

    def step(self, step: int, loss: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=step, loss=f"{loss:.3f}")

    def accuracy(self, value: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, acc=f"{value:.1%}")
