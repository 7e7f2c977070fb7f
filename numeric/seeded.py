"""Realisation of a relaxation's solution as concrete prefix vectors (float64 torch; numbers only, no z3/sympy).

The relaxations of `theory.relax` drop the coupling between the prefix weights and ``s``; their solution
``(s, beta)`` is a seed. With the content frozen, the adapted output at input r's last position is

    t^pt_r(S) = (sum_m exp(lambda_rm) W_V s_m + Z_r t_r) / (sum_m exp(lambda_rm) + Z_r),
    lambda_rm = tau (W_Q x_q)^T W_K s_m   (paper-notes 2.2, prefix.multi.closed_form),

so only the prefix part depends on ``S``: `FrozenPrefix` precomputes ``t_r``, ``log Z_r`` and the query key
directions once, and `levenberg_marquardt` drives the residual ``t^pt(S) - y`` down from the seed, stopping as
soon as every coordinate is inside half the tolerance. Whatever it returns is only a candidate: FOUND needs the
independent re-check (`numeric.adapt.recheck`) on the full head.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from numeric.adapt import ConcreteHead
from numeric.attention import DTYPE


@dataclass
class FrozenPrefix:
    """Per input r: content output ``t`` (R, d_v), ``logZ`` (R,), key directions ``G = tau W_K^T W_Q x_q``
    (R, d); and ``W_V``."""

    t: torch.Tensor
    logZ: torch.Tensor
    G: torch.Tensor
    W_V: torch.Tensor

    @staticmethod
    def of(head: ConcreteHead, inputs: Sequence[torch.Tensor]) -> FrozenPrefix:
        ts, lzs, gs = [], [], []
        with torch.no_grad():
            for X in inputs:
                q = head.W_Q @ X[-1]
                logits = head.tau * (X @ head.W_K.T) @ q
                A = torch.softmax(logits, 0)
                ts.append(A @ (X @ head.W_V.T))
                lzs.append(torch.logsumexp(logits, 0))
                gs.append(head.tau * head.W_K.T @ q)
        return FrozenPrefix(torch.stack(ts), torch.stack(lzs), torch.stack(gs), head.W_V)

    def outputs(self, S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(t^pt_r (R, d_v), its Jacobian (R d_v, n_S d)) for prefix vectors S (n_S, d):
        ``d t^pt_r / d s_m = w_rm W_V + w_rm (u_m - t^pt_r) G_r^T`` (softmax derivative)."""
        lam = self.G @ S.T  # (R, n_S)
        w = torch.softmax(torch.cat([lam, self.logZ[:, None]], 1), 1)[:, :-1]  # (R, n_S)
        U = S @ self.W_V.T  # (n_S, d_v)
        out = w @ U + (1 - w.sum(1, keepdim=True)) * self.t
        diff = U[None, :, :] - out[:, None, :]  # (R, n_S, d_v)
        J = (w[:, None, :, None] * self.W_V[None, :, None, :]
             + (w[:, :, None] * diff).transpose(1, 2)[:, :, :, None] * self.G[:, None, None, :])  # (R, d_v, n_S, d)
        return out, J.reshape(out.numel(), S.numel())


def levenberg_marquardt(frozen: FrozenPrefix, S0: torch.Tensor, Y: torch.Tensor, tol: float, budget: float,
                        steps: int = 60) -> torch.Tensor:
    """Damped Gauss-Newton on ``t^pt(S) - Y`` from ``S0``; returns the best S seen (max-norm), early when it is
    within ``tol / 2``. ``budget`` seconds at most."""
    start = time.perf_counter()
    S = S0.clone().to(DTYPE)
    shape = S.shape


    def f(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, J = frozen.outputs(flat.reshape(shape))
        return (out - Y).reshape(-1), J

    res, J = f(S.reshape(-1))
    best, best_err = S.clone(), float(res.abs().max())
    mu = 1e-3
    for _ in range(steps):
        if best_err <= tol / 2 or time.perf_counter() - start > budget:
            break
        JtJ, Jtr = J.T @ J, J.T @ res
        scale = float(JtJ.diagonal().max()) or 1.0
        while True:
            step = torch.linalg.solve(JtJ + mu * scale * torch.eye(JtJ.shape[0], dtype=DTYPE), -Jtr)
            cand = S.reshape(-1) + step
            r2, J2 = f(cand)
            if torch.isfinite(r2).all() and float(r2 @ r2) < float(res @ res):
                S, res, J, mu = cand.reshape(shape), r2, J2, max(mu / 3, 1e-12)
                break
            mu *= 4
            if mu > 1e8:
                return best
        err = float(res.abs().max())
        if err < best_err:
            best, best_err = S.clone(), err
    return best
