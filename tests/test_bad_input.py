"""Bad input across every command: exit 2, one line on stderr, no traceback, no file left behind.

The table runs in-process through `proofs.cli.main` (fast); a few cases run as real processes, where a traceback
or a stray usage block would show, and one interrupts a real `check` with SIGINT.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proofs.cli import main

ROOT = Path(__file__).resolve().parents[1]

H = ["--head", "{tmp}/head.json", "--inputs", "{tmp}/inputs.json"]  # a valid search problem (with T)
T = ["--targets", "{tmp}/targets.json"]


def two_token_map(size: int) -> str:
    alphabet = "".join(chr(c) for c in range(ord("A"), ord("A") + size))
    return json.dumps({a + b: alphabet[(i + j) % size] for i, a in enumerate(alphabet)
                       for j, b in enumerate(alphabet)})


FILES = {
    "head.json": json.dumps({"W_Q": [[1, 0], [0, 1]], "W_K": [[1, 0], [0, 1]], "W_V": [[1, 0], [0, 1]]}),
    "negative_tau.json": json.dumps({"W_Q": [[1, 0]], "W_K": [[1, 0]], "W_V": [[1, 0]], "tau": -1}),
    "inputs.json": json.dumps([[[1, 0], [0, 1]]]),
    "targets.json": json.dumps([[0.5, 0.5]]),
    "bad.json": "{not json",
    "plain": "a plain file",
    "syntax.py": "from proofs import Claim\n\nCLAIMS = [Claim(\n",
    "empty.py": "x = 1\n",
    "bogus_base.json": json.dumps({"claims": [{"id": "prefix.ordering", "verdict": "ok",
                                               "layers": {"smt": {"status": "BOGUS", "seconds": 0.1}}}]}),
    "map41.json": two_token_map(41),
    "matrix.json": json.dumps({"cells": [{"variant": "x"}]}),
}

CASES = [
    # the command line itself
    ([], "required: COMMAND"),
    (["chek"], "invalid choice: 'chek'"),
    (["--bogus", "list"], "unrecognized arguments"),
    (["completion", "fish"], "invalid choice: 'fish'"),
    # list / show
    (["list", "--claims", "{tmp}/missing.py"], "claims file not found"),
    (["show", "prefix.ordring"], "closest: prefix.ordering"),
    (["show"], "required: id"),
    # check
    (["check", "prefix.singel.closed_form"], "closest: prefix.single.closed_form"),
    (["check", "--layers", "symbolic,proof"], "unknown layer"),
    (["check", "--timeout", "-1"], "positive finite"),
    (["check", "--timeout", "nan"], "positive finite"),
    (["check", "--instances", "0"], "must be positive"),
    (["check", "--instances", "1e9"], "over the limit 1,000,000"),
    (["check", "--instances", "1.5"], "not an integer"),
    (["check", "--seed", "-1"], "seed must be >= 0"),
    (["check", "--seed", "x"], "not an integer"),
    (["check", "--json"], "expected one argument"),
    (["check", "--json", "/proc/prefixcheck.json"], "cannot write --json /proc/prefixcheck.json"),
    (["check", "--json", "{tmp}"], "it is a directory"),
    (["check", "--json", "{tmp}/plain/out.json"], "is not a directory"),
    (["check", "--json", "{tmp}/missing/out.json"], "no such directory"),
    (["check", "--baseline", "{tmp}/missing.json"], "baseline not found"),
    (["check", "--baseline", "{tmp}/bogus_base.json"], "has status 'BOGUS'"),
    (["check", "--slowdown", "2"], "give --baseline"),
    (["check", "--claims", "{tmp}/syntax.py"], "SyntaxError"),
    (["check", "--claims", "{tmp}/empty.py"], "defines no claims"),
    (["check", "--claims", "{tmp}/plain"], "must be a Python file"),
    (["check", "capacity.hard_token_bound", "--layers", "smt"], "no selected claim has a smt check"),
    # matrix
    (["matrix", "--variants", "pre/nowhere/causal"], "nowhere"),
    (["matrix", "--ids", "prefix.nope"], "unknown matrix claim"),
    (["matrix", "--layer", "3"], "--layer must be 1 or 2"),
    (["matrix", "--width", "0"], "must be positive"),
    (["matrix", "--prefix", "both"], "invalid choice: 'both'"),
    (["matrix", "--json", "/proc/matrix.json"], "cannot write --json"),
    # search
    (["search", "--head", "{tmp}/missing.json", "--inputs", "{tmp}/inputs.json", *T], "head file not found"),
    (["search", "--head", "{tmp}/bad.json", "--inputs", "{tmp}/inputs.json", *T], "not valid JSON"),
    (["search", "--head", "{tmp}/negative_tau.json", "--inputs", "{tmp}/inputs.json", *T], "tau must be"),
    ([*(["search"] + H)], "give --targets and/or --orderings"),
    (["search", *H, *T, "--tol", "-1"], "must be positive"),
    (["search", *H, *T, "--method", "magic"], "invalid choice: 'magic'"),
    (["search", *H, *T, "--out", "/proc/witness.json"], "cannot write --out"),
    (["search", *H, *T, "--json", "{tmp}"], "it is a directory"),
    # construct
    (["construct"], "required: KIND"),
    (["construct", "unconditional", "--target", "hi", "--N", "1000000"], "over the limit 400"),
    (["construct", "unconditional", "--target", "hello", "--N", "3"], "more than --N 3"),
    (["construct", "unconditional", "--target", "hi", "--V", "200"], "V <= 95"),
    (["construct", "unconditional", "--target", "hi", "--T", "-1"], "must be positive"),
    (["construct", "unconditional", "--target", "hi", "--json", "{tmp}"], "it is a directory"),
    (["construct", "map", "--map", "{not json"], "not valid JSON"),
    (["construct", "map", "--map", '{"a": "b"}', "--alphabet", "ab"], "no entry for 'b'"),
    (["construct", "map", "--map", "{tmp}/map41.json"], "over the limit V = 40"),
    (["construct", "sweep", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["construct", "approx", "--f", "sin(x)", "--lipschitz", "1", "--eps", "0.001"], "over the limit 500"),
    (["construct", "approx", "--f", "sin(x)", "--lipschitz", "1", "--eps", "0.1", "--figure", "/proc/f.png"],
     "cannot write --figure"),
    # audit
    # imports transformers + peft (seconds): `make test-fast` leaves it out
    pytest.param(["audit", "--arch", "resnet"], "unknown --arch 'resnet'", marks=pytest.mark.slow),
    (["audit", "--arch", "gpt2", "--method", "lora"], "unsupported method 'lora'"),
    (["audit", "--arch", "gpt2", "--tokens", "1"], "--tokens must be >= 2"),
    (["audit", "--arch", "gpt2", "--init-std", "-1"], "finite number >= 0"),
    (["audit", "--arch", "gpt2", "--json", "/proc/audit.json"], "cannot write --json"),
    # reproduce
    (["reproduce", "e9"], "invalid choice: 'e9'"),
    (["reproduce", "e1", "--threads", "0"], "must be positive"),
    (["reproduce", "e1", "--json", "/proc/e1.json"], "cannot write --json"),
    (["reproduce", "e1", "--figures", "{tmp}/plain"], "not a directory"),
    # coverage
    (["coverage", "-o", "/proc/coverage.md"], "cannot write -o /proc/coverage.md"),
    (["coverage", "-o", "{tmp}"], "it is a directory"),
    (["coverage", "--results", "{tmp}/bad.json"], "not readable JSON"),
    # latex
    (["latex", "-o", "{tmp}/plain"], "not a directory"),
    (["latex", "-o", "/proc/report"], "cannot create the output directory"),
    (["latex", "prefix.contractoin", "-o", "{tmp}/report"], "closest: prefix.contraction"),
    (["latex", "--results", "{tmp}/bad.json", "-o", "{tmp}/report"], "not readable JSON"),
    (["latex", "prefix.contraction", "--matrix", "{tmp}/matrix.json", "-o", "{tmp}/report"], "matrix"),
    (["latex", "--claims", "{tmp}/empty.py", "-o", "{tmp}/report"], "defines no claims"),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the input files, nothing else (so default outputs would land here)."""
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_the_table_covers_every_command_with_40_cases() -> None:
    assert len(CASES) >= 40
    from proofs.cli import build_parser

    commands = set(next(a for a in build_parser()._actions if a.dest == "command").choices)
    assert commands <= {args[0] for args, _ in (getattr(c, "values", c) for c in CASES) if args}


@pytest.mark.parametrize("args, needle", CASES,
                         ids=[" ".join(getattr(c, "values", c)[0])[:60] or "(none)" for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(workdir: Path, capsys: pytest.CaptureFixture,
                                                         args: list[str], needle: str) -> None:
    before = files_in(workdir)
    code = main([a.replace("{tmp}", str(workdir)) for a in args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("prefixcheck: error:"), lines
    assert needle in lines[0] and "Traceback" not in err
    assert files_in(workdir) == before


def run(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300, **kwargs)


@pytest.mark.parametrize("args", [
    ["check", "--instances", "1e9"],
    ["check", "--json", "/proc/prefixcheck.json"],
    ["construct", "unconditional", "--target", "hi", "--N", "1000000"],
    ["matrix", "--bogus"],
])
def test_a_real_process_prints_one_line_and_no_usage_block(tmp_path: Path, args: list[str]) -> None:
    proc = run(args, tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "usage:" not in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_help_shows_defaults_and_version_is_printed(capsys: pytest.CaptureFixture) -> None:
    assert main(["check", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 1000)" in out and "(default: 30.0)" in out and "(default: symbolic,numeric,smt)" in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("prefixcheck ")


BLOCKING = """\
import time
from pathlib import Path

from proofs import Claim, LayerResult, Status


def blocks(ctx):
    Path("started").write_text("")
    while True:
        time.sleep(0.05)


CLAIMS = [Claim("mine.blocks", "a check that never returns", "-", "-", numeric=blocks)]
"""


@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line_and_no_file(tmp_path: Path) -> None:
    (tmp_path / "blocking.py").write_text(BLOCKING)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "proofs", "check", "--claims", "blocking.py", "--json", "out.json"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while not (tmp_path / "started").exists():  # wait for the check to be running, not for a time
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["prefixcheck: interrupted; no partial output was written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocking.py", "started"]
