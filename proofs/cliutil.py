"""Command-line plumbing every command shares: bad input as one line, output paths checked before the work starts,
atomic writes (temporary file + rename, so an interrupted run leaves no half-written file), numbers and limits,
and the exit-status table (`EXIT_CODES`) that README.md, docs/guide.md and docs/writing-claims.md print.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_INTERRUPTED = 130

#: The exit-status table, in the order the docs print it: (status, meaning).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "every claim (row, cell, entry) is as expected"),
    (EXIT_MISMATCH, "a mismatch: a claim contradicted, a baseline flip, an unexpected matrix cell or audit row, "
                    "a construction that does not generate its target"),
    (EXIT_USAGE, "bad input, before any work where it can be detected: an unknown id or option, a bad number, an "
                 "unwritable output path, a size over its limit, a malformed file (a claims file that fails to "
                 "load included), a missing optional dependency or LaTeX"),
    (EXIT_INCONCLUSIVE, "inconclusive but no mismatch: a layer UNKNOWN or ERROR, a search UNKNOWN"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C): nothing half-written is left behind"),
)



def exit_code_table() -> str:
    """`EXIT_CODES` as the Markdown table the docs carry (tests/test_exit_codes.py keeps them equal)."""
    rows = "\n".join(f"| {code} | {meaning} |" for code, meaning in EXIT_CODES)
    return "| exit | meaning |\n|---|---|\n" + rows


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


# ---- numbers ---------------------------------------------------------------------------------------------------

def parse_int(text: str) -> int:
    """An integer written as ``12``, ``1_000`` or ``1e6`` (an exact integer in scientific notation)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(text) from None
    if not math.isfinite(value) or value != int(value) or "e" not in text.lower():
        raise ValueError(text)
    return int(value)


def number_type(convert: Callable[[str], Any], ok: Callable[[Any], bool], requirement: str) -> Callable[[str], Any]:
    """An argparse ``type=``: ``convert`` the text (`parse_int` or float), then require ``ok(value)``; both failures
    are one-line ``ArgumentTypeError``s (exit 2)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if convert in (int, parse_int) else 'a number'}: {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text}")
        return value

    return parse


def bounded_int(low: int, high: int, why: str) -> Callable[[str], int]:
    """An integer in ``[low, high]``; above ``high`` the message names the limit and ``why`` it exists."""

    def parse(text: str) -> int:
        requirement = "must be positive" if low == 1 else f"must be >= {low}"
        value = number_type(parse_int, lambda v: v >= low, requirement)(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"{text} is over the limit {high:,} ({why})")
        return value

    return parse


def parse_fraction(text: str) -> Fraction:
    """An exact number written as ``3``, ``0.25``, ``1/3`` or ``1e-3`` (its decimal value, not a float's)."""
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(text) from None


# The argparse ``type=``s of every command (one parser: `number_type`).
positive_int = number_type(parse_int, lambda v: v > 0, "must be positive")
seed_int = number_type(parse_int, lambda v: v >= 0, "seed must be >= 0")
positive_float = number_type(float, lambda v: 0 < v < math.inf, "must be positive and finite")
non_negative_float = number_type(float, lambda v: 0 <= v < math.inf, "must be a finite number >= 0")
positive_seconds = number_type(float, lambda v: 0 < v < math.inf, "must be a positive finite number of seconds")
positive_fraction = number_type(parse_fraction, lambda v: v > 0, "must be positive")
slowdown_factor = number_type(float, lambda v: 1 < v < math.inf, "must be a finite factor > 1")

#: ``--instances`` above this is refused up front: a numeric check holds all its instances in memory at once.
MAX_INSTANCES = 1_000_000
instances_int = bounded_int(1, MAX_INSTANCES, "a numeric check holds every instance in memory at once")


# ---- options and claims shared by the commands that run checks --------------------------------------------------

def parse_layers(text: str) -> tuple[str, ...]:
    from proofs.claim import LAYERS

    layers = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [name for name in layers if name not in LAYERS]
    if bad or not layers:
        raise argparse.ArgumentTypeError(
            f"unknown layer(s) {', '.join(bad) or '(none)'}; choose from {','.join(LAYERS)}")
    return layers


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs checks."""
    p.add_argument("--seed", type=seed_int, default=0, help="seed for every random draw (recorded in reports)")
    p.add_argument("--timeout", type=positive_seconds, default=30.0,
                   help="seconds for each solver query: one z3/cvc5 call or one search-engine run (not a whole-check "
                        "budget)")
    p.add_argument("--instances", type=instances_int, default=1000,
                   help=f"random instances per numeric check (at most {MAX_INSTANCES:,})")


def add_claims_option(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--claims", metavar="FILE", action="append", help=help)


def load_claims(args: argparse.Namespace) -> list[Any]:
    """The catalogue claims, then those of the ``--claims`` files if the command has that option (`check`
    reports a file's load errors in its table; other commands stop at the first one)."""
    from proofs.registry import catalogue

    claims = catalogue()
    if getattr(args, "claims", None):
        user = load_user_claims(args.claims, claims)
        if user.errors:
            raise UsageError(f"{user.errors[0].where}: {user.errors[0].message}")
        claims += user.claims
    return claims


def load_user_claims(paths: list[str], catalogue: list[Any]) -> Any:
    """The claims of user files (`proofs.user_claims`); bad input becomes a `UsageError`."""
    import sys

    from proofs.user_claims import ClaimFileError, load_claim_files, unique_paths

    if len(unique_paths(paths)) < len(paths):
        print("prefixcheck: note: a --claims file was given more than once; it is loaded once", file=sys.stderr)
    try:
        return load_claim_files(paths, reserved=[c.id for c in catalogue])
    except ClaimFileError as exc:
        raise UsageError(str(exc)) from None


# ---- output paths ----------------------------------------------------------------------------------------------

def _probe_directory(folder: Path, what: str, path: Path) -> None:
    """Create and delete a temporary file in ``folder``: the only test that works for root, /proc and read-only
    mounts alike."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".prefixcheck-probe-", dir=folder)
    except OSError as exc:
        raise UsageError(
            f"cannot write {what} {path}: cannot create files in {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _existing_ancestor(path: Path, what: str) -> Path:
    """The nearest existing ancestor of ``path``, which must be a directory."""
    folder = path.parent
    while not folder.exists():
        if folder == folder.parent:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {what} {path}: {folder} is not a directory")
    return folder


def output_file(path: str | None, what: str) -> Path | None:
    """Check, before any work, that a file can be written at ``path``: not a directory, in an existing writable
    folder (as a shell redirection needs); ``None`` passes through. ``what`` names the option, e.g. ``"--json"``."""
    if path is None:
        return None
    p = Path(path)
    if not path or path.endswith(os.sep) or p.is_dir():
        raise UsageError(f"cannot write {what} {path}: it is a directory; give a file name")
    if p.exists() and not p.is_file():
        raise UsageError(f"cannot write {what} {path}: not a regular file")
    folder = _existing_ancestor(p, what)
    if folder != p.parent.resolve() and folder != p.parent:
        raise UsageError(f"cannot write {what} {path}: no such directory {p.parent}")
    _probe_directory(folder, what, p)
    return p


def output_dir(path: str, what: str) -> Path:
    """Check, before any work, that ``path`` is (or can be created as) a writable directory."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"output path {p} ({what}) exists and is not a directory")
    try:
        _probe_directory(p if p.exists() else _existing_ancestor(p, what), what, p)
    except UsageError as exc:
        raise UsageError(f"cannot create the output directory {p} ({what}): {str(exc).split(': ', 1)[-1]}") from None
    return p


# ---- writing ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` when the block finishes, deleted if it raises (an
    interruption included), so ``path`` is either the old file or the complete new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name keeps the suffix, for writers that pick the format from it (matplotlib)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (`atomic_path`); an OS error is a `UsageError` naming the path."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return Path(path)


def write_json(path: Path | str, data: Any, indent: int = 2) -> Path:
    """`write_text` of ``data`` as JSON (non-JSON values as ``str``)."""
    import json

    return write_text(path, json.dumps(data, indent=indent, default=str) + "\n")


# ---- interruptions ---------------------------------------------------------------------------------------------

_watching = False


def solvers_stop_on_ctrl_c() -> None:
    """Make Ctrl-C stop a running z3 query at once and reach Python as KeyboardInterrupt.

    Left alone, z3 catches SIGINT during a query and answers 'unknown' (the run would go on and write its output).
    Here SIGINT stays with Python, and a watcher thread woken by Python's signal wake-up fd interrupts the z3
    context, so the query returns and the pending KeyboardInterrupt is raised. Once per process; a no-op without
    z3 or outside the main thread."""
    global _watching
    import signal
    import threading

    if _watching or threading.current_thread() is not threading.main_thread():
        return
    try:
        import z3
    except ModuleNotFoundError:
        return
    z3.set_param("ctrl_c", False)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while data := os.read(read_end, 1):
            if data[0] == signal.SIGINT:  # the wake-up fd receives every handled signal's number
                z3.main_ctx().interrupt()

    threading.Thread(target=watch, name="prefixcheck-ctrl-c", daemon=True).start()
    _watching = True
