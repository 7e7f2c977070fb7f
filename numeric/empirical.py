"""Reproductions of the paper's minGPT experiments E1-E4 (paper Sec. 4 Fig. 1, Sec. 5.1, Sec. 5.2, Sec. 6;
paper-notes 4.2, items 23-26) on the reference transformer (`numeric.model`) and its adaptation methods.

E1: pretrain a 1-layer, 1-head model to sort ascending, then adapt it to sort *descending* by full fine-tuning
(``W -> W + Delta W`` for every parameter, `FullFineTune`) and by prefix-tuning (`PrefixHidden`, n_S = 1).
Sorting descending needs the head to prefer the largest remaining digit instead of the smallest, a new
attention pattern. By paper-notes item 4 a prefix cannot give one: in the first layer
``A^pt_ij = (1 - alpha_i) A_ij`` for every content key j, so the attention renormalised over content,
``A^pt_ij / sum_r A^pt_ir``, is exactly the pretrained ``A_ij``.

E4: pretrain a multi-layer model on the random mixture of ascending / descending / +1 / +2, then learn the double
histogram with a prefix of n_S = 12 per layer against rank-1 LoRA on the attention output map W_O and both MLP
maps of every layer (the authors' placement: not W_Q, W_K, W_V). Both have 12 L d parameters.

E2 (Sec. 5.1): pretrain on the random mixture, then one prefix (n_S = 1) per pretraining task: a prefix elicits a
skill the model already has. E3 (Sec. 5.2): the same with prefixes of 10 per layer on a 4-layer model, for the
four pretraining tasks and two new ones: ``ascending_add1`` (a composition of two skills, which a prefix learns)
and ``double_hist`` (a new attention pattern, which it does not).

Model: the authors' minGPT block (pre-LayerNorm, learned absolute positions, GELU MLP of width 4d, biases,
weights N(0, 0.02)), float32 for training. Presets per experiment (`EXPERIMENTS`): "quick" (seconds, the claims),
"full" (minutes, our earlier small runs: no dropout, fewer steps at larger learning rates) and "paper" (the
authors' architecture, vocabulary, budgets, learning rates and dropout as paper-notes 4 reports them; the
deviations that remain are listed in `PAPER_DEVIATIONS`). `scaled` shrinks every budget by one factor, for runs
that must fit a CPU; `prefix_optimisation` sweeps the prefix's learning rate and initialisation so that a prefix
failure is not a training failure.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from numeric.model import Adapter, Config, FullFineTune, LoRA, PrefixHidden, PrefixHiddenStack, Transformer
from numeric.tasks import TaskSpec
from numeric.threads import deterministic
from numeric.training import Logits, Phase, exact_match, side_by_side_fits, train, train_side_by_side

TRAIN_DTYPE = torch.float32


# ---- configurations -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Size:
    """Model size: width d, layers L, heads per layer."""

    d: int
    layers: int
    heads: int
    norm: str = "pre"

    def __str__(self) -> str:
        return (f"{self.layers} layer{'s' * (self.layers > 1)}, {self.heads} head{'s' * (self.heads > 1)}, d={self.d}"
                + ("" if self.norm == "pre" else f", norm {self.norm}"))


@dataclass(frozen=True)
class Experiment:
    """One experiment: task layout, model size, pretraining task and phase, and adaptations: every method of
    ``methods`` is trained on every target (``targets``, default just ``target``; ``target_phases`` overrides a
    method's phase for a named target) and evaluated on ``tasks`` (empty: on its own target only). ``dropout``
    (minGPT's three dropouts) is active while the model's own weights train (pretraining, full fine-tuning); the
    model is in eval mode for prefix and LoRA training, as in the authors' trainers."""

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
    dropout: float = 0.0
    targets: tuple[str, ...] = ()
    target_phases: tuple[tuple[str, Phase], ...] = ()

    def __post_init__(self) -> None:
        counted = {self.pretrain_task, *self.all_targets, *self.tasks}
        if "double_hist" in counted and self.spec.vocab < self.spec.n + 1:
            raise ValueError(f"{self.name}: the double histogram needs counts up to n={self.spec.n}, "
                             f"vocabulary {self.spec.vocab}")

    @property
    def all_targets(self) -> tuple[str, ...]:
        return self.targets or (self.target,)

    def phase(self, method: str, target: str | None = None) -> Phase:
        if target is not None and method == "prefix" and target in dict(self.target_phases):
            return dict(self.target_phases)[target]
        return dict(self.methods)[method]

    def label(self, method: str, target: str) -> str:
        """The result key of ``method`` trained on ``target``: the method alone when there is one target."""
        return method if len(self.all_targets) == 1 else f"{method}/{target}"

    def eval_tasks(self, target: str) -> tuple[str, ...]:
        return self.tasks or (target,)


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
# The authors' settings (paper-notes 4.1-4.2): data n = 10 digits from 0..7 (half with <= 5 distinct), batch 64,
# AdamW (0.9, 0.95), wd 0.1 on matrices, clip 1, dropout 0.1 while the model's weights train; prefix trainer: model
# in eval mode, torch's default wd 0.01, prefix init N(0, 1); 3200 test inputs.
PAPER_DATA = dict(n=10, num_digits=8, max_unique=5)
E1_PAPER = Experiment(
    name="e1", spec=TaskSpec(**PAPER_DATA, n_S=1, vocab_size=10), size=Size(96, 1, 1),
    pretrain_task="ascending", target="descending", pretrain=Phase(20000, 5e-4),
    methods=(("finetune", Phase(10000, 5e-4)), ("prefix", Phase(40000, 5e-4, weight_decay=0.01))),
    eval_samples=3200, tasks=("ascending", "descending"), dropout=0.1)
E2_PAPER = Experiment(
    name="e2", spec=TaskSpec(**PAPER_DATA, n_S=1, vocab_size=10), size=Size(256, 1, 4, norm="none"),
    pretrain_task="random", target="ascending", pretrain=Phase(20000, 5e-4),
    methods=(("prefix", Phase(30000, 5e-5, weight_decay=0.01)),), eval_samples=3200,
    tasks=("ascending", "descending", "add1", "add2"), dropout=0.1, targets=("ascending", "descending", "add1", "add2"))
E3_TARGETS = ("ascending", "descending", "add1", "add2", "ascending_add1", "double_hist")
E3_PAPER = Experiment(
    name="e3", spec=TaskSpec(**PAPER_DATA, n_S=10), size=Size(256, 4, 4),
    pretrain_task="random", target="ascending_add1", pretrain=Phase(40000, 5e-4),
    methods=(("prefix", Phase(20000, 5e-5, weight_decay=0.01)),), eval_samples=3200, tasks=(), dropout=0.1,
    targets=E3_TARGETS, target_phases=(("ascending_add1", Phase(500000, 5e-5, weight_decay=0.01)),
                                       ("double_hist", Phase(500000, 5e-5, weight_decay=0.01))))
E4_PAPER = Experiment(
    name="e4", spec=TaskSpec(**PAPER_DATA, n_S=12), size=Size(256, 4, 4),
    pretrain_task="random", target="double_hist", pretrain=Phase(40000, 5e-4),
    methods=(("prefix", Phase(100000, 5e-5, weight_decay=0.01)), ("lora", Phase(10000, 5e-3, weight_decay=0.01))),
    eval_samples=3200, tasks=("double_hist",), dropout=0.1)
# Small versions of E2 and E3 (E4's small model and data: 2 layers, 2 heads, d = 32, n = 5 digits from 0..4) at our
# larger learning rates; "quick" is the claims' size.
E2_FULL = Experiment(
    name="e2", spec=TaskSpec(n=5, num_digits=5, max_unique=4, n_S=1), size=Size(32, 1, 4, norm="none"),
    pretrain_task="random", target="ascending", pretrain=Phase(3000, 3e-3),
    methods=(("prefix", Phase(1500, 1e-2, weight_decay=0.01)),), eval_samples=3200,
    tasks=("ascending", "descending", "add1", "add2"), targets=("ascending", "descending", "add1", "add2"))
E2_QUICK = dataclasses.replace(E2_FULL, pretrain=Phase(1500, 3e-3),
                               methods=(("prefix", Phase(300, 1e-2, weight_decay=0.01)),),
                               eval_samples=256)
E3_FULL = Experiment(
    name="e3", spec=TaskSpec(n=5, num_digits=5, max_unique=4, n_S=10), size=Size(32, 2, 2),
    pretrain_task="random", target="ascending_add1", pretrain=Phase(3000, 3e-3),
    methods=(("prefix", Phase(2000, 1e-2, weight_decay=0.01)),), eval_samples=3200, tasks=(), targets=E3_TARGETS)
E3_QUICK = dataclasses.replace(E3_FULL, pretrain=Phase(1500, 3e-3), targets=("ascending_add1", "double_hist"),
                               methods=(("prefix", Phase(600, 1e-2, weight_decay=0.01)),), eval_samples=256)
EXPERIMENTS: dict[str, dict[str, Experiment]] = {
    "e1": {"full": E1_FULL, "quick": E1_QUICK, "paper": E1_PAPER},
    "e2": {"full": E2_FULL, "quick": E2_QUICK, "paper": E2_PAPER},
    "e3": {"full": E3_FULL, "quick": E3_QUICK, "paper": E3_PAPER},
    "e4": {"full": E4_FULL, "quick": E4_QUICK, "paper": E4_PAPER}}
PAPER_DEVIATIONS: dict[str, tuple[str, ...]] = {
    "all": ("split: blake2b(input) mod 4 == 0 is test (the authors' Python hash is salted per process)",
            "full fine-tuning trains a delta per weight; weight decay pulls the delta, not the weight, to 0",
            "our reference block (numeric.model), not minGPT's code: the same computation, float32 training",
            "the full fine-tuning learning rate is not in the notes; the Trainer's 5e-4 is used"),
    "e1": (),
    "e2": ("no LayerNorm anywhere (norm none) for the authors' skip_layer_norm, which paper-notes describes only as "
           "'no LN before attention'",),
    "e3": ("vocabulary 11, not 10: the double-histogram count 10 needs a token",),
    "e4": ("vocabulary 11, not 10: the double-histogram count 10 needs a token",),
}


def scaled(e: Experiment, budget: float) -> Experiment:
    """``e`` with every phase's steps multiplied by ``budget`` (at least 1 step): a reduced-budget run."""
    if not budget > 0:
        raise ValueError(f"budget must be positive, got {budget}")

    def f(p: Phase) -> Phase:
        return dataclasses.replace(p, steps=max(1, round(p.steps * budget)))

    return dataclasses.replace(e, pretrain=f(e.pretrain), methods=tuple((m, f(p)) for m, p in e.methods),
                               target_phases=tuple((t, f(p)) for t, p in e.target_phases))

# The authors' numbers (paper-notes 4.2), as fractions, for the results table.
PAPER: dict[str, dict[tuple[str, str], float]] = {
    "e1": {("pretrained", "ascending"): 0.9141, ("pretrained", "descending"): 0.0,
           ("finetune", "descending"): 0.8491, ("finetune", "ascending"): 0.0,
           ("prefix", "descending"): 0.0, ("prefix", "ascending"): 0.0009},
    "e4": {("pretrained", "double_hist"): 0.0, ("prefix", "double_hist"): 0.0031,
           ("lora", "double_hist"): 0.9238},
    "e2": {("pretrained", "ascending"): 0.3266, ("pretrained", "descending"): 0.1788,
           ("pretrained", "add1"): 0.2978, ("pretrained", "add2"): 0.1612,
           ("prefix/ascending", "ascending"): 0.9366, ("prefix/descending", "descending"): 0.8466,
           ("prefix/add1", "add1"): 0.9956, ("prefix/add2", "add2"): 0.9925},
    "e3": {("pretrained", "ascending"): 0.0591, ("pretrained", "descending"): 0.2775,
           ("pretrained", "add1"): 0.3966, ("pretrained", "add2"): 0.2281,
           ("pretrained", "ascending_add1"): 0.0, ("pretrained", "double_hist"): 0.0,
           ("prefix/ascending", "ascending"): 0.9969, ("prefix/descending", "descending"): 0.9959,
           ("prefix/add1", "add1"): 1.0, ("prefix/add2", "add2"): 0.9997,
           ("prefix/ascending_add1", "ascending_add1"): 0.7159, ("prefix/double_hist", "double_hist"): 0.0062},
}
PAPER_SETUP = {"e1": "1 layer, 1 head, d=96; n=10, 8 digits; 20k+10k/40k steps",
               "e2": "1 layer, 4 heads, d=256, no LN; n=10, 8 digits; 20k + 30k steps per prefix (n_S=1)",
               "e3": "4 layers, 4 heads, d=256; n=10, 8 digits; 40k + 20k (500k for the new tasks) per prefix",
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
    example: torch.Tensor | None = None
    #: the pretrained model and the random states right after pretraining (set by `run`; not in the JSON)
    pretrained: Pretrained | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        e = self.experiment
        return {
            "experiment": e.name, "seed": self.seed, "model": str(e.size),
            "task": dataclasses.asdict(e.spec), "vocab": e.spec.vocab, "eval_samples": e.eval_samples,
            "pretrain": {"task": e.pretrain_task, **dataclasses.asdict(e.pretrain)},
            "methods": {m: dataclasses.asdict(p) for m, p in e.methods}, "targets": list(e.all_targets),
            "target_phases": {t: dataclasses.asdict(p) for t, p in e.target_phases}, "dropout": e.dropout,
            "accuracy": [{"method": m, "task": t, "value": v, "paper": PAPER.get(e.name, {}).get((m, t))}
                         for (m, t), v in self.acc.items()],
            "parameters": self.params, "final_loss": self.losses, "seconds": self.seconds,
            "renormalised_content_attention_change": self.content_change,
        }


# ---- building blocks ----------------------------------------------------------------------------------------

def seeds(seed: int) -> dict[str, int]:
    """Independent seeds for the model init, the data stream, the test set and the adapter inits."""
    import zlib

    return {label: (seed * 1_000_003 + zlib.crc32(label.encode())) % (2**31 - 1)
            for label in ("init", "data", "test", "prefix", "lora", "dropout")}


def build_model(e: Experiment, seed: int, dtype: torch.dtype = TRAIN_DTYPE) -> Transformer:
    """The minGPT block of the authors: pre-LN, learned absolute positions, GELU MLP 4d, biases; their init
    (every weight, embedding and position N(0, 0.02), the maps into the residual N(0, 0.02/sqrt(2L)), biases 0)."""
    s = e.size
    cfg = Config(vocab=e.spec.vocab, d=s.d, n_layers=s.layers, n_heads=s.heads, norm=s.norm, pos="learned",
                 max_len=e.spec.block, bias=True, dtype=dtype, dropout=e.dropout)
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


def logits_of(model: Transformer, adapter: Adapter | None = None) -> Logits:
    """``tokens -> logits`` of the (adapted) model on sequences that start with n_S placeholder zeros.

    A hidden-state prefix *replaces* the placeholders (the authors' form): the model then reads only the content,
    which the reference model places at positions n_S.. after the prefix, as in pretraining. The placeholder
    positions get zero logits (their targets are ignored)."""
    if isinstance(adapter, (PrefixHidden, PrefixHiddenStack)):
        n_S = adapter.prefix_length(model)

        def prefixed(idx: torch.Tensor) -> torch.Tensor:
            out = model(idx[:, n_S:], adapter=adapter).logits
            return torch.cat([out.new_zeros(out.shape[0], n_S, out.shape[-1]), out], dim=1)

        return prefixed
    return lambda idx: model(idx, adapter=adapter).logits


def attention_maps(model: Transformer, adapter: Adapter | None, idx: torch.Tensor) -> list[torch.Tensor]:
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


def new_prefix(e: Experiment, seed: int) -> PrefixHidden:
    """A hidden-state prefix ``s^(l)_1..s^(l)_{n_S}`` per layer of ``e``'s model, drawn N(0, 1) from ``seed``."""
    return PrefixHidden(e.size.layers, e.spec.n_S, e.size.d, dtype=TRAIN_DTYPE, seed=seed)


def make_adapter(method: str, model: Transformer, e: Experiment, seed: int) -> Adapter:
    """The adaptation object of ``method`` on the frozen ``model``."""
    s = e.size
    if method == "finetune":
        return FullFineTune(model)
    if method == "prefix":
        return new_prefix(e, seed)
    if method == "lora":
        targets = [f"layers.{l}.{m}" for l in range(s.layers) for m in ("attn.W_O", "mlp.fcs.0", "mlp.fcs.1")]
        return LoRA(model, targets, rank=e.lora_rank, seed=seed)
    raise ValueError(f"unknown method {method!r}; choose finetune, prefix or lora")


def _groups(adapter: Adapter) -> tuple[list, list]:
    if isinstance(adapter, FullFineTune):
        return decay_split(list(zip(adapter.names, adapter.deltas)))
    return list(adapter.parameters()), []


def _train(label: str, model: Transformer, logits: Logits, groups: tuple[list, list], e: Experiment, task: str,
           phase: Phase, g: torch.Generator, reporter: Reporter, watch: torch.Tensor,
           losses: list[float] | None = None) -> float:
    """One phase; the reporter's running accuracy is measured in eval mode (no dropout draws), and every step's
    loss is appended to ``losses`` if given."""
    reporter.phase(label, phase.steps)
    every = max(1, phase.steps // 10)

    def on_step(step: int, loss: float) -> None:
        reporter.step(step, loss)
        if losses is not None:
            losses.append(loss)
        if reporter.wants_evals and (step % every == 0 or step == phase.steps):
            was = model.training
            model.eval()
            hit, total = exact_match(logits, e.spec, task, watch)
            model.train(was)
            reporter.accuracy(hit / total)

    return train(logits, groups, e.spec, task, phase, g, on_step)


def _pretrained(e: Experiment, sd: dict[str, int], g: torch.Generator, reporter: Reporter, watch: torch.Tensor,
                out: Run) -> Transformer:
    """Build and pretrain the model (dropout active), then freeze it."""
    torch.manual_seed(sd["dropout"])  # dropout draws from torch's global generator
    model = build_model(e, sd["init"])
    model.train()
    start = time.perf_counter()
    out.losses["pretrained"] = _train("pretrain " + e.pretrain_task, model, logits_of(model),
                                      decay_split(list(model.named_parameters())), e, e.pretrain_task,
                                      e.pretrain, g, reporter, watch)
    out.seconds["pretrained"] = time.perf_counter() - start
    model.requires_grad_(False)
    out.params["pretrained"] = model.n_params
    return model


@dataclass(frozen=True)
class Pretrained:
    """A model just after `_pretrained`, with the two random streams the training that follows draws from (the
    data generator and torch's global generator, which dropout uses). `run` and `prefix_optimisation` with the
    same experiment, seed and threads pretrain the very same model; the second may start from the first's."""

    experiment: Experiment
    seed: int
    threads: int
    model: Transformer
    data_state: torch.Tensor
    dropout_state: torch.Tensor
    finetuned: FineTuned | None = None


@dataclass(frozen=True)
class FineTuned:
    """The full fine-tuning that `run` trains first after pretraining (if its first adaptation is one): its target,
    phase, every step's loss, and the two random states after it. `prefix_optimisation` from the same `Pretrained`
    with that target and phase would train the very same fine-tuning; it takes these instead."""

    target: str
    phase: Phase
    losses: tuple[float, ...]
    data_state: torch.Tensor
    dropout_state: torch.Tensor


def run(e: Experiment, seed: int, reporter: Reporter | None = None, threads: int = 1) -> Run:
    """Pretrain, adapt with every method of ``e`` on every target, evaluate, and measure the attention mechanism;
    all random draws from ``seed`` (see `seeds`). Same seed and threads, same numbers."""
    reporter = reporter or Reporter()
    out = Run(e, seed)
    sd = seeds(seed)
    with deterministic(threads):
        g = torch.Generator().manual_seed(sd["data"])
        x_test = e.spec.inputs(e.eval_samples, torch.Generator().manual_seed(sd["test"]), "test")
        watch = x_test[:WATCH_INPUTS]
        out.example = e.spec.sequences(e.target, x_test[:1])[0][0]
        model = _pretrained(e, sd, g, reporter, watch, out)
        out.pretrained = Pretrained(e, seed, threads, model, g.get_state(), torch.get_rng_state())
        adapters: dict[str, tuple[Adapter | None, str]] = {"pretrained": (None, e.target)}
        for k, target in enumerate(e.all_targets):
            for method, _ in e.methods:
                label = e.label(method, target)
                model.train(method == "finetune")  # adapters train on the model in eval mode (no dropout)
                adapter = make_adapter(method, model, e, sd["prefix" if method == "prefix" else "lora"] + k)
                start = time.perf_counter()
                losses: list[float] = []
                out.losses[label] = _train(f"{method} {target}", model, logits_of(model, adapter),
                                           _groups(adapter), e, target, e.phase(method, target), g,
                                           reporter, watch, losses)
                out.seconds[label] = time.perf_counter() - start
                if k == 0 and method == e.methods[0][0] == "finetune":
                    out.pretrained = dataclasses.replace(out.pretrained, finetuned=FineTuned(
                        target, e.phase(method, target), tuple(losses), g.get_state(), torch.get_rng_state()))
                out.params[label] = adapter.n_params
                adapters[label] = (adapter, target)
        model.eval()
        start = time.perf_counter()
        every_task = tuple(dict.fromkeys(t for target in e.all_targets for t in e.eval_tasks(target)))
        for label, (trained, target) in adapters.items():
            for task in (every_task if trained is None else e.eval_tasks(target)):
                hit, total = exact_match(logits_of(model, trained), e.spec, task, x_test)
                out.acc[(label, task)] = hit / total
        out.seconds["evaluation"] = time.perf_counter() - start
        _mechanism(out, model, adapters, x_test[:MECHANISM_INPUTS])
    return out


def sweep(e: Experiment, seed_list: Sequence[int], threads: int = 1,
          reporter: Reporter | None = None) -> list[Run]:
    """`run` once per seed."""
    return [run(e, s, reporter, threads) for s in seed_list]


def summary(runs: Sequence[Run]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (method, task): mean, sample standard deviation, min and max of the accuracy over the runs."""
    keys = list(dict.fromkeys(k for r in runs for k in r.acc))
    out = {}
    for key in keys:
        vals = [r.acc[key] for r in runs if key in r.acc]
        mean = sum(vals) / len(vals)
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        out[key] = {"mean": mean, "std": sd, "min": min(vals), "max": max(vals), "runs": len(vals)}
    return out


LOSS_WINDOW = 50


@dataclass
class Attempt:
    """One prefix training: learning rate, restart (init seed), best and final windowed loss, exact match."""

    lr: float
    restart: int
    best_loss: float
    final_loss: float
    accuracy: float


def prefix_optimisation(e: Experiment, seed: int, target: str, lrs: Sequence[float], restarts: int, steps: int,
                        threads: int = 1, eval_samples: int = 512, start: Pretrained | None = None) -> dict[str, Any]:
    """Is a prefix failure a training failure? Pretrain as `run` does (same seed; or take ``start``, the
    `Run.pretrained` of that `run`, which is the same model and random states without training it twice, and the
    run's full fine-tuning when it is the reference's: same target and phase), then
    train a prefix on
    ``target`` for every learning rate in ``lrs`` from ``restarts`` initialisations, ``steps`` steps each. Reports
    every attempt's best and final training loss (means over windows of `LOSS_WINDOW` steps) and exact match on
    ``eval_samples`` test inputs, with reference losses: ln V (uniform output), the pretrained model's own loss
    on ``target`` (no prefix) and, if ``e`` has full fine-tuning, that of full fine-tuning at the same steps and
    the experiment's own learning rate."""
    sd = seeds(seed)
    out = Run(e, seed)
    reporter = Reporter()
    attempts: list[Attempt] = []
    refs: dict[str, float] = {"uniform (ln V)": math.log(e.spec.vocab)}
    with deterministic(threads):
        g = torch.Generator().manual_seed(sd["data"])
        x_test = e.spec.inputs(eval_samples, torch.Generator().manual_seed(sd["test"]), "test")
        if start is None:
            model = _pretrained(e, sd, g, reporter, x_test[:WATCH_INPUTS], out)
        elif (start.experiment, start.seed, start.threads) != (e, seed, threads):
            raise ValueError("start was pretrained for another experiment, seed or number of threads")
        else:
            model = start.model
            g.set_state(start.data_state)
            torch.set_rng_state(start.dropout_state)
        model.eval()
        x, y = e.spec.batch(target, 1024, torch.Generator().manual_seed(sd["test"] + 1))
        with torch.no_grad():
            out_logits = logits_of(model)(x)
            refs["pretrained, no prefix"] = float(torch.nn.functional.cross_entropy(
                out_logits.reshape(-1, out_logits.shape[-1]), y.reshape(-1), ignore_index=-100))
        finetune = [dataclasses.replace(p, steps=steps) for m, p in e.methods if m == "finetune"]
        for phase in finetune:
            done = None if start is None else start.finetuned
            if done is not None and (done.target, done.phase) == (target, phase):
                losses = list(done.losses)
                g.set_state(done.data_state)
                torch.set_rng_state(done.dropout_state)
            else:
                model.train(True)
                adapter = make_adapter("finetune", model, e, sd["prefix"])
                losses = []
                _train("finetune", model, logits_of(model, adapter), _groups(adapter), e, target, phase, g,
                       reporter, x_test[:WATCH_INPUTS], losses)
                model.eval()
            refs[f"full fine-tuning, {steps} steps at lr {phase.lr:g}"] = _windows(losses)[-1]
        phases = [Phase(steps, lr, weight_decay=0.01) for lr in lrs for _ in range(restarts)]
        prefixes = [new_prefix(e, sd["prefix"] + 7919 * (len(finetune) + k)) for k in range(len(phases))]
        curves = _prefix_attempts(model, e, target, phases, prefixes, g)
        for phase, prefix, curve in zip(phases, prefixes, curves):
            windows = _windows(curve)
            hit, total = exact_match(logits_of(model, prefix), e.spec, target, x_test)
            attempts.append(Attempt(phase.lr, sum(a.lr == phase.lr for a in attempts), min(windows), windows[-1],
                                    hit / total))
    best = min(attempts, key=lambda a: a.best_loss)
    return {"experiment": e.name, "seed": seed, "target": target, "steps": steps, "restarts": restarts,
            "lrs": list(lrs), "attempts": [dataclasses.asdict(a) for a in attempts],
            "best": dataclasses.asdict(best), "reference_losses": refs, "pretrain_steps": e.pretrain.steps,
            "eval_samples": eval_samples}


def _windows(losses: list[float]) -> list[float]:
    """Means of the per-step losses over consecutive windows of `LOSS_WINDOW` steps (the last may be shorter)."""
    return [sum(losses[i:i + LOSS_WINDOW]) / len(losses[i:i + LOSS_WINDOW]) for i in range(0, len(losses), LOSS_WINDOW)]


def _prefix_attempts(model: Transformer, e: Experiment, target: str, phases: list[Phase],
                     prefixes: list[PrefixHidden], g: torch.Generator) -> list[list[float]]:
    """Train each prefix of ``prefixes`` with its phase on the frozen ``model`` in eval mode, the data drawn from
    ``g`` as if one after another; returns every step's loss per prefix. They train side by side in one batch
    (`train_side_by_side` through a `PrefixHiddenStack`) when their batches fit, else in turn."""
    curves: list[list[float]] = [[] for _ in prefixes]
    together = len(prefixes) > 1 and side_by_side_fits(e.spec, phases)
    chunks = [list(range(len(prefixes)))] if together else [[k] for k in range(len(prefixes))]
    for chunk in chunks:
        adapter = (PrefixHiddenStack([prefixes[k] for k in chunk], phases[chunk[0]].batch) if together
                   else prefixes[chunk[0]])
        part = [curves[k] for k in chunk]

        def record(i: int, _step: int, loss: float, part: list[list[float]] = part) -> None:
            part[i].append(loss)

        train_side_by_side(logits_of(model, adapter), [(_groups(prefixes[k]), phases[k]) for k in chunk], e.spec,
                           target, g, record)
    return curves


def _mechanism(out: Run, model: Transformer, adapters: dict[str, tuple[Adapter | None, str]],
               x: torch.Tensor) -> None:
    """Fill ``out.content_change`` and ``out.attention`` from float64 copies of the trained objects (each adapter on
    its own target's sequences)."""
    e = out.experiment
    n_S = e.spec.n_S
    model64 = build_model(e, 0, torch.float64)
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    model64.eval()
    for label, (adapter, target) in adapters.items():
        idx, _ = e.spec.sequences(target, x)
        base = attention_maps(model64, None, idx)
        adapter64 = None if adapter is None else copy.deepcopy(adapter).double()
        prefixed = isinstance(adapter, PrefixHidden)
        maps = base if adapter is None else attention_maps(model64, adapter64, idx)
        out.content_change[label] = [
            float((content_attention(A, n_S, prefixed) - content_attention(B, n_S, False)).abs().max())
            for A, B in zip(maps, base)]
        if target == e.target:
            out.attention[label] = [A[0].float() for A in maps]
