"""prefixcheck's claim layer: the public API for writing and running claims.

    from proofs import Claim, Context, LayerResult, Status
"""
from proofs.claim import LAYERS, Check, Claim, Context, Expected, LayerResult, Status, verdict

__all__ = ["LAYERS", "Check", "Claim", "Context", "Expected", "LayerResult", "Status", "verdict"]
