"""The paper's prefix identities evaluated on captured attention calls of real transformers / peft passes.

Symbols (paper-notes 1.1, 2.2, 5 items 1-7): for one head and query i, ``S_ir = tau q_i . k_r + b_ir`` are the
scores the model's softmax saw (b: mask, window, ALiBi or relative position bias), the first n_pre keys are the
prefix ``k_m`` (values ``v_m``), the others the content ``k_j``. With ``A`` the prefixed attention and ``A^0`` /
``t^0`` the base model's attention / head output on the same content:

    alpha_i  = sum_m A_im
    A_ij     = (1 - alpha_i) A^0_ij                                 (relative attention, items 1 / 4)
    t_i      = (1 - alpha_i) t^0_i + sum_m A_im v_m                 (head output, items 3 / 6)
    alpha_i  = sigma(LSE_m S~_im - LSE_j S~^0_ij)                   (closed form, item 2 with the prefix's bias)
    alpha_i ?= sigma(LSE_m tau q_i.k_m - LSE_j S~_ij)               (position-free: no bias on the prefix keys)

``S~_ir = S_ir - S_ii`` measures scores against the query's own key (softmax is invariant to a per-row constant,
so biases such as ALiBi's ``slope * r`` and ``slope * (r - i)`` are the same bias); the position-free formula is
the paper's setting, where a prefix key gets no position term (``b_im - b_ii = 0``).

Every function returns the worst absolute deviation per head, shape ``(H,)``, over the batch, the queries, and
keys / coordinates. ``P`` is a call of the prefixed run, ``R`` the same module's call in a reference run whose
first ``R.n_pre`` keys are masked placeholders or absent.
"""
from __future__ import annotations

import torch

from numeric.hf_capture import AttentionCall


def worst(x: torch.Tensor) -> torch.Tensor:
    """(B, H, ...) -> (H,) max |x| (NaN-free)."""
    return x.nan_to_num(0.0, 0.0, 0.0).abs().transpose(0, 1).reshape(x.shape[1], -1).max(dim=1).values


def content_attn(C: AttentionCall) -> torch.Tensor:
    return C.attn[..., C.n_pre:]


def mass(P: AttentionCall) -> torch.Tensor:
    """alpha_i = sum_m A_im, (B, H, n, 1)."""
    return P.attn[..., :P.n_pre].sum(-1, keepdim=True)


def relative_scores(C: AttentionCall) -> torch.Tensor:
    """S~_ir = S_ir - S_ii (i-th query against its own key, the key at column n_pre + i)."""
    n = C.n
    diag = C.scores[..., torch.arange(n), C.n_pre + torch.arange(n)].unsqueeze(-1)
    return C.scores - diag


def relative_attention(P: AttentionCall, R: AttentionCall) -> torch.Tensor:
    """max |A_ij - (1 - alpha_i) A^0_ij|."""
    return worst(content_attn(P) - (1 - mass(P)) * content_attn(R))


def renormalised_attention(P: AttentionCall, R: AttentionCall) -> torch.Tensor:
    """max |A_ij / sum_r A_ir - A^0_ij / sum_r A^0_ir| over content keys."""
    a, b = content_attn(P), content_attn(R)
    return worst(a / a.sum(-1, keepdim=True) - b / b.sum(-1, keepdim=True))


def head_output(P: AttentionCall, R: AttentionCall) -> torch.Tensor:
    """max |t_i - (1 - alpha_i) t^0_i - sum_m A_im v_m|."""
    bias = P.attn[..., :P.n_pre] @ P.v[..., :P.n_pre, :]
    return worst(P.heads - ((1 - mass(P)) * R.heads + bias))


def alpha_closed_form(P: AttentionCall, R: AttentionCall) -> torch.Tensor:
    """max |alpha_i - sigma(LSE_m S~_im - LSE_j S~^0_ij)|: the prefix's own scores against the reference's content
    scores."""
    pre = torch.logsumexp(relative_scores(P)[..., :P.n_pre], -1, keepdim=True)
    con = torch.logsumexp(relative_scores(R)[..., R.n_pre:], -1, keepdim=True)
    return worst(mass(P) - torch.sigmoid(pre - con))


def alpha_position_free(P: AttentionCall) -> torch.Tensor:
    """max |alpha_i - sigma(LSE_m tau q_i.k_m - LSE_j S~_ij)| with the logit tau q_i . k_i of the own key as the
    reference (the prefix keys get no position bias)."""
    logits = P.logits()
    n = P.n
    own = logits[..., torch.arange(n), P.n_pre + torch.arange(n)].unsqueeze(-1)
    pre = torch.logsumexp(logits[..., :P.n_pre] - own, -1, keepdim=True)
    con = torch.logsumexp(relative_scores(P)[..., P.n_pre:], -1, keepdim=True)
    return worst(mass(P) - torch.sigmoid(pre - con))


def prefix_bias(P: AttentionCall) -> torch.Tensor:
    """b_im - b_ii on the prefix keys, (B, H, n, n_pre); -inf where the prefix key is masked for query i."""
    n = P.n
    bias = P.scores - P.logits()
    own = bias[..., torch.arange(n), P.n_pre + torch.arange(n)].unsqueeze(-1)
    out = bias[..., :P.n_pre] - own
    hidden = ~torch.isfinite(P.scores[..., :P.n_pre]) | (P.scores[..., :P.n_pre] < -1e30)
    return out.masked_fill(hidden, float("-inf"))


def states(P: AttentionCall, R: AttentionCall, n_S: int) -> torch.Tensor:
    """max |k, v at the first n_S own positions of P - k, v of R| (R: the prompt alone, no cache)."""
    kp, vp = P.k[..., P.n_pre:P.n_pre + n_S, :], P.v[..., P.n_pre:P.n_pre + n_S, :]
    return torch.maximum(worst(kp - R.k[:1]), worst(vp - R.v[:1]))


def attention_after(P: AttentionCall, Q: AttentionCall) -> torch.Tensor:
    """max |A_P - A_Q| over the last queries (the content) with the keys aligned (both n_S + n keys)."""
    return worst(P.attn[..., -Q.n:, :] - Q.attn)


def heads_after(P: AttentionCall, Q: AttentionCall) -> torch.Tensor:
    """max |t_P - t_Q| over the last queries (the content)."""
    return worst(P.heads[..., -Q.n:, :] - Q.heads)
