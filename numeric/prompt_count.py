"""Counting distinct generations of a fixed model over prompts (paper Sec. 3, hard-token capacity; notes 2.1, item 15).

A hard prompt of length n_S is one of the ``V^{n_S}`` token tuples `hard_prompts` enumerates; a soft prompt is any
``n_S x d`` block of input vectors. `decode` generates ``steps`` tokens after either kind through the same forward
pass (embeddings of the prompt, then of each generated token; `numeric.constructions.transformer.generate` decodes
the constructions with it), greedily or, for a false twin that drops the determinism assumption, by sampling from
the softmax.
"""
from __future__ import annotations

import itertools

import torch

from numeric.model import Transformer


def hard_prompts(V: int, n_S: int) -> torch.Tensor:
    """All ``V^{n_S}`` hard prompts of length ``n_S``, one per row ``(V^{n_S}, n_S)``."""
    return torch.tensor(list(itertools.product(range(V), repeat=n_S)), dtype=torch.long).reshape(V ** n_S, n_S)


@torch.no_grad()
def decode(model: Transformer, prompt: torch.Tensor, steps: int, sample: torch.Generator | None = None
           ) -> torch.Tensor:
    """``steps`` tokens after each prompt: ``prompt`` is ``(B, n_S)`` token ids (hard) or ``(B, n_S, d)`` vectors
    (soft). Greedy (argmax) unless ``sample`` is given, then one draw from the softmax per step. ``(B, steps)``."""
    x = model.embed_tokens(prompt) if prompt.dtype == torch.long else prompt.to(model.cfg.dtype)
    out = [torch.zeros(x.shape[0], 0, dtype=torch.long)]
    for _ in range(steps):
        logits = model(embeds=x).logits[:, -1]
        nxt = (logits.argmax(-1) if sample is None
               else torch.multinomial(torch.softmax(logits, -1), 1, generator=sample).squeeze(1))
        out.append(nxt[:, None])
        x = torch.cat([x, model.embed_tokens(nxt)[:, None]], dim=1)
    return torch.cat(out, dim=1)


def distinct(rows: torch.Tensor) -> int:
    """The number of distinct rows."""
    return len({tuple(r) for r in rows.tolist()})
