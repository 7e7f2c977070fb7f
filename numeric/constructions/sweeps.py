"""Batched float64/float32 sweeps of the constructions on the reference transformer: every target (or a seeded
random sample), the virtual tokens built in torch, greedy decoding, and a count of the cases that fail; the
bisection of Theorem 1's temperature threshold; the nearest-grid check of the quadratic read-out.

The weights are plain numbers (`numeric.constructions.transformer.Weights`). Virtual-token entries are ratios of
exact integers (``Y / V``; ``R / V^V`` with ``R = sum_j m(i, j) V^{V-1-j}``), so each is the correctly rounded
float64 value of the rational (for ``V^V < 2^53``, i.e. ``V <= 13``); the model casts them to its own dtype.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from numeric.constructions.transformer import LogitScale, Matrix, Weights, generate, tensor, to_model
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
    sizes: dict[str, int | float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failures == 0


def all_tuples(V: int, n: int) -> torch.Tensor:
    """Every element of ``[V]^n`` as rows of a ``(V^n, n)`` tensor, lexicographic."""
    powers = V ** torch.arange(n - 1, -1, -1, dtype=torch.long)  # row r holds the base-V digits of r
    return torch.arange(V ** n, dtype=torch.long)[:, None] // powers % V


def random_tuples(V: int, n: int, count: int, seed: int) -> torch.Tensor:
    """``count`` random rows of ``[V]^n`` (a torch generator seeded with ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (count, n), generator=g)


def _run(name: str, net: Weights, items: torch.Tensor, content: Callable[[torch.Tensor], torch.Tensor],
         inputs: torch.Tensor | None, steps: int, dtype: torch.dtype, chunk: int, progress: Progress,
         sizes: dict[str, int | float], offset: Offset) -> SweepResult:
    """Each item (a target, a map, a table) with every row of ``inputs`` (hard tokens; None: no hard tokens):
    its virtual tokens hold ``content(items)`` ``(B, n_S, c)`` (items as float64) in their first ``c``
    coordinates, and greedy decoding must produce the item's answer: the item itself (no inputs) or
    ``item[input]``."""
    with one_thread():
        model = to_model(net, dtype)
    start = time.perf_counter()
    cases = failures = 0
    first = None
    n_in = 1 if inputs is None else len(inputs)
    for b in range(0, len(items), chunk):
        M = items[b:b + chunk]
        c = content(M.to(torch.float64))
        virtual = torch.zeros(c.shape[0], c.shape[1], net.d, dtype=torch.float64)
        virtual[:, :, :c.shape[2]] = c
        if offset is not None:
            virtual[:, offset[0], offset[1]] += offset[2]
        tokens = None if inputs is None else inputs.repeat(len(M), 1)
        want = M.reshape(len(M), -1) if inputs is None else M.reshape(len(M) * n_in, -1)
        got = generate(model, virtual.repeat_interleave(n_in, 0), tokens, steps)
        bad = (got != want).any(dim=1)
        if first is None and bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            first = {"map" if inputs is not None else "target": M[i // n_in].tolist(),
                     **({} if tokens is None else {"input": _unwrap(tokens[i].tolist())}),
                     "expected": want[i].tolist(), "generated": got[i].tolist()}
        failures += int(bad.sum())
        cases += len(want)
        if progress is not None:
            progress(len(want))
    return SweepResult(name, str(dtype).removeprefix("torch."), cases, failures, time.perf_counter() - start, first,
                       sizes)


def _unwrap(x: list[int]) -> int | list[int]:
    return x[0] if len(x) == 1 else x


def sweep_unconditional(net: Weights, targets: torch.Tensor, dtype: torch.dtype = torch.float64, chunk: int = 2048,
                        progress: Progress = None, offset: Offset = None) -> SweepResult:
    """Each row of ``targets (B, N)`` must be generated from its virtual token ``s_1 = (Y/V; 0)``."""
    N = net.n_pos
    return _run("single_virtual_token", net, targets, lambda Y: (Y / net.V)[:, None], None, N, dtype, chunk,
                progress, {"V": net.V, "N": N, "T": net.T}, offset)


def sweep_map(net: Weights, maps: torch.Tensor, dtype: torch.dtype = torch.float64, chunk: int = 1024,
              progress: Progress = None, offset: Offset = None) -> SweepResult:
    """Each row ``m (V,)`` of ``maps`` with every input ``x``: one virtual token ``r = m / V``, output ``m[x]``."""
    V = net.V
    return _run("conditional_map", net, maps, lambda M: (M / V)[:, None], torch.arange(V)[:, None], 1, dtype,
                chunk, progress, {"V": V, "T": net.T}, offset)


def sweep_sequence(net: Weights, maps: torch.Tensor, dtype: torch.dtype = torch.float64, chunk: int = 512,
                   progress: Progress = None, offset: Offset = None) -> SweepResult:
    """Each ``m (V, N0)`` with every input x: ``N0`` virtual tokens ``vt_k = m[:, k] / V``, output ``m[x]``."""
    V, N0 = net.V, net.n_pos // 2
    return _run("conditional_sequence", net, maps, lambda M: M.transpose(1, 2) / V, torch.arange(V)[:, None], N0,
                dtype, chunk, progress, {"V": V, "N0": N0, "T": net.T}, offset)


def table_values(maps: torch.Tensor) -> torch.Tensor:
    """``r_i = sum_j m(i, j) V^{-(j+1)}`` for tables ``(B, V, V)``, as exact-integer ratios in float64."""
    V = maps.shape[-1]
    if V > 15:
        raise ValueError(f"V={V}: the table numerators V^V overflow int64; use the exact evaluator (theory.exact)")
    powers = torch.tensor([V ** (V - 1 - j) for j in range(V)], dtype=torch.int64)
    R = (maps.to(torch.int64) * powers).sum(-1)
    return R.to(torch.float64) / float(V ** V)


def sweep_two_token(net: Weights, maps: torch.Tensor, dtype: torch.dtype = torch.float64, chunk: int = 256,
                    progress: Progress = None, offset: Offset = None) -> SweepResult:
    """Each table ``m (V, V)`` with every input pair: one virtual token ``r``, output ``m[x1, x2]``."""
    V = net.V
    pairs = torch.tensor(list(itertools.product(range(V), repeat=2)), dtype=torch.long)
    return _run("two_token_map", net, maps, lambda M: table_values(M)[:, None], pairs, 1, dtype, chunk, progress,
                {"V": V, "T": net.T}, offset)


def threshold(net: Weights, target: torch.Tensor, lo: float, hi: float, iterations: int, depth: int = 4) -> float:
    """Bisection on the inverse temperature of ``net`` (the unconditional construction, float64): ``target (1, N)``
    fails at ``lo`` and decodes at ``hi``; returns the final ``hi`` (the threshold to within ``(hi - lo)
    2^-iterations``).

    ``depth`` levels are decided per batch: the ``2^depth - 1`` midpoints the bisection can visit next (the same
    float64 midpoints) are decoded side by side on one model, one temperature per sequence (`LogitScale`), and the
    bisection then follows their outcomes; so the result is the sequential bisection's, in fewer forward passes."""
    with one_thread():
        model = to_model(net)
    scale = model.cfg.logit_scale
    assert isinstance(scale, LogitScale)  # to_model's
    virtual = torch.zeros(1, 1, net.d, dtype=torch.float64)
    virtual[0, 0, :target.shape[1]] = target[0].to(torch.float64) / net.V
    done = 0
    while done < iterations:
        levels = min(depth, iterations - done)
        mids = _midpoints(lo, hi, levels)
        scale.T = torch.tensor(mids, dtype=torch.float64)[:, None, None]
        fails = (generate(model, virtual.repeat(len(mids), 1, 1), None, target.shape[1]) != target).any(dim=1)
        node = 0
        for _ in range(levels):
            if fails[node]:
                lo, node = mids[node], 2 * node + 2
            else:
                hi, node = mids[node], 2 * node + 1
        done += levels
    return hi


def _midpoints(lo: float, hi: float, levels: int) -> list[float]:
    """The bisection's possible midpoints over ``levels`` steps from ``[lo, hi]``, level by level (node ``i`` has the
    children ``2i + 1`` (its lower half) and ``2i + 2`` (its upper half))."""
    spans, mids = [(lo, hi)], []
    for _ in range(levels):
        halves = []
        for a, b in spans:
            mid = (a + b) / 2
            mids.append(mid)
            halves += [(a, mid), (mid, b)]
        spans = halves
    return mids


@dataclass
class ReadoutCheck:
    """The read-out ``logits = W_U [z, 1]`` against the nearest grid point ``u/V`` at ``points`` values of z where
    the nearest point is clear (no two within 1e-9); ``first_mismatch`` is ``(z, argmax, nearest)`` or None."""

    points: int
    first_mismatch: tuple[float, int, int] | None


def nearest_grid(W_U: Matrix, z: torch.Tensor) -> ReadoutCheck:
    """Whether ``argmax_u W_U[u] . [z, 1]`` is the nearest grid point ``u/V`` (``V`` = rows of ``W_U``) at each z."""
    W = tensor(W_U)
    V = W.shape[0]
    logits = z[:, None] * W[:, 0] + W[:, 1]
    dist = (z[:, None] - torch.arange(V, dtype=torch.float64) / V).abs()
    nearest = dist.argmin(1)
    top2 = dist.topk(2, dim=1, largest=False).values
    clear = (top2[:, 1] - top2[:, 0]) > 1e-9
    bad = (logits.argmax(1) != nearest) & clear
    if not bool(bad.any()):
        return ReadoutCheck(int(clear.sum()), None)
    i = int(torch.nonzero(bad)[0])
    return ReadoutCheck(int(clear.sum()), (float(z[i]), int(logits[i].argmax()), int(nearest[i])))
