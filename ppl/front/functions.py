"""The fixed table of functions a model may call.

Every value at run time carries a leading particle axis (of size K, or 1 when it does not vary
between particles), so reductions and vector operations act on the axes after the first.
A model can call nothing outside this table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import autograd.numpy as np
import numpy as onp

from ..kernels import special as sp
from ..kernels.special import sum_rest


MAX_ELEMENTS = 5 * 10**7   # elements in any one value (8 bytes each: 400 MB), particles included


class Refused(ValueError):
    """An operation refused with a message of its own; the caller adds the expression's position."""
    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint


class TooLarge(Refused):
    def __init__(self, count):
        super().__init__(f"would have {count:,} elements; the limit is {MAX_ELEMENTS:,}",
                         hint="a value this large would exhaust memory: use smaller sizes or fewer particles")
        self.count = count


def check_size(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Refuse a value of `shape` with more than MAX_ELEMENTS elements, before it is made."""
    if math.prod(shape) > MAX_ELEMENTS:
        raise TooLarge(math.prod(shape))
    return shape


def size_value(d) -> int:
    """A size given as a value (an array of one element): a whole number, 0 or more."""
    if onp.size(d) != 1:
        raise Refused(f"a size must be a single integer, but this one has shape {onp.shape(d)[1:]}")
    n = np.reshape(d, (-1,))[0]
    if not float(n).is_integer():
        raise Refused(f"a size must be an integer, but this one is {n}")
    if n < 0:
        raise Refused(f"a size cannot be negative, but this one is {int(n)}")
    return int(n)


@dataclass(frozen=True)
class Function:
    impl: Callable
    arity: tuple[int, int]      # (fewest, most) positional arguments
    doc: str
    static: bool = False        # arguments must be known before the fit (sizes)
    integer: bool = False       # result is integer-valued when its arguments are
    kind: str = "elementwise"   # elementwise | reduce (to a number) | vector (mixes the last axis) | make


def _rest_axes(x):
    return tuple(range(1, onp.ndim(x)))


def _mean(x):
    return np.mean(x, axis=_rest_axes(x)) if onp.ndim(x) > 1 else x


def _logsumexp(x):
    return sp.logsumexp(x, axis=_rest_axes(x)) if onp.ndim(x) > 1 else x


def _last_axis(f):
    def apply(x):
        if onp.ndim(x) < 2:
            raise ValueError("needs a vector argument")
        return f(x)
    return apply


def _softmax(x):
    return np.exp(_log_softmax(x))


def _log_softmax(x):
    return x - sp.logsumexp(x, axis=-1, keepdims=True)


def _dot(a, b):
    if onp.ndim(a) != 2 or onp.ndim(b) != 2:
        raise ValueError("dot takes two vectors")
    return np.sum(a * b, axis=-1)


def _filled(value):
    def make(*dims):
        return np.full(check_size((1,) + tuple(size_value(d) for d in dims)), value)
    return make


def _logit(p):
    return np.log(p) - np.log1p(-p)


FUNCTIONS: dict[str, Function] = {
    "exp": Function(np.exp, (1, 1), "exponential"),
    "log": Function(np.log, (1, 1), "natural logarithm"),
    "log1p": Function(np.log1p, (1, 1), "log(1 + x), accurate near 0"),
    "expm1": Function(np.expm1, (1, 1), "exp(x) - 1, accurate near 0"),
    "sqrt": Function(np.sqrt, (1, 1), "square root"),
    "abs": Function(np.abs, (1, 1), "absolute value", integer=True),
    "square": Function(np.square, (1, 1), "x^2", integer=True),
    "sin": Function(np.sin, (1, 1), "sine"),
    "cos": Function(np.cos, (1, 1), "cosine"),
    "tanh": Function(np.tanh, (1, 1), "hyperbolic tangent"),
    "sigmoid": Function(sp.expit, (1, 1), "1 / (1 + exp(-x))"),
    "logit": Function(_logit, (1, 1), "log(p / (1 - p))"),
    "softplus": Function(lambda x: np.logaddexp(0.0, x), (1, 1), "log(1 + exp(x))"),
    "lgamma": Function(sp.gammaln, (1, 1), "log of the gamma function"),
    "softmax": Function(_last_axis(_softmax), (1, 1), "softmax over the last axis", kind="vector"),
    "log_softmax": Function(_last_axis(_log_softmax), (1, 1), "log-softmax over the last axis", kind="vector"),
    "sum": Function(sum_rest, (1, 1), "sum of all elements", integer=True, kind="reduce"),
    "mean": Function(_mean, (1, 1), "mean of all elements", kind="reduce"),
    "logsumexp": Function(_logsumexp, (1, 1), "log of the sum of exp of all elements", kind="reduce"),
    "dot": Function(_dot, (2, 2), "inner product of two vectors", kind="reduce"),
    "ones": Function(_filled(1.0), (1, 3), "array of ones of the given sizes", static=True, kind="make"),
    "zeros": Function(_filled(0.0), (1, 3), "array of zeros of the given sizes", static=True, kind="make"),
}

CONSTANTS = {"pi": np.pi}
