"""One meaning of ``--timeout``: the limit of each solver query (`Context.timeout`), never a whole-check budget."""
from __future__ import annotations

import time

import proofs.catalogue.section4 as s4
import theory.smt
from proofs.checks import smt_identity, smt_order
from proofs.claim import Context, Status
from proofs.cli import build_parser


def _recording_solve(monkeypatch, module, delay: float = 0.0) -> list[float]:
    real, seen = module.solve, []

    def solve(constraints, timeout, *args):
        seen.append(timeout)
        time.sleep(delay)  # a slow query: a whole-check budget would shrink for the next ones
        return real(constraints, timeout, *args)

    monkeypatch.setattr(module, "solve", solve)
    return seen


def test_every_query_of_a_many_query_check_gets_the_whole_timeout(monkeypatch):
    seen = _recording_solve(monkeypatch, theory.smt, delay=0.02)
    ctx = Context(seed=0, timeout=5.0, claim_id="test.order")
    result = smt_order(n=4, n_S=2)(ctx)
    assert result.status is Status.PROVED
    assert len(seen) == 12 and set(seen) == {5.0}


def test_an_identity_check_gives_each_size_the_whole_timeout(monkeypatch):
    seen = _recording_solve(monkeypatch, theory.smt)
    result = smt_identity(s4.contraction, n=2, d=2)(Context(timeout=7.0, claim_id="test.id"))
    assert result.status is Status.PROVED
    assert len(seen) > 1 and set(seen) == {7.0}


def test_the_help_says_per_query():
    sub = build_parser()._subparsers._group_actions[0].choices["check"]  # type: ignore[union-attr]
    text = " ".join(sub.format_help().split())
    assert "each solver query" in text and "not a whole-check budget" in text
