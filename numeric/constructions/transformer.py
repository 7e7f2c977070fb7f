"""Load a construction into the reference transformer (`numeric.model`) and decode greedily in float64/float32.

The constructions use the reference model with ``norm="none"``, ``residual=False``, ``causal=False``,
``w_o=False`` (heads summed), learned absolute positions (the one-hot rows ``P``), per-head query/key widths,
``logit_scale = T / sqrt(L)`` and a ReLU MLP stack per layer; the embedding ``E`` and unembedding ``W_U`` are
set to the construction's. A virtual token is a soft prompt: a free input vector that the model prepends to
the token embeddings and then adds position 0 to (`numeric.model.SoftPrompt`, or batched ``embeds=``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from numeric.constructions.network import Network, Sparse
from numeric.model import MLP, Config, SoftPrompt, Transformer
from numeric.threads import one_thread


def dense(M: Sparse, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The matrix as a dense tensor (every entry rounded once to ``dtype``)."""
    out = torch.zeros(M.rows, M.cols, dtype=dtype)
    for i, j, v in M.entries:
        out[i, j] = float(v)
    return out


def _padded(M: Sparse, rows: int, dtype: torch.dtype) -> torch.Tensor:
    """Extra zero rows (a wider query/key space with zero coordinates leaves every q . k unchanged)."""
    out = torch.zeros(rows, M.cols, dtype=dtype)
    out[: M.rows] = dense(M, dtype)
    return out


def to_model(net: Network, dtype: torch.dtype = torch.float64) -> Transformer:
    """The reference transformer carrying the construction's weights (``dtype`` float64 or float32)."""
    heads = {len(layer.heads) for layer in net.layers}
    if len(heads) != 1:
        raise ValueError(f"{net.name}: every layer needs the same number of heads, got {sorted(heads)}")
    (H,) = heads
    ks = [max(layer.heads[h].k for layer in net.layers) for h in range(H)]
    sizes = [[net.d] + [a.A.rows for a in layer.mlp] for layer in net.layers]
    T = float(net.T)
    cfg = Config(vocab=net.V, d=net.d, n_layers=len(net.layers), n_heads=H, d_head=tuple(ks), d_value=net.d,
                 norm="none", pos="learned", causal=False, residual=False, w_o=False,
                 mlp=lambda l: MLP(sizes[l], "relu", bias=True, final_activation=True, dtype=dtype),
                 max_len=net.n_pos, bias=False, logit_scale=lambda k, n: T / math.sqrt(n), dtype=dtype)
    model = Transformer(cfg)
    with torch.no_grad():
        model.embed.weight.copy_(dense(net.E, dtype))
        model.pos.copy_(dense(net.P, dtype))
        model.unembed.weight.copy_(dense(net.W_U, dtype))
        for block, layer in zip(model.layers, net.layers):
            attn = block.attn
            attn.W_Q.weight.copy_(torch.cat([_padded(h.W_Q, k, dtype) for h, k in zip(layer.heads, ks)]))
            attn.W_K.weight.copy_(torch.cat([_padded(h.W_K, k, dtype) for h, k in zip(layer.heads, ks)]))
            attn.W_V.weight.copy_(torch.cat([dense(h.W_V, dtype) for h in layer.heads]))
            for fc, affine in zip(block.mlp.fcs, layer.mlp):
                fc.weight.copy_(dense(affine.A, dtype))
                fc.bias.copy_(torch.tensor([float(b) for b in affine.b], dtype=dtype))
    model.requires_grad_(False)
    return model


def virtual_tensor(rows: Sequence[Sequence[Sequence[float]]], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Virtual tokens ``(B, n_S, d)`` from nested rationals/floats (each entry rounded once to ``dtype``)."""
    return torch.tensor([[[float(v) for v in s] for s in batch] for batch in rows], dtype=dtype)




@torch.no_grad()
def generate(model: Transformer, virtual: torch.Tensor, tokens: torch.Tensor | None, steps: int) -> torch.Tensor:
    """Greedy decoding of ``steps`` tokens for a batch: ``virtual (B, n_S, d)`` soft-prompt vectors, then the
    hard ``tokens (B, n_x)``; every step re-runs the full (unmasked) model. Returns ``(B, steps)``."""
    x = virtual.to(model.cfg.dtype)
    if tokens is not None and tokens.shape[1]:
        x = torch.cat([x, model.embed_tokens(tokens)], dim=1)
    out = []
    with one_thread():
        for _ in range(steps):
            nxt = model(embeds=x).logits[:, -1].argmax(-1)
            out.append(nxt)
            x = torch.cat([x, model.embed_tokens(nxt)[:, None]], dim=1)
    return torch.stack(out, dim=1) if out else torch.zeros(x.shape[0], 0, dtype=torch.long)


@torch.no_grad()
def generate_soft_prompt(model: Transformer, virtual: torch.Tensor, tokens: Sequence[int], steps: int) -> list[int]:
    """One sequence through the model's own soft-prompt adapter (``virtual (n_S, d)``): the path a user takes."""
    prompt = SoftPrompt(virtual.shape[0], model.cfg.d, init=virtual.to(model.cfg.dtype), dtype=model.cfg.dtype)
    seq = list(tokens)
    with one_thread():
        for _ in range(steps):
            idx = torch.tensor([seq], dtype=torch.long)
            seq.append(int(model(idx, adapter=prompt).logits[0, -1].argmax()))
    return seq[len(tokens):]
