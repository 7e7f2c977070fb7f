"""The claim catalogue: every module in `proofs.catalogue` exposes ``CLAIMS: list[Claim]``.

Catalogue modules must import torch / sympy / z3 lazily (inside checks) so that listing stays instant.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil

from proofs.claim import Claim


class UnknownClaim(KeyError):
    """An id that is not in the catalogue; the message names the closest ids."""

    def __init__(self, claim_id: str, known: list[str]) -> None:
        close = difflib.get_close_matches(claim_id, known, n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else "; `prefixcheck list` shows all ids"
        super().__init__(f"unknown claim id {claim_id!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


def catalogue() -> list[Claim]:
    """All catalogue claims, in module order (modules sorted by name), ids unique."""
    import proofs.catalogue as pkg

    claims: list[Claim] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        claims.extend(getattr(module, "CLAIMS", []))
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise ValueError(f"duplicate claim id in catalogue: {claim.id}")
        seen.add(claim.id)
    return claims


def select(claims: list[Claim], ids: list[str]) -> list[Claim]:
    """The claims named by ``ids`` (exact ids, or a prefix ending in '.' / '*' such as ``prefix.multi.*``); no ids
    means every claim that is not ``opt_in``."""
    if not ids:
        return [c for c in claims if not c.opt_in]
    by_id = {c.id: c for c in claims}
    chosen: list[Claim] = []
    for wanted in ids:
        stem = wanted.rstrip("*")
        if wanted in by_id:
            matches = [by_id[wanted]]
        elif wanted.endswith(("*", ".")):
            matches = [c for c in claims if c.id.startswith(stem)]
        else:
            matches = []
        if not matches:
            raise UnknownClaim(wanted, list(by_id))
        chosen.extend(m for m in matches if m not in chosen)
    return chosen
