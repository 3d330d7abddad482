"""Continuous families whose pathwise form is an inverse CDF without a closed form: Gamma and its
relatives, Beta, StudentT and VonMises, differentiated by implicit reparameterization
(`ppl.kernels.implicit`). Each also has an exact sampler of its own (numpy's) for draws that need no
gradient."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from ..kernels.special import betaln, gammaln, ive

from . import cdf, constraints
from ..kernels import fused, implicit
from .base import Distribution, broadcast, plain

if TYPE_CHECKING:
    from .base import Rng, Value

_uniform = staticmethod(implicit.uniform)


def _moment_or(ok, value, otherwise):
    """value where the moment exists (ok), else `otherwise`, with no nan from the other branch."""
    return np.where(ok, value, otherwise)


class Gamma(cdf.GammaCDF, Distribution):
    """rate^concentration x^(concentration - 1) exp(-rate x) / Gamma(concentration) for x > 0"""

    signatures = (("concentration", "rate"),)
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    noise = _uniform
    mean = property(lambda self: self._full(self.concentration / self.rate))
    variance = property(lambda self: self._full(self.concentration / self.rate**2))

    def transform(self, eps: Value) -> Value:
        """gamma_icdf(eps; concentration) / rate, eps ~ Uniform(0, 1), implicit gradient"""
        return implicit.standard_gamma(self.concentration, eps) / self.rate

    def log_prob_unchecked(self, x: Value) -> Value:
        c, r = self.concentration, self.rate
        return c * np.log(r) + (c - 1) * np.log(x) - r * x - gammaln(c)

    density = (fused.gamma, ("concentration", "rate"))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.standard_gamma(onp.broadcast_to(self.concentration, shape)) / self.rate


class InverseGamma(Distribution):
    """rate^concentration x^(-concentration - 1) exp(-rate / x) / Gamma(concentration) for x > 0"""

    signatures = (("concentration", "rate"),)
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    noise = _uniform

    def transform(self, eps: Value) -> Value:
        """rate / gamma_icdf(eps; concentration), eps ~ Uniform(0, 1), implicit gradient"""
        return self.rate / implicit.standard_gamma(self.concentration, eps)

    def log_prob_unchecked(self, x: Value) -> Value:
        c, r = self.concentration, self.rate
        return c * np.log(r) - (c + 1) * np.log(x) - r / x - gammaln(c)

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return self.rate / rng.standard_gamma(onp.broadcast_to(self.concentration, shape))

    @property
    def mean(self) -> Value:
        c = self.concentration
        return self._full(_moment_or(c > 1, self.rate / np.where(c > 1, c - 1, 1.0), np.inf))

    @property
    def variance(self) -> Value:
        c = np.where(self.concentration > 2, self.concentration, 3.0)
        return self._full(_moment_or(self.concentration > 2, self.rate**2 / ((c - 1) ** 2 * (c - 2)), np.inf))


class Chi2(Distribution):
    """x^(df/2 - 1) exp(-x/2) / (2^(df/2) Gamma(df/2)) for x > 0"""

    signatures = (("df",),)
    arg_constraints = {"df": constraints.positive}
    support = constraints.positive
    noise = _uniform
    mean = property(lambda self: self._full(self.df))
    variance = property(lambda self: self._full(2 * self.df))

    def transform(self, eps: Value) -> Value:
        """2 * gamma_icdf(eps; df / 2), eps ~ Uniform(0, 1), implicit gradient"""
        return 2 * implicit.standard_gamma(self.df / 2, eps)

    def log_prob_unchecked(self, x: Value) -> Value:
        return (self.df / 2 - 1) * np.log(x) - x / 2 - self.df / 2 * math.log(2) - gammaln(self.df / 2)

    def log_prob_sum(self, x: Value) -> Value:
        return fused.gamma(x, self.df / 2, 0.5)

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.chisquare(onp.broadcast_to(self.df, shape))


class Beta(cdf.BetaCDF, Distribution):
    """x^(concentration1 - 1) (1 - x)^(concentration0 - 1) / B(concentration1, concentration0) for 0 < x < 1"""

    signatures = (("concentration1", "concentration0"),)
    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    noise = _uniform

    def transform(self, eps: Value) -> Value:
        """beta_icdf(eps; concentration1; concentration0), eps ~ Uniform(0, 1), implicit gradient"""
        return implicit.beta(self.concentration1, self.concentration0, eps)

    def log_prob_unchecked(self, x: Value) -> Value:
        a, b = self.concentration1, self.concentration0
        return (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - betaln(a, b)

    density = (fused.beta, ("concentration1", "concentration0"))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.beta(*(onp.broadcast_to(c, shape) for c in (self.concentration1, self.concentration0)))

    @property
    def mean(self) -> Value:
        return self._full(self.concentration1 / (self.concentration1 + self.concentration0))

    @property
    def variance(self) -> Value:
        a, b = self.concentration1, self.concentration0
        return self._full(a * b / ((a + b) ** 2 * (a + b + 1)))


class StudentT(Distribution):
    """Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi) scale) (1 + z^2 / df)^(-(df+1)/2), z = (x - loc) / scale"""

    signatures = (("df", "loc", "scale"),)
    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    @staticmethod
    def noise(rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        """A standard normal and a uniform draw, stacked on a leading axis."""
        return onp.stack([rng.standard_normal(shape), implicit.uniform(rng, shape)])

    def transform(self, eps: Value) -> Value:
        """loc + scale * n * sqrt(df / (2 * gamma_icdf(u; df / 2))), eps = (n, u) ~ (Normal(0, 1), Uniform(0, 1))"""
        # A normal over the root of an independent chi-square / df: the Gamma carries the
        # implicit gradient in df.
        return self.loc + self.scale * eps[0] * np.sqrt(self.df / (2 * implicit.standard_gamma(self.df / 2, eps[1])))

    def log_prob_unchecked(self, x: Value) -> Value:
        df, z = self.df, (x - self.loc) / self.scale
        return (gammaln((df + 1) / 2) - gammaln(df / 2) - 0.5 * np.log(df * math.pi) - np.log(self.scale)
                - (df + 1) / 2 * np.log1p(z**2 / df))

    density = (fused.student_t, ("df", "loc", "scale"))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return self.loc + self.scale * rng.standard_t(onp.broadcast_to(self.df, shape))

    @property
    def mean(self) -> Value:
        return self._full(_moment_or(self.df > 1, self.loc, np.nan))

    @property
    def variance(self) -> Value:
        df = np.where(self.df > 2, self.df, 3.0)
        finite = self.scale**2 * df / (df - 2)
        return self._full(np.where(self.df > 2, finite, np.where(self.df > 1, np.inf, np.nan)))


def _wrap(angle):
    return np.mod(angle + math.pi, 2 * math.pi) - math.pi


class VonMises(Distribution):
    """exp(concentration cos(x - loc)) / (2 pi I0(concentration)) for -pi <= x <= pi"""

    signatures = (("loc", "concentration"),)
    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    # An angle, kept in [-pi, pi]: on the whole line the density would be periodic and improper.
    support = constraints.circular
    noise = _uniform

    def transform(self, eps: Value) -> Value:
        """wrap(loc + von_mises_icdf(eps; concentration)), eps ~ Uniform(0, 1), implicit gradient"""
        return _wrap(self.loc + implicit.von_mises(self.concentration, eps))

    def log_prob_unchecked(self, x: Value) -> Value:
        k = self.concentration
        # ive(0, k) = exp(-k) I0(k) keeps large concentrations finite.
        return k * (np.cos(x - self.loc) - 1) - np.log(2 * math.pi * ive(0, k))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.vonmises(*(onp.broadcast_to(a, shape) for a in (self.loc, self.concentration)))

    @property
    def mean(self) -> Value:
        """The mean direction, loc wrapped into [-pi, pi)."""
        return self._full(_wrap(self.loc))

    @property
    def variance(self) -> Value:
        """E[wrap(x - loc)^2] = pi^2/3 + 4 sum_n (-1)^n (I_n / I_0)(concentration) / n^2: the
        variance of the angle when loc is 0 (scipy's), the spread about loc otherwise."""
        k = onp.broadcast_to(plain(self.concentration), self.batch_shape).ravel()
        r = implicit.bessel_ratios(k)
        n = onp.arange(1, r.shape[1] + 1)
        v = math.pi**2 / 3 + 4 * (r * (-1.0) ** n / n**2).sum(-1)
        return broadcast(v.reshape(self.batch_shape), self.batch_shape)
