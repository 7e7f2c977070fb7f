"""The mutation suite (tests/mutants, issue 12), measured in one run: every false and true mutant claim through
the runner with the suite's settings (64 instances, 10 s timeout), and the planted search problems.

Counts: false claims whose verdict is ``ok``, false claims PROVED at some layer, true claims refuted
(REFUTED / VIOLATED / COUNTEREXAMPLE at some layer), true claims PROVED (at some layer / ok overall), planted
reachable targets answered IMPOSSIBLE; and the time, per family and in total. Every rule violation is listed.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

MUTANTS = Path(__file__).resolve().parent.parent / "tests" / "mutants"


def _harness():
    if str(MUTANTS) not in sys.path:
        sys.path.insert(0, str(MUTANTS))
    import harness

    return harness


def measure() -> dict:
    h = _harness()
    start = time.perf_counter()
    judged = [h.judge(path, truth, claim) for path, truth, claim in h.all_mutants()]
    searches = [h.judge_search(name, build) for name, build in h.planted_problems()]
    seconds = time.perf_counter() - start
    false = [j for j in judged if not j.truth]
    true = [j for j in judged if j.truth]
    per_file: dict[str, dict] = defaultdict(lambda: {"claims": 0, "seconds": 0.0, "violations": 0})
    for j in judged:
        row = per_file[j.file]
        row["claims"] += 1
        row["seconds"] += j.seconds
        row["violations"] += bool(j.problems)
    return {
        "false_claims": len(false),
        "false_ok": sum(j.verdict == "ok" for j in false),
        "false_proved": sum(j.proved for j in false),
        "true_claims": len(true),
        "true_refuted": sum(bool(j.problems) for j in true),
        "true_proved": sum(j.proved for j in true),
        "true_ok": sum(j.verdict == "ok" for j in true),
        "planted_searches": len(searches),
        "planted_impossible": sum(s.verdict == "IMPOSSIBLE" for s in searches),
        "errors": sum("ERROR" in j.statuses.values() for j in judged),
        "seconds": seconds,
        "per_file": dict(per_file),
        "violations": [{"id": j.id, "verdict": j.verdict, "layers": j.statuses, "problems": j.problems}
                       for j in judged if j.problems]
                      + [{"id": s.id, "verdict": s.verdict, "problems": s.problems} for s in searches if s.problems],
        "true_not_proved": [{"id": j.id, "verdict": j.verdict, "layers": j.statuses,
                             "details": {k: v[:160] for k, v in j.details.items() if j.statuses[k] != "PROVED"}}
                            for j in true if not j.proved or j.verdict != "ok"],
        "planted": [{"id": s.id, "verdict": s.verdict, "seconds": round(s.seconds, 2)} for s in searches],
        "error_layers": [{"id": j.id, "layer": k, "detail": j.details[k][:200]} for j in judged
                         for k, v in j.statuses.items() if v == "ERROR"],
    }


def run(console: Console) -> dict:
    out = measure()
    t = Table(title="mutation suite (tests/mutants)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("false claims", str(out["false_claims"]))
    t.add_row("  verdict ok (must be 0)", str(out["false_ok"]))
    t.add_row("  PROVED at some layer (must be 0)", str(out["false_proved"]))
    t.add_row("true claims", str(out["true_claims"]))
    t.add_row("  refuted at some layer (must be 0)", str(out["true_refuted"]))
    t.add_row("  PROVED at some layer", str(out["true_proved"]))
    t.add_row("  verdict ok", str(out["true_ok"]))
    t.add_row("planted search problems IMPOSSIBLE (must be 0)",
              f"{out['planted_impossible']} of {out['planted_searches']}")
    t.add_row("claims with an ERROR layer", str(out["errors"]))
    t.add_row("time", f"{out['seconds']:.1f} s")
    console.print(t)
    files = Table(title="per file")
    for col in ("file", "claims", "violations", "seconds"):
        files.add_column(col, justify="left" if col == "file" else "right")
    for name, row in sorted(out["per_file"].items()):
        files.add_row(name, str(row["claims"]), str(row["violations"]), f"{row['seconds']:.1f}")
    console.print(files)
    if out["true_not_proved"]:
        console.print("true claims not proved (or not ok):")
        for v in out["true_not_proved"]:
            console.print(f"  {v['id']}: {v['verdict']} {v['layers']}")
            for layer, detail in v["details"].items():
                console.print(f"      {layer}: {detail}")
    if out["error_layers"]:
        console.print("ERROR layers (not unsound, but the layer decided nothing):")
        for e in out["error_layers"]:
            console.print(f"  {e['id']} {e['layer']}: {e['detail']}")
    if out["violations"]:
        console.print("rule violations:")
    for v in out["violations"]:
        console.print(f"  {v['id']}: {v['verdict']} {v.get('layers', '')}")
        for p in v["problems"]:
            console.print(f"      {p[:200]}")
    return out
