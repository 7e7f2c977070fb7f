"""The claim x variant matrix: Section 4 statements (and the depth claims) on whole reference transformers of
every architecture variant (norm pre/post/none/RMS x positions none/learned/sinusoidal/RoPE/ALiBi x mask).

Each cell is a float64 measurement on random models (``Finding``: max error and a witness). Its outcome is
"holds" (error <= tol) or "fails". When the outcome differs from the claim's pin, the row's ``scope`` names the
assumption the variant violates (for a pinned-false claim: the premise it lacks); for Section 4 statements the
explanation is verified by re-running with the assumption restored (content positions kept). A cell that
differs from the pin with no such explanation is "unexpected".
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proofs.claim import Context, Expected

SHIFT = "content moved to positions n_S.. under absolute PE (its q, k, v differ with and without the prefix)"
ABSOLUTE = ("learned", "sinusoidal")


@dataclass(frozen=True)
class Setting:
    """Where Section 4 statements are read: ``layer`` (1-based; deeper layers are compared conditionally on their
    inputs) and the prefix form, ``hidden`` (the authors') or ``kv`` (raw keys/values, the peft form)."""

    layer: int = 1
    prefix: str = "hidden"


@dataclass(frozen=True)
class Row:
    """A claim as measured per variant: ``measure(variant, seed, restored, setting) -> Finding``; ``scope(variant)``
    is the
    violated assumption (or missing premise) or None; ``restorable`` says whether ``restored=True`` re-runs the
    measurement with that assumption restored."""

    claim_id: str
    expected: Expected
    measure: Callable[[Any, int, bool, Setting], Any]
    scope: Callable[[Any], str | None]
    restorable: bool = False


@dataclass
class Cell:
    claim_id: str
    variant: str
    expected: Expected
    outcome: str
    max_error: float
    instances: int
    witness: dict[str, Any]
    explanation: str | None = None
    restored: dict[str, Any] | None = None
    status: str = "as expected"  # | "explained" | "unexpected"

    def to_json(self) -> dict[str, Any]:
        out = {"claim": self.claim_id, "variant": self.variant, "expected": self.expected, "outcome": self.outcome,
               "status": self.status, "max_error": self.max_error, "instances": self.instances,
               "witness": self.witness}
        if self.explanation:
            out["assumption"] = self.explanation
        if self.restored:
            out["with_assumption_restored"] = self.restored
        return out


@dataclass
class Matrix:
    cells: list[Cell]
    claims: list[str]
    variants: list[str]
    seconds: float
    seed: int
    tol: float
    setting: Setting = field(default_factory=Setting)

    @property
    def unexpected(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "unexpected"]

    def to_json(self) -> dict[str, Any]:
        counts = {s: sum(c.status == s for c in self.cells) for s in ("as expected", "explained", "unexpected")}
        return {"claims": self.claims, "variants": self.variants, "cells": [c.to_json() for c in self.cells],
                "summary": {**counts, "cells": len(self.cells), "seconds": round(self.seconds, 3)},
                "seed": self.seed, "tol": self.tol,
                "section4_read_at": {"layer": self.setting.layer, "prefix": self.setting.prefix}}


# ---- rows -------------------------------------------------------------------------------------------------

def _section4_rows() -> list[Row]:
    from proofs.catalogue import section4 as s4

    def identity(statement: Callable, n_S: int, inputs: int) -> Callable[[Any, int, bool, Setting], Any]:
        def measure(variant: Any, seed: int, restored: bool, setting: Setting) -> Any:
            from numeric.attention import discrepancy

            env, instances, where = _env(variant, seed, n_S, inputs, restored, setting)
            lhs, rhs = statement(env)
            disc = discrepancy(lhs, rhs)
            return _finding(disc.max_error, instances, {**where, "input": disc.worst_instance})

        return measure

    def ordering(variant: Any, seed: int, restored: bool, setting: Setting) -> Any:
        env, instances, where = _env(variant, seed, 2, 1, restored, setting)
        flips = 0
        for h in range(env.n_heads):
            A, F = env.view(0, h).A, env.view(0, h).A_pt
            dA, dF = A[..., :, None] - A[..., None, :], F[..., :, None] - F[..., None, :]
            vis = (A > 0)[..., :, None] & (A > 0)[..., None, :]
            flips += int(((dA * dF < 0) & (dA.abs() > 1e-9) & vis).sum())
        return _finding(float(flips), instances, {**where, "order_flips": flips})

    def eq7(variant: Any, seed: int, restored: bool, setting: Setting) -> Any:
        """Full fine-tuning with Delta H = 0 (only W_V changes, by a random FullFineTune delta): every head of
        layer 1 outputs t_h + Delta W_V^h xbar_i, xbar_i = sum_j A_ij (normed) x_j."""
        import torch

        from numeric.model import FullFineTune, Transformer

        cfg = variant.config()
        model = Transformer(cfg, seed=seed)
        g = torch.Generator().manual_seed(seed + 3)
        idx = torch.randint(0, cfg.vocab, (16, 6), generator=g)
        ft = FullFineTune(model)
        name = "layers.0.attn.W_V.weight"
        delta = torch.randn(model.layers[0].attn.W_V.weight.shape, generator=g, dtype=cfg.dtype)
        ft.set(name, delta)
        with torch.no_grad():
            base = model(idx, trace=True).layers[0]
            tuned = model(idx, adapter=ft, trace=True).layers[0]
        worst, where = 0.0, {}
        for h, block in enumerate(delta.split(model.layers[0].attn.vs, dim=0)):
            predicted = base.head_out[h] + (base.attn[:, h] @ base.attn_in) @ block.T
            err = float((tuned.head_out[h] - predicted).abs().max())
            if err >= worst:
                worst, where = err, {"variant": variant.name, "model_seed": seed, "head": h}
        return _finding(worst, 16, where)

    def in_scope(variant: Any) -> str | None:
        return SHIFT if variant.pos in ABSOLUTE else None

    specs = [("prefix.alpha_sigmoid", s4.alpha_sigmoid, 1, 1),
             ("prefix.single.closed_form", s4.single_closed_form, 1, 1),
             ("prefix.contraction", s4.contraction, 1, 1), ("prefix.relative_attention", s4.relative_attention, 1, 1),
             ("prefix.multi.closed_form", s4.multi_closed_form, 2, 1),
             ("prefix.multi.mixture_softmax", s4.mixture_softmax, 2, 1), ("prefix.content_mass", s4.content_mass, 2, 1),
             ("prefix.multihead.span", s4.multihead_span, 1, 1),
             ("prefix.bias_parallel_naive", s4.bias_parallel_naive, 1, 1),
             ("prefix.multihead.single_direction", s4.multihead_single_direction, 1, 2),
             ("prefix.longer.fixed_direction", s4.longer_fixed_direction, 2, 2)]
    expected = {c.id: c.expected for c in s4.CLAIMS}
    rows = [Row(cid, expected[cid], identity(st, n_S, inputs), in_scope if expected[cid] == "holds" else _none,
                restorable=expected[cid] == "holds") for cid, st, n_S, inputs in specs]
    rows.insert(7, Row("prefix.ordering", expected["prefix.ordering"], ordering, in_scope, restorable=True))
    rows.insert(9, Row("finetune.eq7_reduces", expected["finetune.eq7_reduces"], eq7, _none))
    return rows


def _none(variant: Any) -> str | None:
    return None


def _depth_rows() -> list[Row]:
    from numeric import depth as D

    def layer1(v: Any, seed: int, restored: bool, setting: Setting) -> Any:
        return D.layer1_soft_vs_prefix(v, seed, models=1)

    def soft_prefix(v: Any, seed: int, restored: bool, setting: Setting) -> Any:
        return D.soft_prompt_is_prefix(v, seed, models=1)

    def shift(v: Any, seed: int, restored: bool, setting: Setting) -> Any:
        return D.relative_attention_change(v, seed, layer=1, models=1)

    def rope(v: Any, seed: int, restored: bool, setting: Setting) -> Any:
        return D.rope_shift(v, seed, models=1)

    def deep(v: Any, seed: int, restored: bool, setting: Setting) -> Any:
        return D.relative_attention_change(v, seed, layer=2, models=1, keep_positions=True)

    return [
        Row("softprompt.layer1_equals_prefix", "holds", layer1, _none),
        Row("softprompt.causal_is_prefix", "holds", soft_prefix,
            lambda v: None if v.causal else "causal mask (bidirectional: the prompt states depend on the input)"),
        Row("softprompt.bidirectional_is_prefix", "fails", soft_prefix,
            lambda v: ("premise absent: the mask is causal, so prompt states are input-independent"
                       if v.causal else None)),
        Row("prefix.absolute_pe_shift", "fails", shift,
            lambda v: None if v.pos in ABSOLUTE else f"premise absent: no absolute position vectors ({v.pos})"),
        Row("prefix.rope_shift_invariant", "holds", rope,
            lambda v: f"RoPE-only positions ({v.pos} adds absolute position vectors)" if v.pos in ABSOLUTE else None),
        Row("prefix.deep_layer_invariance", "fails", deep, _none),
    ]


# ---- running ----------------------------------------------------------------------------------------------

_ENV_CACHE: dict[tuple, Any] = {}


def _finding(max_error: float, instances: int, witness: dict[str, Any]) -> Any:
    from numeric.depth import Finding

    return Finding(max_error, instances, witness)


def _env(variant: Any, seed: int, n_S: int, inputs: int, keep_positions: bool, setting: Setting,
         ) -> tuple[Any, int, dict[str, Any]]:
    """Traced views of one random 2-layer model with a prefix (cached per variant, shape and setting)."""
    import torch

    from numeric.model import PrefixHidden, PrefixKV, Transformer
    from numeric.traced import traced_env

    key = (variant, seed, n_S, inputs, keep_positions, setting)
    if key not in _ENV_CACHE:
        cfg = variant.config()
        model = Transformer(cfg, seed=seed)
        g = torch.Generator().manual_seed(seed + 1)
        batches = [torch.randint(0, cfg.vocab, (16, 6), generator=g) for _ in range(inputs)]
        prefix = (PrefixHidden(cfg.n_layers, n_S, cfg.d, seed=seed + 2) if setting.prefix == "hidden"
                  else PrefixKV(model, n_S, seed=seed + 2))
        if len(_ENV_CACHE) > 64:
            _ENV_CACHE.clear()
        _ENV_CACHE[key] = traced_env(model, batches, prefix, setting.layer - 1, keep_positions)
    where = {"variant": variant.name, "model_seed": seed, "n_S": n_S, "layer": setting.layer,
             "prefix": setting.prefix,
             "baseline": ("same layer on the prefixed layer inputs, no prefix keys" if setting.layer > 1 else
                          "un-prefixed model, content " + ("kept at n_S.." if keep_positions else "at 0.."))}
    return _ENV_CACHE[key], 16 * inputs, where


def rows() -> list[Row]:
    return _section4_rows() + _depth_rows()


def run_matrix(ctx: Context, variants: list[Any] | None = None, claim_ids: list[str] | None = None,
               on_cell: Callable[[Cell], None] | None = None, setting: Setting = Setting()) -> Matrix:
    from numeric.depth import all_variants
    from numeric.threads import one_thread

    start = time.perf_counter()
    variants = variants or all_variants()
    chosen = [r for r in rows() if not claim_ids or r.claim_id in claim_ids]
    cells = []
    with one_thread():
        for v in variants:
            for row in chosen:
                seed = ctx.child_seed(f"matrix/{v.name}")
                f = row.measure(v, seed, False, setting)
                outcome = "holds" if f.max_error <= ctx.tol else "fails"
                cell = Cell(row.claim_id, v.name, row.expected, outcome, f.max_error, f.instances, f.witness)
                if row.expected is not None and outcome != row.expected:
                    reason = row.scope(v)
                    if reason is None:
                        cell.status = "unexpected"
                    else:
                        cell.status, cell.explanation = "explained", reason
                        if row.restorable:
                            r = row.measure(v, seed, True, setting)
                            cell.restored = {"outcome": "holds" if r.max_error <= ctx.tol else "fails",
                                             "max_error": r.max_error}
                            if cell.restored["outcome"] != row.expected:
                                cell.status = "unexpected"
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    _ENV_CACHE.clear()
    return Matrix(cells, [r.claim_id for r in chosen], [v.name for v in variants], time.perf_counter() - start,
                  ctx.seed, ctx.tol, setting)
