"""Sound z3 encodings of *concrete* adapted heads: a given ``W_Q, W_K, W_V`` with a prefix, a soft prompt or a
LoRA update as the unknowns (paper-notes 2.2 "consequences", "LoRA", "longer prefixes"; 2.4; items 13, 14, 16, 22).

For input r the query is its last token ``x_q``; content logits are ``l_j = tau (W_Q x_q)^T W_K x_j`` and a prefix
position m has logit ``l_m = tau (W_Q x_q)^T W_K s_m`` and value ``u_m = W_V s_m``. The head output is

    t^pt = (sum_m p_m u_m + sum_j e_j W_V x_j) / (sum_m p_m + sum_j e_j),   p_m = exp(l_m), e_j = exp(l_j).

**Over-approximation.** z3 has no exp. Every weight ``exp(l)`` is a fresh positive real tied to its logit only by
facts that hold for the real exponential (`ExpAtoms.lemmas`):

* positivity ``e > 0`` and the tangent line ``e >= 1 + l``;
* monotonicity and injectivity, ``l_a < l_b <=> e_a < e_b`` and ``l_a = l_b <=> e_a = e_b``;
* ratio tangents ``e_a >= e_b * lo(exp(c)) * (1 + l_a - l_b - c)`` for a few points c (``exp(l_a - l_b) >=
  exp(c)(1 + (l_a - l_b) - c)`` by convexity, and ``lo(exp(c)) <= exp(c)``), for every pair in one query and for
  prefix weights across inputs;
* for a logit that is a known number (a frozen content logit), a rigorous rational enclosure ``lo <= e <= hi``.

Every real head satisfies all of these, so the set of z3 models contains every real behaviour: UNSAT means *no*
parameters of the method reach the targets (sound), while a model is only a candidate that must be realised and
re-checked on a float64 torch head (`proofs.z3_search`). ``tau = 1/sqrt(k)`` is kept exact (``tau > 0, k tau^2 = 1``);
the matrices, inputs and targets are the exact rationals of their float64 entries. Soft prompting of one head is
the same encoding as a prefix: a soft token placed before the content is, for content queries under the causal
mask, only a key ``W_K s`` and a value ``W_V s`` (the first-layer identity, paper-notes 5 items 9-10).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from typing import Any

import z3

from theory.kernel import SolverAnswer, exp_bounds, run_z3
from theory.smt import note, value

Matrix = list[list[Fraction]]

ABSTRACTION = ("every softmax weight exp(l) is a fresh positive real tied to its logit by sound exp facts only: "
               "positivity, e >= 1 + l, monotonicity/injectivity between weights of one query, ratio tangents "
               "exp(l_a - l_b) >= exp(c)(1 + l_a - l_b - c) (c = 0, or c in {-2..2} when searching for "
               "candidates; also across inputs for prefix weights), rigorous rational enclosures of frozen content "
               "weights; tau = 1/sqrt(k) exact; matrices "
               "as exact rationals of their float64 entries. Every real head satisfies the encoding, so UNSAT is "
               "sound; a model is a candidate until realised on a float64 torch head")
TANGENT_POINTS = (-2, -1, 0, 1, 2)  # the rich lemma set, for better candidates
BASE_TANGENTS = (0,)  # the lean set: fastest UNSAT proofs


def rational(x: float) -> Fraction:
    """The exact rational value of a float (inf/NaN rejected)."""
    if not math.isfinite(x):
        raise ValueError(f"non-finite number {x}")
    return Fraction(x)


def exp_enclosure(lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction | None]:
    """Rationals ``a <= exp(lo)`` and ``b >= exp(hi)`` (``b`` None beyond the kernel's range) from the trusted
    kernel's arb-ball bounds (`theory.kernel.exp_bounds`): never 0 above, safe at any magnitude."""
    return exp_bounds(lo, hi)


@cache
def exp_lower(c: int) -> Fraction:
    """A rational lower bound of exp(c) (cached: the ratio tangents of every query ask for the same few c)."""
    return exp_bounds(c, c)[0]


@dataclass(frozen=True)
class Tau:
    """The logit scale: a rational ``value``, or ``1/sqrt(k)`` (``inv_sqrt = k``), kept exact in z3."""

    value: Fraction | None = None
    inv_sqrt: int | None = None

    @staticmethod
    def default(k: int) -> Tau:
        root = math.isqrt(k)
        return Tau(value=Fraction(1, root)) if root * root == k else Tau(inv_sqrt=k)

    def k(self) -> int:
        """The ``k`` of ``tau = 1/sqrt(k)`` (only when no rational ``value`` is given)."""
        if self.inv_sqrt is None:
            raise ValueError("Tau: neither a value nor inv_sqrt")
        return self.inv_sqrt

    def bounds(self) -> tuple[Fraction, Fraction]:
        if self.value is not None:
            return self.value, self.value
        bits = 40  # isqrt(k 4^bits) / 2^bits <= sqrt(k) < (isqrt(k 4^bits) + 1) / 2^bits, exactly
        root = math.isqrt(self.k() << (2 * bits))
        return Fraction(1 << bits, root + 1), Fraction(1 << bits, root)

    def term(self) -> tuple[Any, list[Any]]:
        """(z3 term, defining constraints)."""
        if self.value is not None:
            return z3.RealVal(self.value), []
        t = z3.Real("tau")
        return t, [t > 0, self.k() * t * t == 1]

    def as_float(self) -> float:
        return float(self.value) if self.value is not None else 1 / math.sqrt(self.k())


def total(xs: Sequence[Any]) -> Any:
    """Sum of a non-empty list (no one-argument ``+``, which SMT-LIB readers such as cvc5 reject)."""
    return xs[0] if len(xs) == 1 else z3.Sum(list(xs))


def matvec(M: Sequence[Sequence[Any]], v: Sequence[Any]) -> list[Any]:
    return [sum((row[c] * v[c] for c in range(len(v))), Fraction(0)) for row in M]


def dot(a: Sequence[Any], b: Sequence[Any]) -> Any:
    return sum((x * y for x, y in zip(a, b, strict=True)), Fraction(0))


def transpose(M: Matrix) -> Matrix:
    return [list(col) for col in zip(*M)]


@dataclass
class ExpAtoms:
    """The weights of one query position: (logit term, weight variable, known logit bounds or None)."""

    atoms: list[tuple[Any, Any, tuple[Fraction, Fraction] | None]] = field(default_factory=list)

    def add(self, logit: Any, weight: Any, known: tuple[Fraction, Fraction] | None = None) -> Any:
        self.atoms.append((logit, weight, known))
        return weight

    def lemmas(self, tangents: Sequence[int] = BASE_TANGENTS) -> list[Any]:
        """Sound exp facts for every weight and every ordered pair of weights in this query."""
        facts: list[Any] = []
        for logit, e, known in self.atoms:
            facts += [e > 0, e >= 1 + logit]
            if known is not None:
                lo, hi = exp_enclosure(*known)
                facts += [e >= lo] + ([e <= hi] if hi is not None else [])
        facts += pair_lemmas([(l, e) for l, e, known in self.atoms],
                             skip=lambda a, b: a[2] is not None and b[2] is not None, atoms=self.atoms,
                             tangents=tangents)
        return facts


def pair_lemmas(pairs: Sequence[tuple[Any, Any]], skip: Any = None, atoms: Any = None,
                tangents: Sequence[int] = BASE_TANGENTS) -> list[Any]:
    """Monotonicity, injectivity and ratio tangents (at ``tangents``) for every pair (a, b) of (logit, weight)."""
    facts: list[Any] = []
    lows = {c: exp_lower(c) for c in tangents}
    for a in range(len(pairs)):
        for b in range(len(pairs)):
            if a == b or (skip is not None and skip(atoms[a], atoms[b])):
                continue
            (la, ea), (lb, eb) = pairs[a], pairs[b]
            if a < b:
                facts += [(la < lb) == (ea < eb), (la == lb) == (ea == eb)]
            facts += [ea >= eb * lows[c] * (1 + la - lb - c) for c in tangents]
    return facts


@dataclass(frozen=True)
class Method:
    """How the head is adapted. ``prefix``/``softprompt``: ``n_S`` vectors ``s_m`` in R^d; ``lora``: ``W -> W + B A``
    with ``B`` (rows x rank), ``A`` (rank x d) on ``matrix`` in {W_Q, W_K, W_V}."""

    kind: str
    n_S: int = 1
    rank: int = 1
    matrix: str = "W_K"

    def parameters(self, d: int, k: int, d_v: int) -> int:
        if self.kind in ("prefix", "softprompt"):
            return self.n_S * d
        rows = d_v if self.matrix == "W_V" else k
        return self.rank * (rows + d)

    def describe(self) -> str:
        if self.kind in ("prefix", "softprompt"):
            return f"{self.kind} n_S={self.n_S}"
        return f"LoRA rank {self.rank} on {self.matrix}"


@dataclass(frozen=True)
class HeadData:
    """A concrete head as exact rationals: W_Q, W_K (k x d), W_V (d_v x d), and tau."""

    W_Q: Matrix
    W_K: Matrix
    W_V: Matrix
    tau: Tau

    @staticmethod
    def from_floats(W_Q: Sequence[Sequence[float]], W_K: Sequence[Sequence[float]], W_V: Sequence[Sequence[float]],
                    tau: float | None = None) -> HeadData:
        conv = lambda M: [[rational(float(x)) for x in row] for row in M]  # noqa: E731
        t = Tau.default(len(W_Q)) if tau is None else Tau(value=rational(float(tau)))
        if t.value is not None and t.value <= 0:
            raise ValueError("tau must be positive")
        return HeadData(conv(W_Q), conv(W_K), conv(W_V), t)

    @property
    def dims(self) -> tuple[int, int, int]:
        return len(self.W_Q[0]), len(self.W_Q), len(self.W_V)


@dataclass(frozen=True)
class Task:
    """Inputs (each a list of n_r tokens in R^d; the query is the last token) and, per input, a target output
    (d_v numbers) and/or target content-attention orderings (pairs (j, k) meaning A_j > A_k), with tolerance."""

    inputs: list[list[list[float]]]
    outputs: list[list[float]] | None = None
    orderings: list[list[tuple[int, int]]] | None = None
    tol: float = 1e-3


def solve(constraints: Sequence[Any], timeout: float, logic: str = "QF_NRA") -> SolverAnswer:
    """One z3 call through the trusted kernel (so UNSAT can back a certificate) with a timeout (seconds);
    'unknown' carries z3's reason."""
    out = run_z3(constraints, timeout, logic)
    note(constraints, out.result)  # for the report's "what was the solver asked"
    return out


def to_smtlib(constraints: Sequence[Any]) -> str:
    """The conjunction as an SMT-LIB 2 script (for a second backend)."""
    s = z3.Solver()
    s.add(*constraints)
    return s.to_smt2()


class AdaptedHeadEncoding:
    """The encoding of ``method`` applied to ``head`` on ``task`` (targets at each input's last position).

    ``constraints`` is the over-approximation described in the module docstring plus the target constraints:
    ``|t_c - y_c| <= tol`` written without division as ``|N_c - y_c D| <= tol D`` (``D > 0``), and
    ``A_j > A_k`` written as ``l_j > l_k`` (exact: exp is strictly increasing and the softmax denominator is
    shared). ``params`` are the method's unknowns; ``weights`` the abstract prefix weights per input."""

    def __init__(self, head: HeadData, method: Method, task: Task, tangents: Sequence[int] = BASE_TANGENTS) -> None:
        self.head, self.method, self.task, self.tangents = head, method, task, tuple(tangents)
        d, k, d_v = head.dims
        self.tau, self.constraints = head.tau.term()
        R = z3.Real
        tol = rational(task.tol)
        if method.kind in ("prefix", "softprompt"):
            self.params = {"s": [[R(f"s_{m}_{c}") for c in range(d)] for m in range(method.n_S)]}
        else:
            rows = d_v if method.matrix == "W_V" else k
            self.params = {"B": [[R(f"B_{a}_{b}") for b in range(method.rank)] for a in range(rows)],
                           "A": [[R(f"A_{a}_{b}") for b in range(d)] for a in range(method.rank)]}
        self.weights: list[list[Any]] = []
        prefix_pairs: list[tuple[int, Any, Any]] = []
        for r, tokens in enumerate(task.inputs):
            X = [[rational(float(x)) for x in tok] for tok in tokens]
            atoms = ExpAtoms()
            W_Q, W_K, W_V = self._adapted()
            q = matvec(W_Q, X[-1])
            logits, weights, values = [], [], []
            frozen_logits = method.kind in ("prefix", "softprompt") or method.matrix == "W_V"
            for j, x in enumerate(X):
                raw_logit = dot(q, matvec(W_K, x))
                l = self.tau * raw_logit
                known = self._known(raw_logit) if frozen_logits else None
                e = atoms.add(l, R(f"e_{r}_{j}"), known)
                logits.append(l)
                weights.append(e)
                values.append(matvec(W_V, x))
            prefix_w = []
            if method.kind in ("prefix", "softprompt"):
                for m, s in enumerate(self.params["s"]):
                    l = self.tau * dot(q, matvec(W_K, s))
                    p = atoms.add(l, R(f"p_{r}_{m}"))
                    prefix_w.append(p)
                    prefix_pairs.append((r, l, p))
                    weights.append(p)
                    values.append(matvec(W_V, s))
            self.weights.append(prefix_w)
            self.constraints += atoms.lemmas(tangents)
            D = total(weights)
            if task.outputs is not None:
                y = [rational(float(v)) for v in task.outputs[r]]
                for c in range(d_v):
                    N = total([w * v[c] for w, v in zip(weights, values)])
                    self.constraints += [N - y[c] * D <= tol * D, y[c] * D - N <= tol * D]
            if task.orderings is not None:
                for j, kk in task.orderings[r]:
                    self.constraints.append(logits[j] > logits[kk])
        lows = {c: exp_lower(c) for c in tangents}
        for a, (ra, la, ea) in enumerate(prefix_pairs):  # the same exp facts across inputs
            for b, (rb, lb, eb) in enumerate(prefix_pairs):
                if ra != rb:
                    self.constraints += [ea >= eb * lows[c] * (1 + la - lb - c) for c in tangents]
                    if a < b:
                        self.constraints += [(la < lb) == (ea < eb), (la == lb) == (ea == eb)]

    def _known(self, raw_logit: Fraction) -> tuple[Fraction, Fraction]:
        lo, hi = self.head.tau.bounds()
        return (raw_logit * lo, raw_logit * hi) if raw_logit >= 0 else (raw_logit * hi, raw_logit * lo)

    def _adapted(self) -> tuple[Any, Any, Any]:
        """W_Q, W_K, W_V with the LoRA update B A added to the chosen matrix (rationals or z3 terms)."""
        h, m = self.head, self.method
        mats = {"W_Q": h.W_Q, "W_K": h.W_K, "W_V": h.W_V}
        if m.kind == "lora":
            B, A = self.params["B"], self.params["A"]
            W = mats[m.matrix]
            mats[m.matrix] = [[W[a][b] + total([B[a][t] * A[t][b] for t in range(m.rank)])
                               for b in range(len(W[0]))] for a in range(len(W))]
        return mats["W_Q"], mats["W_K"], mats["W_V"]

    def solve(self, timeout: float) -> SolverAnswer:
        return solve(self.constraints, timeout)

    def model_params(self, model: z3.ModelRef) -> dict[str, list[list[float]]]:
        return {name: [[value(model, x) for x in row] for row in M] for name, M in self.params.items()}

    def model_prefix_weights(self, model: z3.ModelRef) -> list[list[float]]:
        return [[value(model, p) for p in row] for row in self.weights]


# ---- prefix.cannot_reverse_attention: abstract heads (all W_Q, W_K, W_V) ----------------------------------------

REVERSE_ABSTRACTION = ("content logits are free reals and their weights exp(l) fresh positive reals with "
                       "monotonicity/injectivity and ratio-tangent lemmas; the prefix, of any length n_S >= 1, "
                       "enters only through its total weight P = sum_m exp(l_m) > 0 in the denominator. Every real "
                       "head and prefix satisfies this, so UNSAT holds for every head, every n_S and every prefix")


@dataclass
class ReverseQuery:
    """``exists logits l, weights e = exp(l), prefix mass P: l_j < l_k and F_j >= F_k`` for the chosen pairs,
    where F is the adapted attention: ``prefix``: ``F_j = e_j / (P + sum e)``; ``lora`` (the false twin):
    content logits become ``l_j + delta_j`` (any rank-1 update of W_K realises any delta at one query), weights
    ``f_j = exp(l_j + delta_j)`` with the same lemmas, ``F_j = f_j / sum f``.

    ``aggregated``: only positions j, k are explicit; the other content weights are one non-negative real (their
    sum), so the query covers every n >= 2 at once. Otherwise all n content weights are explicit."""

    n: int
    pairs: Sequence[tuple[int, int]]
    method: str = "prefix"
    aggregated: bool = False

    def build(self) -> tuple[list[Any], dict[str, Any]]:
        R = z3.Real
        idx = sorted({x for p in self.pairs for x in p})
        n_explicit = len(idx) if self.aggregated else self.n
        names = idx if self.aggregated else list(range(self.n))
        l = {j: R(f"l_{j}") for j in names}
        e = {j: R(f"e_{j}") for j in names}
        cs: list[Any] = [e[j] > 0 for j in names]
        rest: list[Any] = []
        if self.aggregated and self.n > n_explicit:
            rest_w = R("rest")
            cs.append(rest_w >= 0)  # >= 0 so that n = 2 (nothing else) is covered too
            rest = [rest_w]
        if self.method == "prefix":
            P = R("P")
            cs.append(P > 0)
            D = total([*e.values(), *rest, P])
            F = {j: e[j] / D for j in names}
        elif self.method == "lora":
            delta = {j: R(f"delta_{j}") for j in names}
            f = {j: R(f"f_{j}") for j in names}
            cs += [f[j] > 0 for j in names]
            rest_f: list[Any] = []
            if rest:
                rest_f = [R("rest_f")]
                cs.append(rest_f[0] >= 0)
            D = total([*f.values(), *rest_f])
            F = {j: f[j] / D for j in names}
            cs += pair_lemmas([(l[j] + delta[j], f[j]) for j in idx])
        else:
            raise ValueError(f"unknown method {self.method!r}")
        cs += pair_lemmas([(l[j], e[j]) for j in idx])
        clauses = [z3.And(l[j] < l[k], F[j] >= F[k]) for j, k in self.pairs]
        cs.append(z3.Or(clauses) if len(clauses) > 1 else clauses[0])
        extra = {"delta": delta, "f": f} if self.method == "lora" else {"P": P}
        return cs, {"l": l, "e": e, "F": F, "names": names, **extra}


def reverse_witness(model: z3.ModelRef, handles: dict[str, Any], pair: tuple[int, int]) -> dict[str, Any]:
    """Plain numbers of a reverse-query model: the positions ``names``, logits ``l``, weights ``e``, (lora) adapted
    weights ``f`` and (prefix) the prefix mass ``P``; the lists are reordered so that the reversed ``pair``
    (j, k) comes first, then the other positions in their order."""
    names = list(handles["names"])
    first = [names.index(x) for x in pair]
    order = first + [t for t in range(len(names)) if t not in first]
    out: dict[str, Any] = {"names": [names[o] for o in order]}
    for key in ("l", "e", "f"):
        if key in handles:
            out[key] = [value(model, handles[key][names[o]]) for o in order]
    if "P" in handles:
        out["P"] = value(model, handles["P"])
    return out


# ---- prefix.reachable_segment: is a target on the segments [e_i, W_V s]? -----------------------------------------

def segment_query(W_V: Sequence[Sequence[float]], ends: Sequence[Sequence[float]],
                  targets: Sequence[Sequence[float]], tol: float, timeout: float) -> SolverAnswer:
    """z3: do ``s`` and ``alpha_i in (0, 1)`` exist with ``|y_i - ((1 - alpha_i) e_i + alpha_i W_V s)| <= tol`` in
    every coordinate, for every target ``y_i`` and end ``e_i``? With n_S = 1 the adapted output is that point for
    ``e_i = t_i`` (prefix.single.closed_form), so UNSAT for reached outputs refutes the segments. Every float is
    its exact rational; the encoding is linear in ``s`` for fixed alpha (exact, no abstraction of exp)."""
    Q = [[rational(float(x)) for x in row] for row in W_V]
    s = [z3.Real(f"s{c}") for c in range(len(Q[0]))]
    u = [total([Q[r][c] * s[c] for c in range(len(s))]) for r in range(len(Q))]
    cs: list[Any] = []
    for i, (e, y) in enumerate(zip(ends, targets, strict=True)):
        a = z3.Real(f"alpha{i}")
        cs += [a > 0, a < 1]
        for c in range(len(Q)):
            pt = (1 - a) * rational(float(e[c])) + a * u[c]
            cs += [pt - rational(float(y[c])) <= rational(tol), rational(float(y[c])) - pt <= rational(tol)]
    return solve(cs, timeout)
