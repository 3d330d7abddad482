"""The special functions the models need, as autograd primitives with their derivatives.

`autograd.scipy.special` has them too, but importing any of `autograd.scipy` loads scipy.stats and
scipy.integrate: 0.7 s of every start of `ppl`. The rules below are autograd's (first order).
"""
from __future__ import annotations

import numpy as onp
import scipy.special as sc
from autograd.extend import defvjp, primitive
from autograd.numpy.numpy_vjps import repeat_to_match_shape, unbroadcast_f

expit = primitive(sc.expit)
logit = primitive(sc.logit)
gammaln = primitive(sc.gammaln)
betaln = primitive(sc.betaln)
multigammaln = primitive(sc.multigammaln)
ive = primitive(sc.ive)
logsumexp = primitive(sc.logsumexp)

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


def _logsumexp_vjp(ans, x, axis=None, b=1.0, keepdims=False):
    shape, dtype = onp.shape(x), onp.result_type(x)

    def vjp(g):
        g_repeated, _ = repeat_to_match_shape(g, shape, dtype, axis, keepdims)
        ans_repeated, _ = repeat_to_match_shape(ans, shape, dtype, axis, keepdims)
        return g_repeated * b * onp.exp(x - ans_repeated)
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
