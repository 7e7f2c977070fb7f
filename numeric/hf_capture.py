"""Capture what every attention of a transformers model actually computed, for any architecture.

One forward pass runs under a `torch.overrides.TorchFunctionMode` that records, per module, the batched products
(``matmul``, ``bmm``, ``baddbmm``, ``@``) and the softmax calls, plus every floating dtype an op produced. An
attention is found from its data flow, not from its class: a softmax over the last axis whose input S (the
scores, ``(B, H, n, K)`` or ``(B H, n, K)``) was produced from a product ``q k^T`` with the same last two axes,
followed by a product ``A V``. From those three ops:

    q_i, k_r   the operands of the score product (keys after any rotary embedding, prefix keys included, GQA
               keys repeated per query head), K = n_pre + n keys of which the first n_pre are cached (the prefix)
    S_ir       the softmax input: tau q_i . k_r + b_ir (b: causal / padding / window mask, ALiBi or relative
               position bias; with a softcap c, S = c tanh(tau q.k / c) + b)
    A_ir       the softmax output (the attention weights), t_i = sum_r A_ir v_r the head output

The scale tau comes from transformers' attention-function call when the module dispatches through the eager
function the attention registry falls back to (``eager_attention_forward(module, q, k, v, mask, scaling, ...)``,
wrapped for the duration of the pass, with its ``softcap``/``sliding_window`` keywords); for modules with their
own attention code (e.g. ALiBi models) it is the ``alpha`` of a ``baddbmm``, else the module's float attribute
named like a scale, else 1/sqrt(d_h). The additive bias is then b = S - tau q k^T, and it is *verified* to be
content-independent (equal across the batch's sequences where finite): a wrong tau would leave q.k in b.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

PRODUCTS = {torch.matmul, torch.bmm, torch.baddbmm, torch.Tensor.matmul, torch.Tensor.__matmul__,
            torch.Tensor.bmm, torch.Tensor.baddbmm}
SOFTMAX = {torch.softmax, torch.nn.functional.softmax, torch.Tensor.softmax}
SCALE_ATTRIBUTES = ("scaling", "scale", "softmax_scale", "inv_norm_factor", "scale_attn")
CROSS_KWARGS = ("key_value_states", "encoder_hidden_states")
PLAIN = {torch.nn.Linear, torch.nn.Embedding, torch.nn.LayerNorm, torch.nn.Dropout, torch.nn.Identity, torch.nn.ReLU,
         torch.nn.GELU, torch.nn.SiLU, torch.nn.Tanh, torch.nn.ModuleList, torch.nn.ModuleDict}
"""torch.nn module types (exact) that run no product and no softmax (one functional op: linear, embedding, norm,
dropout, activation) or are never called (containers): they get no hooks, so the ops in them are owned by the
enclosing module, which changes no attention's products (their inputs are never looked up either)."""


@dataclass
class Op:
    kind: str  # "product" | "softmax"
    owner: str  # innermost module path when it ran
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: torch.Tensor
    call: int | None  # index of the enclosing eager attention-function call, if any


@dataclass
class EagerCall:
    """One call of a model's ``eager_attention_forward`` (the registry's eager implementation)."""

    path: str
    scaling: float | None
    softcap: float | None
    sliding_window: int | None
    kwargs: list[str]


@dataclass
class AttentionCall:
    """One attention of one pass, all per query head: q (B,H,n,d_h), k (B,H,K,d_h), v (B,H,K,d_v), scores and
    attn (B,H,n,K), heads t (B,H,n,d_v); the first ``n_pre`` keys are cached ones (peft's prefix)."""

    path: str
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    scores: torch.Tensor
    attn: torch.Tensor
    heads: torch.Tensor
    scaling: float
    scale_source: str
    route: str  # "attention function" | "module code"
    cross: bool
    inputs: torch.Tensor | None  # hidden states entering the module
    softcap: float | None = None
    sliding_window: int | None = None
    extra_columns: int = 0  # softmax columns beyond the keys (attention sinks)
    bias_content_independent: bool = True  # S - tau q k^T equal across the batch: tau (and any softcap) verified

    @property
    def n(self) -> int:
        return self.q.shape[-2]

    @property
    def n_pre(self) -> int:
        return self.k.shape[-2] - self.n

    @property
    def heads_count(self) -> int:
        return self.q.shape[1]

    def logits(self) -> torch.Tensor:
        """tau q.k (softcapped where the model caps), without the bias."""
        raw = self.scaling * self.q @ self.k.transpose(-1, -2)
        return self.softcap * torch.tanh(raw / self.softcap) if self.softcap else raw


@dataclass
class Capture:
    calls: list[AttentionCall]
    output: torch.Tensor
    dtypes: list[tuple[int, str, str]] = field(default_factory=list)  # (op index, op name, dtype) not float64
    call_op: list[int] = field(default_factory=list)  # op index of each call's softmax
    unmatched: list[str] = field(default_factory=list)  # softmax calls that were not an attention

    def self_calls(self) -> list[AttentionCall]:
        return [c for c in self.calls if not c.cross]

    def precision_before(self, index: int) -> list[tuple[str, str]]:
        """(op, dtype) pairs below float64 that ran before call ``index``'s softmax (everything upstream)."""
        stop = self.call_op[index]
        return list(dict.fromkeys((name, dt) for i, name, dt in self.dtypes if i <= stop))


class _Recorder(TorchFunctionMode):
    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        st = self.state
        if st.bookkeeping:
            return result
        st.count += 1
        if isinstance(result, torch.Tensor) and result.dtype != torch.float64 and result.dtype.is_floating_point:
            st.dtypes.append((st.count, getattr(func, "__name__", str(func)), str(result.dtype).replace("torch.", "")))
        if func in PRODUCTS or func in SOFTMAX:
            st.ops.append(Op("softmax" if func in SOFTMAX else "product", st.stack[-1] if st.stack else "",
                             args, kwargs, result, st.active_call))
            st.op_index.append(st.count)
        return result


@dataclass
class _State:
    stack: list[str] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    op_index: list[int] = field(default_factory=list)
    dtypes: list[tuple[int, str, str]] = field(default_factory=list)
    count: int = 0
    eager: list[EagerCall] = field(default_factory=list)
    active_call: int | None = None
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    cross: dict[str, bool] = field(default_factory=dict)
    bookkeeping: bool = False  # the hooks' own tensor calls are running: not the model's ops, not recorded


_EAGER = "eager_attention_forward"  # the module-level function transformers' attention layers call


def _wrap_eager(original: Callable, state: _State, paths: dict[int, str]) -> Callable:
    signature = inspect.signature(original)

    def eager(module: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind_partial(module, *args, **kwargs)
        named = {**bound.arguments.get("kwargs", {}), **bound.arguments}
        scaling = named.get("scaling")
        if scaling is None and "scaling" in signature.parameters:
            scaling = signature.parameters["scaling"].default
        scaling = scaling if isinstance(scaling, (int, float)) else None
        state.eager.append(EagerCall(paths.get(id(module), "?"), None if scaling is None else float(scaling),
                                     named.get("softcap"), named.get("sliding_window"),
                                     sorted(k for k in named if k not in ("module", "query", "key", "value"))))
        outer, state.active_call = state.active_call, len(state.eager) - 1
        try:
            return original(module, *args, **kwargs)
        finally:
            state.active_call = outer

    return eager


def _pop(state: _State) -> Callable[..., None]:
    def pop(mod: Any, args: Any, kwargs: Any, output: Any) -> None:
        state.stack.pop()

    return pop


@contextlib.contextmanager
def _instrument(model: Any, state: _State) -> Iterator[None]:
    """Per module (but the `PLAIN` ones): a pre-hook that pushes its path and records its hidden-state input and
    whether it is a cross-attention, a hook that pops it; and the wrapped eager attention function."""
    named = list(model.named_modules())
    paths = {id(m): name for name, m in named}
    handles = []
    pop = _pop(state)
    for name, module in named:
        if type(module) in PLAIN:
            continue

        def push(mod: Any, args: Any, kwargs: Any, name: str = name) -> None:
            state.stack.append(name)
            state.bookkeeping = True
            try:
                hidden = kwargs.get("hidden_states", args[0] if args else None)
                if isinstance(hidden, torch.Tensor) and hidden.is_floating_point():
                    state.inputs[name] = hidden.detach()
                state.cross[name] = bool(getattr(mod, "is_cross_attention", False)) or any(
                    isinstance(kwargs.get(k), torch.Tensor) for k in CROSS_KWARGS)
            finally:
                state.bookkeeping = False

        handles.append(module.register_forward_pre_hook(push, with_kwargs=True))
        handles.append(module.register_forward_hook(pop, with_kwargs=True, always_call=True))
    modules = {sys.modules[type(m).__module__] for _, m in named}
    patched = [(mod, getattr(mod, _EAGER)) for mod in modules if hasattr(mod, _EAGER)]
    try:
        for mod, original in patched:
            setattr(mod, _EAGER, _wrap_eager(original, state, paths))
        yield
    finally:
        for mod, original in patched:
            setattr(mod, _EAGER, original)
        for h in handles:
            h.remove()


def _heads(x: torch.Tensor, B: int) -> torch.Tensor:
    """(B H, s, e) or (B, H, s, e) -> (B, H, s, e)."""
    return x if x.dim() == 4 else x.reshape(B, -1, *x.shape[-2:])


def _expand(x: torch.Tensor, H: int) -> torch.Tensor:
    """Key/value heads -> query heads (query head h uses key/value head h // (H / H_kv))."""
    return x if x.shape[1] == H else x.repeat_interleave(H // x.shape[1], dim=1)


def _f64(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.to(torch.float64)


def _module_scale(model: Any, path: str, d_h: int) -> tuple[float, str]:
    module = model.get_submodule(path) if path else model
    for attr in SCALE_ATTRIBUTES:
        value = getattr(module, attr, None)
        if isinstance(value, float) and value > 0:
            return value, f"module attribute {attr}"
    return 1 / math.sqrt(d_h), "default 1/sqrt(d_h)"


def _assemble(model: Any, state: _State, batch: int) -> tuple[list[AttentionCall], list[int], list[str]]:
    calls: list[AttentionCall] = []
    at: list[int] = []
    unmatched: list[str] = []
    ops = state.ops
    for s, op in enumerate(ops):
        if op.kind != "softmax":
            continue
        S = op.args[0]
        if S.dim() < 3:
            continue  # e.g. a mixture-of-experts router
        n, cols = S.shape[-2], S.shape[-1]
        score = next((p for p in reversed(ops[:s]) if p.kind == "product" and p.owner == op.owner
                      and p.call == op.call and p.result.shape[-2:] in ((n, cols), (n, cols - 1))), None)
        value = next((p for p in ops[s + 1:] if p.kind == "product" and p.owner == op.owner and p.call == op.call
                      and p.args[0].shape[-1] in (cols, cols - 1) and p.args[0].shape[-2] == n), None)
        if score is None or value is None:
            unmatched.append(f"{op.owner}: softmax over {tuple(S.shape)} without q k^T / A V products")
            continue
        if score.kwargs.get("batch1") is not None or len(score.args) >= 3:  # baddbmm(input, q, kT, ...)
            q, kT = (score.args[1], score.args[2]) if len(score.args) >= 3 else (score.kwargs["batch1"],
                                                                                 score.kwargs["batch2"])
        else:
            q, kT = score.args[0], score.args[1]
        A_full = _heads(op.result, batch)
        K = kT.shape[-1]
        extra = A_full.shape[-1] - K
        eager = state.eager[op.call] if op.call is not None else None
        path = eager.path if eager is not None else op.owner
        q4 = _heads(q.detach(), batch).to(torch.float64)
        H, d_h = q4.shape[1], q4.shape[-1]
        if eager is not None and eager.scaling is not None:
            tau, source = eager.scaling, "attention-function argument scaling"
        elif "alpha" in score.kwargs and score.kwargs["alpha"] != 1:
            tau, source = float(score.kwargs["alpha"]), "baddbmm alpha"
        else:
            tau, source = _module_scale(model, path, d_h)
        k4 = _expand(_heads(kT.detach().transpose(-1, -2), batch), H).to(torch.float64)
        v4 = _expand(_heads(value.args[1].detach(), batch), H).to(torch.float64)
        call = AttentionCall(
            path=path, q=q4, k=k4, v=v4, scores=_heads(S.detach(), batch)[..., :K].to(torch.float64),
            attn=A_full[..., :K].detach().to(torch.float64),
            heads=_heads(value.result.detach(), batch).to(torch.float64),
            scaling=tau, scale_source=source, route="attention function" if eager is not None else "module code",
            cross=state.cross.get(path, False) or "cross" in path.lower() or "encoder_attn" in path,
            inputs=_f64(state.inputs.get(path)), softcap=eager.softcap if eager else None,
            sliding_window=eager.sliding_window if eager else None, extra_columns=extra)
        bias = call.scores - call.logits()
        finite = torch.isfinite(call.scores) & (call.scores > -1e30)
        spread = (bias - bias[:1]).masked_fill(~(finite & finite[:1]), 0.0).abs().max()
        scale = 1 + float(bias[finite].abs().max()) if finite.any() else 1.0
        call.bias_content_independent = bool(spread <= 1e-4 * scale)
        calls.append(call)
        at.append(state.op_index[s])
    return calls, at, unmatched


def capture(model: Any, runner: Any = None, **inputs: Any) -> Capture:
    """Run ``(runner or model)(**inputs)`` with ``model``'s modules instrumented; ``runner`` may be a peft wrapper
    of ``model``. Returns every attention call in execution order."""
    state = _State()
    batch = next(v for k, v in inputs.items() if k in ("input_ids", "inputs_embeds", "decoder_input_ids")).shape[0]
    with _instrument(model, state), torch.no_grad(), _Recorder(state):
        out = (runner or model)(**inputs)
    calls, at, unmatched = _assemble(model, state, batch)
    output = out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state
    return Capture(calls=calls, output=output.detach(), dtypes=state.dtypes, call_op=at, unmatched=unmatched)
