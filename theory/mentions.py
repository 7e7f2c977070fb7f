"""Which content positions a statement names: recorded while it is evaluated, so a check knows how large a
head must be for the statement's named positions to be only part of it (design.md rule 1, honest scope).

The content-indexed quantities of the symbolic and z3 views (``A``, ``A_pt``, the weights ``w`` and values
``v``) record every index or slice a statement applies to them. A statement that names positions 0..m is decided
for every length only on heads longer than m + 1 (and a statement that indexes from the end, ``A[-1]``, only at
the lengths it was evaluated at).
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Mentions:
    """The largest content position named (-1: none) and whether any index counted from the end."""

    largest: int = -1
    from_end: bool = False

    def note(self, key: object) -> None:
        for k in key if isinstance(key, tuple) else (key,):
            if isinstance(k, bool):
                continue
            if isinstance(k, int):
                self._index(k)
            elif isinstance(k, slice):
                if k.start is not None:
                    self._index(k.start)
                if k.stop is not None:
                    self._index(k.stop - 1 if k.stop > 0 else k.stop)

    def _index(self, k: int) -> None:
        if k < 0:
            self.from_end = True
        else:
            self.largest = max(self.largest, k)

    @property
    def generic_beyond(self) -> int:
        """The smallest number of content positions at which every named position is followed by unnamed ones."""
        return self.largest + 3


_current: contextvars.ContextVar[Mentions | None] = contextvars.ContextVar("mentions", default=None)


@contextmanager
def recording() -> Iterator[Mentions]:
    """Record the content positions named inside the block."""
    found = Mentions()
    token = _current.set(found)
    try:
        yield found
    finally:
        _current.reset(token)


def note(key: object) -> None:
    """Called by content-indexed containers on every index access."""
    found = _current.get()
    if found is not None:
        found.note(key)


class ContentList(list):
    """A list indexed by content position (weights, values) that records the positions a statement names."""

    def __getitem__(self, key: Any) -> Any:
        note(key)
        return super().__getitem__(key)
