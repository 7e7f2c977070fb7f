"""Extra CLI commands. Each module defines ``register(subparsers, parser)`` adding its sub-command(s).

Keep module-level imports light (no torch / sympy / z3): every command module is imported on each CLI start.
"""
