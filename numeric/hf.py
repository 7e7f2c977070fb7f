"""Bridge to Hugging Face transformers + peft (the optional ``[hf]`` extra), fully offline.

Models are built or loaded by `numeric.hf_build` (any model type, tiny, from its default config; or a local
checkpoint) and read by `numeric.hf_capture` (what every attention computed). This module holds what is shared:
the offline import, versions, the quiet context, peft wrapping (any failure becomes one line `PeftUnsupported`)
and peft's prefix layout.

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
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import torch

from numeric.threads import one_thread

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


def versions() -> dict[str, str | None]:
    """Installed versions of the libraries the bridge audits (None if absent)."""
    out: dict[str, str | None] = {}
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
    captured: list[str] = []
    with warnings.catch_warnings(record=True) as records, one_thread():
        warnings.simplefilter("always")
        try:
            yield captured
        finally:
            hf_logging.set_verbosity(old)
            for r in records:
                message = f"{r.category.__name__}: {str(r.message).splitlines()[0]}"
                if message not in captured:
                    captured.append(message)


# ---- peft -------------------------------------------------------------------------------------------------------

class PeftUnsupported(RuntimeError):
    """peft cannot wrap or run this model; the message is one line, ``unsupported by peft X: <error>``."""


def peft_error(exc: BaseException) -> PeftUnsupported:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return PeftUnsupported(f"unsupported by peft {versions()['peft']}: {type(exc).__name__}"
                           + (f": {first}" if first else ""))


def wrap(base: Any, task_type: str, method: str, n_S: int, *, seed: int, init_std: float | None = 1.0,
         zero: bool = False) -> Any:
    """``get_peft_model`` with prefix-tuning (raw key/value prefix, no projection) or prompt tuning.

    The prompt encoder is cast to float64 and re-drawn N(0, init_std^2) from ``seed`` (peft's own init is
    N(0, 1) in float32 from the global generator, here seeded and isolated); ``zero=True`` keeps peft's
    ``init_weights="zero"`` prefix; ``init_std=None`` keeps peft's init (for a prefix that is loaded next).
    Any failure of peft is raised as `PeftUnsupported`."""
    _, peft = require_hf()
    task = getattr(peft.TaskType, task_type)
    if method == "prefix":
        cfg = peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=n_S,
                                      init_weights="zero" if zero else None)
    elif method == "prompt":
        cfg = peft.PromptTuningConfig(task_type=task, num_virtual_tokens=n_S)
    else:
        raise KeyError(f"unknown method {method!r}; supported: {', '.join(METHODS)}")
    try:
        with torch.random.fork_rng(devices=[]):  # peft draws its own init from the global CPU generator
            torch.default_generator.manual_seed(seed)  # torch.manual_seed would also seed (lazily) every accelerator
            model = peft.get_peft_model(base, cfg).eval()
    except Exception as exc:  # peft's own validation: any exception type
        raise peft_error(exc) from exc
    encoder = model.prompt_encoder[model.active_adapter]
    encoder.to(next(base.parameters()).dtype)
    if not zero and init_std is not None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            w = encoder.embedding.weight
            w.copy_((torch.randn(w.shape, generator=g, dtype=DTYPE) * init_std).to(w.dtype))
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


def random_tokens(n: int, vocab: int, seed: int, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, n), generator=g)
