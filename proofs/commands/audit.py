"""``prefixcheck audit``: how far Hugging Face transformers + peft prefix-tuning / prompt tuning are from the theory.

For each architecture, a tiny random float64 model is built offline from a config, wrapped with peft, and every
identity of paper-notes 5 (items 1, 3, 4, 6, 9, 10) is measured per layer and per head against the real base
model (`numeric.hf_audit`). Each row states whether the theory predicts it to hold there and the assumption that
decides it. Exit status: 0 every row as predicted, 1 a row deviates unexpectedly, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from proofs.cli import UsageError, positive_int, seed_int

ARCHS = ("gpt2", "llama", "llama-gqa", "bert")
METHODS = {"prefix": "peft prefix-tuning (raw per-layer key/value prefix)",
           "prompt": "peft prompt tuning (soft prompt) vs the prefix of its virtual tokens",
           "text": "a prefix loaded from a hard prompt's key/value cache vs prompting"}
UNSUPPORTED = {
    "bert-cls": f"BertForSequenceClassification (supported: {', '.join(ARCHS)}): peft 0.21.2 prefix-tuning "
                "raises 'Model does not support past key values' with transformers 5.24 (it looks for a "
                "`past_key_values` parameter, renamed `cache`); use --arch bert (feature extraction)",
}


def non_negative_std(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def register(sub: Any, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", help="audit transformers + peft prefix-tuning / prompt tuning against the theory",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--arch", required=True, help=f"architecture(s), comma separated: {', '.join(ARCHS)} or all")
    p.add_argument("--method", default="prefix", help=f"one of {', '.join(METHODS)} (default prefix)")
    p.add_argument("--virtual-tokens", type=positive_int, default=3, help="n_S, prefix / prompt length (default 3)")
    p.add_argument("--tokens", type=positive_int, default=6, help="content length n >= 2 (default 6)")
    p.add_argument("--init-std", type=non_negative_std, default=1.0,
                   help="prefix / prompt init N(0, X^2); 0 = peft's init_weights='zero' prefix (default 1.0)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the model, prefix and content draws")
    p.add_argument("--tol", type=float, default=1e-10, help="float64 tolerance (float32 families use 1e-5)")
    p.add_argument("--json", metavar="PATH", help="write the audit as JSON here")
    p.set_defaults(func=cmd_audit)


def _archs(text: str) -> list[str]:
    names = list(ARCHS) if text.strip() == "all" else list(dict.fromkeys(a.strip() for a in text.split(",")
                                                                          if a.strip()))
    for name in names:
        if name in UNSUPPORTED:
            raise UsageError(f"--arch {name} is not supported: {UNSUPPORTED[name]}")
        if name not in ARCHS:
            raise UsageError(f"unsupported architecture {name!r}; supported: {', '.join(ARCHS)} (or all)")
    if not names:
        raise UsageError(f"--arch is empty; supported: {', '.join(ARCHS)} (or all)")
    return names


def _validate(args: argparse.Namespace) -> list[str]:
    names = _archs(args.arch)
    if args.method not in METHODS:
        raise UsageError(f"unsupported method {args.method!r}; supported: {', '.join(METHODS)} "
                         f"(for {', '.join(ARCHS)})")
    if args.init_std == 0 and args.method != "prefix":
        raise UsageError("--init-std 0 means peft's zero-initialised prefix, which exists for --method prefix "
                         f"only; {args.method} needs --init-std > 0")
    if args.tokens < 2:
        raise UsageError("--tokens must be >= 2: with one content token every content attention is trivially 1, "
                         "so no row could show a deviation")
    if not (math.isfinite(args.tol) and args.tol > 0):
        raise UsageError(f"--tol must be a positive finite number, got {args.tol}")
    if args.virtual_tokens + args.tokens > 60:
        raise UsageError(f"--virtual-tokens + --tokens must be <= 60 (the tiny models have 64 positions), got "
                         f"{args.virtual_tokens + args.tokens}")
    return names


def _table(console: Console, audit: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    heads = len(audit.measures[0].per_head) if audit.measures else 0
    t = Table(title=f"{audit.family} · {audit.method} · n_S={audit.setup['n_S']} · n={audit.setup['n']} · "
                    f"init std {audit.setup['prefix_std']} · seed {audit.setup['seed']} · {audit.seconds:.2f}s",
              title_justify="left", show_lines=False)
    t.add_column("layer", justify="right")
    t.add_column("quantity")
    for h in range(heads):
        t.add_column(f"head {h}", justify="right")
    t.add_column("tol", justify="right")
    t.add_column("theory")
    t.add_column("", justify="center")
    t.add_column("assumption responsible", overflow="fold", max_width=60)
    for m in audit.measures:
        mark = "[green]as predicted[/green]" if m.as_expected else "[bold red]UNEXPECTED[/bold red]"
        values = [f"{v:.2e}" for v in m.per_head]
        t.add_row(str(m.layer), escape(m.quantity), *values, f"{m.tol:.0e}", m.expect, mark, escape(m.assumption))
    console.print(t)
    for label, value in audit.positions.items():
        console.print(f"  positions, {label}: {value}", highlight=False)
    for label, value in audit.outputs.items():
        console.print(f"  {label}: {value:.3g}", highlight=False)
    for note in audit.notes:
        console.print(f"  note: {note}", highlight=False)


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    names = _validate(args)
    try:
        from numeric.hf import HFUnavailable, family, require_hf, versions
        from numeric.hf_audit import Setup, audit
        require_hf()
    except (HFUnavailable, ImportError) as exc:
        raise UsageError(f"{exc}; supported architectures once installed: {', '.join(ARCHS)}") from None
    setup = Setup(seed=args.seed, n_S=args.virtual_tokens, n=args.tokens, prefix_std=args.init_std)
    start = time.perf_counter()
    audits = [audit(family(name), args.method, setup, tol64=args.tol) for name in names]
    console.print(f"[bold]prefixcheck audit[/bold] — {METHODS[args.method]}; "
                  f"{', '.join(f'{k} {v}' for k, v in versions().items())}", highlight=False)
    warnings: list[str] = []
    for a in audits:
        _table(console, a)
        warnings.extend(w for w in a.warnings if w not in warnings)
    unexpected = sum(len(a.unexpected) for a in audits)
    rows = sum(len(a.measures) for a in audits)
    if warnings:
        console.print(f"[dim]captured {len(warnings)} library warning(s): " + " | ".join(warnings) + "[/dim]",
                      highlight=False, soft_wrap=True)
    verdict = "[bold green]every row as the theory predicts[/bold green]" if not unexpected else \
        f"[bold red]{unexpected} row(s) deviate unexpectedly[/bold red]"
    console.print(f"{rows} rows over {len(audits)} architecture(s) in {time.perf_counter() - start:.2f}s: {verdict}")
    if args.json:
        from proofs.report import environment

        payload = {"audits": [a.to_json() for a in audits], "unexpected": unexpected,
                   "environment": environment(args.seed)}
        try:
            Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc.strerror}") from None
        console.print(f"JSON written to {args.json}")
    return 1 if unexpected else 0
