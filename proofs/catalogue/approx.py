"""Beyond the paper: the authors' follow-up, "Prompting a Pretrained Transformer Can Be a Universal Approximator"
(Petrov, Torr, Bibi, ICML 2024, arXiv 2402.14753; paper-notes 7). Its body was not available: the mechanism (a
single head whose prefix keys sit on a grid over S^1 with values f(grid point), a temperature concentrating the
attention on the nearest key) is reconstructed, and every constant below (N(ε), T(ε), the necessary temperature)
is our own, derived in theory/approx.py and docs/approximation.md.

Layers: *symbolic* is certified — interval branch-and-bound over the whole circle with outward-rounded arb balls
(kernel ``enclosure`` certificates via `theory.kernel.check_bound`), exact sympy zero residuals for the Section 4
identities; *numeric* runs the same weights in float64 on the reference transformer (`numeric.approx`). A refuted
statement carries a witness (a target f and an angle) whose error is certified above ε and re-checked in float64.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import partial

from proofs.claim import Claim, Context, Expected, LayerResult, Status

SECTION = "follow-up: universal approximation"
PAPER_REF = ("Abstract of the follow-up (Petrov, Torr, Bibi, ICML 2024, arXiv 2402.14753; paper-notes 7); mechanism "
             "and constants reconstructed [R]")
RECONSTRUCTED = ("reconstructed from the follow-up's abstract (paper-notes 7); constants derived here "
                 "(docs/approximation.md), not the paper's")

# default sizes: a few seconds in total
UNIFORM_TARGETS: tuple[tuple[str, int], ...] = (("sin(3*x)", 3), ("cos(x) + sin(2*x)/2", 2), ("exp(cos(x))", 3))
UNIFORM_EPS = Fraction(1, 5)
UNIFORM_RTOL = Fraction(1, 50)            # the certified sup is refined to within 2% of its certified lower end
LENGTH_CASES: tuple[tuple[int, Fraction], ...] = ((1, Fraction(1, 4)), (1, Fraction(1, 8)))   # (L, ε)
RANDOM_TARGETS, RANDOM_TERMS = 12, 5


# ---- approx.single_head_uniform ---------------------------------------------------------------------------------

def single_head_uniform_claim(id: str = "approx.single_head_uniform",
                              targets: Sequence[tuple[str, int]] = UNIFORM_TARGETS, eps: Fraction = UNIFORM_EPS,
                              N: int | None = None, T: int | None = None, expected: Expected = "holds") -> Claim:
    """For each (f, L): with N prefix positions (default N(ε)) and temperature T (default T(ε) of (4) with
    M = certified sup |f|), sup over the circle of |H − f| <= ε. ``N`` / ``T`` override (false twins)."""

    def symbolic(ctx: Context) -> LayerResult:
        from theory import kernel
        from theory.approx import ABSTRACTION, Enclosure, expression, for_target, sup_abs, uniform_sizes
        from theory.branch_bound import certify_cover

        certs, scopes, notes = [], [], []
        for text, L in targets:
            target = expression(text, Fraction(L))
            _, n, t = uniform_sizes(target, eps, N, T)
            result = sup_abs(Enclosure(for_target(target, n, t), target=target).box, 8 * n, rtol=UNIFORM_RTOL,
                             bound=eps)
            verdict = result.verdict(eps)
            if verdict == "above":
                a, b = result.argmax
                return LayerResult(Status.REFUTED, f"f={text}, N={n}, T={t}: |H − f| >= {float(result.lower):.6g} > "
                                   f"ε={eps} on every θ in [{float(a):.6g}, {float(b):.6g}] (certified)",
                                   witness={"f": text, "N": n, "T": t, "theta": [float(a), float(b)],
                                            "error_lower": float(result.lower)}, abstraction=ABSTRACTION)
            if verdict == "undecided":
                return LayerResult(Status.UNKNOWN, f"f={text}, N={n}, T={t}: certified sup in "
                                   f"[{float(result.lower):.6g}, {float(result.upper):.6g}], not decided against "
                                   f"ε={eps} within {result.evaluations} boxes", abstraction=ABSTRACTION)
            scopes.append(f"f = {text}, N = {n}, T = {t}, every θ in [0, 2π]")
            certs.append(certify_cover(result, result.upper, scopes[-1], ABSTRACTION, "|H − f|"))
            notes.append(f"{text}: N={n}, T={t}, certified sup |H − f| <= {float(result.upper):.4g} "
                         f"(>= {float(result.lower):.4g}; {len(result.cover)} boxes)")
        cert = kernel.conjoin(certs, "; ".join(scopes), "; ".join(notes))
        return LayerResult(Status.PROVED, f"all <= ε={eps}: " + "; ".join(notes), certificate=cert,
                           abstraction=ABSTRACTION, instances=len(targets))

    def numeric(ctx: Context) -> LayerResult:
        from numeric.approx import circle_error
        from theory.approx import expression, for_target, uniform_sizes

        worst, notes = 0.0, []
        for text, L in targets:
            target = expression(text, Fraction(L))
            _, n, t = uniform_sizes(target, eps, N, T)
            s = circle_error(for_target(target, n, t), target.values)
            worst = max(worst, s.max_error)
            notes.append(f"{text}: sampled max {s.max_error:.4g} at θ={s.theta:.4f} ({s.samples} angles)")
            if s.max_error > eps:
                return LayerResult(Status.VIOLATED, f"f={text}, N={n}, T={t}: sampled error {s.max_error:.6g} > "
                                   f"ε={eps} at θ={s.theta:.6g} (float64 reference model)", max_error=s.max_error,
                                   instances=s.samples, witness={"f": text, "N": n, "T": t, "theta": s.theta})
        return LayerResult(Status.CONSISTENT, "; ".join(notes), max_error=worst, instances=len(targets),
                           tolerance=f"sampled max |H − f| <= ε = {eps}")

    names = ", ".join(t for t, _ in targets)
    return Claim(
        id=id, title="one prefixed attention head approximates a Lipschitz f on S^1 uniformly (certified sup error)",
        paper_ref=PAPER_REF,
        statement=r"\sup_{\theta\in[0,2\pi]}\Big|\frac{\sum_m e^{T\hat g_m\cdot x}f(\varphi_m)+e\,w\cdot x}"
                  r"{\sum_m e^{T\hat g_m\cdot x}+e}-f(\theta)\Big|\le\varepsilon,\quad x=(\cos\theta,\sin\theta),\ "
                  r"\varphi_m=\tfrac{2\pi m}{N}",
        assumptions=(RECONSTRUCTED, f"f in {{{names}}} with the stated L, ε = {eps}, N = N(ε), T = T(ε) unless "
                     "overridden", "pretrained head W_Q = W_K = I_2, W_V = (1/2, -1/4), logit scale 1 "
                     "(numeric/approx.py)"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- approx.prefix_length_bound ---------------------------------------------------------------------------------

def prefix_length_bound_claim(id: str = "approx.prefix_length_bound",
                              cases: Sequence[tuple[int, Fraction]] = LENGTH_CASES, n_offset: int = 0,
                              t_scale: Fraction | None = None, expected: Expected = "holds") -> Claim:
    """For each (L, ε): N(ε) = ⌊π L / ε⌋ + 1 is the least N with π L / N < ε; at N(ε) + ``n_offset`` positions and
    temperature T(ε) (or ``t_scale`` times the necessary temperature T_nec) the construction meets ε for every
    L-Lipschitz f with |f| <= L π / 2; and the midpoint tent fails ε at N(ε) − 1 and at ⌈N(ε)/2⌉ (tightness)."""

    def sizes(L: int, eps: Fraction) -> tuple[int, int, int]:
        from theory.approx import class_temperature, necessary_temperature, prefix_length

        n0 = prefix_length(eps, Fraction(L))
        n = n0 + n_offset
        if t_scale is not None:
            t = max(1, math.floor(necessary_temperature(Fraction(L), eps, n0) * float(t_scale)))
        else:
            t = class_temperature(Fraction(L), eps, n0)
        return n0, n, t

    def symbolic(ctx: Context) -> LayerResult:
        from theory import kernel
        from theory.approx import (
            ABSTRACTION,
            Enclosure,
            build,
            certify_above,
            certify_prefix_length,
            class_sup,
            midpoint_tent_error,
            sup_abs,
        )
        from theory.balls import bounds
        from theory.branch_bound import certify_cover

        certs, notes = [], []
        for L, eps in cases:
            n0, n, t = sizes(L, eps)
            Lq, M = Fraction(L), class_sup(Fraction(L))
            # N(ε) is least: π L / N(ε) < ε <= π L / (N(ε) − 1)
            certs.append(certify_prefix_length(eps, Lq)[1])
            # the class statement at (n, t): W of (1) <= ε on a cover of the circle
            result = sup_abs(Enclosure(build(n, t, [0.0] * n), lipschitz=Lq, sup_f=M).box, 8 * n, rtol=None,
                             bound=eps)
            if result.verdict(eps) != "below":     # W bounds the class from above only: refute with the tent
                theta, err, _ = midpoint_tent_error(n, t, Lq, M)
                if bounds(err)[0] > eps:
                    return LayerResult(
                        Status.REFUTED, f"L={L}, ε={eps}, N={n}, T={t}: the tent f = {float(M):.4g} − {L}·d(θ, θ*) "
                        f"centred at the cell midpoint θ*={float(theta.mid()):.6g} has |H − f|(θ*) >= "
                        f"{float(bounds(err)[0]):.6g} > ε (certified)", abstraction=ABSTRACTION,
                        witness={"L": L, "eps": str(eps), "N": n, "T": t, "theta": float(theta.mid()),
                                 "f": f"{float(M)} - {L}*dist(x, {float(theta.mid())})",
                                 "error_lower": float(bounds(err)[0])})
                return LayerResult(Status.UNKNOWN, f"L={L}, ε={eps}, N={n}, T={t}: class bound W in "
                                   f"[{float(result.lower):.6g}, {float(result.upper):.6g}] not decided",
                                   abstraction=ABSTRACTION)
            certs.append(certify_cover(result, eps, f"every {L}-Lipschitz f with |f| <= {float(M):.6g}, N = {n}, "
                                       f"T = {t}, every θ", ABSTRACTION, "the class bound W of (1)"))
            # tightness: the midpoint tent fails at N(ε) − 1 and at ⌈N(ε)/2⌉
            for short in (n0 - 1, -(-n0 // 2)):
                _, err, _ = midpoint_tent_error(short, t, Lq, M)
                certs.append(certify_above(err, eps, f"L = {L}, N = {short}, T = {t}", ABSTRACTION,
                                           f"midpoint tent error at N = {short}"))
            notes.append(f"L={L}, ε={eps}: N(ε)={n0}, T={t}, sup W <= {float(result.upper):.5g} "
                         f"({len(result.cover)} boxes); tent fails at N={n0 - 1} and N={-(-n0 // 2)}")
        scope = "; ".join(f"L = {L}, ε = {e}" for L, e in cases) + "; every L-Lipschitz f with |f| <= L π / 2"
        return LayerResult(Status.PROVED, "; ".join(notes), certificate=kernel.conjoin(certs, scope, "; ".join(notes)),
                           abstraction=ABSTRACTION, instances=len(cases))

    def numeric(ctx: Context) -> LayerResult:
        from numeric.approx import circle_error, one_error, random_lipschitz, trig
        from theory.approx import build, class_sup, grid_angles, midpoint_tent_error

        worst, notes = 0.0, []
        seed = ctx.child_seed("random-lipschitz")
        for L, eps in cases:
            n0, n, t = sizes(L, eps)
            M = class_sup(Fraction(L))
            theta, _, tent = midpoint_tent_error(n, t, Fraction(L), M)
            th = float(theta.mid())
            err = one_error(tent, th, float(M))
            worst = max(worst, err)
            if err > eps:
                return LayerResult(Status.VIOLATED, f"L={L}, ε={eps}, N={n}, T={t}: the midpoint tent has float64 "
                                   f"error {err:.6g} > ε at θ={th:.6g}", max_error=err, instances=1,
                                   witness={"L": L, "eps": str(eps), "N": n, "T": t, "theta": th})
            for k, coeffs in enumerate(random_lipschitz(float(L), RANDOM_TERMS, RANDOM_TARGETS, seed)):
                s = circle_error(build(n, t, trig(coeffs, grid_angles(n))), partial(trig, coeffs))
                worst = max(worst, s.max_error)
                if s.max_error > eps:
                    return LayerResult(Status.VIOLATED, f"L={L}, ε={eps}, N={n}, T={t}: random f #{k} (seed {seed}) "
                                       f"has error {s.max_error:.6g} > ε at θ={s.theta:.6g}", max_error=s.max_error,
                                       instances=k + 1, witness={"seed": seed, "target": k, "theta": s.theta})
            notes.append(f"L={L}, ε={eps}: midpoint tent {err:.5g}, {RANDOM_TARGETS} random trig polynomials <= ε")
        return LayerResult(Status.CONSISTENT, "; ".join(notes), max_error=worst,
                           instances=len(cases) * (RANDOM_TARGETS + 1), tolerance="float64 error <= ε")

    return Claim(
        id=id, title="Jackson-type prefix length: N(ε) = ⌊πL/ε⌋ + 1 positions meet ε for every L-Lipschitz f, "
                     "and fewer do not",
        paper_ref=PAPER_REF,
        statement=r"N(\varepsilon)=\lfloor \pi L/\varepsilon\rfloor+1,\ T(\varepsilon)=\Big\lceil\max\Big("
                  r"\tfrac{\log(2L\pi(N-2)/\mu)}{1-\cos h},\tfrac{1+\log(2C/\mu)}{\cos(h/2)}\Big)\Big\rceil:\ "
                  r"\sup_f\sup_\theta|H-f|\le\varepsilon,\ \text{and}\ >\varepsilon\ \text{at}\ N(\varepsilon)-1",
        assumptions=(RECONSTRUCTED, "f L-Lipschitz in arc length with |f| <= L π / 2, prefix values f(φ_m) exact",
                     f"(L, ε) in {[(L, str(e)) for L, e in cases]}"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


# ---- approx.consistent_with_limitation ---------------------------------------------------------------------------

MIX_SIZES: tuple[tuple[int, int], ...] = ((4, 1), (9, 3), (16, 8))   # (N, T) at float64-visible temperatures
MIX_TOKENS, MIX_INSTANCES = 3, 200


def consistent_claim(id: str = "approx.consistent_with_limitation", drop_content: bool = False,
                     expected: Expected = "holds") -> Claim:
    """On the construction with n content tokens: content attention ratios are those of the unprefixed head, the
    output is (1 − α) t_content + α t_prefix, a convex combination of the content values and the prefix values.
    ``drop_content``: the false statement that the output is the prefix mixture alone."""

    def symbolic(ctx: Context) -> LayerResult:
        from theory import kernel
        from theory.approx import mixture_residuals

        residuals = mixture_residuals(prefix_alone=drop_content)
        tests = []
        for what, r in residuals.items():
            test = kernel.decide_zero(r)
            if test.status == "nonzero":
                return LayerResult(Status.REFUTED, f"{what}: residual {test.value} at {test.witness}",
                                   witness={"statement": what, "point": test.witness, "residual": test.value})
            if test.status != "zero":
                return LayerResult(Status.UNKNOWN, f"{what}: residual not reduced ({test.method})")
            tests.append(test)
        cert = kernel.certify_zero(tests, "N = 3 grid prefix positions, n = 2 content tokens, every T > 0, every "
                                   "content vector, prefix value and W_V", "exact sympy exponentials")
        return LayerResult(Status.PROVED, "residual 0: " + "; ".join(residuals), certificate=cert,
                           abstraction="exact sympy exponentials; keys on the exact grid T (cos 2πm/3, sin 2πm/3)")

    def numeric(ctx: Context) -> LayerResult:
        from numeric.approx import mixture_check
        from theory.approx import build, grid_angles

        seed = ctx.child_seed("mixture")
        worst, tol = 0.0, ctx.tol
        for N, T in MIX_SIZES:
            m = mixture_check(build(N, T, [math.sin(3 * p) for p in grid_angles(N)]), MIX_TOKENS, MIX_INSTANCES, seed)
            errs = {"ratio": m.ratio, "mixture": m.mixture, "hull": m.hull}
            if drop_content:
                errs["drop_content"] = m.drop_content
            name, err = max(errs.items(), key=lambda kv: kv[1])
            worst = max(worst, err)
            if not err <= tol:
                return LayerResult(Status.VIOLATED, f"N={N}, T={T}: {name} error {err:.3g} > {tol:g} (seed {seed}, "
                                   f"{MIX_INSTANCES} sequences of {MIX_TOKENS} tokens)", max_error=err,
                                   instances=MIX_INSTANCES, witness={"seed": seed, "N": N, "T": T, "statement": name})
        return LayerResult(Status.CONSISTENT, f"max error {worst:.3g} <= {tol:g} over (N, T) in {MIX_SIZES}, "
                           f"{MIX_INSTANCES} random sequences of {MIX_TOKENS} tokens each (seed {seed})",
                           max_error=worst, instances=MIX_INSTANCES * len(MIX_SIZES), tolerance=f"abs <= {tol:g}")

    return Claim(
        id=id, title="the universal head still obeys Section 4: content attention ratios unchanged, output a "
                     "convex mix of content and prefix values",
        paper_ref="Sec. 4 (a prefix mixes in its values, content attention ratios unchanged) on the construction of "
                  "the follow-up (arXiv 2402.14753, abstract; paper-notes 7, reconstructed)",
        statement=r"\frac{A_{ij}}{A_{ik}}=\frac{A^0_{ij}}{A^0_{ik}},\quad t_i=(1-\alpha_i)\,t^0_i+\alpha_i\,"
                  r"\frac{\sum_m e^{T g_m\cdot x_i}f(\varphi_m)}{\sum_m e^{T g_m\cdot x_i}}",
        assumptions=(RECONSTRUCTED, "the grid construction with n content tokens, causal; universality comes from "
                     "the prefix keys and values, not from changed attention over the content"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)




# ---- approx.sphere_uniform ---------------------------------------------------------------------------------------

SPHERE_TARGETS: tuple[tuple[str, Fraction], ...] = (("x*y + z/2", Fraction(9, 8)),)   # |∇f| <= √5/2 < 9/8
SPHERE_EPS = Fraction(3, 5)
SPHERE_T = 16                               # a stated temperature (the sufficient one of (S2) is far larger)
SPHERE_SAMPLES = (48, 96)                   # (θ, φ) sample grid for the float64 layer


def sphere_uniform_claim(id: str = "approx.sphere_uniform",
                         targets: Sequence[tuple[str, Fraction]] = SPHERE_TARGETS, eps: Fraction = SPHERE_EPS,
                         rings: int | None = None, T: int = SPHERE_T, expected: Expected = "holds") -> Claim:
    """For each (f, L) on S^2: the ring grid with n(ε) = ⌊π L / ε⌋ + 1 rings (covering radius <= π / n, so
    L r < ε; ``rings`` overrides) and temperature T gives sup_{x ∈ S^2} |H(x) − f(x)| <= ε, certified by interval
    branch-and-bound over boxes in spherical coordinates."""

    def sizes(L: Fraction) -> int:
        from theory.approx_sphere import rings_for

        return rings if rings is not None else rings_for(eps, L)

    def symbolic(ctx: Context) -> LayerResult:
        from theory import kernel
        from theory.approx_sphere import ABSTRACTION, SphereEnclosure, SphereTarget, build, certify_rings, sup_abs
        from theory.branch_bound import certify_cover

        certs, notes = [], []
        for text, L in targets:
            n = sizes(L)
            ring_cert = certify_rings(n)            # the covering radius (S1): n_i >= 2 n sin θ_i on every ring
            if ring_cert is None:
                return LayerResult(Status.UNKNOWN, f"n={n}: ring sizes not shown >= 2 n sin θ_i")
            certs.append(ring_cert)
            target = SphereTarget(text, L)
            con = build(n, T, target)
            result = sup_abs(SphereEnclosure(con, target).box, (n, 2 * n), eps)
            verdict = result.verdict(eps)
            if verdict == "above":
                ta, tb, pa, pb = result.argmax
                return LayerResult(
                    Status.REFUTED, f"f={text}, n={n} rings (N={con.N}), T={T}: |H − f| >= {float(result.lower):.6g} "
                    f"> ε={eps} on every x(θ, φ) with θ in [{float(ta):.5g}, {float(tb):.5g}], φ in "
                    f"[{float(pa):.5g}, {float(pb):.5g}] (certified)", abstraction=ABSTRACTION,
                    witness={"f": text, "rings": n, "N": con.N, "T": T, "theta": [float(ta), float(tb)],
                             "phi": [float(pa), float(pb)], "error_lower": float(result.lower)})
            if verdict == "undecided":
                return LayerResult(Status.UNKNOWN, f"f={text}, n={n}, T={T}: certified sup in "
                                   f"[{float(result.lower):.6g}, {float(result.upper):.6g}] not decided against "
                                   f"ε={eps} within {result.evaluations} boxes", abstraction=ABSTRACTION)
            scope = f"f = {text} on S^2, n = {n} rings (N = {con.N}), T = {T}, every x in S^2"
            certs.append(certify_cover(result, eps, scope, ABSTRACTION, "|H − f|"))
            notes.append(f"{text}: n={n} rings, N={con.N}, T={T}: certified sup |H − f| <= "
                         f"{float(result.upper):.4g} <= ε ({len(result.cover)} boxes)")
        cert = kernel.conjoin(certs, f"f in {{{', '.join(t for t, _ in targets)}}}, every x in S^2, n(ε) rings, "
                              f"ε = {eps}, T = {T}", "; ".join(notes))
        return LayerResult(Status.PROVED, "; ".join(notes), certificate=cert, abstraction=ABSTRACTION,
                           instances=len(targets))

    def numeric(ctx: Context) -> LayerResult:
        from numeric.approx import sphere_error
        from theory.approx_sphere import SphereTarget, build

        worst, notes = 0.0, []
        rings_sampled, per_ring = SPHERE_SAMPLES
        for text, L in targets:
            n = sizes(L)
            target = SphereTarget(text, L)
            con = build(n, T, target)
            err, x = sphere_error(con, target.value, rings_sampled, per_ring)
            worst = max(worst, err)
            notes.append(f"{text}: sampled max {err:.4g} ({rings_sampled * per_ring} points, n={n}, N={con.N}, "
                         f"T={T})")
            if err > eps:
                return LayerResult(Status.VIOLATED, f"f={text}, n={n}, T={T}: float64 error {err:.6g} > ε={eps} at "
                                   f"x={tuple(round(c, 6) for c in x)}", max_error=err,
                                   instances=rings_sampled * per_ring, witness={"f": text, "rings": n, "T": T,
                                                                                "x": list(x)})
        return LayerResult(Status.CONSISTENT, "; ".join(notes), max_error=worst, instances=len(targets),
                           tolerance=f"sampled max |H − f| <= ε = {eps}")

    names = ", ".join(t for t, _ in targets)
    return Claim(
        id=id, title="one prefixed attention head approximates a Lipschitz f on the sphere S^2 uniformly "
                     "(ring grid, certified sup error)",
        paper_ref=PAPER_REF,
        statement=r"\sup_{x\in S^2}\Big|\frac{\sum_m e^{T g_m\cdot x}f(g_m)+e\,w\cdot x}{\sum_m e^{T g_m\cdot x}+e}"
                  r"-f(x)\Big|\le\varepsilon,\quad g_m\ \text{on}\ n(\varepsilon)=\lfloor\pi L/\varepsilon\rfloor+1"
                  r"\ \text{rings}",
        assumptions=(RECONSTRUCTED, f"f in {{{names}}} with the stated geodesic L, ε = {eps}, T = {T} (stated, "
                     "not derived)", "pretrained head W_Q = W_K = I_3, W_V = (1/2, -1/4, 0), logit scale 1"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)



# ---- approx.depth_linear -----------------------------------------------------------------------------------------

DEPTH_PSI, DEPTH_PHI = "(1 + sin(3*u))/2", "cos(2*u)"     # F(u1, u2) = cos(ψ(u1) + ψ(u2))
DEPTH_N, DEPTH_T, DEPTH_EPS = 16, 1000, Fraction(1, 5)
DEPTH_WITNESS_GRID, DEPTH_SAMPLES = 12, 40


def depth_linear_claim(id: str = "approx.depth_linear", N: int = DEPTH_N, T: int = DEPTH_T,
                       eps: Fraction = DEPTH_EPS, expected: Expected = "holds") -> Claim:
    """The Kolmogorov–Arnold instance of theory/approx_depth.py: n = 2 tokens, three layers of the reference model
    (prefixed head ψ, uniform-attention sum, prefixed head Φ), N prefix positions, temperature T:
    sup over [0, 1]^2 of |out_2 − Φ((ψ(u_1) + ψ(u_2))/2)| <= ε, certified by the budget e_3 + L_Φ e_1."""

    def symbolic(ctx: Context) -> LayerResult:
        from theory import kernel
        from theory.approx_depth import (
            ABSTRACTION,
            DELTA,
            budget,
            certify_budget,
            derivative_box,
            grid_witness,
            head_error,
            instance,
            sum_layer_residual,
            sup_abs,
        )
        from theory.branch_bound import certify_cover

        psi, phi, h1, h3 = instance(DEPTH_PSI, DEPTH_PHI, N, T)
        zero, one = Fraction(0), Fraction(1)
        r1 = sup_abs(head_error(h1, psi, (zero, one)), zero, one, 4 * N)                    # e_1
        r3 = sup_abs(head_error(h3, phi, (-DELTA, 1 + DELTA)), -DELTA, 1 + DELTA, 4 * N)    # e_3
        rl = sup_abs(derivative_box(phi), -DELTA, 1 + DELTA, 16)                          # L_Φ
        total = budget(r1.upper, r3.upper, rl.upper)
        scope = (f"n = 2 tokens, every (u1, u2) in [0, 1]^2, ψ = {DEPTH_PSI}, Φ = {DEPTH_PHI}, N = {N}, T = {T}, "
                 "the three layers of numeric.approx.depth_model")
        if all(r.complete for r in (r1, r3, rl)) and r1.upper <= DELTA and total <= eps:
            certs = [certify_cover(r1, r1.upper, f"layer 1 head vs ψ, u in [0, 1], 1 or 2 content tokens, N = {N}, "
                                   f"T = {T}", ABSTRACTION, "|s − ψ(u)|"),
                     certify_cover(r3, r3.upper, f"layer 3 head vs Φ, a in [−1/8, 9/8], N = {N}, T = {T}",
                                   ABSTRACTION, "|out − Φ(a)|"),
                     certify_cover(rl, rl.upper, "Φ' on [−1/8, 9/8]", ABSTRACTION, "|Φ'|"),
                     certify_budget(psi, r1.upper, total, eps)]
            test = kernel.decide_zero(sum_layer_residual(N))
            if test.status != "zero":
                return LayerResult(Status.UNKNOWN, f"layer 2 identity not reduced ({test.status})")
            certs.append(kernel.certify_zero([test], f"layer 2 at token 2, N = {N}", "exact sympy"))
            detail = (f"e1 = sup|s − ψ| <= {float(r1.upper):.4g}, e3 = sup|out − Φ| <= {float(r3.upper):.4g}, "
                      f"L_Φ <= {float(rl.upper):.6g}, layer 2 exact: sup |out − F| <= e3 + L_Φ e1 = "
                      f"{float(total):.4g} <= ε = {eps} ({len(r1.cover)} + {len(r3.cover)} boxes)")
            return LayerResult(Status.PROVED, detail, certificate=kernel.conjoin(certs, scope, detail),
                               abstraction=ABSTRACTION, instances=1)
        # the budget does not decide: look for a certified counterexample on a grid of inputs (edges included)
        best, where = grid_witness(h1, h3, psi, phi, DEPTH_WITNESS_GRID)
        if best > eps:
            return LayerResult(Status.REFUTED, f"N={N}, T={T}: |out − F| >= {float(best):.6g} > ε={eps} at "
                               f"(u1, u2) = ({float(where[0]):.4g}, {float(where[1]):.4g}) (exact arb evaluation "
                               "of the three layers)", abstraction=ABSTRACTION,
                               witness={"N": N, "T": T, "u": [float(where[0]), float(where[1])],
                                        "error_lower": float(best)})
        return LayerResult(Status.UNKNOWN, f"budget e3 + L e1 = {float(total):.4g} not <= ε={eps} (e1 = "
                           f"{float(r1.upper):.4g}, e3 = {float(r3.upper):.4g}) and no grid point exceeds ε",
                           abstraction=ABSTRACTION)

    def numeric(ctx: Context) -> LayerResult:
        from numeric.approx import depth_error
        from theory.approx_depth import instance

        psi, phi, h1, h3 = instance(DEPTH_PSI, DEPTH_PHI, N, T)
        err, u = depth_error(h1.floats(), h3.floats(), lambda a, b: phi.value((psi.value(a) + psi.value(b)) / 2),
                             DEPTH_SAMPLES)
        inputs = (DEPTH_SAMPLES + 1) ** 2
        if err > eps:
            return LayerResult(Status.VIOLATED, f"N={N}, T={T}: float64 error {err:.6g} > ε={eps} at (u1, u2) = "
                               f"{u}", max_error=err, instances=inputs, witness={"N": N, "T": T, "u": list(u)})
        return LayerResult(Status.CONSISTENT, f"sampled max |out − F| = {err:.4g} at {u} ({inputs} inputs, float64 "
                           "reference model)", max_error=err, instances=inputs, tolerance=f"sampled max <= ε = {eps}")

    return Claim(
        id=id, title="a small instance of the depth construction: two tokens, a Kolmogorov–Arnold composition "
                     "Φ((ψ(u1) + ψ(u2))/2) by three layers (two prefixed heads and a sum), certified",
        paper_ref=PAPER_REF,
        statement=r"\sup_{(u_1,u_2)\in[0,1]^2}\big|\mathrm{out}_2(u_1,u_2)-\Phi\big(\tfrac{\psi(u_1)+\psi(u_2)}{2}"
                  r"\big)\big|\le\varepsilon,\ \psi=\tfrac{1+\sin 3u}{2},\ \Phi=\cos 2u",
        assumptions=(RECONSTRUCTED, f"n = 2 tokens only (the paper's statement is for every n; depth here is 3), "
                     f"N = {N} prefix positions per layer, T = {T}, ε = {eps}",
                     "layers as in theory/approx_depth.py and numeric.approx.depth_model"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)

CLAIMS = [single_head_uniform_claim(), prefix_length_bound_claim(), consistent_claim(), sphere_uniform_claim(),
          depth_linear_claim()]
