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

from autograd.tracer import getval

from ..kernels import special as sp
from ..kernels.fused import align
from ..kernels.hmm import hmm_marginal
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
    static: bool = False        # arguments must be known before the fit (sizes, data)
    integer: bool = False       # result is integer-valued when its arguments are
    kind: str = "elementwise"   # elementwise | reduce (to a number) | vector (mixes the last axis) | make | matrix
    rank: Callable | None = None   # the result's rank from the arguments' (when not the kind's rule)
    axis: bool = False          # takes axis=k (0-based, over the value's own axes): reduces that axis only


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


def _reduce(f, whole):
    """A reduction over every axis but the particles' (`whole`), or over one (`axis`, the value's own)."""
    def apply(x, axis=None):
        if axis is None:
            return whole(x)
        if not 0 <= axis < onp.ndim(x) - 1:
            raise Refused(f"axis {axis} is out of range for a value with {onp.ndim(x) - 1} axes",
                          hint="axes are counted from 0")
        return f(x, axis + 1)
    return apply


def _matrix(f, least=3):
    def apply(*xs):
        if onp.ndim(xs[0]) < least:
            raise ValueError(f"needs a {'matrix' if least == 3 else 'vector'} argument")
        return f(*xs)
    return apply


def _where(c, a, b):
    c, a, b = align((getval(c), a, b))
    shape = onp.broadcast_shapes(onp.shape(c), onp.shape(a), onp.shape(b))
    return np.where(onp.asarray(c) != 0, a + np.zeros(shape), b + np.zeros(shape))


def _aligned(f):
    def apply(*xs):
        return f(*align(xs))
    return apply


def _log_mix(theta, lp1, lp2):
    theta, lp1, lp2 = align((theta, lp1, lp2))
    return np.logaddexp(np.log(theta) + lp1, np.log1p(-theta) + lp2)


def _diag(x):
    if onp.ndim(x) == 2:
        n = onp.shape(x)[1]
        return x[:, :, None] * onp.eye(n)
    if onp.ndim(x) == 3:
        return np.diagonal(x, axis1=-1, axis2=-2)      # the one form autograd differentiates
    raise ValueError("needs a vector or a matrix")


def _eye(n):
    n = size_value(n)
    check_size((1, n, n))
    return onp.eye(n)[None]


def _reshape(x, *dims):
    dims = tuple(size_value(d) for d in dims)
    if math.prod(dims) != math.prod(onp.shape(x)[1:]):
        raise Refused(f"cannot reshape a value of shape {onp.shape(x)[1:]} to {dims}",
                      hint="the sizes must multiply to the same number of elements")
    return np.reshape(x, onp.shape(x)[:1] + dims)


def _size(x):
    if onp.ndim(x) < 2:
        raise Refused("size of a single number", hint="size(x) is the length of x's first axis")
    return onp.asarray([onp.shape(x)[1]])


def _gp_exp_quad_cov(x, alpha, rho):
    """alpha^2 exp(-|x_i - x_j|^2 / (2 rho^2)) over the points x (a vector, or one row per point)."""
    if onp.ndim(x) == 2:
        x = x[:, :, None]
    d2 = np.sum((x[:, :, None, :] - x[:, None, :, :]) ** 2, axis=-1)
    alpha, rho = (np.reshape(v, onp.shape(v)[:1] + (1, 1)) if onp.ndim(v) == 1 else v for v in (alpha, rho))
    return alpha**2 * np.exp(-d2 / (2 * rho**2))


def _outer(a, b):
    return a[:, :, None] * b[:, None, :]


def _solve_triangular(a, b):
    """L^-1 b, L's lower triangle (by a general solve, whose gradient autograd has for stacks of
    matrices)."""
    if onp.ndim(a) != 3:
        raise ValueError("needs a matrix L")
    a = a * onp.tril(onp.ones(onp.shape(a)[1:]))
    vector = onp.ndim(b) == onp.ndim(a) - 1
    b = b[..., None] if vector else b
    lead = max(onp.shape(a)[0], onp.shape(b)[0])
    a = a if onp.shape(a)[0] == lead else a + np.zeros((lead,) + onp.shape(a)[1:])
    b = b if onp.shape(b)[0] == lead else b + np.zeros((lead,) + onp.shape(b)[1:])
    x = np.linalg.solve(a, b)
    return x[..., 0] if vector else x


def _cumprod(x):
    """Products along the last axis one factor at a time (autograd has no gradient of cumprod)."""
    out = [x[..., 0]]
    for i in range(1, onp.shape(x)[-1]):
        out.append(out[-1] * x[..., i])
    return np.stack(out, axis=-1)


def _hmm_marginal(log_omega, gamma, rho):
    if onp.ndim(log_omega) != 3 or onp.ndim(gamma) != 3 or onp.ndim(rho) != 2:
        raise Refused("hmm_marginal takes log_omega[K, N], Gamma[K, K] and rho[K]")
    k = onp.shape(log_omega)[1]
    if onp.shape(gamma)[1:] != (k, k) or onp.shape(rho)[1:] != (k,):
        raise Refused(f"hmm_marginal needs Gamma of shape ({k}, {k}) and rho of ({k},) for {k} states, got "
                      f"{onp.shape(gamma)[1:]} and {onp.shape(rho)[1:]}")
    return hmm_marginal(log_omega, gamma, rho)


def _max_rank(*ranks):
    return max(ranks)


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
    "sum": Function(_reduce(np.sum, sum_rest), (1, 1), "sum of all elements (axis=k: over axis k only)", integer=True,
                    kind="reduce", axis=True),
    "mean": Function(_reduce(np.mean, _mean), (1, 1), "mean of all elements (axis=k: over axis k only)", kind="reduce",
                     axis=True),
    "logsumexp": Function(_reduce(lambda x, axis: sp.logsumexp(x, axis=axis), _logsumexp), (1, 1),
                          "log of the sum of exp of all elements (axis=k: over axis k only)", kind="reduce",
                          axis=True),
    "min": Function(_reduce(np.min, lambda x: np.min(x, axis=_rest_axes(x)) if onp.ndim(x) > 1 else x), (1, 1), "smallest element (axis=k: along axis k)", integer=True, kind="reduce",
                    axis=True),
    "max": Function(_reduce(np.max, lambda x: np.max(x, axis=_rest_axes(x)) if onp.ndim(x) > 1 else x), (1, 1), "largest element (axis=k: along axis k)", integer=True, kind="reduce",
                    axis=True),
    "fmin": Function(_aligned(np.minimum), (2, 2), "elementwise minimum of two values", integer=True, rank=_max_rank),
    "fmax": Function(_aligned(np.maximum), (2, 2), "elementwise maximum of two values", integer=True, rank=_max_rank),
    "clip": Function(_aligned(np.clip), (3, 3), "clip(x, low, high): x held within [low, high]", rank=_max_rank),
    "where": Function(_where, (3, 3), "where(c, a, b): a where c is nonzero, else b", integer=True, rank=_max_rank),
    "Phi": Function(sp.ndtr, (1, 1), "the standard normal cdf"),
    "log_Phi": Function(sp.log_ndtr, (1, 1), "log of the standard normal cdf, accurate in the tails"),
    "erf": Function(sp.erf, (1, 1), "the error function"),
    "log_mix": Function(_log_mix, (3, 3), "log(theta exp(a) + (1 - theta) exp(b)): a two-component mixture's "
                        "log-density from its components'", rank=_max_rank),
    "cumsum": Function(_last_axis(lambda x: np.cumsum(x, axis=-1)), (1, 1), "cumulative sum over the last axis",
                       integer=True, kind="vector"),
    "cumprod": Function(_last_axis(_cumprod), (1, 1), "cumulative product over the last axis",
                        integer=True, kind="vector"),
    "transpose": Function(_matrix(lambda x: np.swapaxes(x, -1, -2)), (1, 1), "a matrix's transpose", integer=True,
                          kind="matrix"),
    "outer": Function(_matrix(_outer, 2), (2, 2), "outer(a, b)[i, j] = a[i] b[j], of two vectors", kind="matrix",
                      rank=lambda a, b: 2),
    "diag": Function(_diag, (1, 1), "the diagonal matrix of a vector, or the diagonal of a matrix", kind="matrix",
                     rank=lambda a: 2 if a == 1 else 1),
    "cholesky": Function(_matrix(np.linalg.cholesky), (1, 1), "lower Cholesky factor of a positive definite matrix",
                         kind="matrix"),
    "solve_triangular": Function(_solve_triangular, (2, 2), "solve_triangular(L, b): x with L x = b, L lower "
                                 "triangular", kind="matrix", rank=lambda a, b: b),
    "gp_exp_quad_cov": Function(_gp_exp_quad_cov, (3, 3), "gp_exp_quad_cov(x, alpha, rho): the squared-exponential "
                                "covariance alpha^2 exp(-|x_i - x_j|^2 / (2 rho^2)) of the points x", kind="matrix",
                                rank=lambda *r: 2),
    "hmm_marginal": Function(_hmm_marginal, (3, 3), "hmm_marginal(log_omega, Gamma, rho): log p(y) of a hidden "
                             "Markov model, its states summed out by the forward algorithm (log_omega[k, n]: log-density "
                             "of observation n in state k; Gamma[i, j]: transition i to j; rho: initial)",
                             kind="reduce"),
    "eye": Function(_eye, (1, 1), "identity matrix of the given size", static=True, kind="make", rank=lambda n: 2),
    "reshape": Function(_reshape, (2, 4), "reshape(x, sizes...): x's elements in the given shape (sizes known "
                        "before the fit)", kind="matrix",
                        rank=lambda x, *dims: len(dims)),
    "size": Function(_size, (1, 1), "the length of a data value's first axis", static=True, integer=True,
                     kind="reduce"),
    "dot": Function(_dot, (2, 2), "inner product of two vectors", kind="reduce"),
    "ones": Function(_filled(1.0), (1, 3), "array of ones of the given sizes", static=True, kind="make"),
    "zeros": Function(_filled(0.0), (1, 3), "array of zeros of the given sizes", static=True, kind="make"),
}

CONSTANTS = {"pi": np.pi}
