"""Regression baselines: compare a run with a previous ``prefixcheck check --json`` report.

Reported, claim by claim (both sides in the JSON shape of design.md):

* flip:    the verdict (ok / mismatch / inconclusive) or the outcome (holds / fails / unknown / conflict)
           changed; any flip makes ``check --baseline`` exit 1;
* status:  a layer's status changed without changing verdict or outcome (e.g. PROVED -> CONSISTENT);
* slower:  a layer now takes more than ``factor`` times its baseline time (and at least `MIN_SECONDS`, so that
           millisecond jitter is not reported);
* new:     a claim of this run that the baseline does not have;
* removed: a baseline claim that no longer exists (claims that exist but were not selected are only counted).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIN_SECONDS = 0.1


class BaselineError(Exception):
    """The baseline file is missing or is not a prefixcheck JSON report."""


@dataclass
class Baseline:
    path: str
    claims: dict[str, dict[str, Any]]
    seed: Any = None


def load(path: str | Path) -> Baseline:
    """A ``--json`` report: its claims by id, and the seed it was run with."""
    p = Path(path)
    if not p.is_file():
        raise BaselineError(f"baseline not found: {path}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"baseline {path} is not JSON ({exc})") from None
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, list) or not all(
            isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("verdict"), str)
            and isinstance(c.get("layers", {}), dict) for c in claims):
        raise BaselineError(f"baseline {path} is not a prefixcheck --json report (no list of claims with id, verdict)")
    _check_values(claims, path)
    environment = data.get("environment")
    seed = environment.get("seed") if isinstance(environment, dict) else None
    return Baseline(str(path), {c["id"]: c for c in claims}, seed)


VERDICTS = ("ok", "mismatch", "inconclusive", "not run")


def _check_values(claims: list[dict[str, Any]], path: str | Path) -> None:
    """Every verdict and every layer status must be one this version writes (a typo would silently compare as a
    change)."""
    from proofs.claim import LAYERS, Status

    statuses = {s.value for s in Status}
    for c in claims:
        if c["verdict"] not in VERDICTS:
            raise BaselineError(f"baseline {path}: claim {c['id']} has verdict {c['verdict']!r}; "
                                f"expected one of {', '.join(VERDICTS)}")
        for layer, result in c.get("layers", {}).items():
            if layer not in LAYERS or not isinstance(result, dict):
                raise BaselineError(f"baseline {path}: claim {c['id']} has an unknown layer {layer!r}")
            if result.get("status") not in statuses:
                raise BaselineError(f"baseline {path}: claim {c['id']}, layer {layer} has status "
                                    f"{result.get('status')!r}; expected one of {', '.join(sorted(statuses))}")


@dataclass
class Change:
    kind: str  # flip | status | slower | new | removed
    claim_id: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.claim_id, "change": self.text}


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    not_run: int = 0

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def flips(self) -> list[Change]:
        return self.of("flip")

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes], "not_run": self.not_run}


def _statuses(claim: dict[str, Any]) -> dict[str, str]:
    return {layer: str(r.get("status")) for layer, r in claim.get("layers", {}).items() if isinstance(r, dict)}


def _seconds(result: Any) -> float:
    value = result.get("seconds") if isinstance(result, dict) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


def compare(baseline: dict[str, dict[str, Any]], current: Iterable[dict[str, Any]], known_ids: Iterable[str],
            factor: float = 3.0) -> Diff:
    """Changes from ``baseline`` (claims by id, `Baseline.claims`) to ``current`` (JSON claim objects);
    ``known_ids`` are the claims that exist now."""
    diff = Diff()
    now = {c["id"]: c for c in current}
    for cid, new in now.items():
        old = baseline.get(cid)
        if old is None:
            diff.changes.append(Change("new", cid, f"new claim: {new['verdict']} ({new.get('outcome', '?')})"))
            continue
        before, after = _statuses(old), _statuses(new)
        layer_moves = ", ".join(f"{layer} {before[layer]} -> {after[layer]}"
                                for layer in after if layer in before and before[layer] != after[layer])
        verdict_moved = old["verdict"] != new["verdict"]
        outcome_moved = "outcome" in old and old.get("outcome") != new.get("outcome")
        if verdict_moved or outcome_moved:
            moves = [f"verdict {old['verdict']} -> {new['verdict']}"] if verdict_moved else []
            moves += [f"outcome {old['outcome']} -> {new.get('outcome')}"] if outcome_moved else []
            text = ", ".join(moves) + (f" ({layer_moves})" if layer_moves else "")
            if list(before) != list(after):
                text += f"; layers run: {','.join(before) or 'none'} then {','.join(after) or 'none'}"
            diff.changes.append(Change("flip", cid, text))
        elif layer_moves:
            diff.changes.append(Change("status", cid, layer_moves))
        for layer, result in new.get("layers", {}).items():
            if layer not in old.get("layers", {}):
                continue
            t0, t1 = _seconds(old["layers"][layer]), _seconds(result)
            if t1 >= MIN_SECONDS and t1 > factor * t0:
                ratio = f"{t1 / t0:.1f}x" if t0 > 0 else "from 0"
                diff.changes.append(Change("slower", cid,
                                           f"{layer} {t0:.2f}s -> {t1:.2f}s ({ratio}, limit {factor:g}x)"))
    known = set(known_ids)
    for cid in baseline:
        if cid in now:
            continue
        if cid in known:
            diff.not_run += 1
        else:
            diff.changes.append(Change("removed", cid, f"claim no longer exists (was {baseline[cid]['verdict']})"))
    return diff


STYLE = {"flip": "bold red", "status": "yellow", "slower": "yellow", "new": "cyan", "removed": "magenta"}


def print_diff(console: Any, diff: Diff, baseline: Baseline, seed: int) -> None:
    from rich.markup import escape

    counts = ", ".join(f"{len(diff.of(k))} {k}" for k in ("flip", "status", "slower", "new", "removed"))
    console.print(f"[bold]vs baseline {escape(baseline.path)}:[/bold] {counts}", highlight=False)
    if baseline.seed is not None and baseline.seed != seed:
        console.print(f"  [dim]the baseline was run with seed {baseline.seed}, this run with seed {seed}: "
                      f"witnesses and timings may differ[/dim]", highlight=False)
    for change in diff.changes:
        style = STYLE[change.kind]
        console.print(f"  [{style}]{change.kind:<7}[/{style}] [cyan]{escape(change.claim_id)}[/cyan]: "
                      f"{escape(change.text)}",
                      highlight=False, soft_wrap=True)
    if diff.not_run:
        console.print(f"  [dim]{diff.not_run} baseline claim(s) not selected in this run, not compared[/dim]")
