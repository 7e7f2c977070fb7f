"""The mutation suite (issue 12; design.md soundness rules 1-5): false claims written through the public API must
never be ``ok`` nor PROVED at any layer; true claims (none of them in the catalogue) must never be refuted. One test
item per claim; the files are `false_*.py` / `true_*.py` here (see `harness`). ``search_planted.py``: a target that
a planted prefix reaches is never IMPOSSIBLE.

The counts (false ok, PROVED on false, true refuted, true proved) are printed at the end of the run
(conftest.py) and by ``python -m bench bench_mutants``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

# about a minute of CPU for the whole suite: `make test` runs it, `make test-fast` does not
pytestmark = pytest.mark.slow

RESULTS: list = []   # filled as the items run; conftest.py prints the summary

MUTANTS = harness.all_mutants()


@pytest.mark.parametrize("path,truth,claim", [pytest.param(p, t, c, id=c.id) for p, t, c in MUTANTS])
def test_mutant(path, truth, claim):
    judged = harness.judge(path, truth, claim)
    RESULTS.append(judged)
    assert not judged.problems, "\n".join([judged.line(), *judged.problems])


@pytest.mark.parametrize("name,build", [pytest.param(n, b, id=n) for n, b in harness.planted_problems()])
def test_planted_search_never_impossible(name, build):
    judged = harness.judge_search(name, build)
    RESULTS.append(judged)
    assert not judged.problems, judged.problems[0]


def test_suite_size():
    """At least 100 false and 30 true claims, every file declares its truth, ids are unique."""
    false = [c for _, t, c in MUTANTS if not t]
    true = [c for _, t, c in MUTANTS if t]
    assert len(false) >= 100, len(false)
    assert len(true) >= 30, len(true)
    ids = [c.id for _, _, c in MUTANTS]
    assert len(ids) == len(set(ids))
