"""prefixcheck: the exact mathematics (sympy derivations, symbolic heads, z3 encodings). Never imports torch."""
