"""Families whose values are vectors or matrices (`event_dim` > 0): Dirichlet, MultivariateNormal,
Multinomial, LKJCholesky."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from ..kernels.special import betaln, gammaln, logsumexp, multigammaln

from . import constraints
from ..kernels import implicit
from .base import LOG_2PI, Distribution, broadcast, plain, single_value, xlogy

if TYPE_CHECKING:
    from .base import Rng, Value


class Dirichlet(Distribution):
    """Gamma(sum(a)) / prod(Gamma(a)) prod(x^(a - 1)) on the simplex, a = concentration (last axis)"""

    signatures = (("concentration",),)
    arg_constraints = {"concentration": constraints.positive}
    arg_event_dims = {"concentration": 1}
    event_dim = 1
    support = constraints.simplex
    noise = staticmethod(implicit.uniform)
    event_shape = property(lambda self: onp.shape(self.concentration)[-1:])

    def transform(self, eps: Value) -> Value:
        """g / sum(g) with g = gamma_icdf(eps; concentration), eps ~ Uniform(0, 1) per component, implicit gradient"""
        g = implicit.standard_gamma(self.concentration, eps)
        return g / np.sum(g, axis=-1, keepdims=True)

    def log_prob_unchecked(self, x: Value) -> Value:
        a = self.concentration
        return (np.sum((a - 1) * np.log(x), axis=-1) + gammaln(np.sum(a, axis=-1))
                - np.sum(gammaln(a), axis=-1))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        g = rng.standard_gamma(onp.broadcast_to(self.concentration, shape))
        return g / g.sum(axis=-1, keepdims=True)

    @property
    def mean(self) -> Value:
        a = self.concentration
        return self._full(a / np.sum(a, axis=-1, keepdims=True))

    @property
    def variance(self) -> Value:
        a = self.concentration
        total = np.sum(a, axis=-1, keepdims=True)
        return self._full(a * (total - a) / (total**2 * (total + 1)))


class MultivariateNormal(Distribution):
    """exp(-|L^-1 (x - loc)|^2 / 2) / ((2 pi)^(k/2) det L), L = scale_tril or cholesky(covariance_matrix)"""

    signatures = (("loc", "covariance_matrix"), ("loc", "scale_tril"))
    arg_constraints = {"loc": constraints.real, "covariance_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    arg_event_dims = {"loc": 1, "covariance_matrix": 2, "scale_tril": 2}
    event_dim = 1
    support = constraints.real_vector
    noise = staticmethod(lambda rng, shape: rng.standard_normal(shape))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return onp.broadcast_shapes(onp.shape(self.loc)[-1:], onp.shape(self.scale_tril)[-1:])

    @property
    def scale_tril(self) -> Value:
        if "scale_tril" in self.args:
            return self.args["scale_tril"]
        return np.linalg.cholesky(self.args["covariance_matrix"])

    @property
    def covariance_matrix(self) -> Value:
        if "covariance_matrix" in self.args:
            return self.args["covariance_matrix"]
        L = self.args["scale_tril"]
        return np.matmul(L, np.swapaxes(L, -1, -2))

    def transform(self, eps: Value) -> Value:
        """loc + scale_tril @ eps, eps ~ Normal(0, I)"""
        return self.loc + np.sum(self.scale_tril * eps[..., None, :], axis=-1)

    def log_prob_unchecked(self, x: Value) -> Value:
        k = self.event_shape[0]
        batch = onp.broadcast_shapes(self.batch_shape, onp.shape(x)[:-1])
        # solve does not sum its gradient over broadcast axes: line everything up first
        L = broadcast(self.scale_tril, batch + (k, k))
        z = np.linalg.solve(L, broadcast(x - self.loc, batch + (k,))[..., None])[..., 0]
        log_det = np.sum(np.log(np.diagonal(L, axis1=-1, axis2=-2)), axis=-1)
        return -0.5 * np.sum(z**2, axis=-1) - log_det - 0.5 * k * LOG_2PI

    mean = property(lambda self: self._full(self.loc))
    variance = property(lambda self: self._full(np.sum(self.scale_tril**2, axis=-1)))


class Multinomial(Distribution):
    """total_count! prod(probs^x / x!) for counts x summing to total_count (categories on the last axis)"""

    signatures = (("total_count", "probs"), ("total_count", "logits"))
    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.simplex,
                       "logits": constraints.real}
    arg_event_dims = {"probs": 1, "logits": 1}
    event_dim = 1
    discrete = True
    guide_arg = "logits"

    @property
    def event_shape(self) -> tuple[int, ...]:
        return onp.shape(self.args.get("probs", self.args.get("logits")))[-1:]

    @property
    def support(self) -> constraints.Constraint:
        return constraints.multinomial(self.total_count)

    @property
    def log_probs(self) -> Value:
        if "logits" in self.args:
            return self.logits - logsumexp(self.logits, axis=-1, keepdims=True)
        with onp.errstate(divide="ignore"):
            return np.log(self.probs)

    @property
    def probs(self) -> Value:
        if "probs" in self.args:
            return self.args["probs"] / np.sum(self.args["probs"], axis=-1, keepdims=True)
        return np.exp(self.log_probs)

    @property
    def logits(self) -> Value:
        return self.args["logits"] if "logits" in self.args else self.log_probs

    def log_prob_unchecked(self, x: Value) -> Value:
        n = self.total_count
        # probs may hold zeros (0 log 0 = 0); logits never do
        terms = x * self.log_probs if "logits" in self.args else xlogy(x, self.probs)
        return gammaln(n + 1.0) + np.sum(terms - gammaln(x + 1.0), axis=-1)

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        n = onp.broadcast_to(self.total_count, shape[:-1]).astype(onp.int64)
        return rng.multinomial(n, onp.broadcast_to(plain(self.probs), shape)).astype(onp.int64)

    mean = property(lambda self: self._full(self.total_count[..., None] * self.probs))
    variance = property(lambda self: self._full(self.total_count[..., None] * self.probs * (1 - self.probs)))


class LKJCholesky(Distribution):
    """prod_i L_ii^(dimension - i - 1 + 2 concentration - 2) / c, L the Cholesky factor of a correlation matrix"""

    signatures = (("dimension", "concentration"),)
    arg_constraints = {"dimension": constraints.integer_interval(2, onp.inf),
                       "concentration": constraints.positive}
    event_dim = 2
    support = constraints.corr_cholesky
    noise = staticmethod(lambda rng, shape: onp.stack([
        onp.broadcast_to(implicit.uniform(rng, shape[:-1])[..., None], shape), rng.standard_normal(shape)]))

    @property
    def event_shape(self) -> tuple[int, ...]:
        k = int(single_value(self.dimension, "LKJCholesky's dimension"))
        return (k, k)

    def _row_betas(self):
        """Row i >= 1 of L is (sqrt(y_i) w_i, sqrt(1 - y_i)), w_i uniform on the unit sphere of R^i,
        y_i ~ Beta(i / 2, concentration + (dimension - 1 - i) / 2): the onion method
        (Lewandowski, Kurowicka, Joe 2009), as NumPyro samples it."""
        k = self.event_shape[0]
        i = onp.arange(1, k)
        return i / 2.0, np.expand_dims(self.concentration, -1) + (k - 1 - i) / 2.0

    def transform(self, eps: Value) -> Value:
        """onion(eps; concentration), eps ~ (Uniform(0, 1) per row; Normal(0, I)), implicit gradient"""
        k = self.event_shape[0]
        a, b = self._row_betas()
        y = implicit.beta(a, b, eps[0][..., 1:, 0])     # the Betas carry the gradient
        w = eps[1][..., 1:, :] * onp.tril(onp.ones((k, k)), -1)[1:]
        w = w / np.sqrt(np.sum(w**2, axis=-1, keepdims=True))
        rows = np.sqrt(y)[..., None] * w + np.sqrt(1 - y)[..., None] * onp.eye(k)[1:]
        first = np.zeros(onp.shape(rows)[:-2] + (1, k)) + onp.eye(k)[:1]
        return np.concatenate([first, rows], axis=-2)

    @property
    def mean(self) -> Value:
        # off the diagonal E[w] = 0; E[sqrt(1 - y)] = B(a, b + 1/2) / B(a, b)
        a, b = self._row_betas()
        k = self.event_shape[0]
        diag = np.exp(betaln(a, b + 0.5) - betaln(a, b))
        return self._full(np.concatenate([np.ones(onp.shape(diag)[:-1] + (1,)), diag], -1)[..., None] * onp.eye(k))

    @property
    def variance(self) -> Value:
        # below the diagonal E[y w_j^2] = E[y] / i = 1 / (2 concentration + dimension - 1)
        a, b = self._row_betas()
        k = self.event_shape[0]
        diag = b / (a + b) - np.exp(2 * (betaln(a, b + 0.5) - betaln(a, b)))
        diag = np.concatenate([np.zeros(onp.shape(diag)[:-1] + (1,)), diag], -1)
        off = 1 / (2 * np.expand_dims(self.concentration, (-1, -2)) + k - 1)
        return self._full(diag[..., None] * onp.eye(k) + off * onp.tril(onp.ones((k, k)), -1))

    def log_prob_unchecked(self, x: Value) -> Value:
        k = self.event_shape[0]
        eta = self.concentration
        i = onp.arange(1, k)
        order = np.expand_dims(2 * (eta - 1), -1) + (k - 1 - i)
        diag = np.diagonal(x, axis1=-1, axis2=-2)[..., 1:]
        # log c: Lewandowski et al. 2009, section 3.2, as NumPyro writes it
        alpha = eta + 0.5 * (k - 1)
        log_c = 0.5 * (k - 1) * math.log(math.pi) + multigammaln(alpha - 0.5, k - 1) - (k - 1) * gammaln(alpha)
        return np.sum(order * np.log(diag), axis=-1) - log_c
