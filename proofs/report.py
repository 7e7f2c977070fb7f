"""Reports: the terminal table (rich) and the JSON object of design.md."""
from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proofs.claim import LAYERS, LayerResult, Status
from proofs.runner import ClaimResult

if TYPE_CHECKING:
    from proofs.user_claims import LoadError

STATUS_STYLE = {
    Status.PROVED: "bold green",
    Status.CONSISTENT: "green",
    Status.REFUTED: "bold magenta",
    Status.VIOLATED: "magenta",
    Status.COUNTEREXAMPLE: "bold magenta",
    Status.UNKNOWN: "yellow",
    Status.ERROR: "bold red",
}
VERDICT_STYLE = {"ok": "bold green", "mismatch": "bold red", "inconclusive": "bold yellow"}


def exit_code(results: list[ClaimResult]) -> int:
    """0 all ok, 1 any mismatch, 3 inconclusive but no mismatch (`proofs.cliutil.EXIT_CODES`; a claims file that
    failed to load is bad input, 2, decided by the command)."""
    verdicts = {r.verdict for r in results}
    if "mismatch" in verdicts:
        return 1
    return 3 if "inconclusive" in verdicts else 0


def summary(results: list[ClaimResult], seconds: float, errors: Sequence[LoadError] | None = None) -> dict[str, Any]:
    counts = {v: sum(r.verdict == v for r in results) for v in ("ok", "mismatch", "inconclusive")}
    if errors is not None:
        counts["errors"] = len(errors)
    return {**counts, "seconds": round(seconds, 3)}


def environment(seed: int) -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    env: dict[str, Any] = {"python": platform.python_version()}
    for key, dist in (("torch", "torch"), ("sympy", "sympy"), ("z3", "z3-solver"), ("cvc5", "cvc5"),
                      ("transformers", "transformers"), ("peft", "peft"), ("prefixcheck", "prefixcheck")):
        if (v := version(dist)) is not None:
            env[key] = v
    env["seed"] = seed
    return env


def to_json(results: list[ClaimResult], seconds: float, seed: int,
            errors: Sequence[LoadError] | None = None, **extra: Any) -> dict[str, Any]:
    """The report of design.md; with user claim files also ``errors`` (files/claims that failed to load), and
    any ``extra`` sections (e.g. ``baseline``)."""
    out = {
        "claims": [r.to_json() for r in results],
        "summary": summary(results, seconds, errors),
        "environment": environment(seed),
    }
    if errors is not None:
        out["errors"] = [e.to_json() for e in errors]
    return {**out, **extra}


def write_json(path: Path, results: list[ClaimResult], seconds: float, seed: int,
               errors: Sequence[LoadError] | None = None, **extra: Any) -> None:
    from proofs.cliutil import write_json as write_atomically

    write_atomically(path, to_json(results, seconds, seed, errors, **extra))


def _cell(result) -> str:
    if result is None:
        return "[dim]—[/dim]"
    style = STATUS_STYLE[result.status]
    return f"[{style}]{result.status.value}[/{style}] [dim]{result.seconds:.2f}s[/dim]"


def table(results: list[ClaimResult], title: str = "prefixcheck", errors: Sequence[LoadError] = ()) -> Table:
    t = Table(title=title, show_lines=False, expand=False)
    t.add_column("claim", style="cyan", no_wrap=True)
    t.add_column("statement", max_width=46)
    for layer in LAYERS:
        t.add_column(layer, no_wrap=True)
    t.add_column("verdict", no_wrap=True)
    for r in results:
        note = {"fails": " [dim](pinned false)[/dim]", None: " [dim](no expectation)[/dim]"}.get(r.claim.expected, "")
        t.add_row(r.claim.id, escape(r.claim.title) + note, *(_cell(r.layers.get(layer)) for layer in LAYERS),
                  _verdict_cell(r))
    for e in errors:
        t.add_row(escape(e.claim_id or e.path), escape(f"could not load ({e.where})"), *("[dim]—[/dim]",) * len(LAYERS),
                  f"[{STATUS_STYLE[Status.ERROR]}]error[/{STATUS_STYLE[Status.ERROR]}]")
    return t


def _verdict_cell(r: ClaimResult) -> str:
    """The verdict; for a claim without an expectation, what the layers found: holds / fails / unknown."""
    text = r.verdict
    if r.claim.expected is None:
        text = r.outcome if r.verdict == "ok" or r.outcome == "unknown" else f"{r.verdict} ({r.outcome})"
    style = VERDICT_STYLE[r.verdict]
    return f"[{style}]{text}[/{style}]"


def _notable(r: ClaimResult, lr: LayerResult) -> bool:
    """Whether a layer's detail line is printed under the table: undecided layers, refutations (the evidence of
    a failure), and every layer of a mismatch."""
    return lr.status.supports != "holds" or r.verdict == "mismatch"


def _witness(witness: dict[str, Any], limit: int = 400) -> str:
    text = json.dumps(witness, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:limit] + " ... (full witness in the --json report)"


def print_report(console: Console, results: list[ClaimResult], seconds: float, verbose: bool = False,
                 errors: Sequence[LoadError] | None = None) -> None:
    console.print(table(results, errors=errors or ()))
    for r in results:
        for layer, lr in r.layers.items():
            if verbose or _notable(r, lr):
                console.print(f"  [cyan]{escape(r.claim.id)}[/cyan] {layer}: {escape(lr.detail)}", highlight=False,
                              soft_wrap=True)
                cert = getattr(lr, "certificate", None)
                if verbose and cert is not None:
                    console.print(f"    certificate: {escape(cert.kind)}; scope: {escape(cert.scope)}", highlight=False,
                                  soft_wrap=True)
                if verbose and lr.abstraction:
                    console.print(f"    abstraction: {escape(lr.abstraction)}", highlight=False, soft_wrap=True)
                if lr.witness is not None and (verbose or r.verdict == "mismatch"):
                    console.print(f"    witness: {escape(_witness(lr.witness))}", highlight=False, soft_wrap=True)
    for e in errors or ():
        console.print(f"  [bold red]error[/bold red] {escape(e.where)}: {escape(e.message)}", highlight=False,
                      soft_wrap=True)
    s = summary(results, seconds, errors)
    failed = f", [bold red]{s['errors']} load error(s)[/bold red]" if s.get("errors") else ""
    console.print(f"[bold]{len(results)} claims:[/bold] [green]{s['ok']} ok[/green], "
                  f"[red]{s['mismatch']} mismatch[/red], [yellow]{s['inconclusive']} inconclusive[/yellow]{failed} "
                  f"in {s['seconds']:.1f}s")
