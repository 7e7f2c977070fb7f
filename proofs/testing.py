"""pytest integration: keep claims green in a test suite.

    from proofs import assert_claim, claim_tests

    def test_relative_attention():
        assert_claim("prefix.relative_attention")                 # a catalogue claim

    def test_my_shift():
        assert_claim("example.prefix_shift", claims="docs/examples/prefix_claims.py")

    test_examples = claim_tests("docs/examples/prefix_claims.py")  # one test item per claim of the file

    def test_my_false_twin_is_caught():
        assert_caught(my_claim(sign=-1))                          # every layer refutes a false variant

A claim passes when its verdict is ``ok`` (see `proofs.claim.verdict`). A failure raises `ClaimFailed` (an
`AssertionError`) whose message names the verdict, and for each layer its status, detail line (residual, error,
seed and instance) and witness. Nothing here imports pytest except `claim_tests`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from proofs.claim import LAYERS, Claim, Context, Status
from proofs.runner import ClaimResult, run_claim
from proofs.user_claims import LoadError, load_claim_file

#: The statuses by which a layer says a claim is false.
FAILS = frozenset({Status.REFUTED, Status.VIOLATED, Status.COUNTEREXAMPLE})


class ClaimFailed(AssertionError):
    """A claim whose verdict is not ``ok``; ``result`` holds every layer's result."""

    def __init__(self, message: str, result: ClaimResult) -> None:
        super().__init__(message)
        self.result = result


def _catalogue_ids() -> list[str]:
    from proofs.registry import catalogue

    return [c.id for c in catalogue()]


def find_claim(claim_id: str, claims: str | Path | None = None) -> Claim:
    """A claim by id: from the claims file ``claims`` if given (with its load errors as failures), else the
    catalogue."""
    from proofs.registry import catalogue, select

    if claims is None:
        (claim,) = select(catalogue(), [claim_id])
        return claim
    loaded = load_claim_file(claims, reserved=_catalogue_ids())
    for claim in loaded.claims:
        if claim.id == claim_id:
            return claim
    problems = [e for e in loaded.errors if e.claim_id in (claim_id, None)]
    if problems:
        raise AssertionError("; ".join(f"{e.where}: {e.message}" for e in problems))
    (claim,) = select(loaded.claims, [claim_id])  # raises UnknownClaim naming the closest ids
    return claim


def explain(result: ClaimResult, witness_chars: int = 600) -> str:
    """A readable account of a result: verdict, then each layer's status, detail and witness."""
    c = result.claim
    where = f" ({c.source})" if c.source != "catalogue" else ""
    expected = f"expected {c.expected}" if c.expected else "no expectation"
    lines = [f"claim {c.id}{where}: {result.verdict} -- {expected}, the layers say {result.outcome}"]
    for layer, r in result.layers.items():
        lines.append(f"  {layer:<9} {r.status.value:<15} {r.detail}")
        if r.witness is not None:
            text = json.dumps(r.witness, separators=(",", ":"), default=str)
            lines.append(f"  {'':<9} witness: {text[:witness_chars]}{' ...' if len(text) > witness_chars else ''}")
    return "\n".join(lines)


def assert_claim(claim: Claim | str, *, claims: str | Path | None = None, seed: int = 0, instances: int = 1000,
                 timeout: float = 30.0, tol: float = 1e-10, layers: Iterable[str] = LAYERS) -> ClaimResult:
    """Run a claim (a `Claim`, or an id looked up in ``claims`` or the catalogue) and raise `ClaimFailed` unless
    its verdict is ok. Returns the result."""
    __tracebackhide__ = True
    result = _run(claim, claims, Context(seed=seed, timeout=timeout, instances=instances, tol=tol), layers)
    if result.verdict != "ok":
        raise ClaimFailed(explain(result), result)
    return result


def assert_caught(claim: Claim | str, *, claims: str | Path | None = None, seed: int = 0, instances: int = 1000,
                  timeout: float = 30.0, tol: float = 1e-10, layers: Iterable[str] = LAYERS) -> ClaimResult:
    """Run a false twin (a claim declared ``expected="holds"`` that is false) and raise `ClaimFailed` unless it is
    caught everywhere: the verdict is ``mismatch`` and every layer that ran says the claim fails (REFUTED, VIOLATED
    or COUNTEREXAMPLE; an UNKNOWN or ERROR layer is not a catch). Returns the result."""
    __tracebackhide__ = True
    result = _run(claim, claims, Context(seed=seed, timeout=timeout, instances=instances, tol=tol), layers)
    missed = [layer for layer, r in result.layers.items() if r.status not in FAILS]
    if missed:
        why = f"layers {missed} do not fail"
    elif not result.layers:
        why = "no layer ran"
    elif result.verdict != "mismatch":
        why = f"verdict {result.verdict}"
    else:
        return result
    raise ClaimFailed(f"false twin not caught ({why})\n{explain(result)}", result)


def _run(claim: Claim | str, claims: str | Path | None, ctx: Context, layers: Iterable[str]) -> ClaimResult:
    """Run a claim, or the claim of that id in ``claims`` (or the catalogue), on ``layers``."""
    return run_claim(find_claim(claim, claims) if isinstance(claim, str) else claim, ctx, tuple(layers))


def claim_tests(path: str | Path, **options: Any) -> Any:
    """A pytest test function with one item per claim of the claims file ``path`` (and one failing item per
    load error). Assign it to a ``test_*`` name in a test module; ``options`` go to `assert_claim`."""
    import pytest

    loaded = load_claim_file(path, reserved=_catalogue_ids())
    params = [pytest.param(c, id=c.id) for c in loaded.claims]
    params += [pytest.param(e, id=f"load-error:{e.where}") for e in loaded.errors]

    @pytest.mark.parametrize("claim", params)
    def test_claim(claim: Claim | LoadError) -> None:
        __tracebackhide__ = True
        if isinstance(claim, LoadError):
            pytest.fail(f"{claim.where}: {claim.message}", pytrace=False)
        assert_claim(claim, **options)

    return test_claim
