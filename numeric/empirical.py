"""Small reproductions of the paper's minGPT experiments E1 and E4 (paper-notes 4.2, items 23 and 26) on the
reference transformer (`numeric.model`) and its adaptation methods.

E1: pretrain a 1-layer, 1-head model to sort ascending, then adapt it to sort *descending* by full fine-tuning
(``W -> W + Delta W`` for every parameter, `FullFineTune`) and by prefix-tuning (`PrefixHidden`, n_S = 1).
Sorting descending needs the head to prefer the largest remaining digit instead of the smallest, a new
attention pattern. By paper-notes item 4 a prefix cannot give one: in the first layer
``A^pt_ij = (1 - alpha_i) A_ij`` for every content key j, so the attention renormalised over content,
``A^pt_ij / sum_r A^pt_ir``, is exactly the pretrained ``A_ij``.

E4: pretrain a multi-layer model on the random mixture of ascending / descending / +1 / +2, then learn the double
histogram with a prefix of n_S = 12 per layer against rank-1 LoRA on the attention output map W_O and both MLP
maps of every layer (the authors' placement: not W_Q, W_K, W_V). Both have 12 L d parameters.

Model: the authors' minGPT block (pre-LayerNorm, learned absolute positions, GELU MLP of width 4d, biases,
weights N(0, 0.02)), float32 for training. Differences from the authors' runs: no dropout, fewer steps at a
larger learning rate, and the full fine-tuning delta decays towards the pretrained weights rather than 0.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import torch

from numeric.model import Config, FullFineTune, LoRA, PrefixHidden, Transformer
from numeric.tasks import TaskSpec
from numeric.training import Logits, Phase, exact_match, train

TRAIN_DTYPE = torch.float32


# ---- configurations -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Size:
    """Model size: width d, layers L, heads per layer."""

    d: int
    layers: int
    heads: int

    def __str__(self) -> str:
        return f"{self.layers} layer{'s' * (self.layers > 1)}, {self.heads} head{'s' * (self.heads > 1)}, d={self.d}"


@dataclass(frozen=True)
class Experiment:
    """One experiment: task layout, model size, pretraining task and phases, adaptations and their phases."""

    name: str
    spec: TaskSpec
    size: Size
    pretrain_task: str
    target: str
    pretrain: Phase
    methods: tuple[tuple[str, Phase], ...]
    eval_samples: int
    tasks: tuple[str, ...]
    lora_rank: int = 1

    def phase(self, method: str) -> Phase:
        return dict(self.methods)[method]


# The authors' E1: n = 10, 8 digits, 1L1H d=96, pretrain 20k steps at 5e-4, FT 10k, prefix 40k; 3200 test inputs.
E1_FULL = Experiment(
    name="e1", spec=TaskSpec(n=10, num_digits=8, max_unique=5, n_S=1), size=Size(96, 1, 1),
    pretrain_task="ascending", target="descending", pretrain=Phase(5000, 1e-3),
    methods=(("finetune", Phase(2000, 1e-3)), ("prefix", Phase(2000, 1e-2, weight_decay=0.01))),
    eval_samples=3200, tasks=("ascending", "descending"))
E1_QUICK = Experiment(
    name="e1", spec=TaskSpec(n=5, num_digits=5, max_unique=4, n_S=1), size=Size(16, 1, 1),
    pretrain_task="ascending", target="descending", pretrain=Phase(150, 2e-2, batch=32),
    methods=(("finetune", Phase(80, 2e-2, batch=32)), ("prefix", Phase(80, 3e-2, batch=32, weight_decay=0.01))),
    eval_samples=256, tasks=("ascending", "descending"))
# The authors' E4: 4L4H d=256 pretrained 40k steps on the random mixture; prefix 12/layer 100k steps at 5e-5;
# rank-1 LoRA 10k steps at 5e-3; both 12 L d = 12,288 parameters. Ours is smaller in every direction (n = 5 digits
# from 0..4, 2 layers, 2 heads, d = 32: 768 adapted parameters each); LoRA learns slowly at this size, so even the
# quick run takes about a minute of CPU and its claim is opt-in.
E4_FULL = Experiment(
    name="e4", spec=TaskSpec(n=5, num_digits=5, max_unique=4, n_S=12), size=Size(32, 2, 2),
    pretrain_task="random", target="double_hist", pretrain=Phase(3000, 3e-3),
    methods=(("prefix", Phase(4000, 1e-2, weight_decay=0.01)), ("lora", Phase(4000, 1e-2, weight_decay=0.01))),
    eval_samples=3200, tasks=("double_hist",))
E4_QUICK = Experiment(
    name="e4", spec=TaskSpec(n=5, num_digits=5, max_unique=4, n_S=12), size=Size(32, 2, 2),
    pretrain_task="random", target="double_hist", pretrain=Phase(1500, 3e-3),
    methods=(("prefix", Phase(1500, 1e-2, weight_decay=0.01)), ("lora", Phase(1500, 1e-2, weight_decay=0.01))),
    eval_samples=256, tasks=("double_hist",))
EXPERIMENTS: dict[str, dict[str, Experiment]] = {"e1": {"full": E1_FULL, "quick": E1_QUICK},
                                                 "e4": {"full": E4_FULL, "quick": E4_QUICK}}

# The authors' numbers (paper-notes 4.2), as fractions, for the results table.
PAPER: dict[str, dict[tuple[str, str], float]] = {
    "e1": {("pretrained", "ascending"): 0.9141, ("pretrained", "descending"): 0.0,
           ("finetune", "descending"): 0.8491, ("finetune", "ascending"): 0.0,
           ("prefix", "descending"): 0.0, ("prefix", "ascending"): 0.0009},
    "e4": {("pretrained", "double_hist"): 0.0, ("prefix", "double_hist"): 0.0031,
           ("lora", "double_hist"): 0.9238},
}
PAPER_SETUP = {"e1": "1 layer, 1 head, d=96; n=10, 8 digits; 20k+10k/40k steps",
               "e4": "4 layers, 4 heads, d=256; n=10, 8 digits; 12,288 adapted parameters each"}


# ---- progress -----------------------------------------------------------------------------------------------

class Reporter:
    """Receives progress; the default ignores it. ``wants_evals`` asks for periodic accuracy (costs time)."""

    wants_evals = False

    def phase(self, label: str, steps: int) -> None: ...

    def step(self, step: int, loss: float) -> None: ...

    def accuracy(self, value: float) -> None: ...


# ---- results ------------------------------------------------------------------------------------------------

@dataclass
class Run:
    """What an experiment produced.

    acc[(method, task)]:    exact-match fraction on ``eval_samples`` test inputs (method "pretrained" = no change)
    params[method]:         trainable parameters of the method
    content_change[method]: per layer, max |renormalised content attention (adapted) - (pretrained)| over
                            `MECHANISM_INPUTS` test inputs, computed in float64
    attention[method]:      per layer, the attention ``(heads, queries, keys)`` on the test input ``example``
                            (keys: the n_S placeholder or prefix slots, then the content)"""

    experiment: Experiment
    seed: int
    acc: dict[tuple[str, str], float] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    content_change: dict[str, list[float]] = field(default_factory=dict)
    attention: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    example: Optional[torch.Tensor] = None

    def to_json(self) -> dict[str, Any]:
        e = self.experiment
        return {
            "experiment": e.name, "seed": self.seed, "model": str(e.size),
            "task": dataclasses.asdict(e.spec), "vocab": e.spec.vocab, "eval_samples": e.eval_samples,
            "pretrain": {"task": e.pretrain_task, **dataclasses.asdict(e.pretrain)},
            "methods": {m: dataclasses.asdict(p) for m, p in e.methods},
            "accuracy": [{"method": m, "task": t, "value": v, "paper": PAPER[e.name].get((m, t))}
                         for (m, t), v in self.acc.items()],
            "parameters": self.params, "final_loss": self.losses, "seconds": self.seconds,
            "renormalised_content_attention_change": self.content_change,
        }


# ---- building blocks ----------------------------------------------------------------------------------------

@contextmanager
def deterministic(threads: int = 1) -> Iterator[None]:
    """Deterministic kernels and a fixed number of threads for the duration (restored afterwards)."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def seeds(seed: int) -> dict[str, int]:
    """Independent seeds for the model init, the data stream, the test set and the adapter inits."""
    import zlib

    return {label: (seed * 1_000_003 + zlib.crc32(label.encode())) % (2**31 - 1)
            for label in ("init", "data", "test", "prefix", "lora")}


def build_model(e: Experiment, seed: int, dtype: torch.dtype = TRAIN_DTYPE) -> Transformer:
    """The minGPT block of the authors: pre-LN, learned absolute positions, GELU MLP 4d, biases; their init
    (every weight, embedding and position N(0, 0.02), the maps into the residual N(0, 0.02/sqrt(2L)), biases 0)."""
    s = e.size
    cfg = Config(vocab=e.spec.vocab, d=s.d, n_layers=s.layers, n_heads=s.heads, norm="pre", pos="learned",
                 max_len=e.spec.block, bias=True, dtype=dtype)
    model = Transformer(cfg, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith((".gain", ".shift", ".bias")):
                continue
            std = 0.02 / math.sqrt(2 * s.layers) if name.endswith(("W_O.weight", "fcs.1.weight")) else 0.02
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return model


def decay_split(named: list[tuple[str, torch.nn.Parameter]]) -> tuple[list, list]:
    """AdamW groups as in minGPT: weight decay on the weights of linear maps (not embeddings, positions,
    biases or norms)."""
    decay = [p for n, p in named if n.endswith(".weight") and not n.startswith("embed.")]
    ids = {id(p) for p in decay}
    return decay, [p for _, p in named if id(p) not in ids]


def logits_of(model: Transformer, adapter: Optional[torch.nn.Module] = None) -> Logits:
    """``tokens -> logits`` of the (adapted) model on sequences that start with n_S placeholder zeros.

    A hidden-state prefix *replaces* the placeholders (the authors' form): the model then reads only the content,
    which the reference model places at positions n_S.. after the prefix, as in pretraining. The placeholder
    positions get zero logits (their targets are ignored)."""
    if isinstance(adapter, PrefixHidden):
        n_S = adapter.s.shape[1]

        def prefixed(idx: torch.Tensor) -> torch.Tensor:
            out = model(idx[:, n_S:], adapter=adapter).logits
            return torch.cat([out.new_zeros(out.shape[0], n_S, out.shape[-1]), out], dim=1)

        return prefixed
    return lambda idx: model(idx, adapter=adapter).logits


def attention_maps(model: Transformer, adapter: Optional[torch.nn.Module], idx: torch.Tensor) -> list[torch.Tensor]:
    """Per layer, the attention weights ``(B, heads, queries, keys)`` on ``idx`` (placeholders included); with a
    prefix the placeholder queries are absent and the prefix keys take the placeholder slots."""
    with torch.no_grad():
        if isinstance(adapter, PrefixHidden):
            out = model(idx[:, adapter.s.shape[1]:], adapter=adapter, trace=True)
        else:
            out = model(idx, adapter=adapter, trace=True)
    return [layer.attn for layer in out.layers]


def content_attention(A: torch.Tensor, n_S: int, prefixed: bool) -> torch.Tensor:
    """The attention of content queries over content keys, renormalised: ``A_ij / sum_{r content} A_ir``
    (paper-notes item 4). ``A: (..., queries, n_S + n)``; without a prefix the first n_S queries are the
    placeholders and are dropped."""
    C = (A if prefixed else A[..., n_S:, :])[..., n_S:]
    return C / C.sum(-1, keepdim=True)


MECHANISM_INPUTS = 64
WATCH_INPUTS = 128


def make_adapter(method: str, model: Transformer, e: Experiment, seed: int) -> torch.nn.Module:
    """The adaptation object of ``method`` on the frozen ``model``."""
    s = e.size
    if method == "finetune":
        return FullFineTune(model)
    if method == "prefix":
        return PrefixHidden(s.layers, e.spec.n_S, s.d, dtype=TRAIN_DTYPE, seed=seed)
    if method == "lora":
        targets = [f"layers.{l}.{m}" for l in range(s.layers) for m in ("attn.W_O", "mlp.fcs.0", "mlp.fcs.1")]
        return LoRA(model, targets, rank=e.lora_rank, seed=seed)
    raise ValueError(f"unknown method {method!r}; choose finetune, prefix or lora")


def _groups(method: str, adapter: torch.nn.Module) -> tuple[list, list]:
    if method == "finetune":
        return decay_split(list(zip(adapter.names, adapter.deltas)))
    return list(adapter.parameters()), []


def _train(label: str, logits: Logits, groups: tuple[list, list], e: Experiment, task: str, phase: Phase,
           g: torch.Generator, reporter: Reporter, watch: torch.Tensor) -> float:
    reporter.phase(label, phase.steps)
    every = max(1, phase.steps // 10)

    def on_step(step: int, loss: float) -> None:
        reporter.step(step, loss)
        if reporter.wants_evals and (step % every == 0 or step == phase.steps):
            hit, total = exact_match(logits, e.spec, task, watch)
            reporter.accuracy(hit / total)

    return train(logits, groups, e.spec, task, phase, g, on_step)


def run(e: Experiment, seed: int, reporter: Optional[Reporter] = None, threads: int = 1) -> Run:
    """Pretrain, adapt with every method of ``e``, evaluate, and measure the attention mechanism; all random
    draws from ``seed`` (see `seeds`). Same seed and threads, same numbers."""
    reporter = reporter or Reporter()
    out = Run(e, seed)
    sd = seeds(seed)
    with deterministic(threads):
        g = torch.Generator().manual_seed(sd["data"])
        x_test = e.spec.inputs(e.eval_samples, torch.Generator().manual_seed(sd["test"]), "test")
        watch = x_test[:WATCH_INPUTS]
        out.example = e.spec.sequences(e.target, x_test[:1])[0][0]
        model = build_model(e, sd["init"])
        start = time.perf_counter()
        out.losses["pretrained"] = _train("pretrain " + e.pretrain_task, logits_of(model),
                                          decay_split(list(model.named_parameters())), e, e.pretrain_task,
                                          e.pretrain, g, reporter, watch)
        out.seconds["pretrained"] = time.perf_counter() - start
        model.requires_grad_(False)
        out.params["pretrained"] = model.n_params
        adapters: dict[str, Optional[torch.nn.Module]] = {"pretrained": None}
        for method, phase in e.methods:
            adapter = make_adapter(method, model, e, sd["prefix" if method == "prefix" else "lora"])
            start = time.perf_counter()
            out.losses[method] = _train(f"{method} {e.target}", logits_of(model, adapter), _groups(method, adapter),
                                        e, e.target, phase, g, reporter, watch)
            out.seconds[method] = time.perf_counter() - start
            out.params[method] = adapter.n_params
            adapters[method] = adapter
        start = time.perf_counter()
        for method, adapter in adapters.items():
            for task in e.tasks:
                hit, total = exact_match(logits_of(model, adapter), e.spec, task, x_test)
                out.acc[(method, task)] = hit / total
        out.seconds["evaluation"] = time.perf_counter() - start
        _mechanism(out, model, adapters, x_test[:MECHANISM_INPUTS])
    return out


def _mechanism(out: Run, model: Transformer, adapters: dict[str, Optional[torch.nn.Module]],
               x: torch.Tensor) -> None:
    """Fill ``out.content_change`` and ``out.attention`` from float64 copies of the trained objects."""
    e = out.experiment
    n_S = e.spec.n_S
    model64 = build_model(e, 0, torch.float64)
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    idx, _ = e.spec.sequences(e.target, x)
    base = attention_maps(model64, None, idx)
    for method, adapter in adapters.items():
        adapter64 = None if adapter is None else copy.deepcopy(adapter).double()
        prefixed = isinstance(adapter, PrefixHidden)
        maps = base if adapter is None else attention_maps(model64, adapter64, idx)
        out.content_change[method] = [
            float((content_attention(A, n_S, prefixed) - content_attention(B, n_S, False)).abs().max())
            for A, B in zip(maps, base)]
        out.attention[method] = [A[0].float() for A in maps]
