"""Small engine-neutral helpers for the mutant claim files (imported by them: a claims file's folder is on sys.path).

A statement is evaluated on four kinds of view (docs/writing-claims.md): the general-n sympy head (``A`` a scalar
for a generic position j), the unrolled sympy head (``A`` a column over the visible content keys), the z3 head
(``A`` a vector over the content keys) and the torch head (``A`` of shape (B, queries, keys), vectors (B, n, d),
``W_O`` (B, d, d)). Naming a content position, a vector component or a matrix entry is spelled differently on each;
these helpers spell it once. Nothing here decides anything: they only index (and `identity_family` names a file's
claims).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proofs import Claim, identity_claim

REF = "mutation suite (issue 12)"


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" or hasattr(x, "dim") and hasattr(x, "shape")


def _is_sympy_matrix(x: Any) -> bool:
    return hasattr(x, "rows") and hasattr(x, "cols") and hasattr(x, "det")


def key(A: Any, j: int) -> Any:
    """The attention on content position j (0-based; -1: the last visible key, the query's own position)."""
    if _is_torch(A):
        if j == -1:  # the query's own position: the diagonal of (queries, keys)
            return A.diagonal(dim1=-2, dim2=-1)[..., None]
        return A[..., j:j + 1]
    return A[j]


def keys(A: Any, stop: int) -> Any:
    """The attention summed over content positions 0..stop-1 (those that exist)."""
    if _is_torch(A):
        return A[..., :stop].sum(-1, keepdim=True)
    items = list(A[:stop])
    total = items[0]
    for x in items[1:]:
        total = total + x
    return total


def comp(v: Any, c: int) -> Any:
    """Component c of a value vector."""
    if _is_torch(v):
        return v[..., c:c + 1]
    return v[c]


def dot(a: Any, b: Any) -> Any:
    """The inner product of two value vectors (per query position on torch)."""
    if _is_torch(a):
        return (a * b).sum(-1, keepdim=True)
    if _is_sympy_matrix(a):
        return (a.T * b)[0, 0]
    items = [x * y for x, y in zip(a.items, b.items)]
    total = items[0]
    for x in items[1:]:
        total = total + x
    return total


def entry(M: Any, r: int, c: int) -> Any:
    """Entry (r, c) of an output matrix W_O (a scalar per instance on torch)."""
    if _is_torch(M):
        return M[:, r, c][:, None, None]
    if _is_sympy_matrix(M):
        return M[r, c]
    return M[r][c]


def size(M: Any) -> int:
    """The number of rows of a square matrix W_O."""
    if _is_torch(M):
        return int(M.shape[-1])
    if _is_sympy_matrix(M):
        return M.rows
    return len(M)


def trace(M: Any) -> Any:
    if _is_torch(M):
        return M.diagonal(dim1=-2, dim2=-1).sum(-1)[:, None, None]
    if _is_sympy_matrix(M):
        return M.trace()
    total = M[0][0]
    for r in range(1, len(M)):
        total = total + M[r][r]
    return total


def det(M: Any) -> Any:
    """The determinant, for any size (Laplace expansion on z3 rows)."""
    if _is_torch(M):
        import torch

        return torch.linalg.det(M)[:, None, None]
    if _is_sympy_matrix(M):
        return M.det()
    n = len(M)
    if n == 1:
        return M[0][0]
    total = None
    for c in range(n):
        minor = [row[:c] + row[c + 1:] for row in M[1:]]
        term = M[0][c] * det(minor)
        term = term if c % 2 == 0 else -term
        total = term if total is None else total + term
    return total


def identity_family(prefix: str, section: str) -> Callable[..., Claim]:
    """The claim declarer of one mutant file: ``claim(name, title, tex, statement, **options)`` is
    ``identity_claim("<prefix>.<name>", title, REF, tex, statement, section=section, **options)``."""
    def claim(name: str, title: str, tex: str, statement: Callable[[Any], Any], **options: Any) -> Claim:
        return identity_claim(f"{prefix}.{name}", title, REF, tex, statement, section=section, **options)
    return claim
