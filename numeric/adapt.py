"""A concrete float64 head adapted by a prefix / soft prompt / LoRA, evaluated at each input's last position:
the re-check every solver candidate must pass, plus the two repairs of the realizability step.

Method parameters are plain dicts of float64 tensors: ``{"s": (n_S, d)}`` for a prefix or soft prompt (keys
``W_K s_m``, values ``W_V s_m``), ``{"B": (rows, r), "A": (r, d)}`` for LoRA ``W -> W + B A`` on one matrix.
This module takes numbers only (no z3, no sympy).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from numeric.attention import DTYPE

Params = dict[str, torch.Tensor]


@dataclass
class ConcreteHead:
    """``W_Q, W_K``: (k, d); ``W_V``: (d_v, d); logits ``tau (W_Q x_i)^T W_K x_j``."""

    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor
    tau: float

    @staticmethod
    def from_lists(W_Q: Sequence, W_K: Sequence, W_V: Sequence, tau: float | None = None) -> ConcreteHead:
        t = lambda M: torch.tensor(M, dtype=DTYPE)  # noqa: E731
        Q = t(W_Q)
        return ConcreteHead(Q, t(W_K), t(W_V), 1 / math.sqrt(Q.shape[0]) if tau is None else float(tau))

    def adapted(self, kind: str, matrix: str, params: Params) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mats = {"W_Q": self.W_Q, "W_K": self.W_K, "W_V": self.W_V}
        if kind == "lora":
            mats[matrix] = mats[matrix] + params["B"] @ params["A"]
        return mats["W_Q"], mats["W_K"], mats["W_V"]

    def last(self, X: torch.Tensor, kind: str, matrix: str, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """(output (d_v,), content attention (n,)) at the last position of X (n, d), with the adaptation."""
        W_Q, W_K, W_V = self.adapted(kind, matrix, params)
        q = W_Q @ X[-1]
        keys, values = X @ W_K.T, X @ W_V.T
        if kind in ("prefix", "softprompt"):
            S = params["s"]
            keys, values = torch.cat([S @ W_K.T, keys]), torch.cat([S @ W_V.T, values])
        A = torch.softmax(self.tau * keys @ q, dim=0)
        n_S = A.shape[0] - X.shape[0]
        return A @ values, A[n_S:]


@dataclass
class Check:
    """The float64 re-check of a candidate: worst output error, worst ordering margin (A_j - A_k) and verdict."""

    ok: bool
    max_error: float
    min_margin: float
    detail: str


def recheck(head: ConcreteHead, kind: str, matrix: str, params: Params, inputs: Sequence[torch.Tensor],
            outputs: Sequence[Sequence[float]] | None, orderings: Sequence[Sequence[tuple[int, int]]] | None,
            tol: float) -> Check:
    """Evaluate the adapted head on every input: ok iff every output is within ``tol`` (max-norm) of its target
    and every ordering pair holds strictly."""
    if not all(torch.isfinite(p).all() for p in params.values()):
        return Check(False, math.inf, -math.inf, "candidate parameters are not finite")
    err, margin = 0.0, math.inf
    with torch.no_grad():
        for r, X in enumerate(inputs):
            out, A = head.last(X, kind, matrix, params)
            if outputs is not None:
                err = max(err, float((out - torch.tensor(outputs[r], dtype=DTYPE)).abs().max()))
            for j, k in (orderings[r] if orderings is not None else []):
                margin = min(margin, float(A[j] - A[k]))
    ok = err <= tol and margin > 0
    detail = f"max |t - y| = {err:.3g} (tol {tol:g})"
    if orderings is not None:
        detail += f", min A_j - A_k = {margin:.3g}"
    return Check(ok, err, margin, detail)


def _loss(head: ConcreteHead, kind: str, matrix: str, params: Params, inputs: Sequence[torch.Tensor],
          outputs: Sequence[Sequence[float]] | None, orderings: Sequence[Sequence[tuple[int, int]]] | None,
          margin: float) -> torch.Tensor:
    total = torch.zeros((), dtype=DTYPE)
    for r, X in enumerate(inputs):
        out, A = head.last(X, kind, matrix, params)
        if outputs is not None:
            total = total + ((out - torch.tensor(outputs[r], dtype=DTYPE)) ** 2).sum()
        for j, k in (orderings[r] if orderings is not None else []):
            total = total + torch.relu(margin - (A[j] - A[k])) ** 2
    return total


def polish(head: ConcreteHead, kind: str, matrix: str, start: Params, inputs: Sequence[torch.Tensor],
           outputs: Sequence[Sequence[float]] | None, orderings: Sequence[Sequence[tuple[int, int]]] | None,
           tol: float, iterations: int = 200) -> Params:
    """A short float64 L-BFGS run from ``start`` on the squared target error (and an ordering hinge)."""
    params = {k: v.clone().detach().requires_grad_(True) for k, v in start.items()}
    margin = max(tol, 1e-6)
    minimise(params.values(), lambda: _loss(head, kind, matrix, params, inputs, outputs, orderings, margin), iterations)
    return {k: v.detach() for k, v in params.items()}


def minimise(params: Iterable[torch.Tensor], loss: Callable[[], torch.Tensor], max_iter: int,
             tolerance_grad: float = 1e-14, tolerance_change: float = 1e-16) -> None:
    """One L-BFGS run (strong Wolfe line search, at most ``max_iter`` iterations) on ``params`` in place, minimising
    ``loss()``: the local search behind every float64 polish and search here."""
    opt = torch.optim.LBFGS(list(params), max_iter=max_iter, line_search_fn="strong_wolfe",
                            tolerance_grad=tolerance_grad, tolerance_change=tolerance_change)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    opt.step(closure)


def prefix_from_weights(head: ConcreteHead, inputs: Sequence[torch.Tensor], u: torch.Tensor,
                        log_p: torch.Tensor) -> torch.Tensor:
    """Least-squares ``s_m`` with ``W_V s_m = u_m`` and ``tau (W_Q x_q^(r))^T W_K s_m = log p_rm`` for every
    input r: the solver's abstract prefix values and weights turned back into prefix vectors. (n_S, d)."""
    qs = torch.stack([head.W_Q @ X[-1] for X in inputs])  # (R, k)
    rows = torch.cat([head.W_V, head.tau * qs @ head.W_K])  # (d_v + R, d)
    rhs = torch.cat([u.T, log_p])  # (d_v + R, n_S)
    return torch.linalg.lstsq(rows, rhs).solution.T.contiguous()
