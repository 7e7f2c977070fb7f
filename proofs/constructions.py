"""The Section 3 constructions between the two layers, and their one sweep plan.

`float_weights` hands the exact weights of `theory.constructions` to the float64 reference model of
`numeric.constructions` as plain numbers (numeric never imports theory). `DEFAULT` and `EXHAUSTIVE` declare which
sizes are swept, exactly and in floating point: the catalogue claims (`proofs.catalogue.capacity`) and
``prefixcheck construct sweep`` both run `DEFAULT`. torch is imported only when a float sweep runs.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from theory.constructions.network import Network, Sparse

if TYPE_CHECKING:
    import torch

    from numeric.constructions.sweeps import SweepResult
    from numeric.constructions.transformer import Matrix, Weights
    from theory.constructions.sweeps import ExactSweep


def float_matrix(M: Sparse) -> Matrix:
    """The dense matrix, each entry the correctly rounded float of its exact rational."""
    out = [[0.0] * M.cols for _ in range(M.rows)]
    for i, j, v in M.entries:
        out[i][j] = float(v)
    return out


def float_weights(net: Network) -> Weights:
    """The construction's weights as floats (`numeric.constructions.transformer.Weights`)."""
    from numeric.constructions.transformer import HeadMatrices, LayerMatrices, Weights

    return Weights(
        name=net.name, V=net.V, d=net.d, n_pos=net.n_pos, T=float(net.T), E=float_matrix(net.E),
        P=float_matrix(net.P), W_U=float_matrix(net.W_U),
        layers=tuple(LayerMatrices(tuple(HeadMatrices(float_matrix(h.W_Q), float_matrix(h.W_K), float_matrix(h.W_V))
                                        for h in layer.heads),
                                  tuple((float_matrix(a.A), [float(b) for b in a.b]) for a in layer.mlp))
                     for layer in net.layers))


# ---- the sweep plan ----------------------------------------------------------------------------------------------

Construction = Literal["single_virtual_token", "conditional_map", "conditional_sequence", "two_token_map"]
Offset = tuple[int, int, Fraction] | None  # (virtual token index, coordinate, amount): a false twin's shift
Progress = Callable[[int], None] | None
_FLOAT_NAMES = {"single_virtual_token": "single virtual token", "conditional_map": "[V]->[V] map",
                "conditional_sequence": "[V]->[V]^N0 map", "two_token_map": "[V]^2->[V] map"}


@dataclass(frozen=True)
class Sweep:
    """One sweep of a construction: exact (certified, `theory.constructions.sweeps`) or float (the reference model,
    `numeric.constructions.sweeps`), at vocabulary ``V`` and length ``N`` (the target length of the single virtual
    token, ``N0`` of the sequence map, 0 otherwise); every target / map (``count`` None) or ``count`` seeded random
    ones; ``boxes``: every target / map at once through boxes of virtual tokens (exact only); ``inputs``: only the
    first ``inputs`` inputs of each map (sequence) or that many random input pairs (two-token; exact only)."""

    construction: Construction
    exact: bool
    V: int
    N: int = 0
    count: int | None = None
    boxes: bool = False
    inputs: int | None = None

    @property
    def label(self) -> str:
        V, N = self.V, self.N
        size = f"V={V}" + (f" N={N}" if self.construction == "single_virtual_token" else
                           f" N0={N}" if self.construction == "conditional_sequence" else "")
        if self.boxes:
            which = f"all {V}^{self.choices_exponent} (boxes)"
        else:
            which = "all" if self.count is None else f"{self.count} random"
        inputs = "" if self.inputs is None else f", {self.inputs} input(s) each"
        return f"{'exact: ' if self.exact else ''}{_FLOAT_NAMES[self.construction]} {size} {which}{inputs}"

    @property
    def choices_exponent(self) -> int:
        """``V^e`` targets / maps exist: ``e = N``, ``V``, ``V N0`` or ``V^2``."""
        return {"single_virtual_token": self.N, "conditional_map": self.V, "conditional_sequence": self.V * self.N,
                "two_token_map": self.V * self.V}[self.construction]

    @property
    def cases(self) -> int:
        """Greedy decisions (boxes) or generations (targets, map-input pairs) the sweep counts."""
        V, N = self.V, self.N
        if self.boxes:
            return {"single_virtual_token": V * N, "conditional_map": V * V, "conditional_sequence": N * V * V,
                    "two_token_map": V ** (V + 2)}[self.construction]
        items = V ** self.choices_exponent if self.count is None else self.count
        per_item = {"single_virtual_token": 1, "conditional_map": V, "conditional_sequence": V,
                    "two_token_map": V * V}[self.construction]
        return items * (per_item if self.inputs is None else self.inputs)

    def run(self, seed: int, dtype: torch.dtype | None = None, progress: Progress = None,
            offset: Offset = None) -> ExactSweep | SweepResult:
        """Run the sweep (random choices from ``seed``; ``dtype`` of the float model, default float64)."""
        return self.run_exact(seed, progress, offset) if self.exact else self.run_float(seed, dtype, progress, offset)

    def run_exact(self, seed: int, progress: Progress = None, offset: Offset = None) -> ExactSweep:
        from theory.constructions import sweeps as xs

        V, N, count, kind = self.V, self.N, self.count, self.construction
        if kind == "single_virtual_token":
            if self.boxes:
                return xs.exact_unconditional_all(V, N, offset=offset, progress=progress)
            targets = itertools.product(range(V), repeat=N) if count is None else xs.random_rows(V, N, count, seed)
            return xs.exact_unconditional(V, N, list(targets), offset=offset, progress=progress)
        if kind == "conditional_map":
            if self.boxes:
                return xs.exact_map_all(V, offset=offset, progress=progress)
            maps = itertools.product(range(V), repeat=V) if count is None else xs.random_rows(V, V, count, seed)
            return xs.exact_map(V, list(maps), offset=offset, progress=progress)
        if kind == "conditional_sequence":
            if self.boxes:
                return xs.exact_sequence_all(V, N, offset=offset, progress=progress)
            tables = _all_tables(V, N) if count is None else xs.random_tables(V, N, count, seed)
            inputs = None if self.inputs is None else list(range(self.inputs))
            return xs.exact_sequence(V, N, tables, inputs=inputs, offset=offset, progress=progress)
        if self.boxes:
            return xs.exact_two_token_all(V, offset=offset, progress=progress)
        tables = _all_tables(V, V) if count is None else xs.random_tables(V, V, count, seed)
        pairs = None if self.inputs is None else [(a, b) for a, b in xs.random_rows(V, 2, self.inputs, seed + 1)]
        return xs.exact_two_token(V, tables, pairs=pairs, offset=offset, progress=progress)

    def run_float(self, seed: int, dtype: torch.dtype | None = None, progress: Progress = None,
                  offset: Offset = None) -> SweepResult:
        import torch

        from numeric.constructions import sweeps as fs
        from theory.constructions import conditional, two_token, unconditional

        if self.boxes or self.inputs is not None:
            raise ValueError(f"{self.label}: boxes and input subsets are exact-only")
        V, N, kind = self.V, self.N, self.construction
        n = V ** 2 if kind == "two_token_map" else V * N if kind == "conditional_sequence" else N or V
        items = fs.all_tuples(V, n) if self.count is None else fs.random_tuples(V, n, self.count, seed)
        off = None if offset is None else (offset[0], offset[1], float(offset[2]))
        sweep: Callable[..., SweepResult]
        if kind == "single_virtual_token":
            sweep, net = fs.sweep_unconditional, unconditional.build(V, N)
        elif kind == "conditional_map":
            sweep, net = fs.sweep_map, conditional.build_map(V)
        elif kind == "conditional_sequence":
            sweep, net, items = fs.sweep_sequence, conditional.build_sequence(V, N), items.reshape(-1, V, N)
        else:
            sweep, net, items = fs.sweep_two_token, two_token.build(V), items.reshape(-1, V, V)
        return sweep(float_weights(net), items, dtype=dtype or torch.float64, progress=progress, offset=off)


def _all_tables(V: int, cols: int) -> list[list[list[int]]]:
    """Every ``V x cols`` table of tokens in ``[V]`` (row-major, lexicographic)."""
    return [[list(flat[i * cols:(i + 1) * cols]) for i in range(V)]
            for flat in itertools.product(range(V), repeat=V * cols)]


def _sweeps(construction: Construction, *specs: tuple[bool, int, int, int | None, bool, int | None]
            ) -> tuple[Sweep, ...]:
    return tuple(Sweep(construction, exact, V, N, count, boxes, inputs) for exact, V, N, count, boxes, inputs in specs)


EXACT, FLOAT, ALL = True, False, None
#: The one sweep plan. ``DEFAULT`` is what the catalogue claims check (each claim runs its construction's sweeps)
#: and what ``prefixcheck construct sweep`` runs; ``EXHAUSTIVE`` is ``construct sweep --exhaustive`` only (minutes).
#: Rows: (exact, V, N or N0, count or ALL, boxes, inputs).
DEFAULT: dict[Construction, tuple[Sweep, ...]] = {
    "single_virtual_token": _sweeps("single_virtual_token", (EXACT, 4, 4, ALL, False, None),
                                    (EXACT, 94, 20, ALL, True, None), (FLOAT, 4, 4, ALL, False, None),
                                    (FLOAT, 94, 20, 200, False, None)),
    "conditional_map": _sweeps("conditional_map", (EXACT, 4, 0, ALL, False, None), (EXACT, 20, 0, ALL, True, None),
                               (FLOAT, 4, 0, ALL, False, None), (FLOAT, 5, 0, ALL, False, None),
                               (FLOAT, 94, 0, 100, False, None)),
    "conditional_sequence": _sweeps("conditional_sequence", (EXACT, 3, 2, ALL, False, None),
                                    (EXACT, 94, 10, 1, False, 1), (EXACT, 10, 4, ALL, True, None),
                                    (FLOAT, 3, 2, ALL, False, None), (FLOAT, 94, 10, 3, False, None)),
    "two_token_map": _sweeps("two_token_map", (EXACT, 2, 0, ALL, False, None), (EXACT, 3, 0, 20, False, None),
                             (EXACT, 3, 0, ALL, True, None), (EXACT, 10, 0, 1, False, 20),
                             (FLOAT, 2, 0, ALL, False, None), (FLOAT, 3, 0, 300, False, None),
                             (FLOAT, 10, 0, 10, False, None)),
}
EXHAUSTIVE: dict[Construction, tuple[Sweep, ...]] = {
    "single_virtual_token": _sweeps("single_virtual_token", (FLOAT, 4, 8, ALL, False, None),
                                    (FLOAT, 2, 16, ALL, False, None), (FLOAT, 94, 20, 20000, False, None),
                                    (EXACT, 4, 6, ALL, False, None), (EXACT, 94, 20, 500, False, None),
                                    (EXACT, 94, 40, ALL, True, None)),
    "conditional_map": _sweeps("conditional_map", (FLOAT, 6, 0, ALL, False, None), (FLOAT, 94, 0, 2000, False, None),
                               (EXACT, 5, 0, ALL, False, None), (EXACT, 94, 0, ALL, True, None)),
    "conditional_sequence": _sweeps("conditional_sequence", (FLOAT, 3, 3, ALL, False, None),
                                    (FLOAT, 4, 2, ALL, False, None), (FLOAT, 94, 10, 50, False, None),
                                    (EXACT, 40, 10, ALL, True, None)),
    "two_token_map": _sweeps("two_token_map", (FLOAT, 3, 0, ALL, False, None), (FLOAT, 10, 0, 500, False, None),
                             (FLOAT, 13, 0, 50, False, None), (EXACT, 4, 0, ALL, True, None),
                             (EXACT, 3, 0, 2000, False, None), (EXACT, 10, 0, 20, False, None),
                             (EXACT, 20, 0, 2, False, None)),
}
