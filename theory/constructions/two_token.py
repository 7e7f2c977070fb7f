"""Any map ``m: [V]^2 -> [V]`` from one virtual token, with two layers (paper-notes 2.1 (c), 3.4).

The virtual token stores the whole table as base-V fractions: ``r_i = sum_j m(i, j) V^{-(j+1)}`` (row i of the
table is the digit string of ``r_i``). Input ``(r, x_1, x_2)`` at positions 0, 1, 2; the answer is read at
position 2. Width ``d = 2V + 3``: blocks ``[0, V)``, ``[V, 2V)`` and the one-hot position ``[2V, 2V + 3)``.

The authors' notebook unpacks ``r_{x_1}`` into its digits with a Python function (``float_to_seq``) between the
layers. Here that step is an explicit ReLU network inside the layer-1 MLP, so the whole map is one transformer:

Layer 1. Head ``self`` (position one-hot queries and keys) copies the token's content into block 0 and its
position into the position block; head ``first`` (``q = 1``, ``k`` = position-0 indicator) copies ``r`` into
block 1. The MLP then

1. selects ``rho = sum_i ReLU(A_i + B_i - 1) = r_{x_1}`` and passes ``A`` (≈ onehot of the token) and the
   position through;
2. extracts the digits with ``V`` levels: ``t_1 = V rho`` and, at level ``l``, ``t_l = d_l + tail`` with
   ``tail in [0, 1 - g_l]``, ``g_l = V^{l - V}``. The digit is ``d_l = sum_{k=1}^{V-1} s_k(t_l)`` with the step
   ``s_k = 1 - ReLU(1 - ReLU(2 (t - k + 3g/4) / g))``: exactly 0 for ``t <= k - 3g/4`` and exactly 1 for
   ``t >= k - g/4`` (two ReLU layers per level; the nested form never subtracts two large numbers, so away from
   the thresholds it is exact in floating point too). Then ``t_{l+1} = V (t_l - d_l)``. An error ``eps`` in
   ``rho`` becomes ``V^l eps`` at level ``l`` while the margin is ``g_l / 4``, so every digit is exact iff
   ``eps < V^{-V} / 4``: the precision limit of this construction;
3. outputs ``[m(x_1, 0)/V, ..., m(x_1, V-1)/V | A | position]``.

Layer 2. Head ``back`` (query = position-2 indicator, key = position-1 indicator) copies the digit block of
position 1 into block 0; head ``self`` copies ``A`` (≈ onehot(x_2) at position 2) into block 1.
``ReLU(X + Y - 1)`` keeps ``m(x_1, x_2)/V`` and the quadratic read-out returns ``m(x_1, x_2)``.

Depth: the layer-1 MLP has ``2V + 2`` affine maps of width at most ``3V + 3`` (a fixed, explicit network; the
notebook's ``float_to_seq`` is not needed). A shallow network would need many more units: ``r -> digits`` is a
step function with ``V^V`` pieces.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from theory.constructions.network import (
    Affine,
    Head,
    Layer,
    Network,
    Sparse,
    decoder,
    identity_block,
    one_hot_positions,
    select_and_read,
)

DEFAULT_T = Fraction(1000)
N_POS = 3


def _digit_mlp(V: int) -> tuple[Affine, ...]:
    """Layer-1 MLP from ``h = [A | B | P]`` to ``[digits of r_x / V | A | P]`` (see the module docstring)."""
    d = 2 * V + N_POS
    P0 = 2 * V
    # hidden layout of every level: [step units (V-1) | tau | D (V) | A (V) | P (3)]
    S0, TAU, D0 = 0, V - 1, V
    A0, H0 = 2 * V, 3 * V
    width = 3 * V + 3
    carry_AP = {A0 + i: A0 + i for i in range(V)} | {H0 + p: H0 + p for p in range(N_POS)}

    select: dict[tuple[int, int], Fraction | int] = {(i, i): 1 for i in range(V)}
    select.update({(i, V + i): 1 for i in range(V)})
    select.update({(V + i, i): 1 for i in range(V)})
    select.update({(P0 + p, P0 + p): 1 for p in range(N_POS)})
    layers = [Affine(Sparse.build(d, d, select), tuple([Fraction(-1)] * V + [Fraction(0)] * (V + N_POS)))]

    # After sub-layer b the units hold w_k = ReLU(1 - v_k) = 1 - s_k, so d = (V - 1) - sum_k w_k.
    digit = ({S0 + k: Fraction(-1) for k in range(V - 1)}, Fraction(V - 1))  # (coefficients, constant) of d
    for level in range(1, V + 1):
        g = Fraction(V) ** (level - V)
        if level == 1:  # t_1 = V rho = V sum_i sigma_i
            t, t0 = {i: Fraction(V) for i in range(V)}, Fraction(0)
            carry = {A0 + i: V + i for i in range(V)} | {H0 + p: P0 + p for p in range(N_POS)}
            digits: dict[int, tuple[dict[int, Fraction], Fraction]] = {}
        else:  # t_l = V (tau - d_{l-1})
            t = {TAU: Fraction(V)} | {j: -V * c for j, c in digit[0].items()}
            t0 = -V * digit[1]
            carry = carry_AP
            digits = {D0 + j: ({D0 + j: Fraction(1)}, Fraction(0)) for j in range(level - 2)}
            digits[D0 + level - 2] = ({j: c / V for j, c in digit[0].items()}, digit[1] / V)
        # sub-layer a: v_k = ReLU(2 (t - k + 3g/4) / g), tau = ReLU(t), digits so far, carries
        values: dict[tuple[int, int], Fraction | int] = {}
        bias = [Fraction(0)] * width
        for k in range(1, V):
            for j, c in t.items():
                values[(S0 + k - 1, j)] = 2 * c / g
            bias[S0 + k - 1] = 2 * (t0 - k) / g + Fraction(3, 2)
        for j, c in t.items():
            values[(TAU, j)] = c
        bias[TAU] = t0
        for row, src in carry.items():
            values[(row, src)] = 1
        for row, (terms, const) in digits.items():
            for j, c in terms.items():
                values[(row, j)] = c
            bias[row] = const
        layers.append(Affine(Sparse.build(width, d if level == 1 else width, values), tuple(bias)))
        # sub-layer b: w_k = ReLU(1 - v_k) is exactly 0 or 1 away from the thresholds; everything else carried
        flip: dict[tuple[int, int], Fraction | int] = {(S0 + k, S0 + k): -1 for k in range(V - 1)}
        flip.update({(j, j): 1 for j in range(TAU, width)})
        layers.append(Affine(Sparse.build(width, width, flip),
                             tuple([Fraction(1)] * (V - 1) + [Fraction(0)] * (width - V + 1))))

    out: dict[tuple[int, int], Fraction | int] = {(j, D0 + j): 1 for j in range(V - 1)}
    out.update({(V - 1, j): c / V for j, c in digit[0].items()})
    out.update({(V + i, A0 + i): 1 for i in range(V)})
    out.update({(P0 + p, H0 + p): 1 for p in range(N_POS)})
    final_bias = [Fraction(0)] * d
    final_bias[V - 1] = digit[1] / V
    layers.append(Affine(Sparse.build(d, width, out), tuple(final_bias)))
    return tuple(layers)


def build(V: int, T: Fraction | int = DEFAULT_T) -> Network:
    """The fixed two-layer model realising every ``m: [V]^2 -> [V]`` through one virtual token (``V >= 2``)."""
    if V < 2:
        raise ValueError(f"V must be at least 2, got {V}")
    d = 2 * V + N_POS
    P0 = 2 * V
    pos_qk = identity_block(N_POS, d, [(0, P0, N_POS)])
    ones = Sparse.build(1, d, {(0, P0 + p): 1 for p in range(N_POS)})
    layer1 = Layer(
        (Head("self", W_Q=pos_qk, W_K=pos_qk, W_V=identity_block(d, d, [(0, 0, V), (P0, P0, N_POS)])),
         Head("first", W_Q=ones, W_K=Sparse.build(1, d, {(0, P0): 1}), W_V=identity_block(d, d, [(V, 0, V)]))),
        _digit_mlp(V))
    layer2 = Layer(
        (Head("back", W_Q=Sparse.build(1, d, {(0, P0 + 2): 1}), W_K=Sparse.build(1, d, {(0, P0 + 1): 1}),
              W_V=identity_block(d, d, [(0, 0, V)])),
         Head("self", W_Q=pos_qk, W_K=pos_qk, W_V=identity_block(d, d, [(V, V, V)]))),
        select_and_read(d, (0, V), V))
    return Network(name=f"two_token_map(V={V})", V=V, d=d, n_pos=N_POS,
                   E=Sparse.build(d, V, {(v, v): 1 for v in range(V)}), P=one_hot_positions(N_POS, d, P0),
                   layers=(layer1, layer2), W_U=decoder(V, d), T=Fraction(T))


def table_token(net: Network, m: Mapping[tuple[int, int], int] | Sequence[Sequence[int]]) -> tuple[Fraction, ...]:
    """``r_i = sum_j m(i, j) V^{-(j+1)}``: row i of the table as a base-V fraction."""
    V = net.V

    def entry(i: int, j: int) -> int:
        return m[(i, j)] if isinstance(m, Mapping) else m[i][j]

    values = [[entry(i, j) for j in range(V)] for i in range(V)]
    if any(not 0 <= y < V for row in values for y in row):
        raise ValueError(f"map values must lie in [0, {V})")
    r = [sum((Fraction(values[i][j], V ** (j + 1)) for j in range(V)), Fraction(0)) for i in range(V)]
    return tuple(r) + (Fraction(0),) * (net.d - V)
