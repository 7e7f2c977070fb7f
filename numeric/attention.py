"""Float64 torch attention heads with prefixes, batched over random instances.

Shapes: B instances, n content tokens, d model width, k query/key width, n_S prefix positions.
``X: (B,n,d)``, ``W_Q, W_K: (B,k,d)``, ``W_V: (B,d_v,d)``, prefix hidden states ``S: (B,n_S,d)`` (keys
``W_K s_m``, values ``W_V s_m``) or raw key/value vectors ``(B,n_S,k)``, ``(B,n_S,d_v)`` (the peft form).

`TorchHead` exposes the same names as the symbolic views of `theory.head` (t, t_pt, A, A_pt, alpha, alphas, u,
bias, l_prefix, lse, sigmoid, minors, matvec), for every query position at once: scalars per query have shape
``(B,n,1)``, vectors ``(B,n,d_v)``, content attention ``(B,n,n)``, prefix values ``(B,1,d_v)``, so one statement
function broadcasts over all instances and positions.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

DTYPE = torch.float64


def causal_mask(n: int, device: torch.device | None = None) -> torch.Tensor:
    """True where query i may see content key j (j <= i)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, visible: torch.Tensor,
              tau: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax attention: logits ``l = tau q k^T`` (masked to -inf where not visible), ``A = softmax(l)``,
    output ``A v``. Returns (logits, A, output)."""
    logits = tau * q @ keys.transpose(-1, -2)
    logits = logits.masked_fill(~visible, float("-inf"))
    A = torch.softmax(logits, dim=-1)
    return logits, A, A @ values


@dataclass
class HeadInstances:
    """A batch of heads, inputs and prefixes; ``prefix_kv`` set means raw key/value prefixes."""

    X: torch.Tensor
    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor
    S: torch.Tensor
    tau: float
    prefix_kv: tuple[torch.Tensor, torch.Tensor] | None = None
    causal: bool = True

    def to(self, dtype: torch.dtype) -> HeadInstances:
        """The same heads with every tensor cast to ``dtype``."""
        kv = None if self.prefix_kv is None else (self.prefix_kv[0].to(dtype), self.prefix_kv[1].to(dtype))
        return HeadInstances(self.X.to(dtype), self.W_Q.to(dtype), self.W_K.to(dtype), self.W_V.to(dtype),
                             self.S.to(dtype), self.tau, kv, self.causal)

    def __post_init__(self) -> None:
        for name in ("X", "W_Q", "W_K", "W_V", "S"):
            t = getattr(self, name)
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} has NaN or inf entries")
        B, n, d = self.X.shape
        if self.W_Q.shape[-1] != d or self.W_K.shape[-1] != d or self.W_V.shape[-1] != d:
            raise ValueError(f"weight shapes {tuple(self.W_Q.shape)}, {tuple(self.W_K.shape)}, "
                             f"{tuple(self.W_V.shape)} do not match model width d={d}")
        if self.W_Q.shape[-2] != self.W_K.shape[-2]:
            raise ValueError("W_Q and W_K must have the same number of rows k")


def random_instances(B: int, n: int, d: int, n_S: int = 1, k: int | None = None, seed: int = 0,
                     scale: float = 1.0, prefix: str = "hidden") -> HeadInstances:
    """B random heads from ``seed``: entries N(0,1) (weights scaled by 1/sqrt(d)), logit scale ``scale``.

    Half of the batch (odd instances) uses 3x larger query weights so the softmax is far from uniform."""
    if min(B, n, d) < 1 or n_S < 0:
        raise ValueError(f"impossible dimensions B={B}, n={n}, d={d}, n_S={n_S}")
    k = k or d
    g = torch.Generator().manual_seed(seed)
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=DTYPE)  # noqa: E731
    W_Q = randn(B, k, d) * scale / math.sqrt(d)
    W_Q[1::2] *= 3.0
    inst = HeadInstances(X=randn(B, n, d), W_Q=W_Q, W_K=randn(B, k, d) / math.sqrt(d),
                         W_V=randn(B, d, d) / math.sqrt(d), S=randn(B, n_S, d), tau=1 / math.sqrt(k))
    if prefix == "kv":
        inst.prefix_kv = (randn(B, n_S, k), randn(B, n_S, d))
    return inst


class TorchHead:
    """The view of `theory.head`, computed by two real softmax attentions (with and without the prefix)."""

    def __init__(self, inst: HeadInstances) -> None:
        self.inst = inst
        X, n = inst.X, inst.X.shape[1]
        self.q = X @ inst.W_Q.transpose(-1, -2)
        self.k = X @ inst.W_K.transpose(-1, -2)
        self.v = X @ inst.W_V.transpose(-1, -2)
        if inst.prefix_kv is None:
            self.pk = inst.S @ inst.W_K.transpose(-1, -2)
            self.pv = inst.S @ inst.W_V.transpose(-1, -2)
        else:
            self.pk, self.pv = inst.prefix_kv
        self.n_S = self.pk.shape[1]
        visible = causal_mask(n) if inst.causal else torch.ones(n, n, dtype=torch.bool)
        self.logits, self._A, self._t = attention(self.q, self.k, self.v, visible, inst.tau)
        vis_pt = torch.cat([torch.ones(n, self.n_S, dtype=torch.bool), visible], dim=1)
        self.logits_pt, self.A_full, self._t_pt = attention(
            self.q, torch.cat([self.pk, self.k], 1), torch.cat([self.pv, self.v], 1), vis_pt, inst.tau)

    sigmoid = staticmethod(torch.sigmoid)

    @staticmethod
    def minors(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d = a.shape[-1]
        return torch.stack([a[..., r] * b[..., c] - a[..., c] * b[..., r]
                            for r in range(d) for c in range(r + 1, d)], dim=-1)

    @staticmethod
    def matvec(M: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """M: (B,d_out,d_in) per instance, v: (B,n,d_in) -> (B,n,d_out)."""
        return v @ M.transpose(-1, -2)

    @property
    def t(self) -> torch.Tensor:
        return self._t

    @property
    def t_pt(self) -> torch.Tensor:
        return self._t_pt

    @property
    def A(self) -> torch.Tensor:
        return self._A

    @property
    def A_pt(self) -> torch.Tensor:
        return self.A_full[..., self.n_S:]

    @cached_property
    def alphas(self) -> list[torch.Tensor]:
        return [self.A_full[..., m:m + 1] for m in range(self.n_S)]

    @property
    def alpha(self) -> torch.Tensor:
        return self.A_full[..., :self.n_S].sum(-1, keepdim=True)

    @property
    def u(self) -> list[torch.Tensor]:
        return [self.pv[:, m:m + 1, :] for m in range(self.n_S)]

    @property
    def bias(self) -> torch.Tensor:
        return self.A_full[..., :self.n_S] @ self.pv

    @property
    def prefix_softmax(self) -> list[torch.Tensor]:
        sm = torch.softmax(self.logits_pt[..., :self.n_S], dim=-1)
        return [sm[..., m:m + 1] for m in range(self.n_S)]

    @property
    def mass_pt(self) -> torch.Tensor:
        return self.A_pt.sum(-1, keepdim=True)

    @property
    def l_prefix(self) -> list[torch.Tensor]:
        return [self.logits_pt[..., m:m + 1] for m in range(self.n_S)]

    @property
    def lse(self) -> torch.Tensor:
        return torch.logsumexp(self.logits, dim=-1, keepdim=True)


@dataclass
class Discrepancy:
    """Max absolute error of ``lhs - rhs`` over a batch, and where it occurs."""

    max_error: float
    worst_instance: int
    instances: int

    def ok(self, tol: float) -> bool:
        return self.max_error <= tol


def discrepancy(lhs: torch.Tensor, rhs: torch.Tensor) -> Discrepancy:
    """Per-instance max |lhs - rhs| (all other axes reduced), then the worst instance."""
    diff = (lhs - rhs).abs()
    if not torch.isfinite(diff).all():
        diff = torch.nan_to_num(diff, nan=float("inf"))
    per_instance = diff.reshape(diff.shape[0], -1).amax(dim=1)
    worst = int(per_instance.argmax())
    return Discrepancy(float(per_instance[worst]), worst, diff.shape[0])


EPS_RATIO = torch.finfo(torch.float64).eps / torch.finfo(torch.float32).eps


@dataclass
class Comparison:
    """The outcome of `compare`: the worst error, the tolerance allowed there, and the worst instance."""

    ok: bool
    max_error: float
    allowed: float
    worst_instance: int


def _stacked(x: Any) -> torch.Tensor:
    if isinstance(x, (list, tuple)):
        return torch.stack([_stacked(v) for v in x], dim=-1)
    return torch.as_tensor(x, dtype=DTYPE)


def compare(lhs: Any, rhs: Any, lhs32: Any, rhs32: Any, atol: float, rtol: float,
            causal_n: int | None = None) -> Comparison:
    """Elementwise ``|lhs - rhs| <= atol + rtol max(|lhs|, |rhs|) + 16 |lhs32 - rhs32| eps64/eps32``: relative and
    absolute tolerance plus the rounding floor measured by the float32 evaluation of the same statement (a
    cancellation-prone form of a true identity has a float32 error of the same shape; a false identity's float32
    error is as large as its float64 one, so it is never excused). Entries of a (query, key) array that a causal
    query cannot see (key after query) are excluded; a NaN elsewhere fails."""
    a, b = torch.broadcast_tensors(_stacked(lhs), _stacked(rhs))
    a32, b32 = (_stacked(x).to(DTYPE) for x in (lhs32, rhs32))
    same = (a == b)  # equal infinities are equal
    err = torch.where(same, torch.zeros_like(a), (a - b).abs())
    err = torch.nan_to_num(err, nan=float("inf"))
    scale = torch.nan_to_num(torch.where(same, torch.zeros_like(a), torch.maximum(a.abs(), b.abs())),
                             nan=0.0, posinf=0.0)
    noise = torch.broadcast_to((a32 - b32).abs(), a.shape)
    # where float32 itself overflowed or divided by a cancelled 0, its error is at least the value's size
    noise = torch.where(torch.isfinite(noise), noise, scale)
    allowed = atol + rtol * scale + 16 * EPS_RATIO * noise
    if causal_n is not None and a.dim() >= 2 and tuple(a.shape[-2:]) == (causal_n, causal_n):
        hidden = ~causal_mask(causal_n)
        err = err.masked_fill(hidden, 0.0)
    if a.dim() == 0:
        err, allowed = err.reshape(1, 1), allowed.reshape(1, 1)
    excess = (err - allowed).reshape(err.shape[0], -1)
    per_instance = excess.amax(dim=1)
    worst = int(per_instance.argmax())
    flat_err, flat_allowed = err.reshape(err.shape[0], -1)[worst], allowed.reshape(err.shape[0], -1)[worst]
    k = int((flat_err - flat_allowed).argmax())
    return Comparison(bool((excess <= 0).all()), float(err.reshape(err.shape[0], -1).amax()), float(flat_allowed[k]),
                      worst)


class EnvBase:
    """The environment of a statement (`proofs.view.EnvView`) over torch views: ``_views[r][h]`` for input r and
    head h, ``_W_O[h]``."""

    _views: list[list[TorchHead]]
    _W_O: list[torch.Tensor]

    def view(self, r: int = 0, head: int = 0) -> TorchHead:
        return self._views[r][head]

    @property
    def h(self) -> TorchHead:
        return self.view(0, 0)

    def W_O(self, head: int) -> torch.Tensor:
        return self._W_O[head]

    @property
    def n_heads(self) -> int:
        return len(self._views[0])

    @staticmethod
    def total(xs: Sequence[torch.Tensor]) -> torch.Tensor:
        acc = xs[0]
        for x in xs[1:]:
            acc = acc + x
        return acc


class TorchEnv(EnvBase):
    """`theory.head.Env` over torch: ``grid[r][h]`` are the instances of input r and head h (same prefix hidden
    states and, per head, the same weights across inputs); ``W_O[h]`` is ``(B, d_out, d_v)``."""

    def __init__(self, grid: list[list[HeadInstances]], W_O: list[torch.Tensor]) -> None:
        self._views = [[TorchHead(inst) for inst in row] for row in grid]
        self._W_O = W_O

    @property
    def n(self) -> int:
        """Content length."""
        return int(self._views[0][0].inst.X.shape[1])

    @property
    def causal(self) -> bool:
        return self._views[0][0].inst.causal

    def astype_float32(self) -> TorchEnv:
        """The same heads, inputs and prefixes computed in float32 (to measure rounding)."""
        return TorchEnv([[view.inst.to(torch.float32) for view in row] for row in self._views],
                        [M.to(torch.float32) for M in self._W_O])

    @classmethod
    def random(cls, inputs: int, heads: int, n_S: int, B: int, n: int, d: int, seed: int,
               prefix: str = "hidden") -> TorchEnv:
        """Random heads (own weights each), inputs (own tokens each), one shared prefix; all from ``seed``."""
        g = torch.Generator().manual_seed(seed)
        X = [torch.randn(B, n, d, generator=g, dtype=DTYPE) for _ in range(inputs)]
        S = torch.randn(B, n_S, d, generator=g, dtype=DTYPE)
        grid: list[list[HeadInstances]] = [[] for _ in range(inputs)]
        for h in range(heads):
            base = random_instances(B, n, d, n_S, seed=seed * 7919 + h + 1, prefix=prefix)
            for r in range(inputs):
                grid[r].append(HeadInstances(X[r], base.W_Q, base.W_K, base.W_V, S, base.tau, base.prefix_kv))
        W_O = [torch.randn(B, d, d, generator=g, dtype=DTYPE) / math.sqrt(d) for _ in range(heads)]
        return cls(grid, W_O)
