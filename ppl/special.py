"""The special functions the models need, as autograd primitives with their derivatives.

`autograd.scipy.special` has them too, but importing any of `autograd.scipy` loads scipy.stats and
scipy.integrate: 0.7 s of every start of `ppl`. Even `scipy.special` alone takes about 0.3 s to
import (its array-API layer loads numpy.f2py and numpy.testing), so it is imported on first use
(`sc`), and the two functions the common models need, expit and logsumexp, are plain NumPy here:
a model of Normals, Bernoullis and Categoricals never imports scipy. The rules below are
autograd's (first order).
"""
from __future__ import annotations

import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.numpy.numpy_vjps import repeat_to_match_shape, unbroadcast_f


class _Scipy:
    """`scipy.special`, imported when a function of it is first asked for."""

    def __getattr__(self, name):
        import scipy.special
        return getattr(scipy.special, name)


sc = _Scipy()


def plain_expit(x):
    """1 / (1 + exp(-x)) in one pass of exp; where exp(-x) overflows (x < -709.78) the result
    is 0, below the true value by less than the smallest normal number."""
    with onp.errstate(over="ignore"):
        return 1.0 / (1.0 + onp.exp(-onp.asarray(x, dtype=float)))


SHORT_AXIS = 8      # an axis this short is reduced slice by slice (`plain_logsumexp`)


def plain_logsumexp(x, axis=None, keepdims=False):
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

defvjp(expit, lambda ans, x: lambda g: g * ans * (1 - ans))
defvjp(logit, lambda ans, x: lambda g: g / (x * (1 - x)))
defvjp(gammaln, lambda ans, x: lambda g: g * sc.digamma(x))
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
def solve_triangular(a, b, lower=False):
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
