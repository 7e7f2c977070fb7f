"""Figures for the LaTeX report, drawn with matplotlib from real float64 torch heads (`numeric.attention`).

Each figure is written twice: a vector PDF for the document and a PNG for the Markdown docs. Every random draw
comes from ``ctx.child_seed("figure:<name>")``, so a figure is a function of the run's seed.

* ``attention_heatmap``: one head's content attention ``A_ij`` without a prefix, ``A^pt`` with one prefix
  position (its column ``alpha_i`` first), and the renormalised ``A^pt_ij / (1 - alpha_i)``, which equals
  ``A_ij`` (prefix.relative_attention): a prefix rescales each row but cannot change its pattern.
* ``reachable_segment``: with the prefix value ``W_V s`` fixed and the prefix key free, the output
  ``t^pt_i = (1 - alpha_i) t_i + alpha_i W_V s`` sweeps the segment ``[t_i, W_V s]`` and nothing else
  (prefix.single.closed_form, prefix.contraction).
* ``bias_directions``: the bias ``sum_m alpha_im W_V s_m`` over many inputs: on the ray of ``W_V s_1`` for one
  prefix position, spread between ``W_V s_1`` and ``W_V s_2`` for two (prefix.longer.fixed_direction).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from proofs.claim import Context


@dataclass(frozen=True)
class FigureSpec:
    """A figure: file stem, caption (plain text), the claims it illustrates, and its drawing function."""

    name: str
    caption: str
    claims: tuple[str, ...]
    draw: Callable[[Any, Context], str]  # (matplotlib Figure, ctx) -> one-line note on what was measured


@dataclass(frozen=True)
class FigureFile:
    spec: FigureSpec
    pdf: Path
    png: Path
    note: str


def _heatmap_head(seed: int, n: int = 8, d: int = 4) -> Any:
    """One random head with a single prefix position whose key is aligned with the queries (a strong prefix)."""
    import torch

    from numeric.attention import TorchHead, random_instances

    inst = random_instances(1, n, d, n_S=1, seed=seed, scale=2.0)
    q_mean = (inst.X @ inst.W_Q.transpose(-1, -2)).mean(dim=1)  # (1, k)
    key = 0.6 * q_mean / q_mean.norm() * inst.W_Q.shape[-2] ** 0.5
    value = torch.randn(1, 1, d, generator=torch.Generator().manual_seed(seed + 1), dtype=inst.X.dtype)
    inst.prefix_kv = (key.unsqueeze(1), value)
    return TorchHead(inst)


def draw_attention_heatmap(fig: Any, ctx: Context) -> str:
    h = _heatmap_head(ctx.child_seed("figure:attention_heatmap"))
    A = h.A[0].numpy()
    full = h.A_full[0].numpy()
    alpha = h.alpha[0].numpy()
    renorm = h.A_pt[0].numpy() / (1 - alpha)
    n = A.shape[0]
    panels = [(A, r"$A_{ij}$ (no prefix)", list(range(1, n + 1))),
              (full, r"$A^{pt}$ (column 0: $\alpha_i$)", [0, *range(1, n + 1)]),
              (renorm, r"$A^{pt}_{ij}/(1-\alpha_i)$", list(range(1, n + 1)))]
    axes = fig.subplots(1, 3)
    image = None
    for ax, (M, title, cols) in zip(axes, panels):
        image = ax.imshow(M, vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=6)
        ax.set_yticks(range(n), [str(i) for i in range(1, n + 1)], fontsize=6)
        ax.set_xlabel("key $j$", fontsize=8)
    axes[0].set_ylabel("query $i$", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.7)
    err = float(abs(renorm - A).max())
    return f"max |A^pt_ij/(1-alpha_i) - A_ij| = {err:.2g}; alpha_i ranges over [{alpha.min():.2f}, {alpha.max():.2f}]"


def draw_reachable_segment(fig: Any, ctx: Context, n: int = 5, keys: int = 41) -> str:
    import torch

    from numeric.attention import HeadInstances, TorchHead, random_instances

    seed = ctx.child_seed("figure:reachable_segment")
    base = random_instances(1, n, 2, n_S=1, seed=seed, scale=2.0)
    g = torch.Generator().manual_seed(seed + 1)
    value = torch.randn(1, 1, 2, generator=g, dtype=base.X.dtype) * 1.5
    direction = torch.randn(1, 1, base.W_Q.shape[-2], generator=g, dtype=base.X.dtype)
    scales = torch.linspace(-8.0, 8.0, keys, dtype=base.X.dtype).reshape(keys, 1, 1)
    rep = lambda t: t.expand(keys, *t.shape[1:])  # noqa: E731
    inst = HeadInstances(rep(base.X), rep(base.W_Q), rep(base.W_K), rep(base.W_V), rep(base.S), base.tau,
                         prefix_kv=(scales * direction, rep(value)))
    h = TorchHead(inst)
    t, t_pt, u = h.t[0].numpy(), h.t_pt.numpy(), value[0, 0].numpy()
    ax = fig.subplots(1, 1)
    worst = 0.0
    for i in range(n):
        ax.plot([t[i, 0], u[0]], [t[i, 1], u[1]], color="0.75", lw=0.8, zorder=1)
        ax.scatter(t_pt[:, i, 0], t_pt[:, i, 1], s=6, zorder=2, label=f"$t^{{pt}}_{i + 1}$")
        ax.scatter([t[i, 0]], [t[i, 1]], marker="o", facecolors="none", edgecolors="k", s=30, zorder=3)
        # distance of each reached point from the segment's line: |cross(t_pt - u, t - u)| / |t - u|
        a, b = t_pt[:, i] - u, t[i] - u
        cross = abs(a[:, 0] * b[1] - a[:, 1] * b[0]) / max(float((b ** 2).sum() ** 0.5), 1e-300)
        worst = max(worst, float(cross.max()))
    ax.scatter([u[0]], [u[1]], marker="*", s=120, color="crimson", zorder=4, label="$W_V s$")
    ax.set_xlabel("output component 1", fontsize=8)
    ax.set_ylabel("output component 2", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=6, loc="best")
    return f"{keys} prefix keys per query; max distance of t^pt_i from the line through t_i and W_V s: {worst:.2g}"


def draw_bias_directions(fig: Any, ctx: Context, inputs: int = 60, n: int = 6) -> str:
    import torch

    from numeric.attention import HeadInstances, TorchHead, random_instances

    seed = ctx.child_seed("figure:bias_directions")
    axes = fig.subplots(1, 2)
    notes = []
    for ax, n_S in zip(axes, (1, 2)):
        base = random_instances(1, n, 2, n_S=n_S, seed=seed + n_S, scale=2.0)
        X = torch.randn(inputs, n, 2, generator=torch.Generator().manual_seed(seed + 10 + n_S), dtype=base.X.dtype)
        rep = lambda t: t.expand(inputs, *t.shape[1:])  # noqa: E731
        h = TorchHead(HeadInstances(X, rep(base.W_Q), rep(base.W_K), rep(base.W_V), rep(base.S), base.tau))
        b = h.bias.reshape(-1, 2).numpy()
        values = h.pv[0].numpy()
        ax.scatter(b[:, 0], b[:, 1], s=4, alpha=0.6, label=r"bias $\sum_m \alpha_{im} W_V s_m$")
        for m, u in enumerate(values):
            ax.plot([0, u[0]], [0, u[1]], color="crimson", lw=1)
            ax.scatter([u[0]], [u[1]], marker="*", s=60, color="crimson", zorder=3)
            ax.text(u[0], u[1], f" $W_V s_{m + 1}$", fontsize=7, color="crimson")
        ax.scatter([0], [0], marker="+", color="k", s=30)
        cross = abs(b[:, 0] * values[0, 1] - b[:, 1] * values[0, 0]) / float((values[0] ** 2).sum() ** 0.5)
        notes.append(f"n_S={n_S}: max distance from the W_V s_1 line {float(cross.max()):.2g}")
        ax.set_title(f"$n_S = {n_S}$", fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6, loc="best")
    return f"{inputs} inputs x {n} positions; " + "; ".join(notes)


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("attention_heatmap",
               "Attention of one random float64 head over 8 content tokens: without a prefix (left), with one "
               "prefix position (middle, column 0 is the prefix weight alpha_i), and the prefixed content "
               "attention renormalised by 1 - alpha_i (right), which is the left map again.",
               ("prefix.relative_attention", "prefix.ordering", "prefix.content_mass",
                "prefix.cannot_reverse_attention"),
               draw_attention_heatmap),
    FigureSpec("reachable_segment",
               "Outputs reachable by a prefix with a fixed value W_V s and a free key: for each query position i "
               "the points t^pt_i (one per key) lie on the segment from t_i (open circle) to W_V s (star).",
               ("prefix.single.closed_form", "prefix.contraction", "prefix.reachable_segment",
                "prefix.bias_parallel_naive"),
               draw_reachable_segment),
    FigureSpec("bias_directions",
               "The bias a prefix adds to one head's output over 60 random inputs (every position): with one prefix "
               "position (left) it is alpha_i W_V s_1, always on the ray of W_V s_1; with two positions (right) it "
               "is a mixture of W_V s_1 and W_V s_2 whose direction depends on the input, so no single direction "
               "describes it.",
               ("prefix.multi.closed_form", "prefix.longer.fixed_direction", "prefix.multihead.single_direction"),
               draw_bias_directions),
)


def draw_approx_heads(fig: Any, ctx: Context) -> str:
    """The catalogue's approx.single_head_uniform targets at ε = 1/5: f against the head output."""
    from proofs.approx_run import draw_runs, run
    from proofs.catalogue.approx import UNIFORM_EPS, UNIFORM_TARGETS
    from theory.approx import Expression

    runs = [run(Expression.parse(text, Fraction(L)), UNIFORM_EPS) for text, L in UNIFORM_TARGETS]
    draw_runs(fig, runs)
    return "; ".join(f"{r.name}: certified {float(r.certified_upper):.4g}, sampled {r.sampled:.4g}" for r in runs)


def draw_approx_length(fig: Any, ctx: Context) -> str:
    from proofs.approx_run import draw_length_curve

    return draw_length_curve(fig)


FIGURES = FIGURES + (
    FigureSpec("approx_heads",
               "One prefixed head approximating three Lipschitz targets on the circle at eps = 1/5 with the "
               "derived N(eps) and T(eps): f (black) and the head output H (orange); each title gives the "
               "certified sup error (interval branch-and-bound) and the sampled one (float64).",
               ("approx.single_head_uniform", "approx.consistent_with_limitation"), draw_approx_heads),
    FigureSpec("approx_prefix_length",
               "The Jackson-type prefix length N(eps) = floor(pi L / eps) + 1 for L = 3 (the least N meeting eps "
               "for every 3-Lipschitz f: certified at N(eps), refuted by the midpoint tent at N(eps) - 1), and "
               "the least N for the smooth target sin(3x) (sampled, float64), which needs fewer.",
               ("approx.prefix_length_bound",), draw_approx_length),
)

SIZES = {"attention_heatmap": (7.0, 2.8), "bias_directions": (7.0, 3.4), "approx_heads": (7.5, 3.0)}


def render(specs: tuple[FigureSpec, ...], out_dir: Path, ctx: Context) -> list[FigureFile]:
    """Draw each figure into ``out_dir`` as ``<name>.pdf`` and ``<name>.png`` (no timestamps in the files)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from proofs.cliutil import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for spec in specs:
        fig = Figure(figsize=SIZES.get(spec.name, (5.0, 4.0)), layout="constrained")
        note = spec.draw(fig, ctx)
        pdf, png = out_dir / f"{spec.name}.pdf", out_dir / f"{spec.name}.png"
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
        files.append(FigureFile(spec, pdf, png, note))
    return files
