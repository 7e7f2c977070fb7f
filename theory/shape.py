"""The shape of a statement: how many inputs, heads and prefix positions it talks about.

Kept free of sympy so that claim catalogues can import it at no cost (``prefixcheck list`` stays instant).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """How many inputs (queries over different content, same head and prefix), heads (same input and prefix
    hidden states, own weights, combined by per-head ``W_O``) and prefix positions a statement talks about."""

    inputs: int = 1
    heads: int = 1
    n_S: int = 1
