"""Bridge to Hugging Face transformers + peft (the optional ``[hf]`` extra), fully offline.

Tiny random models are built from configs (never ``from_pretrained``), cast to float64 with eager attention, and
read through the real modules: attention weights ``A`` from ``output_attentions``, queries / keys / values from
forward hooks on the projections (after the model's own rotary embedding, for RoPE families), per-head outputs
``t_i^h`` from a forward pre-hook on the output projection ``W_O`` (its input is the concatenation of the heads),
and the position ids the model gives the content from a hook on its position module.

peft prefix-tuning (``prefix_projection=False``) stores one tensor ``embedding.weight: (n_S, L*2*d)``; at every
forward ``get_prompt`` reshapes it to per-layer raw keys and values ``(B, H, n_S, d_h)`` and hands them to the
model as a ``DynamicCache``. They are used as they are: no LayerNorm, no ``W_K`` / ``W_V``, no rotary embedding
(the paper's ``W_K s_m`` / ``W_V s_m`` become free vectors ``k_m`` / ``v_m``, paper-notes 1.2, Li & Liang form).
`prefix_weight` / `prefix_cache` convert between the two layouts.

Every function that touches transformers or peft calls `require_hf` first: it sets ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` and raises `HFUnavailable` (a one-line reason) when the extra is not installed.
"""
from __future__ import annotations

import contextlib
import copy
import os
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterator, Optional

import torch

DTYPE = torch.float64
PINNED = {"transformers": "5.24.0", "peft": "0.21.2"}
METHODS = ("prefix", "prompt")


class HFUnavailable(ImportError):
    """The ``[hf]`` extra (transformers + peft) is not installed."""


def require_hf() -> tuple[Any, Any]:
    """Import transformers and peft offline; returns the two modules."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import peft
        import transformers
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "transformers/peft"
        raise HFUnavailable(f"the [hf] extra is not installed (missing {missing!r}); install it with "
                            f"`pip install 'prefixcheck[hf]'` (transformers=={PINNED['transformers']}, "
                            f"peft=={PINNED['peft']})") from exc
    return transformers, peft


def versions() -> dict[str, Optional[str]]:
    """Installed versions of the libraries the bridge audits (None if absent)."""
    out: dict[str, Optional[str]] = {}
    for dist in PINNED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


@contextlib.contextmanager
def quiet() -> Iterator[list[str]]:
    """Silence transformers' logger and capture Python warnings; yields the list the unique messages go to. Also
    runs torch on one intra-op thread: on these tiny models thread hand-off costs ~10x the arithmetic.

    transformers 5.24 emits ``FutureWarning: `past_key_values` is deprecated and will be removed in version
    5.40.0`` on every peft prefix-tuning forward (peft still passes the old keyword)."""
    transformers, _ = require_hf()
    hf_logging = transformers.utils.logging
    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    captured: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        try:
            yield captured
        finally:
            hf_logging.set_verbosity(old)
            torch.set_num_threads(threads)
            for r in records:
                message = f"{r.category.__name__}: {str(r.message).splitlines()[0]}"
                if message not in captured:
                    captured.append(message)


# ---- model families -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Size:
    """Tiny model dimensions (d = heads * d_h)."""

    layers: int = 2
    heads: int = 2
    d: int = 16
    vocab: int = 64
    max_positions: int = 64


@dataclass(frozen=True)
class Family:
    """One transformers architecture as peft wraps it.

    kind:           the transformers model code it uses ("gpt2", "llama", "bert")
    positions:      "absolute" (learned position embeddings added once at the input) or "rope"
    causal:         causal self-attention (a decoder) or bidirectional (an encoder)
    task_type:      the peft TaskType used (the one that supports prefix-tuning for this family)
    float32_parts:  what the model computes in float32 even after ``.double()``
    kv_groups:      query heads per key/value head (grouped-query attention when > 1); peft then injects
                    ``heads / kv_groups`` prefix key/value heads, each shared by its group of query heads
    """

    name: str
    kind: str
    description: str
    positions: str
    causal: bool
    task_type: str
    float32_parts: tuple[str, ...] = ()
    has_lm_head: bool = True
    kv_groups: int = 1


LLAMA_FLOAT32 = ("eager softmax (dtype=float32)", "RMSNorm (hidden states cast to float32)",
                 "RoPE cos/sin tables (angles computed in float32)")
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("gpt2", "gpt2", "GPT-2: pre-LN decoder, learned absolute positions, fused c_attn (Conv1D)", "absolute",
           True, "CAUSAL_LM"),
    Family("llama", "llama", "LLaMA: pre-RMSNorm decoder, rotary positions (RoPE) in every layer", "rope", True,
           "CAUSAL_LM", LLAMA_FLOAT32),
    Family("llama-gqa", "llama", "LLaMA with grouped-query attention (2 query heads per key/value head)", "rope",
           True, "CAUSAL_LM", LLAMA_FLOAT32, kv_groups=2),
    Family("bert", "bert", "BERT: post-LN bidirectional encoder, learned absolute positions", "absolute", False,
           "FEATURE_EXTRACTION", has_lm_head=False),
)}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise KeyError(f"unsupported architecture {name!r}; supported: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _config(fam: Family, size: Size, init_std: float) -> Any:
    transformers, _ = require_hf()
    common = dict(vocab_size=size.vocab, attn_implementation="eager", initializer_range=init_std,
                  bos_token_id=None, eos_token_id=None, pad_token_id=None)
    if fam.kind == "gpt2":
        return transformers.GPT2Config(n_layer=size.layers, n_head=size.heads, n_embd=size.d,
                                       n_positions=size.max_positions, resid_pdrop=0.0, embd_pdrop=0.0,
                                       attn_pdrop=0.0, **common)
    if fam.kind == "llama":
        if size.heads % fam.kv_groups:
            raise ValueError(f"{size.heads} heads cannot form groups of {fam.kv_groups}")
        return transformers.LlamaConfig(num_hidden_layers=size.layers, num_attention_heads=size.heads,
                                        num_key_value_heads=size.heads // fam.kv_groups, hidden_size=size.d,
                                        intermediate_size=2 * size.d, max_position_embeddings=size.max_positions,
                                        **common)
    if fam.kind == "bert":
        return transformers.BertConfig(num_hidden_layers=size.layers, num_attention_heads=size.heads,
                                       hidden_size=size.d, intermediate_size=2 * size.d,
                                       max_position_embeddings=size.max_positions, hidden_dropout_prob=0.0,
                                       attention_probs_dropout_prob=0.0, **common)
    raise KeyError(fam.name)


def build_base(fam: Family, seed: int, size: Size = Size(), init_std: float = 0.3) -> Any:
    """A random float64, eager-attention, eval-mode model of ``fam`` (weights N(0, init_std^2) from ``seed``)."""
    transformers, _ = require_hf()
    cfg = _config(fam, size, init_std)
    cls = {"gpt2": transformers.GPT2LMHeadModel, "llama": transformers.LlamaForCausalLM,
           "bert": transformers.BertModel}[fam.kind]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(cfg)
    model = model.to(DTYPE).eval()
    if model.config._attn_implementation != "eager":
        raise RuntimeError(f"{fam.name}: expected eager attention, got {model.config._attn_implementation}")
    return model


def wrap(fam: Family, base: Any, method: str, n_S: int, *, seed: int, init_std: Optional[float] = 1.0,
         zero: bool = False) -> Any:
    """``get_peft_model`` with prefix-tuning (raw key/value prefix, no projection) or prompt tuning.

    The prompt encoder is cast to float64 and re-drawn N(0, init_std^2) from ``seed`` (peft's own init is
    N(0, 1) in float32 from the global generator, here seeded and isolated); ``zero=True`` keeps peft's
    ``init_weights="zero"`` prefix; ``init_std=None`` keeps peft's init (for a prefix that is loaded next)."""
    _, peft = require_hf()
    task = getattr(peft.TaskType, fam.task_type)
    if method == "prefix":
        cfg = peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=n_S,
                                      init_weights="zero" if zero else None)
    elif method == "prompt":
        cfg = peft.PromptTuningConfig(task_type=task, num_virtual_tokens=n_S)
    else:
        raise KeyError(f"unknown method {method!r}; supported: {', '.join(METHODS)}")
    with torch.random.fork_rng(devices=[]):  # peft draws its own init from the global generator
        torch.manual_seed(seed)
        model = peft.get_peft_model(base, cfg).eval()
    encoder = model.prompt_encoder[model.active_adapter]
    encoder.to(DTYPE)
    if not zero and init_std is not None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            w = encoder.embedding.weight
            w.copy_(torch.randn(w.shape, generator=g, dtype=DTYPE) * init_std)
    return model


def fresh_copy(model: Any) -> Any:
    """An independent copy of a base model (peft wrappers should not share one base)."""
    return copy.deepcopy(model)


# ---- prefix layout ------------------------------------------------------------------------------------------

def expand_heads(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Key/value heads ``(..., H_kv, s, d_h)`` -> query heads ``(..., H_kv * groups, s, d_h)``: query head h uses
    key/value head ``h // groups`` (transformers' ``repeat_kv``)."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=-3)


def prefix_cache(peft_model: Any, expand: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The per-layer raw prefix keys and values peft injects, read from its own ``get_prompt``: two lists of
    ``(H, n_S, d_h)`` tensors, one per query head (``expand=False``: one per key/value head, as stored)."""
    cache = peft_model.get_prompt(1)
    base = peft_model.get_base_model().config
    groups = base.num_attention_heads // getattr(base, "num_key_value_heads", base.num_attention_heads) \
        if expand else 1
    keys = [expand_heads(layer.keys[0].detach(), groups) for layer in cache.layers]
    values = [expand_heads(layer.values[0].detach(), groups) for layer in cache.layers]
    return keys, values


def prefix_weight(keys: list[torch.Tensor], values: list[torch.Tensor]) -> torch.Tensor:
    """peft's ``embedding.weight`` ``(n_S, L*2*D)`` holding the given per-layer keys / values ``(H_kv, n_S, d_h)``,
    ``D = H_kv d_h``: entry ``[m, (2l + c) D + h d_h + e]`` is key (c = 0) or value (c = 1) of layer l, key/value
    head h, prefix position m."""
    blocks = []
    for k, v in zip(keys, values):
        for kv in (k, v):
            H, n_S, dh = kv.shape
            blocks.append(kv.permute(1, 0, 2).reshape(n_S, H * dh))
    return torch.cat(blocks, dim=1)


def load_prefix(peft_model: Any, keys: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    """Set a prefix-tuning model's prefix to the given per-layer keys / values ``(H_kv, n_S, d_h)`` (float64,
    exact)."""
    encoder = peft_model.prompt_encoder[peft_model.active_adapter]
    encoder.load_prompt_embeddings(prefix_weight(keys, values).to(encoder.embedding.weight.dtype))


# ---- tracing through the real modules -------------------------------------------------------------------------

@dataclass
class LayerTrace:
    """One attention layer of one forward pass, all ``(B, H, n, .)`` over the n query positions of the pass.

    q, k, v: queries / keys / values of the pass's own tokens (after the rotary embedding for RoPE; keys and
             values repeated to one per query head under grouped-query attention, ``groups`` per kv head);
    heads:   per-head outputs t_i^h (the input of W_O, split by head);
    attn:    A from ``output_attentions``, ``(B, H, n, n_keys)`` with any injected prefix keys first;
    scaling: the logit scale tau the module uses."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    heads: torch.Tensor
    attn: torch.Tensor
    scaling: float
    groups: int = 1

    def kv_heads(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the first sequence, one per key/value head: ``(H_kv, n, d_h)`` each."""
        return self.k[0, ::self.groups], self.v[0, ::self.groups]


@dataclass
class Trace:
    layers: list[LayerTrace]
    positions: torch.Tensor  # (n,) position ids the model used for this pass's tokens
    output: torch.Tensor  # logits (B, n, V), or the last hidden state for models without an LM head
    cache: Any = None


@dataclass
class _Store:
    raw: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)
    positions: Optional[torch.Tensor] = None


def _split_heads(x: torch.Tensor, H: int) -> torch.Tensor:
    B, n, d = x.shape
    return x.view(B, n, H, d // H).transpose(1, 2)


class _Adapter:
    """Where a family's modules live and how to read q, k, v, t from them."""

    def __init__(self, fam: Family, base: Any) -> None:
        self.fam = fam
        self.kind = fam.kind
        self.base = base
        self.H = base.config.num_attention_heads
        self.kv = getattr(base.config, "num_key_value_heads", self.H)

    def blocks(self) -> list[Any]:
        b = self.base
        return {"gpt2": lambda: list(b.transformer.h), "llama": lambda: list(b.model.layers),
                "bert": lambda: list(b.encoder.layer)}[self.kind]()


    def attention(self, block: Any) -> Any:
        return {"gpt2": lambda: block.attn, "llama": lambda: block.self_attn,
                "bert": lambda: block.attention.self}[self.kind]()

    def output_projection(self, block: Any) -> Any:
        return {"gpt2": lambda: block.attn.c_proj, "llama": lambda: block.self_attn.o_proj,
                "bert": lambda: block.attention.output.dense}[self.kind]()

    def install(self, store: _Store) -> list[Any]:
        handles = []
        b = self.base

        def keep(key: tuple[int, str]) -> Callable[..., None]:
            def hook(module: Any, args: Any, output: Any) -> None:
                store.raw[key] = output.detach()
            return hook

        def keep_input(key: tuple[int, str]) -> Callable[..., None]:
            def hook(module: Any, args: Any) -> None:
                store.raw[key] = args[0].detach()
            return hook

        def keep_positions(module: Any, args: Any, kwargs: Any) -> None:
            ids = kwargs.get("position_ids", args[1] if len(args) > 1 else None) if self.kind == "llama" \
                else args[0]
            store.positions = ids.detach().reshape(-1, ids.shape[-1])[0]

        position_module = {"gpt2": lambda: b.transformer.wpe, "llama": lambda: b.model.rotary_emb,
                           "bert": lambda: b.embeddings.position_embeddings}[self.kind]()
        handles.append(position_module.register_forward_pre_hook(keep_positions, with_kwargs=True))
        for idx, block in enumerate(self.blocks()):
            attn = self.attention(block)
            if self.kind == "gpt2":
                handles.append(attn.c_attn.register_forward_hook(keep((idx, "qkv"))))
            elif self.kind == "llama":
                for name in ("q", "k", "v"):
                    handles.append(getattr(attn, f"{name}_proj").register_forward_hook(keep((idx, name))))

                def keep_rope(module: Any, args: Any, kwargs: Any, idx: int = idx) -> None:
                    cos, sin = kwargs["position_embeddings"]
                    store.raw[(idx, "cos")], store.raw[(idx, "sin")] = cos.detach(), sin.detach()
                handles.append(attn.register_forward_pre_hook(keep_rope, with_kwargs=True))
            else:
                for name, mod in (("q", attn.query), ("k", attn.key), ("v", attn.value)):
                    handles.append(mod.register_forward_hook(keep((idx, name))))
            handles.append(self.output_projection(block).register_forward_pre_hook(keep_input((idx, "heads"))))
        return handles

    def layer(self, idx: int, store: _Store, attn: torch.Tensor) -> LayerTrace:
        H, raw, groups = self.H, store.raw, self.H // self.kv
        module = self.attention(self.blocks()[idx])
        if self.kind == "gpt2":
            q, k, v = raw[(idx, "qkv")].split(module.split_size, dim=2)
        else:
            q, k, v = raw[(idx, "q")], raw[(idx, "k")], raw[(idx, "v")]
        q, k, v = _split_heads(q, H), _split_heads(k, self.kv), _split_heads(v, self.kv)
        if self.kind == "llama":
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

            q, k = apply_rotary_pos_emb(q, k, raw[(idx, "cos")], raw[(idx, "sin")])
        return LayerTrace(q=q, k=expand_heads(k, groups), v=expand_heads(v, groups),
                          heads=_split_heads(raw[(idx, "heads")], H), attn=attn.detach(),
                          scaling=float(module.scaling), groups=groups)


def trace(fam: Family, base: Any, runner: Any = None, **inputs: Any) -> Trace:
    """Run ``runner(**inputs, output_attentions=True)`` (``runner`` defaults to ``base``; pass the peft wrapper of
    ``base`` to trace a prefixed run) with hooks on ``base``'s modules, and collect a `Trace`."""
    adapter = _Adapter(fam, base)
    store = _Store()
    handles = adapter.install(store)
    try:
        with torch.no_grad():
            out = (runner or base)(**inputs, output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    if out.attentions is None or len(out.attentions) != len(adapter.blocks()):
        raise RuntimeError(f"{fam.name}: output_attentions did not return one tensor per layer")
    layers = [adapter.layer(i, store, a) for i, a in enumerate(out.attentions)]
    output = out.logits if fam.has_lm_head else out.last_hidden_state
    return Trace(layers=layers, positions=store.positions, output=output.detach(), cache=getattr(out, "cache", None))


def with_prefix_cache(fam: Family, base: Any, keys: list[torch.Tensor], values: list[torch.Tensor],
                      **inputs: Any) -> Trace:
    """Trace the base model with the given per-layer keys / values ``(H_kv, n_S, d_h)`` as its cache, bypassing peft
    (peft offsets any ``position_ids`` by n_S, so this is the only way to put the content elsewhere)."""
    transformers, _ = require_hf()
    batch = next(v for k, v in inputs.items() if k in ("input_ids", "inputs_embeds")).shape[0]
    cache = transformers.DynamicCache()
    for idx, (k, v) in enumerate(zip(keys, values)):
        cache.update(k.unsqueeze(0).expand(batch, -1, -1, -1).contiguous(),
                     v.unsqueeze(0).expand(batch, -1, -1, -1).contiguous(), idx)
    return trace(fam, base, cache=cache, **inputs)


def random_tokens(n: int, vocab: int, seed: int, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, n), generator=g)
