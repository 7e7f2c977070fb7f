"""``prefixcheck construct``: run the Section 3 constructions on the reference transformer.

``construct unconditional --V 94 --N 20 --target TEXT`` prints the single virtual token that makes the fixed
model generate TEXT (right-padded with spaces to N) and the greedy generation, in float64 and certified exactly.
``construct map --map JSON`` does the same for a map given as a JSON object (or a file holding one):
``{"a": "b", ...}`` (one token to one token, one virtual token), ``{"a": "xyz", ...}`` (one token to a sequence,
one virtual token per output position) or ``{"ab": "c", ...}`` (two tokens to one, two layers); the map must be
total over its alphabet. ``construct sweep [--exhaustive]`` checks every target / map of the default plan (the
sizes the catalogue claims check, `proofs.constructions.DEFAULT`) or of the larger one, float64 and exact, with a
progress bar. Exit status: 0 everything generated as intended, 1 a mismatch, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, TaskID

from proofs.cliutil import UsageError, bounded_int, output_file, positive_fraction, positive_int, seed_int, write_json

PRINTABLE = "".join(chr(c) for c in range(32, 127))  # token id = ord(c) - 32, as in the authors' notebook
FLOAT64_TABLE_LIMIT = 13  # the two-token table needs V^V resolution: float64 decodes up to V = 13
#: ``unconditional --N`` above this is refused: the model has width 2N and generating N tokens costs O(N^3)
#: (N = 300 takes about half a minute, N = 1600 minutes and gigabytes).
MAX_N = 400
#: The exact certification of a two-token map decodes V^2 entries with V-digit base-V fractions: V = 20 takes
#: about a minute; above this V it is refused (``--no-exact`` skips it).
MAX_TWO_TOKEN_EXACT_V = 40


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("construct", help="the Section 3 virtual-token constructions on the reference transformer",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")

    u = kinds.add_parser("unconditional", help="one virtual token that makes the model generate a given text")
    u.add_argument("--V", type=positive_int, default=94, help="vocabulary: the first V printable ASCII characters "
                   "from ' ' (default 94, V <= 95)")
    u.add_argument("--N", type=bounded_int(1, MAX_N, "the model has width 2N and generation costs O(N^3)"),
                   default=20, help=f"generation length / context size (default 20, at most {MAX_N})")
    u.add_argument("--target", required=True, help="the text to generate (at most N characters, padded with spaces)")
    u.add_argument("--T", type=positive_fraction, default=None,
                   help="inverse temperature (default 50, or ceil(1.25 T*) when the threshold T* exceeds 50)")
    u.add_argument("--no-exact", action="store_true", help="skip the exact certification")
    u.add_argument("--json", metavar="PATH", help="write the result as JSON here")
    u.set_defaults(func=cmd_unconditional)

    m = kinds.add_parser("map", help="virtual tokens that make the model realise a given map")
    m.add_argument("--map", required=True, help="a JSON object, or a file holding one: {\"a\": \"b\"}, "
                   "{\"a\": \"xyz\"} or {\"ab\": \"c\"}")
    m.add_argument("--alphabet", help="the vocabulary (default: every character in the map, sorted)")
    m.add_argument("--T", type=positive_fraction, default=None, help="inverse temperature (default per construction)")
    m.add_argument("--no-exact", action="store_true", help="skip the exact certification")
    m.add_argument("--json", metavar="PATH", help="write the result as JSON here")
    m.set_defaults(func=cmd_map)

    s = kinds.add_parser("sweep", help="check every target / map of a sweep plan (float64 and exact)")
    s.add_argument("--exhaustive", action="store_true", help="the larger plan (minutes) instead of the default one")
    s.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="model dtype (default float64)")
    s.add_argument("--no-exact", action="store_true", help="skip the exact sweeps")
    s.add_argument("--seed", type=seed_int, default=0, help="seed of the random samples")
    s.add_argument("--json", metavar="PATH", help="write the sweep results as JSON here")
    s.set_defaults(func=cmd_sweep)

    from proofs.approx_cli import register_kind

    register_kind(kinds)


# ---- unconditional -----------------------------------------------------------------------------------------------

def _text_tokens(text: str, alphabet: str, what: str) -> list[int]:
    bad = sorted({c for c in text if c not in alphabet})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise UsageError(f"{what} has character(s) outside the vocabulary ({shown}); the vocabulary is "
                         f"{len(alphabet)} characters {alphabet[:1]!r}..{alphabet[-1:]!r}")
    return [alphabet.index(c) for c in text]


def cmd_unconditional(args: argparse.Namespace, console: Console) -> int:
    output_file(args.json, "--json")
    if args.V > len(PRINTABLE):
        raise UsageError(f"--V {args.V}: text targets use printable ASCII, so V <= {len(PRINTABLE)}")
    if len(args.target) > args.N:
        raise UsageError(f"--target has {len(args.target)} characters, more than --N {args.N}")
    alphabet = PRINTABLE[: args.V]
    target = _text_tokens(args.target, alphabet, "--target")
    target = target + [0] * (args.N - len(target))  # token 0 is the space

    from numeric.constructions.transformer import generate_soft_prompt, to_model, virtual_tensor
    from proofs.constructions import float_weights
    from theory.constructions import unconditional

    net = unconditional.build(args.V, args.N, args.T)
    T = net.T
    s = unconditional.virtual_token(net, target)
    model = to_model(float_weights(net))
    got = generate_soft_prompt(model, virtual_tensor([[s]])[0], [], args.N)
    text = "".join(alphabet[t] for t in got)
    want = "".join(alphabet[t] for t in target)
    T_star = unconditional.threshold_T(args.V, args.N)
    console.print(f"[bold]model[/bold]  {net.name}: 1 layer, 2 heads, width {net.d}, T = {float(T):g} "
                  f"(exact threshold T* = {T_star:.6g}: every target decodes iff T > T*)", highlight=False)
    console.print(f"[bold]virtual token[/bold]  s_1 = (Y_n / V)_n = "
                  f"[{', '.join(f'{t}/{args.V}' for t in target)}]", highlight=False, soft_wrap=True)
    console.print(f"[bold]float64[/bold]  {text!r}  " + ("[green]= target[/green]" if got == target else
                  f"[red]!= target {want!r}[/red]"), highlight=False)
    result: dict[str, Any] = {"V": args.V, "N": args.N, "T": float(T), "threshold_T": T_star, "target": want,
                              "virtual_token": [f"{t}/{args.V}" for t in target], "float64": text,
                              "float64_ok": got == target}
    if not args.no_exact:
        from theory.exact import generate

        with _bar(console, "exact certification", args.N) as advance:
            ex = generate(net, [s], [], args.N, progress=advance)
        etext = "".join(alphabet[t] for t in ex.tokens)
        status = ("certified = target" if ex.complete and ex.tokens == target else
                  "certified, != target" if ex.complete else f"not certified after {len(ex.tokens)} tokens")
        console.print(f"[bold]exact[/bold]    {etext!r}  {status}", highlight=False)
        result.update(exact=etext, exact_certified=ex.complete, exact_ok=ex.complete and ex.tokens == target)
    _write_json(args.json, result, console)
    return 0 if got == target else 1


# ---- maps --------------------------------------------------------------------------------------------------------

def _load_map(text: str) -> dict[str, str]:
    path = Path(text)
    source = text
    try:
        if len(text) < 4096 and path.is_file():
            source = path.read_text()
    except OSError as exc:
        raise UsageError(f"--map: cannot read {text}: {exc}") from None
    if source is text and not text.lstrip().startswith(("{", "[", '"')):
        raise UsageError(f"--map: no such file {text!r} (and not a JSON object)")
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--map is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict) or not data:
        raise UsageError("--map must be a non-empty JSON object from strings to strings")
    for k, v in data.items():
        if not isinstance(v, str) or not v or not k:
            raise UsageError(f"--map entry {k!r}: keys and values must be non-empty strings")
    return data


def _kind(data: dict[str, str]) -> str:
    keys = {len(k) for k in data}
    values = {len(v) for v in data.values()}
    if keys == {1}:
        return "map" if values == {1} else "sequence"
    if keys == {2} and values == {1}:
        return "two_token"
    raise UsageError("--map keys must all be single characters (values: one character or strings), or all two "
                     "characters (values: one character)")


def cmd_map(args: argparse.Namespace, console: Console) -> int:
    output_file(args.json, "--json")
    data = _load_map(args.map)
    kind = _kind(data)
    N0 = max(len(v) for v in data.values())
    pad = kind == "sequence" and any(len(v) < N0 for v in data.values())
    chars = set("".join(data) + "".join(data.values())) | ({" "} if pad else set())
    alphabet = args.alphabet if args.alphabet is not None else "".join(sorted(chars))
    if len(set(alphabet)) != len(alphabet) or not alphabet:
        raise UsageError("--alphabet must be a non-empty string without repeated characters")
    for what, text in (("a key", "".join(data)), ("a value", "".join(data.values()))):
        _text_tokens(text, alphabet, f"--map {what}")
    V = len(alphabet)
    if pad and " " not in alphabet:
        raise UsageError("--map responses differ in length; padding needs a space in the --alphabet")
    inputs = list(alphabet) if kind != "two_token" else [a + b for a in alphabet for b in alphabet]
    missing = [k for k in inputs if k not in data]
    if missing:
        shown = ", ".join(repr(k) for k in missing[:5])
        raise UsageError(f"--map has no entry for {shown}" + (f" (and {len(missing) - 5} more)" if len(missing) > 5
                         else "") + f": it must define every one of the {len(inputs)} inputs over its alphabet")
    if kind == "two_token" and V < 2:
        raise UsageError("a two-token map needs an alphabet of at least 2 characters")
    if kind == "two_token" and V > MAX_TWO_TOKEN_EXACT_V and not args.no_exact:
        raise UsageError(f"a two-token map over {V} characters is over the limit V = {MAX_TWO_TOKEN_EXACT_V} for "
                         f"the exact certification ({V * V} entries, each decoded with {V}-digit base-{V} "
                         f"fractions); give --no-exact to run float64 only")
    tok = {c: i for i, c in enumerate(alphabet)}
    expected = {k: [tok[c] for c in data[k].ljust(N0)] for k in inputs}

    import torch

    from numeric.constructions.transformer import generate, to_model, virtual_tensor
    from proofs.constructions import float_weights
    from theory.constructions import conditional, two_token

    if kind == "map":
        net = conditional.build_map(V, args.T or conditional.DEFAULT_T)
        virtual = [conditional.map_token(net, [expected[c][0] for c in alphabet])]
    elif kind == "sequence":
        net = conditional.build_sequence(V, N0, args.T)
        virtual = conditional.sequence_tokens(net, [expected[c] for c in alphabet])
    else:
        net = two_token.build(V, args.T or two_token.DEFAULT_T)
        virtual = [two_token.table_token(net, [[expected[a + b][0] for b in alphabet] for a in alphabet])]
    steps = N0 if kind == "sequence" else 1
    model = to_model(float_weights(net))
    toks = torch.tensor([[tok[c] for c in k] for k in inputs])
    got = generate(model, virtual_tensor([virtual] * len(inputs)), toks, steps).tolist()
    float_ok = [got[i] == expected[k] for i, k in enumerate(inputs)]
    console.print(f"[bold]model[/bold]  {net.name}: {len(net.layers)} layer(s), "
                  f"{'+'.join(str(h) for h in net.heads_per_layer)} heads, width {net.d}, T = {float(net.T):g}; "
                  f"{len(virtual)} virtual token(s) encode the {len(inputs)} entries", highlight=False)
    if kind == "two_token" and V > FLOAT64_TABLE_LIMIT:
        console.print(f"[yellow]note[/yellow]: V = {V} > {FLOAT64_TABLE_LIMIT}: float64 cannot resolve the "
                      f"V^-V = {float(V) ** -V:.2g} spacing of the table; trust the exact column", highlight=False)
    exact_ok: list[bool] = []
    exact_out: list[Any] = []
    if not args.no_exact:
        from theory.exact import ExactNetwork
        from theory.exact import generate as exact_generate

        compiled = ExactNetwork(net)
        if len(inputs) * steps > 100:
            console.print(f"exact certification of {len(inputs) * steps} steps: progress and an estimate of the time "
                          f"left below (--no-exact skips it)", highlight=False)
        with _bar(console, "exact certification", len(inputs) * steps) as advance:
            for k in inputs:
                ex = exact_generate(net, virtual, [tok[c] for c in k], steps, compiled=compiled, progress=advance)
                exact_out.append("".join(alphabet[t] for t in ex.tokens) if ex.complete else None)
                exact_ok.append(ex.complete and ex.tokens == expected[k])
    _map_table(console, inputs, expected, got, alphabet, exact_out if not args.no_exact else None)
    n_ok = sum(float_ok)
    summary = f"float64: {n_ok}/{len(inputs)} entries generated as mapped"
    if exact_ok:
        summary += f"; exact: {sum(exact_ok)}/{len(inputs)} certified"
    console.print(summary, highlight=False)
    _write_json(args.json, {"kind": kind, "V": V, "alphabet": alphabet, "T": float(net.T),
                            "virtual_tokens": [[str(v) for v in s[:V]] for s in virtual],
                            "entries": [{"input": k, "expected": data[k].ljust(N0),
                                         "float64": "".join(alphabet[t] for t in got[i]),
                                         **({"exact": exact_out[i]} if exact_out else {})}
                                        for i, k in enumerate(inputs)],
                            "float64_ok": n_ok, "exact_ok": sum(exact_ok) if exact_ok else None}, console)
    return 0 if all(float_ok) else 1


def _map_table(console: Console, inputs: list[str], expected: dict[str, list[int]], got: list[list[int]],
               alphabet: str, exact: Any, limit: int = 40) -> None:
    from rich.table import Table

    t = Table(show_header=True)
    for col in ("input", "mapped to", "float64", *(["exact"] if exact is not None else [])):
        t.add_column(col)
    rows = [i for i, k in enumerate(inputs) if got[i] != expected[k] or (exact is not None and exact[i] is None)]
    rows = (rows + [i for i in range(len(inputs)) if i not in rows])[:limit]
    for i in sorted(rows):
        k = inputs[i]
        want = "".join(alphabet[t] for t in expected[k])
        g = "".join(alphabet[t] for t in got[i])
        cells = [repr(k), repr(want), repr(g) + ("" if g == want else "  ✗")]
        if exact is not None:
            cells.append("not certified" if exact[i] is None else repr(exact[i]) + ("" if exact[i] == want else "  ✗"))
        t.add_row(*cells)
    console.print(t)
    if len(inputs) > limit:
        console.print(f"({limit} of {len(inputs)} entries shown, mismatches first)")


# ---- sweeps ------------------------------------------------------------------------------------------------------

def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    output_file(args.json, "--json")
    import torch
    from rich.table import Table

    from proofs.constructions import DEFAULT, EXHAUSTIVE
    from theory.constructions.sweeps import ExactSweep

    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    plan = [s for exact in (False, True) for group in (EXHAUSTIVE if args.exhaustive else DEFAULT).values()
            for s in group if s.exact == exact and (exact is False or not args.no_exact)]
    results = []
    start = time.perf_counter()
    with _progress(console) as progress:
        overall = progress.add_task("all sweeps", total=sum(s.cases for s in plan))
        for sweep in plan:
            task = progress.add_task(sweep.label, total=sweep.cases)

            def advance(k: int, task: TaskID = task) -> None:
                progress.update(task, advance=k)
                progress.update(overall, advance=k)

            results.append((sweep, sweep.run(args.seed, dtype, advance)))
            progress.remove_task(task)
    seconds = time.perf_counter() - start
    t = Table(title=f"construction sweeps ({'exhaustive' if args.exhaustive else 'default'} plan, seed {args.seed})")
    for col in ("sweep", "arithmetic", "cases", "wrong", "not certified", "seconds"):
        t.add_column(col, justify="right" if col in ("cases", "wrong", "not certified", "seconds") else "left")
    failures = 0
    for sweep, r in results:
        uncertified = r.uncertified if isinstance(r, ExactSweep) else None
        wrong = r.failures + (uncertified or 0)
        failures += wrong
        t.add_row(sweep.label, "exact" if sweep.exact else args.dtype, str(r.cases), str(r.failures),
                  "—" if uncertified is None else str(uncertified), f"{r.seconds:.2f}", style="red" if wrong else None)
    console.print(t)
    console.print(f"{sum(r.cases for _, r in results)} cases in {seconds:.1f}s: "
                  + ("every one generated as intended" if not failures else f"{failures} failed"), highlight=False)
    _write_json(args.json, {"plan": "exhaustive" if args.exhaustive else "default", "seed": args.seed,
                            "dtype": args.dtype, "seconds": round(seconds, 3),
                            "sweeps": [{"label": sweep.label, "cases": r.cases, "failures": r.failures,
                                        "uncertified": r.uncertified if isinstance(r, ExactSweep) else None,
                                        "seconds": round(r.seconds, 3), "first_failure": r.first_failure}
                                       for sweep, r in results]}, console)
    return 0 if not failures else 1


def _progress(console: Console, *columns: ProgressColumn) -> Progress:
    """A transient rich progress display: description, bar, done/total, elapsed, ``columns``, time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    *columns, TimeRemainingColumn(), console=console, transient=True)


@contextmanager
def _bar(console: Console, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A transient progress bar with the elapsed time and an estimate of the time left; yields ``advance(k)``."""
    from rich.progress import TextColumn

    with _progress(console, TextColumn("left")) as progress:
        task = progress.add_task(label, total=total)
        yield lambda k: progress.update(task, advance=k)


def _write_json(path: str | None, data: dict[str, Any], console: Console) -> None:
    if path:
        write_json(path, data)
        console.print(f"JSON written to {path}")
