"""Learnable parameters as one flat unconstrained vector, and back to named constrained arrays."""
from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp

from . import constraints


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple
    constraint: constraints.Constraint
    init: onp.ndarray            # unconstrained initial value, of the unconstrained shape

    @property
    def size(self):
        return int(onp.prod(self.init.shape, dtype=int))


class ParamSpace:
    """Named parameters laid out in one flat vector (the optimizer's view)."""

    def __init__(self, params: list[Param]):
        self.params = params
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

    def unflatten(self, theta) -> dict:
        """Named constrained values from the flat unconstrained vector (differentiable), each
        with a leading particle axis of size 1, as the program uses them."""
        out = {}
        for p in self.params:
            lo, hi = self.slices[p.name]
            u = theta[lo:hi] if p.init.ndim == 0 else np.reshape(theta[lo:hi], (1,) + p.init.shape)
            out[p.name] = p.constraint.to_constrained(u)
        return out

    def flatten(self, values: dict) -> onp.ndarray:
        """The flat unconstrained vector of named constrained values (missing names keep their init)."""
        parts = []
        for p in self.params:
            if p.name in values:
                x = onp.broadcast_to(onp.asarray(values[p.name], dtype=float), p.shape)
                parts.append(onp.ravel(p.constraint.to_unconstrained(x)))
            else:
                parts.append(onp.ravel(p.init))
        return onp.concatenate(parts) if parts else onp.zeros(0)

    def constrained(self, theta) -> dict:
        """Plain numpy named values, for reporting."""
        return {k: onp.asarray(v)[0] for k, v in self.unflatten(onp.asarray(theta)).items()}
