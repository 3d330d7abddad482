"""Log-densities summed over all but the particle axis, each one autograd primitive.

Autograd's cost is per traced operation, so the common densities are computed in plain NumPy with
hand-written partial derivatives: one node on the tape instead of five to ten. `fused(logp,
partials)` takes elementwise NumPy functions of (x, *args); `partials` returns d logp / d input for
every input, each broadcast to the full shape. Checked against the traced forms with
`autograd.test_util.check_grads` in tests/test_fused.py.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as onp
from autograd.extend import defvjp_argnums, primitive
from .special import plain_expit as expit
from .special import plain_logsumexp as logsumexp
from .special import sc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from autograd.tracer import Box

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def sum_rest(a: onp.ndarray) -> onp.ndarray:
    """Sum over every axis but the first (the particle axis)."""
    return a.sum(axis=tuple(range(1, a.ndim))) if a.ndim > 1 else a


def unbroadcast(g: onp.ndarray, shape: tuple[int, ...]) -> onp.ndarray:
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def fused(logp, partials=None, one=None, aligned=True):
    """The primitive x, *args -> sum_rest(logp(x, *args)), differentiable in every input, with
    `.pointwise`, the same without the sum (one value per element, for per-element scores).
    Its partial derivatives come either from `partials(x, *args)`, every input's at once (for
    families whose partials share most of their work), or from `one(i, x, *args)`, input i's
    alone: then an observation computes only its arguments' partials, a prior only its value's.

    With `aligned` (families without event axes), the inputs are lined up inside the primitive
    (`align`: axes inserted after the particle axis), so a caller passes them as they are and
    no reshape goes on the tape."""
    if partials is None:
        def partials(*inputs):
            return [_full_as(one(i, *inputs), inputs) for i in range(len(inputs))]

    def partial(i, *inputs):
        """The partial in input i, over the shape of the log-density."""
        return _full_as(one(i, *inputs), inputs) if one is not None else partials(*inputs)[i]

    line_up = align if aligned else (lambda inputs: inputs)

    @primitive
    def f(x, *args):
        with onp.errstate(divide="ignore", invalid="ignore"):
            return sum_rest(onp.asarray(logp(*line_up((x,) + args)), dtype=float))

    @primitive
    def pointwise(x, *args):
        with onp.errstate(divide="ignore", invalid="ignore"):
            return onp.asarray(logp(*line_up((x,) + args)), dtype=float)

    def make(argnums, ans, inputs, kwargs):
        lined = line_up(inputs)

        def vjp(g):          # the partials once, for the inputs that need one
            with onp.errstate(divide="ignore", invalid="ignore"):
                p = {argnums[0]: partial(argnums[0], *lined)} if len(argnums) == 1 else partials(*lined)
            out = []
            for i in argnums:
                d = onp.asarray(p[i])
                out.append(unalign(g.reshape(g.shape + (1,) * (d.ndim - g.ndim)) * d, inputs[i], lined[i]))
            return out
        return vjp

    defvjp_argnums(f, make)
    defvjp_argnums(pointwise, make)      # g has the values' shape there: the same products
    f.plain, f.partial = logp, partial          # for `meanfield`, which folds constant priors in
    f.pointwise = pointwise
    return f


def align(inputs: Sequence[onp.ndarray | Box | float]) -> Sequence[onp.ndarray | Box | float]:
    """Arrays of one rank: axes inserted after the first (the particle axis) of the lower-ranked,
    so broadcasting lines up their own axes from the right and never particles with elements. A
    plain number stays as it is. Expressions call it on autograd boxes (each reshape a node); a
    primitive, on the plain arrays inside it (no node)."""
    ranks = [getattr(a, "ndim", 0) for a in inputs]
    n = max(ranks)
    if all(r == n or r == 0 for r in ranks):
        return inputs
    return [a if r == n or r == 0 else a.reshape(a.shape[:1] + (1,) * (n - r) + a.shape[1:])
            for a, r in zip(inputs, ranks)]


def unalign(d: onp.ndarray, x: onp.ndarray | float, lined: onp.ndarray | float) -> onp.ndarray:
    """A gradient `d` (the result's shape) summed back to the shape of the input `x`, which
    `align` lined up as `lined`."""
    d = unbroadcast(d, onp.shape(lined))
    return d if d.shape == onp.shape(x) else d.reshape(onp.shape(x))


def _full(*arrays):
    shape = onp.broadcast_shapes(*(onp.shape(a) for a in arrays))
    return [a if onp.shape(a) == shape else onp.broadcast_to(a, shape) for a in arrays]


def _full_as(partial, inputs):
    """One partial broadcast to the shape of the log-density (that of all inputs together)."""
    shape = onp.broadcast_shapes(*(onp.shape(a) for a in inputs))
    return partial if onp.shape(partial) == shape else onp.broadcast_to(partial, shape)


def _normal(x, loc, scale):
    z = (x - loc) / scale
    return -0.5 * z * z - onp.log(scale) - HALF_LOG_2PI


def _normal_one(i, x, loc, scale):
    z = (x - loc) / scale
    return -z / scale if i == 0 else z / scale if i == 1 else (z * z - 1) / scale


def _half_normal(x, scale):
    z = x / scale
    return -0.5 * z * z - onp.log(scale) + 0.5 * math.log(2 / math.pi)


def _half_normal_partials(x, scale):
    z = x / scale
    return _full(-z / scale, (z * z - 1) / scale)


def _cauchy(x, loc, scale):
    z = (x - loc) / scale
    return -onp.log1p(z * z) - onp.log(math.pi * scale)


def _cauchy_partials(x, loc, scale):
    z = (x - loc) / scale
    dx = -2 * z / (scale * (1 + z * z))
    return _full(dx, -dx, (2 * z * z / (1 + z * z) - 1) / scale)


def _half_cauchy(x, scale):
    return _cauchy(x, 0.0, scale) + math.log(2)


def _half_cauchy_partials(x, scale):
    dx, _, ds = _cauchy_partials(x, 0.0, scale)
    return dx, ds


def _exponential(x, rate):
    return onp.log(rate) - rate * x


def _exponential_partials(x, rate):
    return _full(-rate + 0 * x, 1 / rate - x)


def softplus(a):
    """log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|)): several times quicker than
    `numpy.logaddexp(0, a)`, and as accurate."""
    t = onp.array(a, dtype=float)
    onp.abs(t, out=t)
    onp.negative(t, out=t)
    onp.exp(t, out=t)
    onp.log1p(t, out=t)
    return onp.maximum(a, 0.0) + t


def _bernoulli_logits(x, logits):
    return x * logits - softplus(logits)


def _bernoulli_logits_one(i, x, logits):
    return logits if i == 0 else x - expit(logits)


def _poisson(x, rate):
    return x * onp.log(rate) - rate - sc.gammaln(x + 1.0)


def _poisson_partials(x, rate):
    return _full(onp.log(rate) - sc.digamma(x + 1.0), x / rate - 1)


def _gather(table, x):
    """table[..., x] with broadcasting between table's batch axes and x."""
    shape = onp.broadcast_shapes(table.shape[:-1], onp.shape(x))
    table = onp.broadcast_to(table, shape + table.shape[-1:])
    return onp.take_along_axis(table, onp.broadcast_to(x, shape)[..., None].astype(onp.int64), -1)[..., 0], table


def _categorical_logits(x, logits):
    return _gather(logits - logsumexp(logits, axis=-1, keepdims=True), x)[0]


def _categorical_logits_partials(x, logits):
    log_probs, table = _gather(logits - logsumexp(logits, axis=-1, keepdims=True), x)
    onehot = onp.arange(table.shape[-1]) == onp.asarray(x)[..., None]
    return onp.zeros(log_probs.shape), onehot - onp.exp(table)


normal = fused(_normal, one=_normal_one)
half_normal = fused(_half_normal, _half_normal_partials)
cauchy = fused(_cauchy, _cauchy_partials)
half_cauchy = fused(_half_cauchy, _half_cauchy_partials)
exponential = fused(_exponential, _exponential_partials)
bernoulli_logits = fused(_bernoulli_logits, one=_bernoulli_logits_one)
poisson = fused(_poisson, _poisson_partials)
categorical_logits = fused(_categorical_logits, _categorical_logits_partials, aligned=False)


def _gamma(x, concentration, rate):
    return concentration * onp.log(rate) + (concentration - 1) * onp.log(x) - rate * x - sc.gammaln(concentration)


def _gamma_partials(x, concentration, rate):
    return _full((concentration - 1) / x - rate, onp.log(rate) + onp.log(x) - sc.digamma(concentration),
                 concentration / rate - x)


def _beta(x, a, b):
    return (a - 1) * onp.log(x) + (b - 1) * onp.log1p(-x) - sc.betaln(a, b)


def _beta_partials(x, a, b):
    common = sc.digamma(a + b)
    return _full((a - 1) / x - (b - 1) / (1 - x), onp.log(x) - sc.digamma(a) + common,
                 onp.log1p(-x) - sc.digamma(b) + common)


def _binomial_logits(x, n, logits):
    return (sc.gammaln(n + 1) - sc.gammaln(x + 1) - sc.gammaln(n - x + 1) + x * logits
            - n * softplus(logits))


def _binomial_logits_partials(x, n, logits):
    # x is a count: no derivative in it
    return _full(0 * x, sc.digamma(n + 1) - sc.digamma(n - x + 1) - softplus(logits),
                 x - n * expit(logits))


def _binomial_probs(x, n, probs):
    return sc.gammaln(n + 1) - sc.gammaln(x + 1) - sc.gammaln(n - x + 1) + sc.xlogy(x, probs) + sc.xlog1py(n - x, -probs)


def _binomial_probs_partials(x, n, probs):
    # 0 log 0 = 0: a count of zero contributes no slope even at probs = 0 or 1
    dp = onp.where(x == 0, 0.0, x / probs) - onp.where(n - x == 0, 0.0, (n - x) / (1 - probs))
    dn = sc.digamma(n + 1) - sc.digamma(n - x + 1) + onp.where((n - x == 0) & (probs == 1), 0.0, onp.log1p(-probs))
    return _full(0 * x, dn, dp)


def _student_t(x, df, loc, scale):
    z = (x - loc) / scale
    return (sc.gammaln((df + 1) / 2) - sc.gammaln(df / 2) - 0.5 * onp.log(df * math.pi) - onp.log(scale)
            - (df + 1) / 2 * onp.log1p(z * z / df))


def _student_t_partials(x, df, loc, scale):
    z = (x - loc) / scale
    t = z * z / df
    dx = -(df + 1) * z / (scale * df * (1 + t))
    ddf = 0.5 * (sc.digamma((df + 1) / 2) - sc.digamma(df / 2) - 1 / df - onp.log1p(t) + (df + 1) * t / (df * (1 + t)))
    return _full(dx, ddf, -dx, ((df + 1) * t / (1 + t) - 1) / scale)


gamma = fused(_gamma, _gamma_partials)
beta = fused(_beta, _beta_partials)
binomial_logits = fused(_binomial_logits, _binomial_logits_partials)
binomial_probs = fused(_binomial_probs, _binomial_probs_partials)
student_t = fused(_student_t, _student_t_partials)
