"""The per-layer, per-head audit of any transformers model under peft prefix-tuning / prompt tuning.

Three experiments (every attention read by `numeric.hf_capture`):

* ``prefix``: peft prefix-tuning on content X against two base-model runs of X: ``same`` (peft's own cache with
  the prefix masked out by the attention mask, so the content keeps the positions peft gives it) and ``shifted``
  (X alone, positions 0, 1, ...). For encoder-decoder models X is the decoder input (the encoder input is fixed):
  peft's prefix reaches the decoder self-attention only.
* ``prompt``: peft prompt tuning against prefix-tuning whose per-layer keys / values are the frozen model's keys /
  values of the virtual tokens alone (paper-notes 1.2 hierarchy; 5 items 9, 10).
* ``text``: a prefix loaded from the key/value cache of a hard prompt S against the base model on S + X.

Every row is one quantity at one attention and carries, per head, the worst deviation, the tolerance (from the
dtypes the pass actually used up to that attention: `tolerance`) and a class:

``holds``                 within tolerance, as the theory predicts there;
``deviates as predicted`` beyond tolerance, and a named assumption of the theory is broken there (deeper layer,
                          absolute positions, a position bias on the prefix keys, bidirectional prompt);
``premise broken``        the prefix is not what the theory assumes: hidden from some queries (a window or mask),
                          cropped from the cache, or not injected (the row says which queries / entries);
``unexplained``           beyond tolerance where the theory predicts agreement (or the reference could not be
                          built); the audit exits 1.
"""
from __future__ import annotations

import functools
import inspect
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from numeric import hf_theory as th
from numeric.hf import fresh_copy, load_prefix, quiet, random_tokens, versions, wrap
from numeric.hf_build import Loaded, ModelSpec, Size, load
from numeric.hf_capture import AttentionCall, Capture, capture

TOLERANCES = {"float64": None, "float32": 1e-5, "float16": 5e-2, "bfloat16": 1e-1}
"""Tolerance when a pass computes in that dtype (None: the float64 tolerance ``tol64``): ~100 unit roundoffs
(float32: 2^-24 ~ 6e-8; half precisions: 2^-11, 2^-8) for the few hundred roundings through a tiny model."""
EXACT_OPS = {"ones", "zeros", "full", "arange", "empty", "ones_like", "zeros_like", "full_like", "tensor",
             "__getitem__", "repeat", "expand", "view", "reshape", "contiguous", "clone", "to", "float",
             "embedding", "cat", "stack", "transpose", "permute", "unsqueeze", "squeeze", "detach"}
"""Ops whose low-precision result is exact data movement or a constant; the first arithmetic op in float32 is
what sets the tolerance (``to``/``float`` casts lose nothing by themselves; the arithmetic after them does)."""
CLASSES = ("holds", "deviates as predicted", "premise broken", "unexplained")
DEEPER = "deeper layer: earlier layers' prefixes changed this layer's inputs (paper-notes 5 item 17)"


@dataclass(frozen=True)
class Setup:
    """One random instance: base weights N(0, init_std^2), prefix / prompt N(0, prefix_std^2) (0: peft's zero
    prefix), n content tokens in ``batch`` sequences; seeds derived from ``seed``."""

    seed: int = 0
    n_S: int = 3
    n: int = 6
    batch: int = 2
    init_std: float = 0.3
    prefix_std: float = 1.0

    @property
    def seeds(self) -> dict[str, int]:
        return {"model": self.seed, "prefix": self.seed + 1, "tokens": self.seed + 2}


def tolerance(cap: Capture, index: int, tol64: float) -> tuple[float, str]:
    """(tolerance, reason) for call ``index`` of ``cap``: the coarsest dtype of an arithmetic op upstream of it."""
    low = [(op, dt) for op, dt in cap.precision_before(index) if op not in EXACT_OPS]
    worst_dt = max((dt for _, dt in low), key=lambda d: TOLERANCES.get(d) or 0.0, default=None)
    if worst_dt is None:
        return tol64, "float64 throughout"
    ops = sorted({op for op, dt in low if dt == worst_dt})
    return max(tol64, TOLERANCES.get(worst_dt) or tol64), f"{worst_dt} in {', '.join(ops[:6])}"


@dataclass
class Row:
    quantity: str
    layer: int
    path: str
    per_head: list[float]
    tol: float
    precision: str
    expect: str  # "holds" or "deviates"
    assumption: str
    classes: list[str] = field(default_factory=list)
    premise: str = ""

    @property
    def worst(self) -> float:
        return max(self.per_head) if self.per_head else 0.0

    @property
    def holds(self) -> bool:
        return self.worst <= self.tol

    @property
    def cls(self) -> str:
        return max(self.classes, key=CLASSES.index) if self.classes else "holds"

    @property
    def as_expected(self) -> bool:
        return self.cls != "unexplained"


def classify(row: Row) -> Row:
    """Per head: premise broken if the premise is; else holds / deviates as predicted / unexplained."""
    out = []
    for value in row.per_head:
        if row.premise:
            out.append("premise broken")
        elif value <= row.tol:
            out.append("holds")
        elif row.expect == "deviates":
            out.append("deviates as predicted")
        else:
            out.append("unexplained")
    row.classes = out
    return row


@dataclass
class Audit:
    model: str
    method: str
    setup: dict[str, Any]
    rows: list[Row]
    outputs: dict[str, float]
    notes: list[str]
    model_type: str = ""
    unsupported: str | None = None
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=versions)
    seconds: float = 0.0

    @property
    def unexpected(self) -> list[Row]:
        return [r for r in self.rows if not r.as_expected]

    def counts(self) -> dict[str, int]:
        return {c: sum(r.cls == c for r in self.rows) for c in CLASSES}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for row, r in zip(out["rows"], self.rows):
            row.update(worst=r.worst, holds=r.holds, cls=r.cls, as_expected=r.as_expected)
        out["counts"] = self.counts()
        out.pop("seconds")
        return out


# ---- running ----------------------------------------------------------------------------------------------------

def _inputs(loaded: Loaded, setup: Setup, X: torch.Tensor) -> dict[str, Any]:
    """Model inputs with content X: for encoder-decoder models X goes to the decoder."""
    if loaded.encoder_decoder:
        E = random_tokens(setup.n + 1, 64, setup.seeds["tokens"] + 7, setup.batch)
        return {"input_ids": E, "decoder_input_ids": X}
    return {"input_ids": X}


def _content(loaded: Loaded, setup: Setup) -> torch.Tensor:
    vocab = loaded.model.config.get_text_config().vocab_size
    return random_tokens(setup.n, min(vocab, 64), setup.seeds["tokens"], setup.batch)


def _accepts(model: Any, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def _masked_reference(loaded: Loaded, peft_model: Any, setup: Setup, X: torch.Tensor) -> Capture:
    """The base model on X behind peft's own prefix cache with the prefix masked out (attention mask 0): the content
    sits where peft puts it, and no query can attend to the prefix."""
    base = loaded.model
    cache = peft_model.get_prompt(setup.batch)
    inputs = _inputs(loaded, setup, X)
    n_S = setup.n_S
    mask = torch.cat([torch.zeros(setup.batch, n_S, dtype=torch.long), torch.ones_like(X)], dim=1)
    if loaded.encoder_decoder:
        inputs["decoder_attention_mask"] = mask
    else:
        inputs["attention_mask"] = mask
    if _accepts(base, "position_ids") and not loaded.encoder_decoder:
        inputs["position_ids"] = torch.arange(n_S, n_S + setup.n).unsqueeze(0).expand(setup.batch, -1)
    key = "cache" if _accepts(base, "cache") else "past_key_values"
    return capture(base, **inputs, **{key: cache})


@dataclass
class PrefixRun:
    """peft prefix-tuning on content X (``P``, run at once) and the two base-model runs of X it is compared with,
    each run when first read (a measure that reads one does not pay for the other; forwards without side effects,
    so the order does not matter): ``same`` (positions n_S.., `_masked_reference`) and ``shifted`` (0..)."""

    loaded: Loaded
    P: Capture
    zero: bool
    peft_model: Any
    setup: Setup
    X: torch.Tensor

    @functools.cached_property
    def same(self) -> Capture:
        return _masked_reference(self.loaded, self.peft_model, self.setup, self.X)

    @functools.cached_property
    def shifted(self) -> Capture:
        return capture(self.loaded.model, **_inputs(self.loaded, self.setup, self.X))


def run_prefix(spec: ModelSpec, setup: Setup) -> PrefixRun:
    zero = setup.prefix_std == 0
    loaded = load(spec, setup.seeds["model"], setup.init_std)
    model = wrap(loaded.model, loaded.task_type, "prefix", setup.n_S, seed=setup.seeds["prefix"],
                 init_std=setup.prefix_std, zero=zero)
    X = _content(loaded, setup)
    P = _guard(lambda: capture(loaded.model, model, **_inputs(loaded, setup, X)))
    return PrefixRun(loaded, P, zero, model, setup, X)


def _guard(run: Any) -> Any:
    """Run a peft forward; any failure is peft's (the base model ran): `PeftUnsupported`."""
    from numeric.hf import PeftUnsupported, peft_error

    try:
        return run()
    except PeftUnsupported:
        raise
    except Exception as exc:  # peft + this model: any exception type
        raise peft_error(exc) from exc


def prefixed_pairs(P: Capture, R: Capture) -> list[tuple[int, AttentionCall, AttentionCall]]:
    """(index in P, P call, R call) for every self-attention of P that received a prefix slot, matched by module."""
    by_path: dict[str, AttentionCall] = {c.path: c for c in R.self_calls()}
    out = []
    for i, c in enumerate(P.calls):
        if not c.cross and c.path in by_path:
            out.append((i, c, by_path[c.path]))
    return out


def _premise(P: AttentionCall, n_S: int) -> str:
    """Which queries cannot see the prefix and which prefix entries are missing, or ''."""
    parts = []
    if P.n_pre < n_S:
        kept = max(P.n_pre, 0)
        parts.append(f"prefix cropped: {kept} of {n_S} entries reach this attention"
                     + (f" (entries {', '.join(str(m) for m in range(n_S - kept))} dropped)" if kept else
                        " (no prefix injected here)"))
    if P.n_pre > 0:
        hidden = ~torch.isfinite(th.prefix_bias(P))  # (B, H, n, n_pre)
        if bool(hidden.any()):
            tokens = sorted({int(i) for i in hidden.any(-1).any(0).any(0).nonzero().flatten()})
            entries = sorted({int(m) for m in hidden.any(-2).any(0).any(0).nonzero().flatten()})
            window = f" (sliding window {P.sliding_window})" if P.sliding_window else ""
            parts.append(f"prefix hidden from content tokens {tokens} (entries {entries}){window}")
    return "; ".join(parts)


def _bias_note(P: AttentionCall, tol: float) -> tuple[bool, str]:
    """(prefix keys get a position bias?, description); a bias within the rounding of the scores (10 tol |S|) is
    none."""
    b = th.prefix_bias(P)
    finite = b[torch.isfinite(b)]
    scale = float(P.scores[torch.isfinite(P.scores) & (P.scores > -1e30)].abs().max())
    if finite.numel() == 0 or float(finite.abs().max()) <= 10 * tol * max(1.0, scale):
        return False, "no position bias on the prefix keys (b_im - b_ii = 0)"
    return True, (f"position bias on the prefix keys: b_im - b_ii in [{float(finite.min()):.3g}, "
                  f"{float(finite.max()):.3g}] (ALiBi / relative position bias), so alpha_i depends on i through it")


def _prefix_rows(run: PrefixRun, setup: Setup, tol64: float) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    pairs = prefixed_pairs(run.P, run.same)
    shifted = {c.path: c for c in run.shifted.self_calls()}
    prefixed = [(i, P, R) for i, P, R in pairs if P.n_pre > 0 or R.n_pre > 0]
    unprefixed = [P.path for _, P, R in pairs if P.n_pre == 0 and R.n_pre == 0]
    if unprefixed:
        notes.append(f"{len(unprefixed)} self-attention(s) get no prefix (peft passes it to the decoder "
                     f"self-attention only): {', '.join(unprefixed[:4])}{' ...' if len(unprefixed) > 4 else ''}")
    first_path = prefixed[0][1].path if prefixed else ""
    ref_gap = None
    for layer, (i, P, R) in enumerate(prefixed):
        tol, precision = tolerance(run.P, i, tol64)
        first = P.path == first_path
        premise = _premise(P, setup.n_S)
        if first and P.inputs is not None and R.inputs is not None:
            ref_gap = float((P.inputs[..., -P.n:, :] - R.inputs[..., -R.n:, :]).abs().max())
        reference_ok = ref_gap is not None and ref_gap <= tol

        def row(quantity: str, values: torch.Tensor, expect: str, assumption: str) -> None:
            rows.append(classify(Row(quantity, layer, P.path, values.tolist(), tol, precision, expect, assumption,  # noqa: B023 (called within this iteration)
                                     premise=premise)))  # noqa: B023 (called within this iteration)

        biased, bias_text = _bias_note(P, tol) if P.n_pre > 0 else (False, "")
        if P.extra_columns:
            biased, bias_text = True, (f"attention sink: {P.extra_columns} extra softmax column(s) per head (a "
                                       f"learned logit with no value) take mass, which the alpha formulas over "
                                       f"prefix + content omit")
        if P.n_pre > 0:
            row("alpha_i = sigma(LSE_m tau q.k_m - LSE_j S~_ij) (position-free, own inputs)", th.alpha_position_free(P),
                "deviates" if biased else "holds", bias_text if biased else
                "the paper's head: prefix logits tau q_i.k_m with no position term")
        if first:
            why = (f"first prefixed attention, base model at the same content positions (reference inputs match to "
                   f"{ref_gap:.2g})" if reference_ok else
                   f"the masked reference could not reproduce peft's content inputs (layer-0 input gap "
                   f"{ref_gap if ref_gap is not None else float('nan'):.3g}): positions derived from the mask")
            expect = "holds"
        else:
            why, expect = DEEPER, "deviates"
        if P.n_pre > 0:
            row("alpha_i closed form with the prefix's own bias vs base scores", th.alpha_closed_form(P, R),
                "deviates" if P.extra_columns else expect, bias_text if P.extra_columns and first else why)
            row("A_ij = (1-alpha_i) A^0_ij vs base, same positions", th.relative_attention(P, R), expect, why)
            row("t_i = (1-alpha_i) t^0_i + sum_m A_im v_m vs base, same positions", th.head_output(P, R), expect, why)
        S = shifted.get(P.path)
        if S is not None:
            if first:
                gap = (float((R.inputs[..., -R.n:, :] - S.inputs).abs().max())
                       if R.inputs is not None and S.inputs is not None else float("nan"))
                absolute = not gap <= tol
                shift_why = (f"absolute positions: the attention's input depends on the position ids (inputs at "
                             f"n_S.. and 0.. differ by {gap:.3g}; paper-notes 5 item 1 'fails if')" if absolute else
                             f"position-free inputs (gap {gap:.2g}): relative positions (rotary / bias / none), logits "
                             f"depend on i - j only")
                row("renormalised A vs base at positions 0..", th.renormalised_attention(P, S),
                    "deviates" if absolute else "holds", shift_why)
            else:
                row("renormalised A vs base at positions 0..", th.renormalised_attention(P, S), "deviates", DEEPER)
    if not prefixed:
        notes.append("no attention received a prefix")
    return rows, notes


@dataclass
class PromptRun:
    full: Capture
    alone: Capture
    prefixed: Capture
    at_zero: Capture | None = None


def _kv(C: Capture, groups: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-layer keys / values of the first sequence, one per key/value head (what peft's layout stores)."""
    calls = C.self_calls()
    return [c.k[0, ::groups] for c in calls], [c.v[0, ::groups] for c in calls]


def _groups(model: Any) -> int:
    cfg = model.config.get_text_config()
    H = cfg.num_attention_heads
    return H // (getattr(cfg, "num_key_value_heads", None) or H)


def _prefixed_by(loaded: Loaded, setup: Setup, alone: Capture, X: torch.Tensor) -> Capture:
    other = fresh_copy(loaded.model)
    model = wrap(other, loaded.task_type, "prefix", setup.n_S, seed=setup.seeds["prefix"], init_std=None)
    _guard(lambda: load_prefix(model, *_kv(alone, _groups(other))))
    return _guard(lambda: capture(other, model, input_ids=X))


def _decoder_only(spec: ModelSpec, setup: Setup, method: str) -> Loaded:
    loaded = load(spec, setup.seeds["model"], setup.init_std)
    if loaded.encoder_decoder:
        raise ValueError(f"--method {method} compares a prompt with a prefix in a decoder-only model; "
                         f"{loaded.model_type} is encoder-decoder (peft puts a soft prompt in the encoder input)")
    return loaded


def run_prompt(spec: ModelSpec, setup: Setup) -> tuple[Loaded, PromptRun]:
    loaded = _decoder_only(spec, setup, "prompt")
    prompted = wrap(loaded.model, loaded.task_type, "prompt", setup.n_S, seed=setup.seeds["prefix"],
                    init_std=setup.prefix_std)
    X = _content(loaded, setup)
    full = _guard(lambda: capture(loaded.model, prompted, input_ids=X))
    virtual = prompted.prompt_encoder[prompted.active_adapter].embedding.weight.detach()
    alone = capture(loaded.model, inputs_embeds=virtual.unsqueeze(0))
    return loaded, PromptRun(full, alone, _prefixed_by(loaded, setup, alone, X))


def run_text(spec: ModelSpec, setup: Setup) -> tuple[Loaded, PromptRun]:
    loaded = _decoder_only(spec, setup, "text")
    X = _content(loaded, setup)
    S = random_tokens(setup.n_S, int(X.max()) + 1, setup.seeds["prefix"], 1)
    full = capture(loaded.model, input_ids=torch.cat([S.expand(setup.batch, -1), X], dim=1))
    alone = capture(loaded.model, input_ids=S)
    return loaded, PromptRun(full, alone, _prefixed_by(loaded, setup, alone, X), _at_zero(loaded, alone, X))


def _at_zero(loaded: Loaded, alone: Capture, X: torch.Tensor) -> Capture | None:
    """The base model on X with S's key/value cache but the content at positions 0.. (bypassing peft, which always
    continues at n_S); None if the model takes no position ids."""
    from numeric.hf import require_hf

    base = loaded.model
    if not _accepts(base, "position_ids"):
        return None
    transformers, _ = require_hf()
    cache = transformers.DynamicCache()
    groups = _groups(base)
    for idx, c in enumerate(alone.self_calls()):
        k, v = c.k[:, ::groups], c.v[:, ::groups]
        cache.update(k.expand(X.shape[0], -1, -1, -1).contiguous().to(next(base.parameters()).dtype),
                     v.expand(X.shape[0], -1, -1, -1).contiguous().to(next(base.parameters()).dtype), idx)
    key = "cache" if _accepts(base, "cache") else "past_key_values"
    positions = torch.arange(X.shape[1]).unsqueeze(0).expand(X.shape[0], -1)
    return capture(base, input_ids=X, position_ids=positions, **{key: cache})


def _prompt_rows(run: PromptRun, setup: Setup, tol64: float, text: bool, causal: bool) -> list[Row]:
    rows: list[Row] = []
    what = "the hard prompt S" if text else "the virtual tokens"
    full, alone, pre = run.full.self_calls(), run.alone.self_calls(), run.prefixed.self_calls()
    for l, (F, A, Q) in enumerate(zip(full, alone, pre)):
        tol, precision = tolerance(run.full, run.full.calls.index(F), tol64)
        why = ("causal mask: the prompt positions never see the content" if causal else
               ("first layer: embeddings are per position" if l == 0 else
                "bidirectional attention: the prompt's states depend on the content (paper-notes 5 item 10)"))
        expect = "holds" if causal or l == 0 else "deviates"
        premise = _premise(Q, setup.n_S)
        for quantity, values in ((f"prompt-position k, v = those of {what} alone", th.states(F, A, setup.n_S)),
                                 (f"content A = prefix-tuning with {what}' k, v", th.attention_after(F, Q)),
                                 (f"content t = prefix-tuning with {what}' k, v", th.heads_after(F, Q))):
            rows.append(classify(Row(quantity, l, F.path, values.tolist(), tol, precision, expect, why,
                                     premise=premise)))
    return rows


def _is_causal(cap: Capture) -> bool:
    """Every self-attention masks the keys after the query (read from the captured scores)."""
    for c in cap.self_calls():
        n = c.n
        if n > 1 and bool(torch.isfinite(c.scores[..., 0, c.n_pre + 1]).all()) and \
                bool((c.scores[..., 0, c.n_pre + 1] > -1e30).all()):
            return False
    return True


def _gap(a: Capture, b: Capture) -> float:
    n = b.output.shape[1]
    return float((a.output[:, -n:] - b.output).abs().max())


def audit(spec: ModelSpec, method: str, setup: Setup, tol64: float = 1e-10) -> Audit:
    """Run the experiment of ``method`` on ``spec`` and classify every identity per attention and head; a peft
    failure gives an audit with no rows and ``unsupported`` set to its one-line reason."""
    from numeric.hf import PeftUnsupported

    start = time.perf_counter()
    notes: list[str] = []
    outputs: dict[str, float] = {}
    rows: list[Row] = []
    unsupported = None
    model_type = spec.model_type or ""
    with quiet() as captured:
        try:
            if method == "prefix":
                run = run_prefix(spec, setup)
                model_type = run.loaded.model_type
                rows, notes = _prefix_rows(run, setup, tol64)
                outputs = {"max |out_peft - out_base| (same positions)": _gap(run.P, run.same),
                           "max |out_peft - out_base| (positions 0..)": _gap(run.P, run.shifted)}
                notes.append(f"attention capture: {_routes(run.P)}")
                if run.loaded.dtype_note:
                    notes.append(run.loaded.dtype_note)
                if run.zero:
                    notes.append("peft's init_weights='zero' prefix is not a no-op: every head's output is scaled "
                                 "by 1 - alpha_i, alpha_i = n_S / (n_S + sum_j exp(l_ij)) (times e^{b_im} with a "
                                 "prefix bias)")
            elif method in ("prompt", "text"):
                loaded, prun = (run_text if method == "text" else run_prompt)(spec, setup)
                model_type = loaded.model_type
                causal = _is_causal(prun.alone) if prun.alone.self_calls()[0].n > 1 else _is_causal(prun.full)
                rows = _prompt_rows(prun, setup, tol64, method == "text", causal)
                outputs = {"max |out_prompted - out_prefix| (content)": _gap(prun.full, prun.prefixed)}
                notes.append(f"attention: {'causal' if causal else 'bidirectional'} (read from the captured scores)")
            else:
                raise KeyError(f"unknown method {method!r}")
        except PeftUnsupported as exc:
            unsupported = str(exc)
    return Audit(model=spec.name, method=method, setup={**asdict(setup), "seeds": setup.seeds}, rows=rows,
                 outputs=outputs, notes=notes, model_type=model_type, unsupported=unsupported, warnings=captured,
                 seconds=time.perf_counter() - start)


def _routes(cap: Capture) -> str:
    routes = sorted({f"{c.route} (tau from {c.scale_source})" for c in cap.calls})
    unverified = [c.path for c in cap.calls if not c.bias_content_independent]
    if unverified:
        routes.append(f"tau unverified (S - tau q.k varies with the content) at {', '.join(unverified[:3])}")
    extra = f"; {len(cap.unmatched)} softmax call(s) not an attention" if cap.unmatched else ""
    return "; ".join(routes) + extra


__all__ = ["Audit", "Row", "Setup", "Size", "audit", "run_prefix", "run_prompt", "run_text", "tolerance"]
