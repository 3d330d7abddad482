"""Discrete families. Each declares `guide_arg`, the argument a same-family variational guide
learns (logits where there is a choice: they are unconstrained), and, when its support is finite,
`enumerate_support`."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from ..kernels.special import betaln, expit, gammaln, logsumexp

from . import constraints
from ..kernels import fused
from .base import Distribution, log_choose, log_sigmoid, plain, where, xlogy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .base import Rng, Value


def _count(low, high) -> int:
    """How many integers low..high cover over the whole batch (none allocated)."""
    return max(0, int(onp.max(plain(high))) - int(onp.min(plain(low))) + 1)


def _range(low, high):
    """Every integer some batch member can take: low..high over the whole batch."""
    return onp.arange(int(onp.min(plain(low))), int(onp.max(plain(high))) + 1)


def _within(x, low, high, log_p):
    # Enumeration scores every value against every batch member; values outside a member's own
    # range get -inf rather than a formula evaluated out of its domain.
    x = plain(x)
    return where((x >= plain(low)) & (x <= plain(high)), log_p, -np.inf)


class _ProbsOrLogits(Distribution):
    """Reads `probs` and `logits` whichever was given (probs for a binary event)."""

    guide_arg = "logits"

    @property
    def probs(self) -> Value:
        return self.args["probs"] if "probs" in self.args else expit(self.args["logits"])

    @property
    def logits(self) -> Value:
        if "logits" in self.args:
            return self.args["logits"]
        with onp.errstate(divide="ignore"):  # probs of 0 or 1 give infinite logits
            return np.log(self.args["probs"]) - np.log1p(-self.args["probs"])


class Bernoulli(_ProbsOrLogits):
    """probs^x (1 - probs)^(1 - x) for x in {0, 1}"""

    signatures = (("probs",), ("logits",))
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    discrete = True
    mean = property(lambda self: self._full(self.probs))
    variance = property(lambda self: self._full(self.probs * (1 - self.probs)))

    def log_prob_unchecked(self, x: Value) -> Value:
        # Select rather than multiply, so 0 * log(0) never turns into nan.
        if "logits" in self.args:
            return where(x == 1, log_sigmoid(self.logits), log_sigmoid(-self.logits))
        return where(x == 1, np.log(self.probs), np.log1p(-self.probs))

    @classmethod
    def fused_density(cls, names: Iterable[str]) -> tuple[Callable[..., Value], tuple[str, ...]] | None:
        return (fused.bernoulli_logits, ("logits",)) if set(names) == {"logits"} else None

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return (rng.random(shape) < self.probs).astype(onp.int64)

    def enumerate_support(self) -> onp.ndarray:
        return onp.arange(2)


class Binomial(_ProbsOrLogits):
    """C(total_count, x) probs^x (1 - probs)^(total_count - x) for x in {0, ..., total_count}"""

    signatures = (("total_count", "probs"), ("total_count", "logits"))
    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    discrete = True
    mean = property(lambda self: self._full(self.total_count * self.probs))
    variance = property(lambda self: self._full(self.total_count * self.probs * (1 - self.probs)))

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.total_count)

    def enumerate_support(self) -> onp.ndarray:
        return _range(0, self.total_count)

    def support_size(self) -> int:
        return _count(0, self.total_count)

    def log_prob_unchecked(self, x: Value) -> Value:
        n = self.total_count
        k = onp.clip(plain(x), 0, plain(n))   # out-of-range values are masked below
        if "logits" in self.args:
            log_p = k * self.logits - n * np.logaddexp(0.0, self.logits)
        else:
            log_p = xlogy(k, self.probs) + xlogy(n - k, 1 - self.probs)
        return _within(x, 0, n, log_choose(n, k) + log_p)

    @classmethod
    def fused_density(cls, names: Iterable[str]) -> tuple[Callable[..., Value], tuple[str, ...]] | None:
        if set(names) == {"total_count", "logits"}:
            return fused.binomial_logits, ("total_count", "logits")
        return (fused.binomial_probs, ("total_count", "probs")) if set(names) == {"total_count", "probs"} else None

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.binomial(onp.broadcast_to(self.total_count, shape).astype(onp.int64), self.probs).astype(onp.int64)


class Categorical(Distribution):
    """probs[..., x] / sum(probs) for x in {0, ..., K-1}, categories on the last axis"""

    signatures = (("probs",), ("logits",))
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}
    arg_event_dims = {"probs": 1, "logits": 1}
    discrete = True
    guide_arg = "logits"

    @property
    def num_categories(self) -> int:
        return onp.shape(next(iter(self.args.values())))[-1]

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.num_categories - 1)

    def enumerate_support(self) -> onp.ndarray:
        return onp.arange(self.num_categories)

    @property
    def log_probs(self) -> Value:
        """Normalized log probabilities over the last axis."""
        if "logits" in self.args:
            logits = self.args["logits"]
            return logits - logsumexp(logits, axis=-1, keepdims=True)
        probs = self.args["probs"]
        with onp.errstate(divide="ignore"):  # impossible categories get -inf
            return np.log(probs) - np.log(np.sum(probs, axis=-1, keepdims=True))

    @property
    def probs(self) -> Value:
        return self.args["probs"] if "probs" in self.args else np.exp(self.log_probs)

    @property
    def logits(self) -> Value:
        return self.args["logits"] if "logits" in self.args else self.log_probs

    def log_prob_unchecked(self, x: Value) -> Value:
        shape = onp.broadcast_shapes(self.batch_shape, onp.shape(x))
        # Out-of-support entries read category 0 here; log_prob masks them.
        index = onp.where(self.support.check(x), plain(x), 0).astype(onp.int64)
        # gathered without broadcasting the table to every value (draws x categories can be huge):
        # an axis the table has once is read at 0
        log_probs = self.log_probs
        table = onp.shape(log_probs)[:-1]
        log_probs = np.reshape(log_probs, (1,) * (len(shape) - len(table)) + onp.shape(log_probs))
        grids = [g if n != 1 else 0 for g, n in zip(onp.indices(shape, sparse=True), onp.shape(log_probs)[:-1])]
        return log_probs[tuple(grids) + (onp.broadcast_to(index, shape),)] + onp.zeros(shape)

    def log_prob_sum(self, x: Value) -> Value:
        if "logits" in self.args:
            return fused.categorical_logits(x, self.logits)
        return super().log_prob_sum(x)

    def log_prob_elements(self, x: Value) -> Value:
        if "logits" in self.args:
            return fused.categorical_logits.pointwise(x, self.logits)
        return super().log_prob_elements(x)

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        p = onp.exp(plain(self.log_probs))
        # the cdf a category at a time (NumPy's cumsum over a short last axis is slow)
        cdf = [p[..., 0]]
        for j in range(1, p.shape[-1]):
            cdf.append(cdf[-1] + p[..., j])
        u = rng.random(shape) * cdf[-1]
        # The number of cdf steps at or below u is the category, never above K-1.
        count = onp.zeros(onp.broadcast_shapes(onp.shape(u), cdf[0].shape), dtype=onp.int64)
        for step in cdf[:-1]:
            count += step <= u
        return count

    @property
    def mean(self) -> Value:
        return np.sum(np.exp(self.log_probs) * onp.arange(self.num_categories), axis=-1)

    @property
    def variance(self) -> Value:
        k = onp.arange(self.num_categories)
        return np.sum(np.exp(self.log_probs) * k**2, axis=-1) - self.mean**2


class Poisson(Distribution):
    """rate^x exp(-rate) / x! for x in {0, 1, 2, ...}"""

    signatures = (("rate",),)
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative_integer
    discrete = True
    guide_arg = "rate"
    mean = property(lambda self: self._full(self.rate))
    variance = property(lambda self: self._full(self.rate))

    def log_prob_unchecked(self, x: Value) -> Value:
        return x * np.log(self.rate) - self.rate - gammaln(x + 1.0)

    @classmethod
    def fused_density(cls, names: Iterable[str]) -> tuple[Callable[..., Value], tuple[str, ...]] | None:
        return (fused.poisson, ("rate",)) if set(names) == {"rate"} else None

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.poisson(self.rate, size=shape).astype(onp.int64)


class Geometric(_ProbsOrLogits):
    """probs (1 - probs)^x for x in {0, 1, 2, ...}: failures before the first success"""

    signatures = (("probs",), ("logits",))
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer
    discrete = True
    mean = property(lambda self: self._full((1 - self.probs) / self.probs))
    variance = property(lambda self: self._full((1 - self.probs) / self.probs**2))

    def log_prob_unchecked(self, x: Value) -> Value:
        if "logits" in self.args:
            return x * log_sigmoid(-self.logits) + log_sigmoid(self.logits)
        return xlogy(x, 1 - self.probs) + np.log(self.probs)

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        return rng.geometric(onp.broadcast_to(self.probs, shape)).astype(onp.int64) - 1


class NegativeBinomial(_ProbsOrLogits):
    """Gamma(x + r) / (x! Gamma(r)) probs^x (1 - probs)^r, r = total_count: x successes before r failures"""

    signatures = (("total_count", "probs"), ("total_count", "logits"))
    arg_constraints = {"total_count": constraints.positive, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    support = constraints.nonnegative_integer
    discrete = True
    mean = property(lambda self: self._full(self.total_count * self.probs / (1 - self.probs)))
    variance = property(lambda self: self._full(self.total_count * self.probs / (1 - self.probs) ** 2))

    def log_prob_unchecked(self, x: Value) -> Value:
        r = self.total_count
        norm = gammaln(x + r) - gammaln(x + 1.0) - gammaln(r)
        if "logits" in self.args:
            return norm + x * log_sigmoid(self.logits) + r * log_sigmoid(-self.logits)
        return norm + xlogy(x, self.probs) + r * np.log1p(-self.probs)

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        # numpy counts failures before n successes: its success is our failure.
        r, p = (onp.broadcast_to(a, shape) for a in (self.total_count, self.probs))
        return rng.negative_binomial(r, 1 - p).astype(onp.int64)


class BetaBinomial(Distribution):
    """C(n, x) B(x + a, n - x + b) / B(a, b), n = total_count, a = concentration1, b = concentration0"""

    signatures = (("total_count", "concentration1", "concentration0"),)
    arg_constraints = {"total_count": constraints.nonnegative_integer, "concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    discrete = True
    # One learnable argument cannot move both the mean and the spread of a guide: none is declared.
    guide_arg = None

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.total_count)

    def enumerate_support(self) -> onp.ndarray:
        return _range(0, self.total_count)

    def support_size(self) -> int:
        return _count(0, self.total_count)

    def log_prob_unchecked(self, x: Value) -> Value:
        n, a, b = self.total_count, self.concentration1, self.concentration0
        k = onp.clip(plain(x), 0, plain(n))
        return _within(x, 0, n, log_choose(n, k) + betaln(k + a, n - k + b) - betaln(a, b))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        p = rng.beta(*(onp.broadcast_to(c, shape) for c in (self.concentration1, self.concentration0)))
        return rng.binomial(onp.broadcast_to(self.total_count, shape).astype(onp.int64), p).astype(onp.int64)

    @property
    def mean(self) -> Value:
        a, b = self.concentration1, self.concentration0
        return self._full(self.total_count * a / (a + b))

    @property
    def variance(self) -> Value:
        n, a, b = self.total_count, self.concentration1, self.concentration0
        return self._full(n * a * b * (a + b + n) / ((a + b) ** 2 * (a + b + 1)))


class DiscreteUniform(Distribution):
    """1 / (high - low + 1) for x in {low, ..., high}"""

    signatures = (("low", "high"),)
    arg_constraints = {"low": constraints.integer, "high": constraints.integer}
    discrete = True
    guide_arg = None      # nothing to learn: a guide over its values would be a Categorical
    mean = property(lambda self: self._full((self.low + self.high) / 2))
    variance = property(lambda self: self._full(((self.high - self.low + 1) ** 2 - 1) / 12))

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(self.low, self.high)

    def enumerate_support(self) -> onp.ndarray:
        return _range(self.low, self.high)

    def support_size(self) -> int:
        return _count(self.low, self.high)

    def log_prob_unchecked(self, x: Value) -> Value:
        return _within(x, self.low, self.high, -np.log(self.high - self.low + 1.0) + np.zeros(onp.shape(x)))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        for name in ("low", "high"):
            if onp.any(onp.abs(plain(self.args[name])) >= 2.0**63):
                raise ValueError(f"{name} is {float(onp.max(onp.abs(plain(self.args[name])))):.4g}: the bounds "
                                 "must stay below 2^63 (about 9.22e18), the integers a draw can take")
        low, high = (onp.broadcast_to(a, shape).astype(onp.int64) for a in (self.low, self.high))
        return rng.integers(low, high, endpoint=True)
