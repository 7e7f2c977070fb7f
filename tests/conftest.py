"""Test-session hooks: one summary line per reason tests were skipped (e.g. the LaTeX tests without texlive), so a
run on a machine with nothing but Python says what it did not test and how to install it."""
from __future__ import annotations

from collections import Counter
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reasons[report.longrepr[2].removeprefix("Skipped: ")] += 1
    for reason, count in reasons.items():
        terminalreporter.write_line(f"skipped {count} test(s): {reason}", yellow=True)


def pytest_configure(config: Any) -> None:
    """Claim runs record their seconds for the next run's schedule (`proofs.runner.costs_path`): the tests keep
    theirs in a folder of their own, not in the user's cache."""
    import os
    import tempfile

    os.environ.setdefault("PREFIXCHECK_CACHE_DIR", tempfile.mkdtemp(prefix="prefixcheck-tests-"))
