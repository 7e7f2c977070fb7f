"""The public claim model: a `Claim` is a statement plus up to three independent checks.

A check is a function ``Context -> LayerResult``. Which statuses a layer may return is fixed by the soundness
rules of design.md:

* symbolic: PROVED (every residual reduced to 0) or REFUTED (a non-zero residual with a witness point);
* numeric:  CONSISTENT (max error over K instances <= tol) or VIOLATED (seed, instance, error);
* smt:      PROVED (negation UNSAT under a sound over-approximation) or COUNTEREXAMPLE (a solver model that
            survived re-checking on a float64 torch model);
* any:      UNKNOWN (timeout, solver ``unknown``, a model that failed re-checking) or ERROR (the check raised).

The overall verdict compares the layers with the claim's ``expected`` outcome (see `verdict`).
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from theory.kernel import Certificate, KernelError, from_record, genuine, recorded

if TYPE_CHECKING:
    from theory.derivation import Derivation

Expected = Literal["holds", "fails"] | None
LAYERS: tuple[str, ...] = ("symbolic", "numeric", "smt")


class Status(str, enum.Enum):  # noqa: UP042 (StrEnum would change str(status))
    PROVED = "PROVED"
    REFUTED = "REFUTED"
    CONSISTENT = "CONSISTENT"
    VIOLATED = "VIOLATED"
    COUNTEREXAMPLE = "COUNTEREXAMPLE"
    UNKNOWN = "UNKNOWN"
    ERROR = "ERROR"

    @property
    def supports(self) -> str | None:
        """'holds' or 'fails' if this status is evidence for that outcome, None if inconclusive."""
        if self in (Status.PROVED, Status.CONSISTENT):
            return "holds"
        if self in (Status.REFUTED, Status.VIOLATED, Status.COUNTEREXAMPLE):
            return "fails"
        return None


@dataclass
class LayerResult:
    """What one layer found. ``detail`` is one human line; the other fields go to the JSON report when set
    (``query``: what a solver was asked, in one line, for the LaTeX report; ``tolerance``: the numeric layer's
    acceptance rule).

    PROVED needs ``certificate``, a `theory.kernel.Certificate` the trusted kernel issued (design.md rule 1):
    building or changing a result into PROVED without one raises `theory.kernel.KernelError`. A result read back
    from a saved report carries the certificate's record (`theory.kernel.from_record`); the runner accepts only
    live certificates from a check."""

    status: Status
    detail: str = ""
    seconds: float = 0.0
    max_error: float | None = None
    instances: int | None = None
    abstraction: str | None = None
    witness: dict[str, Any] | None = None
    query: str | None = None
    certificate: Certificate | None = None
    tolerance: str | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("status", "certificate") and "certificate" in self.__dict__:
            self._check_certificate()

    def __post_init__(self) -> None:
        self._check_certificate()

    def _check_certificate(self) -> None:
        cert = self.certificate
        if cert is not None and not (genuine(cert) or recorded(cert)):
            raise KernelError("not a certificate issued by the trusted kernel")
        if self.status is Status.PROVED and cert is None:
            raise KernelError("PROVED needs a certificate issued by the trusted kernel (theory.kernel)")

    @property
    def scope(self) -> str | None:
        return self.certificate.scope if self.certificate is not None else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "seconds": round(self.seconds, 6), "detail": self.detail}
        for key in ("max_error", "instances", "abstraction", "witness", "query", "tolerance"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.certificate is not None:
            out["certificate"] = self.certificate.kind
            out["scope"] = self.certificate.scope
            out["evidence"] = self.certificate.evidence
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any], source: str) -> LayerResult:
        """The result that ``to_json`` wrote, read back: a certificate becomes a record naming ``source``
        (`theory.kernel.from_record`), never a live one. Raises KeyError, ValueError or TypeError on bad fields."""
        cert = (from_record({"kind": raw["certificate"], "scope": raw.get("scope", ""),
                             "abstraction": raw.get("abstraction", ""), "evidence": raw.get("evidence", "")}, source)
                if raw.get("certificate") else None)
        return cls(Status(raw["status"]), str(raw.get("detail", "")), float(raw.get("seconds", 0.0)),
                   raw.get("max_error"), raw.get("instances"), raw.get("abstraction"), raw.get("witness"),
                   raw.get("query"), cert, raw.get("tolerance"))


@dataclass(frozen=True)
class Context:
    """Run settings every check receives. All randomness derives from ``seed``.

    ``timeout`` (seconds, ``--timeout``) is the limit of *each solver query* a check makes: one z3 or cvc5 call
    (`theory.smt.solve`, `theory.kernel.run_z3`, ...), or one run of a search engine (`proofs.z3_search.search`,
    `proofs.layered.decide`), which spends it across its own steps. It is not a budget for the whole check: a
    check asking k queries may take up to k times ``timeout``. A query that runs out of time is UNKNOWN, never a
    pass (design.md rule 4). Numeric checks do not use it."""

    seed: int = 0
    timeout: float = 30.0
    instances: int = 1000
    tol: float = 1e-10
    rtol: float = 1e-9
    claim_id: str = ""

    def child_seed(self, label: str) -> int:
        """A stable per-check seed: ``seed`` mixed with the claim id and a label by a fixed (unsalted) hash."""
        import zlib

        return (self.seed * 1_000_003 + zlib.crc32(f"{self.claim_id}/{label}".encode())) % (2**31 - 1)


Check = Callable[[Context], LayerResult]


@dataclass(frozen=True)
class Claim:
    """A checkable statement about attention with prompts, prefixes or fine-tuning.

    id:          stable identifier, e.g. ``prefix.single.closed_form`` (see design.md)
    title:       one-line statement in words
    paper_ref:   where the paper states it (section / theorem / equation / figure; `proofs.paper`), then notes items
    statement:   the statement in LaTeX
    assumptions: the conditions under which it is claimed
    expected:    "holds", "fails" (pinned false: ok means a validated refutation), or None (just report)
    symbolic, numeric, smt: the checks; None means the layer does not apply
    derivation:  builds the `theory.derivation.Derivation` shown by ``prefixcheck show`` (optional)
    section:     catalogue section, for listing
    opt_in:      a slow claim that runs only when named (by id or prefix), not in a default ``check``
    """

    id: str
    title: str
    paper_ref: str
    statement: str
    assumptions: tuple[str, ...] = ()
    expected: Expected = "holds"
    symbolic: Check | None = None
    numeric: Check | None = None
    smt: Check | None = None
    derivation: Callable[[], Derivation] | None = None
    section: str = ""
    source: str = field(default="catalogue", compare=False)
    opt_in: bool = False

    def __post_init__(self) -> None:
        if not self.id or any(c.isspace() for c in self.id):
            raise ValueError(f"claim id must be a non-empty word, got {self.id!r}")
        if self.expected not in ("holds", "fails", None):
            raise ValueError(f"claim {self.id}: expected must be 'holds', 'fails' or None, got {self.expected!r}")
        if not self.checks():
            raise ValueError(f"claim {self.id}: needs at least one of symbolic / numeric / smt checks")

    def checks(self) -> dict[str, Check]:
        """The layers that apply, in the fixed order symbolic, numeric, smt."""
        return {name: fn for name in LAYERS if (fn := getattr(self, name)) is not None}


def verdict(expected: Expected, layers: dict[str, LayerResult]) -> tuple[str, str]:
    """Combine layer results into (verdict, outcome).

    outcome: "holds" / "fails" if every decisive layer agrees, "conflict" if they disagree, else "unknown".
    verdict: "mismatch" if any decisive layer contradicts ``expected`` (or, with no expectation, if the layers
    contradict each other); "inconclusive" if no contradiction but some layer is UNKNOWN/ERROR or none is
    decisive; "ok" otherwise.
    """
    support = {s for r in layers.values() if (s := r.status.supports) is not None}
    outcome = "conflict" if len(support) > 1 else (support.pop() if support else "unknown")
    undecided = any(r.status.supports is None for r in layers.values())
    if expected is None:
        if outcome == "conflict":
            return "mismatch", outcome
        return ("inconclusive" if undecided or outcome == "unknown" else "ok"), outcome
    if outcome == "conflict" or outcome not in (expected, "unknown"):
        return "mismatch", outcome
    return ("inconclusive" if undecided or outcome == "unknown" else "ok"), outcome
