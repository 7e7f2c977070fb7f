"""The Section 3 constructions between the two layers: the exact weights of `theory.constructions` handed to the
float64 reference model of `numeric.constructions` as plain numbers (numeric never imports theory)."""
from __future__ import annotations

from numeric.constructions.transformer import HeadMatrices, LayerMatrices, Matrix, Weights
from theory.constructions.network import Network, Sparse


def float_matrix(M: Sparse) -> Matrix:
    """The dense matrix, each entry the correctly rounded float of its exact rational."""
    return [[float(v) for v in row] for row in M.dense()]


def float_weights(net: Network) -> Weights:
    """The construction's weights as floats (`numeric.constructions.transformer.Weights`)."""
    return Weights(
        name=net.name, V=net.V, d=net.d, n_pos=net.n_pos, T=float(net.T), E=float_matrix(net.E),
        P=float_matrix(net.P), W_U=float_matrix(net.W_U),
        layers=tuple(LayerMatrices(tuple(HeadMatrices(float_matrix(h.W_Q), float_matrix(h.W_K), float_matrix(h.W_V))
                                        for h in layer.heads),
                                  tuple((float_matrix(a.A), [float(b) for b in a.b]) for a in layer.mlp))
                     for layer in net.layers))
