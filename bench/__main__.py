"""Run every ``bench/bench_*.py`` (or those named on the command line) and write bench/results.json."""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

from rich.console import Console

import bench


def main(argv: list[str]) -> int:
    console = Console()
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if argv:
        unknown = [a for a in argv if a not in names]
        if unknown:
            console.print(f"unknown benchmark(s) {unknown}; available: {names}")
            return 2
        names = argv
    results = {}
    for name in names:
        console.rule(name)
        results[name] = importlib.import_module(f"bench.{name}").run(console)
    out = Path(bench.__path__[0]) / "results.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    console.print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
