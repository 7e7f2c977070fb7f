"""``prefixcheck construct approx``: the follow-up's universal approximator (one prefixed head on S^1) for a
target given as an expression in the angle x (``--f 'sin(3*x)'``) or a JSON table (``--table``), with a Lipschitz
constant and a precision: prints the derived prefix length N(ε) and temperature T(ε), the certified sup error
(interval branch-and-bound over the whole circle, a kernel enclosure certificate) next to the sampled float64
error, and optionally draws f against the head's output. Exit status: 0 certified <= ε, 1 certified > ε
somewhere, 3 undecided within the box budget, 2 usage error.
"""
from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from proofs.cliutil import UsageError, atomic_path, output_file, positive_fraction, positive_int, write_json

#: prefix lengths above this are refused before any work: the sampled check's memory grows as N^2 (N = 315 takes
#: 0.6 GB; N = 3142, i.e. --eps 0.001 with L = 1, went past 20 GB)
MAX_N = 500


def register_kind(kinds: Any) -> None:
    """Add ``approx`` to the kinds of ``prefixcheck construct``."""
    a = kinds.add_parser("approx", help="one prefixed head approximating a Lipschitz f on the circle (certified)",
                         description=" ".join(__doc__.split()))
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("--f", metavar="EXPR", help="f as an expression in the angle x (sympy syntax), 2π-periodic")
    src.add_argument("--table", metavar="JSON", help="f as a JSON list of values at equally spaced angles, or "
                     "{\"theta\": [...], \"f\": [...]} (inline or a file); the certificate covers every "
                     "L-Lipschitz f through the table")
    a.add_argument("--lipschitz", type=positive_fraction, required=True, help="Lipschitz constant L (arc length)")
    a.add_argument("--eps", type=positive_fraction, required=True, help="target precision ε")
    a.add_argument("--N", type=positive_int, default=None, help="prefix length (default N(ε) = ⌊πL/ε⌋ + 1)")
    a.add_argument("--T", type=positive_int, default=None, help="temperature (default the derived T(ε))")
    a.add_argument("--max-boxes", type=positive_int, default=30_000,
                   help="branch-and-bound budget (default 30000; exhausted: exit 3)")
    a.add_argument("--figure", metavar="PATH", help="draw f and the head output over the circle (PNG or PDF)")
    a.add_argument("--json", metavar="PATH", help="write the result as JSON here")
    a.set_defaults(func=cmd_approx)


def cmd_approx(args: argparse.Namespace, console: Console) -> int:
    from proofs.approx_run import load_table, run
    from theory.approx import Expression, Table, Target, necessary_bound, prefix_length

    output_file(args.figure, "--figure")
    output_file(args.json, "--json")
    n = args.N if args.N is not None else prefix_length(args.eps, args.lipschitz)
    if n > MAX_N:
        raise UsageError(f"prefix length N = {n} is over the limit {MAX_N} (memory grows as N^2); "
                         f"N(ε) = ⌊πL/ε⌋ + 1, so raise --eps or lower --lipschitz")

    target: Target
    try:
        if args.f is not None:
            target = Expression.parse(args.f, args.lipschitz)
        else:
            values, angles = load_table(args.table)
            target = Table(values, args.lipschitz, angles)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    if args.N is not None and args.N < 2:
        raise UsageError("--N must be at least 2")
    r = run(target, args.eps, args.N, args.T, max_boxes=args.max_boxes)
    L = args.lipschitz
    console.print(f"[bold]target[/bold]  f = {r.name}, L = {L}, certified sup |f| <= {float(r.M):.6g}"
                  + ("" if args.f is not None else f" ({target.scope})"), highlight=False)
    console.print(f"[bold]prefix[/bold]  N = {r.N}" + (" = N(ε) = ⌊πL/ε⌋ + 1" if r.N == r.N_eps else
                  f" (N(ε) = {r.N_eps})") + f", temperature T = {r.T}" + (" = T(ε)" if args.T is None else "")
                  + f"; worst case over L-Lipschitz f at this N: >= πL/N = {necessary_bound(r.N, L):.6g}",
                  highlight=False)
    colour = {"ok": "green", "fails": "red", "undecided": "yellow"}[r.verdict]
    console.print(f"[bold]certified[/bold]  sup_θ |H − f| in [{float(r.certified_lower):.6g}, "
                  f"{float(r.certified_upper):.6g}]" + ("" if r.complete else " (box budget exhausted)")
                  + f"  [{colour}]{r.verdict} against ε = {float(args.eps):g}[/{colour}]  ({r.boxes} boxes)",
                  highlight=False)
    console.print(f"[bold]sampled[/bold]    max |H − f| = {r.sampled:.6g} at θ = {r.sampled_theta:.6g} "
                  f"({r.samples} angles, float64 reference model); {r.seconds:.2f} s", highlight=False)
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        from pathlib import Path

        from matplotlib.figure import Figure

        from proofs.approx_run import draw_runs

        fig = Figure(figsize=(5.0, 3.2), layout="constrained")
        draw_runs(fig, [r])
        path = Path(args.figure)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150)
        console.print(f"figure written to {path}")
    if args.json:
        write_json(args.json, r.to_json())
    return {"ok": 0, "fails": 1, "undecided": 3}[r.verdict]
