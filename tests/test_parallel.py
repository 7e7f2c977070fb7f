"""`prefixcheck check -j N`: claims in worker processes give the results of ``-j 1``, in catalogue order, and a
certificate never crosses a process boundary as a live one (docs/kernel.md)."""
from __future__ import annotations

import json
import os
import sys

import pytest

from proofs import schedule
from proofs.claim import LAYERS, Claim, Context, LayerResult, Status
from proofs.cli import main
from proofs.registry import catalogue, select
from proofs.runner import ClaimResult, run, run_layer, without_clock
from proofs.schedule import Entry, Observed
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


def _claim(claim_id: str, section: str = "", exact: bool = False) -> Claim:
    return Claim(claim_id, "a quick test claim", "-", "-", section=section,
                 numeric=lambda ctx: LayerResult(Status.CONSISTENT, "ok"),
                 symbolic=(lambda ctx: LayerResult(Status.CONSISTENT, "ok")) if exact else None)


def test_a_claim_is_one_task_per_group_of_its_layers():
    claims = [_claim("a", exact=True), _claim("b")]
    assert [(t.claim, t.group, t.layers, t.key) for t in schedule.tasks(claims, LAYERS)] == [
        (0, "exact", ("symbolic",), "a/exact"), (0, "numeric", ("numeric",), "a/numeric"),
        (1, "numeric", ("numeric",), "b/numeric")]
    assert [t.key for t in schedule.tasks(claims, ["symbolic"])] == ["a/exact"]


def test_workers_take_untimed_tasks_first_then_the_longest():
    plan = schedule.tasks([_claim(i) for i in ("a", "b", "c", "d", "e")], LAYERS)
    assert schedule.order(plan, {}) == plan  # nothing recorded: the order asked for
    record = {f"{i}/numeric": Entry(s, ("torch",)) for i, s in (("a", 0.1), ("b", 4.4), ("d", 0.1), ("e", 2.0))}
    assert [t.key[0] for t in schedule.order(plan, record)] == ["c", "b", "e", "a", "d"]


def test_a_task_is_heavy_when_numeric_or_seen_importing_torch_and_the_preload_is_what_heavy_tasks_imported():
    plan = schedule.tasks([_claim("a", exact=True), _claim("b", exact=True)], LAYERS)
    a_exact, a_numeric, b_exact, b_numeric = plan
    # nothing recorded: exact layers are light, numeric ones heavy; the preload is torch alone
    assert [schedule.heavy(t, {}) for t in plan] == [False, True, False, True]
    assert schedule.preload(plan, {}) == ["torch"]
    record = {"a/exact": Entry(1.0, ("torch", "z3")), "a/numeric": Entry(1.0, ()),
              "b/numeric": Entry(1.0, ("peft", "torch", "transformers")), "b/exact": Entry(1.0, ("z3",))}
    # an exact task seen importing torch is heavy; a numeric one is heavy whatever was recorded
    assert [schedule.heavy(t, record) for t in plan] == [True, True, False, True]
    assert schedule.preload(plan, record) == ["torch", "peft", "transformers", "z3"]
    assert schedule.preload([a_numeric, b_exact], record) == ["torch"]
    assert schedule.preload([b_exact], record) == []  # no heavy task: nothing to import first


def test_the_record_keeps_seconds_and_watched_imports(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFIXCHECK_CACHE_DIR", str(tmp_path))
    assert schedule.record() == {}
    run([_claim("test.fine", exact=True)], CTX, LAYERS)  # in process: seconds, no imports watched
    assert set(schedule.record()) == {"test.fine/exact", "test.fine/numeric"}
    assert all(e.imports == () and e.seconds >= 0 for e in schedule.record().values())
    exact, numeric = schedule.tasks([_claim("test.fine", exact=True)], LAYERS)
    assert not schedule.heavy(exact, schedule.record()) and schedule.heavy(numeric, schedule.record())
    schedule.keep([Observed("t/numeric", 2.0, True, ("peft",), ("torch",))])  # a worker saw peft, had torch
    assert schedule.record()["t/numeric"] == Entry(2.0, ("peft", "torch"))
    schedule.keep([Observed("t/numeric", 1.0)])  # unwatched: the recorded imports stay
    assert schedule.record()["t/numeric"] == Entry(1.0, ("peft", "torch"))
    schedule.keep([Observed("t/numeric", 1.0, True)])  # watched, imported nothing it had not: none
    assert schedule.record()["t/numeric"] == Entry(1.0, ())
    schedule.record_path().write_text("not json")  # an unreadable record orders nothing and is rewritten
    assert schedule.record() == {}
    schedule.keep([Observed("t/numeric", 1.0)])
    assert set(schedule.record()) == {"t/numeric"}


def test_a_worker_reports_the_packages_a_task_imported(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFIXCHECK_CACHE_DIR", str(tmp_path))
    if "tabnanny" in sys.modules:
        pytest.skip("tabnanny is imported in this process already")

    def imports(ctx: Context) -> LayerResult:
        import tabnanny  # noqa: F401

        return LayerResult(Status.CONSISTENT, "imported")

    claims = [Claim("test.imports", "imports a package", "-", "-", numeric=imports), _claim("test.fine")]
    run(claims, CTX, ["numeric"], jobs=2)
    assert "tabnanny" in schedule.record()["test.imports/numeric"].imports
    assert "tabnanny" in schedule.preload(schedule.tasks(claims, ["numeric"]), schedule.record())


def test_the_schedule_changes_the_order_of_work_not_the_results(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFIXCHECK_CACHE_DIR", str(tmp_path))
    claims = select(catalogue(), ["prefix.ordering"]) * 2 + [_claim("test.fine")]
    first = run(claims, CTX, ["symbolic", "numeric"], jobs=2)
    schedule.record_path().write_text('{"test.fine/numeric": {"seconds": 100.0, "imports": []}, '
                                      '"prefix.ordering/exact": {"seconds": 0.0, "imports": ["torch"]}}')
    second = run(claims, CTX, ["symbolic", "numeric"], jobs=2)
    assert [r.claim.id for r in second] == [c.id for c in claims]
    assert without_clock([r.to_json() for r in second]) == without_clock([r.to_json() for r in first])
    assert without_clock([r.to_json() for r in second]) == without_clock([r.to_json() for r in
                                                                         run(claims, CTX, ["symbolic", "numeric"])])
