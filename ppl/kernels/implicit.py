"""Implicit reparameterization (Figurnov, Mohamed, Mnih 2018): pathwise draws without a closed-form
inverse CDF.

A draw is z = F^{-1}(u; theta) with u ~ Uniform(0, 1), computed numerically (scipy's gammaincinv
and betaincinv, Newton's method on the von Mises CDF) and wrapped as an autograd primitive. Its
gradients come from differentiating F(z; theta) = u implicitly:

    dz/dtheta = -(dF/dtheta)(z; theta) / p(z; theta),     dz/du = 1 / p(z; theta).

dF/dtheta is not differenced numerically: F is expanded in a convergent series or continued
fraction (the power series and Legendre continued fraction of the incomplete gamma function, the
continued fraction of the incomplete beta function, the Fourier series of the von Mises CDF),
summed to machine precision, and differentiated exactly: the expansions carry their derivatives
along (dual numbers), the prefactors are differentiated by hand and divided by p(z) analytically,
so nothing overflows in the tails.

>>> from autograd import grad
>>> round(float(standard_gamma(2.0, 0.5)), 6), round(float(grad(standard_gamma)(2.0, 0.5)), 6)
(1.678347, 0.993295)

Limits: first-order gradients only; a draw that rounds to a boundary of the support (z = 0 for a
Gamma whose shape is below about 0.02, x = 0 or 1 for a Beta with a tiny concentration) gets a zero
gradient; the cost of a von Mises draw grows like sqrt(concentration), of a Gamma's gradient like
sqrt(shape).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from autograd.extend import defvjp_argnums, primitive
from autograd.numpy.numpy_vjps import unbroadcast

from .special import sc

if TYPE_CHECKING:
    from .streams import Streams

__all__ = ["uniform", "standard_gamma", "beta", "von_mises", "von_mises_cdf", "bessel_ratios"]

EPS = onp.finfo(float).eps      # relative size of the last term kept in a series
FACTOR_EPS = 8 * EPS            # a continued fraction's factors settle within a few ulps of 1
TINY = 1e-300                      # Lentz's guard against a zero denominator
MAX_TERMS = 100_000


def uniform(rng: onp.random.Generator | Streams, shape: tuple[int, ...]) -> onp.ndarray:
    """Uniform(0, 1) noise on a grid of 2^52 midpoints: never exactly 0 or 1, where the inverse
    CDFs are infinite."""
    return (onp.floor(rng.random(shape) * 2.0**52) + 0.5) / 2.0**52


class _Dual:
    """Values with their derivatives along a leading axis (dual numbers): enough arithmetic to sum
    a series or a continued fraction and its derivatives in one pass, and to test both for
    convergence (a truncation can settle the value before the derivative)."""

    __array_ufunc__ = None   # numpy arrays defer to the reflected operators below

    def __init__(self, v, d):
        self.v, self.d = v, d

    @staticmethod
    def seed(values):
        """One variable per array: the k-th gets derivative 1 along axis k."""
        k = len(values)
        return [_Dual(v, onp.eye(k)[:, i].reshape((k,) + (1,) * onp.ndim(v))) for i, v in enumerate(values)]

    def __add__(self, o):
        o = _lift(o)
        return _Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __neg__(self):
        return _Dual(-self.v, -self.d)

    def __sub__(self, o):
        return self + -_lift(o)

    def __rsub__(self, o):
        return _lift(o) + -self

    def __mul__(self, o):
        o = _lift(o)
        return _Dual(self.v * o.v, self.d * o.v + self.v * o.d)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = _lift(o)
        q = self.v / o.v
        return _Dual(q, (self.d - q * o.d) / o.v)

    def __rtruediv__(self, o):
        return _lift(o) / self


def _lift(x):
    return x if isinstance(x, _Dual) else _Dual(x, 0.0)


def _guard(x):
    small = onp.abs(x.v) < TINY
    return _Dual(onp.where(small, TINY, x.v), onp.where(small, 0.0, x.d))


def _settled(term, total, tol=EPS):
    """The last term (of a sum, or log-term of a product) is negligible, value and derivatives."""
    scale = onp.abs(total.v) + onp.abs(total.d)
    return onp.all(onp.abs(term.v) <= tol * onp.abs(total.v)) and onp.all(onp.abs(term.d) <= tol * scale)


def _implicit(draw, partials):
    """The primitive (*theta, u) -> draw(*theta, u); `partials(z, *theta)` returns dz/dtheta for
    every theta and 1 / p(z), each broadcast to z's shape, computed once for all the inputs."""
    f = primitive(draw)

    def vjp(argnums, z, inputs, kwargs):
        def backward(g):
            parts = partials(*onp.broadcast_arrays(z, *inputs[:-1]))
            return tuple(unbroadcast(g * parts[i], np.metadata(inputs[i])) for i in argnums)
        return backward

    defvjp_argnums(f, vjp)
    return f


def _on(mask, out, fn, *arrays):
    """out[mask] = fn(*(a[mask] for a in arrays)), skipping an empty selection."""
    if mask.any():
        out[mask] = fn(*(a[mask] for a in arrays))
    return out


# --- Gamma ------------------------------------------------------------------------------------

def _gamma_series(a, x):
    # sum_n x^n / ((a+1)...(a+n)); P(a, x) = x^a e^-x / Gamma(a+1) * this. Used for x < a + 1,
    # where the terms shrink at least like x / (a + n).
    term = total = _lift(onp.ones(onp.shape(x)))
    for n in range(1, MAX_TERMS):
        term = term * x / (a + n)
        total = total + term
        if _settled(term, total):
            break
    return total


def _gamma_fraction(a, x):
    # Legendre's continued fraction by modified Lentz: Q(a, x) = x^a e^-x / Gamma(a) * this.
    # Used for x >= a + 1, where it converges in O(sqrt(a)) steps.
    b = x + 1.0 - a
    c, d = _lift(onp.full(onp.shape(x), 1 / TINY)), 1.0 / b
    h = d
    for i in range(1, MAX_TERMS):
        an = -i * (i - a)
        b = b + 2.0
        d = 1.0 / _guard(an * d + b)
        c = _guard(b + an / c)
        delta = d * c
        h = h * delta
        if _settled(delta - 1.0, _Dual(1.0, h.d / h.v), FACTOR_EPS):
            break
    return h


def _gamma_dz_da(z, a):
    # dP/da = pre * (S (log z - psi(a+1)) + dS/da) with pre / p(z) = z / a (series), and
    # dP/da = -pre * (h (log z - psi(a)) + dh/da) with pre / p(z) = z (continued fraction).
    def series(z, a):
        s = _gamma_series(*_Dual.seed([a]), z)
        return -(z / a) * (s.v * (onp.log(z) - sc.digamma(a + 1)) + s.d[0])

    def fraction(z, a):
        h = _gamma_fraction(*_Dual.seed([a]), z)
        return z * (h.v * (onp.log(z) - sc.digamma(a)) + h.d[0])

    out = onp.zeros(onp.shape(z))
    _on((z > 0) & (z < a + 1), out, series, z, a)
    return _on((z >= a + 1) & onp.isfinite(z), out, fraction, z, a)


def _gamma_partials(z, a):
    with onp.errstate(divide="ignore", over="ignore"):
        inv_pdf = onp.exp(sc.gammaln(a) + z - (a - 1) * onp.log(z))
    return _gamma_dz_da(z, a), onp.where(z > 0, inv_pdf, 0.0)


standard_gamma = _implicit(lambda alpha, u: sc.gammaincinv(alpha, u), _gamma_partials)
standard_gamma.__doc__ = "Gamma(alpha, 1) at quantile u; differentiable in alpha (implicitly) and u."


def _cdf(value, partials, sign):
    """The primitive (*theta, z) -> value(*theta, z), a cdf (sign 1) or survival function (-1) of
    z, whose derivatives come from the quantile's: dF/dtheta = -(dz/dtheta) p(z), dF/dz = p(z)."""
    f = primitive(value)

    def vjp(argnums, ans, inputs, kwargs):
        def backward(g):
            *theta, z = onp.broadcast_arrays(*inputs)
            *dz, inv_pdf = partials(z, *theta)
            with onp.errstate(divide="ignore", invalid="ignore"):
                pdf = onp.where(inv_pdf > 0, 1 / inv_pdf, 0.0)
            parts = [-d * pdf for d in dz] + [pdf]
            return tuple(unbroadcast(sign * g * parts[i], np.metadata(inputs[i])) for i in argnums)
        return backward

    defvjp_argnums(f, vjp)
    return f


gamma_cdf = _cdf(lambda a, z: sc.gammainc(a, z), _gamma_partials, 1)
gamma_cdf.__doc__ = "P(a, z), the regularized lower incomplete gamma: Gamma(a, 1)'s cdf, differentiable in a and z."
gamma_ccdf = _cdf(lambda a, z: sc.gammaincc(a, z), _gamma_partials, -1)
gamma_ccdf.__doc__ = "1 - P(a, z), computed without the cancellation; differentiable in a and z."


# --- Beta -------------------------------------------------------------------------------------

def _beta_fraction(a, b, x):
    # The continued fraction of I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * this, by modified Lentz;
    # used for x < (a + 1) / (a + b + 2), where it converges in O(sqrt(max(a, b))) steps.
    c = _lift(onp.ones(onp.shape(x)))
    d = 1.0 / _guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, MAX_TERMS):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for coef in (even, odd):
            d = 1.0 / _guard(1.0 + coef * d)
            c = _guard(1.0 + coef / c)
            delta = d * c
            h = h * delta
        if _settled(delta - 1.0, _Dual(1.0, h.d / h.v), FACTOR_EPS):
            break
    return h


def _beta_terms(p, q, t):
    """(g_p, g_q) with dI_t(p, q)/dp = pre * g_p, dI_t(p, q)/dq = pre * g_q, pre = t^p (1-t)^q / (p B)."""
    h = _beta_fraction(*_Dual.seed([p, q]), t)
    common = sc.digamma(p + q)
    return (h.v * (onp.log(t) - 1 / p - sc.digamma(p) + common) + h.d[0],
            h.v * (onp.log1p(-t) - sc.digamma(q) + common) + h.d[1])


def _beta_partials(x, a, b):
    # pre / p(x) = x (1 - x) / a. Past the mean, I_x(a, b) = 1 - I_{1-x}(b, a) keeps the fraction
    # in its fast region; the roles of the parameters swap and the sign flips.
    da, db = onp.zeros(onp.shape(x)), onp.zeros(onp.shape(x))
    y = 1.0 - x
    inside = (x > 0) & (x < 1)
    direct = inside & (x < (a + 1) / (a + b + 2))
    if direct.any():
        ga, gb = _beta_terms(a[direct], b[direct], x[direct])
        scale = x[direct] * y[direct] / a[direct]
        da[direct], db[direct] = -scale * ga, -scale * gb
    swapped = inside & ~direct
    if swapped.any():
        gb, ga = _beta_terms(b[swapped], a[swapped], y[swapped])
        scale = x[swapped] * y[swapped] / b[swapped]
        da[swapped], db[swapped] = scale * ga, scale * gb
    with onp.errstate(divide="ignore", over="ignore"):
        inv_pdf = onp.exp(sc.betaln(a, b) - (a - 1) * onp.log(x) - (b - 1) * onp.log1p(-x))
    return da, db, onp.where(inside, inv_pdf, 0.0)


beta = _implicit(lambda a, b, u: sc.betaincinv(a, b, u), _beta_partials)
beta.__doc__ = "Beta(a, b) at quantile u; differentiable in a, b (implicitly) and u."
beta_cdf = _cdf(lambda a, b, x: sc.betainc(a, b, x), _beta_partials, 1)
beta_cdf.__doc__ = "I_x(a, b), the regularized incomplete beta: Beta(a, b)'s cdf, differentiable in a, b and x."


# --- von Mises --------------------------------------------------------------------------------

def _terms(kappa):
    # I_n / I_0 decays like exp(-n^2 / (2 kappa)) for large kappa, like (kappa/2)^n / n! for small.
    finite = kappa[onp.isfinite(kappa)]
    return int(16 + 9 * math.sqrt(float(onp.max(finite, initial=0.0))))


def _ratios(kappa, n):
    """r[:, k] = I_k(kappa) / I_0(kappa) for k = 0..n+1, one row per kappa."""
    k = onp.arange(n + 2)
    return sc.ive(k, kappa[:, None]) / sc.ive(0, kappa[:, None])


def bessel_ratios(kappa: onp.ndarray | float) -> onp.ndarray:
    """I_n(kappa) / I_0(kappa) for n = 1..N, enough terms for double precision; one row per kappa."""
    kappa = onp.asarray(kappa, dtype=float)
    return _ratios(kappa, _terms(kappa))[:, 1:-1]


def _sine_sum(x, coef):
    """sum_n coef[..., n-1] sin(n x), in chunks so the (elements, terms) table stays small."""
    n = onp.arange(1, coef.shape[-1] + 1)
    out = onp.empty(onp.shape(x))
    step = max(1, 2**21 // len(n))
    for i in range(0, len(x), step):
        out[i:i + step] = (onp.sin(x[i:i + step, None] * n) * coef[i:i + step]).sum(-1)
    return out


def _von_mises_pieces(x, kappa, derivative=False):
    """F(x; kappa) on [-pi, pi] (loc 0) and, if asked, dF/dkappa, from the Fourier series
    F = (x + pi) / (2 pi) + sum_n r_n sin(n x) / (n pi), r_n = I_n(kappa) / I_0(kappa)."""
    x, kappa = (onp.ravel(a) for a in onp.broadcast_arrays(x, kappa))
    values, row = onp.unique(kappa, return_inverse=True)
    r = _ratios(values, _terms(values))
    n = onp.arange(1, r.shape[1] - 1)
    cdf = (x + math.pi) / (2 * math.pi) + _sine_sum(x, (r[:, 1:-1] / (n * math.pi))[row])
    if not derivative:
        return cdf
    # I_n' = (I_{n-1} + I_{n+1}) / 2 and I_0' = I_1 give r_n' = (r_{n-1} + r_{n+1}) / 2 - r_n r_1.
    dr = (r[:, :-2] + r[:, 2:]) / 2 - r[:, 1:-1] * r[:, 1:2]
    return cdf, _sine_sum(x, (dr / (n * math.pi))[row])


def _von_mises_pdf(x, kappa):
    return onp.exp(kappa * (onp.cos(x) - 1)) / (2 * math.pi * sc.ive(0, kappa))


def von_mises_cdf(x, kappa):
    """The CDF of VonMises(0, kappa) on [-pi, pi]."""
    shape = onp.broadcast_shapes(onp.shape(x), onp.shape(kappa))
    return _von_mises_pieces(x, kappa).reshape(shape)


def _von_mises_draw(kappa, u):
    # Safeguarded Newton on F(x) = u inside a shrinking bracket; F is smooth and increasing, so
    # a step leaving the bracket is replaced by bisection. Start: the normal approximation.
    shape = onp.broadcast_shapes(onp.shape(kappa), onp.shape(u))
    kappa, u = (onp.ravel(a).astype(float) for a in onp.broadcast_arrays(kappa, u))
    ok = onp.isfinite(kappa) & (kappa >= 0)
    x = onp.where(ok, onp.clip(sc.ndtri(u) / onp.sqrt(onp.maximum(kappa, 1.0)), -3.0, 3.0), onp.nan)
    lo, hi = onp.full(x.shape, -math.pi), onp.full(x.shape, math.pi)
    active = onp.flatnonzero(ok)
    for _ in range(100):
        xa, ka, ua = x[active], kappa[active], u[active]
        f = _von_mises_pieces(xa, ka) - ua
        lo[active] = onp.where(f < 0, xa, lo[active])
        hi[active] = onp.where(f > 0, xa, hi[active])
        new = xa - f / _von_mises_pdf(xa, ka)
        outside = ~((new > lo[active]) & (new < hi[active]))
        new = onp.where(outside, (lo[active] + hi[active]) / 2, new)
        x[active] = new
        # A Newton step below 1e-10 leaves an error ~ kappa * 1e-20: converged.
        active = active[outside | (onp.abs(new - xa) > 1e-10)]
        if not len(active):
            break
    return x.reshape(shape)


def _von_mises_partials(x, kappa):
    _, dcdf = _von_mises_pieces(x, kappa, derivative=True)
    inv_pdf = 1 / _von_mises_pdf(x, kappa)
    return -dcdf.reshape(onp.shape(x)) * inv_pdf, inv_pdf


von_mises = _implicit(_von_mises_draw, _von_mises_partials)
von_mises.__doc__ = "VonMises(0, kappa) at quantile u, in (-pi, pi); differentiable in kappa (implicitly) and u."
