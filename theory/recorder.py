"""Collect what is produced inside a ``with`` block: one `Recorder` per kind of item (the z3 queries a check made,
`theory.smt.recording`; the derivation chains it checked, `theory.derivation.recording`). Blocks nest: an inner
block collects its own items, which the outer block does not see.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Recorder(Generic[T]):
    """``with recorder.recording() as found:`` collects every item `add`-ed inside the block into ``found``."""

    def __init__(self) -> None:
        self._found: list[T] | None = None

    @property
    def active(self) -> bool:
        """Whether a block is open (so a caller can skip building an item nobody collects)."""
        return self._found is not None

    @contextmanager
    def recording(self) -> Iterator[list[T]]:
        found: list[T] = []
        outer, self._found = self._found, found
        try:
            yield found
        finally:
            self._found = outer

    def add(self, item: T) -> None:
        """Keep ``item`` in the innermost open block (nothing happens outside every block)."""
        if self._found is not None:
            self._found.append(item)
