"""Tiny offline models of any transformers model type, and local checkpoints, ready for peft.

`tiny_config` starts from a model type's *default* config and shrinks it by rules on the config's own keys (never a
list of families): widths (``hidden_size``, ``d_model``, ``n_embd`` ...) become d, head counts H, per-head widths
d / H, feed-forward widths 2d, layer counts L, positions 64, vocabulary 64, expert counts 4 (2 active), dropout 0,
and a ``layer_types`` schedule keeps one layer of every distinct type so hybrid models (sliding + full attention)
stay hybrid. Key/value heads stay grouped when the default config groups them (H_kv = 1), else H_kv = H.

`ModelSpec` names what to build: a model type (plus config overrides) or a checkpoint directory. `load` returns a
float64, eager-attention, eval-mode model and the peft task type that fits it: ``SEQ_2_SEQ_LM`` for
encoder-decoder configs, ``CAUSAL_LM`` when transformers maps the type to a causal LM, else
``FEATURE_EXTRACTION`` (an encoder). What depends on the spec alone (the tiny config, the dtype the kernels accept)
is derived once per process and spec; the weights are drawn afresh from the seed on every `load`.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from numeric.hf import DTYPE, require_hf


@dataclass(frozen=True)
class Size:
    """Tiny model dimensions (d = H d_h)."""

    layers: int = 2
    heads: int = 2
    d: int = 16
    vocab: int = 64
    max_positions: int = 64


_LAYERS = re.compile(r"^(num_hidden_layers|n_layers?|num_layers|(en|de)coder_layers|num_decoder_layers)$")
_HEADS = re.compile(r"^(num_attention_heads|n_heads?|num_heads|(en|de)coder_attention_heads)$")
_KV_HEADS = re.compile(r"^(num_key_value_heads|num_kv_heads|n_kv_heads?|multi_query_group_num)$")
_WIDTH = re.compile(r"^(hidden_size|n_embd|d_model|hidden_dim|embed_dim|dim|d_embed|word_embed_proj_dim)$")
_HEAD_DIM = re.compile(r"^(head_dim|d_kv|kv_channels|head_size|attention_head_dim|linear_\w+_head_dim|"
                       r"qk_\w*head_dim|v_head_dim)$")
_FFN = re.compile(r"(intermediate|ffn|^d_ff$|^n_inner$|mlp_dim|ff_dim)")
_POSITIONS = re.compile(r"^(max_position_embeddings|n_positions|n_ctx|max_seq_len|max_sequence_length)$")
_EXPERTS = re.compile(r"^(num_experts|num_local_experts|n_routed_experts|moe_num_experts)$")
_ACTIVE = re.compile(r"^(num_experts_per_tok|moe_topk|top_k|num_experts_per_token)$")
_TOKEN = re.compile(r"(token_id|token_index)$")
_DROPOUT = re.compile(r"(dropout|pdrop)")


def _shrink(defaults: dict[str, Any], size: Size) -> dict[str, Any]:
    """Overrides for a config whose default values are ``defaults`` (rules above)."""
    out: dict[str, Any] = {}
    heads = next((v for k, v in defaults.items() if _HEADS.match(k) and isinstance(v, int)), None)
    for key, value in defaults.items():
        if key == "layer_types" and isinstance(value, list) and value:
            kinds = list(dict.fromkeys(value))
            schedule = (kinds * size.layers)[:max(size.layers, len(kinds))]
            out[key] = schedule
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and _DROPOUT.search(key):
            out[key] = 0.0
            continue
        if not isinstance(value, int):
            continue
        if _LAYERS.match(key):
            out[key] = size.layers
        elif _KV_HEADS.match(key):
            out[key] = size.heads if heads is None or value >= heads else 1
        elif _HEADS.match(key) or re.match(r"^linear_num_\w+_heads$", key):
            out[key] = size.heads
        elif _HEAD_DIM.match(key):
            out[key] = size.d // size.heads
        elif _WIDTH.match(key):
            out[key] = size.d
        elif _FFN.search(key):
            out[key] = 2 * size.d
        elif _POSITIONS.match(key):
            out[key] = size.max_positions
        elif key == "vocab_size":
            out[key] = size.vocab
        elif _EXPERTS.match(key):
            out[key] = 4
        elif _ACTIVE.match(key):
            out[key] = 2
        elif _TOKEN.search(key) and value >= size.vocab:
            out[key] = size.vocab - 1
    if "layer_types" in out:
        for key in [k for k in out if _LAYERS.match(k)]:
            out[key] = len(out["layer_types"])
    return out


def tiny_config(model_type: str, size: Size = Size(), init_std: float = 0.3,
                overrides: dict[str, Any] | None = None) -> Any:
    """The default config of ``model_type``, shrunk to ``size``, eager attention, weights N(0, init_std^2);
    ``overrides`` (e.g. ``sliding_window``, ``partial_rotary_factor``) are applied last."""
    transformers, _ = require_hf()
    mapping = transformers.models.auto.configuration_auto.CONFIG_MAPPING
    if model_type not in mapping:
        raise KeyError(f"unknown model type {model_type!r} (not in transformers "
                       f"{transformers.__version__}'s CONFIG_MAPPING)")
    cls = mapping[model_type]
    defaults = cls().to_dict()
    kwargs = _shrink(defaults, size)
    if "initializer_range" in defaults or "init_std" not in defaults:
        kwargs["initializer_range"] = init_std
    else:
        kwargs["init_std"] = init_std
    kwargs.update(overrides or {})
    config = cls(**kwargs)
    config._attn_implementation = "eager"
    return config


@dataclass(frozen=True)
class ModelSpec:
    """What to audit: ``model_type`` built tiny from its default config (plus ``overrides``), or the checkpoint
    directory ``path`` (loaded offline, as saved)."""

    model_type: str | None = None
    path: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    size: Size = Size()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.model_type or str(self.path)

    def __hash__(self) -> int:
        return hash((self.model_type, self.path, self.name))


@dataclass
class Loaded:
    """A float64 eager model and how peft should wrap it."""

    model: Any
    task_type: str
    encoder_decoder: bool
    model_type: str
    dtype_note: str = ""


def task_type(config: Any) -> tuple[str, str]:
    """(peft task type, transformers auto class name) for ``config``."""
    transformers, _ = require_hf()
    auto = transformers.models.auto.modeling_auto
    if getattr(config, "is_encoder_decoder", False):
        return "SEQ_2_SEQ_LM", "AutoModelForSeq2SeqLM"
    if config.model_type in auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "CAUSAL_LM", "AutoModelForCausalLM"
    return "FEATURE_EXTRACTION", "AutoModel"


def _smoke(model: Any, encoder_decoder: bool) -> None:
    ids = torch.zeros(1, 2, dtype=torch.long)
    with torch.no_grad():
        model(input_ids=ids, **({"decoder_input_ids": ids} if encoder_decoder else {}))


def _finish(model: Any, config: Any, probed: str | None = None) -> Loaded:
    """float64 and eager; a model whose kernels refuse float64 (e.g. grouped expert matmuls) runs in float32, and
    the audit's dtype probe then sets float32 tolerances. ``probed``: the dtype note an earlier model of the same
    spec got ("" float64), so that the smoke pass which decides it is not repeated (None: run it)."""
    task, _ = task_type(config)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    encdec = bool(getattr(config, "is_encoder_decoder", False))
    model = model.to(DTYPE).eval()
    if probed is not None:
        return Loaded(model.to(torch.float32) if probed else model, task, encdec, config.model_type, probed)
    note = ""
    try:
        _smoke(model, encdec)
    except RuntimeError as exc:
        model = model.to(torch.float32)
        _smoke(model, encdec)
        note = f"runs in float32: float64 fails ({str(exc).splitlines()[0][:120]})"
    return Loaded(model, task, encdec, config.model_type, note)


@dataclass
class _Recipe:
    """What `load` derives from a spec alone: the tiny config (never handed out: building a model writes to its
    config, so each model gets a copy), the auto class, and the dtype note of the first model (None before it)."""

    config: Any
    auto: str
    note: str | None = None


_RECIPES: dict[tuple[ModelSpec, float], _Recipe] = {}


def _recipe(spec: ModelSpec, init_std: float) -> _Recipe:
    """The `_Recipe` of (``spec``, ``init_std``), made on first use (``spec.model_type`` must be set)."""
    key = (spec, init_std)
    if key not in _RECIPES:
        config = tiny_config(str(spec.model_type), spec.size, init_std, spec.overrides)
        _RECIPES[key] = _Recipe(config, task_type(config)[1])
    return _RECIPES[key]


def load(spec: ModelSpec, seed: int, init_std: float = 0.3) -> Loaded:
    """Build (``model_type``: random weights from ``seed``) or read (``path``) the model of ``spec``."""
    transformers, _ = require_hf()
    if spec.path is not None:
        path = Path(spec.path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{spec.path}: not a checkpoint directory (no config.json)")
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        _, auto = task_type(config)
        model = getattr(transformers, auto).from_pretrained(path, local_files_only=True, attn_implementation="eager",
                                                             dtype=DTYPE)
        return _finish(model, config)
    if spec.model_type is None:
        raise ValueError("a ModelSpec needs a model_type or a path")
    recipe = _recipe(spec, init_std)
    config = copy.deepcopy(recipe.config)
    with torch.random.fork_rng(devices=[]):  # the weights are drawn on the CPU from the global CPU generator
        torch.default_generator.manual_seed(seed)
        model = getattr(transformers, recipe.auto).from_config(config, attn_implementation="eager")
    loaded = _finish(model, config, recipe.note)
    recipe.note = loaded.dtype_note
    return loaded


PRESETS: dict[str, ModelSpec] = {
    "gpt2": ModelSpec(model_type="gpt2"),
    "llama": ModelSpec(model_type="llama"),
    "llama-gqa": ModelSpec(model_type="llama", overrides={"num_key_value_heads": 1}, label="llama-gqa"),
    "bert": ModelSpec(model_type="bert"),
}
"""Named shorthands for ``--arch`` (a model type plus overrides; nothing about their behaviour is assumed)."""
