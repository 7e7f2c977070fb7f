"""Counterexample search on a concrete head: encode (`theory.smt_prefix`), solve (z3, optionally re-checked by
cvc5), realise the model as concrete parameters and re-check on a float64 torch head (`numeric.adapt`).

Verdicts (design.md soundness rules):

* IMPOSSIBLE: z3 says UNSAT on the over-approximating encoding (its abstraction is reported);
* FOUND: concrete parameters that pass the float64 re-check (every output within tol, every ordering strict);
* UNKNOWN: a timeout, solver ``unknown``, or a model that no realisation step turned into passing parameters.

Before any solver call, a few seeded L-BFGS starts on the float64 head (``starts``) look for parameters directly;
whatever they find is re-checked like any candidate (a FOUND never depends on where a candidate came from, only
on the re-check). Then the lean z3 query decides IMPOSSIBLE or gives a model; the realizability step tries, in
order: the model's own parameters; for a prefix, the least-squares ``s`` with ``W_V s_m = u_m`` and
``tau (W_Q x_q)^T W_K s_m = log p_m`` from the model's values and abstract weights; a short L-BFGS polish from
each; then one more z3 query with the richer tangent lemmas, whose model gets the same steps.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from theory.kernel import Certificate, KernelError, certify_unsat, genuine
from theory.smt_prefix import ABSTRACTION, BASE_TANGENTS, TANGENT_POINTS, AdaptedHeadEncoding, HeadData, Method, Task

FOUND, IMPOSSIBLE, UNKNOWN = "FOUND", "IMPOSSIBLE", "UNKNOWN"


@dataclass
class Problem:
    """A concrete head (float matrices, optional tau), a method and a task."""

    W_Q: list[list[float]]
    W_K: list[list[float]]
    W_V: list[list[float]]
    method: Method
    task: Task
    tau: float | None = None

    def head_data(self) -> HeadData:
        return HeadData.from_floats(self.W_Q, self.W_K, self.W_V, self.tau)


DEFAULT_TAU = "tau = 1/sqrt(k) exact"


def abstraction_for(tau: float | None) -> str:
    """The encoding's abstraction for a head with this ``tau``: ``1/sqrt(k)`` kept exact by default, else the head
    file's value as the exact rational of its float64."""
    if tau is None:
        return ABSTRACTION
    return ABSTRACTION.replace(DEFAULT_TAU, f"tau = {tau!r} (the head file's) as the exact rational of its float64")


@dataclass
class Outcome:
    verdict: str
    detail: str
    seconds: float = 0.0
    params: dict[str, list[list[float]]] | None = None
    max_error: float | None = None
    abstraction: str = ABSTRACTION
    queries: list[dict[str, Any]] = field(default_factory=list)
    cvc5: str | None = None
    certificate: Certificate | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("verdict", "certificate") and "certificate" in self.__dict__:
            if self.verdict == IMPOSSIBLE and not genuine(self.certificate):
                raise KernelError("IMPOSSIBLE needs a certificate issued by the trusted kernel (theory.kernel)")

    def to_json(self) -> dict[str, Any]:
        out = {"verdict": self.verdict, "detail": self.detail, "seconds": round(self.seconds, 4),
               "params": self.params, "max_error": self.max_error, "abstraction": self.abstraction,
               "queries": self.queries, "cvc5": self.cvc5}
        if self.certificate is not None:
            out["certificate"] = self.certificate.to_json()
        return out


Candidates = Callable[[AdaptedHeadEncoding, Any], list[tuple[str, dict[str, Any]]]]


def model_candidates(enc: AdaptedHeadEncoding, model: Any) -> list[tuple[str, dict[str, Any]]]:
    """Labelled parameter candidates from a z3 model: the model's own parameters, and (prefix) the least-squares
    s consistent with the model's prefix values and abstract weights."""
    import torch

    from numeric.adapt import prefix_from_weights
    from numeric.attention import DTYPE

    raw = {k: torch.tensor(v, dtype=DTYPE) for k, v in enc.model_params(model).items()}
    out = [("the model's parameters", raw)]
    if "s" in raw:
        p = torch.tensor(enc.model_prefix_weights(model), dtype=DTYPE)
        if bool((p > 0).all()):
            t = enc.task
            head = _torch_head(enc)
            X = [torch.tensor(x, dtype=DTYPE) for x in t.inputs]
            u = raw["s"] @ head.W_V.T
            out.append(("least-squares s from the model's values and weights",
                        {"s": prefix_from_weights(head, X, u, p.log())}))
    return out


def _torch_head(enc: AdaptedHeadEncoding) -> Any:
    from numeric.adapt import ConcreteHead

    h = enc.head
    to = lambda M: [[float(x) for x in row] for row in M]  # noqa: E731
    return ConcreteHead.from_lists(to(h.W_Q), to(h.W_K), to(h.W_V), h.tau.as_float())


def _query_record(label: str, enc: AdaptedHeadEncoding, solved: Any) -> dict[str, Any]:
    keep = ("conflicts", "decisions", "nlsat propagations", "nlsat stages", "max memory", "assertions")
    return {"query": label, "result": solved.result, "seconds": round(solved.seconds, 4),
            "constraints": len(enc.constraints), "reason": solved.reason,
            "stats": {k: v for k, v in solved.stats.items() if k in keep}}


def _random_start(m: Method, d: int, k: int, d_v: int, g: Any) -> dict[str, Any]:
    import torch

    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    if m.kind in ("prefix", "softprompt"):
        return {"s": randn(m.n_S, d) * 2}
    return {"B": randn(d_v if m.matrix == "W_V" else k, m.rank), "A": randn(m.rank, d)}


def _impossible(enc: AdaptedHeadEncoding, solved: Any, label: str, records: list[dict[str, Any]], cvc5: bool,
                timeout: float, start: float) -> Outcome:
    """IMPOSSIBLE from an UNSAT answer on ``enc`` (kernel certificate), with cvc5's second opinion if asked."""
    m, t = enc.method, enc.task
    cert = certify_unsat([solved], "exp-facts", f"this head and these {len(t.inputs)} input(s), every "
                         f"{m.describe()}", ABSTRACTION)
    out = Outcome(IMPOSSIBLE, f"z3 UNSAT in {solved.seconds:.3f}s ({label} lemmas, {len(enc.constraints)} "
                  f"constraints): no {m.describe()} meets the targets", queries=records, certificate=cert)
    if cvc5:
        from theory.smt_cvc5 import check_smtlib
        from theory.smt_prefix import to_smtlib

        answer, secs = check_smtlib(to_smtlib(enc.constraints), max(timeout, 1.0))
        verb = {"unsat": "agrees", "sat": "disagrees"}.get(answer, "did not confirm")
        out.cvc5 = f"{verb} ({answer}) in {secs:.3f}s"
        records[-1]["cvc5"] = {"result": answer, "seconds": round(secs, 4)}
        if answer == "sat":
            out.verdict, out.detail = UNKNOWN, out.detail + "; but cvc5 says sat: backends disagree"
    out.seconds = time.perf_counter() - start
    return out


def search(problem: Problem, timeout: float, *, cvc5: bool = False, polish: bool = True, starts: int = 4,
           seed: int = 0, candidates: Candidates = model_candidates, solver_first: bool = False) -> Outcome:
    """Decide whether ``problem.method`` can meet ``problem.task`` on the head (see the module docstring).
    ``polish=False`` turns every optimisation off (only solver models, as realised by ``candidates``).
    ``solver_first`` (for a task expected to be impossible): the lean z3 query is asked before the L-BFGS starts,
    so an UNSAT answer is IMPOSSIBLE at once, without the starts (which could only have found parameters); any
    other answer continues as without it (the starts, then that answer's model)."""
    start = time.perf_counter()
    head, m, t = problem.head_data(), problem.method, problem.task
    records: list[dict[str, Any]] = []
    lean: tuple[AdaptedHeadEncoding, Any] | None = None
    if solver_first:
        enc = AdaptedHeadEncoding(head, m, t, BASE_TANGENTS)
        lean = enc, enc.solve(timeout)
        records.append(_query_record("lean", *lean))
        if lean[1].result == "unsat":
            return _impossible(*lean, "lean", records, cvc5, timeout, start)
    import torch

    from numeric.adapt import polish as polish_params
    from numeric.adapt import recheck

    X = [torch.tensor(x, dtype=torch.float64) for x in t.inputs]
    last_fail = "no candidate"
    th = None
    if polish and starts:
        from numeric.adapt import ConcreteHead

        th = ConcreteHead.from_lists(problem.W_Q, problem.W_K, problem.W_V, problem.tau)
        g = torch.Generator().manual_seed(seed)
        d, k, d_v = head.dims
        t0 = time.perf_counter()
        for i in range(starts):
            if time.perf_counter() - start > timeout / 2:
                break
            params = polish_params(th, m.kind, m.matrix, _random_start(m, d, k, d_v, g), X, t.outputs, t.orderings,
                                   t.tol, iterations=100)
            check = recheck(th, m.kind, m.matrix, params, X, t.outputs, t.orderings, t.tol)
            if check.ok:
                records.append({"query": "L-BFGS starts", "result": f"found at start {i}", "constraints": 0,
                                "seconds": round(time.perf_counter() - t0, 4), "reason": "", "stats": {}})
                return Outcome(FOUND, f"seeded L-BFGS start {i} (seed {seed}) re-checked on a float64 torch head: "
                               f"{check.detail}", time.perf_counter() - start,
                               params={k_: v.tolist() for k_, v in params.items()}, max_error=check.max_error,
                               queries=records)
        records.append({"query": "L-BFGS starts", "result": "none passed", "constraints": 0,
                        "seconds": round(time.perf_counter() - t0, 4), "reason": "", "stats": {}})
    for label, tangents in (("lean", BASE_TANGENTS), ("rich", TANGENT_POINTS)):
        if label == "lean" and lean is not None:
            enc, solved = lean  # asked first (solver_first): not UNSAT
        else:
            remaining = timeout - (time.perf_counter() - start)
            if remaining <= 0:
                return Outcome(UNKNOWN, f"timeout ({timeout:g}s) before the {label} query",
                               time.perf_counter() - start, queries=records)
            enc = AdaptedHeadEncoding(head, m, t, tangents)
            solved = enc.solve(remaining)
            records.append(_query_record(label, enc, solved))
        if solved.result == "unsat":
            return _impossible(enc, solved, label, records, cvc5, timeout, start)
        if solved.result == "unknown":
            return Outcome(UNKNOWN, f"z3 {solved.reason} on the {label} query", time.perf_counter() - start,
                           queries=records)
        th = th or _torch_head(enc)
        for how, cand in candidates(enc, solved.model):
            tried = [(how, cand)] + ([(how + ", polished by L-BFGS",
                                       polish_params(th, m.kind, m.matrix, cand, X, t.outputs, t.orderings, t.tol))]
                                     if polish else [])
            for step, params in tried:
                check = recheck(th, m.kind, m.matrix, params, X, t.outputs, t.orderings, t.tol)
                if check.ok:
                    return Outcome(FOUND, f"{label} z3 model realised ({step}) and re-checked on a float64 torch "
                                   f"head: {check.detail}",
                                   time.perf_counter() - start,
                                   params={k: v.tolist() for k, v in params.items()}, max_error=check.max_error,
                                   queries=records)
                last_fail = check.detail
    return Outcome(UNKNOWN, f"z3 models did not survive re-checking on torch ({last_fail})",
                   time.perf_counter() - start, queries=records)
