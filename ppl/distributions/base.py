"""The base class of every distribution, and helpers the families share."""
from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from ..kernels.special import sum_rest
from ..kernels.special import gammaln
from autograd.tracer import Box, getval

from . import constraints
from .constraints import short

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..kernels.streams import Streams

    # a family's arguments and values: numbers, NumPy arrays, or autograd Boxes around them
    Value = float | onp.ndarray | Box
    # where draws come from: a NumPy Generator, or a stand-in answering the same methods
    # (the per-particle `Streams`, the fixed draws and counter of `kernels.noise`)
    Rng = onp.random.Generator | Streams

LOG_2PI = math.log(2 * math.pi)


class _classproperty:
    """Read-only property computed from the class, so it answers before instantiation."""

    def __init__(self, fget):
        self.fget = fget

    def __get__(self, obj, cls):
        return self.fget(cls)


def log_sigmoid(u: Value) -> Value:
    # -softplus(-u) stays finite where log(expit(u)) would underflow.
    return -np.logaddexp(0.0, -u)


def broadcast(a: Value, shape: tuple[int, ...]) -> Value:
    # Addition sums the gradient back over broadcast axes; autograd's
    # broadcast_to cannot add leading axes.
    return a + np.zeros(shape)


def where(cond: onp.ndarray | bool, a: Value, b: Value) -> Value:
    # autograd's where does not sum its gradient back over broadcast axes,
    # so both branches are broadcast to the result shape first.
    shape = onp.broadcast_shapes(onp.shape(cond), onp.shape(a), onp.shape(b))
    return np.where(cond, broadcast(a, shape), broadcast(b, shape))


def xlogy(x: Value, y: Value) -> Value:
    """x log y, with 0 log 0 = 0 and no nan in the gradient."""
    both = (onp.asarray(getval(x)) == 0) & (onp.asarray(getval(y)) == 0)
    return x * np.log(where(both, 1.0, y))


def log_choose(n: Value, k: Value) -> Value:
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def plain(x: Value) -> onp.ndarray:
    return onp.asarray(getval(x))


def single_value(x: Value, what: str) -> onp.generic:
    """The one value an argument takes everywhere (a size must not vary across the batch)."""
    values = onp.unique(plain(x))
    if len(values) != 1:
        raise ValueError(f"{what} must be the same everywhere, got {values}")
    return values[0]


class Distribution:
    """Base class: declarations on the class, arguments on the instance.

    A value has batch axes (one distribution each) followed by `event_dim` event axes (a vector
    or matrix drawn as one: Dirichlet, MultivariateNormal, Multinomial, LKJCholesky); `log_prob_unchecked`
    gives one number per batch element. `sample(rng, shape)` and `noise(rng, shape)` take the
    value's whole shape, event axes included.
    """

    signatures = ()       # accepted argument-name sets; the first is the positional order
    arg_constraints = {}
    arg_event_dims = {}   # trailing axes of an argument that are not batch axes
    event_dim = 0         # trailing axes of a value that form one draw
    support = constraints.real
    discrete = False
    guide_arg = None      # discrete families: the argument a same-family guide learns
    transform = None      # reparameterizable families define transform(self, eps)
    enumerate_support = None   # finite discrete families define enumerate_support(self) -> values
    density = None        # (fused primitive, its argument names): log_prob_sum as one node
    elementwise = True    # each element's log-density depends on that element alone (a walk's does not)

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
    def reparameterized(cls) -> bool:
        return cls.transform is not None

    @_classproperty
    def moving_support(cls) -> bool:
        """Whether the support depends on the arguments (a property, as Uniform's), not fixed."""
        return isinstance(inspect.getattr_static(cls, "support", None), property)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return onp.broadcast_shapes(*(
            onp.shape(v)[:onp.ndim(v) - self.arg_event_dims.get(k, 0)] for k, v in self.args.items()))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return ()

    def log_prob(self, x: Value) -> Value:
        x = x if isinstance(x, Box) else onp.asarray(x)
        # Out-of-support values may produce log(0) or nan before masking.
        with onp.errstate(divide="ignore", invalid="ignore"):
            return where(self.support.check(x), self.log_prob_unchecked(x), -np.inf)

    def log_prob_elements(self, x: Value) -> Value:
        """`log_prob_unchecked` (one value per element, in the support), as one primitive for a family
        with a fused density for these arguments (`fused_density`)."""
        found = self.fused_density(self.args)
        if found is not None:
            primitive, names = found
            return primitive.pointwise(x, *(self.args[k] for k in names))
        return self.log_prob_unchecked(x)

    def log_prob_sum(self, x: Value) -> Value:
        """log_prob summed over every axis but the first (the particle axis), for a value known
        to lie in the support: one primitive for a family with a fused density for these
        arguments (`fused_density`)."""
        found = self.fused_density(self.args)
        if found is not None:
            primitive, names = found
            return primitive(x, *(self.args[k] for k in names))
        return sum_rest(self.log_prob_unchecked(x))

    @classmethod
    def fused_density(cls, names: Iterable[str]) -> tuple[Callable[..., Value], tuple[str, ...]] | None:
        """(primitive, argument order) when the log-density with arguments `names` is one fused
        primitive that lines its inputs up itself (`fused.align`), else None. A family declares
        `density` (one signature), or overrides this (a density per signature).

        >>> from ppl.distributions import Normal
        >>> Normal.fused_density({"loc", "scale"})[1]
        ('loc', 'scale')
        """
        if cls.density is not None and not cls.arg_event_dims and set(cls.density[1]) == set(names):
            return cls.density
        return None

    def support_size(self) -> int:
        """How many values `enumerate_support` would give, without making them."""
        return len(self.enumerate_support())

    def sample(self, rng: Rng, shape: Iterable[int] = ()) -> onp.ndarray:
        """Draws of the given shape (batch and event axes included), without gradient: by the
        family's own sampler `native_sample` if it has one, else through `transform`."""
        shape = tuple(shape)
        full = self.batch_shape + self.event_shape
        if len(shape) < len(full) or onp.broadcast_shapes(shape, full) != shape \
                or shape[len(shape) - self.event_dim:] != self.event_shape:
            raise ValueError(f"sample shape {shape} does not cover batch shape {self.batch_shape} "
                             f"and event shape {self.event_shape}")
        plain_self = type(self)(**{k: getval(v) for k, v in self.args.items()})
        with onp.errstate(divide="ignore", over="ignore"):
            if hasattr(self, "native_sample"):
                return plain_self.native_sample(rng, shape)
            return plain_self.transform(self.noise(rng, shape))

    def _full(self, value):
        return broadcast(value, self.batch_shape + self.event_shape)

    def __repr__(self):
        args = ", ".join(f"{k}={short(v)}" for k, v in self.args.items())
        return f"{type(self).__name__}({args})"
