"""The check of the empirical claims (`proofs.catalogue.empirical`): train the quick configuration of an experiment
(`numeric.empirical.run`) and judge a `Contrast` between two adaptation methods on the measured accuracies and
first-layer content attention; optionally the prefix optimisation check (`numeric.empirical.prefix_optimisation`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proofs.claim import Check, Context, LayerResult, Status

if TYPE_CHECKING:
    from numeric.empirical import Run

LABELS = {"pretrained": "pretrained", "finetune": "full FT", "prefix": "prefix", "lora": "rank-1 LoRA"}


@dataclass(frozen=True)
class Contrast:
    """``better`` reaches at least ``min_better`` and ``worse`` at most ``max_worse`` exact match on ``task``; the
    renormalised content attention of ``same_attention`` in layer ``layer`` equals the pretrained one to ``tol``."""

    better: str
    worse: str
    task: str
    min_better: float
    max_worse: float
    same_attention: str = "prefix"
    layer: int = 0
    tol: float = 1e-6
    optimise_lrs: tuple[float, ...] = ()
    restarts: int = 2


def judge(run: Run, c: Contrast) -> LayerResult:
    """Turn a finished `numeric.empirical.Run` into the numeric layer's verdict."""
    e = run.experiment
    b, w = run.acc[(c.better, c.task)], run.acc[(c.worse, c.task)]
    change = run.content_change[c.same_attention][c.layer]
    others = ", ".join(f"{LABELS.get(m, m)} {v[c.layer]:.2g}" for m, v in run.content_change.items()
                       if m not in ("pretrained", c.same_attention))
    facts = (f"quick {e.name.upper()} ({e.size}; n={e.spec.n}, {e.spec.num_digits} digits; seed {run.seed}): "
             f"{LABELS.get(c.better, c.better)} {b:.1%} (need >= {c.min_better:.0%}), "
             f"{LABELS.get(c.worse, c.worse)} {w:.1%} (need <= {c.max_worse:.0%}) on {c.task}; layer {c.layer + 1} "
             f"renormalised content attention of {LABELS.get(c.same_attention, c.same_attention)} vs pretrained "
             f"differs by {change:.2g} (need <= {c.tol:g}; {others or 'no other method'})")
    witness = {"seed": run.seed, "accuracy": {f"{m}/{t}": v for (m, t), v in run.acc.items()},
               "content_attention_change": run.content_change, "parameters": run.params}
    failed = [why for ok, why in ((b >= c.min_better, f"{c.better} below {c.min_better:.0%}"),
                                  (w <= c.max_worse, f"{c.worse} above {c.max_worse:.0%}"),
                                  (change <= c.tol, f"{c.same_attention} changed the content attention"))
              if not ok]
    if failed:
        return LayerResult(Status.VIOLATED, "; ".join(failed) + ": " + facts, max_error=change,
                           instances=e.eval_samples, witness=witness)
    return LayerResult(Status.CONSISTENT, facts, max_error=change, instances=e.eval_samples, witness=witness)


def optimisation_judge(rec: dict[str, Any], c: Contrast, result: LayerResult) -> LayerResult:
    """Add the prefix optimisation check to ``result``: every learning rate and restart must stay at most
    ``max_worse`` on the target, else the contrast was a training failure of one run (VIOLATED)."""
    best = max(rec["attempts"], key=lambda a: a["accuracy"])
    lowest = rec["best"]
    refs = "; ".join(f"{k} {v:.3f}" for k, v in rec["reference_losses"].items())
    line = (f"; prefix optimisation: {len(rec['lrs'])} learning rates ({', '.join(f'{x:g}' for x in rec['lrs'])}) "
            f"x {rec['restarts']} restarts, {rec['steps']} steps: best exact match {best['accuracy']:.1%} (lr "
            f"{best['lr']:g}), lowest loss {lowest['best_loss']:.3f} (lr {lowest['lr']:g}) against {refs}")
    result.detail += line
    if result.witness is not None:
        result.witness["prefix_optimisation"] = rec
    if best["accuracy"] > c.max_worse and result.status is Status.CONSISTENT:
        result.status = Status.VIOLATED
        result.detail = f"a tuned prefix reaches {best['accuracy']:.1%} > {c.max_worse:.0%}: " + result.detail
    return result


def contrast_check(experiment: str, contrast: Contrast) -> Check:
    """Train the quick configuration of ``experiment`` from ``ctx.child_seed("training")`` and `judge` it; with
    ``contrast.optimise_lrs``, also the prefix optimisation check on the same pretrained model (the run's, not
    pretrained a second time)."""

    def check(ctx: Context) -> LayerResult:
        from numeric.empirical import EXPERIMENTS, prefix_optimisation, run

        e, seed = EXPERIMENTS[experiment]["quick"], ctx.child_seed("training")
        trained = run(e, seed)
        result = judge(trained, contrast)
        if not contrast.optimise_lrs:
            return result
        rec = prefix_optimisation(e, seed, contrast.task, contrast.optimise_lrs, contrast.restarts,
                                  e.phase("prefix").steps, eval_samples=e.eval_samples, start=trained.pretrained)
        return optimisation_judge(rec, contrast, result)

    return check
