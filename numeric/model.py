"""A readable reference transformer (torch, float64 by default) with architecture variants and full traces.

Notation follows the paper (paper-notes 1.1): the embedding matrix is ``E in R^{d x V}`` (token v embeds as
``E[:, v]``); per head h ``W_Q^h, W_K^h in R^{k_h x d}``, ``W_V^h in R^{dv_h x d}``, ``H = W_Q^T W_K``; logits
``l_ij = scale(k_h, n_keys) * q_i . k_j (+ ALiBi bias)``, masked, ``A = softmax(l)``, head output
``t_i^h = sum_j A_ij v_j``; the layer output is ``W_O [t^1; ...; t^H]`` or, without ``W_O``, ``sum_h t^h``.

Variants (`Config`)::

    norm    "pre" (x + Attn(LN x), GPT-2), "post" (LN(x + Attn x), original Transformer), "none", "rms" (pre-RMSNorm)
    pos     "none", "learned" (absolute, added at the input), "sinusoidal" (absolute, added at the input),
            "rope" (rotation of q, k in every head), "alibi" (logit bias -m_h |i - j|)
    causal  True: query position p sees keys at positions <= p; False: bidirectional
    dropout  minGPT's three dropouts with this probability (input embedding, attention weights, each sub-block's
            output before the residual add), active only in ``train()`` mode; 0 by default
    residual, w_o, mlp ("gelu" | "relu" | "none" | a factory ``layer -> nn.Module``), d_head / d_value (an int,
    or one width per head, e.g. ``d_head=(N, 1)``), logit_scale (``(k_h, n_keys) -> float``; default
    ``1/sqrt(k_h)``; the paper's constructions use ``lambda k, L: T / math.sqrt(L)``), dtype, unembed.

Usage::

    model = Transformer(Config(vocab=10, d=16, n_layers=2, n_heads=2, norm="pre", pos="rope"), seed=0)
    out = model(idx, trace=True)                   # idx: (B, n) token ids, or embeds=(B, n, d) input vectors
    out.logits, out.hidden                         # (B, n_P + n, V), (B, n_P + n, d)
    out.layers[l].attn                             # (B, H, n_P + n, n_S + n_P + n) attention weights
    out.layers[l].head_out[h]                      # (B, n_P + n, dv_h) head outputs t^h (before W_O)
    out.layers[l].resid_in / resid_mid / resid_out # residual stream before / between / after the sub-blocks

Adaptation methods are `Adapter` modules passed as ``model(idx, adapter=...)``; each has ``n_params``:

    HardPrompt(tokens)            tokens prepended (no trainable parameters; V^{n_S} choices)
    SoftPrompt(n_S, d)            free vectors s_1..s_{n_S} prepended to the input embeddings (n_S d parameters)
    PrefixHidden(L, n_S, d)       the authors' prefix-tuning: per layer, hidden states s^(l)_m placed at positions
                                  0..n_S-1 of the residual stream; they pass the pre-attention norm, W_K, W_V and
                                  the positional op (RoPE/ALiBi at positions 0..n_S-1); they are never queried
                                  (L n_S d parameters)
    PrefixHiddenStack(prefixes, b) K PrefixHidden side by side, prefix k for sequences k b .. (k + 1) b - 1 of a
                                  batch (to train K prefixes in one batch)
    PrefixKV(model, n_S)          peft form: raw per-layer key/value vectors (used as cached, i.e. already
                                  rotated, keys; ALiBi still biases them by position)
    LoRA(model, targets, rank)    W -> W + B A on any named linear map (r (d_in + d_out) parameters each)
    FullFineTune(model)           a delta for every parameter (as many parameters as the model)
    Compose(a, b, ...)            several at once

Content positions start after the prefix (at n_S, as in the authors' minGPT code and in HF position ids after a
KV cache); pass ``offset=`` to place the first (prompt or content) token elsewhere. Linear maps are named
``embed``, ``unembed``, ``layers.{l}.attn.W_Q|W_K|W_V|W_O`` and ``layers.{l}.mlp.fcs.{i}``; ``model.linear_names()``
lists them. Bad configurations raise `ConfigError` with a one-line message.

Speed: these models are small, and on a shared CPU torch's thread hand-offs dominate. Call
``torch.set_num_threads(1)`` (or use `numeric.threads.one_thread`): an E1-sized training step (1 layer, 1 head,
width 96, float32, batch 64 x 20 tokens) measured 68 ms on one thread against 2.1 s on two (bench/bench_depth.py).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast, overload

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("pre", "post", "none", "rms")
POSITIONS = ("none", "learned", "sinusoidal", "rope", "alibi")
MLPS = ("gelu", "relu", "none")

Widths = int | Sequence[int] | None
MlpSpec = str | Callable[[int], nn.Module]
KV = list[tuple[torch.Tensor, torch.Tensor]]  # per head: keys (n_S, k_h), values (n_S, dv_h)
M = TypeVar("M", bound=nn.Module)
T = TypeVar("T")


class ConfigError(ValueError):
    """An impossible or unknown model configuration (one-line message)."""


@dataclass(frozen=True)
class Config:
    vocab: int = 10
    d: int = 16
    n_layers: int = 2
    n_heads: int = 2
    d_head: Widths = None
    d_value: Widths = None
    norm: str = "pre"
    pos: str = "learned"
    causal: bool = True
    residual: bool = True
    w_o: bool = True
    mlp: MlpSpec = "gelu"
    d_mlp: int | None = None
    max_len: int = 64
    bias: bool = False
    unembed: bool = True
    rope_base: float = 10000.0
    logit_scale: Callable[[int, int], float] | None = None
    dtype: torch.dtype = torch.float64
    eps: float = 1e-5
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r}; choose from {', '.join(NORMS)}")
        if self.pos not in POSITIONS:
            raise ConfigError(f"unknown positional encoding {self.pos!r}; choose from {', '.join(POSITIONS)}")
        if isinstance(self.mlp, str) and self.mlp not in MLPS:
            raise ConfigError(f"unknown mlp {self.mlp!r}; choose from {', '.join(MLPS)} or pass a factory")
        for name in ("vocab", "d", "n_layers", "n_heads", "max_len"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.d_head is None and self.d % self.n_heads:
            raise ConfigError(f"{self.n_heads} heads do not divide the width d={self.d}")
        ks, vs = self.head_widths(), self.value_widths()
        if min(ks + vs) < 1:
            raise ConfigError(f"head widths must be positive, got d_head={ks}, d_value={vs}")
        if self.pos == "rope" and any(k % 2 for k in ks):
            raise ConfigError(f"RoPE rotates pairs of coordinates: every d_head must be even, got {ks}")
        if not self.w_o and len(set(vs)) > 1:
            raise ConfigError(f"without W_O heads are summed, so value widths must agree, got {vs}")
        if not self.w_o and vs[0] != self.d and (self.residual or self.n_layers > 1):
            raise ConfigError(f"without W_O the value width {vs[0]} must equal d={self.d} (residual or next layer)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.dtype not in (torch.float64, torch.float32):
            raise ConfigError(f"dtype must be torch.float64 or torch.float32, got {self.dtype}")

    def _widths(self, spec: Widths, default: int, what: str) -> list[int]:
        if spec is None:
            return [default] * self.n_heads
        if isinstance(spec, int):
            return [spec] * self.n_heads
        widths = [int(w) for w in spec]
        if len(widths) != self.n_heads:
            raise ConfigError(f"{what} lists {len(widths)} widths for {self.n_heads} heads")
        return widths

    def head_widths(self) -> list[int]:
        """k_h, the query/key width of each head (default d / n_heads)."""
        return self._widths(self.d_head, self.d // self.n_heads, "d_head")

    def value_widths(self) -> list[int]:
        """dv_h, the value width of each head (default k_h with W_O, d without)."""
        if self.d_value is None and not self.w_o:
            return [self.d] * self.n_heads
        return self._widths(self.d_value, 0, "d_value") if self.d_value is not None else self.head_widths()

    def scale(self, k: int, n_keys: int) -> float:
        return self.logit_scale(k, n_keys) if self.logit_scale is not None else 1.0 / math.sqrt(k)


# ---- building blocks --------------------------------------------------------------------------------------

class Modules(nn.ModuleList, Generic[M]):
    """An `nn.ModuleList` whose items are all of type ``M``, and typed so: torch types every item as `nn.Module`
    (and an attribute of it as ``Tensor | Module``), so mypy cannot follow ``model.layers[0].attn.W_V`` through a
    plain ModuleList. Build it from ``M`` items only (``Modules(Block(cfg, l) for l in ...)``)."""

    def __init__(self, modules: Iterable[M] = ()) -> None:
        super().__init__(modules)

    @overload
    def __getitem__(self, idx: slice) -> Modules[M]: ...

    @overload
    def __getitem__(self, idx: int) -> M: ...

    def __getitem__(self, idx: int | slice) -> M | Modules[M]:
        return cast("M | Modules[M]", super().__getitem__(idx))

    def __iter__(self) -> Iterator[M]:
        return cast(Iterator[M], super().__iter__())


class Named(nn.Module):
    """A module that knows its dotted path in the model, so adapters can address its parameters."""

    path: str = ""

    def param(self, name: str, adapter: Adapter | None) -> torch.Tensor:
        """The parameter ``name`` plus any delta the adapter holds for ``<path>.<name>``."""
        p = getattr(self, name)
        if adapter is None:
            return p
        delta = adapter.delta(f"{self.path}.{name}" if self.path else name)
        return p if delta is None else p + delta


class Linear(Named):
    """y = W x (+ b) with W of shape (d_out, d_in)."""

    def __init__(self, d_in: int, d_out: int, bias: bool, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d_out, d_in, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(d_out, dtype=dtype)) if bias else None

    def forward(self, x: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        b = self.param("bias", adapter) if self.bias is not None else None
        return F.linear(x, self.param("weight", adapter), b)


class Norm(Named):
    """LayerNorm ``g (x - mean) / sqrt(var + eps) + b`` or RMSNorm ``g x / sqrt(mean(x^2) + eps)``."""

    def __init__(self, d: int, rms: bool, eps: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.rms, self.eps = rms, eps
        self.gain = nn.Parameter(torch.ones(d, dtype=dtype))
        self.shift = None if rms else nn.Parameter(torch.zeros(d, dtype=dtype))

    def forward(self, x: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        if self.rms:
            y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
            return self.param("gain", adapter) * y
        mu = x.mean(-1, keepdim=True)
        var = (x - mu).pow(2).mean(-1, keepdim=True)
        return self.param("gain", adapter) * (x - mu) * torch.rsqrt(var + self.eps) + self.param("shift", adapter)


class Identity(Named):
    def forward(self, x: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        return x


class MLP(Named):
    """A stack of linear maps ``fcs.0, fcs.1, ...`` with an activation after every one but the last (or after all,
    ``final_activation=True``). ``MLP([d, 4d, d], "gelu")`` is GPT-2's; the constructions use ReLU stacks."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu", bias: bool = True,
                 final_activation: bool = False, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ConfigError(f"an MLP needs at least two positive sizes, got {list(sizes)}")
        if activation not in ("relu", "gelu"):
            raise ConfigError(f"unknown activation {activation!r}; choose relu or gelu")
        self.act = F.relu if activation == "relu" else F.gelu
        self.final_activation = final_activation
        self.fcs = Modules(Linear(a, b, bias, dtype) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        for i, fc in enumerate(self.fcs):
            x = fc(x, adapter)
            if i < len(self.fcs) - 1 or self.final_activation:
                x = self.act(x)
        return x


def sinusoidal(n: int, d: int, dtype: torch.dtype) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^{2i/d}), PE[p, 2i+1] = cos(p / 10000^{2i/d})."""
    pos = torch.arange(n, dtype=dtype)[:, None]
    freq = 10000.0 ** (-torch.arange(0, d, 2, dtype=dtype) / d)
    pe = torch.zeros(n, d, dtype=dtype)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return pe


def rope(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """Rotate coordinate pairs (2i, 2i+1) of ``x (..., n, k)`` by the angle ``p * base^{-2i/k}``:
    ``(x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)``."""
    k = x.shape[-1]
    theta = base ** (-torch.arange(0, k, 2, dtype=x.dtype) / k)
    angle = positions.to(x.dtype)[:, None] * theta
    cos, sin = torch.cos(angle), torch.sin(angle)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)


def alibi_slopes(n_heads: int) -> list[float]:
    """m_h = 2^{-8 h / H}, h = 1..H (Press et al.)."""
    return [2.0 ** (-8.0 * h / n_heads) for h in range(1, n_heads + 1)]


# ---- attention and blocks ---------------------------------------------------------------------------------

@dataclass
class LayerTrace:
    """Everything one layer computed (sequence positions = prompt + content; keys = prefix + sequence)."""

    resid_in: torch.Tensor
    attn_in: torch.Tensor
    q: list[torch.Tensor]
    k: list[torch.Tensor]
    v: list[torch.Tensor]
    logits: torch.Tensor
    attn: torch.Tensor
    head_out: list[torch.Tensor]
    attn_out: torch.Tensor
    resid_mid: torch.Tensor
    mlp_out: torch.Tensor
    resid_out: torch.Tensor
    n_prefix: int = 0


@dataclass(frozen=True)
class HeadWeights:
    """The maps of one head h (views into its layer's parameters): ``W_Q^h, W_K^h in R^{k_h x d}``,
    ``W_V^h in R^{dv_h x d}``, and ``W_O^h in R^{d x dv_h}``, the columns of ``W_O`` that read ``t^h`` (None without
    ``W_O``: the heads are summed)."""

    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor
    W_O: torch.Tensor | None

    @property
    def H(self) -> torch.Tensor:
        """``H = W_Q^T W_K`` (d x d): the logit is ``scale * x_i^T H x_j``."""
        return self.W_Q.T @ self.W_K


class Attention(Named):
    """Multi-head softmax attention with per-head widths; keys/values may be extended by a prefix."""

    W_Q: Linear
    W_K: Linear
    W_V: Linear
    W_O: Linear | None

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.ks, self.vs = cfg.head_widths(), cfg.value_widths()
        self.W_Q = Linear(cfg.d, sum(self.ks), cfg.bias, cfg.dtype)
        self.W_K = Linear(cfg.d, sum(self.ks), cfg.bias, cfg.dtype)
        self.W_V = Linear(cfg.d, sum(self.vs), cfg.bias, cfg.dtype)
        self.W_O = Linear(sum(self.vs), cfg.d, cfg.bias, cfg.dtype) if cfg.w_o else None
        self.slopes = alibi_slopes(cfg.n_heads)

    def head(self, h: int) -> HeadWeights:
        """The maps of head ``h`` (0-based), sliced from the stacked ``W_Q, W_K, W_V`` rows and ``W_O`` columns."""
        if not 0 <= h < self.cfg.n_heads:
            raise ConfigError(f"head {h} out of range: the layer has {self.cfg.n_heads} heads")
        W_O = None if self.W_O is None else self.W_O.weight.split(self.vs, dim=1)[h]
        return HeadWeights(W_Q=self.W_Q.weight.split(self.ks)[h], W_K=self.W_K.weight.split(self.ks)[h],
                           W_V=self.W_V.weight.split(self.vs)[h], W_O=W_O)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, adapter: Adapter | None,
                prefix: torch.Tensor | None = None, prefix_kv: KV | None = None) -> dict:
        """x: (B, n, d) queries and keys at ``positions``; ``prefix`` (n_S, d) or per sequence (B, n_S, d) hidden
        states at 0..n_S-1 (already normed by the block), or ``prefix_kv`` per head (keys (n_S, k_h), values
        (n_S, dv_h))."""
        cfg = self.cfg
        B, n, _ = x.shape
        q = self.W_Q(x, adapter).split(self.ks, -1)
        k = list(self.W_K(x, adapter).split(self.ks, -1))
        v = list(self.W_V(x, adapter).split(self.vs, -1))
        q = list(q)
        n_S = 0
        if prefix is not None:
            n_S = prefix.shape[-2]
            pk = self.W_K(prefix, adapter).split(self.ks, -1)
            pv = self.W_V(prefix, adapter).split(self.vs, -1)
        elif prefix_kv is not None:
            n_S = prefix_kv[0][0].shape[-2]
            pk, pv = [kv[0] for kv in prefix_kv], [kv[1] for kv in prefix_kv]
        key_pos = torch.cat([torch.arange(n_S), positions])
        if cfg.pos == "rope":
            q = [rope(t, positions, cfg.rope_base) for t in q]
            k = [rope(t, positions, cfg.rope_base) for t in k]
            if prefix is not None:  # hidden-state prefixes are rotated at 0..n_S-1; raw KV prefixes are cached keys
                pk = [rope(t, key_pos[:n_S], cfg.rope_base) for t in pk]
        if n_S:
            k = [torch.cat([p.expand(B, n_S, p.shape[-1]), t], -2) for p, t in zip(pk, k)]
            v = [torch.cat([p.expand(B, n_S, p.shape[-1]), t], -2) for p, t in zip(pv, v)]
        visible = torch.ones(n, n_S + n, dtype=torch.bool)
        if cfg.causal:
            visible[:, n_S:] = torch.ones(n, n, dtype=torch.bool).tril()
        distance = (positions[:, None] - key_pos[None, :]).to(x.dtype)
        logits, weights, outs = [], [], []
        for h in range(cfg.n_heads):
            l = cfg.scale(self.ks[h], n_S + n) * q[h] @ k[h].transpose(-1, -2)
            if cfg.pos == "alibi":
                l = l - self.slopes[h] * distance.abs()
            l = l.masked_fill(~visible, float("-inf"))
            A = torch.softmax(l, dim=-1)
            logits.append(l)
            weights.append(A)
            outs.append(F.dropout(A, cfg.dropout, self.training) @ v[h])
        if self.W_O is not None:
            out = self.W_O(torch.cat(outs, -1), adapter)
        else:
            out = torch.stack(outs).sum(0)
        return dict(q=q, k=k, v=v, logits=torch.stack(logits, 1), attn=torch.stack(weights, 1), head_out=outs,
                    attn_out=out, n_prefix=n_S)


class Block(Named):
    """One layer: attention then MLP, with the configured norm placement and (optional) residual connections."""

    attn: Attention
    mlp: nn.Module | None  # `MLP`, or what a ``Config.mlp`` factory built

    def __init__(self, cfg: Config, layer: int) -> None:
        super().__init__()
        self.cfg = cfg
        make_norm = (lambda: Norm(cfg.d, cfg.norm == "rms", cfg.eps, cfg.dtype)) if cfg.norm != "none" else Identity
        self.ln1, self.ln2 = make_norm(), make_norm()
        self.attn = Attention(cfg)
        if callable(cfg.mlp):
            self.mlp = cfg.mlp(layer)
        elif cfg.mlp == "none":
            self.mlp = None
        else:
            self.mlp = MLP([cfg.d, cfg.d_mlp or 4 * cfg.d, cfg.d], cfg.mlp, cfg.bias, dtype=cfg.dtype)

    def _mlp(self, x: torch.Tensor, adapter: Adapter | None) -> torch.Tensor:
        if self.mlp is None:
            return torch.zeros_like(x)
        return self.mlp(x, adapter) if isinstance(self.mlp, (MLP, Named)) else self.mlp(x)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, adapter: Adapter | None,
                prefix: torch.Tensor | None, prefix_kv: KV | None) -> LayerTrace:
        pre = self.cfg.norm in ("pre", "rms")
        res = (lambda a, b: a + b) if self.cfg.residual else (lambda a, b: b)
        a_in = self.ln1(x, adapter) if pre else x
        p_in = None if prefix is None else (self.ln1(prefix, adapter) if pre else prefix)
        att = self.attn(a_in, positions, adapter, p_in, prefix_kv)
        drop = lambda t: F.dropout(t, self.cfg.dropout, self.training)  # noqa: E731
        mid = res(x, drop(att["attn_out"]))
        if self.cfg.norm == "post":
            mid = self.ln1(mid, adapter)
        if self.mlp is None:
            m_out, out = torch.zeros_like(mid), mid
        else:
            m_out = self._mlp(self.ln2(mid, adapter) if pre else mid, adapter)
            out = res(mid, drop(m_out))
            if self.cfg.norm == "post":
                out = self.ln2(out, adapter)
        return LayerTrace(resid_in=x, attn_in=a_in, resid_mid=mid, mlp_out=m_out, resid_out=out, **att)


@dataclass
class Output:
    logits: torch.Tensor
    hidden: torch.Tensor
    n_prompt: int
    layers: list[LayerTrace] = field(default_factory=list)


class Transformer(Named):
    """Token embedding, absolute positions (if any), ``n_layers`` blocks, final norm (pre-norm variants),
    unembedding. ``model.layers[l]`` is a `Block`, ``model.layers[l].attn`` its `Attention`, ``.head(h)`` one head's
    maps (all typed)."""

    layers: Modules[Block]
    pos: nn.Parameter | None
    unembed: Linear | None

    def __init__(self, cfg: Config, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = Linear(cfg.vocab, cfg.d, False, cfg.dtype)  # weight = E in R^{d x V}
        self.pos = nn.Parameter(torch.zeros(cfg.max_len, cfg.d, dtype=cfg.dtype)) if cfg.pos == "learned" else None
        self.layers = Modules(Block(cfg, l) for l in range(cfg.n_layers))
        self.ln_f = Norm(cfg.d, cfg.norm == "rms", cfg.eps, cfg.dtype) if cfg.norm in ("pre", "rms") else Identity()
        self.unembed = Linear(cfg.d, cfg.vocab, False, cfg.dtype) if cfg.unembed else None
        for name, module in self.named_modules():
            if isinstance(module, Named):
                module.path = name
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Weights N(0, 1/d_in) (unit-scale activations), embeddings and positions N(0, 1), norms identity."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith((".gain",)):
                    p.fill_(1.0)
                elif name.endswith((".shift", ".bias")):
                    p.zero_()
                elif name in ("embed.weight", "pos"):
                    p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
                else:
                    p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / math.sqrt(p.shape[-1]))

    def linear_names(self) -> list[str]:
        """Names of every linear map (targets for `LoRA`)."""
        return [name for name, m in self.named_modules() if isinstance(m, Linear)]

    def linear(self, name: str) -> Linear:
        modules = dict(self.named_modules())
        if not isinstance(modules.get(name), Linear):
            raise ConfigError(f"no linear map named {name!r}; the model has {', '.join(self.linear_names())}")
        return modules[name]

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed_tokens(self, idx: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        """``E[:, idx]`` as rows: (..., d)."""
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.cfg.vocab):
            raise ConfigError(f"token ids must lie in [0, {self.cfg.vocab}), got {int(idx.min())}..{int(idx.max())}")
        return self.embed.param("weight", adapter).T[idx]

    def positional(self, positions: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor | None:
        """The absolute positional vectors added at the input (None for none/RoPE/ALiBi)."""
        if self.cfg.pos == "learned":
            return self.param("pos", adapter)[positions]
        if self.cfg.pos == "sinusoidal":
            return sinusoidal(int(positions.max()) + 1, self.cfg.d, self.cfg.dtype)[positions]
        return None

    def _check_adapter(self, adapter: Adapter) -> None:
        """Shapes of prompts and prefixes against this model (one-line `ConfigError` otherwise)."""
        cfg = self.cfg
        prompt = adapter.prompt(self)
        if prompt is not None and (prompt.dim() != 2 or prompt.shape[-1] != cfg.d):
            raise ConfigError(f"prompt vectors must have shape (n_S, {cfg.d}), got {tuple(prompt.shape)}")
        n_S = adapter.prefix_length(self)
        for l in range(cfg.n_layers):
            try:
                hidden, kv = adapter.prefix_hidden(l), adapter.prefix_kv(l)
            except IndexError:
                raise ConfigError(f"the prefix has fewer layers than the model ({cfg.n_layers})") from None
            if hidden is not None and (hidden.dim() not in (2, 3) or tuple(hidden.shape[-2:]) != (n_S, cfg.d)):
                raise ConfigError(f"layer-{l} prefix must have shape ({n_S}, {cfg.d}) or (B, {n_S}, {cfg.d}), "
                                  f"got {tuple(hidden.shape)}")
            if kv is not None:
                want = [((n_S, k), (n_S, v)) for k, v in zip(cfg.head_widths(), cfg.value_widths())]
                got = [(tuple(a.shape), tuple(b.shape)) for a, b in kv]
                if got != want:
                    raise ConfigError(f"layer-{l} key/value prefixes must have shapes {want}, got {got}")

    def forward(self, idx: torch.Tensor | None = None, *, embeds: torch.Tensor | None = None,
                adapter: Adapter | None = None, offset: int | None = None, trace: bool = False) -> Output:
        cfg = self.cfg
        if idx is not None and embeds is None:
            x = self.embed_tokens(idx, adapter)
        elif embeds is not None and idx is None:
            x = embeds
        else:
            raise ConfigError("pass exactly one of idx (token ids) or embeds (input vectors)")
        if x.dim() != 3 or x.shape[-1] != cfg.d:
            raise ConfigError(f"inputs must have shape (B, n, {cfg.d}), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ConfigError("inputs contain NaN or inf")
        x = x.to(cfg.dtype)
        if offset is not None and offset < 0:
            raise ConfigError(f"offset must be >= 0, got {offset}")
        if adapter is not None:
            self._check_adapter(adapter)
        prompt = adapter.prompt(self) if adapter is not None else None
        if prompt is not None:
            x = torch.cat([prompt.to(cfg.dtype).expand(x.shape[0], *prompt.shape[-2:]), x], dim=1)
        n_prompt = 0 if prompt is None else prompt.shape[-2]
        n_S = adapter.prefix_length(self) if adapter is not None else 0
        start = n_S if offset is None else offset
        positions = torch.arange(start, start + x.shape[1])
        if cfg.pos in ("learned",) and start + x.shape[1] > cfg.max_len:
            raise ConfigError(f"{start + x.shape[1]} positions exceed max_len={cfg.max_len}")
        pe = self.positional(positions, adapter)
        if pe is not None:
            x = x + pe
        x = F.dropout(x, cfg.dropout, self.training)
        traces = []
        for l, block in enumerate(self.layers):
            prefix = adapter.prefix_hidden(l) if adapter is not None else None
            kv = adapter.prefix_kv(l) if adapter is not None else None
            t = block(x, positions, adapter, prefix, kv)
            x = t.resid_out
            if trace:
                traces.append(t)
        hidden = self.ln_f(x, adapter)
        logits = self.unembed(hidden, adapter) if self.unembed is not None else hidden
        return Output(logits=logits, hidden=hidden, n_prompt=n_prompt, layers=traces)


# ---- adaptation methods -----------------------------------------------------------------------------------

class Adapter(nn.Module):
    """Base class: every hook returns None (no change). ``n_params`` counts the trainable parameters."""

    def prompt(self, model: Transformer) -> torch.Tensor | None:
        """(n_P, d) vectors prepended to the input embeddings (they then receive positions 0..n_P-1 + offset)."""
        return None

    def prefix_length(self, model: Transformer) -> int:
        return 0

    def prefix_hidden(self, layer: int) -> torch.Tensor | None:
        """(n_S, d) hidden states placed before the sequence in ``layer`` (keys/values only), or (B, n_S, d): one
        prefix per sequence of the batch."""
        return None

    def prefix_kv(self, layer: int) -> KV | None:
        """Per head: raw keys (n_S, k_h) and values (n_S, dv_h) for ``layer``."""
        return None

    def delta(self, name: str) -> torch.Tensor | None:
        """A change to the parameter ``name`` (e.g. ``layers.0.attn.W_K.weight``)."""
        return None

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class HardPrompt(Adapter):
    """Tokens S_1..S_{n_S} prepended to the input: E[:, S_m] (no trainable parameters; V^{n_S} choices)."""

    tokens: torch.Tensor  # a buffer

    def __init__(self, tokens: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("tokens", torch.as_tensor(list(tokens), dtype=torch.long))

    def prompt(self, model: Transformer) -> torch.Tensor:
        return model.embed_tokens(self.tokens)

    def choices(self, vocab: int) -> int:
        return vocab ** len(self.tokens)


class SoftPrompt(Adapter):
    """Free input vectors s_1..s_{n_S} in R^d prepended to the input embeddings (n_S d parameters)."""

    def __init__(self, n_S: int, d: int, init: torch.Tensor | None = None, dtype: torch.dtype = torch.float64,
                 seed: int = 0) -> None:
        super().__init__()
        if init is None:
            init = torch.randn(n_S, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        if tuple(init.shape) != (n_S, d):
            raise ConfigError(f"soft prompt must have shape ({n_S}, {d}), got {tuple(init.shape)}")
        self.s = nn.Parameter(init.clone().to(dtype))

    def prompt(self, model: Transformer) -> torch.Tensor:
        return self.s


class PrefixHidden(Adapter):
    """The authors' prefix-tuning: per layer l, hidden states s^(l)_1..s^(l)_{n_S} at positions 0..n_S-1 of the
    residual stream; keys W_K N(s), values W_V N(s) (N = the pre-attention norm), rotated at their positions under
    RoPE, never queried (L n_S d parameters)."""

    def __init__(self, n_layers: int, n_S: int, d: int, init: torch.Tensor | None = None,
                 dtype: torch.dtype = torch.float64, seed: int = 0) -> None:
        super().__init__()
        if init is None:
            init = torch.randn(n_layers, n_S, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        if tuple(init.shape) != (n_layers, n_S, d):
            raise ConfigError(f"prefix must have shape ({n_layers}, {n_S}, {d}), got {tuple(init.shape)}")
        self.s = nn.Parameter(init.clone().to(dtype))

    def prefix_length(self, model: Transformer) -> int:
        return self.s.shape[1]

    def prefix_hidden(self, layer: int) -> torch.Tensor:
        return self.s[layer]


class PrefixHiddenStack(Adapter):
    """K `PrefixHidden` prefixes side by side, for training them at once: in a batch of K x ``per`` sequences,
    sequences k per .. (k + 1) per - 1 read prefix k, ``s_k``. The parts keep their own parameters."""

    def __init__(self, parts: Sequence[PrefixHidden], per: int) -> None:
        super().__init__()
        if not parts or len({tuple(p.s.shape) for p in parts}) != 1 or per < 1:
            raise ConfigError(f"a prefix stack needs prefixes of one shape and per >= 1, got "
                              f"{[tuple(p.s.shape) for p in parts]}, per={per}")
        self.parts = Modules(parts)
        self.per = per

    def prefix_length(self, model: Transformer) -> int:
        return self.parts[0].s.shape[1]

    def prefix_hidden(self, layer: int) -> torch.Tensor:
        """(K per, n_S, d): ``s_k^(layer)`` repeated for each of its ``per`` sequences."""
        s = torch.stack([p.s[layer] for p in self.parts])
        return s.unsqueeze(1).expand(s.shape[0], self.per, *s.shape[1:]).reshape(-1, *s.shape[1:])


class PrefixKV(Adapter):
    """peft-style prefix-tuning: raw per-layer keys and values, per head (L n_S sum_h (k_h + dv_h) parameters)."""

    def __init__(self, model: Transformer, n_S: int, seed: int = 0) -> None:
        super().__init__()
        cfg = model.cfg
        g = torch.Generator().manual_seed(seed)
        self.ks, self.vs = cfg.head_widths(), cfg.value_widths()
        self.keys = nn.Parameter(torch.randn(cfg.n_layers, n_S, sum(self.ks), generator=g, dtype=cfg.dtype))
        self.values = nn.Parameter(torch.randn(cfg.n_layers, n_S, sum(self.vs), generator=g, dtype=cfg.dtype))

    def prefix_length(self, model: Transformer) -> int:
        return self.keys.shape[1]

    def prefix_kv(self, layer: int) -> KV:
        return list(zip(self.keys[layer].split(self.ks, -1), self.values[layer].split(self.vs, -1)))


class LoRA(Adapter):
    """``W -> W + scale * B A`` on each named linear map, ``B in R^{d_out x r}`` (zero at init), ``A in R^{r x d_in}``
    (r (d_in + d_out) parameters per map)."""

    def __init__(self, model: Transformer, targets: Sequence[str], rank: int, scale: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__()
        if rank < 1:
            raise ConfigError(f"LoRA rank must be positive, got {rank}")
        g = torch.Generator().manual_seed(seed)
        self.scale = scale
        self.names = list(targets)
        self.A = nn.ParameterList()
        self.B = nn.ParameterList()
        for name in self.names:
            W = model.linear(name).weight
            d_out, d_in = W.shape
            self.A.append(nn.Parameter(torch.randn(rank, d_in, generator=g, dtype=W.dtype) / math.sqrt(d_in)))
            self.B.append(nn.Parameter(torch.zeros(d_out, rank, dtype=W.dtype)))
        self._index = {f"{name}.weight": i for i, name in enumerate(self.names)}

    def delta(self, name: str) -> torch.Tensor | None:
        i = self._index.get(name)
        return None if i is None else self.scale * self.B[i] @ self.A[i]


class FullFineTune(Adapter):
    """A delta ``Delta W`` for every parameter of the model (zero at init): eq. (7) for every head."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.names = [name for name, _ in model.named_parameters()]
        self.deltas = nn.ParameterList(nn.Parameter(torch.zeros_like(p)) for _, p in model.named_parameters())
        self._index = {name: i for i, name in enumerate(self.names)}

    def delta(self, name: str) -> torch.Tensor | None:
        i = self._index.get(name)
        return None if i is None else self.deltas[i]

    def set(self, name: str, value: torch.Tensor) -> None:
        with torch.no_grad():
            self.deltas[self._index[name]].copy_(value)


class Compose(Adapter):
    """Several adapters at once: deltas add; at most one may prepend a prompt and one may add a prefix."""

    def __init__(self, *adapters: Adapter) -> None:
        super().__init__()
        self.parts = Modules(adapters)

    @staticmethod
    def _one(method: str, results: Iterable[T | None]) -> T | None:
        """The one part's answer to ``method`` that is not None (None if no part answers)."""
        found = [r for r in results if r is not None]
        if len(found) > 1:
            raise ConfigError(f"more than one adapter provides {method}")
        return found[0] if found else None

    def prompt(self, model: Transformer) -> torch.Tensor | None:
        return self._one("prompt", (a.prompt(model) for a in self.parts))

    def prefix_length(self, model: Transformer) -> int:
        return max((a.prefix_length(model) for a in self.parts), default=0)

    def prefix_hidden(self, layer: int) -> torch.Tensor | None:
        return self._one("prefix_hidden", (a.prefix_hidden(layer) for a in self.parts))

    def prefix_kv(self, layer: int) -> KV | None:
        return self._one("prefix_kv", (a.prefix_kv(layer) for a in self.parts))

    def delta(self, name: str) -> torch.Tensor | None:
        found = [r for a in self.parts if (r := a.delta(name)) is not None]
        return None if not found else sum(found[1:], found[0])
