"""The special functions the models need, as autograd primitives with their derivatives.

`autograd.scipy.special` has them too, but importing any of `autograd.scipy` loads scipy.stats and
scipy.integrate: 0.7 s of every start of `ppl`. Even `scipy.special` alone takes about 0.3 s to
import (its array-API layer loads numpy.f2py and numpy.testing), so it is imported on first use
(`sc`), and the two functions the common models need, expit and logsumexp, are plain NumPy here:
a model of Normals, Bernoullis and Categoricals never imports scipy. The rules below are
autograd's (first order).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import autograd.numpy as anp
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.numpy.numpy_vjps import repeat_to_match_shape, unbroadcast_f

if TYPE_CHECKING:
    from autograd.tracer import Box


class _Scipy:
    """`scipy.special`, imported when a function of it is first asked for."""

    def __getattr__(self, name):
        import scipy.special
        return getattr(scipy.special, name)


sc = _Scipy()


def sum_rest(x: onp.ndarray | Box) -> onp.ndarray | Box:
    """Sum over every axis but the first (the particle axis); differentiable."""
    return anp.sum(x, axis=tuple(range(1, onp.ndim(x)))) if onp.ndim(x) > 1 else x


def plain_expit(x: onp.ndarray | float) -> onp.ndarray:
    """1 / (1 + exp(-x)) in one pass of exp; where exp(-x) overflows (x < -709.78) the result
    is 0, below the true value by less than the smallest normal number."""
    with onp.errstate(over="ignore"):
        return 1.0 / (1.0 + onp.exp(-onp.asarray(x, dtype=float)))


SHORT_AXIS = 8      # an axis this short is reduced slice by slice (`plain_logsumexp`)


def plain_logsumexp(x: onp.ndarray | float, axis: int | tuple[int, ...] | None = None,
                    keepdims: bool = False) -> onp.ndarray:
    """log(sum(exp(x))) over `axis`, shifted by the maximum (all -inf gives -inf).

    NumPy reduces a short axis (a few categories) element by element when it is the last, and
    with some overhead elsewhere, several times slower than adding its few slices, as done here.

    >>> plain_logsumexp(onp.log([[1.0, 3.0]]), axis=-1)
    array([1.38629436])
    """
    x = onp.asarray(x, dtype=float)
    if isinstance(axis, int) and x.ndim > 1 and x.shape[axis] <= SHORT_AXIS:
        return _short_axis_logsumexp(x, axis % x.ndim, keepdims)
    top = onp.max(x, axis=axis, keepdims=True)
    top = onp.where(onp.isfinite(top), top, 0.0)
    with onp.errstate(divide="ignore"):
        out = onp.log(onp.sum(onp.exp(x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else onp.squeeze(out, axis=axis)


def _short_axis_logsumexp(x, axis, keepdims):
    slices = [x[(slice(None),) * axis + (j,)] for j in range(x.shape[axis])]
    top = slices[0]
    for s in slices[1:]:
        top = onp.maximum(top, s)
    top = onp.where(onp.isfinite(top), top, 0.0)
    total = onp.exp(slices[0] - top)
    for s in slices[1:]:
        total += onp.exp(s - top)
    with onp.errstate(divide="ignore"):
        out = onp.log(total) + top
    return onp.expand_dims(out, axis) if keepdims else out


expit = primitive(plain_expit)
logit = primitive(lambda x: sc.logit(x))
gammaln = primitive(lambda x: sc.gammaln(x))
betaln = primitive(lambda a, b: sc.betaln(a, b))
multigammaln = primitive(lambda a, d: sc.multigammaln(a, d))
ive = primitive(lambda n, x: sc.ive(n, x))
logsumexp = primitive(plain_logsumexp)
ndtr = primitive(lambda x: sc.ndtr(x))          # the standard normal cdf, Phi
log_ndtr = primitive(lambda x: sc.log_ndtr(x))  # log Phi, accurate far into both tails
erf = primitive(lambda x: sc.erf(x))
_LOG_SQRT_2PI = 0.5 * onp.log(2 * onp.pi)

defvjp(expit, lambda ans, x: lambda g: g * ans * (1 - ans))
defvjp(logit, lambda ans, x: lambda g: g / (x * (1 - x)))
defvjp(gammaln, lambda ans, x: lambda g: g * sc.digamma(x))
defvjp(ndtr, lambda ans, x: lambda g: g * onp.exp(-0.5 * x**2 - _LOG_SQRT_2PI))
defvjp(log_ndtr, lambda ans, x: lambda g: g * onp.exp(-0.5 * x**2 - _LOG_SQRT_2PI - ans))
defvjp(erf, lambda ans, x: lambda g: g * 2 / onp.sqrt(onp.pi) * onp.exp(-x**2))
defvjp(betaln,
       lambda ans, a, b: unbroadcast_f(a, lambda g: g * (sc.digamma(a) - sc.digamma(a + b))),
       lambda ans, a, b: unbroadcast_f(b, lambda g: g * (sc.digamma(b) - sc.digamma(a + b))))
defvjp(multigammaln,
       lambda ans, a, d: lambda g: g * onp.sum(sc.digamma(onp.expand_dims(a, -1) - onp.arange(d) / 2.0), -1),
       None)
defvjp(ive, None,
       lambda ans, n, x: unbroadcast_f(x, lambda g: g * (ans * (n / x - onp.sign(x)) + sc.ive(n + 1, x))))


def _logsumexp_vjp(ans, x, axis=None, keepdims=False):
    shape, dtype = onp.shape(x), onp.result_type(x)

    def vjp(g):
        g_repeated, _ = repeat_to_match_shape(g, shape, dtype, axis, keepdims)
        ans_repeated, _ = repeat_to_match_shape(ans, shape, dtype, axis, keepdims)
        return g_repeated * onp.exp(x - ans_repeated)
    return vjp


defvjp(logsumexp, _logsumexp_vjp)


@primitive
def solve_triangular(a: onp.ndarray, b: onp.ndarray, lower: bool = False) -> onp.ndarray:
    """a^-1 b for a triangular matrix a."""
    from scipy.linalg import solve_triangular as solve     # only the full-rank guide needs it
    return solve(a, b, lower=lower)


def _solve_transposed(a, g, lower):
    from scipy.linalg import solve_triangular as solve
    return solve(a, g, trans="T", lower=lower)


def _solve_a(ans, a, b, lower=False):
    tri = onp.tril if lower else onp.triu

    def vjp(g):
        v = _solve_transposed(a, g, lower)
        v = v if v.ndim > 1 else v[..., None]
        sol = ans if ans.ndim > 1 else ans[..., None]
        return -tri(onp.dot(v, sol.T))
    return vjp


defvjp(solve_triangular, _solve_a, lambda ans, a, b, lower=False: lambda g: _solve_transposed(a, g, lower))


# Wichura's AS 241 (PPND16): the normal quantile to about 1e-16 relative, as three rational
# functions (centre, tails, far tails); coefficients lowest power first
_CENTRE = ([3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3, 1.3731693765509461125e4,
            4.5921953931549871457e4, 6.7265770927008700853e4, 3.3430575583588128105e4, 2.5090809287301226727e3],
           [1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4, 5.2264952788528545610e3])
_TAIL = ([1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0, 3.64784832476320460504e0,
          1.27045825245236838258e0, 2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4],
         [1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
          1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4, 1.05075007164441684324e-9])
_FAR = ([6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0, 2.96560571828504891230e-1,
         2.65321895265761230930e-2, 1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7],
        [1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
         7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7, 2.04426310338993978564e-15])


def normal_quantile(p: onp.ndarray | float) -> onp.ndarray:
    """The standard normal quantile of `p` in (0, 1) (scipy's ndtri, without importing scipy).

    >>> round(float(normal_quantile(0.975)), 12)
    1.95996398454
    """
    p = onp.asarray(p, dtype=float)
    q = p - 0.5
    ratio = lambda c, r: onp.polyval(c[0][::-1], r) / onp.polyval(c[1][::-1], r)
    with onp.errstate(divide="ignore", invalid="ignore"):
        centre = q * ratio(_CENTRE, 0.180625 - q * q)
        r = onp.sqrt(-onp.log(onp.minimum(p, 1 - p)))
        tail = onp.where(r <= 5, ratio(_TAIL, r - 1.6), ratio(_FAR, r - 5))
    out = onp.where(onp.abs(q) <= 0.425, centre, onp.sign(q) * tail)
    return onp.where(p == 0, -onp.inf, onp.where(p == 1, onp.inf, out))
