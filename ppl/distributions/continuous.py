"""Continuous families with an explicit pathwise form: a location-scale map of standard noise, or
an inverse CDF in closed form."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from ..kernels.special import gammaln

from . import constraints
from ..kernels import fused
from . import cdf
from .base import LOG_2PI, Distribution, log_sigmoid

if TYPE_CHECKING:
    from .base import Value

EULER_GAMMA = 0.5772156649015329


def _normal(rng, shape):
    return rng.standard_normal(shape)


def _exponential(rng, shape):
    return rng.standard_exponential(shape)


class _LocScale(Distribution):
    signatures = (("loc", "scale"),)
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real


class Normal(cdf.NormalCDF, _LocScale):
    """exp(-((x - loc) / scale)^2 / 2) / (scale sqrt(2 pi))"""

    noise = staticmethod(_normal)
    mean = property(lambda self: self._full(self.loc))
    variance = property(lambda self: self._full(self.scale**2))

    def transform(self, eps: Value) -> Value:
        """loc + scale * eps, eps ~ Normal(0, 1)"""
        return self.loc + self.scale * eps

    def log_prob_unchecked(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * LOG_2PI

    density = (fused.normal, ("loc", "scale"))


class HalfNormal(cdf.HalfNormalCDF, Distribution):
    """2 Normal(x; 0, scale) for x > 0"""

    signatures = (("scale",),)
    arg_constraints = {"scale": constraints.positive}
    support = constraints.positive
    noise = staticmethod(_normal)
    mean = property(lambda self: self._full(self.scale * math.sqrt(2 / math.pi)))
    variance = property(lambda self: self._full(self.scale**2 * (1 - 2 / math.pi)))

    def transform(self, eps: Value) -> Value:
        """scale * |eps|, eps ~ Normal(0, 1)"""
        return self.scale * np.abs(eps)

    def log_prob_unchecked(self, x: Value) -> Value:
        z = x / self.scale
        return -0.5 * z**2 - np.log(self.scale) + 0.5 * math.log(2 / math.pi)

    density = (fused.half_normal, ("scale",))


class LogNormal(cdf.LogNormalCDF, _LocScale):
    """Normal(log x; loc, scale) / x for x > 0"""

    support = constraints.positive
    noise = staticmethod(_normal)
    mean = property(lambda self: self._full(np.exp(self.loc + self.scale**2 / 2)))
    variance = property(lambda self: self._full(
        np.expm1(self.scale**2) * np.exp(2 * self.loc + self.scale**2)))

    def transform(self, eps: Value) -> Value:
        """exp(loc + scale * eps), eps ~ Normal(0, 1)"""
        return np.exp(self.loc + self.scale * eps)

    def log_prob_unchecked(self, x: Value) -> Value:
        log_x = np.log(x)
        z = (log_x - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * LOG_2PI - log_x


class Exponential(cdf.ExponentialCDF, Distribution):
    """rate exp(-rate x) for x > 0"""

    signatures = (("rate",),)
    arg_constraints = {"rate": constraints.positive}
    support = constraints.positive
    noise = staticmethod(_exponential)
    mean = property(lambda self: self._full(1 / self.rate))
    variance = property(lambda self: self._full(self.rate**-2))

    def transform(self, eps: Value) -> Value:
        """eps / rate, eps ~ Exponential(1)"""
        return eps / self.rate

    def log_prob_unchecked(self, x: Value) -> Value:
        return np.log(self.rate) - self.rate * x

    density = (fused.exponential, ("rate",))


class Uniform(cdf.UniformCDF, Distribution):
    """1 / (high - low) for low <= x <= high"""

    signatures = (("low", "high"),)
    arg_constraints = {"low": constraints.real, "high": constraints.real}
    noise = staticmethod(lambda rng, shape: rng.random(shape))
    mean = property(lambda self: self._full((self.low + self.high) / 2))
    variance = property(lambda self: self._full((self.high - self.low) ** 2 / 12))

    @property
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    def transform(self, eps: Value) -> Value:
        """low + (high - low) * eps, eps ~ Uniform(0, 1)"""
        return self.low + (self.high - self.low) * eps

    def log_prob_unchecked(self, x: Value) -> Value:
        return -np.log(self.high - self.low)


class Laplace(cdf.LaplaceCDF, _LocScale):
    """exp(-|x - loc| / scale) / (2 scale)"""

    noise = staticmethod(lambda rng, shape: rng.laplace(size=shape))
    mean = property(lambda self: self._full(self.loc))
    variance = property(lambda self: self._full(2 * self.scale**2))

    def transform(self, eps: Value) -> Value:
        """loc + scale * eps, eps ~ Laplace(0, 1)"""
        return self.loc + self.scale * eps

    def log_prob_unchecked(self, x: Value) -> Value:
        return -np.abs(x - self.loc) / self.scale - np.log(2 * self.scale)


class Logistic(cdf.LogisticCDF, _LocScale):
    """exp(-z) / (scale (1 + exp(-z))^2), z = (x - loc) / scale"""

    noise = staticmethod(lambda rng, shape: rng.logistic(size=shape))
    mean = property(lambda self: self._full(self.loc))
    variance = property(lambda self: self._full((math.pi * self.scale) ** 2 / 3))

    def transform(self, eps: Value) -> Value:
        """loc + scale * eps, eps ~ Logistic(0, 1)"""
        return self.loc + self.scale * eps

    def log_prob_unchecked(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return log_sigmoid(z) + log_sigmoid(-z) - np.log(self.scale)


class Gumbel(cdf.GumbelCDF, _LocScale):
    """exp(-z - exp(-z)) / scale, z = (x - loc) / scale"""

    noise = staticmethod(lambda rng, shape: rng.gumbel(size=shape))
    mean = property(lambda self: self._full(self.loc + EULER_GAMMA * self.scale))
    variance = property(lambda self: self._full((math.pi * self.scale) ** 2 / 6))

    def transform(self, eps: Value) -> Value:
        """loc + scale * eps, eps ~ Gumbel(0, 1)"""
        return self.loc + self.scale * eps

    def log_prob_unchecked(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return -z - np.exp(-z) - np.log(self.scale)


class Cauchy(cdf.CauchyCDF, _LocScale):
    """1 / (pi scale (1 + ((x - loc) / scale)^2))"""

    noise = staticmethod(lambda rng, shape: rng.standard_cauchy(shape))
    # The moments are undefined; reported as scipy.stats does.
    mean = property(lambda self: onp.full(self.batch_shape, onp.nan))
    variance = property(lambda self: onp.full(self.batch_shape, onp.nan))

    def transform(self, eps: Value) -> Value:
        """loc + scale * eps, eps ~ Cauchy(0, 1)"""
        return self.loc + self.scale * eps

    def log_prob_unchecked(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return -np.log1p(z**2) - np.log(math.pi * self.scale)

    density = (fused.cauchy, ("loc", "scale"))


class HalfCauchy(cdf.HalfCauchyCDF, Distribution):
    """2 Cauchy(x; 0, scale) for x > 0"""

    signatures = (("scale",),)
    arg_constraints = {"scale": constraints.positive}
    support = constraints.positive
    noise = staticmethod(lambda rng, shape: rng.standard_cauchy(shape))
    # The moment integrals diverge to +inf.
    mean = property(lambda self: onp.full(self.batch_shape, onp.inf))
    variance = property(lambda self: onp.full(self.batch_shape, onp.inf))

    def transform(self, eps: Value) -> Value:
        """scale * |eps|, eps ~ Cauchy(0, 1)"""
        return self.scale * np.abs(eps)

    def log_prob_unchecked(self, x: Value) -> Value:
        z = x / self.scale
        return -np.log1p(z**2) - np.log(math.pi / 2 * self.scale)

    density = (fused.half_cauchy, ("scale",))


class Weibull(cdf.WeibullCDF, Distribution):
    """(k / scale) (x / scale)^(k - 1) exp(-(x / scale)^k) for x > 0, k = concentration"""

    signatures = (("concentration", "scale"),)   # Stan's and scipy's order: shape, then scale
    arg_constraints = {"concentration": constraints.positive, "scale": constraints.positive}
    support = constraints.positive
    noise = staticmethod(_exponential)

    def transform(self, eps: Value) -> Value:
        """scale * eps ^ (1 / concentration), eps ~ Exponential(1)"""
        return self.scale * eps ** (1 / self.concentration)

    def log_prob_unchecked(self, x: Value) -> Value:
        k, log_z = self.concentration, np.log(x) - np.log(self.scale)
        return np.log(k) - np.log(self.scale) + (k - 1) * log_z - np.exp(k * log_z)

    def _moment(self, r):
        return np.exp(r * np.log(self.scale) + gammaln(1 + r / self.concentration))

    mean = property(lambda self: self._full(self._moment(1)))
    variance = property(lambda self: self._full(self._moment(2) - self._moment(1) ** 2))


class Pareto(cdf.ParetoCDF, Distribution):
    """alpha scale^alpha / x^(alpha + 1) for x > scale"""

    signatures = (("scale", "alpha"),)
    arg_constraints = {"scale": constraints.positive, "alpha": constraints.positive}
    noise = staticmethod(_exponential)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.greater_than(self.scale)

    def transform(self, eps: Value) -> Value:
        """scale * exp(eps / alpha), eps ~ Exponential(1)"""
        return self.scale * np.exp(eps / self.alpha)

    def log_prob_unchecked(self, x: Value) -> Value:
        return np.log(self.alpha) + self.alpha * np.log(self.scale) - (self.alpha + 1) * np.log(x)

    @property
    def mean(self) -> Value:
        a = self.alpha
        return self._full(np.where(a > 1, self.scale * a / np.where(a > 1, a - 1, 1.0), np.inf))

    @property
    def variance(self) -> Value:
        a = self.alpha
        safe = np.where(a > 2, a, 3.0)
        return self._full(np.where(a > 2, self.scale**2 * safe / ((safe - 1) ** 2 * (safe - 2)), np.inf))
