"""``prefixcheck audit``: how far a Hugging Face model under peft prefix-tuning / prompt tuning is from the theory.

Any model: a transformers model type built tiny offline from its default config (``--model-type``), a local
checkpoint directory (``--model``), or a shorthand (``--arch``). Every attention is captured as it ran
(`numeric.hf_capture`) and every identity of paper-notes 5 (items 1-7, 9, 10) is measured per attention and head,
with a tolerance from the dtypes the pass used, and classified: holds / deviates as predicted (the assumption
named) / premise broken (which queries or prefix entries) / unexplained. Exit status: 0 nothing unexplained, 1 a
row is unexplained, 2 usage error or every model unsupported (peft's error in one line).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from proofs.cliutil import UsageError, non_negative_float, output_file, positive_int, seed_int, write_json

ARCHS = ("gpt2", "llama", "llama-gqa", "bert")
METHODS = {"prefix": "peft prefix-tuning (raw per-layer key/value prefix)",
           "prompt": "peft prompt tuning (soft prompt) vs the prefix of its virtual tokens",
           "text": "a prefix loaded from a hard prompt's key/value cache vs prompting"}
MAX_POSITIONS = 60


def config_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE parsed as JSON when it is JSON (4, 0.5, true, null, [..]), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", help="audit any transformers model + peft prefix-tuning / prompt tuning against "
                                     "the theory", description=__doc__.split("\n\n")[1].replace("\n", " "))
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-type", metavar="NAME", help="transformers model type(s), comma separated, built tiny "
                                                            "from the default config (e.g. gpt2,mistral,t5)")
    which.add_argument("--model", metavar="PATH", help="a local checkpoint directory (save_pretrained), read offline")
    which.add_argument("--arch", help=f"shorthand(s), comma separated: {', '.join(ARCHS)} or all")
    p.add_argument("--config", metavar="KEY=VALUE", type=config_override, action="append", default=[],
                   help="config override for --model-type / --arch (repeatable), e.g. sliding_window=4")
    p.add_argument("--method", default="prefix", help=f"one of {', '.join(METHODS)} (default prefix)")
    p.add_argument("--n-prefix", "--virtual-tokens", dest="virtual_tokens", type=positive_int, default=3,
                   help="n_S, prefix / prompt length (default 3)")
    p.add_argument("--tokens", type=positive_int, default=6, help="content length n >= 2 (default 6)")
    p.add_argument("--init-std", type=non_negative_float, default=1.0,
                   help="prefix / prompt init N(0, X^2); 0 = peft's init_weights='zero' prefix (default 1.0)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the model, prefix and content draws")
    p.add_argument("--tol", type=float, default=1e-10,
                   help="float64 tolerance; passes that compute in float32 / half use 1e-5 / 5e-2 / 1e-1")
    p.add_argument("--json", metavar="PATH", help="write the audit as JSON here")
    p.set_defaults(func=cmd_audit)


def _names(text: str, what: str) -> list[str]:
    names = list(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not names:
        raise UsageError(f"{what} is empty")
    return names


def _specs(args: argparse.Namespace) -> list[Any]:
    from numeric.hf_build import PRESETS, ModelSpec

    overrides = dict(args.config)
    if args.model is not None:
        if overrides:
            raise UsageError("--config applies to --model-type / --arch; a checkpoint is audited as saved")
        path = Path(args.model)
        if not path.is_dir():
            raise UsageError(f"--model {args.model}: not a directory")
        if not (path / "config.json").is_file():
            raise UsageError(f"--model {args.model}: no config.json (expected a save_pretrained directory)")
        return [ModelSpec(path=str(path))]
    if args.arch is not None:
        names = list(ARCHS) if args.arch.strip() == "all" else _names(args.arch, "--arch")
        bad = [n for n in names if n not in PRESETS]
        if bad:
            raise UsageError(f"unknown --arch {bad[0]!r}; shorthands: {', '.join(ARCHS)} (or all); any "
                             f"transformers model type works with --model-type")
        from dataclasses import replace

        return [replace(PRESETS[n], overrides={**PRESETS[n].overrides, **overrides}) for n in names]
    from numeric.hf import require_hf

    transformers, _ = require_hf()
    known = transformers.models.auto.configuration_auto.CONFIG_MAPPING
    names = _names(args.model_type, "--model-type")
    bad = [n for n in names if n not in known]
    if bad:
        close = [k for k in known if bad[0].replace("-", "_") in k.replace("-", "_")][:5]
        raise UsageError(f"unknown model type {bad[0]!r} in transformers {transformers.__version__}"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))
    return [ModelSpec(model_type=n, overrides=overrides) for n in names]


def _validate(args: argparse.Namespace) -> None:
    if args.method not in METHODS:
        raise UsageError(f"unsupported method {args.method!r}; supported: {', '.join(METHODS)}")
    if args.init_std == 0 and args.method != "prefix":
        raise UsageError("--init-std 0 means peft's zero-initialised prefix, which exists for --method prefix "
                         f"only; {args.method} needs --init-std > 0")
    if args.tokens < 2:
        raise UsageError("--tokens must be >= 2: with one content token every content attention is trivially 1, "
                         "so no row could show a deviation")
    if not (math.isfinite(args.tol) and args.tol > 0):
        raise UsageError(f"--tol must be a positive finite number, got {args.tol}")
    if args.virtual_tokens + args.tokens > MAX_POSITIONS:
        raise UsageError(f"--n-prefix + --tokens must be <= {MAX_POSITIONS} (the tiny models have 64 positions), "
                         f"got {args.virtual_tokens + args.tokens}")


def _table(console: Console, audit: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    title = (f"{audit.model} ({audit.model_type}) · {audit.method} · n_S={audit.setup['n_S']} · n={audit.setup['n']}"
             f" · init std {audit.setup['prefix_std']} · seed {audit.setup['seed']} · {audit.seconds:.2f}s")
    if audit.unsupported:
        console.print(f"[bold]{escape(title)}[/bold]: [yellow]{escape(audit.unsupported)}[/yellow]", highlight=False)
        return
    heads = max((len(r.per_head) for r in audit.rows), default=0)
    t = Table(title=title, title_justify="left", show_lines=False)
    t.add_column("layer", justify="right")
    t.add_column("quantity")
    for h in range(heads):
        t.add_column(f"head {h}", justify="right")
    t.add_column("tol (dtypes used)", overflow="fold", max_width=26)
    t.add_column("class")
    t.add_column("assumption / premise", overflow="fold", max_width=60)
    colour = {"holds": "green", "deviates as predicted": "cyan", "premise broken": "yellow", "unexplained": "bold red"}
    for r in audit.rows:
        values = [f"{v:.2e}" for v in r.per_head] + [""] * (heads - len(r.per_head))
        t.add_row(str(r.layer), escape(r.quantity), *values, escape(f"{r.tol:.0e} ({r.precision})"),
                  f"[{colour[r.cls]}]{r.cls}[/{colour[r.cls]}]", escape(r.premise or r.assumption))
    console.print(t)
    for label, value in audit.outputs.items():
        console.print(f"  {label}: {value:.3g}", highlight=False)
    for note in audit.notes:
        console.print(f"  note: {escape(note)}", highlight=False)


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    output_file(args.json, "--json")
    _validate(args)
    try:
        from numeric.hf import HFUnavailable, require_hf, versions
        require_hf()
    except (HFUnavailable, ImportError) as exc:
        raise UsageError(f"{exc}; then audit any transformers model type (--model-type) or checkpoint "
                         f"(--model)") from None
    from numeric.hf_audit import Setup, audit

    specs = _specs(args)
    setup = Setup(seed=args.seed, n_S=args.virtual_tokens, n=args.tokens, prefix_std=args.init_std)
    start = time.perf_counter()
    audits = []
    for spec in specs:
        try:
            audits.append(audit(spec, args.method, setup, tol64=args.tol))
        except (KeyError, ValueError, TypeError, OSError, RuntimeError, AttributeError) as exc:
            # building a default config / loading a checkpoint / a mismatch the method cannot run on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"{spec.name}: cannot audit: {type(exc).__name__}: {first.strip(chr(39))}") from None
    if all(a.unsupported for a in audits):
        raise UsageError("; ".join(f"{a.model}: {a.unsupported}" for a in audits))
    console.print(f"[bold]prefixcheck audit[/bold] — {METHODS[args.method]}; "
                  f"{', '.join(f'{k} {v}' for k, v in versions().items())}", highlight=False)
    warnings: list[str] = []
    for a in audits:
        _table(console, a)
        warnings.extend(w for w in a.warnings if w not in warnings)
    unexpected = sum(len(a.unexpected) for a in audits)
    rows = sum(len(a.rows) for a in audits)
    if warnings:
        console.print(f"[dim]captured {len(warnings)} library warning(s): " + " | ".join(warnings) + "[/dim]",
                      highlight=False, soft_wrap=True)
    verdict = "[bold green]nothing unexplained[/bold green]" if not unexpected else \
        f"[bold red]{unexpected} row(s) unexplained[/bold red]"
    console.print(f"{rows} rows over {len(audits)} model(s) in {time.perf_counter() - start:.2f}s: {verdict}")
    if args.json:
        from proofs.report import environment

        payload = {"audits": [a.to_json() for a in audits], "unexpected": unexpected,
                   "environment": environment(args.seed)}
        write_json(args.json, payload)
        console.print(f"JSON written to {args.json}")
    return 1 if unexpected else 0
