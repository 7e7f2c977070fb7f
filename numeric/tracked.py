"""Torch views that remember which positions a statement names, and accept exact scalars.

`Tracked` is a `torch.Tensor` subclass used for the quantities a statement reads from a `numeric.attention`
view. Every index or slice applied to it is recorded (the largest non-negative position named), so the numeric
layer can sample heads longer than every position a statement names; a scalar that torch does not know (a
`fractions.Fraction`, a sympy Rational: anything with ``__float__``) is converted to float, so one statement
with exact constants runs on every layer.
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from numeric.attention import EnvBase

Env = TypeVar("Env")
_largest: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("named_positions", default=None)
_PLAIN = (int, float, bool, complex, str, slice, type(None), type(Ellipsis), torch.dtype, torch.device,
          torch.Size, torch.memory_format, torch.layout)


def _note(key: object) -> None:
    box = _largest.get()
    if box is None:
        return
    for k in key if isinstance(key, tuple) else (key,):
        bounds = [k] if isinstance(k, int) and not isinstance(k, bool) else (
            [k.start, None if k.stop is None else k.stop - 1] if isinstance(k, slice) else [])
        for b in bounds:
            if isinstance(b, int) and b >= 0:
                box[0] = max(box[0], b)


def _scalar(x: Any) -> Any:
    if isinstance(x, (torch.Tensor, *_PLAIN)) or not hasattr(x, "__float__"):
        if isinstance(x, (list, tuple)):
            return type(x)(_scalar(v) for v in x)
        return x
    return float(x)


def _binary(name: str) -> Any:
    def op(self: torch.Tensor, other: Any) -> Any:
        return getattr(torch.Tensor, name)(self, _scalar(other))

    op.__name__ = name
    return op


class Tracked(torch.Tensor):
    """A tensor that records the positions indexed and converts exact scalars (see the module docstring)."""

    # sympy numbers return NotImplemented for operands marked this way, so ``Rational(1, 3) * t`` reaches
    # ``t.__rmul__`` below instead of sympy trying to convert the whole tensor.
    __sympy__ = False
    for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                  "__rtruediv__", "__pow__", "__rpow__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        locals()[_name] = _binary(_name)
    del _name
    __hash__ = torch.Tensor.__hash__

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.Tensor.__getitem__:
            _note(args[1])
        args = tuple(_scalar(a) for a in args)
        kwargs = {k: _scalar(v) for k, v in (kwargs or {}).items()}
        return super().__torch_function__(func, types, args, kwargs)


@contextmanager
def recording() -> Iterator[list[int]]:
    """Record the largest position named inside the block (``box[0]``, -1 if none)."""
    box = [-1]
    token = _largest.set(box)
    try:
        yield box
    finally:
        _largest.reset(token)


def _track_tensors(obj: object) -> None:
    for name, value in list(vars(obj).items()):
        if isinstance(value, torch.Tensor):
            setattr(obj, name, value.as_subclass(Tracked))


def track(env: Env) -> Env:
    """Make the tensors a statement reads `Tracked`, in place, and return ``env``: every view of an env (and its
    ``W_O``), or the tensors of a single model object and of its ``inst`` (e.g. `numeric.finetune.TorchFineTune`)."""
    if isinstance(env, EnvBase):
        for row in env._views:
            for view in row:
                _track_tensors(view)
                view.__dict__.pop("alphas", None)  # cached from untracked tensors
        env._W_O = [M.as_subclass(Tracked) for M in env._W_O]
        return env
    _track_tensors(env)
    if (inst := getattr(env, "inst", None)) is not None:
        _track_tensors(inst)
    return env


def plain(x: Any) -> Any:
    """A tensor as a plain `torch.Tensor` again (lists and tuples elementwise)."""
    if isinstance(x, (list, tuple)):
        return type(x)(plain(v) for v in x)
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x
