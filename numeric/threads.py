"""How torch executes: how many threads (one helper for the whole tool), and deterministic kernels for training.

The models here are tiny (a few heads of width 2..64): on a shared machine the hand-offs between intra-op threads
dominate every small product (measured: 0.11 s vs 5.7 s for one 20-step generation under load), so checks run
torch on one thread, and parallel runs (`prefixcheck check -j N`) pin each worker process to one thread.

torch is imported lazily, so importing this module costs nothing.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

#: The variables the math libraries under torch (OpenMP, MKL, OpenBLAS) read once, when torch is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin_process(threads: int = 1) -> None:
    """Pin this process's torch to ``threads`` threads for good: the environment for a torch not yet imported (and
    for child processes), and ``torch.set_num_threads`` for one already imported. For worker processes."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@contextmanager
def torch_threads(threads: int = 1) -> Iterator[None]:
    """Run the body with torch on ``threads`` intra-op threads; the previous setting is restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def one_thread() -> AbstractContextManager[None]:
    """``torch_threads(1)``: the setting for the tool's tiny models."""
    return torch_threads(1)


@contextmanager
def deterministic(threads: int = 1) -> Iterator[None]:
    """Deterministic eager kernels (``torch.use_deterministic_algorithms``) and ``threads`` threads for the body;
    both restored afterwards."""
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    _deterministic_kernels(True)
    try:
        with torch_threads(threads):
            yield
    finally:
        _deterministic_kernels(previous)


def _deterministic_kernels(mode: bool) -> None:
    """The eager half of ``torch.use_deterministic_algorithms(mode)``. The public setter also imports
    ``torch._inductor.config`` to set the flag for ``torch.compile`` (about 1.2 s of CPU in every process that
    trains; this tool never compiles), so it is used only where inductor is already loaded."""
    import torch

    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode)
    else:
        torch._C._set_deterministic_algorithms(mode)
