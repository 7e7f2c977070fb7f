"""`proofs.z3_search` and `prefixcheck search`: planted targets, forced re-check failures, timeouts, bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from numeric.adapt import ConcreteHead, recheck
from proofs.cli import main
from proofs.z3_search import FOUND, IMPOSSIBLE, UNKNOWN, Problem, search
from theory import kernel
from theory.smt_prefix import Method, Task

SEP_HEAD = {"W_Q": [[0, 1], [0, 0]], "W_K": [[-3, 0], [0, 0]], "W_V": [[1, 0], [0, 1]], "tau": 1.0}
SEP_INPUTS = [[[0, 1], [1, 1]], [[0, 1], [2, 1]], [[1, 1], [2, 1]]]
SEP_TARGETS = [[1, 1], [2, 1], [2, 1]]


def planted(seed: int, n_S: int, d: int = 2, n_inputs: int = 3) -> tuple[Problem, torch.Tensor]:
    """A random head on the 1/8 grid, inputs, and the outputs a random prefix s* reaches (rounded to 2^-12)."""
    g = torch.Generator().manual_seed(seed)
    grid = lambda *s: torch.round(torch.randn(*s, generator=g, dtype=torch.float64) * 8) / 8  # noqa: E731
    W_Q, W_K, W_V = grid(d, d), grid(d, d), grid(d, d)
    inputs = [grid(r + 1, d) for r in range(n_inputs)]
    s_star = grid(n_S, d)
    head = ConcreteHead(W_Q, W_K, W_V, 1.0)
    targets = [(torch.round(head.last(X, "prefix", "W_K", {"s": s_star})[0] * 2**12) / 2**12).tolist()
               for X in inputs]
    task = Task([X.tolist() for X in inputs], targets, tol=1e-3)
    return Problem(W_Q.tolist(), W_K.tolist(), W_V.tolist(), Method("prefix", n_S), task, tau=1.0), s_star


def independent_recheck(problem: Problem, params: dict) -> float:
    head = ConcreteHead.from_lists(problem.W_Q, problem.W_K, problem.W_V, problem.tau)
    m = problem.method
    X = [torch.tensor(x, dtype=torch.float64) for x in problem.task.inputs]
    P = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    t = problem.task
    return recheck(head, m.kind, m.matrix, P, X, t.outputs, t.orderings, t.tol).max_error


@pytest.mark.parametrize("seed,n_S", [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)])
def test_planted_reachable_is_found_and_validated(seed, n_S):
    problem, _ = planted(seed, n_S)
    out = search(problem, 60.0)
    assert out.verdict == FOUND, out.detail
    assert independent_recheck(problem, out.params) <= problem.task.tol


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.slow
def test_planted_unreachable_is_impossible(seed):
    """Targets whose rays from t_1 and t_2 run in opposite directions, orthogonal to t_2 - t_1, never meet
    at a common W_V s: no prefix reaches them."""
    problem, _ = planted(seed, 1)
    head = ConcreteHead.from_lists(problem.W_Q, problem.W_K, problem.W_V, 1.0)
    empty = {"s": torch.zeros(0, 2, dtype=torch.float64)}
    t = [head.last(torch.tensor(x, dtype=torch.float64), "prefix", "W_K", empty)[0] for x in problem.task.inputs]
    diff = t[1] - t[0]
    g = torch.stack([-diff[1], diff[0]]) / diff.norm()
    off = [(t[0] + g).tolist(), (t[1] - g).tolist(), (t[2] + g).tolist()]
    problem.task = Task(problem.task.inputs, off, tol=1e-3)
    out = search(problem, 60.0, cvc5=True)
    assert out.verdict == IMPOSSIBLE, out.detail
    assert out.cvc5 and out.cvc5.startswith("agrees")


@pytest.mark.slow
def test_found_from_a_z3_model_without_starts():
    """No optimisation starts: the FOUND parameters come from realising a z3 model (then re-checked)."""
    problem, _ = planted(2, 1)
    out = search(problem, 60.0, starts=0)
    assert out.verdict == FOUND and "z3 model realised" in out.detail, out.detail
    assert independent_recheck(problem, out.params) <= problem.task.tol


def test_separation_prefix_impossible_lora_found():
    task = Task(SEP_INPUTS, SEP_TARGETS, tol=0.05)
    mats = (SEP_HEAD["W_Q"], SEP_HEAD["W_K"], SEP_HEAD["W_V"])
    assert search(Problem(*mats, Method("prefix", 2), task, tau=1.0), 30.0).verdict == IMPOSSIBLE
    lora = Problem(*mats, Method("lora", rank=1, matrix="W_Q"), task, tau=1.0)
    out = search(lora, 30.0)
    assert out.verdict == FOUND and independent_recheck(lora, out.params) <= 0.05


def test_solver_first_skips_the_starts_on_unsat_only():
    """solver_first: an UNSAT lean query is IMPOSSIBLE before any L-BFGS start (cvc5 still asked); a reachable task
    is FOUND by the same seeded start as without it, after the lean query's model."""
    task = Task(SEP_INPUTS, SEP_TARGETS, tol=0.05)
    mats = (SEP_HEAD["W_Q"], SEP_HEAD["W_K"], SEP_HEAD["W_V"])
    out = search(Problem(*mats, Method("prefix", 2), task, tau=1.0), 30.0, cvc5=True, solver_first=True)
    assert out.verdict == IMPOSSIBLE and [q["query"] for q in out.queries] == ["lean"], out.queries
    assert kernel.genuine(out.certificate) and out.cvc5 and out.cvc5.startswith("agrees")
    problem, _ = planted(1, 1)
    first, plain = (search(problem, 60.0, seed=7, solver_first=f) for f in (True, False))
    assert first.verdict == plain.verdict == FOUND
    assert first.detail == plain.detail and first.params == plain.params
    assert [q["query"] for q in first.queries] == ["lean"] + [q["query"] for q in plain.queries]


def test_model_failing_recheck_is_unknown_never_found():
    """Force it: every realisation is replaced by the model's parameters pushed far off, and no polishing."""
    problem = Problem(SEP_HEAD["W_Q"], SEP_HEAD["W_K"], SEP_HEAD["W_V"], Method("lora", rank=1, matrix="W_Q"),
                      Task(SEP_INPUTS, SEP_TARGETS, tol=0.05), tau=1.0)

    def broken(enc, model):
        return [("corrupted", {k: torch.tensor(v, dtype=torch.float64) + 100.0
                               for k, v in enc.model_params(model).items()})]

    out = search(problem, 60.0, polish=False, candidates=broken)
    assert out.verdict == UNKNOWN
    assert "did not survive re-checking" in out.detail and out.params is None


def _big_problem() -> Problem:
    g = torch.Generator().manual_seed(7)
    W = [torch.randn(4, 4, generator=g, dtype=torch.float64).tolist() for _ in range(3)]
    inputs = [torch.randn(5, 4, generator=g, dtype=torch.float64).tolist() for _ in range(4)]
    targets = torch.randn(4, 4, generator=g, dtype=torch.float64).tolist()
    return Problem(*W, Method("lora", rank=2, matrix="W_K"), Task(inputs, targets, tol=1e-3))


def test_tiny_timeout_is_unknown():
    out = search(_big_problem(), 0.001)
    assert out.verdict == UNKNOWN, out.detail


# ---- the command --------------------------------------------------------------------------------------------

def _write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def _run(tmp_path, head=SEP_HEAD, inputs=SEP_INPUTS, targets=SEP_TARGETS, extra=()):
    h = head if isinstance(head, str) and head.endswith(".npz") else _write(tmp_path, "head.json", head)
    argv = ["search", "--head", h, "--inputs", _write(tmp_path, "inputs.json", inputs)]
    if targets is not None:
        argv += ["--targets", _write(tmp_path, "targets.json", targets)]
    return main([*argv, "--tol", "0.05", *extra])


def test_cli_found_writes_validated_witness(tmp_path, capsys):
    out = tmp_path / "w.json"
    code = _run(tmp_path, extra=["--method", "lora", "--matrix", "W_K", "--out", str(out)])
    assert code == 0 and "FOUND" in capsys.readouterr().out
    w = json.loads(out.read_text())
    problem = Problem(SEP_HEAD["W_Q"], SEP_HEAD["W_K"], SEP_HEAD["W_V"], Method("lora", rank=1, matrix="W_K"),
                      Task(SEP_INPUTS, SEP_TARGETS, tol=0.05), tau=1.0)
    assert independent_recheck(problem, w["params"]) <= 0.05


def test_cli_impossible_with_npz_head_and_cvc5(tmp_path, capsys):
    npz = tmp_path / "head.npz"
    np.savez(npz, **{k: np.array(v, dtype=float) for k, v in SEP_HEAD.items()})
    code = _run(tmp_path, head=str(npz), extra=["--n-prefix", "2", "--cvc5"])
    text = capsys.readouterr().out
    assert code == 0 and "IMPOSSIBLE" in text and "abstraction" in text and "agrees" in text


def test_cvc5_error_is_an_answer_not_a_crash():
    from theory.smt_cvc5 import check_smtlib

    answer, _ = check_smtlib("(assert (> x 0))\n(check-sat)\n", 5.0)
    assert answer.startswith("error:")


def test_cli_json_outcome(tmp_path, capsys):
    report = tmp_path / "o.json"
    assert _run(tmp_path, extra=["--n-prefix", "2", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["verdict"] == "IMPOSSIBLE" and data["queries"][-1]["result"] == "unsat"
    assert "tau = 1.0 (the head file's)" in data["abstraction"] and "1/sqrt(k)" not in data["abstraction"]


def test_abstraction_names_the_default_tau_only_without_one():
    from proofs.z3_search import ABSTRACTION, DEFAULT_TAU, abstraction_for

    assert DEFAULT_TAU in ABSTRACTION and abstraction_for(None) == ABSTRACTION
    assert DEFAULT_TAU not in abstraction_for(0.25) and "tau = 0.25" in abstraction_for(0.25)


def test_cli_tiny_timeout_exit_3(tmp_path, capsys):
    p = _big_problem()
    code = _run(tmp_path, head={"W_Q": p.W_Q, "W_K": p.W_K, "W_V": p.W_V}, inputs=p.task.inputs,
                targets=p.task.outputs, extra=["--method", "lora", "--rank", "2", "--timeout", "0.001"])
    assert code == 3 and "UNKNOWN" in capsys.readouterr().out


BAD = [
    ("malformed json", dict(head="{not json")),
    ("missing W_V", dict(head={"W_Q": [[1]], "W_K": [[1]]})),
    ("mis-shaped W_K", dict(head={**SEP_HEAD, "W_K": [[1, 0, 0], [0, 1, 0]]})),
    ("ragged W_Q", dict(head={**SEP_HEAD, "W_Q": [[1, 0], [0]]})),
    ("NaN entry", dict(head=json.dumps({**SEP_HEAD, "W_V": [[math.nan, 0], [0, 1]]}))),
    ("inf entry", dict(head=json.dumps({**SEP_HEAD, "W_K": [[math.inf, 0], [0, 0]]}))),
    ("string entry", dict(head={**SEP_HEAD, "W_Q": [["a", 1], [0, 0]]})),
    ("bad tau", dict(head={**SEP_HEAD, "tau": -1})),
    ("target dimension", dict(targets=[[1, 1, 1], [2, 1, 1], [2, 1, 1]])),
    ("target count", dict(targets=[[1, 1]])),
    ("token dimension", dict(inputs=[[[0, 1, 2]]])),
    ("inf target", dict(targets=json.dumps([[1, 1], [2, math.inf], [2, 1]]))),
    ("no targets", dict(targets=None)),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, case):
    code = _run(tmp_path, **case[1])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("prefixcheck: error:") and "\n" not in err and "Traceback" not in err


def test_cli_bad_files(tmp_path, capsys):
    assert main(["search", "--head", str(tmp_path / "nope.json"), "--inputs", "x", "--targets", "y"]) == 2
    bad = tmp_path / "h.npz"
    bad.write_bytes(b"not an archive")
    assert _run(tmp_path, head=str(bad)) == 2
    orders = _write(tmp_path, "o.json", [[[0, 5]], [], []])
    assert _run(tmp_path, targets=None, extra=["--orderings", orders]) == 2
    errs = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(errs) == 3 and all(e.startswith("prefixcheck: error:") for e in errs)


def test_exp_enclosure_is_rigorous():
    import random
    from fractions import Fraction

    import mpmath

    from theory.smt_prefix import Tau, exp_enclosure

    rng = random.Random(0)
    mpmath.mp.dps = 80
    for _ in range(200):
        x = Fraction(rng.randint(-10**6, 10**6), rng.randint(1, 10**4))
        lo, hi = exp_enclosure(x, x)
        true = mpmath.exp(mpmath.mpf(x.numerator) / x.denominator)
        assert mpmath.mpf(lo.numerator) / lo.denominator <= true
        assert hi is None or true <= mpmath.mpf(hi.numerator) / hi.denominator
        assert hi is None or hi > 0
    lo, hi = Tau(inv_sqrt=3).bounds()
    assert mpmath.mpf(lo.numerator) / lo.denominator < 1 / mpmath.sqrt(3) < mpmath.mpf(hi.numerator) / hi.denominator


def test_exp_lower_cache_returns_the_kernel_bound():
    from theory.kernel import exp_bounds
    from theory.smt_prefix import TANGENT_POINTS, exp_lower

    for c in TANGENT_POINTS:
        assert exp_lower(c) == exp_lower.__wrapped__(c) == exp_bounds(c, c)[0]
