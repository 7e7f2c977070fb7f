"""``prefixcheck search``: can a prefix / soft prompt / LoRA make this concrete head meet these targets?

    prefixcheck search --head head.json --inputs inputs.json --targets targets.json \\
        --method prefix --n-prefix 2 --tol 0.05 --timeout 30 [--orderings ord.json] [--cvc5] [--out witness.json]

Files: the head is JSON ``{"W_Q": [[...]], "W_K": [[...]], "W_V": [[...]], "tau": 1.0}`` (tau optional, default
1/sqrt(k)) or ``.npz`` with arrays ``W_Q, W_K, W_V`` (and optionally ``tau``). Inputs are a JSON list of inputs,
each a list of d-dimensional tokens (the query is each input's last token), or ``.npz`` with ``X`` (R, n, d).
Targets are a JSON list of R output vectors (d_v numbers) or ``.npz`` with ``Y`` (R, d_v); orderings a JSON list
of R lists of pairs ``[j, k]`` meaning "content attention A_j > A_k" at the last position.

Answers FOUND (validated parameters written to ``--out``), IMPOSSIBLE (with the abstraction that makes the proof
sound) or UNKNOWN (with the reason), and the solver statistics. Exit status 0 for FOUND / IMPOSSIBLE, 3 for
UNKNOWN, 2 for bad input.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console

from proofs.cliutil import positive_float, positive_int, positive_seconds

MATRICES = ("W_Q", "W_K", "W_V")


def _error(msg: str) -> Exception:
    from proofs.cliutil import UsageError

    return UsageError(msg)


def _read(path: str, what: str) -> Any:
    """A JSON value or an ``np.load`` archive (as a dict of lists)."""
    p = Path(path)
    if not p.is_file():
        raise _error(f"{what} file not found: {path}")
    if p.suffix == ".npz":
        import numpy as np

        try:
            with np.load(p, allow_pickle=False) as data:
                return {k: data[k].tolist() for k in data.files}
        except Exception as exc:  # numpy raises several types for a corrupt archive
            raise _error(f"{what} file {path} is not a readable .npz archive ({type(exc).__name__})") from None
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _error(f"{what} file {path} is not valid JSON ({exc})") from None


def _matrix(value: Any, name: str) -> list[list[float]]:
    """A non-empty rectangular matrix of finite numbers."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) and r for r in value):
        raise _error(f"{name} must be a non-empty 2-d array of numbers")
    width = len(value[0])
    if any(len(r) != width for r in value):
        raise _error(f"{name} is not rectangular (rows of lengths {sorted({len(r) for r in value})})")
    out = []
    for row in value:
        try:
            nums = [float(x) for x in row if not isinstance(x, (bool, str, list, dict))]
        except (TypeError, ValueError):
            nums = []
        if len(nums) != width:
            raise _error(f"{name} has a non-numeric entry")
        if not all(math.isfinite(x) for x in nums):
            raise _error(f"{name} has NaN or inf entries")
        out.append(nums)
    return out


def load_head(path: str) -> tuple[list[list[float]], list[list[float]], list[list[float]], float | None]:
    data = _read(path, "head")
    if not isinstance(data, dict):
        raise _error(f"head file {path} must hold an object with W_Q, W_K, W_V")
    missing = [m for m in MATRICES if m not in data]
    if missing:
        raise _error(f"head file {path} lacks {', '.join(missing)}")
    W_Q, W_K, W_V = (_matrix(data[m], m) for m in MATRICES)
    if len(W_Q) != len(W_K) or len(W_Q[0]) != len(W_K[0]):
        raise _error(f"W_Q is {len(W_Q)}x{len(W_Q[0])} but W_K is {len(W_K)}x{len(W_K[0])}; both must be k x d")
    if len(W_V[0]) != len(W_Q[0]):
        raise _error(f"W_V has {len(W_V[0])} columns but the model width d is {len(W_Q[0])}")
    tau = data.get("tau")
    if tau is not None:
        if isinstance(tau, list) or isinstance(tau, bool):
            raise _error("tau must be one positive number")
        try:
            tau = float(tau)
        except (TypeError, ValueError):
            raise _error("tau must be one positive number") from None
        if not (math.isfinite(tau) and tau > 0):
            raise _error(f"tau must be a positive finite number, got {tau}")
    return W_Q, W_K, W_V, tau


def load_inputs(path: str, d: int) -> list[list[list[float]]]:
    data = _read(path, "inputs")
    if isinstance(data, dict):
        if "X" not in data:
            raise _error(f"inputs file {path} lacks the array X")
        data = data["X"]
    if not isinstance(data, list) or not data:
        raise _error("inputs must be a non-empty list of inputs, each a list of tokens")
    out = []
    for r, tokens in enumerate(data):
        X = _matrix(tokens, f"input {r}")
        if len(X[0]) != d:
            raise _error(f"input {r} has tokens of dimension {len(X[0])}, the head expects d={d}")
        out.append(X)
    return out


def load_targets(path: str, R: int, d_v: int) -> list[list[float]]:
    data = _read(path, "targets")
    if isinstance(data, dict):
        if "Y" not in data:
            raise _error(f"targets file {path} lacks the array Y")
        data = data["Y"]
    Y = _matrix(data, "targets")
    if len(Y) != R:
        raise _error(f"{len(Y)} targets for {R} inputs")
    if len(Y[0]) != d_v:
        raise _error(f"targets have dimension {len(Y[0])}, the head's outputs have d_v={d_v}")
    return Y


def load_orderings(path: str, sizes: list[int]) -> list[list[tuple[int, int]]]:
    data = _read(path, "orderings")
    if not isinstance(data, list) or len(data) != len(sizes):
        raise _error(f"orderings must be a list with one list of [j, k] pairs per input ({len(sizes)} inputs)")
    out = []
    for r, pairs in enumerate(data):
        if not isinstance(pairs, list):
            raise _error(f"orderings for input {r} must be a list of [j, k] pairs")
        row = []
        for pair in pairs:
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)):
                raise _error(f"orderings for input {r}: {pair!r} is not a pair [j, k] of token indices")
            j, k = pair
            if not (0 <= j < sizes[r] and 0 <= k < sizes[r]) or j == k:
                raise _error(f"orderings for input {r}: [{j}, {k}] needs two different indices in 0..{sizes[r] - 1}")
            row.append((j, k))
        out.append(row)
    return out


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("search", help="FOUND / IMPOSSIBLE / UNKNOWN: can a prefix, soft prompt or LoRA meet targets "
                                      "on a concrete head?", description=__doc__.split("\n\n")[0])
    p.add_argument("--head", help="head file: .json or .npz with W_Q, W_K, W_V (optional tau)")
    p.add_argument("--inputs", help="inputs: .json list of token lists, or .npz with X (R, n, d)")
    p.add_argument("--targets", help="target outputs at each input's last position: .json (R x d_v) or .npz Y")
    p.add_argument("--orderings", help=".json: per input, pairs [j, k] meaning content attention A_j > A_k")
    p.add_argument("--method", choices=("prefix", "softprompt", "lora"), default="prefix")
    p.add_argument("--n-prefix", type=positive_int, default=1, help="prefix / soft prompt length n_S")
    p.add_argument("--rank", type=positive_int, default=1, help="LoRA rank r")
    p.add_argument("--matrix", choices=MATRICES, default="W_K", help="the matrix LoRA adapts")
    p.add_argument("--tol", type=positive_float, default=1e-3, help="max-norm tolerance on outputs")
    p.add_argument("--timeout", type=positive_seconds, default=30.0,
                   help="time limit for the search (s): one search-engine run")
    p.add_argument("--seed", type=int, default=0, help="seed of the L-BFGS starts (recorded in the witness)")
    p.add_argument("--cvc5", action="store_true", help="re-check an UNSAT with cvc5 (same abstraction)")
    p.add_argument("--out", default="search-witness.json", help="where FOUND parameters are written")
    p.add_argument("--json", metavar="PATH", help="also write the whole outcome as JSON")
    p.add_argument("--engine", choices=("layered", "z3"), default="layered",
                   help="layered: LP relaxations with exact certificates, realisation, then z3 (docs/search.md); "
                        "z3: the z3 path only (implied by --cvc5)")
    p.add_argument("--batch", metavar="NPZ", help="many heads / target sets from one .npz (W_Q, W_K, W_V, X, Y; "
                                                  "docs/search.md): JSON lines and a summary table")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, help="worker processes for --batch")
    p.add_argument("--jsonl", metavar="PATH", default="search-batch.jsonl", help="where --batch writes its records")
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace, console: Console) -> int:
    from proofs.cliutil import output_file, solvers_stop_on_ctrl_c, write_json
    from proofs.z3_search import ABSTRACTION, FOUND, IMPOSSIBLE, Problem, abstraction_for, search
    from theory.smt_prefix import Method, Task

    if args.seed < 0:
        raise _error(f"--seed must be >= 0, got {args.seed}")
    method = Method(args.method, n_S=args.n_prefix, rank=args.rank, matrix=args.matrix)
    if args.batch:
        output_file(args.jsonl, "--jsonl")
        return _batch(args, method, console)
    if args.head is None or args.inputs is None:
        raise _error("give --head and --inputs (or --batch)")
    out_path, json_path = output_file(args.out, "--out"), output_file(args.json, "--json")
    if args.targets is None and args.orderings is None:
        raise _error("give --targets and/or --orderings")
    W_Q, W_K, W_V, tau = load_head(args.head)
    d, d_v = len(W_Q[0]), len(W_V)
    inputs = load_inputs(args.inputs, d)
    targets = load_targets(args.targets, len(inputs), d_v) if args.targets else None
    orderings = load_orderings(args.orderings, [len(x) for x in inputs]) if args.orderings else None
    if args.cvc5:
        from theory.smt_cvc5 import available

        if not available():
            raise _error("--cvc5 needs the optional package cvc5 (pip install 'prefixcheck[smt]')")
    problem = Problem(W_Q, W_K, W_V, method, Task(inputs, targets, orderings, tol=args.tol), tau=tau)
    solvers_stop_on_ctrl_c()
    if args.engine == "z3" or args.cvc5:
        outcome = search(problem, args.timeout, cvc5=args.cvc5, seed=args.seed)
    else:
        from proofs.layered import decide

        outcome = decide(problem, args.timeout, seed=args.seed)
    if outcome.abstraction == ABSTRACTION:  # the z3 encoding's: state the head file's tau, not 1/sqrt(k)
        outcome.abstraction = abstraction_for(tau)
    _print(console, outcome, method, len(W_Q), d, d_v)
    if outcome.verdict == FOUND and out_path is not None:
        witness = {"method": method.describe(), "kind": method.kind, "n_S": method.n_S, "rank": method.rank,
                   "matrix": method.matrix, "params": outcome.params, "max_error": outcome.max_error,
                   "tol": args.tol, "seed": args.seed, "head": args.head, "inputs": args.inputs}
        write_json(out_path, witness)
        console.print(f"validated parameters written to {args.out}")
    if json_path is not None:
        write_json(json_path, outcome.to_json())
    return 0 if outcome.verdict in (FOUND, IMPOSSIBLE) else 3


def _batch(args: argparse.Namespace, method: Any, console: Console) -> int:
    """``--batch``: every (head, target set) of the archive; exit 0 if all decided, 3 otherwise."""
    from proofs.batch import load_jobs, print_summary, timed_batch, write_jsonl

    if not Path(args.batch).is_file():
        raise _error(f"batch file not found: {args.batch}")
    try:
        jobs = load_jobs(args.batch)
    except ValueError as exc:
        raise _error(str(exc)) from None
    records, seconds = timed_batch(jobs, method, args.tol, args.timeout, args.seed, args.jobs, console)
    write_jsonl(args.jsonl, records)
    s = print_summary(console, records, seconds)
    console.print(f"{len(records)} records written to {args.jsonl}")
    return 0 if s["UNKNOWN"] == 0 else 3


def _print(console: Console, outcome: Any, method: Any, k: int, d: int, d_v: int) -> None:
    from rich.table import Table

    colour = {"FOUND": "green", "IMPOSSIBLE": "blue", "UNKNOWN": "yellow"}[outcome.verdict]
    console.print(f"[bold {colour}]{outcome.verdict}[/bold {colour}]  {method.describe()} "
                  f"({method.parameters(d, k, d_v)} parameters), {outcome.seconds:.2f}s")
    console.print(outcome.detail, highlight=False, markup=False, soft_wrap=True)
    if outcome.verdict == "IMPOSSIBLE":
        console.print("abstraction: " + outcome.abstraction, highlight=False, markup=False, soft_wrap=True)
    if outcome.cvc5:
        console.print(f"cvc5: {outcome.cvc5}", highlight=False, markup=False)
    t = Table(title="solver queries")
    for col in ("query", "result", "seconds", "constraints", "z3 statistics"):
        t.add_column(col)
    for q in outcome.queries:
        stats = ", ".join(f"{key} {val:g}" for key, val in q["stats"].items())
        t.add_row(q["query"], q["result"] + (f" ({q['reason']})" if q["reason"] else ""), f"{q['seconds']:.3f}",
                  str(q["constraints"]), stats)
    console.print(t)
