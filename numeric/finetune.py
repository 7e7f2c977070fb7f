"""Full fine-tuning of one head (eq. 7) in torch float64, batched: random ``Delta H`` and ``Delta W_V``."""
from __future__ import annotations

import math

import torch

from numeric.attention import DTYPE, HeadInstances, attention, causal_mask


class TorchFineTune:
    """``t^ft_i`` with ``H + Delta H`` and ``W_V + Delta W_V``; shapes ``(B, n, d)``."""

    def __init__(self, inst: HeadInstances, seed: int) -> None:
        self.inst = inst
        B, n, d = inst.X.shape
        g = torch.Generator().manual_seed(seed + 1)
        self.dH = torch.randn(B, d, d, generator=g, dtype=DTYPE) / math.sqrt(d)
        self.dWV = torch.randn(B, d, d, generator=g, dtype=DTYPE) / math.sqrt(d)
        self.visible = causal_mask(n)

    def _attend(self, delta_H: bool, W: torch.Tensor) -> torch.Tensor:
        """softmax_j(tau x_i^T H' x_j) W x_j, with H' = W_Q^T W_K (+ Delta H)."""
        inst = self.inst
        H = inst.W_Q.transpose(-1, -2) @ inst.W_K + (self.dH if delta_H else 0)
        q = inst.X @ H  # x_i^T H' ; keys are x_j themselves
        return attention(q, inst.X, inst.X @ W.transpose(-1, -2), self.visible, inst.tau)[2]

    @property
    def t(self) -> torch.Tensor:
        return self._attend(False, self.inst.W_V)

    def t_ft(self, delta_H: bool, delta_V: bool) -> torch.Tensor:
        return self._attend(delta_H, self.inst.W_V + (self.dWV if delta_V else 0))

    def dWV_xbar(self, delta_V: bool) -> torch.Tensor:
        if delta_V:
            return self._attend(False, self.dWV)
        return torch.zeros_like(self.inst.X @ self.inst.W_V.transpose(-1, -2))
