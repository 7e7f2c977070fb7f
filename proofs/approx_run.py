"""One run of the universal-approximator construction for a user target (the ``construct approx`` command, the
figures and the docs): derived N and T, the certified sup error by branch-and-bound, the sampled error on the
float64 reference model, and the curves for a figure.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from theory.approx import Construction, Target
    from theory.kernel import Certificate


def load_table(text: str) -> tuple[list[Any], list[Any] | None]:
    """A JSON list of values at equally spaced angles 2πj/J, or {"theta": [...], "f": [...]}, given inline or as
    a file; ValueError with a one-line reason."""
    path = Path(text)
    try:
        raw = path.read_text() if not text.lstrip().startswith(("[", "{")) and path.exists() else text
        data = json.loads(raw, parse_float=str)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--table is neither a JSON table nor a readable file holding one ({exc})") from None
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and set(data) == {"theta", "f"} and isinstance(data["theta"], list) \
            and isinstance(data["f"], list):
        return data["f"], data["theta"]
    raise ValueError('--table must be a JSON list of values or {"theta": [...], "f": [...]}')


@dataclass
class Run:
    """The outcome for one target: sizes, the certified bound (upper, lower, complete, boxes), the sampled error,
    and the construction."""

    name: str
    L: Fraction
    eps: Fraction
    N: int
    T: int
    N_eps: int
    M: Fraction
    certified_upper: Fraction
    certified_lower: Fraction
    complete: bool
    boxes: int
    sampled: float
    sampled_theta: float
    samples: int
    seconds: float
    construction: Construction
    target: Target
    certificate: Certificate | None = None

    @property
    def verdict(self) -> str:
        """"ok" (certified <= ε), "fails" (certified > ε somewhere) or "undecided"."""
        if self.certified_lower > self.eps:
            return "fails"
        return "ok" if self.complete and self.certified_upper <= self.eps else "undecided"

    def to_json(self) -> dict[str, Any]:
        return {"f": self.name, "lipschitz": str(self.L), "eps": str(self.eps), "N": self.N, "T": self.T,
                "N_eps": self.N_eps, "sup_f": float(self.M), "certified_sup_upper": float(self.certified_upper),
                "certified_sup_lower": float(self.certified_lower), "complete": self.complete, "boxes": self.boxes,
                "sampled_max_error": self.sampled, "sampled_at": self.sampled_theta, "samples": self.samples,
                "seconds": round(self.seconds, 3), "verdict": self.verdict,
                "certificate": self.certificate.to_json() if self.certificate is not None else None}


def run(target: Target, eps: Fraction, N: int | None = None, T: int | None = None,
        rtol: Fraction = Fraction(1, 50), max_boxes: int = 30_000) -> Run:
    """Build the construction for ``target`` (N default N(ε), T default T(ε) with M = certified sup |f|), certify
    its sup error and sample it."""
    from numeric.approx import circle_error
    from theory.approx import ABSTRACTION, Enclosure, for_target, sup_abs, uniform_sizes
    from theory.branch_bound import certify_cover

    start = time.perf_counter()
    n_eps, n, t = uniform_sizes(target, eps, N, T)
    con = for_target(target, n, t)
    result = sup_abs(Enclosure(con, target=target).box, 8 * n, rtol=rtol, bound=eps, max_boxes=max_boxes)
    cert = None
    if result.complete and result.lower <= eps:
        cert = certify_cover(result, result.upper, f"{target.scope}, N = {n}, T = {t}, every θ", ABSTRACTION,
                             "|H − f|")
    s = circle_error(con, target.values)
    return Run(target.name, target.lipschitz, eps, n, t, n_eps, target.sup_abs(), result.upper, result.lower,
               result.complete, result.evaluations, s.max_error, s.theta, s.samples, time.perf_counter() - start,
               con, target, cert)


def curves(r: Run, points: int = 2000) -> tuple[list[float], list[float], list[float]]:
    """θ, f(θ) and the float64 head output H(θ) over the circle."""
    import torch

    from numeric.approx import circle, head

    thetas = circle(points)
    out = head(r.construction, torch.tensor(thetas, dtype=torch.float64))
    return thetas, r.target.values(thetas), out.tolist()


def draw_runs(fig: Figure, runs: list[Run]) -> None:
    """One panel per run: f and the head output over the circle, the certified and sampled errors in the title."""
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for ax, r in zip(axes, runs):
        th, f, h = curves(r)
        ax.plot(th, f, color="black", linewidth=1.0, label="f")
        ax.plot(th, h, color="tab:orange", linewidth=0.8, label="head output H")
        ax.set_title(f"f = {r.name}\nN={r.N}, T={r.T}\ncertified sup {float(r.certified_upper):.4f}, "
                     f"sampled {r.sampled:.4f}", fontsize=7)
        ax.set_xlabel("θ", fontsize=7)
        ax.set_xticks([0, math.pi, 2 * math.pi], ["0", "π", "2π"], fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6, loc="lower left")


def minimal_sampled_length(target: Target, eps: Fraction, T: int, n_max: int) -> int:
    """The least N <= n_max whose *sampled* float64 error is <= ε at temperature T (bisection on N; the error
    is not monotone in N in general, so this is a sampled estimate, labelled as such)."""
    from numeric.approx import circle_error
    from theory.approx import for_target

    def ok(n: int) -> bool:
        return circle_error(for_target(target, n, T), target.values).max_error <= eps

    lo, hi = 2, n_max
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return lo


def draw_length_curve(fig: Figure, L: Fraction = Fraction(3), target_text: str = "sin(3*x)") -> str:
    """N(ε) = ⌊πL/ε⌋ + 1 against ε (log-log), with the sampled least N for one target at T(ε)."""
    from theory.approx import Expression, content_bound, prefix_length, sufficient_temperature

    ax = fig.subplots()
    eps_grid = [Fraction(1, k) for k in (2, 3, 4, 5, 7, 10, 14, 20, 28, 40)]
    ns = [prefix_length(e, L) for e in eps_grid]
    ax.loglog([float(e) for e in eps_grid], ns, "o-", color="tab:blue", markersize=3,
              label=f"N(ε) = ⌊πL/ε⌋ + 1 (least N for every {L}-Lipschitz f)")
    target = Expression.parse(target_text, L)
    C = content_bound(target.sup_abs())
    sample_eps = eps_grid[:6]
    least = [minimal_sampled_length(target, e, sufficient_temperature(e, L, prefix_length(e, L), C),
                                    prefix_length(e, L)) for e in sample_eps]
    ax.loglog([float(e) for e in sample_eps], least, "s--", color="tab:orange", markersize=3,
              label=f"least N for f = {target_text} (sampled, at T(ε))")
    from matplotlib.ticker import NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("ε", fontsize=8)
    ax.set_ylabel("prefix length N", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    return "; ".join(f"ε={e}: N(ε)={n}" for e, n in zip(eps_grid, ns))
