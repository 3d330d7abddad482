"""Families for scale priors with heavy tails and for series: HalfStudentT and GaussianRandomWalk."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp

from . import constraints
from ..kernels import implicit
from ..kernels.special import gammaln
from .base import LOG_2PI, Distribution

if TYPE_CHECKING:
    from .base import Rng, Value


class HalfStudentT(Distribution):
    """2 StudentT(x; df, 0, scale) for x > 0"""

    signatures = (("df", "scale"),)
    arg_constraints = {"df": constraints.positive, "scale": constraints.positive}
    support = constraints.positive

    @staticmethod
    def noise(rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        """A standard normal and a uniform draw, stacked on a leading axis."""
        return onp.stack([rng.standard_normal(shape), implicit.uniform(rng, shape)])

    def transform(self, eps: Value) -> Value:
        """scale * |n| * sqrt(df / (2 * gamma_icdf(u; df / 2))), eps = (n, u) ~ (Normal(0, 1), Uniform(0, 1))"""
        return self.scale * np.abs(eps[0]) * np.sqrt(self.df / (2 * implicit.standard_gamma(self.df / 2, eps[1])))

    def log_prob_unchecked(self, x: Value) -> Value:
        df, z = self.df, x / self.scale
        return (math.log(2) + gammaln((df + 1) / 2) - gammaln(df / 2) - 0.5 * np.log(df * math.pi)
                - np.log(self.scale) - (df + 1) / 2 * np.log1p(z**2 / df))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return onp.abs(self.scale * rng.standard_t(onp.broadcast_to(self.df, shape)))

    @property
    def mean(self) -> Value:
        df = np.where(self.df > 1, self.df, 2.0)
        m = 2 * self.scale * np.sqrt(df / math.pi) * np.exp(gammaln((df + 1) / 2) - gammaln(df / 2)) / (df - 1)
        return self._full(np.where(self.df > 1, m, np.inf))

    @property
    def variance(self) -> Value:
        df = np.where(self.df > 2, self.df, 3.0)
        v = self.scale**2 * df / (df - 2) - self.mean**2
        return self._full(np.where(self.df > 2, v, np.inf))


class GaussianRandomWalk(Distribution):
    """Normal(x_0; 0, scale) prod_t Normal(x_t; x_{t-1}, scale) over the last axis: a random walk
    from 0. Its length is the value's (`x: real[T] ~ GaussianRandomWalk(sigma)`); the log-density
    is given per element, each step's, which sum to the walk's."""

    signatures = (("scale",),)
    arg_constraints = {"scale": constraints.positive}
    support = constraints.real
    elementwise = False   # step t's density reads x[t - 1]: no element stands alone
    noise = staticmethod(lambda rng, shape: rng.standard_normal(shape))

    def transform(self, eps: Value) -> Value:
        """scale * cumsum(eps), eps ~ Normal(0, 1) per step"""
        if onp.ndim(eps) < 2:
            raise ValueError("a random walk needs a length: declare it, as x: real[T] ~ GaussianRandomWalk(s)")
        return self.scale * np.cumsum(eps, axis=-1)

    def log_prob_unchecked(self, x: Value) -> Value:
        if onp.ndim(x) < 2:
            raise ValueError("a random walk needs a length: declare it, as x: real[T] ~ GaussianRandomWalk(s)")
        steps = np.concatenate([x[..., :1], x[..., 1:] - x[..., :-1]], axis=-1)
        z = steps / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * LOG_2PI
