"""One exit-status table: the code's (`proofs.cliutil.EXIT_CODES`) is the one README.md, docs/guide.md and
docs/writing-claims.md print, and the commands return those statuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from proofs import cliutil
from proofs.claim import Claim, LayerResult, Status
from proofs.report import exit_code
from proofs.runner import ClaimResult

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("doc", ["README.md", "docs/guide.md", "docs/writing-claims.md"])
def test_every_doc_prints_the_codes_table(doc: str) -> None:
    assert cliutil.exit_code_table() in (ROOT / doc).read_text()


def test_report_statuses_match_the_table() -> None:
    claim = Claim("t.x", "t", "-", "-", numeric=lambda ctx: LayerResult(Status.CONSISTENT))
    result = {v: ClaimResult(claim, {}, v, "holds") for v in ("ok", "mismatch", "inconclusive")}
    assert exit_code([result["ok"]]) == cliutil.EXIT_OK == 0
    assert exit_code([result["ok"], result["mismatch"], result["inconclusive"]]) == cliutil.EXIT_MISMATCH == 1
    assert exit_code([result["ok"], result["inconclusive"]]) == cliutil.EXIT_INCONCLUSIVE == 3
    assert [code for code, _ in cliutil.EXIT_CODES] == [0, 1, 2, 3, 130]


def test_usage_error_and_interrupt_statuses(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from proofs import cli

    assert cli.main(["check", "--seed", "x"]) == cliutil.EXIT_USAGE

    def interrupted(args, console):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_list", interrupted)
    assert cli.main(["list"]) == cliutil.EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines()[-1] == "prefixcheck: interrupted; no partial output was written"


@pytest.mark.slow
def test_the_program_exits_with_its_status_and_all_its_output_after_a_parallel_check(tmp_path: Path) -> None:
    """`prefixcheck` ends without interpreter teardown (`proofs.cli.exit_now`): its status, its piped output and its
    JSON report are all there, after a parallel run that imported torch in the program itself."""
    import json
    import os
    import subprocess
    import sys

    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "proofs", "check", "prefix.ordering", "prefix.bias_parallel_naive",
                           "-j", "2", "--json", str(report)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PREFIXCHECK_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == cliutil.EXIT_OK, proc.stderr
    assert "2 claims: 2 ok" in proc.stdout and proc.stdout.rstrip().endswith(f"JSON report written to {report}")
    assert [c["verdict"] for c in json.loads(report.read_text())["claims"]] == ["ok", "ok"]
    bad = subprocess.run([sys.executable, "-m", "proofs", "check", "no.such.claim"], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert bad.returncode == cliutil.EXIT_USAGE and bad.stderr.startswith("prefixcheck: error: unknown claim id")
