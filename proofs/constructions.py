"""Exact sweeps of the Section 3 constructions (`numeric.constructions` weights, `theory.exact` evaluator), used by
the catalogue (`proofs.catalogue.capacity`, whose sizes are its module constants) and by ``prefixcheck construct
sweep`` (whose default and exhaustive plans are in `proofs.commands.construct`; the two sets of sizes differ).

A case is a virtual-token input (a target sequence, a map, ...) with its expected greedy output. An exact case
*passes* when every greedy step is certified and equals the expectation, *fails* when a certified step differs,
and is *uncertified* when some step's logit intervals still overlap at the maximal resolution.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from numeric.constructions import conditional, two_token, unconditional
from numeric.constructions.network import Network
from theory.kernel import Ledger, check_decision

Offset = tuple[int, int, Fraction] | None  # (virtual token index, coordinate, amount)
Progress = Callable[[int], None] | None


@dataclass
class ExactSweep:
    construction: str
    cases: int = 0
    failures: int = 0
    uncertified: int = 0
    seconds: float = 0.0
    first_failure: dict[str, Any] | None = None
    first_uncertified: dict[str, Any] | None = None
    sizes: dict[str, Any] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.uncertified == 0

    def record(self, step: Any, want: int, info: dict[str, Any], progress: Progress) -> None:
        """Count one greedy step (a `theory.exact.ExactStep`); the trusted kernel decides it from the logit
        enclosures (`theory.kernel.check_decision`): certified ``want``, another token, or undecided."""
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


def _bump(x: Any, amount: Fraction) -> Any:
    """Add ``amount`` to an exact value or to both ends of an interval ``(lo, hi)``."""
    return (x[0] + amount, x[1] + amount) if isinstance(x, tuple) else x + amount


def _shift(virtual: list[tuple[Fraction, ...]], offset: Offset) -> list[tuple[Fraction, ...]]:
    if offset is None:
        return virtual
    k, c, amount = offset
    row = list(virtual[k])
    row[c] += amount
    return [*virtual[:k], tuple(row), *virtual[k + 1:]]


def _exact(name: str, net: Network, cases: Sequence[tuple[list, list[int], list[int], dict]], offset: Offset,
           progress: Progress) -> ExactSweep:
    from theory.exact import ExactNetwork, generate

    compiled = ExactNetwork(net)
    out = ExactSweep(name, sizes={"V": net.V, "T": str(net.T)})
    start = time.perf_counter()
    for virtual, tokens, want, info in cases:
        g = generate(net, _shift(virtual, offset), tokens, len(want), compiled=compiled)
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


def exact_unconditional(V: int, N: int, targets: Sequence[Sequence[int]], T: Any = None,
                        offset: Offset = None, progress: Progress = None) -> ExactSweep:
    net = unconditional.build(V, N, T)
    cases: list[Any] = [([unconditional.virtual_token(net, Y)], [], list(Y), {"target": list(Y)}) for Y in targets]
    sweep = _exact("single_virtual_token", net, cases, offset, progress)
    sweep.sizes["N"] = N
    return sweep


def exact_unconditional_all(V: int, N: int, T: Any = None, offset: Offset = None,
                            progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^N`` targets at once, in ``V N`` exact evaluations over boxes of virtual tokens.

    Hard tokens of the construction carry no content (``E = 0``), so the input at step L does not depend on the
    tokens generated before; it depends on the target only through ``s_1``. For each L and each symbol y, the
    box ``s_1[L-1] = y/V``, ``s_1[j] in [0, (V-1)/V]`` (j != L-1) contains the virtual token of every target
    with ``Y_L = y``; certifying that the step emits y on the whole box, for all L and y, proves by induction
    that every target is generated."""
    from theory.exact import ExactNetwork

    net = unconditional.build(V, N, T)
    if net.E.entries:
        raise ValueError("the box argument needs hard tokens without content (E = 0)")
    compiled = ExactNetwork(net)
    out = ExactSweep("single_virtual_token (all targets, boxes)", sizes={"V": V, "N": N, "T": str(net.T),
                                                                        "targets": f"{V}^{N}"})
    box = (Fraction(0), Fraction(V - 1, V))
    start = time.perf_counter()
    for L in range(1, N + 1):
        for y in range(V):
            s: list[Any] = [box] * N + [Fraction(0)] * N
            s[L - 1] = Fraction(y, V)
            if offset is not None:
                s[offset[1]] = _bump(s[offset[1]], offset[2])
            step = compiled.step(net.inputs([s], [0] * (L - 1)))
            out.record(step, y, {"length": L, "symbol": y}, progress)
    out.seconds = time.perf_counter() - start
    return out


def exact_map(V: int, maps: Sequence[Sequence[int]], T: Any = conditional.DEFAULT_T, offset: Offset = None,
              progress: Progress = None) -> ExactSweep:
    net = conditional.build_map(V, T)
    cases: list[Any] = []
    for m in maps:
        r = [conditional.map_token(net, m)]
        cases.extend((r, [x], [m[x]], {"map": list(m), "input": x}) for x in range(V))
    return _exact("conditional_map", net, cases, offset, progress)


def exact_map_all(V: int, T: Any = conditional.DEFAULT_T, offset: Offset = None,
                  progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^V`` maps at once: for each input x and value y, the box ``r_x = y/V``,
    ``r_j in [0, (V-1)/V]`` (j != x) holds the virtual token of every map with ``m(x) = y``; certifying that the
    model answers y on each of the ``V^2`` boxes proves the construction for every map."""
    from theory.exact import ExactNetwork

    net = conditional.build_map(V, T)
    compiled = ExactNetwork(net)
    out = ExactSweep("conditional_map (all maps, boxes)", sizes={"V": V, "T": str(net.T), "maps": f"{V}^{V}"})
    box = (Fraction(0), Fraction(V - 1, V))
    start = time.perf_counter()
    for x in range(V):
        for y in range(V):
            r: list[Any] = [box] * V + [Fraction(0)] * (net.d - V)
            r[x] = Fraction(y, V)
            if offset is not None:
                r[offset[1]] = _bump(r[offset[1]], offset[2])
            step = compiled.step(net.inputs([r], [x]))
            out.record(step, y, {"input": x, "value": y}, progress)
    out.seconds = time.perf_counter() - start
    return out


def exact_sequence(V: int, N0: int, maps: Sequence[Sequence[Sequence[int]]], inputs: Sequence[int] | None = None,
                   T: Any = None, offset: Offset = None, progress: Progress = None) -> ExactSweep:
    net = conditional.build_sequence(V, N0, T)
    cases: list[Any] = []
    for m in maps:
        vt = conditional.sequence_tokens(net, m)
        for x in (range(V) if inputs is None else inputs):
            cases.append((vt, [x], list(m[x]), {"map": [list(r) for r in m], "input": x}))
    sweep = _exact("conditional_sequence", net, cases, offset, progress)
    sweep.sizes["N0"] = N0
    return sweep


def exact_sequence_all(V: int, N0: int, T: Any = None, offset: Offset = None,
                       progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^(V N0)`` maps ``[V] -> [V]^N0`` at once, with ``N0 V^2`` boxes: at step k for input x
    and value y, ``vt_k[x] = y/V``, every other virtual-token entry in ``[0, (V-1)/V]``, and the content of each
    token generated so far in ``[0, 1]^V`` (a box holding every one-hot embedding, so the previous steps need
    not be known). Certifying y on every box proves, by induction over the steps, every map."""
    from theory.exact import ExactNetwork

    net = conditional.build_sequence(V, N0, T)
    compiled = ExactNetwork(net)
    out = ExactSweep("conditional_sequence (all maps, boxes)",
                     sizes={"V": V, "N0": N0, "T": str(net.T), "maps": f"{V}^{V * N0}"})
    pad = [Fraction(0)] * (net.d - V)
    table_box = (Fraction(0), Fraction(V - 1, V))
    token_box = (Fraction(0), Fraction(1))
    start = time.perf_counter()
    for k in range(N0):
        for x in range(V):
            for y in range(V):
                virtual: list[list[Any]] = [[table_box] * V + pad for _ in range(N0)]
                virtual[k][x] = Fraction(y, V)
                if offset is not None:
                    j, c, amount = offset
                    virtual[j][c] = _bump(virtual[j][c], amount)
                user = [Fraction(int(i == x)) for i in range(V)] + pad
                rows = virtual + [user] + [[token_box] * V + pad for _ in range(k)]
                step = compiled.step(net.inputs(rows, []))
                out.record(step, y, {"step": k, "input": x, "value": y}, progress)
    out.seconds = time.perf_counter() - start
    return out


def exact_two_token(V: int, maps: Sequence[Sequence[Sequence[int]]], pairs: Sequence[tuple[int, int]] | None = None,
                    T: Any = two_token.DEFAULT_T, offset: Offset = None, progress: Progress = None) -> ExactSweep:
    net = two_token.build(V, T)
    cases: list[Any] = []
    for m in maps:
        r = [two_token.table_token(net, m)]
        for x1, x2 in (pairs or [(a, b) for a in range(V) for b in range(V)]):
            cases.append((r, [x1, x2], [m[x1][x2]], {"map": [list(row) for row in m], "input": [x1, x2]}))
    return _exact("two_token_map", net, cases, offset, progress)


def exact_two_token_all(V: int, T: Any = two_token.DEFAULT_T, offset: Offset = None,
                        progress: Progress = None) -> ExactSweep:
    """Every one of the ``V^(V^2)`` tables at once, with ``V^(V+2)`` boxes: the answer to ``(x_1, x_2)`` depends
    on the table only through row ``x_1``, so for each ``x_1``, each row (``V^V`` digit strings) and each
    ``x_2`` the other rows are the box ``[0, 1 - V^-V]`` (every base-V fraction with V digits)."""
    import itertools

    from theory.exact import ExactNetwork

    net = two_token.build(V, T)
    compiled = ExactNetwork(net)
    out = ExactSweep("two_token_map (all tables, boxes)", sizes={"V": V, "T": str(net.T), "tables": f"{V}^{V * V}"})
    box = (Fraction(0), 1 - Fraction(1, V ** V))
    pad = [Fraction(0)] * (net.d - V)
    start = time.perf_counter()
    for x1 in range(V):
        for row in itertools.product(range(V), repeat=V):
            r: list[Any] = [box] * V + pad
            r[x1] = sum(Fraction(row[j], V ** (j + 1)) for j in range(V))
            if offset is not None:
                r[offset[1]] = _bump(r[offset[1]], offset[2])
            for x2 in range(V):
                step = compiled.step(net.inputs([r], [x1, x2]))
                out.record(step, row[x2], {"input": [x1, x2], "row": list(row)}, progress)
    out.seconds = time.perf_counter() - start
    return out


def random_rows(V: int, n: int, count: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(V) for _ in range(n)] for _ in range(count)]


def random_tables(V: int, cols: int, count: int, seed: int) -> list[list[list[int]]]:
    """``count`` random ``V x cols`` tables of tokens."""
    rng = random.Random(seed)
    return [[[rng.randrange(V) for _ in range(cols)] for _ in range(V)] for _ in range(count)]
