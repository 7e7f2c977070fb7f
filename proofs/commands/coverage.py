"""``prefixcheck coverage [--results JSON] [-o PATH]``: the paper item by item (`proofs.paper`), with the claims that
check each item and their verdicts from a ``prefixcheck check --json`` report, as Markdown (docs/coverage.md).
Without ``--results`` every claim shows "not run"; nothing is checked by this command.
"""
from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("coverage", help="the paper's results mapped to claim ids and verdicts (Markdown)")
    p.add_argument("--results", metavar="JSON", help="verdicts from a `prefixcheck check --json` report")
    p.add_argument("-o", "--out", metavar="PATH", help="write the table here (default: print it)")
    p.set_defaults(func=cmd_coverage)


def verdicts_from(path: str) -> dict[str, str]:
    """claim id -> verdict from a check report; a bad file is a `UsageError`."""
    from proofs.cliutil import UsageError
    from proofs.commands.latex import _load_json

    data = _load_json(path, "results")
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise UsageError(f"{path} is not a prefixcheck check report (no 'claims' list)")
    return {str(c.get("id")): str(c.get("verdict")) for c in data["claims"] if isinstance(c, dict)}


def cmd_coverage(args: argparse.Namespace, console: Any) -> int:
    from proofs.cliutil import output_file, write_text
    from proofs.paper import claim_ids, markdown
    from proofs.registry import catalogue

    out = output_file(args.out, "-o")
    verdicts = verdicts_from(args.results) if args.results else {}
    mapped = set(claim_ids())
    text = markdown(verdicts, [c.id for c in catalogue() if c.id not in mapped])
    if out is None:
        console.print(text, markup=False, highlight=False)
        return 0
    write_text(out, text)
    console.print(f"coverage table written to {out}")
    return 0
