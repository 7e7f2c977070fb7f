"""transformers + peft bridge benchmarks, measured in one run:

1. import time of transformers + peft in a fresh process (the fixed cost of the impl claims);
2. wall time of ``prefixcheck audit`` per family and method, in process (target: seconds per family);
3. the measured deviations behind docs/implementations.md: per family, the worst layer-0 / deeper-layer / shift
   / prompt / text numbers at seed 0;
4. what the impl claims' per-instance costs were cut by: `load` with the spec's recipe (config, dtype) kept vs
   derived afresh each time (as before), and `capture` with the plain torch.nn leaves unhooked vs every module
   hooked (as before); CPU seconds of the same work, both ways, in this run.
"""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table


def import_seconds() -> float:
    code = "import time; t=time.perf_counter(); import numeric.hf as h; h.require_hf(); print(time.perf_counter()-t)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def _cpu(work: Callable[[], object], reps: int) -> float:
    start = time.process_time()
    for _ in range(reps):
        work()
    return time.process_time() - start


def speedups(reps: int = 5) -> dict[str, dict[str, float]]:
    """CPU seconds of loading / capturing the impl claims' representative models, the old way and the current
    way (item 4)."""
    import torch

    from numeric import hf_build, hf_capture
    from numeric.hf import quiet, random_tokens
    from numeric.hf_measures import representative
    from proofs.catalogue.impl import ALL

    specs = [representative(name) for name in ALL]

    def load_all(fresh: bool) -> None:
        for k, spec in enumerate(specs):
            if fresh:
                hf_build._RECIPES.clear()
            hf_build.load(spec, k)

    X = random_tokens(6, 64, 0)
    models = [hf_build.load(spec, 0) for spec in specs]
    inputs = [{"input_ids": X, **({"decoder_input_ids": X} if m.encoder_decoder else {})} for m in models]

    def capture_all() -> None:
        for m, kw in zip(models, inputs):
            hf_capture.capture(m.model, **kw)

    out = {}
    with quiet(), torch.no_grad():
        load_all(False)
        out["load"] = {"before": _cpu(lambda: load_all(True), reps), "after": _cpu(lambda: load_all(False), reps)}
        plain = hf_capture.PLAIN
        try:
            hf_capture.PLAIN = set()
            before = _cpu(capture_all, reps)
        finally:
            hf_capture.PLAIN = plain
        out["capture"] = {"before": before, "after": _cpu(capture_all, reps)}
    for row in out.values():
        row["ratio"] = row["before"] / row["after"]
    return out


def run(console: Console) -> dict:
    from numeric.hf_audit import Setup, audit
    from numeric.hf_build import PRESETS

    out: dict = {"import_seconds": import_seconds(), "audits": {}, "target_seconds_per_family": 5.0}
    audit(PRESETS["gpt2"], "prefix", Setup())  # warm-up: first-call costs are not per family
    t = Table(title="prefixcheck audit, seed 0")
    for col in ("family", "method", "seconds", "rows", "unexpected", "worst row predicted to hold",
                "worst deviating row"):
        t.add_column(col)
    for name, spec in PRESETS.items():
        for method, std in (("prefix", 1.0), ("prefix", 0.0), ("prompt", 1.0), ("text", 1.0)):
            start = time.perf_counter()
            a = audit(spec, method, Setup(prefix_std=std))
            seconds = time.perf_counter() - start
            holds = max((m.worst for m in a.rows if m.expect == "holds"), default=0.0)
            dev = max((m.worst for m in a.rows if m.expect == "deviates"), default=0.0)
            key = f"{name}/{method}{'/zero' if std == 0 else ''}"
            out["audits"][key] = {"seconds": seconds, "rows": len(a.rows), "unexpected": len(a.unexpected),
                                  "worst_holding": holds, "worst_deviating": dev, "outputs": a.outputs}
            t.add_row(name, key.split("/", 1)[1], f"{seconds:.2f}", str(len(a.rows)), str(len(a.unexpected)),
                      f"{holds:.2e}", f"{dev:.3g}")
    console.print(t)
    console.print(f"transformers + peft import: {out['import_seconds']:.2f}s")
    out["speedups"] = speedups()
    for what, row in out["speedups"].items():
        console.print(f"{what}: {row['before']:.2f}s -> {row['after']:.2f}s CPU ({row['ratio']:.2f}x)")
    return out
