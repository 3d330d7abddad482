"""The full-rank Gaussian guide: every continuous latent's unconstrained value is one block of
u = loc + L eps, eps ~ Normal(0, I), with L lower-triangular (positive diagonal).

Unlike mean-field, it can represent posterior correlations between latents (and within a vector
latent), at the cost of D(D + 1) / 2 scale parameters for D unconstrained dimensions.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from ..kernels.special import sum_rest
from ..kernels.special import solve_triangular

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..distributions.base import Value
    from .params import ParamSpace
    from .program import Program

LOC, SCALE = "guide.loc", "guide.scale_tril"


class LowerCholesky:
    """D x D lower-triangular matrices with a positive diagonal, from D(D + 1) / 2 reals
    (the diagonal through exp)."""
    discrete, event_dim = False, 2

    def __init__(self, dim: int) -> None:
        self.dim = dim
        rows, cols = onp.tril_indices(dim)
        self.name = f"lower_cholesky({dim})"
        self._diag = (rows == cols).astype(float)
        select = onp.zeros((len(rows), dim * dim))
        select[onp.arange(len(rows)), rows * dim + cols] = 1.0
        self._off, self._on = select * (1 - self._diag)[:, None], select * self._diag[:, None]
        self._rows, self._cols = rows, cols

    def to_constrained(self, u: Value) -> Value:
        flat = np.dot(u, self._off) + np.dot(np.exp(u), self._on)
        return np.reshape(flat, onp.shape(u)[:-1] + (self.dim, self.dim))

    def to_unconstrained(self, L: onp.ndarray) -> onp.ndarray:
        L = onp.asarray(L, dtype=float)
        values = L[..., self._rows, self._cols]
        return onp.where(self._diag > 0, onp.log(onp.where(self._diag > 0, values, 1.0)), values)

    def unconstrained_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.dim * (self.dim + 1) // 2,)

    def check(self, L: onp.ndarray) -> bool:
        L = onp.asarray(L)
        return onp.allclose(L, onp.tril(L)) and onp.all(onp.diagonal(L, axis1=-2, axis2=-1) > 0)


def initial(dim: int, rng: onp.random.Generator, radius: float, scale: float) -> tuple[onp.ndarray, onp.ndarray]:
    """(loc, unconstrained scale_tril): locations uniform in (-radius, radius), L = scale * I."""
    constraint = LowerCholesky(dim)
    return rng.uniform(-radius, radius, dim), constraint.to_unconstrained(scale * onp.eye(dim))


def joint_op(dim: int, stl: bool) -> Callable[..., None]:
    """Draw u (particles, D) for all continuous latents at once, with its Gaussian log-density."""
    half_log_2pi = 0.5 * dim * math.log(2 * math.pi)

    def op(env, run):
        loc, L = run.params[LOC], run.params[SCALE]        # (1 or K, D), (1 or K, D, D)
        eps = run.rng.standard_normal((run.K, dim))
        # L eps as elementwise products and a sum, not a BLAS call: each particle's value is then
        # the same whether it is computed alone or beside others
        u = loc + np.sum(L * eps[:, None, :], axis=-1)
        if stl:      # "sticking the landing": no gradient through the guide's own parameters here
            L0 = getval(L)[0]                              # every particle's copy is the same
            inverse = solve_triangular(L0, onp.eye(dim), lower=True)
            z = np.sum(inverse * (u - getval(loc))[:, None, :], axis=-1)
            logq = -0.5 * np.sum(z * z, axis=1) - onp.sum(onp.log(onp.diagonal(L0))) - half_log_2pi
        else:
            logq = -0.5 * onp.sum(eps * eps, axis=1) - sum_rest(np.log(np.diagonal(L, 0, -1, -2))) - half_log_2pi
        run.joint, run.joint_logq = u, logq
    return op


def from_meanfield(built: Program, meanfield: ParamSpace, theta: onp.ndarray) -> onp.ndarray:
    """The full-rank program's flat parameters (`built.space`) at a mean-field optimum (`theta`
    in the space `meanfield`): the locations joined, the scales on the diagonal of L, every
    other parameter (a `param`, a discrete guide) as it is."""
    names = [name for name, site in built.rewritten.guide.items() if not site.discrete]
    pick = lambda name: theta[slice(*meanfield.slices[name])]
    values = {}
    for p in built.space:
        if p.name == LOC:
            values[p.name] = onp.concatenate([pick(f"{n}.loc") for n in names])
        elif p.name == SCALE:
            log_scale = onp.concatenate([pick(f"{n}.scale") for n in names])
            values[p.name] = p.constraint.to_unconstrained(onp.diag(onp.exp(log_scale)))
        else:
            values[p.name] = pick(p.name)
    return onp.concatenate([onp.ravel(values[p.name]) for p in built.space])
