"""The head view every engine implements (`proofs.view`): mypy checks the signatures; here each engine's view is
read through every member of the protocols, as a statement would."""
from __future__ import annotations

import inspect

import pytest

from proofs.view import EnvView, HeadView

HEAD_MEMBERS = sorted(n for n in vars(HeadView) if not n.startswith("_"))
ENV_MEMBERS = sorted(n for n in vars(EnvView) if not n.startswith("_"))
HELPERS = {"sigmoid", "minors", "matvec"}
NO_LOGITS = {"l_prefix", "lse", "sigmoid"}  # views whose weights are abstract (z3) raise ValueError on these


def general():
    from theory.head import GeneralEnv
    from theory.shape import Shape

    return GeneralEnv(Shape(n_S=2), d=2)


def unrolled():
    from theory.head import UnrolledEnv
    from theory.shape import Shape

    return UnrolledEnv(Shape(n_S=2), n=3, d=2)


def z3_env():
    from theory.shape import Shape
    from theory.smt import Z3Env

    return Z3Env(Shape(n_S=2), n=3, d=2)


def torch_env():
    from numeric.attention import TorchEnv

    return TorchEnv.random(1, 1, 2, B=3, n=3, d=2, seed=0)


VIEWS = {"general": (general, set()), "unrolled": (unrolled, set()), "z3": (z3_env, NO_LOGITS),
         "torch": (torch_env, set())}


def reading(members):
    """A statement that reads ``members`` of `HeadView` and every member of `EnvView` (lhs), and spells the same
    quantities the way the closed forms say (rhs: t^pt - bias = (1 - alpha) t, alpha_i1 / alpha_i = softmax_1,
    sum_j A^pt_ij = 1 - alpha). Returns what it read and both sides."""

    def statement(E):
        h = E.view(0, 0)
        assert E.h is not None and E.n_heads == 1
        read = {name: getattr(h, name) for name in members if name not in HELPERS}
        read["matvec"], read["minors"] = h.matvec(E.W_O(0), h.t), h.minors(h.t, h.t)
        if "sigmoid" in members:
            read["sigmoid"] = h.sigmoid(h.alpha)
        lhs = E.total([h.t_pt, -h.bias]), h.alphas[0] / h.alpha, h.mass_pt
        rhs = (1 - h.alpha) * h.t, read["prefix_softmax"][0], 1 - read["alpha"]
        return read, lhs, rhs

    return statement


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_each_view_implements_every_member(name):
    make, raising = VIEWS[name]
    E = make()
    for member in ENV_MEMBERS:
        assert inspect.getattr_static(E, member, None) is not None, f"{name} env lacks {member}"
    for member in HEAD_MEMBERS:
        assert inspect.getattr_static(E.h, member, None) is not None, f"{name} head view lacks {member}"
    for member in raising - HELPERS:  # documented: this view has no logits
        with pytest.raises(ValueError):
            getattr(E.h, member)
    if "sigmoid" in raising:
        with pytest.raises(ValueError):
            E.h.sigmoid(E.h.alpha)
    readable = [m for m in HEAD_MEMBERS if m not in raising]
    read, lhs, rhs = reading(readable)(E)
    assert set(read) == set(readable) and all(v is not None for v in read.values())
    assert len(lhs) == len(rhs) == 3


@pytest.mark.parametrize("name", ["general", "unrolled", "torch"])
def test_the_members_are_the_quantities_their_names_say(name):
    """The reads agree with each other exactly on sympy and to rounding on torch."""
    import sympy as sp
    import torch

    _, lhs, rhs = reading(HEAD_MEMBERS)(VIEWS[name][0]())
    for a, b in zip(lhs, rhs, strict=True):
        if name == "torch":
            assert torch.allclose(a, b, atol=1e-12)
        else:
            diff = a - b if isinstance(a, sp.MatrixBase) else sp.Matrix([a - b])
            assert sp.simplify(diff).is_zero_matrix


def test_matmul_builds_the_matrix_sympy_builds():
    """`theory.head.matmul` (no 0 * x infinity checks) returns exactly ``A * B``: same entries, same structure."""
    import sympy as sp

    from theory.head import UnrolledEnv, matmul
    from theory.shape import Shape

    x, y = sp.symbols("x y", real=True)
    A = sp.Matrix([[1, 0, x], [0, 0, 0]])
    B = sp.Matrix([[y / (1 + sp.exp(x)), 2], [3, 0], [x**2, -1]])
    env = UnrolledEnv(Shape(heads=2), n=3, d=2, mode="exp")
    W_O, t_pt = env.W_O(0), env.h.t_pt
    for a, b in ((A, B), (W_O, t_pt), (t_pt.T, t_pt), (sp.zeros(2, 2), t_pt), (sp.eye(2), t_pt)):
        assert [sp.srepr(e) for e in matmul(a, b)] == [sp.srepr(e) for e in a * b]
        assert matmul(a, b).shape == (a * b).shape
    with pytest.raises(sp.ShapeError):
        matmul(A, A)


def test_exp_logit_is_sympys_exp():
    """`theory.head.exp_logit` builds exactly ``sp.exp(l)`` for the logits of the views, and evaluates numbers."""
    import sympy as sp

    from theory.head import UnrolledHead, exp_logit

    head = UnrolledHead(3, 2)
    logits = [head.logit(3, head._product("K", j)) for j in (1, 2, 3)] + [head.logit(3, k) for k in head.prefix_keys]
    x = sp.Symbol("x", real=True)
    for l in [*logits, -logits[0], x, 2 * x * head.tau, sp.Integer(0), sp.Integer(2), sp.log(x) + x, sp.pi * sp.I]:
        assert sp.srepr(exp_logit(l)) == sp.srepr(sp.exp(l))


def test_positions_reuse_the_env_at_its_own_position():
    """`UnrolledEnv.positions` returns the env itself at its own position and views equal to freshly built ones."""
    from theory.head import UnrolledEnv
    from theory.shape import Shape

    env = UnrolledEnv(Shape(), n=3, d=2, mode="exp")
    envs = env.positions()
    assert envs[-1] is env and [e.i for e in envs] == [1, 2, 3]
    for i, e in enumerate(envs, start=1):
        fresh = UnrolledEnv(Shape(), n=3, d=2, i=i, mode="exp")
        assert (e.h.w, e.h.p, e.h.t_pt) == (fresh.h.w, fresh.h.p, fresh.h.t_pt)


def test_lse_is_built_on_first_read_as_before():
    """The unrolled views build ``lse = log Z_i`` when a statement first reads it: log of the sum of the weights."""
    import sympy as sp

    from theory.head import UnrolledEnv
    from theory.shape import Shape

    for mode in ("exp", "positive"):
        h = UnrolledEnv(Shape(heads=2), n=3, d=2, mode=mode).view(0, 1)
        assert h.lse_ is None
        assert h.lse == sp.log(sum(h.w)) and h.lse is h.lse
