"""Checks run when a fit goes wrong (replaying the faulty step) and on data before a fit."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp
from autograd.tracer import getval

from ..front.errors import DataError, FitError

if TYPE_CHECKING:
    from collections.abc import Collection

    from ..distributions import Distribution
    from ..distributions.base import Value
    from ..middle import ir


def _first_bad(ok):
    """Position of the first False in `ok` (a physical array: particle axis first)."""
    return tuple(int(i) for i in onp.argwhere(~onp.atleast_1d(ok))[0])


def _at(index):
    return f"[{', '.join(map(str, index))}]" if index else ""


def check_args(stmt: ir.Sample | ir.Observe, dist: Distribution, names: Collection[str] | None = None,
               steady: bool = False) -> None:
    """Every argument of `dist` (or those in `names`) satisfies its declared constraint. With
    `steady`, NaN and infinity pass: a step that meets them is skipped, not a model error."""
    for name, value in dist.args.items():
        if names is not None and name not in names:
            continue
        constraint = type(dist).arg_constraints[name]
        value = onp.atleast_1d(getval(value))
        ok = constraint.check(value)
        if steady:        # a non-finite value anywhere in an event (a simplex's row) passes it
            bad = ~onp.isfinite(value)
            extra = bad.ndim - onp.ndim(ok)
            ok = ok | (bad.any(axis=tuple(range(bad.ndim - extra, bad.ndim))) if extra > 0 else bad)
        if not onp.all(ok):
            pos = _first_bad(ok)
            # axes of size 1 were only added to line the argument up with the value it scores
            index = tuple(i for i, n in zip(pos[1:], value.shape[1:]) if n > 1)
            raise FitError(f"{type(dist).__name__}'s argument '{name}' must be {constraint.name}, but "
                           f"'{dict(stmt.args)[name]}'{_at(index)} is {_show(value[pos])}", stmt.span,
                           hint="check the expression, or constrain what it is computed from")


def check_finite(stmt: ir.Stmt, value: Value, what: str) -> None:
    """`value` has no NaN or infinity."""
    value = onp.atleast_1d(getval(value))
    ok = onp.isfinite(value)
    if not ok.all():
        pos = _first_bad(ok)
        raise FitError(f"{what}{_at(pos[1:])} is {_show(value[pos])}", stmt.span)


def check_observed(stmt: ir.Observe, dist: Distribution, y: onp.ndarray) -> None:
    """Observed values lie in the distribution's support."""
    support = dist.support
    ok = onp.broadcast_to(support.check(y), onp.shape(y)[:onp.ndim(y) - support.event_dim])
    if not ok.all():
        pos = _first_bad(ok)
        raise DataError(f"observed value {stmt.name}{_at(pos[1:])} = {_show(y[pos])} is outside the "
                        f"support of {type(dist).__name__} ({support.name})", stmt.span,
                        hint="fix the data, or choose a distribution whose support contains it")


def _show(x):
    x = onp.asarray(x)
    if x.ndim:
        return onp.array2string(x, precision=4, threshold=6)
    return f"{x.item():.6g}" if x.dtype.kind == "f" else str(x.item())
