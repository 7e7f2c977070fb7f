"""Project defaults from ``[tool.prefixcheck]`` in the nearest ``pyproject.toml`` (as pytest and ruff read theirs).

    [tool.prefixcheck]
    seed = 1
    timeout = 10        # seconds per solver query
    instances = 500     # random instances per numeric check
    claims = ["claims/my_claims.py"]   # relative to the pyproject.toml

The nearest ``pyproject.toml`` from the working directory upwards is read; if it has no ``[tool.prefixcheck]``
table, nothing is configured. Options given on the command line win; ``--claims`` on the command line replaces
the configured files. A bad value is a one-line error naming the file (exit 2).
"""
from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofs.cliutil import UsageError

KEYS = ("seed", "timeout", "instances", "claims")


@dataclass
class Config:
    """The ``[tool.prefixcheck]`` table of ``path``: option defaults by dest, and claims files."""

    path: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a parent folder."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load(start: Path | None = None) -> Config | None:
    """The configuration that applies in ``start`` (default: the working directory), or ``None``."""
    path = find_pyproject((start or Path.cwd()).resolve())
    if path is None:
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read [tool.prefixcheck]: {exc}") from None
    table = data.get("tool", {}).get("prefixcheck")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.prefixcheck] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)} in [tool.prefixcheck]; known: {', '.join(KEYS)}")
    config = Config(path)
    claims = table.get("claims", [])
    if isinstance(claims, str):
        claims = [claims]
    if not isinstance(claims, list) or not all(isinstance(c, str) and c for c in claims):
        raise UsageError(f"{path}: [tool.prefixcheck] claims must be a list of file names")
    config.claims = [str(path.parent / c) for c in claims]
    for key in ("seed", "timeout", "instances"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{path}: [tool.prefixcheck] {key} must be a number, got {value!r}")
            if isinstance(value, float) and value.is_integer() and key != "timeout":
                value = int(value)  # instances = 1e4
            config.defaults[key] = value
    return config


def apply(parser: argparse.ArgumentParser, config: Config) -> None:
    """Make the configured values the defaults of every (sub-)command that has the option, checked by the
    option's own parser (so the limits and messages are the command line's)."""
    for sub in _parsers(parser):
        dests = {a.dest: a for a in sub._actions}
        values = {}
        for key, value in config.defaults.items():
            action = dests.get(key)
            if action is None:
                continue
            try:
                values[key] = action.type(str(value)) if callable(action.type) else value
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"{config.path}: [tool.prefixcheck] {key}: {exc}") from None
        sub.set_defaults(**values)


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and all its sub-command parsers, recursively."""
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                out.extend(_parsers(sub))
    return out
