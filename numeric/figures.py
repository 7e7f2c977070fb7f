"""Attention-pattern figures of an experiment run: one panel per (layer, head) and method, on one test input.

Rows are the queries that predict the output tokens (labelled by the token each reads), columns are keys: the n_S
slots (placeholder token 0 without a prefix, the learned prefix with one) followed by the content. Colours use a
square-root scale shared by all panels so that small weights stay visible. The prefix can only move mass into its
own column; within the content columns the pattern is the pretrained one scaled by ``1 - alpha_i``
(paper-notes item 1), while full fine-tuning and LoRA (from layer 2 on) can redraw it.
"""
from __future__ import annotations

from pathlib import Path

from numeric.empirical import Run

TITLES = {"pretrained": "pretrained", "finetune": "full fine-tuning", "prefix": "prefix-tuning", "lora": "LoRA"}


def plot_attention(run: Run, path: Path) -> Path:
    """Draw ``run.attention`` for every method into ``path`` (PNG or PDF, chosen by suffix)."""
    if run.example is None or not run.attention:
        raise ValueError("the run holds no attention maps of an example input (numeric.empirical.run records them)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    e = run.experiment
    n_S = e.spec.n_S
    methods = list(run.attention)
    layers = len(run.attention[methods[0]])
    heads = e.size.heads
    tokens = [str(int(t)) for t in run.example]
    content = tokens[n_S:]
    first = e.spec.out_start - n_S  # content-query index of the first prediction of an output token
    rows = layers * heads
    norm = PowerNorm(0.5, vmin=0.0, vmax=max(float(A.max()) for maps in run.attention.values() for A in maps))
    height = 0.2 * (len(content) - first) + 1.4
    fig, axes = plt.subplots(rows, len(methods), figsize=(3.4 * len(methods), height * rows + 0.5), squeeze=False)
    for c, method in enumerate(methods):
        for l, A in enumerate(run.attention[method]):
            for h in range(heads):
                W = (A[h] if method.startswith("prefix") else A[h, n_S:])[first:]
                ax = axes[l * heads + h][c]
                ax.imshow(W.numpy(), norm=norm, cmap="viridis")
                ticks = ["P" if method.startswith("prefix") else "0"] * n_S + content
                ax.set_xticks(range(W.shape[1]), ticks, fontsize=6)
                ax.set_yticks(range(W.shape[0]), content[first:], fontsize=6)
                ax.axvline(n_S - 0.5, color="white", linewidth=0.8)
                ax.set_title(f"{TITLES.get(method, method)}\nlayer {l + 1}, head {h + 1}", fontsize=8)
                if c == 0:
                    ax.set_ylabel("query (token read)", fontsize=7)
                ax.set_xlabel("key", fontsize=7)
    fig.suptitle(f"{e.name.upper()} attention on one test input ({e.target}); {e.size}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
