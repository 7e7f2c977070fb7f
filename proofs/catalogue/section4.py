"""Section 4 of the paper: a prefix can only bias the output of an attention head (paper-notes 2.2, items 1-8, 11, 14).

Declarations only: each statement is a function ``E -> (lhs, rhs)`` of the head view (`proofs.view.EnvView`)
claiming ``lhs == rhs``; the factories of `proofs.factories` check it with sympy (general n and unrolled), torch
(random float64 heads) and z3 (weights as positive reals); the derivation chains are `theory.section4`'s. Eq. (7)
is a statement on a fully fine-tuned head (`proofs.view.FineTuneView`), checked at explicit sizes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from proofs.checks import numeric_on_view, symbolic_on_views
from proofs.claim import Check, Claim, Expected
from proofs.factories import SECTION, SINGLE, identity_claim, lazy_derivation, order_claim
from proofs.view import EnvView, FineTuneView, Quantity
from theory.shape import Shape

if TYPE_CHECKING:
    from numeric.finetune import TorchFineTune
    from theory.derivation import Derivation
    from theory.finetune import FineTuneHead
    from theory.head import Mode

__all__ = ["SECTION", "SINGLE", "CLAIMS", "identity_claim", "order_claim", "eq7_claim", "eq7_symbolic",
           "eq7_numeric"]


# ---- statements ---------------------------------------------------------------------------------------------

def alpha_sigmoid(E: EnvView) -> tuple[Quantity, Quantity]:
    """A^pt_i0 = sigma(l_i0 - log sum_{r<=i} e^{l_ir})."""
    h = E.h
    return h.alpha, h.sigmoid(h.l_prefix[0] - h.lse)


def single_closed_form(E: EnvView) -> tuple[Quantity, Quantity]:
    """t^pt_i = (1 - alpha_i) t_i + alpha_i W_V s_1."""
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t + h.alpha * h.u[0]


def contraction(E: EnvView) -> tuple[Quantity, Quantity]:
    """t^pt_i - W_V s_1 = (1 - alpha_i)(t_i - W_V s_1)."""
    h = E.h
    return h.t_pt - h.u[0], (1 - h.alpha) * (h.t - h.u[0])


def relative_attention(E: EnvView) -> tuple[Quantity, Quantity]:
    """A^pt_ij = (1 - alpha_i) A_ij for every visible content j, so A^pt_ij / A^pt_ik = A_ij / A_ik and the
    renormalised content attention A^pt_ij / sum_r A^pt_ir equals A_ij.

    (The multiplicative form is the well-conditioned one in floating point: dividing by 1 - alpha_i loses
    digits when the prefix takes almost all the attention.)"""
    h = E.h
    return h.A_pt, (1 - h.alpha) * h.A


def multi_closed_form(E: EnvView) -> tuple[Quantity, Quantity]:
    """t^pt_i = (1 - sum_m alpha_im) t_i + sum_m alpha_im W_V s_m."""
    h = E.h
    return h.t_pt, (1 - h.alpha) * h.t + h.bias


def mixture_softmax(E: EnvView) -> tuple[Quantity, Quantity]:
    """alpha_im / sum_m' alpha_im' = softmax_m(tau x_i^T H s_m): no content key enters."""
    h = E.h
    return h.alphas[0] / h.alpha, h.prefix_softmax[0]


def content_mass(E: EnvView) -> tuple[Quantity, Quantity]:
    """sum_j A^pt_ij = 1 - sum_m alpha_im."""
    h = E.h
    return h.mass_pt, 1 - h.alpha


def multihead_span(E: EnvView) -> tuple[Quantity, Quantity]:
    """sum_h W_O^h t^{pt,h}_i = sum_h (1-alpha^h_i) W_O^h t^h_i + sum_h alpha^h_i W_O^h W_V^h s."""
    H = E.n_heads
    mv = E.h.matvec
    out = E.total([mv(E.W_O(h), E.view(0, h).t_pt) for h in range(H)])
    parts = [mv(E.W_O(h), (1 - E.view(0, h).alpha) * E.view(0, h).t + E.view(0, h).alpha * E.view(0, h).u[0])
             for h in range(H)]
    return out, E.total(parts)


def bias_parallel_naive(E: EnvView) -> tuple[Quantity, Quantity]:
    """(naive, false) t^pt_i - t_i is parallel to W_V s_1: every 2x2 minor of [t^pt_i - t_i, W_V s_1] is 0."""
    h = E.h
    return h.minors(h.t_pt - h.t, h.u[0] + 0 * h.t), 0 * h.minors(h.t, h.t)


def _layer_bias(E: EnvView, r: int) -> Quantity:
    return E.total([E.h.matvec(E.W_O(h), E.view(r, h).bias) for h in range(E.n_heads)])


def multihead_single_direction(E: EnvView) -> tuple[Quantity, Quantity]:
    """(false for >= 2 heads) the layer-level bias sum_h alpha^h W_O^h W_V^h s points the same way for two inputs."""
    b0, b1 = _layer_bias(E, 0), _layer_bias(E, 1)
    return E.h.minors(b0, b1), 0 * E.h.minors(b0, b0)


def longer_fixed_direction(E: EnvView) -> tuple[Quantity, Quantity]:
    """(false for n_S >= 2) the bias sum_m alpha_im W_V s_m points the same way for two inputs."""
    b0, b1 = E.view(0).bias, E.view(1).bias
    return E.h.minors(b0, b1), 0 * E.h.minors(b0, b0)


# ---- full fine-tuning (eq. 7): a statement on a fine-tuned head, at explicit sizes ------------------------------

FineTuneStatement = Callable[[FineTuneView], tuple[Quantity, Quantity]]
EQ7_SIZES: tuple[tuple[int, int, tuple[Mode, ...]], ...] = ((3, 2, ("exp", "positive")), (5, 3, ("positive",)))
EQ7_ABSTRACTION = "explicit matrices; exp(l) kept, or weights as positive symbols"


def _eq7(delta_H: bool, delta_V: bool) -> FineTuneStatement:
    """Full fine-tuning (eq. 7): ``t^ft_i`` with ``H + Delta H`` and ``W_V + Delta W_V`` against the prediction
    ``t_i + Delta W_V xbar_i`` (``xbar_i = sum_j A_ij x_j``), which is exact when ``Delta H = 0``."""

    def statement(E: FineTuneView) -> tuple[Quantity, Quantity]:
        return E.t_ft(delta_H, delta_V), E.t + E.dWV_xbar(delta_V)

    return statement


def _finetune_exact(n: int, d: int, mode: Mode) -> FineTuneHead:
    from theory.finetune import FineTuneHead

    return FineTuneHead(n=n, d=d, mode=mode)


def _finetune_float(B: int, n: int, d: int, seed: int) -> TorchFineTune:
    from numeric.attention import random_instances
    from numeric.finetune import TorchFineTune

    return TorchFineTune(random_instances(B, n, d, seed=seed), seed=seed)


def eq7_symbolic(statement: FineTuneStatement) -> Check:
    """sympy: ``statement`` on fine-tuned heads at n=3, d=2 (exp and positive weights), n=5, d=3 (positive)."""
    return symbolic_on_views(statement, _finetune_exact, EQ7_SIZES, EQ7_ABSTRACTION)


def eq7_numeric(statement: FineTuneStatement) -> Check:
    """torch: ``statement`` on random float64 fine-tuned heads (n=6, d=4)."""
    return numeric_on_view(statement, _finetune_float, "eq7")


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


def _derivation(name: str) -> Callable[[], Derivation]:
    return lazy_derivation("theory.section4", name)


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
