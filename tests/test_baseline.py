"""Baselines: flips (exit 1), status changes, slower layers, new and removed claims; bad baseline files."""
from __future__ import annotations

import itertools
import json
import types

import pytest

from proofs import runner
from proofs.baseline import MIN_SECONDS, compare
from proofs.cli import main


def claim(cid: str, verdict: str = "ok", outcome: str = "holds", **layers: tuple[str, float]) -> dict:
    return {"id": cid, "verdict": verdict, "outcome": outcome,
            "layers": {name: {"status": s, "seconds": t} for name, (s, t) in layers.items()}}


def kinds(diff) -> list[tuple[str, str]]:
    return [(c.kind, c.claim_id) for c in diff.changes]


def test_compare_reports_each_kind_of_change():
    before = {c["id"]: c for c in [
        claim("a", symbolic=("PROVED", 0.5)),
        claim("b", symbolic=("PROVED", 0.5), numeric=("CONSISTENT", 0.2)),
        claim("c", numeric=("CONSISTENT", 0.2)),
        claim("gone", numeric=("CONSISTENT", 0.2)),
        claim("skipped", numeric=("CONSISTENT", 0.2)),
    ]}
    now = [
        claim("a", "mismatch", "fails", symbolic=("REFUTED", 0.5)),
        claim("b", "inconclusive", "holds", symbolic=("PROVED", 0.5), numeric=("UNKNOWN", 0.2)),
        claim("c", numeric=("CONSISTENT", 0.7)),
        claim("fresh", numeric=("CONSISTENT", 0.1)),
    ]
    diff = compare(before, now, known_ids=["a", "b", "c", "fresh", "skipped"])
    assert kinds(diff) == [("flip", "a"), ("flip", "b"), ("slower", "c"), ("new", "fresh"), ("removed", "gone")]
    assert diff.changes[0].text == "verdict ok -> mismatch, outcome holds -> fails (symbolic PROVED -> REFUTED)"
    assert diff.changes[2].text == "numeric 0.20s -> 0.70s (3.5x, limit 3x)"
    assert diff.not_run == 1 and [c.claim_id for c in diff.flips] == ["a", "b"]


def test_status_change_without_flip_and_slowdown_threshold():
    before = {"a": claim("a", symbolic=("PROVED", 0.01), numeric=("CONSISTENT", 0.2))}
    now = [claim("a", symbolic=("CONSISTENT", MIN_SECONDS / 2), numeric=("CONSISTENT", 0.5))]
    assert kinds(compare(before, now, ["a"])) == [("status", "a")]  # 2.5x < 3x; the 5x jump is under MIN_SECONDS
    assert kinds(compare(before, now, ["a"], factor=2.0)) == [("status", "a"), ("slower", "a")]


FLIPPABLE = """\
from proofs import identity_claim


def shift(E):
    h = E.h
    return h.t_pt - h.t, h.alpha * (h.u[0] - h.t)


CLAIMS = [identity_claim("mine.shift", "prefix shift", "-", "-", shift, expected=None, smt_n=2)]
"""


@pytest.mark.slow
def test_flip_of_a_claim_without_expectation_exits_1_only_because_of_the_baseline(tmp_path, capsys):
    path = tmp_path / "flippable.py"
    path.write_text(FLIPPABLE)
    base = tmp_path / "base.json"
    assert main(["check", "--claims", str(path), "--instances", "50", "--json", str(base)]) == 0
    path.write_text(FLIPPABLE.replace("h.u[0] - h.t)", "h.u[0] + h.t)"))
    assert main(["check", "--claims", str(path), "--instances", "50"]) == 0  # no expectation: "fails" is a verdict
    capsys.readouterr()
    out_json = tmp_path / "now.json"
    code = main(["check", "--claims", str(path), "--instances", "50", "--baseline", str(base), "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 1
    assert "vs baseline" in out and "1 flip" in out
    assert "flip    mine.shift: outcome holds -> fails (symbolic PROVED -> REFUTED" in out
    recorded = json.loads(out_json.read_text())["baseline"]
    assert recorded["path"] == str(base) and recorded["changes"][0]["kind"] == "flip"


@pytest.mark.slow
def test_slower_layers_are_reported_without_failing(tmp_path, capsys, monkeypatch):
    # timings are injected: the runner's clock advances exactly one second per reading, so every layer takes 1 s
    clock = itertools.count()
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))
    path = tmp_path / "flippable.py"
    path.write_text(FLIPPABLE)
    base = tmp_path / "base.json"
    assert main(["check", "--claims", str(path), "--instances", "50", "--json", str(base)]) == 0
    report = json.loads(base.read_text())
    symbolic = report["claims"][0]["layers"]["symbolic"]
    assert symbolic["seconds"] == 1.0 >= MIN_SECONDS
    symbolic["seconds"] /= 100
    base.write_text(json.dumps(report))
    capsys.readouterr()
    assert main(["check", "--claims", str(path), "--instances", "50", "--baseline", str(base),
                 "--slowdown", "50"]) == 0
    out = capsys.readouterr().out
    assert "0 flip" in out and "slower  mine.shift: symbolic" in out and "limit 50x" in out


@pytest.mark.parametrize("content, needle", [
    (None, "baseline not found"),
    ("{not json", "is not JSON"),
    (json.dumps({"claims": [{"id": "x"}]}), "is not a prefixcheck --json report"),
    (json.dumps([1, 2]), "is not a prefixcheck --json report"),
    (json.dumps({"claims": [claim("x", numeric=("BOGUS", 0.1))]}), "has status 'BOGUS'"),
    (json.dumps({"claims": [claim("x", "great", numeric=("CONSISTENT", 0.1))]}), "has verdict 'great'"),
    (json.dumps({"claims": [claim("x", proof=("PROVED", 0.1))]}), "unknown layer 'proof'"),
])
def test_bad_baselines_are_one_line_errors_exit_2(tmp_path, capsys, content, needle):
    base = tmp_path / "base.json"
    if content is not None:
        base.write_text(content)
    assert main(["check", "prefix.content_mass", "--baseline", str(base)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prefixcheck: error:") and needle in err[0]


@pytest.mark.parametrize("args, needle", [
    (["--slowdown", "2"], "give --baseline"),
    (["--baseline", "x.json", "--slowdown", "1"], "finite factor > 1"),
    (["--baseline", "x.json", "--slowdown", "nan"], "finite factor > 1"),
])
def test_bad_slowdown(capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        code = main(["check", "prefix.content_mass", *args])
        raise SystemExit(code)
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_flip_names_a_change_of_layers_and_seed(tmp_path, capsys):
    path = tmp_path / "flippable.py"
    path.write_text(FLIPPABLE.replace("h.u[0] - h.t)", "h.u[0] + h.t)"))
    base = tmp_path / "base.json"
    assert main(["check", "--claims", str(path), "--instances", "20", "--layers", "numeric", "--json", str(base)]) == 0
    report = json.loads(base.read_text())
    report["claims"][0]["layers"]["numeric"]["status"] = "CONSISTENT"  # as if the numeric layer once passed
    report["claims"][0]["outcome"] = "holds"
    base.write_text(json.dumps(report))
    capsys.readouterr()
    code = main(["check", "--claims", str(path), "--instances", "20", "--layers", "numeric,smt", "--seed", "4",
                 "--baseline", str(base)])
    out = capsys.readouterr().out
    assert code == 1
    assert "outcome holds -> fails (numeric CONSISTENT -> VIOLATED); layers run: numeric then numeric,smt" in out
    assert "the baseline was run with seed 0, this run with seed 4" in out
