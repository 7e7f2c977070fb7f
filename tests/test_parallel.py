"""`prefixcheck check -j N`: claims in worker processes give the results of ``-j 1``, in catalogue order, and a
certificate never crosses a process boundary as a live one (docs/kernel.md)."""
from __future__ import annotations

import json
import os

import pytest

from proofs.claim import Claim, Context, LayerResult, Status
from proofs.cli import main
from proofs.registry import catalogue, select
from proofs.runner import ClaimResult, claim_costs, costs_path, record_costs, run, run_layer, schedule, without_clock
from theory.kernel import KernelError, genuine, recorded

QUICK = ["prefix.ordering", "prefix.bias_parallel_naive"]  # under a second each
SOME = ["prefix.alpha_sigmoid", "prefix.bias_parallel_naive", "capacity.hard_token_bound", "prefix.contraction"]
CTX = Context(seed=5, timeout=30.0, instances=40)


@pytest.mark.slow
def test_two_workers_give_the_results_of_one_in_the_same_order():
    claims = select(catalogue(), list(reversed(QUICK)))
    one = run(claims, CTX, jobs=1)
    two = run(claims, CTX, jobs=2)
    assert [r.claim.id for r in two] == [c.id for c in claims]  # the order asked for, not completion order
    assert without_clock([r.to_json() for r in two]) == without_clock([r.to_json() for r in one])
    assert [r.verdict for r in two] == [r.verdict for r in one] == ["ok"] * len(QUICK)


def test_results_from_workers_carry_records_and_in_process_results_live_certificates():
    claims = select(catalogue(), ["prefix.ordering"]) * 2
    proved_here = [lr for r in run(claims, CTX, ["symbolic"], jobs=1) for lr in r.layers.values()]
    proved_there = [lr for r in run(claims, CTX, ["symbolic"], jobs=2) for lr in r.layers.values()]
    assert proved_here and all(lr.status is Status.PROVED for lr in proved_here + proved_there)
    assert all(genuine(lr.certificate) for lr in proved_here)
    assert all(recorded(lr.certificate) and not genuine(lr.certificate) for lr in proved_there)
    assert all("worker process" in lr.certificate.evidence for lr in proved_there)


def test_a_record_from_a_worker_is_never_accepted_as_a_new_proof():
    (claim,) = select(catalogue(), ["prefix.ordering"])
    (back,) = run([claim, claim], CTX, ["symbolic"], jobs=2)[:1]
    carried = back.layers["symbolic"]
    replay = Claim("test.replay", "replays a worker's PROVED", "-", "-",
                   symbolic=lambda ctx: LayerResult(Status.PROVED, "replayed", certificate=carried.certificate))
    result = run_layer(replay, "symbolic", CTX)
    assert result.status is Status.ERROR and "did not issue" in result.detail
    with pytest.raises(KernelError):
        LayerResult(Status.PROVED, "no certificate")


def test_a_worker_that_dies_makes_its_claim_an_error_and_the_run_goes_on():
    def die(ctx: Context) -> LayerResult:
        os._exit(3)

    dying = Claim("test.dies", "its worker exits", "-", "-", numeric=die)
    (quick,) = select(catalogue(), ["prefix.ordering"])
    results = run([dying, quick], CTX, ["numeric"], jobs=2)
    assert [r.claim.id for r in results] == ["test.dies", "prefix.ordering"]
    assert results[0].layers["numeric"].status is Status.ERROR
    assert "worker process failed" in results[0].layers["numeric"].detail
    assert all(isinstance(r, ClaimResult) for r in results)


@pytest.mark.slow
def test_check_jobs_option(tmp_path, capsys):
    paths = {}
    for jobs in ("1", "2"):
        paths[jobs] = tmp_path / f"j{jobs}.json"
        assert main(["check", *SOME, "-j", jobs, "--instances", "40", "--json", str(paths[jobs])]) == 0
    one, two = (json.loads(paths[j].read_text())["claims"] for j in ("1", "2"))
    assert without_clock(one) == without_clock(two)
    try:
        code = main(["check", "prefix.alpha_sigmoid", "-j", "0"])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    assert code == 2


@pytest.mark.slow
def test_the_whole_catalogue_with_two_workers_matches_one(tmp_path):
    reports = {}
    for jobs in ("1", "2"):
        path = tmp_path / f"j{jobs}.json"
        assert main(["check", "-j", jobs, "--json", str(path)]) == 0
        reports[jobs] = json.loads(path.read_text())["claims"]
    assert [c["id"] for c in reports["2"]] == [c["id"] for c in reports["1"]]
    assert without_clock(reports["2"]) == without_clock(reports["1"])


def _claim(claim_id: str, section: str = "") -> Claim:
    return Claim(claim_id, "a quick test claim", "-", "-", section=section,
                 numeric=lambda ctx: LayerResult(Status.CONSISTENT, "ok"))


def test_workers_take_untimed_claims_first_then_the_longest_tasks(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFIXCHECK_CACHE_DIR", str(tmp_path))
    claims = [_claim(i) for i in ("a", "b", "c", "d", "e")]
    assert schedule(claims, {}, 2) == [[0], [1], [2], [3], [4]]  # nothing recorded: the order asked for
    # one section holding most of the work is split into one task per claim, longest first
    assert schedule(claims, {"a": 0.1, "b": 4.4, "d": 0.1, "e": 2.0}, 2) == [[2], [1], [4], [0], [3]]


def test_a_sections_claims_share_one_task_unless_it_would_hold_the_run_back():
    claims = [_claim("hf.1", "hf"), _claim("x.1", "x"), _claim("hf.2", "hf"), _claim("y.1", "y"),
              _claim("hf.3", "hf"), _claim("x.2", "x")]
    costs = {"hf.1": 0.5, "hf.2": 0.25, "hf.3": 0.25, "x.1": 3.0, "x.2": 3.0, "y.1": 0.5}
    # sum 7.5 over 2 workers: a section of more than 7.5 / 2 seconds is split (x), the others are one task
    assert schedule(claims, costs, 2) == [[1], [5], [0, 2, 4], [3]]


def test_a_run_records_each_claims_seconds_but_not_a_dead_workers(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFIXCHECK_CACHE_DIR", str(tmp_path))
    assert claim_costs() == {}
    fine = run([_claim("test.fine")], CTX, ["numeric"])[0]
    dead = ClaimResult(_claim("test.dead"), {"numeric": LayerResult(Status.ERROR, "worker process failed: boom")},
                       "mismatch", "unknown")
    record_costs([fine, dead])
    costs = claim_costs()
    assert set(costs) == {"test.fine"} and costs["test.fine"] >= 0
    costs_path().write_text("not json")  # an unreadable record orders nothing and is rewritten
    assert claim_costs() == {}
    record_costs([fine])
    assert set(claim_costs()) == {"test.fine"}


def test_the_schedule_changes_the_order_of_work_not_the_results(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFIXCHECK_CACHE_DIR", str(tmp_path))
    claims = select(catalogue(), ["prefix.ordering"]) * 2 + [_claim("test.fine")]
    first = run(claims, CTX, ["symbolic", "numeric"], jobs=2)
    costs_path().write_text('{"test.fine": 100.0, "prefix.ordering": 0.0}')
    second = run(claims, CTX, ["symbolic", "numeric"], jobs=2)
    assert [r.claim.id for r in second] == [c.id for c in claims]
    assert without_clock([r.to_json() for r in second]) == without_clock([r.to_json() for r in first])
