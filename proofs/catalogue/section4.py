"""Section 4 of the paper: a prefix can only bias the output of an attention head (paper-notes 2.2, items 1-8, 11, 14).

Each statement is a function ``Env -> (lhs, rhs)`` claiming ``lhs == rhs``; the same function is evaluated by
sympy (general n and unrolled), torch (random float64 heads) and z3 (weights as positive reals). The factories
``identity_claim`` and ``order_claim`` are public so that tests and users can build false twins of a claim.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proofs.checks import (
    Statement,
    numeric_identity,
    numeric_order,
    smt_identity,
    smt_order,
    symbolic_identity,
    symbolic_order,
)
from proofs.claim import Check, Claim, Context, Expected, LayerResult, Status
from theory.shape import Shape

SECTION = "4 single layer"
SINGLE = ("one softmax head; the content q, k, v are the same with and without the prefix (first layer, or "
          "conditional on the layer's inputs)", "the prefix is visible to every content query and is never a query",
          "causal mask over content; no attention dropout")


# ---- statements ---------------------------------------------------------------------------------------------

def alpha_sigmoid(E: Any) -> tuple[Any, Any]:
    """A^pt_i0 = sigma(l_i0 - log sum_{r<=i} e^{l_ir})."""
    h = E.h
    return h.alpha, h.sigmoid(h.l_prefix[0] - h.lse)


def single_closed_form(E: Any) -> tuple[Any, Any]:
    """t^pt_i = (1 - alpha_i) t_i + alpha_i W_V s_1."""
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def contraction(E: Any) -> tuple[Any, Any]:
    """t^pt_i - W_V s_1 = (1 - alpha_i)(t_i - W_V s_1)."""
    h = E.h
    return h.t_pt - h.u[0], (1 - h.alpha) * (h.t - h.u[0])


def relative_attention(E: Any) -> tuple[Any, Any]:
    """A^pt_ij = (1 - alpha_i) A_ij for every visible content j, so A^pt_ij / A^pt_ik = A_ij / A_ik and the
    renormalised content attention A^pt_ij / sum_r A^pt_ir equals A_ij.

    (The multiplicative form is the well-conditioned one in floating point: dividing by 1 - alpha_i loses
    digits when the prefix takes almost all the attention.)"""
    h = E.h
    return h.A_pt, (1 - h.alpha) * h.A


def multi_closed_form(E: Any) -> tuple[Any, Any]:
    """t^pt_i = (1 - sum_m alpha_im) t_i + sum_m alpha_im W_V s_m."""
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t + h.bias


def mixture_softmax(E: Any) -> tuple[Any, Any]:
    """alpha_im / sum_m' alpha_im' = softmax_m(tau x_i^T H s_m): no content key enters."""
    h = E.h
    return h.alphas[0] / h.alpha, h.prefix_softmax[0]


def content_mass(E: Any) -> tuple[Any, Any]:
    """sum_j A^pt_ij = 1 - sum_m alpha_im."""
    h = E.h
    return h.mass_pt, 1 - h.alpha


def multihead_span(E: Any) -> tuple[Any, Any]:
    """sum_h W_O^h t^{pt,h}_i = sum_h (1-alpha^h_i) W_O^h t^h_i + sum_h alpha^h_i W_O^h W_V^h s."""
    H = E.n_heads
    mv = E.h.matvec
    out = E.total([mv(E.W_O(h), E.view(0, h).t_pt) for h in range(H)])
    parts = [mv(E.W_O(h), (1 - E.view(0, h).alpha) * E.view(0, h).t + E.view(0, h).alpha * E.view(0, h).u[0])
             for h in range(H)]
    return out, E.total(parts)


def bias_parallel_naive(E: Any) -> tuple[Any, Any]:
    """(naive, false) t^pt_i - t_i is parallel to W_V s_1: every 2x2 minor of [t^pt_i - t_i, W_V s_1] is 0."""
    h = E.h
    return h.minors(h.t_pt - h.t, h.u[0] + 0 * h.t), 0 * h.minors(h.t, h.t)


def _layer_bias(E: Any, r: int) -> Any:
    return E.total([E.h.matvec(E.W_O(h), E.view(r, h).bias) for h in range(E.n_heads)])


def multihead_single_direction(E: Any) -> tuple[Any, Any]:
    """(false for >= 2 heads) the layer-level bias sum_h alpha^h W_O^h W_V^h s points the same way for two inputs."""
    b0, b1 = _layer_bias(E, 0), _layer_bias(E, 1)
    return E.h.minors(b0, b1), 0 * E.h.minors(b0, b0)


def longer_fixed_direction(E: Any) -> tuple[Any, Any]:
    """(false for n_S >= 2) the bias sum_m alpha_im W_V s_m points the same way for two inputs."""
    b0, b1 = E.view(0).bias, E.view(1).bias
    return E.h.minors(b0, b1), 0 * E.h.minors(b0, b0)


# ---- factories ----------------------------------------------------------------------------------------------

def identity_claim(id: str, title: str, paper_ref: str, statement_tex: str, statement: Statement, *,
                   shape: Shape | None = None, derivation: Callable[[], Any] | None = None,
                   expected: Expected = "holds", assumptions: tuple[str, ...] = SINGLE, general: bool = True,
                   general_d: int | None = None, unrolled: tuple[tuple[int, int], ...] = ((3, 2),),
                   numeric_n: int = 6, smt: bool = True, smt_n: int = 3, smt_d: int = 2,
                   section: str = SECTION) -> Claim:
    """A claim ``lhs == rhs`` checked by all three layers (smt optional: it needs +,-,*,/ only)."""
    return Claim(
        id=id, title=title, paper_ref=paper_ref, statement=statement_tex, assumptions=assumptions,
        expected=expected, section=section, derivation=derivation,
        symbolic=symbolic_identity(statement, shape, derivation=derivation, general=general, general_d=general_d,
                                   unrolled=unrolled),
        numeric=numeric_identity(statement, shape, n=numeric_n),
        smt=smt_identity(statement, shape, n=smt_n, d=smt_d) if smt else None,
    )


def order_claim(id: str, title: str, attn_pt: Callable[[Any], Any], expected: Expected = "holds") -> Claim:
    return Claim(
        id=id, title=title, paper_ref="Sec. 4 (the attention ordering over the content is kept); notes 2.2, 5 item 13",
        statement=r"\operatorname{sign}(A^{pt}_{ij}-A^{pt}_{ik})=\operatorname{sign}(A_{ij}-A_{ik})"
                  r"\ \ \forall j,k\le i,\ \forall n_S,\ \forall s_{1..n_S}",
        assumptions=SINGLE, expected=expected, section=SECTION,
        symbolic=symbolic_order(attn_pt), numeric=numeric_order(attn_pt), smt=smt_order(attn_pt),
    )


def _eq7(delta_H: bool, delta_V: bool) -> Statement:
    """Full fine-tuning (eq. 7): ``t^ft_i`` with ``H + Delta H`` and ``W_V + Delta W_V`` against the prediction
    ``t_i + Delta W_V xbar_i`` (``xbar_i = sum_j A_ij x_j``), which is exact when ``Delta H = 0``."""

    def statement(E: Any) -> tuple[Any, Any]:
        return E.t_ft(delta_H, delta_V), E.t + E.dWV_xbar(delta_V)

    return statement


def eq7_symbolic(statement: Statement) -> Check:
    def check(ctx: Context) -> LayerResult:
        from theory.finetune import FineTuneHead
        from theory.kernel import certify_zero, decide_zero, exact_floats

        tests = []
        for n, d, modes in ((3, 2, ("exp", "positive")), (5, 3, ("positive",))):
            for mode in modes:
                E = FineTuneHead(n=n, d=d, mode=mode)
                with exact_floats():
                    lhs, rhs = statement(E)
                test = decide_zero(lhs - rhs, ctx.seed)
                if test.status == "nonzero":
                    return LayerResult(Status.REFUTED, f"residual {test.value} (exactly {test.exact_value}) at "
                                       f"{test.witness} (n={n}, d={d}, {mode} weights)",
                                       witness={"point": test.witness, "residual": test.value,
                                                "exact_residual": test.exact_value})
                if test.status != "zero":
                    return LayerResult(Status.UNKNOWN, f"residual not reduced (n={n}, d={d}, {mode})")
                tests.append(test)
        abstraction = "explicit matrices; exp(l) kept, or weights as positive symbols"
        cert = certify_zero(tests, "n in {3, 5}, d in {2, 3}, every query position", abstraction)
        return LayerResult(Status.PROVED, "residual 0 at n=3, d=2 (exp and positive weights) and n=5, d=3 (positive), "
                           "every query position", abstraction=abstraction, certificate=cert)

    return check


def eq7_numeric(statement: Statement) -> Check:
    def check(ctx: Context) -> LayerResult:
        from numeric.attention import discrepancy, random_instances
        from numeric.finetune import TorchFineTune
        from numeric.tracked import plain, track

        seed = ctx.child_seed("eq7")
        E = track(TorchFineTune(random_instances(ctx.instances, 6, 4, seed=seed), seed=seed))
        lhs, rhs = (plain(x) for x in statement(E))
        disc = discrepancy(lhs, rhs)
        if disc.ok(ctx.tol):
            return LayerResult(Status.CONSISTENT, f"max error {disc.max_error:.3g} (seed {seed})",
                               max_error=disc.max_error, instances=disc.instances)
        return LayerResult(Status.VIOLATED,
                           f"error {disc.max_error:.3g} at seed {seed}, instance {disc.worst_instance}",
                           max_error=disc.max_error, instances=disc.instances,
                           witness={"seed": seed, "instance": disc.worst_instance})

    return check


def eq7_claim(id: str = "finetune.eq7_reduces", delta_H: bool = False, expected: Expected = "holds") -> Claim:
    statement = _eq7(delta_H, True)
    return Claim(
        id=id, title="eq. 7 with Delta H = 0: attention unchanged, output t_i + Delta W_V xbar_i (t_i when Delta = 0)",
        paper_ref="Sec. 4, eq. (7); notes 2.2, 5 item 11",
        statement=r"t^{ft}_i\big|_{\Delta H=0}=t_i+\Delta W_V\sum_{j\le i}A_{ij}x_j,\qquad "
                  r"t^{ft}_i\big|_{\Delta H=0,\Delta W_V=0}=t_i",
        assumptions=("one softmax head, causal mask; full fine-tuning H -> H + Delta H, W_V -> W_V + Delta W_V",),
        expected=expected, section=SECTION, symbolic=eq7_symbolic(statement), numeric=eq7_numeric(statement),
    )


def _derivation(name: str) -> Callable[[], Any]:
    """A lazy builder of `theory.section4.<name>` (sympy is imported only when a derivation is needed)."""

    def build() -> Any:
        from theory import section4

        return getattr(section4, name)()

    return build


# ---- the catalogue ------------------------------------------------------------------------------------------

MULTI = Shape(n_S=2)
TWO_HEADS = Shape(heads=2)

CLAIMS = [
    identity_claim(
        "prefix.alpha_sigmoid", "prefix attention A^pt_i0 is the sigmoid of the logit gap l_i0 - LSE(l_i.)",
        "Sec. 4, eqs. (2)-(6) (no. unconfirmed); notes 2.2, 5 item 2",
        r"A^{pt}_{i0}=\sigma\big(\ell_{i0}-\log\sum_{r\le i}e^{\ell_{ir}}\big)\in(0,1)",
        alpha_sigmoid, derivation=_derivation("alpha_sigmoid"), smt=False),
    identity_claim(
        "prefix.single.closed_form", "with one prefix position, t^pt_i = (1-α_i) t_i + α_i W_V s_1",
        "Sec. 4, eqs. (2)-(6) (no. unconfirmed); notes 2.2, 5 item 3", r"t^{pt}_i=(1-\alpha_i)\,t_i+\alpha_i\,W_V s_1",
        single_closed_form, derivation=_derivation("single_closed_form")),
    identity_claim(
        "prefix.contraction", "the prefix contracts t_i toward the fixed point W_V s_1",
        "Sec. 4 (bias towards W_V s_1, a contraction); notes 2.2, 5 item 5",
        r"t^{pt}_i-W_V s_1=(1-\alpha_i)\,(t_i-W_V s_1)",
        contraction, derivation=_derivation("contraction")),
    identity_claim(
        "prefix.relative_attention", "renormalised content attention is unchanged by a prefix",
        "Sec. 4 (relative attention unchanged); notes 2.2, 5 items 1, 4",
        r"A^{pt}_{ij}=(1-\alpha_i)A_{ij},\quad A^{pt}_{ij}/A^{pt}_{ik}=A_{ij}/A_{ik}",
        relative_attention, derivation=_derivation("relative_attention")),
    identity_claim(
        "prefix.multi.closed_form", "with n_S prefix positions, t^pt_i = (1-Σα_im) t_i + Σ α_im W_V s_m",
        "App. B (longer prefixes); notes 2.2, 5 item 6",
        r"t^{pt}_i=\Big(1-\sum_m\alpha_{im}\Big)t_i+\sum_{m=1}^{n_S}\alpha_{im}W_Vs_m",
        multi_closed_form, shape=MULTI, derivation=_derivation("multi_closed_form")),
    identity_claim(
        "prefix.multi.mixture_softmax", "mixture weights over prefix positions are a softmax of prefix logits only",
        "App. B (longer prefixes); notes 2.2, 5 item 6",
        r"\alpha_{im}\big/\textstyle\sum_{m'}\alpha_{im'}=\operatorname{softmax}_m(\tau x_i^\top H s_m)",
        mixture_softmax, shape=MULTI, derivation=_derivation("mixture_softmax")),
    identity_claim(
        "prefix.content_mass", "content attention mass is 1 - Σ_m α_im (scaled uniformly)",
        "Sec. 4, App. B (content attention scaled uniformly); notes 5 item 7",
        r"\sum_{j\ge1}A^{pt}_{ij}=1-\sum_m A^{pt}_{i,-m}",
        content_mass, shape=MULTI, derivation=_derivation("content_mass")),
    order_claim("prefix.ordering", "no prefix (any n_S) changes the order or argmax of attention over content",
                lambda h: h.A_pt),
    identity_claim(
        "prefix.multihead.span", "multi-head layer: bias is Σ_h α^h W_O^h W_V^h s, in a ≤ H·n_S-dim span",
        "Sec. 4 (multi-head layers); notes 2.2, 5 item 8",
        r"\sum_h W_O^h t^{pt,h}_i=\sum_h(1-\alpha^h_i)W_O^h t^h_i+\sum_h\alpha^h_i\,W_O^hW_V^h s",
        multihead_span, shape=TWO_HEADS, general_d=2, smt_n=2, unrolled=((2, 2),)),
    eq7_claim(),
    identity_claim(
        "prefix.bias_parallel_naive", "naive reading: t^pt_i - t_i is parallel to W_V s_1",
        "Sec. 4 (bias direction: a misreading); notes 2.2, 5 item 5",
        r"t^{pt}_i-t_i\parallel W_V s_1\quad\text{(false: }t^{pt}_i-t_i=\alpha_i(W_Vs_1-t_i)\text{)}",
        bias_parallel_naive, expected="fails", general_d=2, smt_n=2),
    identity_claim(
        "prefix.multihead.single_direction", "with ≥2 heads the layer bias points in one fixed direction",
        "Sec. 4 (multi-head layers: a fixed direction per head only); notes 2.2, 5 item 8",
        r"\sum_h\alpha^h(x)W_O^hW_V^hs\parallel\sum_h\alpha^h(x')W_O^hW_V^hs\quad\forall x,x'\ \ (H\ge2)",
        multihead_single_direction, shape=Shape(inputs=2, heads=2), expected="fails", general_d=2, smt_n=2),
    identity_claim(
        "prefix.longer.fixed_direction", "with n_S ≥ 2 prefix positions the bias has one fixed direction",
        "App. B (longer prefixes: no fixed direction for n_S > 1); notes 2.2, 5 item 14",
        r"\sum_m\alpha_{im}(x)W_Vs_m\parallel\sum_m\alpha_{im}(x')W_Vs_m\quad\forall x,x'\ \ (n_S\ge2)",
        longer_fixed_direction, shape=Shape(inputs=2, n_S=2), expected="fails", general=False, smt_n=2),
]
