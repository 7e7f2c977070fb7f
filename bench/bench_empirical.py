"""Empirical reproductions: wall and CPU time of the quick E1 run (the default claim) and the per-step cost of each
phase of the full configurations, with the projected training time of a full run (steps x measured step time;
evaluation not included). The opt-in quick E4 run (about a minute of CPU) is timed by `prefixcheck check empirical.`."""
from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table


def _timed_run(name: str, mode: str) -> dict:
    from numeric.empirical import EXPERIMENTS, run

    wall, cpu = time.perf_counter(), time.process_time()
    result = run(EXPERIMENTS[name][mode], 0)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "accuracy": {f"{m}/{t}": v for (m, t), v in result.acc.items()}}


def _step_seconds(name: str, steps: int = 30) -> dict:
    """Seconds per training step of each phase of the full configuration (pretraining and every method)."""
    import torch

    from numeric.empirical import EXPERIMENTS, _groups, build_model, decay_split, logits_of, make_adapter
    from numeric.threads import deterministic
    from numeric.training import Phase, train

    e = EXPERIMENTS[name]["full"]
    out = {}
    with deterministic(1):
        g = torch.Generator().manual_seed(0)
        model = build_model(e, 0)
        start = time.perf_counter()
        train(logits_of(model), decay_split(list(model.named_parameters())), e.spec, e.pretrain_task,
              Phase(steps, e.pretrain.lr, e.pretrain.batch), g)
        out["pretrained"] = (time.perf_counter() - start) / steps
        model.requires_grad_(False)
        for method, phase in e.methods:
            adapter = make_adapter(method, model, e, 0)
            start = time.perf_counter()
            train(logits_of(model, adapter), _groups(method, adapter), e.spec, e.target,
                  Phase(steps, phase.lr, phase.batch, phase.weight_decay), g)
            out[method] = (time.perf_counter() - start) / steps
    total = e.pretrain.steps * out["pretrained"] + sum(p.steps * out[m] for m, p in e.methods)
    return {"step_s": out, "projected_training_s": total}


def run(console: Console) -> dict:
    results = {"quick_e1": _timed_run("e1", "quick"),
               "full_e1_steps": _step_seconds("e1"), "full_e4_steps": _step_seconds("e4")}
    t = Table(title="empirical reproductions (1 thread; wall time depends on the machine's load)")
    for col in ("what", "seconds", "detail"):
        t.add_column(col)
    q = results["quick_e1"]
    t.add_row("quick E1 run (default claim)", f"{q['wall_s']:.1f}", f"wall; {q['cpu_s']:.1f} s CPU")
    for key in ("full_e1_steps", "full_e4_steps"):
        r = results[key]
        t.add_row(f"full {key[5:7].upper()}, projected training", f"{r['projected_training_s']:.0f}",
                  ", ".join(f"{m} {s * 1000:.0f} ms/step" for m, s in r["step_s"].items()))
    console.print(t)
    return results
