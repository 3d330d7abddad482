"""Cumulative distribution functions of the univariate continuous families that have one in closed
form (or through Phi): `log_cdf`, `log_ccdf` (log of 1 - cdf, kept accurate in the upper tail)
and `icdf` (the quantile, for drawing; no gradient). A family with these can be truncated
(`T[lower, upper]`) and used in a censored likelihood (`D.log_ccdf(c)`).

Each mixin is inherited by its family in `continuous`; the formulas are checked against
scipy.stats (tests/test_language.py).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp

from ..kernels import implicit
from ..kernels.special import erf, log_ndtr, normal_quantile, sc
from .base import log_sigmoid, plain

if TYPE_CHECKING:
    from .base import Distribution, Value

LOG_2 = math.log(2.0)


def _log1mexp(a: Value) -> Value:
    """log(1 - exp(a)) for a <= 0, accurate near 0 and far below it (Maechler 2012)."""
    near = a > -LOG_2
    safe_near = np.where(near, a, -1.0)
    safe_far = np.where(near, -1.0, a)
    return np.where(near, np.log(-np.expm1(safe_near)), np.log1p(-np.exp(safe_far)))


def within_support(dist: Distribution, x: Value) -> Value:
    """x held to the family's support, where a cdf's formula holds (below it the cdf is 0, above 1)."""
    low, high = getattr(dist.support, "low", None), getattr(dist.support, "high", None)
    if low is not None:
        x = np.maximum(x, low)
    if high is not None:
        x = np.minimum(x, high)
    return x


class _CDF:
    def isf(self, q: onp.ndarray) -> onp.ndarray:
        """The inverse survival function, x with P(X > x) = q (for drawing far in the upper tail)."""
        return self.icdf(1 - q)


class NormalCDF(_CDF):
    def _z(self, x):
        return (x - self.loc) / self.scale

    def log_cdf(self, x: Value) -> Value:
        return log_ndtr(self._z(x))

    def log_ccdf(self, x: Value) -> Value:
        return log_ndtr(-self._z(x))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * normal_quantile(u)

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) - plain(self.scale) * normal_quantile(q)


class LogNormalCDF(NormalCDF):
    def _z(self, x):
        return (np.log(x) - self.loc) / self.scale

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return onp.exp(super().icdf(u))

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return onp.exp(super().isf(q))


class HalfNormalCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:        # 2 Phi(z) - 1 = erf(z / sqrt 2) = 1 - 2 Phi(-z)
        z = x / self.scale
        small = z < 1.0
        return np.where(small, np.log(erf(np.where(small, z, 1.0) / math.sqrt(2))),
                        _log1mexp(LOG_2 + log_ndtr(-np.where(small, 1.0, z))))

    def log_ccdf(self, x: Value) -> Value:
        return LOG_2 + log_ndtr(-x / self.scale)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * normal_quantile((1 + u) / 2)

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return -plain(self.scale) * normal_quantile(q / 2)


class ExponentialCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return _log1mexp(-self.rate * x)

    def log_ccdf(self, x: Value) -> Value:
        return -self.rate * x

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return -onp.log1p(-u) / plain(self.rate)

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return -onp.log(q) / plain(self.rate)


class UniformCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return np.log(np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0))

    def log_ccdf(self, x: Value) -> Value:
        return np.log(np.clip((self.high - x) / (self.high - self.low), 0.0, 1.0))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.low) + (plain(self.high) - plain(self.low)) * u


class LogisticCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return log_sigmoid((x - self.loc) / self.scale)

    def log_ccdf(self, x: Value) -> Value:
        return log_sigmoid(-(x - self.loc) / self.scale)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * (onp.log(u) - onp.log1p(-u))

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * (onp.log1p(-q) - onp.log(q))


class GumbelCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return -np.exp(-(x - self.loc) / self.scale)

    def log_ccdf(self, x: Value) -> Value:       # log(1 - exp(-e)), e = exp(-z); about -z - e/2 far out
        z = (x - self.loc) / self.scale
        far = z > 30
        near = np.where(far, 0.0, z)
        return np.where(far, -np.where(far, z, 0.0), _log1mexp(-np.exp(-near)))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) - plain(self.scale) * onp.log(-onp.log(u))

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) - plain(self.scale) * onp.log(-onp.log1p(-q))


def _log_cauchy_tail(z: Value) -> Value:
    """log P(Z > z) of a standard Cauchy: log(1/2 - arctan(z) / pi), as log(arctan(1/z) / pi) for
    z > 1, where the difference would cancel."""
    far = z > 1
    inv = 1 / np.where(far, z, 2.0)
    return np.where(far, np.log(np.arctan(inv) / math.pi), np.log(0.5 - np.arctan(np.where(far, 0.0, z)) / math.pi))


class CauchyCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return _log_cauchy_tail(-(x - self.loc) / self.scale)

    def log_ccdf(self, x: Value) -> Value:
        return _log_cauchy_tail((x - self.loc) / self.scale)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * onp.tan(math.pi * (u - 0.5))

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) / onp.tan(math.pi * q)


class HalfCauchyCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return np.log(2 / math.pi * np.arctan(x / self.scale))

    def log_ccdf(self, x: Value) -> Value:
        return LOG_2 + _log_cauchy_tail(x / self.scale)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * onp.tan(math.pi * u / 2)

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) / onp.tan(math.pi * q / 2)


class LaplaceCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return np.where(z < 0, z - LOG_2, _log1mexp(-np.abs(z) - LOG_2))

    def log_ccdf(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return np.where(z > 0, -z - LOG_2, _log1mexp(-np.abs(z) - LOG_2))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        d = u - 0.5
        return plain(self.loc) - plain(self.scale) * onp.sign(d) * onp.log1p(-2 * onp.abs(d))


class WeibullCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return _log1mexp(self.log_ccdf(x))

    def log_ccdf(self, x: Value) -> Value:
        return -(x / self.scale) ** self.concentration

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * (-onp.log1p(-u)) ** (1 / plain(self.concentration))

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * (-onp.log(q)) ** (1 / plain(self.concentration))


class GammaCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return np.log(implicit.gamma_cdf(self.concentration, self.rate * x))

    def log_ccdf(self, x: Value) -> Value:
        return np.log(implicit.gamma_ccdf(self.concentration, self.rate * x))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return sc.gammaincinv(plain(self.concentration), u) / plain(self.rate)

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return sc.gammainccinv(plain(self.concentration), q) / plain(self.rate)


class BetaCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return np.log(implicit.beta_cdf(self.concentration1, self.concentration0, x))

    def log_ccdf(self, x: Value) -> Value:      # 1 - I_x(a, b) = I_{1-x}(b, a)
        return np.log(implicit.beta_cdf(self.concentration0, self.concentration1, 1 - x))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return sc.betaincinv(plain(self.concentration1), plain(self.concentration0), u)

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return 1 - sc.betaincinv(plain(self.concentration0), plain(self.concentration1), q)


class ParetoCDF(_CDF):
    def log_cdf(self, x: Value) -> Value:
        return _log1mexp(self.log_ccdf(x))

    def log_ccdf(self, x: Value) -> Value:      # (scale / x)^alpha
        return self.alpha * (np.log(self.scale) - np.log(x))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * (1 - u) ** (-1 / plain(self.alpha))

    def isf(self, q: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * q ** (-1 / plain(self.alpha))
