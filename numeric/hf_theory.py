"""The paper's prefix identities evaluated on traces of real transformers / peft forward passes (float64).

Symbols (paper-notes 1.1, 2.2): for one head, query position i and content key j, ``A_ij`` is the base model's
attention, ``t_i = sum_j A_ij v_j`` its head output; with a prefix of n_S raw key/value vectors ``k_m, v_m``
(what peft injects), ``A^pt_im`` is the attention on prefix position m, ``alpha_i = sum_m A^pt_im``, and

    A^pt_ij = (1 - alpha_i) A_ij                                          (relative attention, item 1 / 4)
    t^pt_i  = (1 - alpha_i) t_i + sum_m A^pt_im v_m                       (head output, items 3 / 6)
    alpha_i = sum_m e^{l_im} / (sum_m e^{l_im} + sum_j e^{l_ij})          (l = tau q_i . k)

For peft's zero prefix (``k_m = v_m = 0``) every ``l_im = 0``, so ``alpha_i = n_S / (n_S + sum_j e^{l_ij})`` and
``t^pt_i = (1 - alpha_i) t_i``: the head output is scaled, not left alone.

Every function returns the worst absolute deviation per head, shape ``(H,)``, maximised over the batch, the
query positions and the keys/coordinates; the caller picks the layers. ``P`` is a layer trace of a prefixed run
(its attention has the n_S prefix keys first), ``R`` one of a reference run over the same content.
"""
from __future__ import annotations

import math

import torch

from numeric.hf import LayerTrace


def _worst(x: torch.Tensor) -> torch.Tensor:
    """(B, H, ...) -> (H,) max |x|."""
    return x.abs().transpose(0, 1).reshape(x.shape[1], -1).max(dim=1).values


def prefix_mass(P: LayerTrace, n_S: int) -> torch.Tensor:
    """alpha_i = sum_m A^pt_im, shape (B, H, n, 1)."""
    return P.attn[..., :n_S].sum(-1, keepdim=True)


def relative_attention(P: LayerTrace, R: LayerTrace, n_S: int) -> torch.Tensor:
    """max |A^pt_ij - (1 - alpha_i) A_ij| (the multiplicative, well-conditioned form)."""
    return _worst(P.attn[..., n_S:] - (1 - prefix_mass(P, n_S)) * R.attn)


def renormalised_attention(P: LayerTrace, R: LayerTrace, n_S: int) -> torch.Tensor:
    """max |A^pt_ij / sum_r A^pt_ir - A_ij|: how far the content attention a user would plot moves."""
    content = P.attn[..., n_S:]
    return _worst(content / content.sum(-1, keepdim=True) - R.attn)


def head_output(P: LayerTrace, R: LayerTrace, n_S: int, prefix_values: torch.Tensor) -> torch.Tensor:
    """max |t^pt_i - (1 - alpha_i) t_i - sum_m A^pt_im v_m| with v_m the injected values ``(H, n_S, d_h)``."""
    bias = P.attn[..., :n_S] @ prefix_values
    return _worst(P.heads - ((1 - prefix_mass(P, n_S)) * R.heads + bias))


def content_logits(T: LayerTrace, causal: bool) -> torch.Tensor:
    """l_ij = tau q_i . k_j over the pass's own tokens, -inf where j is not visible to i."""
    logits = T.scaling * T.q @ T.k.transpose(-1, -2)
    if causal:
        n = logits.shape[-1]
        visible = torch.ones(n, n, dtype=torch.bool).tril()
        logits = logits.masked_fill(~visible, float("-inf"))
    return logits


def zero_prefix_alpha(R: LayerTrace, n_S: int, causal: bool) -> torch.Tensor:
    """alpha_i = n_S / (n_S + sum_j e^{l_ij}) = sigmoid(log n_S - LSE_j l_ij), shape (B, H, n, 1)."""
    lse = torch.logsumexp(content_logits(R, causal), dim=-1, keepdim=True)
    return torch.sigmoid(math.log(n_S) - lse)


def zero_prefix_alpha_error(P: LayerTrace, R: LayerTrace, n_S: int, causal: bool) -> torch.Tensor:
    """max |sum_m A^pt_im - n_S / (n_S + sum_j e^{l_ij})|."""
    return _worst(prefix_mass(P, n_S) - zero_prefix_alpha(R, n_S, causal))


def zero_prefix_output(P: LayerTrace, R: LayerTrace, n_S: int, causal: bool) -> torch.Tensor:
    """max |t^pt_i - (1 - alpha_i) t_i| with alpha_i from the closed form (not from the prefixed run)."""
    return _worst(P.heads - (1 - zero_prefix_alpha(R, n_S, causal)) * R.heads)


def conditional_attention(P: LayerTrace, prefix_keys: torch.Tensor, causal: bool) -> torch.Tensor:
    """max |A^pt - softmax(tau q_i . [k_1..k_{n_S}, k_1..k_n])| with the raw injected keys (no rotary): the
    prefixed head given this layer's own inputs, at any depth."""
    pre = P.scaling * P.q @ prefix_keys.transpose(-1, -2)
    logits = torch.cat([pre, content_logits(P, causal)], dim=-1)
    return _worst(P.attn - torch.softmax(logits, dim=-1))


def conditional_output(P: LayerTrace, prefix_values: torch.Tensor) -> torch.Tensor:
    """max |t^pt - A^pt [v_1..v_{n_S}, v_1..v_n]|: the head output is the measured attention times the values."""
    B = P.v.shape[0]
    values = torch.cat([prefix_values.unsqueeze(0).expand(B, -1, -1, -1), P.v], dim=-2)
    return _worst(P.heads - P.attn @ values)


def states(P: LayerTrace, R: LayerTrace, n_S: int) -> torch.Tensor:
    """max |k, v at the first n_S positions of P - k, v of R|: are the prompt positions' keys and values the
    same with and without the content after them?"""
    return torch.maximum(_worst(P.k[..., :n_S, :] - R.k), _worst(P.v[..., :n_S, :] - R.v))


def attention_after(P: LayerTrace, Q: LayerTrace) -> torch.Tensor:
    """max |A_P - A_Q| over the content queries (the last queries of P), keys aligned: both have n_S + n keys."""
    return _worst(P.attn[..., -Q.attn.shape[-2]:, :] - Q.attn)


def heads_after(P: LayerTrace, Q: LayerTrace) -> torch.Tensor:
    """max |t_P - t_Q| over the content queries (the last ones of P)."""
    return _worst(P.heads[..., -Q.heads.shape[-2]:, :] - Q.heads)
