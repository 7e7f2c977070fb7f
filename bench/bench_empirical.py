"""Empirical reproductions: wall and CPU time of the quick E1 run (the default claim), its claim's six prefix attempts
trained one after another vs side by side in one batch, and the per-step cost of each
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
            train(logits_of(model, adapter), _groups(adapter), e.spec, e.target,
                  Phase(steps, phase.lr, phase.batch, phase.weight_decay), g)
            out[method] = (time.perf_counter() - start) / steps
    total = e.pretrain.steps * out["pretrained"] + sum(p.steps * out[m] for m, p in e.methods)
    return {"step_s": out, "projected_training_s": total}


def _prefix_attempts(lrs: tuple[float, ...] = (3e-3, 3e-2, 3e-1), restarts: int = 2, steps: int = 80) -> dict:
    """The E1 claim's prefix optimisation (6 prefixes of 80 steps on the quick run's pretrained model): CPU seconds
    of training them one after another (`train` per prefix) and side by side in one batch (`_prefix_attempts`), and
    the largest difference of a step's loss between the two (float rounding only)."""
    import torch

    from numeric.empirical import EXPERIMENTS, _groups, _prefix_attempts, logits_of, new_prefix, run
    from numeric.threads import deterministic
    from numeric.training import Phase, train

    e = EXPERIMENTS["e1"]["quick"]
    start = run(e, 0).pretrained
    assert start is not None
    phases = [Phase(steps, lr, weight_decay=0.01) for lr in lrs for _ in range(restarts)]
    curves: dict[str, list[list[float]]] = {}
    seconds = {}
    with deterministic(1):
        for how in ("one after another", "side by side"):
            g = torch.Generator()
            g.set_state(start.data_state)
            prefixes = [new_prefix(e, 1 + k) for k in range(len(phases))]
            cpu = time.process_time()
            if how == "side by side":
                curves[how] = _prefix_attempts(start.model, e, e.target, phases, prefixes, g)
            else:
                curves[how] = [[] for _ in prefixes]
                for p, phase, curve in zip(prefixes, phases, curves[how]):
                    train(logits_of(start.model, p), _groups(p), e.spec, e.target, phase, g,
                          lambda _t, loss, curve=curve: curve.append(loss))
            seconds[how] = time.process_time() - cpu
    diff = max(abs(a - b) for x, y in zip(*curves.values()) for a, b in zip(x, y))
    return {"cpu_s": seconds, "ratio": seconds["one after another"] / seconds["side by side"],
            "max_loss_difference": diff}


def run(console: Console) -> dict:
    results = {"quick_e1": _timed_run("e1", "quick"), "e1_prefix_attempts": _prefix_attempts(),
               "full_e1_steps": _step_seconds("e1"), "full_e4_steps": _step_seconds("e4")}
    t = Table(title="empirical reproductions (1 thread; wall time depends on the machine's load)")
    for col in ("what", "seconds", "detail"):
        t.add_column(col)
    q = results["quick_e1"]
    t.add_row("quick E1 run (default claim)", f"{q['wall_s']:.1f}", f"wall; {q['cpu_s']:.1f} s CPU")
    a = results["e1_prefix_attempts"]
    t.add_row("E1 claim's 6 prefix attempts, side by side", f"{a['cpu_s']['side by side']:.2f}",
              f"CPU; one after another {a['cpu_s']['one after another']:.2f} s ({a['ratio']:.1f}x); largest loss "
              f"difference {a['max_loss_difference']:.1e}")
    for key in ("full_e1_steps", "full_e4_steps"):
        r = results[key]
        t.add_row(f"full {key[5:7].upper()}, projected training", f"{r['projected_training_s']:.0f}",
                  ", ".join(f"{m} {s * 1000:.0f} ms/step" for m, s in r["step_s"].items()))
    console.print(t)
    return results
