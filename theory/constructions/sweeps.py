"""Exact sweeps of the Section 3 constructions: the weights of `theory.constructions`, every greedy step
certified by the exact evaluator `theory.exact` and decided by the kernel (`theory.kernel.check_decision`).

A case is a virtual-token input (a target sequence, a map, ...) with its expected greedy output. An exact case
*passes* when every greedy step is certified and equals the expectation, *fails* when a certified step differs,
and is *uncertified* when some step's logit intervals still overlap at the maximal resolution. The ``*_all``
sweeps cover every target / map at once through boxes of virtual tokens (interval-valued inputs), one greedy
step per box. Which sizes are swept is declared once, in `proofs.constructions` (the sweep plan).
"""
from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from theory.constructions import conditional, two_token, unconditional
from theory.constructions.network import Network
from theory.exact import Entry, ExactNetwork, ExactStep
from theory.kernel import Ledger, check_decision

Offset = tuple[int, int, Fraction] | None  # (virtual token index, coordinate, amount)
Progress = Callable[[int], None] | None
Info = dict[str, Any]  # a JSON-ready description of a case (it becomes a witness)
Case = tuple[Sequence[Sequence[Fraction]], list[int], list[int], Info]  # virtual tokens, hard tokens, want, info
Box = tuple[list[list[Entry]], list[int], int, Info]  # virtual rows (entries may be boxes), hard tokens, want, info


@dataclass
class ExactSweep:
    construction: str
    cases: int = 0
    failures: int = 0
    uncertified: int = 0
    seconds: float = 0.0
    first_failure: Info | None = None
    first_uncertified: Info | None = None
    sizes: dict[str, int | str] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.uncertified == 0

    def record(self, step: ExactStep, want: int, info: Info, progress: Progress) -> None:
        """Count one greedy step; the trusted kernel decides it from the logit enclosures
        (`theory.kernel.check_decision`): certified ``want``, another token, or undecided."""
        self.cases += 1
        check_decision(step.logits, want, self.ledger)
        token = step.token
        if token is None:
            self.uncertified += 1
            self.first_uncertified = self.first_uncertified or info
        elif token != want:
            self.failures += 1
            self.first_failure = self.first_failure or {**info, "generated": token}
        if progress is not None:
            progress(1)


def _bump(x: Entry, amount: Fraction) -> Entry:
    """Add ``amount`` to an exact value or to both ends of an interval ``(lo, hi)``."""
    return (x[0] + amount, x[1] + amount) if isinstance(x, tuple) else x + amount


def _shift(virtual: Sequence[Sequence[Entry]], offset: Offset) -> list[list[Entry]]:
    """The virtual tokens with ``offset = (k, c, amount)`` added to coordinate c of token k (a false twin)."""
    rows = [list(s) for s in virtual]
    if offset is not None:
        k, c, amount = offset
        rows[k][c] = _bump(rows[k][c], amount)
    return rows


def _exact(name: str, net: Network, cases: Iterable[Case], offset: Offset, progress: Progress) -> ExactSweep:
    """Greedy generation of each case, every step certified (a case counts once, however many steps). Consecutive
    cases with the same virtual tokens (one object: a map with each of its inputs) share one `ExactPrefix`."""
    compiled = ExactNetwork(net)
    out = ExactSweep(name, sizes={"V": net.V, "T": str(net.T)})
    start = time.perf_counter()
    last: Sequence[Sequence[Fraction]] | None = None
    prefix = None
    for virtual, tokens, want, info in cases:
        if prefix is None or virtual is not last:
            last, prefix = virtual, compiled.prefix(_shift(virtual, offset))
        g = prefix.generate(tokens, len(want))
        for st, y in zip(g.steps, want):
            check_decision(st.logits, y, out.ledger)
        out.cases += 1
        if g.tokens != want[: len(g.tokens)]:
            out.failures += 1
            out.first_failure = out.first_failure or {**info, "expected": want, "generated": g.tokens}
        elif not g.complete:
            out.uncertified += 1
            out.first_uncertified = out.first_uncertified or {**info, "expected": want, "certified": g.tokens}
        if progress is not None:
            progress(1)
    out.seconds = time.perf_counter() - start
    return out


def _boxes(name: str, net: Network, sizes: dict[str, int | str], boxes: Iterable[Box], offset: Offset,
           progress: Progress) -> ExactSweep:
    """One certified greedy step per box: the step must emit ``want`` for every input in the box."""
    compiled = ExactNetwork(net)
    out = ExactSweep(name, sizes={"V": net.V, "T": str(net.T), **sizes})
    start = time.perf_counter()
    for virtual, tokens, want, info in boxes:
        out.record(compiled.prefix(_shift(virtual, offset)).step(tokens), want, info, progress)
    out.seconds = time.perf_counter() - start
    return out


def _box_row(box: Entry, n: int, width: int) -> list[Entry]:
    """A virtual token: ``box`` in its first ``n`` coordinates, then zeros up to ``width``."""
    row: list[Entry] = [box] * n
    return row + [Fraction(0)] * (width - n)


def _grid(V: int) -> Entry:
    """The box ``[0, (V-1)/V]``: every grid value ``y/V`` of a token ``y in [V]``."""
    return Fraction(0), Fraction(V - 1, V)


def exact_unconditional(V: int, N: int, targets: Sequence[Sequence[int]], T: Fraction | int | None = None,
                        offset: Offset = None, progress: Progress = None) -> ExactSweep:
    """Each target ``Y`` generated from its virtual token ``s_1 = (Y/V; 0)``."""
    net = unconditional.build(V, N, T)
    cases: Iterable[Case] = (([unconditional.virtual_token(net, Y)], [], list(Y), {"target": list(Y)})
                             for Y in targets)
    sweep = _exact("single_virtual_token", net, cases, offset, progress)
    sweep.sizes["N"] = N
    return sweep


def exact_unconditional_all(V: int, N: int, T: Fraction | int | None = None, offset: Offset = None,
                            progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^N`` targets at once, in ``V N`` exact evaluations over boxes of virtual tokens.

    Hard tokens of the construction carry no content (``E = 0``), so the input at step L does not depend on the
    tokens generated before; it depends on the target only through ``s_1``. For each L and each symbol y, the
    box ``s_1[L-1] = y/V``, ``s_1[j] in [0, (V-1)/V]`` (j != L-1) contains the virtual token of every target
    with ``Y_L = y``; certifying that the step emits y on the whole box, for all L and y, proves by induction
    that every target is generated."""
    net = unconditional.build(V, N, T)
    if net.E.entries:
        raise ValueError("the box argument needs hard tokens without content (E = 0)")

    def boxes() -> Iterable[Box]:
        for L in range(1, N + 1):
            for y in range(V):
                s = _box_row(_grid(V), N, net.d)
                s[L - 1] = Fraction(y, V)
                yield [s], [0] * (L - 1), y, {"length": L, "symbol": y}

    return _boxes("single_virtual_token (all targets, boxes)", net, {"N": N, "targets": f"{V}^{N}"}, boxes(),
                  offset, progress)


def exact_map(V: int, maps: Sequence[Sequence[int]], T: Fraction | int = conditional.DEFAULT_T,
              offset: Offset = None, progress: Progress = None) -> ExactSweep:
    """Each map ``m: [V] -> [V]`` with every input ``x``: one virtual token ``r = m / V``, output ``m(x)``."""
    net = conditional.build_map(V, T)

    def cases() -> Iterable[Case]:
        for m in maps:
            virtual = [conditional.map_token(net, m)]
            for x in range(V):
                yield virtual, [x], [m[x]], {"map": list(m), "input": x}

    return _exact("conditional_map", net, cases(), offset, progress)


def exact_map_all(V: int, T: Fraction | int = conditional.DEFAULT_T, offset: Offset = None,
                  progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^V`` maps at once: for each input x and value y, the box ``r_x = y/V``,
    ``r_j in [0, (V-1)/V]`` (j != x) holds the virtual token of every map with ``m(x) = y``; certifying that the
    model answers y on each of the ``V^2`` boxes proves the construction for every map."""
    net = conditional.build_map(V, T)

    def boxes() -> Iterable[Box]:
        for x in range(V):
            for y in range(V):
                r = _box_row(_grid(V), V, net.d)
                r[x] = Fraction(y, V)
                yield [r], [x], y, {"input": x, "value": y}

    return _boxes("conditional_map (all maps, boxes)", net, {"maps": f"{V}^{V}"}, boxes(), offset, progress)


def exact_sequence(V: int, N0: int, maps: Sequence[Sequence[Sequence[int]]], inputs: Sequence[int] | None = None,
                   T: Fraction | int | None = None, offset: Offset = None, progress: Progress = None) -> ExactSweep:
    """Each map ``m: [V] -> [V]^N0`` with each input x (every input unless ``inputs``): ``N0`` virtual tokens
    ``vt_k = (m(x)[k] / V)_x``, then ``N0`` greedy tokens ``m(x)``."""
    net = conditional.build_sequence(V, N0, T)

    def cases() -> Iterable[Case]:
        for m in maps:
            virtual = conditional.sequence_tokens(net, m)
            for x in range(V) if inputs is None else inputs:
                yield virtual, [x], list(m[x]), {"map": [list(r) for r in m], "input": x}

    sweep = _exact("conditional_sequence", net, cases(), offset, progress)
    sweep.sizes["N0"] = N0
    return sweep


def exact_sequence_all(V: int, N0: int, T: Fraction | int | None = None, offset: Offset = None,
                       progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^(V N0)`` maps ``[V] -> [V]^N0`` at once, with ``N0 V^2`` boxes: at step k for input x
    and value y, ``vt_k[x] = y/V``, every other virtual-token entry in ``[0, (V-1)/V]``, and the content of each
    token generated so far in ``[0, 1]^V`` (a box holding every one-hot embedding, so the previous steps need
    not be known). Certifying y on every box proves, by induction over the steps, every map."""
    net = conditional.build_sequence(V, N0, T)
    token_box = (Fraction(0), Fraction(1))

    def boxes() -> Iterable[Box]:
        for k in range(N0):
            for x in range(V):
                for y in range(V):
                    virtual = [_box_row(_grid(V), V, net.d) for _ in range(N0)]
                    virtual[k][x] = Fraction(y, V)
                    user = _box_row(Fraction(0), V, net.d)
                    user[x] = Fraction(1)
                    generated = [_box_row(token_box, V, net.d) for _ in range(k)]
                    yield virtual + [user] + generated, [], y, {"step": k, "input": x, "value": y}

    return _boxes("conditional_sequence (all maps, boxes)", net, {"N0": N0, "maps": f"{V}^{V * N0}"}, boxes(),
                  offset, progress)


def exact_two_token(V: int, maps: Sequence[Sequence[Sequence[int]]], pairs: Sequence[tuple[int, int]] | None = None,
                    T: Fraction | int = two_token.DEFAULT_T, offset: Offset = None,
                    progress: Progress = None) -> ExactSweep:
    """Each table ``m: [V]^2 -> [V]`` with each input pair (every pair unless ``pairs``): one virtual token
    ``r_i = sum_j m(i, j) V^{-(j+1)}``, output ``m(x_1, x_2)``."""
    net = two_token.build(V, T)

    def cases() -> Iterable[Case]:
        for m in maps:
            virtual = [two_token.table_token(net, m)]
            for x1, x2 in pairs or [(a, b) for a in range(V) for b in range(V)]:
                yield virtual, [x1, x2], [m[x1][x2]], {"map": [list(row) for row in m], "input": [x1, x2]}

    return _exact("two_token_map", net, cases(), offset, progress)


def exact_two_token_all(V: int, T: Fraction | int = two_token.DEFAULT_T, offset: Offset = None,
                        progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^(V^2)`` tables at once, with ``V^(V+2)`` boxes: the answer to ``(x_1, x_2)`` depends
    on the table only through row ``x_1``, so for each ``x_1``, each row (``V^V`` digit strings) and each
    ``x_2`` the other rows are the box ``[0, 1 - V^-V]`` (every base-V fraction with V digits)."""
    net = two_token.build(V, T)
    box = (Fraction(0), 1 - Fraction(1, V ** V))

    def boxes() -> Iterable[Box]:
        for x1 in range(V):
            for row in itertools.product(range(V), repeat=V):
                r = _box_row(box, V, net.d)
                r[x1] = sum((Fraction(row[j], V ** (j + 1)) for j in range(V)), Fraction(0))
                for x2 in range(V):
                    yield [r], [x1, x2], row[x2], {"input": [x1, x2], "row": list(row)}

    return _boxes("two_token_map (all tables, boxes)", net, {"tables": f"{V}^{V * V}"}, boxes(), offset, progress)


def random_rows(V: int, n: int, count: int, seed: int) -> list[list[int]]:
    """``count`` random rows of ``n`` tokens in ``[V]``."""
    rng = random.Random(seed)
    return [[rng.randrange(V) for _ in range(n)] for _ in range(count)]


def random_tables(V: int, cols: int, count: int, seed: int) -> list[list[list[int]]]:
    """``count`` random ``V x cols`` tables of tokens."""
    rng = random.Random(seed)
    return [[[rng.randrange(V) for _ in range(cols)] for _ in range(V)] for _ in range(count)]
