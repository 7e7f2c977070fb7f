"""Training loops and exact-match evaluation for the synthetic tasks (paper-notes 4.1).

One loop, `train_side_by_side` (`train` is its one-member case), serves every method; what differs is which
parameters move and how the logits are computed:

* pretraining and full fine-tuning: every weight, ``W -> W + Delta W``;
* prefix-tuning: only the per-layer prefix ``s^{(l)}_{1..n_S}``, the model frozen and in eval mode;
* LoRA: only the rank-r factors ``B A`` added to chosen linear maps, the model frozen.

Optimiser as in the authors' Trainer: AdamW, betas (0.9, 0.95), gradient clipping at 1.0, weight decay only on
the matrices that multiply activations (``decay`` group); the prefix/LoRA trainer uses torch's default weight
decay 0.01. The loss is cross-entropy on the output positions only. Several independent trainings of one shape
(e.g. prefixes at several learning rates) can run side by side in one batch, each with its own loss, clipping and
AdamW, on the batches they would draw one after another.

Evaluation is greedy decoding of n tokens after ``[0]*n_S + input`` and **exact match of all n tokens**.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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
MemberHook = Callable[[int, int, float], None]
"""Called after every step once per member, with (member index, step index starting at 1, that member's loss)."""
Groups = tuple[Iterable[torch.Tensor], Iterable[torch.Tensor]]
"""``(decay, no_decay)``: parameters with weight decay ``phase.weight_decay`` and without."""
Batch = tuple[torch.Tensor, torch.Tensor]

#: Most tokens (inputs and targets of every step of every member) `train_side_by_side` draws ahead (about 64 MB).
SIDE_BY_SIDE_TOKENS = 2**22


def train(logits: Logits, groups: Groups, spec: TaskSpec, task: str, phase: Phase, g: torch.Generator,
          on_step: StepHook | None = None) -> float:
    """Minimise the output-position cross-entropy of ``task``; returns the last loss.

    ``groups = (decay, no_decay)``: parameters with weight decay ``phase.weight_decay`` and without."""
    hook = None if on_step is None else (lambda _k, step, loss: on_step(step, loss))
    return train_side_by_side(logits, [(groups, phase)], spec, task, g, hook)[0]


def side_by_side_fits(spec: TaskSpec, phases: Sequence[Phase]) -> bool:
    """Whether `train_side_by_side` may train ``phases`` at once: one step count and batch size, and their batches
    drawn ahead within `SIDE_BY_SIDE_TOKENS`."""
    same = len({(p.steps, p.batch) for p in phases}) == 1
    return same and 2 * sum(p.steps * p.batch for p in phases) * spec.block <= SIDE_BY_SIDE_TOKENS


def train_side_by_side(logits: Logits, members: Sequence[tuple[Groups, Phase]], spec: TaskSpec, task: str,
                       g: torch.Generator, on_step: MemberHook | None = None) -> list[float]:
    """K independent trainings (``members``: parameters and phase each) as one: step t feeds the K sub-batches
    stacked, ``logits`` must map sub-batch k through member k's parameters only, and the loss is
    ``sum_k L_k`` with ``L_k`` member k's mean output cross-entropy, so member k's parameters get exactly
    ``grad L_k``; gradients are clipped to norm 1.0 per member and AdamW keeps each member's learning rate and
    weight decay (elementwise, so one optimiser with a group per member is K optimisers). Member k's batches are
    the ones K trainings one after another would draw from ``g`` (all of member 0's, then member 1's, ...; drawn
    ahead when K > 1), and ``g`` ends where they would leave it: the numbers are those of the K trainings run in
    turn, up to float rounding. Returns each member's last loss."""
    phases = [phase for _, phase in members]
    if len(members) > 1 and not side_by_side_fits(spec, phases):
        raise ValueError("side-by-side training needs one step count and batch size, and batches that fit "
                         f"{SIDE_BY_SIDE_TOKENS} tokens; got {phases}")
    split = [(list(decay), list(no_decay)) for (decay, no_decay), _ in members]
    if not all(decay + no_decay for decay, no_decay in split):
        raise ValueError("nothing to train: no parameters given")
    opt = AdamW([group for (decay, no_decay), phase in zip(split, phases)
                 for group in ((decay, phase.lr, phase.weight_decay), (no_decay, phase.lr, 0.0))])
    loss_values = [float("nan")] * len(members)
    for step, (x, y) in enumerate(_batches(spec, task, phases, g), start=1):
        out = logits(x)
        losses = [F.cross_entropy(o.reshape(-1, o.shape[-1]), t.reshape(-1), ignore_index=IGNORE)
                  for o, t in zip(out.split(phases[0].batch), y.split(phases[0].batch))]
        opt.zero_grad()
        (losses[0] if len(losses) == 1 else torch.stack(losses).sum()).backward()
        clip_each([decay + no_decay for decay, no_decay in split], 1.0)
        opt.step()
        loss_values = [float(loss.detach()) for loss in losses]
        if on_step is not None:
            for k, value in enumerate(loss_values):
                on_step(k, step, value)
    return loss_values


@torch.no_grad()
def clip_each(members: Sequence[list[torch.Tensor]], max_norm: float) -> list[torch.Tensor | None]:
    """``torch.nn.utils.clip_grad_norm_(params, max_norm)`` for each list of ``members`` in turn: its gradients ``g``
    scaled by ``min(max_norm / (||g||_2 + 1e-6), 1)``, ``||g||_2`` the norm of all of that member's gradients as one
    vector. The same kernels in the same order as torch's (per-tensor norms, their norm, the clamped coefficient,
    one in-place product; a test pins them bit for bit), without its per-call Python (grouping by device and dtype,
    three no-grad contexts): the per-tensor norms of every member in one call, and one product for all. A member
    whose gradients are not all of one dtype goes through torch's own function. Returns each member's total norm
    (None for a member without gradients)."""
    grads = [[p.grad for p in params if p.grad is not None] for params in members]
    plain = [g for g in grads if g and len({t.dtype for t in g}) == 1]
    norms = iter(torch._foreach_norm([t for g in plain for t in g], 2.0))
    scaled: list[torch.Tensor] = []
    coefs: list[torch.Tensor] = []
    totals: list[torch.Tensor | None] = []
    for params, g in zip(members, grads):
        if not g:
            totals.append(None)
        elif len({t.dtype for t in g}) != 1:
            totals.append(torch.nn.utils.clip_grad_norm_(params, max_norm))
        else:
            total = torch.linalg.vector_norm(torch.stack([next(norms) for _ in g]), 2.0)
            coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            scaled.extend(g)
            coefs.extend([coef] * len(g))
            totals.append(total)
    if scaled:
        torch._foreach_mul_(scaled, coefs)
    return totals


class AdamW:
    """AdamW, betas (0.9, 0.95), eps 1e-8, one learning rate and weight decay per group of parameters: per element
    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, ``w <- w (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps)``
    with bias corrections ``1 - b^t``. It calls the very kernel ``torch.optim.AdamW(fused=True)`` calls
    (``torch._fused_adamw_``, with the same state; a test pins the two bit for bit) without torch.optim, whose
    every entry point imports torch._dynamo (about 1.3 s of CPU once per process that trains)."""

    def __init__(self, groups: Sequence[tuple[list[torch.Tensor], float, float]],
                 betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8) -> None:
        self.groups = [(list(params), lr, wd) for params, lr, wd in groups]
        self.betas, self.eps = betas, eps
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for params, _, _ in self.groups:
            for p in params:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (state created at its first, as torch does)."""
        for params, lr, wd in self.groups:
            by_dtype: dict[torch.dtype, list[tuple[torch.Tensor, torch.Tensor]]] = {}
            for p in params:
                if p.grad is not None:
                    by_dtype.setdefault(p.dtype, []).append((p, p.grad))
            for pairs in by_dtype.values():
                same = [p for p, _ in pairs]
                state = [self._state(p) for p in same]
                steps = [t for _, _, t in state]
                torch._foreach_add_(steps, 1)
                torch._fused_adamw_(same, [g for _, g in pairs], [m for m, _, _ in state], [v for _, v, _ in state],
                                    [], steps, amsgrad=False, lr=lr, beta1=self.betas[0], beta2=self.betas[1],
                                    weight_decay=wd, eps=self.eps, maximize=False, grad_scale=None, found_inf=None)

    def _state(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(m, v, t)`` of ``p``: zeros at first, the step count a float32 scalar (torch's fused state)."""
        if id(p) not in self.state:
            self.state[id(p)] = (torch.zeros_like(p, memory_format=torch.preserve_format),
                                 torch.zeros_like(p, memory_format=torch.preserve_format),
                                 torch.zeros((), dtype=torch.float32, device=p.device))
        return self.state[id(p)]


def _batches(spec: TaskSpec, task: str, phases: Sequence[Phase], g: torch.Generator) -> Iterator[Batch]:
    """Step by step, the members' batches stacked: one member's drawn as it goes, several drawn ahead in turn."""
    if len(phases) == 1:
        return (spec.batch(task, phases[0].batch, g) for _ in range(phases[0].steps))
    drawn = [[spec.batch(task, p.batch, g) for _ in range(p.steps)] for p in phases]
    return ((torch.cat([x for x, _ in step]), torch.cat([y for _, y in step])) for step in zip(*drawn))


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
