"""One meaning of ``--timeout``: the limit of each solver query (`Context.timeout`), never a whole-check budget.

The limits are read where each backend receives them (z3's ``timeout`` parameter, cvc5's ``tlimit-per``, HiGHS's
``time_limit``), so a check that ignores ``ctx.timeout`` (a constant, a share of it, no limit at all) fails here
whatever path it takes to the solver. The search engines (`proofs.z3_search.search`, `proofs.layered.decide`)
spend one ``ctx.timeout`` across their steps: their clocks are frozen, so every query they make is handed the
whole limit, and no assertion depends on how fast this machine is."""
from __future__ import annotations

import types

import pytest

import proofs.catalogue.section4 as s4
import proofs.layered
import proofs.z3_search
import theory.smt_cvc5
from proofs.checks import smt_identity, smt_order
from proofs.claim import Context, Status
from proofs.cli import build_parser
from proofs.registry import catalogue, select
from proofs.runner import run_layer

T = 3.217  # a limit no check would pick by itself
Limit = tuple[str, float]  # (backend, the limit it was given, in seconds)


def _watch_limits(monkeypatch: pytest.MonkeyPatch) -> list[Limit]:
    """Record the time limit of every query z3, cvc5 and HiGHS run (the queries still run, unchanged)."""
    import highspy
    import z3

    seen: list[Limit] = []
    set_z3, check_z3 = z3.Solver.set, z3.Solver.check

    def z3_set(self, *args, **keys):
        if args[:1] == ("timeout",):
            self.limit_ms = args[1]
        return set_z3(self, *args, **keys)

    def z3_check(self, *args):
        seen.append(("z3", getattr(self, "limit_ms", float("inf")) / 1000))
        return check_z3(self, *args)

    monkeypatch.setattr(z3.Solver, "set", z3_set)
    monkeypatch.setattr(z3.Solver, "check", z3_check)

    real_cvc5 = theory.smt_cvc5._check

    def cvc5_check(text: str, timeout: float, logic: str) -> tuple[str, float]:
        seen.append(("cvc5", timeout))
        return real_cvc5(text, timeout, logic)

    monkeypatch.setattr(theory.smt_cvc5, "_check", cvc5_check)

    class Highs(highspy.Highs):
        def setOptionValue(self, name, value):
            if name == "time_limit":
                seen.append(("highs", value))
            return super().setOptionValue(name, value)

    monkeypatch.setattr(highspy, "Highs", Highs)
    frozen = types.SimpleNamespace(perf_counter=lambda: 0.0)
    monkeypatch.setattr(proofs.z3_search, "time", frozen)
    monkeypatch.setattr(proofs.layered, "time", frozen)
    return seen


def _wrong(seen: list[Limit], timeout: float) -> list[Limit]:
    """The limits that are not ``timeout`` (z3 and cvc5 take whole milliseconds)."""
    return [(backend, s) for backend, s in seen if s != (int(timeout * 1000) / 1000 if backend != "highs" else timeout)]


def test_every_query_of_a_many_query_check_gets_the_whole_timeout(monkeypatch):
    seen = _watch_limits(monkeypatch)
    result = smt_order(n=4, n_S=2)(Context(seed=0, timeout=T, claim_id="test.order"))
    assert result.status is Status.PROVED
    assert len(seen) == 12 and not _wrong(seen, T)


def test_an_identity_check_gives_each_size_the_whole_timeout(monkeypatch):
    seen = _watch_limits(monkeypatch)
    result = smt_identity(s4.contraction, n=2, d=2)(Context(timeout=T, claim_id="test.id"))
    assert result.status is Status.PROVED
    assert len(seen) > 1 and not _wrong(seen, T)


def test_the_watch_catches_a_check_that_ignores_the_timeout(monkeypatch):
    """The false twin of every check below: limits of its own (a constant, a share of the budget, none)."""
    from theory.kernel import run_z3

    seen = _watch_limits(monkeypatch)
    x = __import__("z3").Real("x")
    run_z3([x > 0], 10.0)
    run_z3([x > 1], T / 4)
    solver = __import__("z3").Solver()
    solver.add(x > 2)
    solver.check()
    theory.smt_cvc5.check_smtlib("(declare-fun y () Real)(assert (> y 0))(check-sat)", 1.0)
    assert [b for b, _ in _wrong(seen, T)] == ["z3", "z3", "z3", "cvc5"]


@pytest.mark.slow
def test_every_catalogue_smt_check_gives_each_query_the_whole_timeout(monkeypatch):
    seen = _watch_limits(monkeypatch)
    claims = [c for c in select(catalogue(), []) if "smt" in c.checks()]
    assert len(claims) >= 10
    for claim in claims:
        seen.clear()
        result = run_layer(claim, "smt", Context(timeout=T, claim_id=claim.id))
        assert result.status is not Status.ERROR, (claim.id, result.detail)
        assert seen, f"{claim.id}: its smt check asked no solver query"
        assert not _wrong(seen, T), (claim.id, _wrong(seen, T))


def test_the_help_says_per_query():
    sub = build_parser()._subparsers._group_actions[0].choices["check"]  # type: ignore[union-attr]
    text = " ".join(sub.format_help().split())
    assert "each solver query" in text and "not a whole-check budget" in text
