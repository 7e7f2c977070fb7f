"""The mutation suite's harness, shared by `test_mutants.py` and `bench/bench_mutants.py`.

Every ``false_*.py`` / ``true_*.py`` file next to this one is an ordinary claims file (``CLAIMS = [...]``, written
with the public API of `proofs` exactly as docs/writing-claims.md shows) that also declares ``TRUTH = False`` or
``TRUTH = True``: whether every claim in it is really false or really true. Each claim states ``expected="holds"``,
as the user who believes it would, so the verdict ``ok`` on a false claim means the tool was fooled.

Soundness rules checked (design.md rules 1-5, issue 12):

* a false claim never has verdict ``ok`` and no layer says PROVED on it;
* a true claim is never REFUTED / VIOLATED / COUNTEREXAMPLE at any layer.

``search_planted.py`` holds `proofs.z3_search` problems whose target a planted prefix reaches: the answer must never
be IMPOSSIBLE.
"""
from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofs import Context, Status
from proofs.claim import Claim

HERE = Path(__file__).resolve().parent
# small run settings: the whole suite must stay within a few minutes on a loaded 2-core machine
CTX = Context(seed=0, instances=64, timeout=10.0)
REFUTING = (Status.REFUTED, Status.VIOLATED, Status.COUNTEREXAMPLE)


def claim_files() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.stem.startswith(("false_", "true_")))


def truth_of(path: Path) -> bool:
    """The file's declared ``TRUTH`` (a literal True / False at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TRUTH" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, bool):
                return value
    raise ValueError(f"{path.name} declares no TRUTH = True / False")


def load(path: Path) -> list[Claim]:
    """The claims of one mutant file, loaded the way ``prefixcheck check --claims`` loads them."""
    from proofs import load_claim_file
    from proofs.registry import catalogue

    loaded = load_claim_file(path, reserved=[c.id for c in catalogue()])
    if loaded.errors:
        raise RuntimeError("; ".join(f"{e.where}: {e.message}" for e in loaded.errors))
    return loaded.claims


def all_mutants() -> list[tuple[Path, bool, Claim]]:
    return [(path, truth_of(path), claim) for path in claim_files() for claim in load(path)]


@dataclass
class Judged:
    """One mutant's run: its declared truth, the verdict, each layer's status and the rule violations."""

    id: str
    file: str
    truth: bool
    verdict: str
    statuses: dict[str, str]
    details: dict[str, str]
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        return any(s == Status.PROVED.value for s in self.statuses.values())

    def line(self) -> str:
        layers = ", ".join(f"{k} {v}" for k, v in self.statuses.items())
        return f"{self.id} [{'true' if self.truth else 'false'}]: {self.verdict} ({layers})"


def judge(path: Path, truth: bool, claim: Claim, ctx: Context | None = None) -> Judged:
    from proofs.runner import run_claim

    start = time.perf_counter()
    result = run_claim(claim, ctx or CTX)
    seconds = time.perf_counter() - start
    statuses = {name: r.status.value for name, r in result.layers.items()}
    details = {name: r.detail for name, r in result.layers.items()}
    j = Judged(claim.id, path.name, truth, result.verdict, statuses, details, seconds)
    if truth:
        for name, r in result.layers.items():
            if r.status in REFUTING:
                j.problems.append(f"true claim {r.status.value} by the {name} layer: {r.detail}")
    else:
        if result.verdict == "ok":
            j.problems.append("false claim has verdict ok")
        for name, r in result.layers.items():
            if r.status is Status.PROVED:
                j.problems.append(f"false claim PROVED by the {name} layer: {r.detail}")
    return j


# ---- planted search problems ----------------------------------------------------------------------------------

@dataclass
class SearchJudged:
    id: str
    verdict: str
    detail: str
    seconds: float

    @property
    def problems(self) -> list[str]:
        return [f"reachable target answered IMPOSSIBLE: {self.detail}"] if self.verdict == "IMPOSSIBLE" else []


def planted_problems() -> list[tuple[str, Any]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutants_search_planted", HERE / "search_planted.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return list(module.PLANTED)


def judge_search(name: str, build: Any, timeout: float = CTX.timeout) -> SearchJudged:
    from proofs.z3_search import search

    start = time.perf_counter()
    problem = build()
    try:
        out = search(problem, timeout, seed=0, starts=0)  # no optimiser starts: the solver must decide
        verdict, detail = out.verdict, out.detail
    except Exception as exc:  # a crash is not IMPOSSIBLE, but it is reported
        verdict, detail = "ERROR", f"{type(exc).__name__}: {exc}"
    return SearchJudged(name, verdict, detail, time.perf_counter() - start)
