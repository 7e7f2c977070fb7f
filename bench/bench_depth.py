"""Reference-transformer benchmarks, measured in one run:

1. wall time of ``prefixcheck matrix`` (a fresh process, imports included; target < 60 s);
2. training-step time of the E1-sized model (1 layer, 1 head, width 96, float32, batch 64, 20 tokens), with
   torch on 1 thread and on its default thread count (small matrices suffer from thread hand-offs);
3. the depth claims' default check time (all layers).
"""
from __future__ import annotations

import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table


def matrix_wall() -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "proofs", "matrix"], capture_output=True, text=True)
    return {"seconds": time.perf_counter() - start, "exit": proc.returncode, "target_seconds": 60.0}


def training_step(threads: int, steps: int = 20) -> dict:
    import torch
    import torch.nn.functional as F

    from numeric.model import Config, Transformer

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = Transformer(Config(vocab=10, d=96, n_layers=1, n_heads=1, max_len=32, dtype=torch.float32))
        opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
        idx = torch.randint(0, 10, (64, 20), generator=torch.Generator().manual_seed(0))

        def step() -> None:
            logits = model(idx).logits
            loss = F.cross_entropy(logits.reshape(-1, 10), idx.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        ms = (time.perf_counter() - start) / steps * 1000
    finally:
        torch.set_num_threads(previous)
    return {"threads": threads, "ms_per_step": ms, "steps_per_second": 1000 / ms}


def depth_claims() -> dict:
    from proofs.catalogue.depth import CLAIMS
    from proofs.claim import Context
    from proofs.runner import run

    start = time.perf_counter()
    results = run(CLAIMS, Context())
    return {"seconds": time.perf_counter() - start, "ok": sum(r.verdict == "ok" for r in results),
            "claims": len(results)}


def run(console: Console) -> dict:
    import torch

    out = {"matrix": matrix_wall(),
           "train_step_1_thread": training_step(1),
           "train_step_default_threads": training_step(torch.get_num_threads()),
           "depth_claims": depth_claims()}
    t = Table(title="reference transformer")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("prefixcheck matrix (760 cells, fresh process)", f"{out['matrix']['seconds']:.1f} s (target < 60)")
    for key in ("train_step_1_thread", "train_step_default_threads"):
        r = out[key]
        t.add_row(f"E1-size training step, {r['threads']} thread(s)", f"{r['ms_per_step']:.1f} ms")
    t.add_row("depth claims, default check", f"{out['depth_claims']['seconds']:.1f} s")
    console.print(t)
    return out
