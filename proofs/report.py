"""Reports: the terminal table (rich) and the JSON object of design.md."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from proofs.claim import LAYERS, Status
from proofs.runner import ClaimResult

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
    """0 all ok, 1 any mismatch, 3 inconclusive but no mismatch (design.md)."""
    verdicts = {r.verdict for r in results}
    if "mismatch" in verdicts:
        return 1
    return 3 if "inconclusive" in verdicts else 0


def summary(results: list[ClaimResult], seconds: float) -> dict[str, Any]:
    counts = {v: sum(r.verdict == v for r in results) for v in ("ok", "mismatch", "inconclusive")}
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


def to_json(results: list[ClaimResult], seconds: float, seed: int) -> dict[str, Any]:
    return {
        "claims": [r.to_json() for r in results],
        "summary": summary(results, seconds),
        "environment": environment(seed),
    }


def write_json(path: Path, results: list[ClaimResult], seconds: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(results, seconds, seed), indent=2, default=str) + "\n")


def _cell(result) -> str:
    if result is None:
        return "[dim]—[/dim]"
    style = STATUS_STYLE[result.status]
    return f"[{style}]{result.status.value}[/{style}] [dim]{result.seconds:.2f}s[/dim]"


def table(results: list[ClaimResult], title: str = "prefixcheck") -> Table:
    t = Table(title=title, show_lines=False, expand=False)
    t.add_column("claim", style="cyan", no_wrap=True)
    t.add_column("statement", max_width=46)
    for layer in LAYERS:
        t.add_column(layer, no_wrap=True)
    t.add_column("verdict", no_wrap=True)
    for r in results:
        expected = " [dim](pinned false)[/dim]" if r.claim.expected == "fails" else ""
        style = VERDICT_STYLE[r.verdict]
        t.add_row(r.claim.id, r.claim.title + expected, *(_cell(r.layers.get(layer)) for layer in LAYERS),
                  f"[{style}]{r.verdict}[/{style}]")
    return t


def print_report(console: Console, results: list[ClaimResult], seconds: float, verbose: bool = False) -> None:
    console.print(table(results))
    for r in results:
        if verbose or r.verdict != "ok" or r.claim.expected == "fails":
            for layer, lr in r.layers.items():
                if verbose or lr.status.supports != "holds":
                    console.print(f"  [cyan]{r.claim.id}[/cyan] {layer}: {lr.detail}", highlight=False, soft_wrap=True)
    s = summary(results, seconds)
    console.print(f"[bold]{len(results)} claims:[/bold] [green]{s['ok']} ok[/green], "
                  f"[red]{s['mismatch']} mismatch[/red], [yellow]{s['inconclusive']} inconclusive[/yellow] "
                  f"in {s['seconds']:.1f}s")
