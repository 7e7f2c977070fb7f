"""Symbolic facts about whole transformers (paper-notes 1.2, 2.3): soft prompts vs prefixes, positional encodings
under a shift, and the layer-2 perturbation of a layer-1 prefix.

Everything is explicit sympy (small d, symbolic weights and inputs), so a zero residual is a proof for every value
of the symbols at that size; a non-zero residual comes with a rational witness point (`theory.derivation`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from theory.derivation import Derivation, chain
from theory.head import exp_logit, matmul
from theory.kernel import ZeroTest, bounded_symbol, decide_zero, find_witness


def vec(name: str, d: int) -> sp.Matrix:
    return sp.Matrix([sp.Symbol(f"{name}_{c}", real=True) for c in range(d)])


def mat(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda a, b: sp.Symbol(f"{name}_{a}{b}", real=True))


def rotation(angle: sp.Expr) -> sp.Matrix:
    return sp.Matrix([[sp.cos(angle), -sp.sin(angle)], [sp.sin(angle), sp.cos(angle)]])


def rope_matrix(position: sp.Expr, thetas: Sequence[sp.Expr]) -> sp.Matrix:
    """Block-diagonal RoPE rotation: block i rotates by position * theta_i."""
    return sp.diag(*[rotation(position * th) for th in thetas])


# ---- a tiny symbolic transformer --------------------------------------------------------------------------

@dataclass
class TinyModel:
    """``layers`` single-head layers, width d, residual, no norm, no MLP, W_O folded into W_V, exp kept:
    ``h^(l+1)_i = h^(l)_i + sum_j softmax_j(h_i^T W_Q^T W_K h_j) W_V h_j`` over the visible keys."""

    d: int = 2
    layers: int = 2
    causal: bool = True

    def __post_init__(self) -> None:
        self.W = [(mat(f"Q{l}", self.d, self.d), mat(f"K{l}", self.d, self.d), mat(f"V{l}", self.d, self.d))
                  for l in range(self.layers)]

    def layer(self, l: int, seq: list[sp.Matrix], prefix: Sequence[sp.Matrix] = ()) -> list[sp.Matrix]:
        """One layer over ``seq`` (queried) with extra keys/values ``prefix`` (never queried, always visible)."""
        WQ, WK, WV = self.W[l]
        keys = list(prefix) + seq
        out = []
        for i, h in enumerate(seq):
            visible = keys if not self.causal else keys[:len(prefix) + i + 1]
            w = [exp_logit(matmul(matmul(matmul(h.T, WQ.T), WK), k)[0, 0]) for k in visible]
            out.append(h + sum((matmul(wj * WV, k) for wj, k in zip(w, visible)), sp.zeros(self.d, 1)) / sum(w))
        return out

    def states(self, seq: list[sp.Matrix], prefixes: list[Sequence[sp.Matrix]] | None = None) -> list[list[sp.Matrix]]:
        """Layer inputs h^(1) (= seq), h^(2), ..., and the output, for each position."""
        out = [seq]
        for l in range(self.layers):
            out.append(self.layer(l, out[-1], prefixes[l] if prefixes else ()))
        return out


def soft_prompt_vs_prefix(causal: bool, d: int = 2, n: int = 2, layers: int = 2, seed: int = 0
                          ) -> tuple[ZeroTest, ZeroTest]:
    """(input dependence of the prompt states, output difference soft prompt vs prefix).

    Soft prompt s at position 0 then content x_1..x_n; the prefix path feeds h^(l)_0 computed from s alone (the
    content deleted) as the layer-l prefix. Under a causal mask both residuals are 0 for all weights. A
    bidirectional mask makes the prompt's layer-2 state depend on x: a witness point is returned for it (and the
    output comparison, which presupposes input-independent prompt states, is not attempted)."""
    model = TinyModel(d, layers, causal)
    s = vec("s", d)
    xs = [vec(f"x{j}", d) for j in range(1, n + 1)]
    alone = model.states([s])
    if not causal:
        second = model.layer(0, [s, *xs])[0]
        dep = _exp_zero_test(sp.Matrix([second[c] - alone[1][0][c] for c in range(d)]), seed)
        return dep, ZeroTest("unknown", "not attempted: the prompt states depend on the input")
    soft = model.states([s, *xs])
    dependence = sp.Matrix([soft[l][0][c] - alone[l][0][c] for l in range(1, layers + 1) for c in range(d)])
    prefixed = model.states(xs, [[alone[l][0]] for l in range(layers)])
    difference = sp.Matrix([soft[-1][1 + j][c] - prefixed[-1][j][c] for j in range(n) for c in range(d)])
    return _exp_zero_test(dependence, seed), _exp_zero_test(difference, seed)


def layer1_soft_vs_prefix(add_position: bool, d: int = 2, n: int = 2, causal: bool = True, seed: int = 0
                          ) -> ZeroTest:
    """Layer-1 content outputs with the soft prompt s (+ absolute position p_0) against the prefix s^(1) =
    s + p_0 (``add_position``) or s (the false twin)."""
    model = TinyModel(d, 1, causal)
    s, p = vec("s", d), [vec(f"p{j}", d) for j in range(n + 1)]
    xs = [vec(f"x{j}", d) + p[j] for j in range(1, n + 1)]
    soft = model.layer(0, [s + p[0], *xs])[1:]
    prefixed = model.layer(0, xs, [s + p[0] if add_position else s])
    return _exp_zero_test(sp.Matrix([a[c] - b[c] for a, b in zip(soft, prefixed) for c in range(d)]), seed)


def _exp_zero_test(e: sp.Matrix, seed: int) -> ZeroTest:
    """Entries that sympy builds as the literal 0 are decided by the kernel at once; otherwise an exact witness
    point is sought, and an entry that stays unrefuted is UNKNOWN (nested exps are not reduced)."""
    pending = [x for x in e if x != 0]
    if not pending:
        return decide_zero(e, seed)
    return find_witness(pending[0], seed) or ZeroTest("unknown", "no witness found")


def decide(e: sp.Expr, seed: int = 0) -> ZeroTest:
    """`theory.kernel.decide_zero`, but an exact witness point is tried first: residuals expected to be non-zero
    are refuted by one exact evaluation instead of failed simplification passes."""
    found = find_witness(e, seed) if e.free_symbols else None
    return found if found is not None else decide_zero(e, seed)


# ---- positions ------------------------------------------------------------------------------------------

POSITION_SCHEMES = ("none", "learned", "sinusoidal", "rope", "alibi")


def relative_logit_shift(pos: str, rotate_keys: bool = True, seed: int = 0) -> ZeroTest:
    """Residual ``(l'_ij - l'_ik) - (l_ij - l_ik)`` where ' moves every position by c (content after a prefix),
    one derivation per position scheme:

    * ``"none"``: l_ij = x_i^T H x_j (positions do not enter);
    * ``"learned"``: l_ij = (x_i + p_i)^T H (x_j + p_j), independent symbolic position vectors p_0..p_5, c = 3;
    * ``"sinusoidal"``: the same with p_m = (sin(m w), cos(m w)) for a symbolic frequency w > 0, c = 3;
    * ``"rope"``: l_ij = (R_i W_Q x_i)^T (R_j W_K x_j) with symbolic angle and shift c (``rotate_keys=False``:
      the twin that rotates queries only);
    * ``"alibi"``: l_ij = x_i^T H x_j - m (i - j) with a symbolic slope m > 0 and shift c.
    """
    if pos not in POSITION_SCHEMES:
        raise ValueError(f"no derivation for position scheme {pos!r} (known: {', '.join(POSITION_SCHEMES)})")
    d = 2
    H = mat("H", d, d)
    x = {j: vec(f"x{j}", d) for j in (0, 1, 2)}
    i, j, k = 2, 1, 0
    if pos in ("learned", "sinusoidal"):
        if pos == "learned":
            p = [vec(f"p{m}", d) for m in range(6)]
        else:
            w = sp.Symbol("w", positive=True)
            p = [sp.Matrix([sp.sin(m * w), sp.cos(m * w)]) for m in range(6)]

        def logit(a: int, b: int, c: int | sp.Expr) -> sp.Expr:
            return ((x[a] + p[a + c]).T * H * (x[b] + p[b + c]))[0, 0]

        shift: int | sp.Expr = 3
    elif pos == "rope":
        th = sp.Symbol("theta", real=True)
        WQ, WK = mat("Q", d, d), mat("K", d, d)

        def logit(a: int, b: int, c: int | sp.Expr) -> sp.Expr:
            key_rot = rotation((b + c) * th) if rotate_keys else sp.eye(d)
            return ((rotation((a + c) * th) * WQ * x[a]).T * key_rot * WK * x[b])[0, 0]

        shift = sp.Symbol("c", real=True)
    else:
        slope = sp.Symbol("m", positive=True)
        on = pos == "alibi"

        def logit(a: int, b: int, c: int | sp.Expr) -> sp.Expr:
            return (x[a].T * H * x[b])[0, 0] - (slope * ((a + c) - (b + c)) if on else 0)

        shift = sp.Symbol("c", real=True)
    residual = (logit(i, j, shift) - logit(i, k, shift)) - (logit(i, j, 0) - logit(i, k, 0))
    return decide(residual, seed)


def rope_derivation(thetas: int = 2) -> Derivation:
    """q^T R_{m+c}^T R_{n+c} k = q^T R_{n-m} k = q^T R_m^T R_n k for block-diagonal RoPE rotations (k = 2*thetas)."""
    th = [sp.Symbol(f"theta_{i}", real=True) for i in range(thetas)]
    m, n, c = sp.symbols("m n c", real=True)
    q, k = vec("q", 2 * thetas), vec("k", 2 * thetas)
    l_shift = sp.Symbol(r"\ell(m+c,\,n+c)")
    l_plain = sp.Symbol(r"\ell(m,\,n)")
    moved = sp.Symbol(r"q^\top R_{m+c}^\top R_{n+c}\,k")
    relative = sp.Symbol(r"q^\top R_{n-m}\,k")
    plain = sp.Symbol(r"q^\top R_m^\top R_n\,k")
    R = lambda pos: rope_matrix(pos, th)  # noqa: E731
    defs = {l_shift: ((R(m + c) * q).T * (R(n + c) * k))[0, 0], l_plain: ((R(m) * q).T * (R(n) * k))[0, 0],
            moved: (q.T * R(m + c).T * R(n + c) * k)[0, 0], relative: (q.T * R(n - m) * k)[0, 0],
            plain: (q.T * R(m).T * R(n) * k)[0, 0]}
    return chain(
        "RoPE logits depend only on the relative position n - m", l_shift,
        [(moved, "(R a)^T (R b) = a^T R^T R b"),
         (relative, "per 2x2 block: R(a)^T R(b) = R(b - a) (cos(b-a) = cos a cos b + sin a sin b, "
                    "sin(b-a) = sin b cos a - cos b sin a)"),
         (plain, "the same identity with c = 0"),
         (l_plain, "(R a)^T (R b) = a^T R^T R b")],
        defs, f"explicit {2 * thetas}x{2 * thetas} block-diagonal rotations with {thetas} symbolic frequencies, "
              "symbolic positions m, n, shift c and vectors q, k; every RoPE head is a sum of such 2x2 blocks")


# ---- layer 2 (paper-notes 2.3) ----------------------------------------------------------------------------

def layer2_derivation(d: int = 2) -> tuple[Derivation, sp.Expr]:
    """The layer-2 logit with a layer-1 prefix, expanded (paper-notes 2.3), and the change of the layer-2 logit
    difference ``(l2pt_ij - l2pt_ik) - (l2_ij - l2_ik)`` that decides whether the relative attention survives.

    Layer 1 (one head, W_O folded): t^pt_j = (1 - a_j) t_j + a_j u (prefix.single.closed_form), so the residual
    stream is y^pt_j = x_j + t^pt_j = y_j + a_j (u - t_j) with y_j = x_j + t_j, u = W_V s_1."""
    tau = sp.Symbol("tau", positive=True)
    H2 = mat("H2", d, d)
    a = {r: bounded_symbol(f"alpha_{r}", 0, 1) for r in "ijk"}
    x = {r: vec(f"x{r}", d) for r in "ijk"}
    t = {r: vec(f"t{r}", d) for r in "ijk"}
    u = vec("u", d)
    y = {r: x[r] + t[r] for r in "ijk"}
    t_pt = {r: (1 - a[r]) * t[r] + a[r] * u for r in "ijk"}

    def form(p: sp.Matrix, q: sp.Matrix) -> sp.Expr:
        return tau * (p.T * H2 * q)[0, 0]

    S = sp.Symbol
    l_pt, l_ = S(r"\ell^{(2),pt}_{ij}"), S(r"\ell^{(2)}_{ij}")
    shifted = S(r"\tau(y_i+\alpha_i(u-t_i))^\top H_2(y_j+\alpha_j(u-t_j))")
    T1, T2, T3 = (S(r"\tau\alpha_i(u-t_i)^\top H_2 y_j"), S(r"\tau\alpha_j y_i^\top H_2(u-t_j)"),
                  S(r"\tau\alpha_i\alpha_j(u-t_i)^\top H_2(u-t_j)"))
    defs = {l_pt: form(x["i"] + t_pt["i"], x["j"] + t_pt["j"]), l_: form(y["i"], y["j"]),
            shifted: form(y["i"] + a["i"] * (u - t["i"]), y["j"] + a["j"] * (u - t["j"])),
            T1: a["i"] * form(u - t["i"], y["j"]), T2: a["j"] * form(y["i"], u - t["j"]),
            T3: a["i"] * a["j"] * form(u - t["i"], u - t["j"])}
    derivation = chain(
        "layer-2 logits with a layer-1 prefix", l_pt,
        [(shifted, "y^pt_j = x_j + (1 - a_j) t_j + a_j u = y_j + a_j (u - t_j)  (single-prefix closed form)"),
         (l_ + T1 + T2 + T3, "expand the bilinear form tau p^T H_2 q")],
        defs, f"explicit d={d} vectors and H_2, symbolic alpha in (0, 1) and tau > 0; layer 1 enters only through its "
              "closed form (prefix.single.closed_form), no norm and no MLP between the layers")

    def logit(r: str, c: str, prefixed: bool) -> sp.Expr:
        yr = x[r] + (t_pt[r] if prefixed else t[r])
        yc = x[c] + (t_pt[c] if prefixed else t[c])
        return form(yr, yc)

    relative = (logit("i", "j", True) - logit("i", "k", True)) - (logit("i", "j", False) - logit("i", "k", False))
    return derivation, relative


def layer1_relative_change(d: int = 2) -> sp.Expr:
    """The same difference for layer-1 content logits tau x_i^T H_1 x_j: the prefix does not enter them."""
    tau, H1 = sp.Symbol("tau", positive=True), mat("H1", d, d)
    x = {r: vec(f"x{r}", d) for r in "ijk"}

    def logit(r: str, c: str) -> sp.Expr:
        return tau * (x[r].T * H1 * x[c])[0, 0]

    return (logit("i", "j") - logit("i", "k")) - (logit("i", "j") - logit("i", "k"))
