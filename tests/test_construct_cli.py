"""``prefixcheck construct``: generation from a virtual token, user maps, sweeps, and bad input (one line, exit 2)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proofs.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, timeout=300)


def test_unconditional_prints_the_virtual_token_and_the_generated_text(tmp_path, capsys):
    path = tmp_path / "out.json"
    assert main(["construct", "unconditional", "--V", "94", "--N", "20", "--target", "any text",
                 "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "'any text            '" in out and "certified = target" in out and "65/94" in out
    result = json.loads(path.read_text())
    assert result["float64_ok"] and result["exact_ok"] and result["virtual_token"][0] == "65/94"


def test_unconditional_below_the_threshold_reports_the_wrong_generation(capsys):
    # '}' is the worst symbol at V = 94; T* = 39.65 for N = 20
    assert main(["construct", "unconditional", "--V", "94", "--N", "20", "--target", "}" * 20, "--T", "39.6"]) == 1
    out = capsys.readouterr().out
    assert "!= target" in out and "certified, != target" in out


@pytest.mark.parametrize("mapping, rows", [
    ({"a": "b", "b": "c", "c": "a"}, 3),
    ({"a": "xy", "x": "ax", "y": "yy"}, 3),
    ({a + b: ("ab"[(i + j) % 2]) for i, a in enumerate("ab") for j, b in enumerate("ab")}, 4),
])
def test_map_kinds_generate_every_entry(tmp_path, capsys, mapping, rows):
    spec = tmp_path / "map.json"
    spec.write_text(json.dumps(mapping))
    out_json = tmp_path / "out.json"
    assert main(["construct", "map", "--map", str(spec), "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["float64_ok"] == rows and result["exact_ok"] == rows
    assert f"{rows}/{rows} entries generated as mapped" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_default_plan_passes_and_float32_breaks_the_two_token_table(tmp_path):
    out = tmp_path / "sweep.json"
    assert main(["construct", "sweep", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert all(s["failures"] == 0 for s in report["sweeps"]) and len(report["sweeps"]) >= 8
    assert main(["construct", "sweep", "--dtype", "float32", "--no-exact", "--json", str(out)]) == 1
    failed = [s["label"] for s in json.loads(out.read_text())["sweeps"] if s["failures"]]
    assert failed == ["[V]^2->[V] map V=10 10 random"]


@pytest.mark.parametrize("args, needle", [
    (["construct", "unconditional", "--V", "94", "--N", "5", "--target", "far too long"], "more than --N 5"),
    (["construct", "unconditional", "--V", "0", "--N", "5", "--target", "a"], "must be positive"),
    (["construct", "unconditional", "--V", "94", "--N", "0", "--target", "a"], "must be positive"),
    (["construct", "unconditional", "--V", "10", "--N", "5", "--target", "az"], "outside the vocabulary"),
    (["construct", "unconditional", "--V", "94", "--N", "5", "--target", "é"], "outside the vocabulary"),
    (["construct", "unconditional", "--V", "200", "--N", "5", "--target", "a"], "V <= 95"),
    (["construct", "unconditional", "--V", "94", "--N", "5", "--target", "a", "--T", "nan"], "not a number"),
    (["construct", "map", "--map", '{"a": "b"}'], "no entry for 'b'"),
    (["construct", "map", "--map", '{"ab": "a", "aa": "b"}'], "no entry for 'ba'"),
    (["construct", "map", "--map", "{bad"], "not valid JSON"),
    (["construct", "map", "--map", "/no/such/map.json"], "no such file"),
    (["construct", "map", "--map", '{"ab": "c", "a": "b"}'], "keys must all be"),
    (["construct", "map", "--map", '{"a": "b", "b": "a"}', "--alphabet", "ab!"], "no entry for '!'"),
    (["construct", "map", "--map", '{"a": 1}'], "non-empty strings"),
])
def test_bad_input_is_one_line_exit_2(args, needle, capsys):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1


def test_bad_input_in_a_real_process():
    proc = run_cli("construct", "map", "--map", '{"a": "b"}')
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "prefixcheck: error: --map has no entry for 'b': it must define every one of " \
                                  "the 2 inputs over its alphabet"
