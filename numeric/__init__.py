"""prefixcheck: float64 torch attention, models, cross-checks and realisation of witnesses. Never imports sympy/z3."""
