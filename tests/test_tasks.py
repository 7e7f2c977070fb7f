"""Task generators, the stable split, sequence layout, greedy exact-match evaluation (no training here)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from numeric.tasks import IGNORE, TASKS, TaskSpec, apply_task, is_test, split_table
from numeric.training import exact_match, greedy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_task_outputs_by_definition() -> None:
    x = torch.tensor([[3, 1, 3, 0, 5]])
    assert apply_task("ascending", x).tolist() == [[0, 1, 3, 3, 5]]
    assert apply_task("descending", x).tolist() == [[5, 3, 3, 1, 0]]
    assert apply_task("add1", x).tolist() == [[4, 2, 4, 1, 6]]
    assert apply_task("add2", x).tolist() == [[5, 3, 5, 2, 7]]
    assert apply_task("ascending_add1", x).tolist() == [[1, 2, 4, 4, 6]]
    assert apply_task("double_hist", x).tolist() == [[2, 1, 2, 1, 1]]


def test_random_task_cycles_through_the_four_base_tasks() -> None:
    x = torch.tensor([[2, 0, 1]] * 5)
    assert apply_task("random", x).tolist() == [[0, 1, 2], [2, 1, 0], [3, 1, 2], [4, 2, 3], [0, 1, 2]]


def test_unknown_task_and_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        apply_task("reverse", torch.zeros(1, 3, dtype=torch.long))
    for bad in (dict(n=0), dict(num_digits=1), dict(max_unique=0), dict(n_S=-1), dict(num_digits=300)):
        with pytest.raises(ValueError):
            TaskSpec(**bad)
    with pytest.raises(ValueError, match="split"):
        TaskSpec().inputs(3, torch.Generator().manual_seed(0), "validation")


def test_inputs_respect_split_range_and_unique_limit() -> None:
    spec = TaskSpec()
    g = torch.Generator().manual_seed(0)
    train, test = spec.inputs(2000, g, "train"), spec.inputs(500, g, "test")
    assert train.shape == (2000, 10) and test.shape == (500, 10)
    assert not is_test(train).any() and is_test(test).all()
    assert int(train.min()) >= 0 and int(train.max()) < spec.num_digits
    unique = torch.zeros(2000, spec.num_digits, dtype=torch.bool).scatter_(1, train, True).sum(1)
    limited = float((unique <= spec.max_unique).float().mean())
    assert 0.5 < limited < 0.8  # half forced to <= 5 unique, plus the uniform draws that happen to be
    every = spec.inputs(1, g, "train")
    assert every.shape == (1, 10)


def test_generation_is_deterministic_per_generator_state() -> None:
    spec = TaskSpec(n=6)
    a = spec.batch("ascending", 64, torch.Generator().manual_seed(5))
    b = spec.batch("ascending", 64, torch.Generator().manual_seed(5))
    c = spec.batch("ascending", 64, torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])


def test_split_table_is_the_hashed_split(monkeypatch) -> None:
    """`split_table` holds `is_test` of every input (read as a base-num_digits number), and inputs drawn through the
    table are the very inputs drawn by hashing every row (the table switched off)."""
    import itertools

    import numeric.tasks

    every = torch.tensor(list(itertools.product(range(4), repeat=3)))
    assert torch.equal(split_table(3, 4), is_test(every))
    assert torch.equal(split_table(3, 4)[every[:, 0] * 16 + every[:, 1] * 4 + every[:, 2]], is_test(every))
    spec = TaskSpec(n=5, num_digits=5, max_unique=4)
    tabled = [spec.inputs(200, torch.Generator().manual_seed(3), split) for split in ("train", "test")]
    monkeypatch.setattr(numeric.tasks, "SPLIT_TABLE_MAX", 0)
    hashed = [spec.inputs(200, torch.Generator().manual_seed(3), split) for split in ("train", "test")]
    assert all(torch.equal(a, b) for a, b in zip(tabled, hashed))


@pytest.mark.slow
def test_split_is_a_quarter_and_the_same_in_every_process() -> None:
    x = torch.randint(0, 8, (4000, 10), generator=torch.Generator().manual_seed(1))
    here = is_test(x)
    assert 0.22 < float(here.float().mean()) < 0.28
    code = ("import torch; from numeric.tasks import is_test; "
            "x = torch.randint(0, 8, (4000, 10), generator=torch.Generator().manual_seed(1)); "
            "print(''.join('1' if t else '0' for t in is_test(x).tolist()))")
    for salt in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=salt, PYTHONPATH=ROOT)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "".join("1" if t else "0" for t in here.tolist())


def test_sequence_layout_and_loss_mask() -> None:
    spec = TaskSpec(n=3, num_digits=4, max_unique=2, n_S=2)
    x = torch.tensor([[2, 0, 3]])
    inp, tgt = spec.sequences("descending", x)
    assert inp.tolist() == [[0, 0, 2, 0, 3, 3, 2]]  # cat[:-1] of [0, 0, 2, 0, 3, 3, 2, 0]
    assert tgt.tolist() == [[IGNORE] * 4 + [3, 2, 0]]
    assert inp.shape[1] == spec.block and spec.out_start == 4
    assert spec.vocab == 6  # digits 0..3, +2 overflow up to 5, counts up to 3


def _oracle(spec: TaskSpec, task: str, wrong_at: int | None = None):
    """Logits that put all mass on the correct next output token (optionally a wrong one at position wrong_at)."""

    def logits(seq: torch.Tensor) -> torch.Tensor:
        x = seq[:, spec.n_S:spec.n_S + spec.n]
        k = seq.shape[1] - spec.n_S - spec.n
        nxt = apply_task(task, x)[:, k].clone()
        if k == wrong_at:
            nxt = (nxt + 1) % spec.vocab
        out = torch.zeros(seq.shape[0], seq.shape[1], spec.vocab)
        out[torch.arange(seq.shape[0]), -1, nxt] = 1.0
        return out

    return logits


@pytest.mark.parametrize("task", [t for t in TASKS if t != "random"])
def test_greedy_exact_match_on_an_oracle(task: str) -> None:
    spec = TaskSpec(n=5, num_digits=5, max_unique=3, n_S=1)
    x = spec.inputs(50, torch.Generator().manual_seed(0), "test")
    assert torch.equal(greedy(_oracle(spec, task), spec, x, chunk=7), apply_task(task, x))
    assert exact_match(_oracle(spec, task), spec, task, x) == (50, 50)
    assert exact_match(_oracle(spec, task, wrong_at=4), spec, task, x) == (0, 50)  # one wrong token is a miss
