"""The Section 3 virtual-token constructions as exact weights (paper-notes 3): `network` (the container and the
shared blocks), `unconditional` (Theorem 1), `conditional` (maps ``[V] -> [V]`` and ``[V] -> [V]^N0``),
`two_token` (maps ``[V]^2 -> [V]``), and `sweeps` (their exact sweeps on `theory.exact`). Pure Python: the
weights are `fractions.Fraction`; the float64 evaluation of the same weights is `numeric.constructions`."""
