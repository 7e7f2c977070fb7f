"""Load a construction's weights into the reference transformer (`numeric.model`) and decode greedily in
float64/float32.

The weights arrive as plain numbers (`Weights`: nested lists of floats, each the correctly rounded value of the
construction's exact rational; `proofs.constructions.float_weights` converts the exact `theory.constructions`
network). The constructions use the reference model with ``norm="none"``, ``residual=False``, ``causal=False``,
``w_o=False`` (heads summed), learned absolute positions (the one-hot rows ``P``), per-head query/key widths,
``logit_scale = T / sqrt(L)`` and a ReLU MLP stack per layer; the embedding ``E`` and unembedding ``W_U`` are
set to the construction's. A virtual token is a soft prompt: a free input vector that the model prepends to
the token embeddings and then adds position 0 to (`numeric.model.SoftPrompt`, or batched ``embeds=``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import torch

from numeric.model import MLP, Config, SoftPrompt, Transformer
from numeric.prompt_count import decode
from numeric.threads import one_thread

Matrix = list[list[float]]  # rows x cols


@dataclass(frozen=True)
class HeadMatrices:
    """``W_Q, W_K`` are ``k x d``, ``W_V`` is ``d x d`` (heads are summed, no ``W_O``)."""

    W_Q: Matrix
    W_K: Matrix
    W_V: Matrix


@dataclass(frozen=True)
class LayerMatrices:
    """The heads, then the MLP: affine maps ``x -> ReLU(A x + b)``, one ``(A, b)`` each."""

    heads: tuple[HeadMatrices, ...]
    mlp: tuple[tuple[Matrix, list[float]], ...]


@dataclass(frozen=True)
class Weights:
    """A construction in plain numbers: ``E`` is ``d x V``, ``P`` is ``n_pos x d``, ``W_U`` is ``V x d``, ``T`` the
    inverse temperature (logits ``T q.k / sqrt(L)``)."""

    name: str
    V: int
    d: int
    n_pos: int
    T: float
    E: Matrix
    P: Matrix
    W_U: Matrix
    layers: tuple[LayerMatrices, ...]


def tensor(M: Matrix, dtype: torch.dtype = torch.float64, rows: int | None = None) -> torch.Tensor:
    """The matrix as a tensor (each entry rounded once to ``dtype``), with zero rows appended up to ``rows`` (a
    wider query/key space with zero coordinates leaves every q . k unchanged)."""
    out = torch.tensor(M, dtype=dtype)
    return out if rows is None else torch.cat([out, torch.zeros(rows - len(M), out.shape[1], dtype=dtype)])


@dataclass
class LogitScale:
    """The constructions' logit scale ``T / sqrt(L)`` (``L`` keys). ``T`` is the model's inverse temperature, or a
    ``(B, 1, 1)`` tensor of one temperature per sequence of a batch: the reference model multiplies the queries by
    the scale before ``q . k``, so row ``b`` then computes exactly what the model with temperature ``T[b]`` does."""

    T: float | torch.Tensor

    def __call__(self, k: int, n: int) -> Any:
        return self.T / math.sqrt(n)


def to_model(net: Weights, dtype: torch.dtype = torch.float64) -> Transformer:
    """The reference transformer carrying the construction's weights (``dtype`` float64 or float32); its
    ``cfg.logit_scale`` is a `LogitScale`."""
    heads = {len(layer.heads) for layer in net.layers}
    if len(heads) != 1:
        raise ValueError(f"{net.name}: every layer needs the same number of heads, got {sorted(heads)}")
    (H,) = heads
    ks = [max(len(layer.heads[h].W_Q) for layer in net.layers) for h in range(H)]
    sizes = [[net.d] + [len(A) for A, _ in layer.mlp] for layer in net.layers]
    cfg = Config(vocab=net.V, d=net.d, n_layers=len(net.layers), n_heads=H, d_head=tuple(ks), d_value=net.d,
                 norm="none", pos="learned", causal=False, residual=False, w_o=False,
                 mlp=lambda l: MLP(sizes[l], "relu", bias=True, final_activation=True, dtype=dtype),
                 max_len=net.n_pos, bias=False, logit_scale=LogitScale(net.T), dtype=dtype)
    model = Transformer(cfg)
    assert model.pos is not None and model.unembed is not None  # pos="learned", unembed=True
    with torch.no_grad():
        model.embed.weight.copy_(tensor(net.E, dtype))
        model.pos.copy_(tensor(net.P, dtype))
        model.unembed.weight.copy_(tensor(net.W_U, dtype))
        for block, layer in zip(model.layers, net.layers):
            assert isinstance(block.mlp, MLP)  # the factory above builds an MLP per layer
            attn = block.attn
            attn.W_Q.weight.copy_(torch.cat([tensor(h.W_Q, dtype, k) for h, k in zip(layer.heads, ks)]))
            attn.W_K.weight.copy_(torch.cat([tensor(h.W_K, dtype, k) for h, k in zip(layer.heads, ks)]))
            attn.W_V.weight.copy_(torch.cat([tensor(h.W_V, dtype) for h in layer.heads]))
            for fc, (A, b) in zip(block.mlp.fcs, layer.mlp):
                assert fc.bias is not None  # MLP(..., bias=True)
                fc.weight.copy_(tensor(A, dtype))
                fc.bias.copy_(torch.tensor(b, dtype=dtype))
    model.requires_grad_(False)
    return model


def virtual_tensor(rows: Sequence[Sequence[Sequence[SupportsFloat]]], dtype: torch.dtype = torch.float64
                   ) -> torch.Tensor:
    """Virtual tokens ``(B, n_S, d)`` from nested rationals/floats (each entry rounded once to ``dtype``)."""
    return torch.tensor([[[float(v) for v in s] for s in batch] for batch in rows], dtype=dtype)


@torch.no_grad()
def generate(model: Transformer, virtual: torch.Tensor, tokens: torch.Tensor | None, steps: int) -> torch.Tensor:
    """Greedy decoding of ``steps`` tokens for a batch: ``virtual (B, n_S, d)`` soft-prompt vectors, then the
    hard ``tokens (B, n_x)``; every step re-runs the full (unmasked) model. Returns ``(B, steps)``."""
    x = virtual.to(model.cfg.dtype)
    if tokens is not None and tokens.shape[1]:
        x = torch.cat([x, model.embed_tokens(tokens)], dim=1)
    with one_thread():
        return decode(model, x, steps)


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
