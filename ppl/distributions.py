"""Probability distributions, parameterized as in scipy.stats.

Log densities use autograd.numpy, so they can be differentiated with respect
to the parameters (and the value, for continuous families); parameters may be
autograd boxes and carry any leading batch axes.  Samplers are plain numpy.
A family is reparameterizable exactly when it defines `transform`, which maps
parameter-free `noise` to a draw differentiably in the parameters.
"""
import math

import numpy as onp
import autograd.numpy as np
from autograd.scipy.special import expit, gammaln, logsumexp
from autograd.tracer import Box, getval

from . import constraints, fused
from .constraints import _short

__all__ = [
    "Distribution", "DISTRIBUTIONS", "Normal", "HalfNormal", "LogNormal", "Exponential",
    "Uniform", "Laplace", "Cauchy", "HalfCauchy", "Bernoulli", "Categorical", "Poisson",
]

_LOG_2PI = math.log(2 * math.pi)


class _classproperty:
    """Read-only property computed from the class, so it answers before instantiation."""

    def __init__(self, fget):
        self.fget = fget

    def __get__(self, obj, cls):
        return self.fget(cls)


def _log_sigmoid(u):
    # -softplus(-u) stays finite where log(expit(u)) would underflow.
    return -np.logaddexp(0.0, -u)


def _broadcast(a, shape):
    # Addition sums the gradient back over broadcast axes; autograd's
    # broadcast_to cannot add leading axes.
    return a + np.zeros(shape)


def _where(cond, a, b):
    # autograd's where does not sum its gradient back over broadcast axes,
    # so both branches are broadcast to the result shape first.
    shape = onp.broadcast_shapes(onp.shape(cond), np.shape(a), np.shape(b))
    return np.where(cond, _broadcast(a, shape), _broadcast(b, shape))


class Distribution:
    """Base class: declarations on the class, arguments on the instance."""

    signatures = ()       # accepted argument-name sets; the first is the positional order
    arg_constraints = {}
    arg_event_dims = {}   # trailing axes of an argument that are not batch axes
    support = constraints.real
    discrete = False
    guide_arg = None      # discrete families: the argument a same-family guide learns
    transform = None      # reparameterizable families define transform(self, eps)
    enumerate_support = None   # finite discrete families define enumerate_support(self) -> values

    def __init__(self, **args):
        if not any(set(args) == set(sig) for sig in self.signatures):
            expected = " or ".join(f"({', '.join(sig)})" for sig in self.signatures)
            raise TypeError(f"{type(self).__name__} takes {expected}, got ({', '.join(args)})")
        # Boxes pass through so gradients flow; anything else becomes a float array.
        self.args = {k: v if isinstance(v, Box) else onp.asarray(v, dtype=float)
                     for k, v in args.items()}

    def __getattr__(self, name):
        # Reached only when normal lookup fails: expose the given arguments.
        args = self.__dict__.get("args", {})
        if name in args:
            return args[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @_classproperty
    def reparameterized(cls):
        return cls.transform is not None

    @property
    def batch_shape(self):
        return onp.broadcast_shapes(*(
            np.shape(v)[:np.ndim(v) - self.arg_event_dims.get(k, 0)] for k, v in self.args.items()))

    def log_prob(self, x):
        x = x if isinstance(x, Box) else onp.asarray(x)
        # Out-of-support values may produce log(0) or nan before masking.
        with onp.errstate(divide="ignore", invalid="ignore"):
            return _where(self.support.check(x), self._log_prob(x), -np.inf)

    def log_prob_sum(self, x):
        """log_prob summed over every axis but the first (the particle axis), for a value known
        to lie in the support; families with a fused form override it with one primitive."""
        lp = self._log_prob(x)
        return np.sum(lp, axis=tuple(range(1, np.ndim(lp)))) if np.ndim(lp) > 1 else lp

    def sample(self, rng, shape=()):
        shape = tuple(shape)
        plain = type(self)(**{k: getval(v) for k, v in self.args.items()})
        if self.transform is not None:
            draw = plain.transform(self.noise(rng, shape))
        else:
            draw = plain._sample(rng, shape)
        if onp.shape(draw) != shape:
            raise ValueError(f"sample shape {shape} does not cover batch shape {self.batch_shape}")
        return draw

    def _full(self, value):
        return _broadcast(value, self.batch_shape)

    def __repr__(self):
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items())
        return f"{type(self).__name__}({args})"


class Normal(Distribution):
    """exp(-((x - loc) / scale)^2 / 2) / (scale sqrt(2 pi))"""

    signatures = (("loc", "scale"),)
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    noise = staticmethod(lambda rng, shape: rng.standard_normal(shape))
    mean = property(lambda self: self._full(self.loc))
    variance = property(lambda self: self._full(self.scale**2))

    def transform(self, eps):
        """loc + scale * eps, eps ~ Normal(0, 1)"""
        return self.loc + self.scale * eps

    def _log_prob(self, x):
        z = (x - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * _LOG_2PI

    def log_prob_sum(self, x):
        return fused.normal(x, self.loc, self.scale)


class HalfNormal(Distribution):
    """2 Normal(x; 0, scale) for x > 0"""

    signatures = (("scale",),)
    arg_constraints = {"scale": constraints.positive}
    support = constraints.positive
    noise = staticmethod(lambda rng, shape: rng.standard_normal(shape))
    mean = property(lambda self: self._full(self.scale * math.sqrt(2 / math.pi)))
    variance = property(lambda self: self._full(self.scale**2 * (1 - 2 / math.pi)))

    def transform(self, eps):
        """scale * |eps|, eps ~ Normal(0, 1)"""
        return self.scale * np.abs(eps)

    def _log_prob(self, x):
        z = x / self.scale
        return -0.5 * z**2 - np.log(self.scale) + 0.5 * math.log(2 / math.pi)

    def log_prob_sum(self, x):
        return fused.half_normal(x, self.scale)


class LogNormal(Distribution):
    """Normal(log x; loc, scale) / x for x > 0"""

    signatures = (("loc", "scale"),)
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    noise = staticmethod(lambda rng, shape: rng.standard_normal(shape))
    mean = property(lambda self: self._full(np.exp(self.loc + self.scale**2 / 2)))
    variance = property(lambda self: self._full(
        np.expm1(self.scale**2) * np.exp(2 * self.loc + self.scale**2)))

    def transform(self, eps):
        """exp(loc + scale * eps), eps ~ Normal(0, 1)"""
        return np.exp(self.loc + self.scale * eps)

    def _log_prob(self, x):
        log_x = np.log(x)
        z = (log_x - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * _LOG_2PI - log_x


class Exponential(Distribution):
    """rate exp(-rate x) for x > 0"""

    signatures = (("rate",),)
    arg_constraints = {"rate": constraints.positive}
    support = constraints.positive
    noise = staticmethod(lambda rng, shape: rng.standard_exponential(shape))
    mean = property(lambda self: self._full(1 / self.rate))
    variance = property(lambda self: self._full(self.rate**-2))

    def transform(self, eps):
        """eps / rate, eps ~ Exponential(1)"""
        return eps / self.rate

    def _log_prob(self, x):
        return np.log(self.rate) - self.rate * x

    def log_prob_sum(self, x):
        return fused.exponential(x, self.rate)


class Uniform(Distribution):
    """1 / (high - low) for low <= x <= high"""

    signatures = (("low", "high"),)
    arg_constraints = {"low": constraints.real, "high": constraints.real}
    noise = staticmethod(lambda rng, shape: rng.random(shape))
    mean = property(lambda self: self._full((self.low + self.high) / 2))
    variance = property(lambda self: self._full((self.high - self.low) ** 2 / 12))

    @property
    def support(self):
        return constraints.interval(self.low, self.high)

    def transform(self, eps):
        """low + (high - low) * eps, eps ~ Uniform(0, 1)"""
        return self.low + (self.high - self.low) * eps

    def _log_prob(self, x):
        return -np.log(self.high - self.low)


class Laplace(Distribution):
    """exp(-|x - loc| / scale) / (2 scale)"""

    signatures = (("loc", "scale"),)
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    noise = staticmethod(lambda rng, shape: rng.laplace(size=shape))
    mean = property(lambda self: self._full(self.loc))
    variance = property(lambda self: self._full(2 * self.scale**2))

    def transform(self, eps):
        """loc + scale * eps, eps ~ Laplace(0, 1)"""
        return self.loc + self.scale * eps

    def _log_prob(self, x):
        return -np.abs(x - self.loc) / self.scale - np.log(2 * self.scale)


class Cauchy(Distribution):
    """1 / (pi scale (1 + ((x - loc) / scale)^2))"""

    signatures = (("loc", "scale"),)
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    noise = staticmethod(lambda rng, shape: rng.standard_cauchy(shape))
    # The moments are undefined; reported as scipy.stats does.
    mean = property(lambda self: onp.full(self.batch_shape, onp.nan))
    variance = property(lambda self: onp.full(self.batch_shape, onp.nan))

    def transform(self, eps):
        """loc + scale * eps, eps ~ Cauchy(0, 1)"""
        return self.loc + self.scale * eps

    def _log_prob(self, x):
        z = (x - self.loc) / self.scale
        return -np.log1p(z**2) - np.log(math.pi * self.scale)

    def log_prob_sum(self, x):
        return fused.cauchy(x, self.loc, self.scale)


class HalfCauchy(Distribution):
    """2 Cauchy(x; 0, scale) for x > 0"""

    signatures = (("scale",),)
    arg_constraints = {"scale": constraints.positive}
    support = constraints.positive
    noise = staticmethod(lambda rng, shape: rng.standard_cauchy(shape))
    # The moment integrals diverge to +inf.
    mean = property(lambda self: onp.full(self.batch_shape, onp.inf))
    variance = property(lambda self: onp.full(self.batch_shape, onp.inf))

    def transform(self, eps):
        """scale * |eps|, eps ~ Cauchy(0, 1)"""
        return self.scale * np.abs(eps)

    def _log_prob(self, x):
        z = x / self.scale
        return -np.log1p(z**2) - np.log(math.pi / 2 * self.scale)

    def log_prob_sum(self, x):
        return fused.half_cauchy(x, self.scale)


class Bernoulli(Distribution):
    """probs^x (1 - probs)^(1 - x) for x in {0, 1}"""

    signatures = (("probs",), ("logits",))
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    discrete = True
    guide_arg = "logits"
    mean = property(lambda self: self._full(self.probs))
    variance = property(lambda self: self._full(self.probs * (1 - self.probs)))

    @property
    def probs(self):
        return self.args["probs"] if "probs" in self.args else expit(self.args["logits"])

    @property
    def logits(self):
        if "logits" in self.args:
            return self.args["logits"]
        with onp.errstate(divide="ignore"):  # probs of 0 or 1 give infinite logits
            return np.log(self.args["probs"]) - np.log1p(-self.args["probs"])

    def _log_prob(self, x):
        # Select rather than multiply, so 0 * log(0) never turns into nan.
        if "logits" in self.args:
            return _where(x == 1, _log_sigmoid(self.logits), _log_sigmoid(-self.logits))
        return _where(x == 1, np.log(self.probs), np.log1p(-self.probs))

    def log_prob_sum(self, x):
        if "logits" in self.args:
            return fused.bernoulli_logits(x, self.logits)
        return super().log_prob_sum(x)

    def _sample(self, rng, shape):
        return (rng.random(shape) < self.probs).astype(onp.int64)

    def enumerate_support(self):
        return onp.arange(2)


class Categorical(Distribution):
    """probs[..., x] / sum(probs) for x in {0, ..., K-1}, categories on the last axis"""

    signatures = (("probs",), ("logits",))
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}
    arg_event_dims = {"probs": 1, "logits": 1}
    discrete = True
    guide_arg = "logits"

    @property
    def num_categories(self):
        return np.shape(next(iter(self.args.values())))[-1]

    @property
    def support(self):
        return constraints.integer_interval(0, self.num_categories - 1)

    def enumerate_support(self):
        return onp.arange(self.num_categories)

    @property
    def log_probs(self):
        """Normalized log probabilities over the last axis."""
        if "logits" in self.args:
            logits = self.args["logits"]
            return logits - logsumexp(logits, axis=-1, keepdims=True)
        probs = self.args["probs"]
        with onp.errstate(divide="ignore"):  # impossible categories get -inf
            return np.log(probs) - np.log(np.sum(probs, axis=-1, keepdims=True))

    @property
    def probs(self):
        return self.args["probs"] if "probs" in self.args else np.exp(self.log_probs)

    @property
    def logits(self):
        return self.args["logits"] if "logits" in self.args else self.log_probs

    def _log_prob(self, x):
        shape = onp.broadcast_shapes(self.batch_shape, onp.shape(x))
        # Out-of-support entries read category 0 here; log_prob masks them.
        index = onp.where(self.support.check(x), getval(x), 0).astype(onp.int64)
        log_probs = _broadcast(self.log_probs, shape + (self.num_categories,))
        return log_probs[onp.indices(shape, sparse=True) + (onp.broadcast_to(index, shape),)]

    def log_prob_sum(self, x):
        if "logits" in self.args:
            return fused.categorical_logits(x, self.logits)
        return super().log_prob_sum(x)

    def _sample(self, rng, shape):
        cdf = onp.cumsum(onp.exp(self.log_probs), axis=-1)
        u = rng.random(shape + (1,)) * cdf[..., -1:]
        # The number of cdf steps at or below u is the category, never above K-1.
        return onp.sum(cdf[..., :-1] <= u, axis=-1).astype(onp.int64)

    @property
    def mean(self):
        return np.sum(np.exp(self.log_probs) * onp.arange(self.num_categories), axis=-1)

    @property
    def variance(self):
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

    def _log_prob(self, x):
        return x * np.log(self.rate) - self.rate - gammaln(x + 1.0)

    def log_prob_sum(self, x):
        return fused.poisson(x, self.rate)

    def _sample(self, rng, shape):
        return rng.poisson(self.rate, size=shape).astype(onp.int64)


DISTRIBUTIONS = {cls.__name__: cls for cls in (
    Normal, HalfNormal, LogNormal, Exponential, Uniform, Laplace, Cauchy, HalfCauchy,
    Bernoulli, Categorical, Poisson)}
