"""Turn abstract solver values back into concrete float64 heads, so a candidate counterexample can be re-checked.

Given, for one or more inputs, content weights ``w_j > 0`` with values ``v_j`` and prefix weights ``p_m > 0``
(all at the last query position), and prefix values ``u_m`` shared by every input, we build one head
``W_Q, W_K, W_V`` and one prefix ``s`` that produce exactly those weights (up to float rounding of log):

* tokens are standard basis vectors of R^D: input r's content tokens, then the prefix tokens ``s_m``;
* ``W_Q = I_D``, ``tau = 1``, so ``l(i, j) = x_i^T W_K x_j = W_K[i, j]``; row i of ``W_K`` (i = the last token of
  input r) holds ``log w_j`` and ``log p_m``;
* columns of ``W_V`` are the wanted values ``v_j`` and ``u_m``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from numeric.attention import DTYPE, HeadInstances


def realize(inputs: Sequence[dict], u: Sequence[Sequence[float]]) -> list[HeadInstances]:
    """One `HeadInstances` (B=1) per input dict ``{"w": [...], "v": [[...]], "p": [...]}``, sharing the head."""
    n_S = len(u)
    sizes = [len(r["w"]) for r in inputs]
    D = sum(sizes) + n_S
    d_v = len(u[0]) if n_S else len(inputs[0]["v"][0])
    for r in inputs:
        if len(r["p"]) != n_S or len(r["v"]) != len(r["w"]):
            raise ValueError("inconsistent witness: prefix weights/values or content weights/values differ in length")
        if min([*r["w"], *r["p"]]) <= 0:
            raise ValueError("witness weights must be positive")
    W_K = torch.zeros(D, D, dtype=DTYPE)
    W_V = torch.zeros(d_v, D, dtype=DTYPE)
    eye = torch.eye(D, dtype=DTYPE)
    prefix_cols = list(range(sum(sizes), D))
    out = []
    start = 0
    for r, size in zip(inputs, sizes):
        cols = list(range(start, start + size))
        query = cols[-1]
        for j, col in enumerate(cols):
            W_K[query, col] = math.log(r["w"][j])
            W_V[:, col] = torch.tensor(r["v"][j], dtype=DTYPE)
        for m, col in enumerate(prefix_cols):
            W_K[query, col] = math.log(r["p"][m])
        start += size
    for m, col in enumerate(prefix_cols):
        W_V[:, col] = torch.tensor(u[m], dtype=DTYPE)
    S = eye[prefix_cols].unsqueeze(0)
    start = 0
    for size in sizes:
        X = eye[start:start + size].unsqueeze(0)
        out.append(HeadInstances(X=X, W_Q=eye.unsqueeze(0), W_K=W_K.unsqueeze(0), W_V=W_V.unsqueeze(0), S=S, tau=1.0))
        start += size
    return out
