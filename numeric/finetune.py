"""Full fine-tuning in torch float64: one head under eq. 7, batched over random ``Delta H`` and ``Delta W_V``
(`TorchFineTune`), and a rank-1 change of W_K (a rank-1 LoRA) that reverses a head's attention order on the reference
transformer (`reversal`; paper Sec. 4, notes 2.2)."""
from __future__ import annotations

import math
from typing import Any

import torch

from numeric.attention import DTYPE, HeadInstances, attention, causal_mask
from numeric.depth import Finding
from numeric.model import Config, LoRA, Transformer
from numeric.threads import one_thread


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


# ---- a rank-1 change of W_K reverses a head (paper-notes 2.2) -----------------------------------------------

def reversing_lora(model: Transformer, x: torch.Tensor, query: int, factor: float = -2.0) -> LoRA:
    """Rank-1 LoRA on ``layers.0.attn.W_K`` with Delta W_K = factor q q^T W_K / |q|^2 (q = the query at position
    ``query`` of input 0): the logits of that query become (1 + factor) times the old ones; factor -2 negates them."""
    with torch.no_grad():
        attn = model.layers[0].attn
        q = attn.W_Q(x[0, query])
        lora = LoRA(model, ["layers.0.attn.W_K"], rank=1)
        lora.B[0].copy_(factor * q[:, None] / (q @ q))
        lora.A[0].copy_((q @ attn.W_K.weight)[None, :])
    return lora


def rank1_reversal(seed: int, models: int = 16, batch: int = 1, n: int = 6, d: int = 8, factor: float = -2.0,
                   ) -> Finding:
    """Fraction of visible key pairs (j, k) of the last query whose attention order is NOT reversed by the rank-1
    change (0 when the claim holds), over random single-head models."""
    g = torch.Generator().manual_seed(seed)
    not_reversed, pairs = 0, 0
    witness: dict[str, Any] = {}
    for k in range(models):
        cfg = Config(vocab=10, d=d, n_layers=1, n_heads=1, norm="none", pos="none", mlp="none", unembed=False)
        model = Transformer(cfg, seed=seed + k)
        x = torch.randn(1, n, d, generator=g, dtype=torch.float64)
        lora = reversing_lora(model, x, n - 1, factor)
        with torch.no_grad():
            A = model(embeds=x, trace=True).layers[0].attn[0, 0, -1]
            B = model(embeds=x, adapter=lora, trace=True).layers[0].attn[0, 0, -1]
        dA = A[:, None] - A[None, :]
        dB = B[:, None] - B[None, :]
        decisive = dA.abs() > 1e-9
        bad = decisive & ~(dA * dB < 0)
        pairs += int(decisive.sum())
        if int(bad.sum()) and not witness:
            j, kk = (int(i) for i in torch.nonzero(bad)[0])
            witness = {"model_seed": seed + k, "keys": [j, kk], "before": [float(A[j]), float(A[kk])],
                       "after": [float(B[j]), float(B[kk])], "factor": factor}
        not_reversed += int(bad.sum())
    return Finding(not_reversed / max(pairs, 1), models, witness or {"pairs": pairs, "factor": factor})


def two_d_reversal(c: float = -1.0, values: tuple[float, ...] = (0.3, 2.0, 1.1, -0.7, 1.6), factor: float = -2.0,
                   ) -> Finding:
    """The explicit witness of paper-notes 2.2 on the reference model: tokens x_j = (v_j, 1), W_Q = [0 1],
    W_K = [c 0] (l_ij = tau c v_j: with c < 0 the head attends to the smallest v_j), and the rank-1 LoRA
    Delta W_K = b a^T with b = [1], a = (factor c, 0). Returns the fraction of key pairs of the last query whose
    order is not reversed (0 when factor = -2), with the attention before and after."""
    n = len(values)
    cfg = Config(vocab=2, d=2, n_layers=1, n_heads=1, d_head=1, w_o=False, norm="none", pos="none", mlp="none",
                 unembed=False, max_len=max(n, 1))
    model = Transformer(cfg)
    x = torch.tensor([[[v, 1.0] for v in values]], dtype=torch.float64)
    with torch.no_grad():
        attn = model.layers[0].attn
        attn.W_Q.weight.copy_(torch.tensor([[0.0, 1.0]]))
        attn.W_K.weight.copy_(torch.tensor([[c, 0.0]]))
        attn.W_V.weight.copy_(torch.eye(2))
        lora = LoRA(model, ["layers.0.attn.W_K"], rank=1)
        lora.B[0].copy_(torch.tensor([[1.0]]))
        lora.A[0].copy_(torch.tensor([[factor * c, 0.0]]))
        A = model(embeds=x, trace=True).layers[0].attn[0, 0, -1]
        B = model(embeds=x, adapter=lora, trace=True).layers[0].attn[0, 0, -1]
    dA, dB = A[:, None] - A[None, :], B[:, None] - B[None, :]
    decisive = dA.abs() > 1e-12
    bad = int((decisive & ~(dA * dB < 0)).sum())
    return Finding(bad / max(int(decisive.sum()), 1), 1, {
        "values": list(values), "c": c, "factor": factor, "lora_params": lora.n_params,
        "attention_before": [round(float(a), 6) for a in A], "attention_after": [round(float(b), 6) for b in B],
        "argmax_before": values[int(A.argmax())], "argmax_after": values[int(B.argmax())]})


def reversal(seed: int, models: int, factor: float = -2.0) -> tuple[Finding, Finding]:
    """(the explicit 2-D witness, ``models`` random heads) of the rank-1 reversal, on one torch thread: each the
    fraction of key pairs whose attention order the rank-1 change does not reverse."""
    with one_thread():
        return two_d_reversal(factor=factor), rank1_reversal(seed, models=models, factor=factor)
