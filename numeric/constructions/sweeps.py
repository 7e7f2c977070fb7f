"""Batched float64/float32 sweeps of the constructions on the reference transformer: every target (or a seeded
random sample), the virtual tokens built in torch, greedy decoding, and a count of the cases that fail.

Virtual-token entries are ratios of exact integers (``Y / V``; ``R / V^V`` with ``R = sum_j m(i, j) V^{V-1-j}``),
so each is the correctly rounded float64 value of the rational (for ``V^V < 2^53``, i.e. ``V <= 13``); the
model casts them to its own dtype.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from numeric.constructions import conditional, two_token, unconditional
from numeric.constructions.network import Network
from numeric.constructions.transformer import generate, to_model
from numeric.threads import one_thread

Progress = Callable[[int], None] | None
Offset = tuple[int, int, float] | None  # (virtual token index, coordinate, amount) added to every virtual token


@dataclass
class SweepResult:
    """``failures`` of ``cases`` decoded wrongly; ``first_failure`` describes one (indices into the sweep)."""

    construction: str
    dtype: str
    cases: int
    failures: int
    seconds: float
    first_failure: dict[str, Any] | None = None
    sizes: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failures == 0


def all_tuples(V: int, n: int) -> torch.Tensor:
    """Every element of ``[V]^n`` as rows of a ``(V^n, n)`` tensor, lexicographic."""
    return torch.tensor(list(itertools.product(range(V), repeat=n)), dtype=torch.long).reshape(V ** n, n)


def random_tuples(V: int, n: int, count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (count, n), generator=g)


def _run(name: str, net: Network, dtype: torch.dtype, batches: list[tuple[torch.Tensor, torch.Tensor | None,
         torch.Tensor]], steps: int, describe: Callable[[int, int], dict], progress: Progress,
         sizes: dict[str, Any], offset: Offset) -> SweepResult:
    with one_thread():
        model = to_model(net, dtype)
    start = time.perf_counter()
    cases = failures = 0
    first = None
    for b, (virtual, tokens, want) in enumerate(batches):
        if offset is not None:
            virtual[:, offset[0], offset[1]] += offset[2]
        got = generate(model, virtual, tokens, steps)
        bad = (got != want).any(dim=1)
        if first is None and bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            first = {**describe(b, i), "expected": want[i].tolist(), "generated": got[i].tolist()}
        failures += int(bad.sum())
        cases += len(want)
        if progress is not None:
            progress(len(want))
    return SweepResult(name, str(dtype).removeprefix("torch."), cases, failures, time.perf_counter() - start, first,
                       sizes)


def _chunks(n: int, chunk: int) -> list[slice]:
    return [slice(i, min(n, i + chunk)) for i in range(0, n, chunk)]


def sweep_unconditional(V: int, N: int, targets: torch.Tensor, T: Any = None,
                        dtype: torch.dtype = torch.float64, chunk: int = 2048, progress: Progress = None,
                        offset: Offset = None) -> SweepResult:
    """Each row of ``targets (B, N)`` must be generated from its virtual token ``s_1 = (Y/V; 0)``."""
    net = unconditional.build(V, N, T)
    batches = []
    for sl in _chunks(len(targets), chunk):
        Y = targets[sl]
        s = torch.zeros(len(Y), 1, net.d, dtype=torch.float64)
        s[:, 0, :N] = Y.to(torch.float64) / V
        batches.append((s, None, Y))
    return _run("single_virtual_token", net, dtype, batches, N,
                lambda b, i: {"target": batches[b][2][i].tolist()}, progress, {"V": V, "N": N, "T": float(net.T)},
                offset)


def sweep_map(V: int, maps: torch.Tensor, T: Any = conditional.DEFAULT_T, dtype: torch.dtype = torch.float64,
              chunk: int = 1024, progress: Progress = None, offset: Offset = None) -> SweepResult:
    """Each row ``m (V,)`` of ``maps`` with every input ``x``: one virtual token ``r = m / V``, output ``m[x]``."""
    net = conditional.build_map(V, T)
    batches = []
    for sl in _chunks(len(maps), chunk):
        M = maps[sl]
        r = torch.zeros(len(M), 1, net.d, dtype=torch.float64)
        r[:, 0, :V] = M.to(torch.float64) / V
        x = torch.arange(V).repeat(len(M))
        batches.append((r.repeat_interleave(V, 0), x[:, None], M.reshape(-1, 1)))
    return _run("conditional_map", net, dtype, batches, 1,
                lambda b, i: {"map": maps[b * chunk + i // V].tolist(), "input": i % V}, progress,
                {"V": V, "T": float(T)}, offset)


def sweep_sequence(V: int, N0: int, maps: torch.Tensor, T: Any = None,
                   dtype: torch.dtype = torch.float64, chunk: int = 512, progress: Progress = None,
                   offset: Offset = None) -> SweepResult:
    """Each ``m (V, N0)`` with every input x: ``N0`` virtual tokens ``vt_k = m[:, k] / V``, output ``m[x]``."""
    net = conditional.build_sequence(V, N0, T)
    batches = []
    for sl in _chunks(len(maps), chunk):
        M = maps[sl]
        vt = torch.zeros(len(M), N0, net.d, dtype=torch.float64)
        vt[:, :, :V] = M.transpose(1, 2).to(torch.float64) / V
        x = torch.arange(V).repeat(len(M))
        batches.append((vt.repeat_interleave(V, 0), x[:, None], M.reshape(-1, N0)))
    return _run("conditional_sequence", net, dtype, batches, N0,
                lambda b, i: {"map": maps[b * chunk + i // V].tolist(), "input": i % V}, progress,
                {"V": V, "N0": N0, "T": float(net.T)}, offset)


def table_values(maps: torch.Tensor) -> torch.Tensor:
    """``r_i = sum_j m(i, j) V^{-(j+1)}`` for tables ``(B, V, V)``, as exact-integer ratios in float64."""
    V = maps.shape[-1]
    if V > 15:
        raise ValueError(f"V={V}: the table numerators V^V overflow int64; use the exact evaluator (theory.exact)")
    powers = torch.tensor([V ** (V - 1 - j) for j in range(V)], dtype=torch.int64)
    R = (maps.to(torch.int64) * powers).sum(-1)
    return R.to(torch.float64) / float(V ** V)


def sweep_two_token(V: int, maps: torch.Tensor, T: Any = two_token.DEFAULT_T, dtype: torch.dtype = torch.float64,
                    chunk: int = 256, progress: Progress = None, offset: Offset = None) -> SweepResult:
    """Each table ``m (V, V)`` with every input pair: one virtual token ``r``, output ``m[x1, x2]``."""
    net = two_token.build(V, T)
    pairs = torch.tensor([(a, b) for a in range(V) for b in range(V)], dtype=torch.long)
    batches = []
    for sl in _chunks(len(maps), chunk):
        M = maps[sl]
        r = torch.zeros(len(M), 1, net.d, dtype=torch.float64)
        r[:, 0, :V] = table_values(M)
        batches.append((r.repeat_interleave(V * V, 0), pairs.repeat(len(M), 1), M.reshape(-1, 1)))
    return _run("two_token_map", net, dtype, batches, 1,
                lambda b, i: {"map": maps[b * chunk + i // (V * V)].tolist(),
                              "input": pairs[i % (V * V)].tolist()}, progress, {"V": V, "T": float(T)}, offset)
