"""Learnable parameters as one flat unconstrained vector, and back to named constrained arrays."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp

from ..distributions import constraints
from ..front.errors import SemanticError
from ..kernels.nodes import columns

if TYPE_CHECKING:
    from ..distributions.base import Value


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple
    constraint: constraints.Constraint
    init: onp.ndarray            # unconstrained initial value, of the unconstrained shape

    @property
    def size(self) -> int:
        return int(onp.prod(self.init.shape, dtype=int))


class ParamSpace:
    """Named parameters laid out in one flat vector (the optimizer's view)."""

    def __init__(self, params: list[Param]):
        self.params = params
        self.index = {p.name: i for i, p in enumerate(params)}
        self.slices, start = {}, 0
        for p in params:
            self.slices[p.name] = (start, start + p.size)
            start += p.size
        self.size = start

    def __iter__(self):
        return iter(self.params)

    def initial(self) -> onp.ndarray:
        if not self.params:
            return onp.zeros(0)
        return onp.concatenate([onp.ravel(p.init).astype(float) for p in self.params])

    def lazy(self, theta: Value) -> "Params":
        """Named constrained values computed from `theta` only when asked for (each one's
        operations traced only if used), with the flat vector itself as `.theta`: (P,), shared by
        every particle, or (K, P), one copy per particle (see `ParamSpace.value`)."""
        return Params(self, theta)

    def value(self, name: str, theta: Value) -> Value:
        """One named constrained value, particles first: from a flat vector (P,), one row for all
        particles (1, *shape); from one copy per particle (K, P), (K, *shape)."""
        p = self.params[self.index[name]]
        lo, hi = self.slices[name]
        if onp.ndim(theta) == 2:
            u = columns(theta, lo, None) if p.init.ndim == 0 else \
                columns(theta, lo, hi, None if p.init.ndim == 1 else (len(theta),) + p.init.shape)
        else:
            u = theta[lo:hi] if p.init.ndim == 0 else np.reshape(theta[lo:hi], (1,) + p.init.shape)
        return p.constraint.to_constrained(u)

    def unflatten(self, theta: Value) -> dict:
        """Named constrained values from the flat unconstrained vector (differentiable), each
        with a leading particle axis of size 1, as the program uses them."""
        return {p.name: self.value(p.name, theta) for p in self.params}

    def flatten(self, values: dict) -> onp.ndarray:
        """The flat unconstrained vector of named constrained values (missing names keep their
        init); a value outside its parameter's support, or on its edge, is an error."""
        parts = []
        for p in self.params:
            if p.name in values:
                x = onp.broadcast_to(onp.asarray(values[p.name], dtype=float), p.shape)
                with onp.errstate(all="ignore"):        # the edge of a support maps to an infinity
                    u = onp.ravel(p.constraint.to_unconstrained(x))
                if not (onp.all(p.constraint.check(x)) and onp.isfinite(u).all()):
                    raise SemanticError(f"'{p.name}' is outside its support ({p.constraint.name}), or on its edge",
                                        hint=f"give '{p.name}' a value inside it")
                parts.append(u)
            else:
                parts.append(onp.ravel(p.init))
        return onp.concatenate(parts) if parts else onp.zeros(0)

    def constrained(self, theta: onp.ndarray) -> dict:
        """Plain numpy named values, for reporting."""
        return {k: onp.asarray(v)[0] for k, v in self.unflatten(onp.asarray(theta)).items()}


class Params(dict):
    """`ParamSpace.lazy`: a dict whose values are computed on first access."""

    def __init__(self, space, theta):
        super().__init__()
        self.space, self.theta = space, theta

    def __missing__(self, name):
        value = self[name] = self.space.value(name, self.theta)
        return value
