"""Command line: ``prefixcheck list | show ID | check [ID ...]`` plus commands contributed by `proofs.commands`.

Heavy libraries (torch, sympy, z3) are imported only inside checks, so ``prefixcheck list`` is instant.
Exit statuses: `proofs.cliutil.EXIT_CODES` (0 ok, 1 mismatch, 2 bad input, 3 inconclusive, 130 interrupted).
Every error is one line on stderr; argparse's usage block is printed by ``--help`` only.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import pkgutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from rich.console import Console

from proofs.claim import LAYERS, Context
from proofs.cliutil import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    add_claims_option,
    add_run_options,
    load_claims,
    load_user_claims,
    number_type,
    output_file,
    parse_layers,
    positive_int,
    positive_seconds,
    seed_int,
    slowdown_factor,
    solvers_stop_on_ctrl_c,
)

__all__ = ["UsageError", "main", "build_parser", "number_type", "positive_int", "seed_int", "positive_seconds"]

class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already states one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default == argparse.SUPPRESS
                or text == argparse.SUPPRESS
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        if isinstance(default, (tuple, list)):
            default = ",".join(map(str, default)) if default else "none"
        return f"{text} (default: {str(default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `UsageError` line (no usage block) and whose help shows defaults;
    sub-command parsers inherit both."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    t = Table(title="prefixcheck claims")
    for col in ("id", "section", "expected", "layers", "title"):
        t.add_column(col, style="cyan" if col == "id" else None)
    for c in load_claims(args):
        t.add_row(c.id, c.section, c.expected or "—", ",".join(c.checks()), c.title)
    console.print(t)
    return 0


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    from proofs.registry import select

    (claim,) = select(load_claims(args), [args.id])
    console.print(f"[bold cyan]{claim.id}[/bold cyan]  ({claim.section}; {claim.paper_ref})")
    console.print(f"[bold]{claim.title}[/bold]", highlight=False)
    console.print(f"statement: {claim.statement}", highlight=False, soft_wrap=True)
    console.print(f"expected:  {claim.expected or 'not pinned'}")
    console.print(f"layers:    {', '.join(claim.checks())}")
    if claim.assumptions:
        console.print("assumptions:")
        for a in claim.assumptions:
            console.print(f"  - {a}", highlight=False)
    if claim.derivation is not None:
        try:
            derivation = claim.derivation()
        except Exception as exc:
            if claim.source == "catalogue":
                raise
            raise UsageError(
                f"{claim.source}: the derivation of {claim.id} raised {type(exc).__name__}: {exc}") from None
        console.print("derivation:")
        console.print(derivation.as_text(), highlight=False, markup=False, soft_wrap=True)
    return 0


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from proofs import baseline, report
    from proofs.registry import catalogue as load_catalogue
    from proofs.registry import select
    from proofs.runner import default_jobs, run

    json_path = output_file(args.json, "--json")
    if args.slowdown is not None and not args.baseline:
        raise UsageError("--slowdown applies to a comparison: give --baseline PATH as well")
    try:
        before = baseline.load(args.baseline) if args.baseline else None
    except baseline.BaselineError as exc:
        raise UsageError(str(exc)) from None
    catalogue = load_catalogue()
    user = load_user_claims(args.claims, catalogue) if args.claims else None
    known = catalogue + (user.claims if user else [])
    # with claim files and no ids, run the files' claims; ids select among catalogue and file claims
    chosen = select(known, args.ids) if args.ids or not user else user.claims
    claims = [c for c in chosen if set(c.checks()) & set(args.layers)]
    errors = user.errors if user else None
    if not claims and not errors:
        raise UsageError(f"no selected claim has a {'/'.join(args.layers)} check")
    dropped = [c for c in chosen if c not in claims]
    for c in dropped:
        console.print(f"[yellow]not run[/yellow] [cyan]{c.id}[/cyan]: no {'/'.join(args.layers)} check "
                      f"(it has {', '.join(c.checks())})", highlight=False)
    if "smt" in args.layers:
        solvers_stop_on_ctrl_c()
    ctx = Context(seed=args.seed, timeout=args.timeout, instances=args.instances)
    start = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("checking", total=len(claims))
        results = run(claims, ctx, args.layers,
                      on_done=lambda r: progress.update(task, advance=1, description=f"checked {r.claim.id}"),
                      jobs=args.jobs or default_jobs())
    seconds = time.perf_counter() - start
    report.print_report(console, results, seconds, verbose=args.verbose, errors=errors)
    code = report.exit_code(results)
    extra: dict[str, Any] = {}
    if dropped:
        extra["not_run"] = [{"id": c.id, "reason": f"no {'/'.join(args.layers)} check"} for c in dropped]
    if before is not None:
        diff = baseline.compare(before.claims, [r.to_json() for r in results], [c.id for c in known],
                                factor=args.slowdown or 3.0)
        baseline.print_diff(console, diff, before, args.seed)
        extra["baseline"] = {"path": args.baseline, **diff.to_json()}
        code = 1 if diff.flips else code
    if json_path is not None:
        report.write_json(json_path, results, seconds, args.seed, errors, **extra)
        console.print(f"JSON report written to {args.json}")
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more, listed above)" if len(errors) > 1 else ""
        return error(f"{first.where}: {first.message}{more}; the other claims ran")
    return code


def cmd_completion(args: argparse.Namespace, console: Console) -> int:
    """Print the shell completion script (shtab) for ``args.shell``."""
    try:
        import shtab
    except ModuleNotFoundError:
        raise UsageError("shell completion needs shtab: pip install shtab") from None
    sys.stdout.write(shtab.complete(args.parser, args.shell))
    return 0


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("prefixcheck")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="prefixcheck",
        description="Check the theory of prompting / soft prompting / prefix-tuning three ways: sympy, torch, z3.",
        epilog="Exit status: 0 ok, 1 mismatch, 2 bad input, 3 inconclusive, 130 interrupted (README.md).",
    )
    parser.add_argument("--version", action="version", version=f"prefixcheck {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the claims")
    add_claims_option(p, "also list the claims of this Python file (repeatable)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="show a claim: statement, assumptions, derivation")
    p.add_argument("id")
    add_claims_option(p, "also look in the claims of this Python file (repeatable)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("check", help="check claims (all by default) and print a table")
    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids, or prefixes ending in '.' or '*' (default: all)")
    p.add_argument("--layers", type=parse_layers, default=LAYERS, help="comma list of symbolic,numeric,smt")
    p.add_argument("--json", metavar="PATH", help="write the JSON report here")
    p.add_argument("-v", "--verbose", action="store_true", help="print every layer's detail line")
    add_claims_option(p, "also load the claims of a Python file defining CLAIMS (repeatable); without ids, run "
                         "only these (docs/writing-claims.md)")
    p.add_argument("--baseline", metavar="PATH",
                   help="compare with a previous --json report: verdict flips (exit 1), new/removed claims, "
                        "slower layers")
    p.add_argument("--slowdown", metavar="FACTOR", type=slowdown_factor,
                   help="with --baseline: report layers now more than FACTOR times slower (default 3)")
    p.add_argument("-j", "--jobs", type=positive_int, metavar="N",
                   help="run claims in N worker processes, torch on one thread each (default: the number of cores; "
                        "1 runs them in this process); the results do not depend on N")
    add_run_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("completion", help="print a shell completion script: "
                                          "eval \"$(prefixcheck completion bash)\"")
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"), help="the shell")
    p.set_defaults(func=cmd_completion, parser=parser)

    import proofs.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub, parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; always returns the exit status (`proofs.cliutil.EXIT_CODES`), never raises for bad
    input or Ctrl-C."""
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        print("prefixcheck: interrupted; no partial output was written", file=sys.stderr)
    if argv is None:  # the program itself: once done, a (second) Ctrl-C while exiting must not print a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        exit_now(code)
    return code


def exit_now(code: int) -> NoReturn:
    """End the program with ``code`` without tearing the interpreter down: the exit handlers run (`atexit`: logging,
    multiprocessing) and the standard streams are flushed, but the modules are not finalised one by one. A parallel
    check imports torch, transformers and peft in this process (`proofs.pool`), and their teardown alone is about a
    second of CPU, of no use to anyone."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe
            pass
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    from proofs import config as project_config
    from proofs.registry import UnknownClaim

    console = Console() if sys.stdout.isatty() else Console(width=160)
    try:
        parser = build_parser()
        configured = project_config.load()
        if configured is not None:
            project_config.apply(parser, configured)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else error(exc.code)
        if configured is not None and configured.claims and getattr(args, "claims", "absent") is None:
            args.claims = list(configured.claims)
        return int(args.func(args, console) or 0)
    except (UsageError, UnknownClaim) as exc:
        return error(str(exc))
    except ModuleNotFoundError as exc:
        return error(f"missing optional dependency {exc.name!r}; install it with "
                     f"`pip install 'prefixcheck[hf,smt,latex]'` (or run `make check`)")


def error(message: str) -> int:
    """Print a one-line error (never wrapped) and return the usage-error exit status 2."""
    print(f"prefixcheck: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
