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

from ..kernels.special import log_ndtr, normal_quantile
from .base import log_sigmoid, plain

if TYPE_CHECKING:
    from .base import Value

LOG_2 = math.log(2.0)


def _log1mexp(a: Value) -> Value:
    """log(1 - exp(a)) for a <= 0, accurate near 0 and far below it (Maechler 2012)."""
    near = a > -LOG_2
    safe_near = np.where(near, a, -1.0)
    safe_far = np.where(near, -1.0, a)
    return np.where(near, np.log(-np.expm1(safe_near)), np.log1p(-np.exp(safe_far)))


class NormalCDF:
    def _z(self, x):
        return (x - self.loc) / self.scale

    def log_cdf(self, x: Value) -> Value:
        return log_ndtr(self._z(x))

    def log_ccdf(self, x: Value) -> Value:
        return log_ndtr(-self._z(x))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * normal_quantile(u)


class LogNormalCDF(NormalCDF):
    def _z(self, x):
        return (np.log(x) - self.loc) / self.scale

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return onp.exp(super().icdf(u))


class HalfNormalCDF:
    def log_cdf(self, x: Value) -> Value:        # 2 Phi(z) - 1 = 1 - 2 Phi(-z)
        return _log1mexp(LOG_2 + log_ndtr(-x / self.scale))

    def log_ccdf(self, x: Value) -> Value:
        return LOG_2 + log_ndtr(-x / self.scale)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * normal_quantile((1 + u) / 2)


class ExponentialCDF:
    def log_cdf(self, x: Value) -> Value:
        return _log1mexp(-self.rate * x)

    def log_ccdf(self, x: Value) -> Value:
        return -self.rate * x

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return -onp.log1p(-u) / plain(self.rate)


class UniformCDF:
    def log_cdf(self, x: Value) -> Value:
        return np.log(np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0))

    def log_ccdf(self, x: Value) -> Value:
        return np.log(np.clip((self.high - x) / (self.high - self.low), 0.0, 1.0))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.low) + (plain(self.high) - plain(self.low)) * u


class LogisticCDF:
    def log_cdf(self, x: Value) -> Value:
        return log_sigmoid((x - self.loc) / self.scale)

    def log_ccdf(self, x: Value) -> Value:
        return log_sigmoid(-(x - self.loc) / self.scale)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * (onp.log(u) - onp.log1p(-u))


class GumbelCDF:
    def log_cdf(self, x: Value) -> Value:
        return -np.exp(-(x - self.loc) / self.scale)

    def log_ccdf(self, x: Value) -> Value:
        return _log1mexp(self.log_cdf(x))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) - plain(self.scale) * onp.log(-onp.log(u))


class CauchyCDF:
    def log_cdf(self, x: Value) -> Value:
        return np.log(0.5 + np.arctan((x - self.loc) / self.scale) / math.pi)

    def log_ccdf(self, x: Value) -> Value:
        return np.log(0.5 - np.arctan((x - self.loc) / self.scale) / math.pi)

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.loc) + plain(self.scale) * onp.tan(math.pi * (u - 0.5))


class HalfCauchyCDF:
    def log_cdf(self, x: Value) -> Value:
        return np.log(2 / math.pi * np.arctan(x / self.scale))

    def log_ccdf(self, x: Value) -> Value:
        return np.log(1 - 2 / math.pi * np.arctan(x / self.scale))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * onp.tan(math.pi * u / 2)


class LaplaceCDF:
    def log_cdf(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return np.where(z < 0, z - LOG_2, _log1mexp(-np.abs(z) - LOG_2))

    def log_ccdf(self, x: Value) -> Value:
        z = (x - self.loc) / self.scale
        return np.where(z > 0, -z - LOG_2, _log1mexp(-np.abs(z) - LOG_2))

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        d = u - 0.5
        return plain(self.loc) - plain(self.scale) * onp.sign(d) * onp.log1p(-2 * onp.abs(d))


class WeibullCDF:
    def log_cdf(self, x: Value) -> Value:
        return _log1mexp(self.log_ccdf(x))

    def log_ccdf(self, x: Value) -> Value:
        return -(x / self.scale) ** self.concentration

    def icdf(self, u: onp.ndarray) -> onp.ndarray:
        return plain(self.scale) * (-onp.log1p(-u)) ** (1 / plain(self.concentration))
