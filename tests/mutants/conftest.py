"""Print the mutation suite's counts after the run (true claims PROVED, and every rule violation)."""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ANN001
    import sys

    module = sys.modules.get("test_mutants")
    results = getattr(module, "RESULTS", None) if module else None
    if not results:
        return
    claims = [r for r in results if hasattr(r, "truth")]
    searches = [r for r in results if not hasattr(r, "truth")]
    false = [r for r in claims if not r.truth]
    true = [r for r in claims if r.truth]
    tr = terminalreporter
    tr.section("mutation suite")
    tr.write_line(f"false claims: {len(false)} run, {sum(r.verdict == 'ok' for r in false)} ok, "
                  f"{sum(r.proved for r in false)} PROVED at some layer")
    tr.write_line(f"true claims:  {len(true)} run, {sum(bool(r.problems) for r in true)} refuted, "
                  f"{sum(r.proved for r in true)} PROVED at some layer, "
                  f"{sum(r.verdict == 'ok' for r in true)} ok")
    tr.write_line(f"planted search problems: {len(searches)} run, "
                  f"{sum(r.verdict == 'IMPOSSIBLE' for r in searches)} IMPOSSIBLE")
    tr.write_line(f"time: {sum(r.seconds for r in results):.1f}s in checks")
