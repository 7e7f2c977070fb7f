"""Certified branch-and-bound for ``sup |q|`` over a box domain, shared by the approximation constructions (S^1 in
`theory.approx`, S^2 in `theory.approx_sphere`, the two-token depth instance in `theory.approx_depth`).

Given an enclosure ``E(B) ∋ q(x)`` for every point x of a box B (an outward-rounded arb ball), the search keeps a
set of boxes that covers the domain. Each box B carries the exact rationals ``lo(B) <= |q| <= hi(B)`` on B; then

    max_B lo(B)  <=  sup |q|  <=  max_B hi(B)                                                       (BB)

(the left: q reaches |q| >= lo(B) at every point of B; the right: the boxes cover the domain). The box with the
largest ``hi`` is split (the `Domain`'s rule) until the upper end is within ``rtol`` of the lower end and/or at most
a claimed ``bound``; the search stops early when the lower end exceeds ``bound`` (the bound is refuted) or after
``max_boxes`` enclosures (incomplete).

The right-hand side of (BB) becomes a certificate only through the kernel: `certify_cover` checks exactly that the
boxes cover the domain (`Domain.covers`, rational arithmetic) and has `theory.kernel.check_bound` decide
``|q| <= bound`` on every box's ball. The search order, the split rule and the budget decide only *which* boxes are
checked, never whether a check passes.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

from flint import arb

from theory.balls import abs_bounds

if TYPE_CHECKING:
    from theory.kernel import Certificate

Span = tuple[Fraction, Fraction]                        # [a, b]
Rect = tuple[Fraction, Fraction, Fraction, Fraction]    # [a, b] x [c, d]
B = TypeVar("B", bound=tuple[Fraction, ...])
UNBOUNDED = Fraction(10**30)                            # the upper end given to a box whose ball is not finite


class Domain(Protocol[B]):
    """Where the boxes live: ``name`` (for certificates), how a box is split in two, and the exact cover test."""

    @property
    def name(self) -> str: ...

    def split(self, box: B) -> tuple[B, B]: ...

    def covers(self, boxes: Sequence[B]) -> bool: ...


def covers_interval(spans: Iterable[Span], lo: Fraction, hi: Fraction) -> bool:
    """The spans, sorted, are contiguous from ``lo`` to at least ``hi`` (exact)."""
    end: Fraction | None = None
    for a, b in sorted(spans):
        if end is None:
            if a > lo:
                return False
            end = b
        elif a > end:
            return False
        end = max(end, b)
    return end is not None and end >= hi


def pieces(lo: Fraction, hi: Fraction, n: int) -> list[Span]:
    """``[lo, hi]`` cut into ``n`` equal spans (exact)."""
    step = (hi - lo) / n
    return [(lo + k * step, lo + (k + 1) * step) for k in range(n)]


@dataclass(frozen=True)
class Interval:
    """The interval ``[lo, hi]``; boxes are spans, split at their midpoint."""

    lo: Fraction
    hi: Fraction
    name: str

    def pieces(self, n: int) -> list[Span]:
        return pieces(self.lo, self.hi, n)

    def split(self, box: Span) -> tuple[Span, Span]:
        a, b = box
        mid = (a + b) / 2
        return (a, mid), (mid, b)

    def covers(self, boxes: Sequence[Span]) -> bool:
        return covers_interval(boxes, self.lo, self.hi)


@dataclass(frozen=True)
class Rectangle:
    """The rectangle ``[0, x_max] x [0, y_max]``; boxes are ``(a, b, c, d)`` = [a, b] x [c, d], split at the midpoint
    of the longer side (the first on a tie)."""

    x_max: Fraction
    y_max: Fraction
    name: str

    def pieces(self, nx: int, ny: int) -> list[Rect]:
        return [(a, b, c, d) for a, b in pieces(Fraction(0), self.x_max, nx)
                for c, d in pieces(Fraction(0), self.y_max, ny)]

    def split(self, box: Rect) -> tuple[Rect, Rect]:
        a, b, c, d = box
        if b - a >= d - c:
            m = (a + b) / 2
            return (a, m, c, d), (m, b, c, d)
        m = (c + d) / 2
        return (a, b, c, m), (a, b, m, d)

    def covers(self, boxes: Sequence[Rect]) -> bool:
        """Exact sweep over y: for every elementary strip between consecutive box edges in y, the x-spans of the
        boxes spanning that strip cover [0, x_max]."""
        if not boxes:
            return False
        edges = sorted({e for bx in boxes for e in (bx[2], bx[3])})
        if edges[0] > 0 or edges[-1] < self.y_max:
            return False
        starts = sorted(boxes, key=lambda bx: bx[2])
        active: list[Rect] = []
        k = 0
        for lo, hi in zip(edges, edges[1:]):
            while k < len(starts) and starts[k][2] <= lo:
                active.append(starts[k])
                k += 1
            active = [bx for bx in active if bx[3] >= hi]
            if not covers_interval(((bx[0], bx[1]) for bx in active), Fraction(0), self.x_max):
                return False
        return True


@dataclass
class Sup(Generic[B]):
    """The outcome of `sup_abs` on ``domain``: ``upper`` bounds |q| on every box of ``cover`` (box, ball) — a cover
    of the domain, certified once the kernel has checked each box (`certify_cover`); ``lower`` is a certified lower
    bound of sup |q| (the lower end of |q| on the box ``argmax``); ``complete`` False when the budget ran out before
    the stopping rule; ``evaluations`` enclosures were computed."""

    domain: Domain[B] = field(repr=False)
    upper: Fraction
    lower: Fraction
    argmax: B
    cover: list[tuple[B, arb]] = field(repr=False)
    complete: bool
    evaluations: int

    def verdict(self, bound: Fraction) -> Literal["above", "below", "undecided"]:
        """"above": sup |q| >= lower > bound somewhere (certified); "below": a complete search with every box's
        upper end <= bound; "undecided" otherwise."""
        if self.lower > bound:
            return "above"
        return "below" if self.complete and self.upper <= bound else "undecided"


def sup_abs(enclose: Callable[[B], arb], domain: Domain[B], boxes: Iterable[B], *, bound: Fraction | None = None,
            rtol: Fraction | None = None, max_boxes: int = 200_000) -> Sup[B]:
    """Branch-and-bound for sup |q| over ``domain``, starting from ``boxes`` (which must cover it): split the box
    with the largest upper end until that end is within ``rtol`` of the best lower end (``rtol`` None: no such
    requirement) and, if ``bound`` is given, at most ``bound``; stop early when the lower end exceeds ``bound`` or
    after ``max_boxes`` enclosures. Ties in the upper end are broken by evaluation order (deterministic)."""
    heap: list[tuple[float, int, B, arb, Fraction]] = []
    lower, argmax, count = Fraction(0), None, 0

    def push(box: B) -> None:
        nonlocal lower, argmax, count
        ball = enclose(box)
        count += 1
        try:
            lo, hi = abs_bounds(ball)
        except ArithmeticError:
            lo, hi = Fraction(0), UNBOUNDED
        if argmax is None or lo > lower:
            lower, argmax = lo, box
        heapq.heappush(heap, (-float(hi), count, box, ball, hi))

    for box in boxes:
        push(box)
    if argmax is None:
        raise ValueError("branch-and-bound needs at least one box")
    complete = True
    while True:
        top = heap[0][4]
        if bound is not None and lower > bound:
            break
        if (rtol is None or top <= lower * (1 + rtol)) and (bound is None or top <= bound):
            break
        if count >= max_boxes:
            complete = False
            break
        for half in domain.split(heapq.heappop(heap)[2]):
            push(half)
    cover = sorted(((box, ball) for _, _, box, ball, _ in heap), key=lambda entry: entry[0])
    return Sup(domain, heap[0][4], lower, argmax, cover, complete, count)


def certify_cover(result: Sup[B], bound: Fraction, scope: str, abstraction: str, what: str) -> Certificate:
    """The kernel's ``enclosure`` certificate that |q| <= ``bound`` on the whole domain: the search is complete, its
    boxes cover the domain (checked exactly), and `theory.kernel.check_bound` decides every box's ball; raises
    `theory.kernel.KernelError` otherwise."""
    from theory import kernel

    if not result.complete or not result.domain.covers([box for box, _ in result.cover]):
        raise kernel.KernelError(f"the boxes do not cover {result.domain.name}")
    with kernel.enclosure_session() as ledger:
        for _, ball in result.cover:
            kernel.check_bound(abs_bounds(ball), bound)
    return kernel.certify_enclosure(ledger, len(result.cover), scope, abstraction,
                                    evidence=f"{ledger.certified} boxes covering {result.domain.name}: {what} <= "
                                             f"{float(bound):.6g} on each (outward-rounded arb balls)")
