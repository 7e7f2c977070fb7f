"""Section 3 of the paper: soft prompting has exponentially more capacity than prompting (paper-notes 2.1, 3 and
5 items 12, 15, 18-21). The constructions are exact rational weights built in `theory.constructions`; the same
weights, as floats, run on the reference transformer (`numeric.model`, via `numeric.constructions`).

Layers: *symbolic* is exact — sympy identities (residual 0) for the read-out, the temperature condition and the
head sums, and the exact interval evaluator (`theory.exact`) certifying every greedy step of a construction
(the abstraction is stated: rational weights, ``exp`` and ``sqrt`` enclosed with proven error bounds); *numeric*
runs the same weights in float64 on the reference model; *smt* is z3 over reals (a sound relaxation of integer
tokens). The factories below take the piece a false twin changes (a virtual-token offset, a read-out, a bound).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from proofs.claim import Claim, Context, Expected, LayerResult, Status
from proofs.constructions import DEFAULT, Construction, Offset
from proofs.factories import lazy_derivation

if TYPE_CHECKING:
    from numeric.constructions.sweeps import SweepResult
    from numeric.constructions.transformer import Weights as FloatWeights
    from theory.constructions.sweeps import ExactSweep
    from theory.derivation import Derivation
    from theory.kernel import ZeroTest

SECTION = "3 capacity"
EXACT = ("exact rational weights and inputs (or boxes of inputs covering families of targets); sqrt(L) and exp "
         "enclosed by outward-rounded fixed-point intervals (Taylor bounds with remainder); a step counts only if one "
         "logit interval lies above all others")
# the sizes every construction claim sweeps: proofs.constructions.DEFAULT (also `prefixcheck construct sweep`)
SEED_LABELS: dict[Construction, str] = {"single_virtual_token": "single-virtual-token",
                                        "conditional_map": "conditional-map",
                                        "conditional_sequence": "conditional-sequence", "two_token_map": "two-token"}


def _derivation_tests(derivations: Sequence[Derivation], seed: int) -> list[ZeroTest] | LayerResult:
    """The zero tests of every step of the `theory.capacity` derivations, or UNKNOWN naming a step not reduced."""
    tests = []
    for d in derivations:
        check = d.check(seed)
        if not check.ok:
            step = "?" if check.failed is None else check.failed.index
            return LayerResult(Status.UNKNOWN, f"derivation '{d.title}' step {step} not reduced")
        tests += [st.test for st in check.steps]
    return tests


def _fmt_case(case: dict[str, Any] | None) -> str:
    return "" if case is None else "; ".join(f"{k}={v}" for k, v in case.items())


def _exact_result(sweeps: Sequence[ExactSweep], what: str) -> LayerResult:
    """PROVED if every case of every exact sweep is certified correct; REFUTED on a certified wrong output;
    UNKNOWN if some step could not be certified."""
    cases = sum(s.cases for s in sweeps)
    for s in sweeps:
        if s.failures:
            return LayerResult(Status.REFUTED, f"{s.construction} {s.sizes}: {s.failures}/{s.cases} cases decode "
                               f"wrongly in exact arithmetic; first: {_fmt_case(s.first_failure)}",
                               instances=cases, witness=s.first_failure, abstraction=EXACT)
    for s in sweeps:
        if s.uncertified:
            return LayerResult(Status.UNKNOWN, f"{s.construction} {s.sizes}: {s.uncertified} cases not certified; "
                               f"first: {_fmt_case(s.first_uncertified)}", instances=cases, abstraction=EXACT)
    from theory.kernel import certify_enclosure

    sizes = "; ".join(f"{s.construction} ({', '.join(f'{k}={v}' for k, v in s.sizes.items())})" for s in sweeps)
    cert = certify_enclosure([s.ledger for s in sweeps], cases, f"the cases swept: {sizes}", EXACT)
    return LayerResult(Status.PROVED, f"{what}: all {cases} cases certified exactly", instances=cases,
                       abstraction=EXACT, certificate=cert)


def _float_result(sweeps: Sequence[SweepResult], what: str) -> LayerResult:
    cases = sum(s.cases for s in sweeps)
    for s in sweeps:
        if s.failures:
            return LayerResult(Status.VIOLATED, f"{s.construction} {s.sizes} ({s.dtype}): {s.failures}/{s.cases} "
                               f"cases decode wrongly; first: {_fmt_case(s.first_failure)}", instances=cases,
                               max_error=1.0, witness=s.first_failure)
    return LayerResult(Status.CONSISTENT, f"{what}: all {cases} cases decode correctly on the float64 reference "
                       f"model", instances=cases, max_error=0.0)


Prelude = Callable[[Context], LayerResult | str]  # an extra exact check: a failing result, or its detail


def _construction_claim(construction: Construction, offset: Offset, *, id: str, title: str, paper_ref: str,
                        statement: str, assumptions: tuple[str, ...], expected: Expected,
                        prelude: Prelude | None = None) -> Claim:
    """A construction claim checked by its sweeps of the plan `proofs.constructions.DEFAULT`: *symbolic* certifies
    every exact sweep (after ``prelude``, an extra exact check), *numeric* runs every float64 sweep. ``offset``
    shifts one virtual-token coordinate in every sweep (a false twin)."""
    plan = DEFAULT[construction]

    def symbolic(ctx: Context) -> LayerResult:
        before = prelude(ctx) if prelude is not None else ""
        if isinstance(before, LayerResult):
            return before
        seed = ctx.child_seed(f"{SEED_LABELS[construction]}-exact")
        result = _exact_result([s.run_exact(seed, offset=offset) for s in plan if s.exact],
                               "; ".join(s.label for s in plan if s.exact) + f" (seed {seed})")
        if result.status is Status.PROVED and before:
            result.detail = f"{before}; exact: {result.detail}"
        return result

    def numeric(ctx: Context) -> LayerResult:
        seed = ctx.child_seed(f"{SEED_LABELS[construction]}-float")
        return _float_result([s.run_float(seed, offset=offset) for s in plan if not s.exact],
                             "; ".join(s.label for s in plan if not s.exact) + f" (seed {seed}), every input")

    return Claim(id=id, title=title, paper_ref=paper_ref, statement=statement, assumptions=assumptions,
                 expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric)


def single_token_claim(id: str = "capacity.single_virtual_token", offset: Offset = None,
                       expected: Expected = "holds") -> Claim:
    """Theorem 1; ``offset`` shifts one virtual-token coordinate (a false twin)."""
    return _construction_claim(
        "single_virtual_token", offset, id=id, expected=expected,
        title="one virtual token makes a fixed 1-layer 2-head model generate any Y in [V]^N",
        paper_ref="Sec. 3, Theorem 1 (the companion code's construction); notes 2.1, 3.1, 5 item 18",
        statement=r"\forall Y\in[V]^N:\ \mathrm{greedy}(s_1)=Y,\quad s_1=\big(\tfrac{Y_1-1}{V},\dots,"
                  r"\tfrac{Y_N-1}{V}\big)",
        assumptions=("the construction of theory/constructions/unconditional.py: width 2N (content + one-hot "
                     "position), no LN/residual/mask/W_O, T = 50, logits T q.k / sqrt(L)", "greedy decoding",
                     "all V^N targets at once through boxes of virtual tokens: one per length and symbol (hard "
                     "tokens carry no content)"))


MAP_SYMBOLIC_V = (2, 3, 4, 5)


def _map_heads(offset: Offset) -> Prelude:
    def check(ctx: Context) -> LayerResult | str:
        from theory.capacity import map_head_sums

        for V in MAP_SYMBOLIC_V:
            bad = map_head_sums(V, offset)
            if bad is not None:
                x, test = bad
                return LayerResult(Status.REFUTED, f"V={V}, x={x}: summed heads differ from r + onehot(x) "
                                   f"(residual {test.value} at {test.witness})",
                                   witness={"V": V, "x": x, "point": test.witness})
        return (f"sympy: at position 1 the summed heads are exactly r + onehot(x) for every T (E = e^(T/sqrt 2) "
                f"symbolic; V in {MAP_SYMBOLIC_V}), so ReLU(h-1) keeps r_x = m(x)/V")

    return check


def conditional_map_claim(id: str = "capacity.conditional_map", offset: Offset = None,
                          expected: Expected = "holds") -> Claim:
    return _construction_claim(
        "conditional_map", offset, id=id, expected=expected, prelude=_map_heads(offset),
        title="one virtual token realises any map [V] -> [V] in a fixed 1-layer 2-head model",
        paper_ref="Sec. 3, Theorem 2 (companion construction (a)); notes 2.1, 3.2, 5 item 19",
        statement=r"\forall m:[V]\to[V]\ \forall x:\ \mathrm{greedy}(r, x)=m(x),\quad r=\big(m(x)/V\big)_{x\in[V]}",
        assumptions=("theory/constructions/conditional.py build_map: width V + 2, E = one-hot content, T = 100",))


def conditional_sequence_claim(id: str = "capacity.conditional_sequence", offset: Offset = None,
                               expected: Expected = "holds") -> Claim:
    return _construction_claim(
        "conditional_sequence", offset, id=id, expected=expected,
        title="N0 virtual tokens realise any map [V] -> [V]^N0 in a fixed 1-layer 2-head model",
        paper_ref="Sec. 3, Theorem 2 (companion construction (b)); notes 2.1, 3.3, 5 item 20",
        statement=r"\forall m:[V]\to[V]^{N_0}\ \forall x:\ \mathrm{greedy}(vt_1..vt_{N_0}, x)=m(x),\quad "
                  r"vt_k=\big(m(x)_k/V\big)_x",
        assumptions=("theory/constructions/conditional.py build_sequence: width V + 2 N0, T = 100",))


def two_token_claim(id: str = "capacity.two_token_map", offset: Offset = None, expected: Expected = "holds") -> Claim:
    return _construction_claim(
        "two_token_map", offset, id=id, expected=expected,
        title="one virtual token realises any map [V]^2 -> [V] in a fixed 2-layer model (explicit decoder)",
        paper_ref="Sec. 3, Theorem 2 (companion construction (c)); notes 2.1, 3.4, 5 item 21",
        statement=r"\forall m:[V]^2\to[V]\ \forall x_1,x_2:\ \mathrm{greedy}(r, x_1, x_2)=m(x_1,x_2),\quad "
                  r"r_i=\sum_j m(i,j)V^{-(j+1)}",
        assumptions=("theory/constructions/two_token.py: 2 layers, 2 heads each, the digit extraction is an explicit "
                     "ReLU MLP (2V + 2 affine maps), T = 1000, no dummy prefix token",
                     "float64 resolves the table only for V <= 13 (float32: V <= 7); exact arithmetic for any V"))


# ---- capacity.decoder_identity -----------------------------------------------------------------------------------

Readout = Callable[[Any, Any, Any], Any]  # (u, V, z) -> logit, for sympy and z3 alike
Weights = Callable[[int, int], Any]       # (V, d) -> Sparse W_U reading z from coordinate 0, 1 from coordinate 1
DECODER_V = (2, 3, 5, 10, 94)


def _default_readout() -> Readout:
    from theory.capacity import readout

    return readout


def _default_weights() -> Weights:
    from theory.constructions.network import decoder

    return decoder


def decoder_claim(id: str = "capacity.decoder_identity", readout: Readout | None = None,
                  weights: Weights | None = None, expected: Expected = "holds") -> Claim:
    """``readout`` is the formula, ``weights`` builds the construction's ``W_U``; both default to the real ones."""

    def symbolic(ctx: Context) -> LayerResult:
        import sympy as sp

        from theory import capacity
        from theory.kernel import certify_zero, decide_zero, exact, exact_floats

        f = readout or _default_readout()
        build = weights or _default_weights()
        tests = _derivation_tests((capacity.decoder_identity(), capacity.decoder_gap()), ctx.seed)
        if isinstance(tests, LayerResult):
            return tests
        u, V, z = capacity.u, capacity.Vs, capacity.z
        with exact_floats():
            formula = f(u, V, z)
        test = decide_zero(formula - ((z - sp.Rational(1, 2)) ** 2 - (z - u / V) ** 2), ctx.seed)
        if test.status != "zero":
            return LayerResult(Status.REFUTED, f"f_u(z) - [(z-1/2)^2 - (z-u/V)^2] = {test.value} at {test.witness}",
                               witness={"point": test.witness, "residual": test.value,
                                        "exact_residual": test.exact_value})
        tests.append(test)
        for Vn in DECODER_V:
            W = build(Vn, 2).dense()
            for un in range(Vn):
                row = exact(sp.sympify(W[un][0]) * z + sp.sympify(W[un][1]))
                with exact_floats():
                    want = f(sp.Integer(un), sp.Integer(Vn), z)
                t = decide_zero(row - want, ctx.seed)
                if t.status != "zero":
                    return LayerResult(Status.REFUTED, f"W_U row {un} at V={Vn} is {row}, not f_u(z)",
                                       witness={"V": Vn, "u": un})
                tests.append(t)
        abstraction = "u, z real, V > 0"
        cert = certify_zero(tests, f"the read-out identity for all real u, z, V > 0; the W_U rows at V in {DECODER_V}",
                            abstraction)
        return LayerResult(Status.PROVED, "f_u(z) = (z-1/2)^2 - (z-u/V)^2 and f_u - f_w = (z-w/V)^2 - (z-u/V)^2 "
                           f"(residual 0; argmax = nearest grid point); W_U rows equal f_u at V in {DECODER_V}",
                           abstraction=abstraction, certificate=cert)

    def numeric(ctx: Context) -> LayerResult:
        import torch

        from numeric.constructions.sweeps import nearest_grid
        from proofs.constructions import float_matrix

        build = weights or _default_weights()
        z = torch.linspace(-0.25, 1.25, 12001, dtype=torch.float64)
        points = 0
        for Vn in DECODER_V:
            check = nearest_grid(float_matrix(build(Vn, 2)), z)
            points += check.points
            if check.first_mismatch is not None:
                zi, got, nearest = check.first_mismatch
                return LayerResult(Status.VIOLATED, f"V={Vn}, z={zi:.6g}: argmax {got}, nearest grid point {nearest}",
                                   instances=points, max_error=1.0, witness={"V": Vn, "z": zi})
        return LayerResult(Status.CONSISTENT, f"argmax_u f_u(z) is the nearest grid point at {points} values of z "
                           f"(V in {DECODER_V}, float64)", instances=points, max_error=0.0)

    def smt(ctx: Context) -> LayerResult:
        import z3

        from theory.smt import solve

        f = readout or _default_readout()
        u, w, z, V = z3.Reals("u w z V")
        nearer = (z - u / V) * (z - u / V) < (z - w / V) * (z - w / V)
        q = solve([V > 0, nearer, f(u, V, z) <= f(w, V, z)], ctx.timeout)
        abstraction = "u, w, z, V real with V > 0 (a relaxation of integer tokens: UNSAT covers them)"
        if q.result == "unsat":
            from theory.kernel import certify_unsat

            cert = certify_unsat([q], "real-relaxation", "all tokens u, w and V >= 1 (relaxed to reals), all z",
                                 abstraction)
            return LayerResult(Status.PROVED, "no z, u, w with u/V strictly nearer to z but f_u(z) <= f_w(z) "
                               f"(UNSAT in {q.seconds:.3f}s)", abstraction=abstraction, certificate=cert)
        if q.result == "unknown":
            return LayerResult(Status.UNKNOWN, f"z3: {q.reason}", abstraction=abstraction)
        vals = {str(k): str(q.model[k]) for k in q.model.decls()}
        return _decoder_witness(f, weights or _default_weights(), vals, abstraction)

    return Claim(
        id=id, title="the construction read-out f_u(z) = (z-1/2)^2 - (z-u/V)^2 decodes to the nearest grid point",
        paper_ref="Sec. 3, proof of Theorem 1 (the read-out f_u); notes 3, 5 item 12",
        statement=r"f_u(z)=\big(\tfrac{2u}{V}-1\big)z+\tfrac14-\tfrac{u^2}{V^2}=(z-\tfrac12)^2-(z-\tfrac uV)^2,\quad "
                  r"\arg\max_u f_u(z)=\arg\min_u|z-u/V|",
        assumptions=("the logit of token u is W_U[u] . [z, 1] (theory/constructions/network.py decoder)",),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric, smt=smt,
        derivation=lazy_derivation("theory.capacity", "decoder_gap"))


def _decoder_witness(f: Readout, build: Weights, vals: dict[str, str], abstraction: str) -> LayerResult:
    """A z3 model of a wrong read-out: search integer tokens at small V for a float64 witness on the real W_U."""
    import torch

    from numeric.constructions.sweeps import nearest_grid
    from proofs.constructions import float_matrix

    z = torch.linspace(0, 1, 4001, dtype=torch.float64)
    for Vn in range(2, 11):
        bad = nearest_grid(float_matrix(build(Vn, 2)), z).first_mismatch
        if bad is not None:
            zi, got, nearest = bad
            return LayerResult(Status.COUNTEREXAMPLE, f"z3 model {vals}; re-checked on the float64 W_U: V={Vn}, "
                               f"z={zi:.4g} decodes to {got}, nearest is {nearest}", abstraction=abstraction,
                               witness={"z3": vals, "V": Vn, "z": zi})
    return LayerResult(Status.UNKNOWN, f"z3 model {vals} did not survive re-checking on the float64 W_U",
                       abstraction=abstraction, witness={"z3": vals})


# ---- capacity.temperature_condition ------------------------------------------------------------------------------

Bound = Callable[[Any], Any]  # V -> the constant c(V) of the sufficient condition E > c(V) (L - 1)
TEMP_SIZE = (94, 20)
TEMP_SYMBOLIC = (5, 4)        # (V, N) of the head-sum tie to the real weights
TEMP_REL = Fraction(1, 10 ** 6)


def _paper_bound(V: Any) -> Any:
    return 4 * V - 1


def temperature_claim(id: str = "capacity.temperature_condition", bound: Bound = _paper_bound,
                      expected: Expected = "holds") -> Claim:
    """Sufficient condition ``e^{T/sqrt L} > bound(V) (L - 1)`` for Theorem 1 (paper: ``bound = 4V - 1``)."""

    def symbolic(ctx: Context) -> LayerResult:
        from theory import capacity
        from theory.constructions import unconditional
        from theory.constructions.sweeps import exact_unconditional
        from theory.kernel import certify_enclosure, certify_zero, conjoin

        tests = _derivation_tests((capacity.temperature_error(), capacity.temperature_margin(),
                                   capacity.sufficient_gap()), ctx.seed)
        if isinstance(tests, LayerResult):
            return tests
        # the construction's heads really produce a = E/(E+L-1): summed heads at every length L (V, N concrete)
        heads, bad_L = capacity.unconditional_head_sums(*TEMP_SYMBOLIC)
        if bad_L is not None:
            return LayerResult(Status.UNKNOWN, f"summed heads at L={bad_L} differ from the model of the derivation")
        # the bound must dominate the exact worst case (4V - 3)(L - 1) for every V >= 1
        abstraction = "E = e^{T/sqrt L} a positive symbol; V, L > 0; exact evaluator for the threshold"
        dominance = capacity.bound_dominance(bound, abstraction)
        if dominance.certificate is None:
            V_bad = dominance.counterexample
            if V_bad is None:
                return LayerResult(Status.UNKNOWN, f"bound(V) = {dominance.stated}: no coefficient sign decision "
                                   "that it dominates 4V - 3, and no integer V < 10^4 where it is below")
            return LayerResult(Status.REFUTED, f"bound(V) = {dominance.stated} is below the exact "
                               f"worst case 4V - 3 at V={V_bad}: E in (bound (L-1), (4V-3)(L-1)] fails for Y = V - 1",
                               witness={"V": V_bad, "bound": str(dominance.stated.subs(capacity.Vs, V_bad))})
        # exact confirmation of the threshold on the real weights (worst target, all V-1)
        Vn, Nn = TEMP_SIZE
        T_star = unconditional.threshold_T(Vn, Nn)
        worst = [[Vn - 1] * Nn]
        above = exact_unconditional(Vn, Nn, worst, T=Fraction(T_star) * (1 + TEMP_REL))
        below = exact_unconditional(Vn, Nn, worst, T=Fraction(T_star) * (1 - TEMP_REL))
        if not above.ok or below.failures != 1 or below.first_failure is None:
            return LayerResult(Status.UNKNOWN, f"exact threshold check at V={Vn}, N={Nn} inconclusive "
                               f"(above: {above.failures} failed / {above.uncertified} uncertified; below: "
                               f"{below.failures} failed)")
        scope = (f"the derivations for all V, L >= 1 and E > 0; bound(V) >= 4V - 3 for every V >= 1; "
                 f"the exact threshold "
                 f"at V={Vn}, N={Nn}")
        cert = conjoin([certify_zero(tests + heads, scope, abstraction), dominance.certificate,
                        certify_enclosure(above.ledger, 1, scope, abstraction)], scope,
                       "derivation residuals 0, a coefficient sign decision, and certified greedy steps")
        return LayerResult(
            Status.PROVED, "c - z = (L-1)(1+Y/V)/(E+L-1); Y decodes iff E > (2V+2Y-1)(L-1); bound(V)(L-1) >= "
            f"(4V-3)(L-1) = worst case; heads of the real weights give a = E/(E+L-1) (N={TEMP_SYMBOLIC[1]}); exact: "
            f"T* = sqrt(N) log((4V-3)(N-1)) = {T_star:.9g} at V={Vn}, N={Nn}: the all-(V-1) target is certified "
            f"at T*(1+1e-6) and certified wrong at T*(1-1e-6) ({below.first_failure['generated'][-3:]}...)",
            abstraction=abstraction, certificate=cert)

    def numeric(ctx: Context) -> LayerResult:
        import math

        import torch

        from numeric.constructions.sweeps import random_tuples, sweep_unconditional, threshold
        from proofs.constructions import float_weights
        from theory.constructions import unconditional

        def at(T: Fraction) -> FloatWeights:
            return float_weights(unconditional.build(Vn, Nn, T))

        Vn, Nn = TEMP_SIZE
        T_star = unconditional.threshold_T(Vn, Nn)
        T_bound = math.sqrt(Nn) * math.log(float(bound(Vn)) * (Nn - 1))
        worst = torch.full((1, Nn), Vn - 1, dtype=torch.long)
        seed = ctx.child_seed("temperature-sample")
        targets = torch.cat([worst, random_tuples(Vn, Nn, 200, seed)])
        at_bound = sweep_unconditional(at(Fraction(T_bound) * (1 + Fraction(1, 10 ** 9))), targets)
        if at_bound.failures:
            return LayerResult(Status.VIOLATED, f"just above the bound (T = {T_bound:.6g}) {at_bound.failures} of "
                               f"{at_bound.cases} targets fail; first: {_fmt_case(at_bound.first_failure)}",
                               instances=at_bound.cases, max_error=1.0, witness=at_bound.first_failure)
        hi = threshold(at(Fraction(T_star)), worst, T_star * 0.5, T_star * 2, 26)
        rel = abs(hi - T_star) / T_star
        below = sweep_unconditional(at(Fraction(T_star) * (1 - TEMP_REL)), worst)
        if rel > 1e-6 or below.first_failure is None:
            return LayerResult(Status.VIOLATED, f"float64 threshold {hi:.9g} vs closed form {T_star:.9g} "
                               f"(relative {rel:.2g}); below it the worst target "
                               f"{'fails' if below.failures else 'passes'}",
                               instances=at_bound.cases, max_error=rel)
        return LayerResult(Status.CONSISTENT, f"all {at_bound.cases} targets (worst + 200 random, seed {seed}) decode "
                           f"just above the bound T = {T_bound:.6g}; bisected threshold {hi:.9g} = T* {T_star:.9g} "
                           f"(relative {rel:.1g}); at T*(1-1e-6) the all-'{Vn - 1}' target generates "
                           f"...{below.first_failure['generated'][-3:]}", instances=at_bound.cases, max_error=rel)

    def smt(ctx: Context) -> LayerResult:
        import z3

        from theory.smt import solve

        E, L, V, Y = z3.Reals("E L V Y")
        a = E / (E + L - 1)
        zz = a * Y / V - (1 - a)
        wrong = z3.Or(zz <= 0, zz <= (Y - z3.RealVal("1/2")) / V)
        q = solve([E > 0, L >= 1, V >= 1, Y >= 1, Y <= V - 1, E > bound(V) * (L - 1), wrong], ctx.timeout)
        abstraction = ("E = e^{T/sqrt L} > 0, L, V, Y real (relaxing integers) with 1 <= Y <= V - 1; "
                       "Y = 0 always decodes")
        if q.result == "unsat":
            from theory.kernel import certify_unsat

            cert = certify_unsat([q], "real-relaxation", "all V >= 1, L >= 1, 1 <= Y <= V - 1 (relaxed to reals)",
                                 abstraction)
            return LayerResult(Status.PROVED, f"E > bound(V)(L-1) and a wrong decision is UNSAT ({q.seconds:.3f}s)",
                               abstraction=abstraction, certificate=cert)
        if q.result == "unknown":
            return LayerResult(Status.UNKNOWN, f"z3: {q.reason}", abstraction=abstraction)
        return _temperature_witness(bound, abstraction, ctx)

    return Claim(
        id=id, title="Theorem 1 decodes every target when e^{T/sqrt L} > (4V-1)(L-1); exact threshold (4V-3)(L-1)",
        paper_ref="Sec. 3, Theorem 1 (the condition on T); notes 3.1, 5 item 18",
        statement=r"e^{T/\sqrt L}>(4V-1)(L-1)\ \forall L\le N\ \Rightarrow\ \mathrm{greedy}(s_1)=Y\ \forall Y;\quad "
                  r"\text{exactly: } T>T^*=\sqrt N\log\big((4V-3)(N-1)\big)",
        assumptions=("the unconditional construction (both heads at weight a = E/(E+L-1))", "greedy decoding, "
                     "ties to the smaller token"),
        expected=expected, section=SECTION, symbolic=symbolic, numeric=numeric, smt=smt,
        derivation=lazy_derivation("theory.capacity", "temperature_margin"))


def _temperature_witness(bound: Bound, abstraction: str, ctx: Context) -> LayerResult:
    """The relaxed query is SAT: find integers V, N and a temperature above the bound where a target fails."""
    import math

    import torch

    from numeric.constructions.sweeps import sweep_unconditional
    from proofs.constructions import float_weights
    from theory.constructions import unconditional

    for Vn in range(2, 40):
        for Nn in range(2, 8):
            c = float(bound(Vn))
            if c * (Nn - 1) <= 0:
                continue
            T = math.sqrt(Nn) * math.log(c * (Nn - 1)) * (1 + 1e-9)
            if T > 0 and T < unconditional.threshold_T(Vn, Nn):
                res = sweep_unconditional(float_weights(unconditional.build(Vn, Nn, Fraction(T))),
                                          torch.full((1, Nn), Vn - 1, dtype=torch.long))
                if res.first_failure is not None:
                    return LayerResult(Status.COUNTEREXAMPLE, f"V={Vn}, N={Nn}, T={T:.6g} satisfies the bound but the "
                                       f"all-{Vn - 1} target generates {res.first_failure['generated']} (float64 "
                                       "reference model)", abstraction=abstraction,
                                       witness={"V": Vn, "N": Nn, "T": T, **res.first_failure})
    return LayerResult(Status.UNKNOWN, "z3 found a relaxed model but no integer case failed on the float64 model",
                       abstraction=abstraction)


# ---- capacity.hard_token_bound -----------------------------------------------------------------------------------

HARD_V, HARD_N, HARD_MODELS, HARD_LENGTHS = 8, 6, 3, (1, 2)
SOFT_PER_HARD, SOFT_SCALE, SAMPLES = 8, 3.0, 3
HardBound = Callable[[int, int], int]


def hard_token_claim(id: str = "capacity.hard_token_bound", lengths: Sequence[int] = HARD_LENGTHS,
                     bound: HardBound = lambda V, n_S: V ** n_S, decoding: str = "greedy",
                     soft_scale: float = SOFT_SCALE, expected: Expected = "holds") -> Claim:
    """On each of ``HARD_MODELS`` random float64 models (V = 8, two layers) and each prompt length n_S in ``lengths``:
    every one of the V^{n_S} hard prompts decoded (``decoding``: "greedy", or "sample" for the twin that drops
    determinism), distinct generations <= ``bound(V, n_S)``; and ``SOFT_PER_HARD * V^{n_S}`` soft prompts of the
    same length (N(0, soft_scale^2) vectors) on the same model give more than ``bound(V, n_S)``."""
    if decoding not in ("greedy", "sample"):
        raise ValueError(f"decoding must be 'greedy' or 'sample', got {decoding!r}")

    def numeric(ctx: Context) -> LayerResult:
        import torch

        from numeric.model import Config, Transformer
        from numeric.prompt_count import decode, distinct, hard_prompts
        from numeric.threads import one_thread

        V, N, seed = HARD_V, HARD_N, ctx.child_seed("hard-token")
        rows, cases = [], 0
        with one_thread():
            for r in range(HARD_MODELS):
                for n_S in lengths:
                    cfg = Config(vocab=V, d=16, n_layers=2, n_heads=2, norm="pre", pos="learned", causal=True,
                                 max_len=n_S + N)
                    model = Transformer(cfg, seed=seed + r)
                    g = torch.Generator().manual_seed(seed + 1000 * r + n_S)
                    hard = hard_prompts(V, n_S)
                    if decoding == "sample":
                        hard = hard.repeat(SAMPLES, 1)
                    n_hard = distinct(decode(model, hard, N, g if decoding == "sample" else None))
                    soft = torch.randn(SOFT_PER_HARD * V ** n_S, n_S, cfg.d, generator=g, dtype=cfg.dtype)
                    n_soft = distinct(decode(model, soft * soft_scale, N))
                    b = bound(V, n_S)
                    cases += 1
                    where = {"model": f"random#{r}", "seed": seed + r, "n_S": n_S, "bound": b, "hard": n_hard,
                             "soft": n_soft, "soft_prompts": len(soft)}
                    if n_hard > b or n_soft <= b:
                        why = (f"{n_hard} distinct generations from the hard prompts > bound {b}" if n_hard > b else
                               f"only {n_soft} distinct generations from {len(soft)} soft prompts, not above {b}")
                        return LayerResult(Status.VIOLATED, f"random#{r} (seed {seed + r}), n_S = {n_S}, "
                                           f"{decoding} decoding: {why}", instances=cases,
                                           max_error=float(max(n_hard - b, b + 1 - n_soft)), witness=where)
                    rows.append(f"n_S={n_S} #{r}: hard {n_hard} <= {b} < soft {n_soft}")
        return LayerResult(Status.CONSISTENT, f"V = {V}, {N} greedy tokens, every hard prompt of each length; "
                           f"soft: {SOFT_PER_HARD} V^n_S prompts N(0, {soft_scale:g}^2) (seed {seed}): "
                           + "; ".join(rows), instances=cases, max_error=0.0)

    return Claim(
        id=id, title="n_S hard tokens give at most V^{n_S} distinct greedy generations of a fixed model; soft "
                     "prompts of the same length give more on the same model",
        paper_ref="Sec. 3 (hard-token capacity: V^{n_S} prompts); notes 2.1, 5 item 15",
        statement=r"\big|\{\mathrm{greedy}(S)\,:\,S\in[V]^{n_S}\}\big|\le V^{n_S}"
                  r"<\big|\{\mathrm{greedy}(s)\,:\,s\in\mathbb R^{n_S\times d}\}\big|",
        assumptions=("deterministic (greedy) decoding of a fixed model", "all V^{n_S} hard prompts enumerated; the "
                     "soft count is a lower bound from sampled soft prompts"),
        expected=expected, section=SECTION, numeric=numeric)


CLAIMS = [
    hard_token_claim(),
    single_token_claim(),
    temperature_claim(),
    conditional_map_claim(),
    conditional_sequence_claim(),
    two_token_claim(),
    decoder_claim(),
]
