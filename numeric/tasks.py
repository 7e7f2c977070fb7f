"""The synthetic sequence tasks of the paper's minGPT experiments (paper-notes 4.1), with a stable split.

An input is ``n`` digits from ``0..num_digits-1``; in half of the samples (a per-sample coin) it is
rejection-sampled to have at most ``max_unique`` distinct digits (the authors use n = 10, 8 digits, at most 5
unique). A task maps the input to an output of the same length:

=================  =============================================================================
``ascending``      sort
``descending``     reverse sort
``add1``/``add2``  every digit + 1 / + 2
``ascending_add1`` sort, then + 1 (a composition of two pretraining skills)
``double_hist``    each digit replaced by the number of times it occurs in the input
``random``         sample i of a batch gets task ``i % 4`` of (ascending, descending, add1, add2), no indicator
=================  =============================================================================

A training sequence is ``[0] * n_S + input + output``; the model reads ``cat[:-1]`` and is scored on
``cat[1:]`` at the output positions only (the other targets are ``IGNORE``). The ``n_S`` zeros are placeholders
for prefix positions, so content positions are the same with and without a prefix.

Split: an input belongs to the test set iff ``blake2b(bytes(input)) mod 4 == 0`` (25%). The authors used
Python's ``hash``, which is salted per process; blake2b gives the same split in every process and machine.

The vocabulary has ``max(num_digits + 2, n + 1)`` tokens by default: digits, +2 overflow, and histogram counts up
to n (the authors' 10 tokens cannot hold the count 10 of a constant input); ``vocab_size`` sets it explicitly (at
least ``num_digits + 2``; e.g. the authors' 10 for tasks without histogram counts).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch

IGNORE = -100
BASE_TASKS = ("ascending", "descending", "add1", "add2")
TASKS = BASE_TASKS + ("random", "ascending_add1", "double_hist")


def _ascending(x: torch.Tensor) -> torch.Tensor:
    return x.sort(dim=-1).values


def _descending(x: torch.Tensor) -> torch.Tensor:
    return x.sort(dim=-1, descending=True).values


def _double_hist(x: torch.Tensor) -> torch.Tensor:
    """out_k = #{j : x_j = x_k}."""
    return (x.unsqueeze(-1) == x.unsqueeze(-2)).sum(-1)


_MAPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ascending": _ascending,
    "descending": _descending,
    "add1": lambda x: x + 1,
    "add2": lambda x: x + 2,
    "ascending_add1": lambda x: _ascending(x) + 1,
    "double_hist": _double_hist,
}


def apply_task(task: str, x: torch.Tensor) -> torch.Tensor:
    """The output of ``task`` on inputs ``x: (B, n)`` (``random``: row i gets base task ``i % 4``)."""
    if task == "random":
        out = torch.empty_like(x)
        for r, name in enumerate(BASE_TASKS):
            out[r::4] = _MAPS[name](x[r::4])
        return out
    if task not in _MAPS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return _MAPS[task](x)


def is_test(x: torch.Tensor) -> torch.Tensor:
    """Stable split: row r of ``x: (B, n)`` is a test input iff blake2b(its digits as bytes) mod 4 == 0."""
    rows = x.to(torch.uint8).tolist()
    return torch.tensor([hashlib.blake2b(bytes(r), digest_size=8).digest()[0] % 4 == 0 for r in rows],
                        dtype=torch.bool)


#: Largest input space ``num_digits^n`` whose split `split_table` tabulates (hashing it once costs about 15 ms).
SPLIT_TABLE_MAX = 2**14


@functools.lru_cache(maxsize=8)
def split_table(n: int, num_digits: int) -> torch.Tensor:
    """`is_test` of every input of n digits from ``0..num_digits-1``, indexed by the input read as a base-num_digits
    number (first digit most significant): ``split_table(n, b)[sum_j x_j b^(n-1-j)] == is_test(x)``."""
    every = torch.tensor(list(itertools.product(range(num_digits), repeat=n)), dtype=torch.long)
    return is_test(every)


def _is_test_digits(x: torch.Tensor, num_digits: int) -> torch.Tensor:
    """`is_test` of rows ``x: (B, n)`` with digits in ``0..num_digits-1``: looked up in `split_table` when the input
    space is small (at most `SPLIT_TABLE_MAX`), else hashed row by row."""
    n = x.shape[1]
    if num_digits**n > SPLIT_TABLE_MAX:
        return is_test(x)
    powers = num_digits ** torch.arange(n - 1, -1, -1)
    return split_table(n, num_digits)[(x * powers).sum(1)]


@dataclass(frozen=True)
class TaskSpec:
    """Input distribution and sequence layout; ``n_S`` placeholder zeros precede every input."""

    n: int = 10
    num_digits: int = 8
    max_unique: int = 5
    n_S: int = 1
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1 or self.num_digits < 2 or self.n_S < 0 or not 1 <= self.max_unique <= self.num_digits:
            raise ValueError(f"impossible task sizes n={self.n}, num_digits={self.num_digits}, "
                             f"max_unique={self.max_unique}, n_S={self.n_S}")
        if self.vocab_size is not None and self.vocab_size < self.num_digits + 2:
            raise ValueError(f"vocab_size {self.vocab_size} cannot hold the digits and +2 (need {self.num_digits + 2})")
        if self.num_digits > 255:
            raise ValueError("num_digits must be at most 255 (inputs are hashed as bytes)")

    @property
    def vocab(self) -> int:
        return self.vocab_size if self.vocab_size is not None else max(self.num_digits + 2, self.n + 1)

    @property
    def block(self) -> int:
        """Model context: n_S + 2n - 1 tokens."""
        return self.n_S + 2 * self.n - 1

    @property
    def out_start(self) -> int:
        """Index in ``cat[:-1]`` whose next-token target is the first output token."""
        return self.n_S + self.n - 1

    def inputs(self, count: int, g: torch.Generator, split: str) -> torch.Tensor:
        """``count`` inputs of ``split`` ("train" or "test"), drawn from ``g`` (deterministic given its state)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        kept: list[torch.Tensor] = []
        have = 0
        while have < count:
            draw = 2 * count if split == "train" else 5 * count
            x = torch.randint(0, self.num_digits, (draw, self.n), generator=g)
            limited = torch.rand(draw, generator=g) < 0.5
            self._limit_unique(x, limited, g)
            x = x[_is_test_digits(x, self.num_digits) == (split == "test")]
            kept.append(x)
            have += x.shape[0]
        return torch.cat(kept)[:count]

    def _limit_unique(self, x: torch.Tensor, rows: torch.Tensor, g: torch.Generator, tries: int = 16) -> None:
        """Rejection sampling, in place: every selected row is replaced by the first of fresh uniform draws that
        has at most ``max_unique`` distinct digits (``tries`` candidates per row per round)."""
        todo = rows.nonzero().squeeze(1)
        while todo.numel():
            cand = torch.randint(0, self.num_digits, (todo.numel(), tries, self.n), generator=g)
            present = torch.zeros(todo.numel(), tries, self.num_digits, dtype=torch.bool)
            present.scatter_(2, cand, True)
            good = present.sum(-1) <= self.max_unique
            found = good.any(1)
            first = good.to(torch.int8).argmax(1)
            x[todo[found]] = cand[found, first[found]]
            todo = todo[~found]

    def sequences(self, task: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model input ``cat[:-1]`` and targets ``cat[1:]`` (IGNORE outside the output) for inputs ``x``."""
        y = apply_task(task, x)
        cat = torch.cat([torch.zeros(x.shape[0], self.n_S, dtype=torch.long), x, y], dim=1)
        targets = cat[:, 1:].clone()
        targets[:, :self.out_start] = IGNORE
        return cat[:, :-1], targets

    def batch(self, task: str, size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch of ``task``."""
        return self.sequences(task, self.inputs(size, g, "train"))

    def prompts(self, x: torch.Tensor) -> torch.Tensor:
        """What greedy decoding starts from: ``[0] * n_S + input``."""
        return torch.cat([torch.zeros(x.shape[0], self.n_S, dtype=torch.long), x], dim=1)
