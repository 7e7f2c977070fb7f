"""The layered search engine: relaxations (theory.relax), exact Farkas certificates (theory.lp), realisation and
the orchestration (proofs.layered); the soundness sweep and the false twins of each relaxation."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from numeric.adapt import ConcreteHead
from proofs.layered import decide
from proofs.z3_search import FOUND, IMPOSSIBLE, Problem
from theory import kernel, relax
from theory.enclose import HeadEnclosure
from theory.lp import exact_multipliers, solve
from theory.smt_prefix import Method, Task


def random_problem(seed: int, d: int, n: int, R: int, method: Method, kind: str, tol: float = 1e-3,
                   scale: float = 2.0) -> Problem:
    """A seeded head (entries N(0, 1/d)), R inputs of n tokens, and targets: the float64 outputs of a planted
    parameter set (``kind="planted"``) or random far vectors (``"random"``)."""
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3)]
    X = rng.standard_normal((R, n, d))
    head = ConcreteHead(*[torch.tensor(w) for w in W], 1 / np.sqrt(d))
    if kind == "planted":
        if method.kind == "lora":
            params = {"B": torch.tensor(rng.standard_normal((d, method.rank))),
                      "A": torch.tensor(rng.standard_normal((method.rank, d))) / np.sqrt(d)}
        else:
            params = {"s": torch.tensor(rng.standard_normal((method.n_S, d)) * scale)}
        with torch.no_grad():
            Y = [head.last(torch.tensor(x), method.kind, method.matrix, params)[0].tolist() for x in X]
    else:
        Y = (rng.standard_normal((R, d)) * 3).tolist()
    return Problem(*[w.tolist() for w in W], method, Task(X.tolist(), Y, tol=tol), tau=None)


def lp_of(problem: Problem, builder: str, **kw: object) -> object:
    h = HeadEnclosure(problem.W_Q, problem.W_K, problem.W_V, problem.tau, problem.task.inputs)
    rel = getattr(relax, builder)(h, problem.task.outputs, problem.task.tol, **kw)
    return solve(rel, 10.0)


# ---- the engine end to end ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_planted_prefix_found_and_far_targets_impossible_with_certificate(seed):
    planted = decide(random_problem(seed, 16, 8, 6, Method("prefix", 1), "planted"), 30, fallback=False)
    assert planted.verdict == FOUND, planted.detail
    far = decide(random_problem(seed, 16, 8, 6, Method("prefix", 1), "random"), 30, fallback=False)
    assert far.verdict == IMPOSSIBLE, far.detail
    assert kernel.genuine(far.certificate) and far.certificate.kind == "unsat"
    assert "prefix.single.closed_form" in far.certificate.abstraction
    assert "d=16" in far.certificate.scope and "6 inputs" in far.certificate.scope


def test_shared_enclosure_decides_as_a_fresh_one_and_a_foreign_one_is_refused():
    far = random_problem(0, 16, 8, 6, Method("prefix", 1), "random")
    head = HeadEnclosure(far.W_Q, far.W_K, far.W_V, far.tau, far.task.inputs)
    shared, fresh = (decide(far, 30, fallback=False, enclosure=e) for e in (head, None))
    assert shared.verdict == fresh.verdict == IMPOSSIBLE
    assert shared.certificate.evidence == fresh.certificate.evidence
    other = random_problem(1, 16, 8, 6, Method("prefix", 1), "random")
    with pytest.raises(ValueError, match="not of this problem"):
        decide(other, 30, fallback=False, enclosure=head)


def test_reversed_ordering_is_impossible_for_a_prefix_and_kept_ordering_found():
    p = random_problem(3, 8, 5, 2, Method("prefix", 2), "planted")
    h = HeadEnclosure(p.W_Q, p.W_K, p.W_V, p.tau, p.task.inputs)
    raw = h.input(0).raw
    j, k = max(range(5), key=lambda i: raw[i]), min(range(5), key=lambda i: raw[i])
    bad = Problem(p.W_Q, p.W_K, p.W_V, p.method, Task(p.task.inputs, None, [[(k, j)], []]), tau=None)
    out = decide(bad, 20, fallback=False)
    assert out.verdict == IMPOSSIBLE and "fixed-orderings" in out.detail
    good = Problem(p.W_Q, p.W_K, p.W_V, p.method, Task(p.task.inputs, None, [[(j, k)], []]), tau=None)
    assert decide(good, 20, fallback=False).verdict == FOUND


def test_prefix_cone_certifies_targets_outside_the_column_space_of_W_V():
    p = random_problem(4, 6, 4, 3, Method("prefix", 2), "planted")
    W_V = [row[:] for row in p.W_V]
    W_V[0] = [0.0] * 6  # output coordinate 0 is always 0 + (frozen content part)
    Y = [y[:] for y in p.task.outputs]
    h = ConcreteHead.from_lists(p.W_Q, p.W_K, W_V, None)
    no_prefix = {"s": torch.zeros(0, 6, dtype=torch.float64)}
    t0 = [float(h.last(torch.tensor(x, dtype=torch.float64), "prefix", "W_K", no_prefix)[0][0]) for x in p.task.inputs]
    Y[1][0] = t0[1] + 1.0  # coordinate 0 cannot move: W_V s has no component there, and t_r is fixed
    out = decide(Problem(p.W_Q, p.W_K, W_V, p.method, Task(p.task.inputs, Y, tol=1e-3), tau=None), 20,
                 fallback=False)
    assert out.verdict == IMPOSSIBLE and "prefix-cone" in out.detail


def test_lora_on_W_V_found_and_inconsistent_targets_impossible():
    m = Method("lora", rank=1, matrix="W_V")
    assert decide(random_problem(5, 6, 4, 3, m, "planted"), 30, fallback=False).verdict == FOUND
    p = random_problem(5, 2, 3, 4, m, "planted")  # R = 4 inputs > d = 2
    Y = [y[:] for y in p.task.outputs]
    Y[3] = [v + 5.0 for v in Y[3]]
    out = decide(Problem(p.W_Q, p.W_K, p.W_V, m, Task(p.task.inputs, Y, tol=1e-3), tau=None), 30, fallback=False)
    assert out.verdict == IMPOSSIBLE and "value-linear" in out.detail


def test_lora_on_W_K_target_outside_the_value_hull_is_impossible():
    m = Method("lora", rank=1, matrix="W_K")
    p = random_problem(6, 4, 3, 2, m, "random")
    Y = [[100.0] * 4, p.task.outputs[1]]
    out = decide(Problem(p.W_Q, p.W_K, p.W_V, m, Task(p.task.inputs, Y, tol=1e-3), tau=None), 20, fallback=False)
    assert out.verdict == IMPOSSIBLE and "attention-hull" in out.detail


# ---- exact certificates --------------------------------------------------------------------------------------

def test_tampered_multipliers_are_refused_by_the_kernel():
    rows = [({"x": Fraction(1)}, "<=", Fraction(-1)), ({"x": Fraction(-1)}, "<=", Fraction(-1))]
    support, y = exact_multipliers(rows, [-1.0, -1.0])
    assert y is not None
    kernel.certify_farkas([rows[i] for i in support], [y[i] for i in support], "test", "none")
    with pytest.raises(kernel.KernelError):
        kernel.certify_farkas([rows[i] for i in support], [y[i] * (1 if i else 2) for i in support], "test", "none")


def test_a_floating_ray_on_a_feasible_system_gives_no_multipliers():
    """HiGHS is untrusted: a ray that is not an exact Farkas certificate of the exact rows is no proof."""
    rows = [({"x": Fraction(1)}, "<=", Fraction(1)), ({"x": Fraction(-1)}, "<=", Fraction(-1, 2**60))]
    assert exact_multipliers(rows, [1.0, 1.0])[1] is None


# ---- soundness sweep: planted witnesses are never IMPOSSIBLE -------------------------------------------------

SWEEP = 1000

CASES = [("prefix_ray", Method("prefix", 1)), ("prefix_cone", Method("prefix", 2)),
         ("attention_hull", Method("lora", rank=1, matrix="W_K")),
         ("value_linear", Method("lora", rank=1, matrix="W_V"))]


@pytest.mark.parametrize("builder,method", CASES, ids=[c[0] for c in CASES])
@pytest.mark.slow
def test_sweep_planted_targets_never_certified_impossible(builder, method):
    """SWEEP planted instances in all, split over the relaxations (sizes d 2..6, n 1..5, R 1..4, R up to d + 3 for
    W_V; prefix scales up to 12 so that prefix weights reach 1 - 1e-12 and 1e-12; tolerances down to 1e-12,
    where the enclosures' rounding matters): no relaxation may be infeasible on a reachable target."""
    rng = np.random.default_rng(13)
    for i in range(SWEEP // len(CASES)):
        d, n, R = int(rng.integers(2, 7)), int(rng.integers(1, 6)), int(rng.integers(1, 5))
        tol = float(10.0 ** -rng.integers(3, 13))
        if builder == "value_linear":
            R = d + int(rng.integers(0, 4))
        p = random_problem(1000 + i, d, n, R, method, "planted", tol=tol, scale=float(rng.choice([0.5, 2, 12])))
        if builder == "value_linear":
            h = HeadEnclosure(p.W_Q, p.W_K, p.W_V, p.tau, p.task.inputs)
            for c in range(d):
                rel = relax.value_linear(h, p.task.outputs, tol, c)
                assert rel is None or solve(rel, 10.0).status != "infeasible", (i, d, n, R, tol, c)
            continue
        ans = lp_of(p, builder)
        assert ans.status == "feasible", (i, d, n, R, tol, ans.status, ans.reason)


def test_sweep_catches_a_false_twin_relaxation():
    """The twin drops the content output t_r from the ray relaxation (segments from 0 instead of from t_r, as in
    the twin of prefix.reachable_segment): the sweep finds planted targets it would certify IMPOSSIBLE."""
    caught = 0
    for i in range(10):
        p = random_problem(2000 + i, 4, 3, 3, Method("prefix", 1), "planted")
        h = HeadEnclosure(p.W_Q, p.W_K, p.W_V, p.tau, p.task.inputs)
        rel = relax.prefix_ray(h, p.task.outputs, p.task.tol, ends="zero")
        caught += solve(rel, 10.0).status == "infeasible"
    assert caught >= 5


# ---- batch mode ------------------------------------------------------------------------------------------------

def test_batch_cli_writes_json_lines_and_summary(tmp_path, capsys):
    from proofs.cli import main

    probs = [random_problem(40 + h, 6, 4, 3, Method("prefix", 1), kind) for h, kind in enumerate(("planted", "random"))]
    arrays = {k: np.array([getattr(p, k) for p in probs]) for k in ("W_Q", "W_K", "W_V")}
    np.savez(tmp_path / "layer.npz", **arrays, X=np.array([p.task.inputs for p in probs]),
             Y=np.array([p.task.outputs for p in probs]))
    out = tmp_path / "out.jsonl"
    code = main(["search", "--batch", str(tmp_path / "layer.npz"), "--timeout", "20", "--jsonl", str(out)])
    import json

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["verdict"] for r in records] == ["FOUND", "IMPOSSIBLE"] and code == 0
    assert records[1]["certificate"]["kind"] == "unsat" and records[0]["params"]["s"]
    assert "2 jobs" in capsys.readouterr().out


def test_batch_cli_rejects_a_malformed_archive(tmp_path, capsys):
    from proofs.cli import main

    np.savez(tmp_path / "bad.npz", W_Q=np.zeros((2, 2)), W_K=np.zeros((2, 2)), W_V=np.zeros((2, 2)),
             X=np.zeros((3, 2, 5)), Y=np.zeros((3, 2)))
    assert main(["search", "--batch", str(tmp_path / "bad.npz")]) == 2
    assert "X must be" in capsys.readouterr().err


def test_highs_receives_every_coefficient_as_its_double():
    """`theory.lp._highs` converts each distinct rational once (shared by many rows): HiGHS must hold float(q) for
    every coefficient of every row, in row order, and the rows' bounds."""
    from theory.lp import _highs

    problem = random_problem(0, 8, 5, 4, Method("prefix", 1), "random")
    h_enc = HeadEnclosure(problem.W_Q, problem.W_K, problem.W_V, problem.tau, problem.task.inputs)
    rel = relax.prefix_ray(h_enc, problem.task.outputs, problem.task.tol)
    names = rel.variables
    lp = _highs(rel, names).getLp()
    index = {v: i for i, v in enumerate(names)}
    assert lp.a_matrix_.index_ == [index[v] for coeffs, _, _ in rel.rows for v in coeffs]
    assert lp.a_matrix_.value_ == [float(a) for coeffs, _, _ in rel.rows for a in coeffs.values()]
    assert lp.row_upper_ == [float(b) for _, _, b in rel.rows]
