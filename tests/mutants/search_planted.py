"""Planted search problems at extreme magnitudes (issue 12): a concrete head, inputs, and the outputs that a planted
prefix s* reaches (computed on a float64 torch head). Every target here IS reachable (by s* itself, within the
tolerance), so `proofs.z3_search.search` may answer FOUND or UNKNOWN, never IMPOSSIBLE. The harness runs it with
``starts=0`` (no optimiser starts), so the answer comes from the solver and the realisation of its model.

``PLANTED`` lists (name, build) pairs; ``build()`` returns a `proofs.z3_search.Problem`.
"""
from __future__ import annotations

import torch

from numeric.adapt import ConcreteHead
from proofs.z3_search import Problem
from theory.smt_prefix import Method, Task


def _planted(W_Q, W_K, W_V, inputs, s_star, tol, tau=1.0):
    def build():
        head = ConcreteHead.from_lists(W_Q, W_K, W_V, tau)
        s = torch.tensor(s_star, dtype=torch.float64)
        X = [torch.tensor(x, dtype=torch.float64) for x in inputs]
        with torch.no_grad():
            targets = [head.last(x, "prefix", "W_K", {"s": s})[0].tolist() for x in X]
        return Problem(W_Q, W_K, W_V, Method("prefix", len(s_star)), Task(inputs, targets, tol=tol), tau=tau)
    return build


I2 = [[1.0, 0.0], [0.0, 1.0]]
INPUTS = [[[1.0, 0.5], [0.5, 1.0]], [[-1.0, 0.5], [0.25, -1.0]], [[0.5, 2.0], [-1.0, 1.0], [1.0, -0.5]]]

PLANTED = [
    # prefix entries in the thousands: prefix logits about +-1e3 (alpha ~ 1 on some inputs, ~ 0 on others)
    ("prefix_entries_1e3", _planted(I2, I2, I2, INPUTS, [[1500.0, -2500.0]], tol=1e-5)),
    # entries 1e4..1e5: logits about +-1e5
    ("prefix_entries_1e5", _planted(I2, I2, I2, INPUTS, [[-30000.0, 70000.0]], tol=1e-5)),
    # moderate prefix, huge query weights: logits about +-1e5 on the content keys as well
    ("content_logits_1e5", _planted([[400.0, 0.0], [0.0, 300.0]], I2, [[0.5, 0.25], [-0.5, 1.0]], INPUTS,
                                    [[250.0, -180.0]], tol=1e-5)),
    # entries 1e6 (logits ~1e6): the bounds on exp must neither vanish nor blow up
    ("prefix_entries_1e6", _planted(I2, I2, I2, INPUTS[:2], [[1.0e6, -3.0e6]], tol=1e-4)),
]
