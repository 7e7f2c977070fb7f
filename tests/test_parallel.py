"""`prefixcheck check -j N`: claims in worker processes give the results of ``-j 1``, in catalogue order, and a
certificate never crosses a process boundary as a live one (docs/kernel.md)."""
from __future__ import annotations

import json
import os
import re

import pytest

from proofs.claim import Claim, Context, LayerResult, Status
from proofs.cli import main
from proofs.registry import catalogue, select
from proofs.runner import ClaimResult, run, run_layer
from theory.kernel import KernelError, genuine, recorded

QUICK = ["prefix.ordering", "prefix.bias_parallel_naive"]  # under a second each
SOME = ["prefix.alpha_sigmoid", "prefix.bias_parallel_naive", "capacity.hard_token_bound", "prefix.contraction"]
CTX = Context(seed=5, timeout=30.0, instances=40)


def comparable(claims: list[dict]) -> list[dict]:
    """A report's claims without what depends on the clock: ``seconds`` and the durations quoted in text."""
    def text(value):
        return re.sub(r"\d+(\.\d+)?\s?s\b", "<t>", value) if isinstance(value, str) else value

    return [{**c, "layers": {name: {k: text(v) for k, v in layer.items() if k != "seconds"}
                             for name, layer in c["layers"].items()}} for c in claims]


@pytest.mark.slow
def test_two_workers_give_the_results_of_one_in_the_same_order():
    claims = select(catalogue(), list(reversed(QUICK)))
    one = run(claims, CTX, jobs=1)
    two = run(claims, CTX, jobs=2)
    assert [r.claim.id for r in two] == [c.id for c in claims]  # the order asked for, not completion order
    assert comparable([r.to_json() for r in two]) == comparable([r.to_json() for r in one])
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
    assert comparable(one) == comparable(two)
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
    assert comparable(reports["2"]) == comparable(reports["1"])
