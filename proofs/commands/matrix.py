"""``prefixcheck matrix [--json PATH]``: the claim x variant table (see `proofs.matrix`)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    from proofs.cliutil import positive_int, seed_int

    p = sub.add_parser("matrix", help="run the Section 4 and depth claims across architecture variants (table)")
    p.add_argument("--json", metavar="PATH", help="write every (claim, variant) cell here")
    p.add_argument("--variants", metavar="LIST",
                   help="comma list of norm/pos/mask, e.g. pre/rope/causal,none/learned/bidir (default: all 40)")
    p.add_argument("--ids", metavar="LIST", help="comma list of claim ids (default: all rows)")
    p.add_argument("--claims", dest="ids_alias", metavar="LIST", help="deprecated spelling of --ids")
    p.add_argument("--layer", type=positive_int, default=1,
                   help="layer (1 or 2) at which Section 4 statements are read; layer 2 is compared conditionally "
                        "on its inputs")
    p.add_argument("--prefix", choices=("hidden", "kv"), default="hidden",
                   help="prefix form: per-layer hidden states (authors') or raw keys/values (peft)")
    p.add_argument("--width", type=positive_int, default=8, help="model width d of the random models (default 8)")
    p.add_argument("--heads", type=positive_int, default=2, help="attention heads per layer (default 2)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for every random draw (recorded in the JSON)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every cell that differs from its claim's pin")
    p.set_defaults(func=cmd_matrix)


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def cmd_matrix(args: argparse.Namespace, console: Console) -> int:
    from proofs.cliutil import UsageError, output_file, write_json

    json_path = output_file(args.json, "--json")
    if args.ids_alias is not None:
        print("prefixcheck: warning: matrix --claims is deprecated (in every other command --claims is a Python "
              "claims file); use --ids", file=sys.stderr)
        if args.ids is not None:
            raise UsageError("give --ids only (--claims is its deprecated spelling)")
        args.ids = args.ids_alias
    try:
        from numeric.depth import all_variants, parse_variant
        from numeric.model import ConfigError

        variants = ([parse_variant(v, args.width, args.heads) for v in _split(args.variants)]
                    or all_variants(args.width, args.heads))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    from proofs import matrix as M

    known = [r.claim_id for r in M.rows()]
    claim_ids = _split(args.ids)
    unknown = [c for c in claim_ids if c not in known]
    if unknown:
        raise UsageError(f"unknown matrix claim(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from proofs.claim import Context

    if args.layer > 2:
        raise UsageError(f"--layer must be 1 or 2 (the matrix models have 2 layers), got {args.layer}")
    ctx = Context(seed=args.seed, tol=1e-10)
    n_cells = len(variants) * len(claim_ids or known)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("matrix", total=n_cells)
        result = M.run_matrix(ctx, variants, claim_ids or None,
                              on_cell=lambda c: progress.update(task, advance=1, description=f"{c.variant}"),
                              setting=M.Setting(args.layer, args.prefix))
    print_matrix(console, result, args.verbose)
    if json_path is not None:
        from proofs.report import environment

        write_json(json_path, {**result.to_json(), "environment": environment(args.seed)}, indent=1)
        console.print(f"JSON matrix written to {args.json}")
    return 1 if result.unexpected else 0


MARK = {("holds", "as expected"): "[green]✓[/green]", ("fails", "as expected"): "[green]✗[/green]",
        ("holds", "explained"): "[yellow]✓*[/yellow]", ("fails", "explained"): "[yellow]✗*[/yellow]",
        ("holds", "unexpected"): "[bold red]✓![/bold red]", ("fails", "unexpected"): "[bold red]✗![/bold red]"}


def print_matrix(console: Console, m: Any, verbose: bool = False) -> None:
    from rich.table import Table

    number = {cid: i + 1 for i, cid in enumerate(m.claims)}
    cells = {(c.variant, c.claim_id): c for c in m.cells}
    t = Table(title="claim x variant (✓ holds, ✗ fails; green = as pinned, yellow * = outside the claim's "
                    "assumptions, red ! = unexpected)", title_justify="left")
    t.add_column("variant")
    for cid in m.claims:
        t.add_column(str(number[cid]), justify="center")
    for v in m.variants:
        t.add_row(v, *[MARK[(cells[(v, cid)].outcome, cells[(v, cid)].status)] for cid in m.claims])
    console.print(t)

    legend = Table(title="claims: pin, max error where it holds, failures and why", title_justify="left")
    for col in ("#", "claim", "pin", "holds in", "max err (holds)", "where it differs: assumption violated / witness"):
        legend.add_column(col, overflow="fold")
    for cid in m.claims:
        row = [c for c in m.cells if c.claim_id == cid]
        holds = [c for c in row if c.outcome == "holds"]
        err = max((c.max_error for c in holds), default=None)
        reasons: dict[str, list[Any]] = {}
        for c in row:
            if c.status == "as expected" and c.outcome != "fails":
                continue
            why = c.explanation or ("as pinned" if c.status == "as expected" else "UNEXPECTED")
            reasons.setdefault(f"{c.outcome} in {{n}}: {why}", []).append(c)
        lines = []
        for why, group in reasons.items():
            worst = max(group, key=lambda c: c.max_error)
            w = ", ".join(f"{k}={v}" for k, v in list(worst.witness.items())[:3])
            restored = " (holds when restored)" if worst.restored and worst.restored["outcome"] == "holds" else ""
            lines.append(f"{why.format(n=len(group))}{restored}; worst {worst.max_error:.3g} at {w}")
        legend.add_row(str(number[cid]), cid, row[0].expected or "—", f"{len(holds)}/{len(row)}",
                       "—" if err is None else f"{err:.2g}", "\n".join(lines) or "—")
    console.print(legend)
    if verbose:
        for c in m.cells:
            if c.status != "as expected":
                console.print(f"  {c.claim_id} @ {c.variant}: {c.outcome} ({c.status}: {c.explanation}); "
                              f"error {c.max_error:.3g}; witness {c.witness}", highlight=False)
    s = m.to_json()["summary"]
    console.print(f"{s['cells']} cells: {s['as expected']} as pinned, {s['explained']} outside the claim's "
                  f"assumptions (explained), {s['unexpected']} unexpected, in {m.seconds:.1f}s (seed {m.seed})")
