"""Training loops and exact-match evaluation for the synthetic tasks (paper-notes 4.1).

One loop, `train`, serves every method; what differs is which parameters move and how the logits are computed:

* pretraining and full fine-tuning: every weight, ``W -> W + Delta W``;
* prefix-tuning: only the per-layer prefix ``s^{(l)}_{1..n_S}``, the model frozen and in eval mode;
* LoRA: only the rank-r factors ``B A`` added to chosen linear maps, the model frozen.

Optimiser as in the authors' Trainer: AdamW, betas (0.9, 0.95), gradient clipping at 1.0, weight decay only on
the matrices that multiply activations (``decay`` group); the prefix/LoRA trainer uses torch's default weight
decay 0.01. The loss is cross-entropy on the output positions only.

Evaluation is greedy decoding of n tokens after ``[0]*n_S + input`` and **exact match of all n tokens**.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from numeric.tasks import IGNORE, TaskSpec

Logits = Callable[[torch.Tensor], torch.Tensor]
"""``tokens (B, T) -> logits (B, T, vocab)``: the model with its adaptation applied."""


@dataclass(frozen=True)
class Phase:
    """One training phase: ``steps`` AdamW steps of batch ``batch`` at learning rate ``lr``."""

    steps: int
    lr: float
    batch: int = 64
    weight_decay: float = 0.1

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch < 1 or not self.lr > 0:
            raise ValueError(f"impossible phase steps={self.steps}, batch={self.batch}, lr={self.lr}")


StepHook = Callable[[int, float], None]
"""Called after every step with (step index starting at 1, training loss)."""


def train(logits: Logits, groups: tuple[Iterable[torch.Tensor], Iterable[torch.Tensor]], spec: TaskSpec,
          task: str, phase: Phase, g: torch.Generator, on_step: StepHook | None = None) -> float:
    """Minimise the output-position cross-entropy of ``task``; returns the last loss.

    ``groups = (decay, no_decay)``: parameters with weight decay ``phase.weight_decay`` and without."""
    decay, no_decay = list(groups[0]), list(groups[1])
    params = decay + no_decay
    if not params:
        raise ValueError("nothing to train: no parameters given")
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": phase.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=phase.lr, betas=(0.9, 0.95),
                            fused=True)
    loss_value = float("nan")
    for step in range(1, phase.steps + 1):
        x, y = spec.batch(task, phase.batch, g)
        out = logits(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loss_value = float(loss.detach())
        if on_step is not None:
            on_step(step, loss_value)
    return loss_value


@torch.no_grad()
def greedy(logits: Logits, spec: TaskSpec, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Greedy decoding of ``spec.n`` tokens after ``[0]*n_S + x``; returns ``(B, n)``."""
    outs = []
    for start in range(0, x.shape[0], chunk):
        seq = spec.prompts(x[start:start + chunk])
        for _ in range(spec.n):
            nxt = logits(seq)[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
        outs.append(seq[:, -spec.n:])
    return torch.cat(outs)


def exact_match(logits: Logits, spec: TaskSpec, task: str, x: torch.Tensor) -> tuple[int, int]:
    """(number of inputs whose n greedy tokens all equal the task's output, number of inputs)."""
    from numeric.tasks import apply_task

    pred = greedy(logits, spec, x)
    return int((pred == apply_task(task, x)).all(dim=1).sum()), x.shape[0]
