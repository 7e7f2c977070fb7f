"""prefixcheck's claim layer: the public API for writing and running claims (docs/writing-claims.md).

    from proofs import Claim, Context, LayerResult, Status, identity_claim, Shape, chain

Everything a claim file needs is importable from here. The claim model and the check builders are light; the
names that live next to sympy, z3 or torch (`Shape`, `chain`, `solve`, `TorchEnv`, ...) are resolved on first
use (PEP 562), so importing `proofs` (and ``prefixcheck list``) stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from proofs.checks import (
    numeric_identity,
    numeric_on_view,
    numeric_order,
    recheck_on_torch,
    smt_identity,
    smt_order,
    symbolic_identity,
    symbolic_on_views,
    symbolic_order,
)
from proofs.claim import LAYERS, Check, Claim, Context, Expected, LayerResult, Status, verdict
from proofs.factories import IdentityOptions, identity_claim, order_claim
from proofs.view import EnvView, HeadView, Quantity, Statement

# name -> module that defines it; imported on first attribute access.
_LAZY = {
    # symbolic heads (sympy)
    "Shape": "theory.shape", "Env": "theory.head", "GeneralEnv": "theory.head", "GeneralHead": "theory.head",
    "UnrolledEnv": "theory.head", "UnrolledHead": "theory.head",
    # derivation chains (sympy)
    "chain": "theory.derivation", "Derivation": "theory.derivation", "Step": "theory.derivation",
    "TexSymbol": "theory.derivation", "sigma": "theory.derivation", "equal": "theory.derivation",
    "decide_zero": "theory.kernel", "certify_zero": "theory.kernel", "certify_unsat": "theory.kernel",
    "run_z3": "theory.kernel", "Certificate": "theory.kernel", "exact": "theory.kernel",
    # z3 helpers
    "Z3Env": "theory.smt", "Z3Head": "theory.smt", "solve": "theory.smt", "differs": "theory.smt",
    "exp_lemmas": "theory.smt", "ABSTRACTION": "theory.smt",
    # numeric models (torch, float64)
    "TorchEnv": "numeric.attention", "TorchHead": "numeric.attention", "random_instances": "numeric.attention",
    "discrepancy": "numeric.attention", "causal_mask": "numeric.attention", "realize": "numeric.realize",
    # running claims: user claim files, pytest helpers
    "load_claim_file": "proofs.user_claims",
    "assert_claim": "proofs.testing", "assert_caught": "proofs.testing", "claim_tests": "proofs.testing",
}

__all__ = ["LAYERS", "Check", "Claim", "Context", "Expected", "LayerResult", "Status", "verdict",
           "EnvView", "HeadView", "Quantity", "Statement", "IdentityOptions", "identity_claim", "order_claim",
           "symbolic_identity", "numeric_identity", "smt_identity", "symbolic_order", "numeric_order", "smt_order",
           "recheck_on_torch", "symbolic_on_views", "numeric_on_view", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'proofs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
