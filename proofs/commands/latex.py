"""``prefixcheck latex [ID ...] [-o DIR] [--pdf] [--standalone-snippets] [--results JSON]``: the LaTeX report.

Runs the selected claims (all by default; or reads a ``prefixcheck check --json`` report with ``--results``),
draws the figures, writes ``DIR/report.tex`` (and ``DIR/snippets/<claim>.tex`` fragments), and with ``--pdf``
compiles it. Exit status: that of the checks (0 ok, 1 mismatch, 3 inconclusive); 2 for bad input, missing LaTeX
(the .tex is still written) or a LaTeX error.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proofs.claim import Claim
    from proofs.runner import ClaimResult


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    from proofs.cliutil import add_claims_option, add_run_options

    p = sub.add_parser("latex", help="write the LaTeX report (derivations, solver queries, witnesses, figures)")
    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids, or prefixes ending in '.' or '*' (default: all)")
    p.add_argument("-o", "--out", default="report", metavar="DIR", help="output directory (default: report)")
    p.add_argument("--pdf", action="store_true", help="compile the document with latexmk / pdflatex")
    p.add_argument("--standalone-snippets", action="store_true",
                   help="also write one .tex fragment per claim to DIR/snippets/ for \\input into a paper")
    p.add_argument("--results", metavar="JSON", help="use a `prefixcheck check --json` report instead of running")
    p.add_argument("--matrix", metavar="JSON", help="include a `prefixcheck matrix --json` table")
    p.add_argument("--no-figures", action="store_true", help="skip the matplotlib figures")
    add_claims_option(p, "report the claims of this Python file (repeatable; see docs/writing-claims.md); without "
                         "ids, only these")
    add_run_options(p)
    p.set_defaults(func=cmd_latex)


def _load_json(path: str, what: str) -> Any:
    import json

    from proofs.cliutil import UsageError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} file {path} is not readable JSON: {exc}") from None


def results_from_json(data: Any, claims: list[Claim], path: str) -> tuple[list[ClaimResult], dict[str, Any]]:
    """Rebuild `ClaimResult`s for the ``claims`` that the check report (design.md's JSON) has results for, and
    its environment. Results for ids outside the catalogue (e.g. user claims) are left out. Certificates and
    derivation step checks come back as records (`proofs.runner.from_json`); a report written before steps were
    recorded gives results without them, and the report shows those chains unmarked (nothing is re-checked)."""
    from proofs.cliutil import UsageError
    from proofs.runner import from_json
    from theory.kernel import KernelError

    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise UsageError(f"{path} is not a prefixcheck check report (no 'claims' list)")
    by_id = {}
    for entry in data["claims"]:
        try:
            by_id[entry["id"]] = entry
        except (TypeError, KeyError):
            raise UsageError(f"{path}: a claim entry has no 'id'") from None
    out = []
    for claim in claims:
        entry = by_id.get(claim.id)
        if entry is None:
            continue
        try:
            out.append(from_json(claim, entry, str(path)))
        except (KeyError, ValueError, TypeError, AttributeError, KernelError) as exc:
            raise UsageError(f"{path}: claim {claim.id}: bad status or fields ({type(exc).__name__}: {exc})") from None
    if not out:
        raise UsageError(f"{path} has no results for the selected claims")
    raw = data.get("environment")
    env = raw if isinstance(raw, dict) else {}
    return out, env


def cmd_latex(args: argparse.Namespace, console: Any) -> int:
    import time

    from proofs import report
    from proofs.claim import Context
    from proofs.cliutil import UsageError, load_claims, output_dir, solvers_stop_on_ctrl_c
    from proofs.latex import LatexError, compile_pdf, figures_for, write
    from proofs.registry import catalogue as load_catalogue
    from proofs.registry import select

    out_dir = output_dir(args.out, "-o")
    everything = load_claims(args)
    catalogue_ids = {c.id for c in load_catalogue()}
    files_only = bool(args.claims) and not args.ids  # like `check`: claims files without ids report those files
    pool = [c for c in everything if c.id not in catalogue_ids] if files_only else everything
    claims = select(pool, args.ids)
    # with no ids, slow opt-in claims are not run but still get their section (statement, derivation, "not run")
    opt_in = [c for c in pool if c.opt_in and c not in claims] if not args.ids else []
    matrix = _load_json(args.matrix, "matrix") if args.matrix else None
    if matrix is not None and not (isinstance(matrix, dict) and isinstance(matrix.get("cells"), list)
                                   and all(isinstance(c, dict) and "claim" in c and "variant" in c
                                           for c in matrix["cells"])):
        raise UsageError(f"{args.matrix} is not a `prefixcheck matrix --json` report (cells with claim/variant)")
    if args.results:
        results, env = results_from_json(_load_json(args.results, "results"), claims + opt_in, args.results)
        seed = int(env.get("seed", args.seed))
        settings = {"results": args.results}
    else:
        ctx = Context(seed=args.seed, timeout=args.timeout, instances=args.instances)
        from proofs.runner import run

        solvers_stop_on_ctrl_c()
        start = time.perf_counter()
        with console.status("checking claims for the report") as status:
            results = run(claims, ctx, on_done=lambda r: status.update(f"checked {r.claim.id}"))
        console.print(f"checked {len(results)} claims in {time.perf_counter() - start:.1f}s")
        env, seed = report.environment(args.seed), args.seed
        settings = {"instances per numeric check": args.instances, "solver timeout (s)": args.timeout,
                    "numeric tolerance": ctx.tol}
    results = _with_not_run(pool, results, opt_in)
    env = {**env, **_matplotlib_version(), "seed": seed}
    settings = {"seed": seed, **settings}
    figures = []
    if not args.no_figures:
        from proofs.figures import FIGURES, render

        wanted = tuple(f for f in FIGURES if set(f.claims) & {r.claim.id for r in results})
        figures = figures_for(render(wanted, out_dir / "figures", Context(seed=seed)), out_dir)
    written = write(out_dir, results, env, settings, figures, matrix, snippets=args.standalone_snippets)
    console.print(f"LaTeX report written to {written.tex}"
                  + (f" ({len(written.snippets)} snippets in {written.tex.parent / 'snippets'})"
                     if written.snippets else ""))
    if args.pdf:
        try:
            pdf = compile_pdf(written.tex)
        except LatexError as exc:
            raise UsageError(f"{exc}; the .tex was written to {written.tex}") from None
        console.print(f"PDF written to {pdf}")
    return report.exit_code(results)


def _with_not_run(everything: list[Any], results: list[Any], opt_in: list[Any]) -> list[Any]:
    """``results`` plus a "not run" result for each opt-in claim without one, in catalogue order."""
    from proofs.runner import ClaimResult

    have = {r.claim.id: r for r in results}
    for claim in opt_in:
        have.setdefault(claim.id, ClaimResult(claim, {}, "not run", "unknown"))
    order = {c.id: k for k, c in enumerate(everything)}
    return sorted(have.values(), key=lambda r: order.get(r.claim.id, len(order)))


def _matplotlib_version() -> dict[str, str]:
    from importlib import metadata

    try:
        return {"matplotlib": metadata.version("matplotlib")}
    except metadata.PackageNotFoundError:
        return {}
