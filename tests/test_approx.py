"""The follow-up's universal approximator (approx.*): every claim ok, every false twin caught in every layer, the
kernel's bound decisions, and the derived constants at their edges."""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from proofs.catalogue import approx as ap
from proofs.claim import Context, Status
from proofs.runner import run_claim
from proofs.testing import assert_caught
from theory import approx as A
from theory import approx_depth as D
from theory import approx_sphere as S
from theory import balls, kernel
from theory import branch_bound as BB

CTX = Context(seed=0)
SIN3 = (("sin(3*x)", 3),)


@pytest.mark.parametrize("claim", ap.CLAIMS, ids=lambda c: c.id)
def test_catalogue_claim_is_ok(claim):
    result = run_claim(claim, CTX)
    assert result.verdict == "ok", {k: (v.status, v.detail) for k, v in result.layers.items()}
    assert result.layers["symbolic"].status is Status.PROVED
    assert set(result.layers["symbolic"].certificate.kind.split("+")) <= {"enclosure", "zero-residual"}


TWINS = [
    ap.single_head_uniform_claim("twin.uniform_short", targets=SIN3, N=24),          # half the prefix length
    ap.single_head_uniform_claim("twin.uniform_cold", targets=SIN3, T=4),            # far below any threshold
    ap.prefix_length_bound_claim("twin.one_step_short", cases=((1, Fraction(1, 4)),), n_offset=-1),
    ap.prefix_length_bound_claim("twin.below_threshold", cases=((1, Fraction(1, 4)),), t_scale=Fraction(1, 2)),
    ap.consistent_claim("twin.prefix_overrides_content", drop_content=True),
    ap.sphere_uniform_claim("twin.sphere_coarse_grid", rings=2),                    # grid too coarse for ε
    ap.depth_linear_claim("twin.depth_coarse_grid", N=4),                            # 4 prefix positions per layer
    ap.depth_linear_claim("twin.depth_cold", T=20),                                  # temperature far too low
]


@pytest.mark.parametrize("twin", TWINS, ids=lambda c: c.id)
def test_false_twin_is_caught_in_every_layer(twin):
    assert_caught(twin)


def test_check_bound_records_certified_wrong_and_undecided():
    with kernel.enclosure_session() as ledger:
        assert kernel.check_bound((Fraction(1), Fraction(2)), Fraction(2)) is True
        assert kernel.check_bound((Fraction(3), Fraction(4)), Fraction(2)) is False
        assert kernel.check_bound((Fraction(1), Fraction(3)), Fraction(2)) is None
        assert kernel.check_bound((Fraction(2), Fraction(3)), Fraction(2), above=True) is True
    assert (ledger.certified, ledger.wrong, ledger.undecided) == (2, 1, 1)
    with pytest.raises(kernel.KernelError):
        kernel.certify_enclosure(ledger, 2, "test", "none")


def test_prefix_length_is_the_least_length_below_eps():
    import math

    for L, eps in ((1, Fraction(1, 4)), (3, Fraction(1, 20)), (Fraction(7, 3), Fraction(1, 1000))):
        n = A.prefix_length(eps, Fraction(L))
        assert math.pi * float(L) / n < eps <= math.pi * float(L) / (n - 1)


def test_a_cover_with_a_gap_is_not_certified():
    result = A.sup_abs(lambda a, b: A.q_arb(Fraction(1, 10)), 8)
    assert A.CIRCLE.covers([box for box, _ in result.cover])
    result.cover.pop(3)
    assert not A.CIRCLE.covers([box for box, _ in result.cover])
    with pytest.raises(kernel.KernelError):
        BB.certify_cover(result, Fraction(1), "test", "none", "constant")


def _parabola(box):
    """q(x) = x (1 − x) on a box [a, b] of [0, 1] (naive interval evaluation: sup q = 1/4 at x = 1/2)."""
    with balls.precision():
        X = balls.interval(*box)
        return X * (1 - X)


def test_branch_and_bound_encloses_a_known_sup_and_certifies_only_true_bounds():
    unit = BB.Interval(Fraction(0), Fraction(1), "[0, 1]")
    result = BB.sup_abs(_parabola, unit, unit.pieces(3), rtol=Fraction(1, 1000))
    assert result.complete and result.lower <= Fraction(1, 4) <= result.upper <= Fraction(1, 4) * Fraction(1001, 1000)
    assert result.argmax[0] <= Fraction(1, 2) <= result.argmax[1]
    cert = BB.certify_cover(result, result.upper, "q = x(1 − x) on [0, 1]", "naive intervals", "|q|")
    assert kernel.genuine(cert) and cert.kind == "enclosure"
    false = Fraction(1, 4) - Fraction(1, 1000)                 # below the true sup: refuted, never certified
    refuted = BB.sup_abs(_parabola, unit, unit.pieces(3), bound=false)
    assert refuted.verdict(false) == "above" and refuted.lower > false
    with pytest.raises(kernel.KernelError):
        BB.certify_cover(refuted, false, "false bound", "naive intervals", "|q|")
    with pytest.raises(kernel.KernelError):                   # the true sup's cover, checked against the false bound
        BB.certify_cover(result, false, "false bound", "naive intervals", "|q|")
    short = BB.sup_abs(_parabola, unit, unit.pieces(3), rtol=Fraction(0), max_boxes=8)   # budget runs out
    assert not short.complete and short.verdict(Fraction(1)) == "undecided"
    with pytest.raises(kernel.KernelError):
        BB.certify_cover(short, Fraction(1), "incomplete", "naive intervals", "|q|")


def test_branch_and_bound_on_a_rectangle():
    """|sin θ cos φ| over the sphere's parameter rectangle: sup 1 (θ = π/2, φ = 0 or π), split along the longer side."""
    def q(box):
        with balls.precision():
            return balls.interval(box[0], box[1]).sin() * balls.interval(box[2], box[3]).cos()

    result = BB.sup_abs(q, S.PARAMETERS, S.PARAMETERS.pieces(2, 4), rtol=Fraction(1, 100))
    assert result.lower <= 1 <= result.upper <= Fraction(101, 100)
    assert S.PARAMETERS.covers([box for box, _ in result.cover])
    assert BB.certify_cover(result, result.upper, "test", "none", "|q|").kind == "enclosure"


def test_table_target_certifies_the_whole_lipschitz_class():
    import math

    J = 64
    values = [math.sin(2 * math.pi * j / J) for j in range(J)]
    table = A.Table(values, Fraction(1))
    eps = Fraction(3, 10)
    n = A.prefix_length(eps, Fraction(1))
    con = A.for_target(table, n, A.class_temperature(Fraction(1), eps, n))
    result = A.sup_abs(A.Enclosure(con, target=table).box, 8 * n, bound=eps)
    assert result.complete and result.upper <= eps
    with pytest.raises(ValueError, match="not 1/2-Lipschitz"):
        A.Table(values, Fraction(1, 2))


def test_expression_must_live_on_the_circle():
    with pytest.raises(ValueError, match="periodic"):
        A.Expression.parse("x", Fraction(1))
    with pytest.raises(ValueError, match="unsupported"):
        A.Expression.parse("gamma(sin(x))", Fraction(1))


def test_low_temperature_smoothing_can_beat_the_class_bound():
    """For smooth f the softmax smoothing interpolates: sin(3x) at N = 48 is closer at T = 200 than at T(ε)."""
    f = A.Expression.parse("sin(3*x)", Fraction(3))
    sups = {}
    for T in (200, 1447):
        con = A.for_target(f, 48, T)
        sups[T] = A.sup_abs(A.Enclosure(con, target=f).box, 8 * 48, rtol=Fraction(1, 20)).upper
    assert sups[200] < Fraction(1, 2) * sups[1447]


def _cli(*args: str) -> tuple[int, str]:
    import os
    import subprocess
    import sys

    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "proofs", "construct", "approx", *args], capture_output=True,
                          text=True, env=env)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
def test_construct_approx_prints_the_certified_and_sampled_errors(tmp_path):
    import json

    code, out = _cli("--f", "sin(x)", "--lipschitz", "1", "--eps", "0.3", "--json", str(tmp_path / "r.json"))
    assert code == 0, out
    assert "certified" in out and "sampled" in out and "N = 11" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["certified_sup_lower"] <= data["sampled_max_error"] <= data["certified_sup_upper"] <= 0.3
    code, out = _cli("--f", "sin(x)", "--lipschitz", "1", "--eps", "0.3", "--N", "4")
    assert code == 1 and "fails" in out, out
    code, out = _cli("--table", "[0, 0.5, 0, -0.5]", "--lipschitz", "1", "--eps", "0.5", "--N", "4",
                     "--max-boxes", "500")
    assert code == 3 and "undecided" in out, out                    # a class is never refuted by its envelope
    import math

    table = json.dumps([math.sin(2 * math.pi * j / 64) for j in range(64)])
    code, out = _cli("--table", table, "--lipschitz", "1", "--eps", "0.3")
    assert code == 0 and "every 1-Lipschitz f through the 64 table values" in out, out


@pytest.mark.parametrize("args, message", [
    (("--f", "x", "--lipschitz", "1", "--eps", "0.1"), "periodic"),
    (("--f", "sin(", "--lipschitz", "1", "--eps", "0.1"), "cannot parse"),
    (("--table", "[0, 4]", "--lipschitz", "1", "--eps", "0.1"), "Lipschitz"),
    (("--f", "sin(x)", "--lipschitz", "-1", "--eps", "0.1"), "positive"),
])
@pytest.mark.slow
def test_construct_approx_bad_input_is_one_line_exit_2(args, message):
    code, out = _cli(*args)
    assert code == 2 and message in out and "Traceback" not in out, out


def test_sphere_cover_check_is_exact():
    """The spherical boxes must tile [0, π] x [0, 2π]: removing one box, or stopping short of 2π, is caught."""
    f = S.SphereTarget("z", Fraction(1))
    result = S.sup_abs(S.SphereEnclosure(S.build(2, 4, f), f).box, (2, 4), Fraction(3))
    boxes = [bx for bx, _ in result.cover]
    assert S.PARAMETERS.covers(boxes)
    assert not S.PARAMETERS.covers(boxes[:3] + boxes[4:])
    assert not S.PARAMETERS.covers([(a, b, c, min(d, Fraction(6))) for a, b, c, d in boxes])
    assert BB.certify_cover(result, Fraction(3), "test", "none", "|H − f|").kind == "enclosure"
    with pytest.raises(kernel.KernelError):
        BB.certify_cover(dataclasses.replace(result, cover=result.cover[1:]), Fraction(3), "test", "none", "|H − f|")


def test_ring_grid_covering_radius_and_size():
    """n_i >= 2 n sin θ_i on every ring (certified enclosures), so the covering radius is <= π/n; N ≈ 4n²/π."""
    import math

    for n in (2, 3, 6, 12):
        sizes = S.ring_sizes(n)
        assert all(hi < 0 for _, hi in S.check_ring_sizes(n, sizes))
        assert 4 * n * n / math.pi <= sum(sizes) <= 4 * n * n / math.pi + n + 1
    assert any(lo > 0 for lo, _ in S.check_ring_sizes(6, [s - 1 for s in S.ring_sizes(6)]))


def test_sphere_target_rejects_foreign_symbols():
    with pytest.raises(ValueError, match="x, y, z"):
        S.SphereTarget("x + t", Fraction(1))


def test_depth_model_runs_the_exact_layers():
    """The float64 three-layer reference model and the exact arb evaluation of the same weights agree, and the
    sum layer is exactly (s_1 + s_2) / 2."""
    from numeric.approx import depth_outputs

    psi, phi = D.Univariate(ap.DEPTH_PSI), D.Univariate(ap.DEPTH_PHI)
    h1, h3 = D.head_for(psi, 6, 40), D.head_for(phi, 6, 40, -D.DELTA, 1 + D.DELTA)
    pts = [(0.1, 0.7), (0.55, 0.2), (1.0, 0.0)]
    out = depth_outputs(h1.floats(), h3.floats(), pts).tolist()
    for (u1, u2), o in zip(pts, out):
        exact = D.network_error(h1, h3, psi, phi, Fraction(u1), Fraction(u2)) + phi.enclose(
            (psi.enclose(A.q_arb(Fraction(u1))) + psi.enclose(A.q_arb(Fraction(u2)))) / 2)
        assert abs(float(exact.mid()) - o) < 1e-12
    assert kernel.decide_zero(D.sum_layer_residual(6)).status == "zero"


def test_sphere_head_float64_matches_the_exact_evaluation():
    """The width-3 reference model with the S^2 prefix and the arb evaluation of the same weights agree."""
    import math

    from numeric.approx import sampled_error_at

    f = S.SphereTarget("x*y + z/2", Fraction(9, 8))
    con = S.build(3, 12, f)
    for th, ph in ((Fraction(1, 3), Fraction(2)), (Fraction(5, 2), Fraction(-1, 7))):
        x = S.cartesian(float(th), float(ph))
        err, _ = sampled_error_at(con, [x], [f.value(x)])
        exact = S.error_at(con, f, th, ph)
        assert math.isclose(abs(float(exact.mid())), err, rel_tol=1e-9, abs_tol=1e-12)
