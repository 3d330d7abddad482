"""Families made from others by a latent's declared type or a truncation.

- `Flat`: the improper prior p(x) = 1 of a latent declared without a distribution (`beta: real[K]`).
- `restricted(base, support)`: the base family's density on the declared support, not renormalised
  (`sigma: real<lower=0> ~ Normal(0, 1)`, `mu: ordered[K] ~ Normal(0, 2)`), as Stan reads such a
  declaration: with constant bounds the missing constant does not change the posterior, and a bound
  may be another latent (`real<lower=0, upper=1 - a>`).
- `truncated(base)`: the base family renormalised on [lower, upper] (`T[lower, upper]`), through its
  cdf (`cdf.py`), so that it is a proper density whatever the bounds depend on.

The bounds are arguments named `lower` and `upper` beside the base family's own; a missing bound is
the base support's own (or infinite).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp

from . import constraints
from .base import Distribution, plain
from .cdf import within_support

if TYPE_CHECKING:
    from .base import Rng, Value

INIT_RADIUS = 2.0       # a flat latent's dry-run value: uniform in (-2, 2) unconstrained, as Stan's
BOUNDS = ("lower", "upper")


class Flat(Distribution):
    """1 on the support (improper): the prior of a latent declared without a distribution"""

    signatures = ((),)
    improper = True

    def log_prob_unchecked(self, x: Value) -> Value:
        return np.zeros(onp.shape(x))

    def native_sample(self, rng: Rng, shape: tuple[int, ...]) -> onp.ndarray:
        """Not a draw (there is no distribution to draw from): a starting value in the support."""
        u = rng.uniform(-INIT_RADIUS, INIT_RADIUS, self.support.unconstrained_shape(shape))
        return onp.asarray(self.support.to_constrained(u))


_VECTOR_SUPPORTS = {"ordered": constraints.ordered, "positive_ordered": constraints.positive_ordered,
                    "simplex": constraints.simplex}
_SCALAR_SUPPORTS = {"positive": (0.0, onp.inf), "unit": (0.0, 1.0), "real": (-onp.inf, onp.inf)}


def _ends(support) -> tuple:
    """(low, high) of a base family's support on the reals."""
    return (getattr(support, "low", -onp.inf), getattr(support, "high", onp.inf))


def _interval(low, high) -> constraints.Constraint:
    low_open, high_open = onp.all(plain(low) == -onp.inf), onp.all(plain(high) == onp.inf)
    if low_open and high_open:
        return constraints.real
    if high_open:
        return constraints.positive if isinstance(low, float) and low == 0.0 else constraints.greater_than(low)
    if low_open:
        return constraints.less_than(high)
    return constraints.interval(low, high)


@functools.cache
def restricted(base: type[Distribution], support: str, bounds: tuple[str, ...] = ()) -> type[Distribution]:
    """`base` with its density kept on the declared `support` (a type name: real, positive, unit,
    ordered, positive_ordered, simplex) and `bounds` (of lower, upper)."""
    if support == "real" and not bounds and base is not Flat:
        return base

    def support_of(self):
        if support in _VECTOR_SUPPORTS:
            return _VECTOR_SUPPORTS[support]
        low, high = _SCALAR_SUPPORTS[support] if base is Flat or support != "real" else _ends(base.support)
        given = self.args if self is not None else {}
        return _interval(given.get("lower", low), given.get("upper", high))

    class Restricted(base):
        signatures = tuple(sig + bounds for sig in base.signatures)
        arg_constraints = {**base.arg_constraints, **{b: constraints.real for b in bounds}}
        transform = None                 # a draw from the prior is not a pathwise map of noise
        density = None
        improper = base is Flat

        def _base(self):
            return base(**{k: v for k, v in self.args.items() if k not in BOUNDS})

        def log_prob_unchecked(self, x):
            return base.log_prob_unchecked(self._base(), x) if base is not Flat else np.zeros(onp.shape(x))

        def native_sample(self, rng, shape):
            if base is Flat:
                return Flat.native_sample(self, rng, shape)
            return _rejected(self._base(), self.support, rng, shape, sort=support in _VECTOR_SUPPORTS)

    # a support fixed by the type alone is a plain attribute, as a family's own (`moving_support`)
    fixed = not bounds and (support != "real" or base is Flat) and not base.moving_support
    Restricted.support = support_of(None) if fixed else property(support_of)
    Restricted.__name__ = Restricted.__qualname__ = base.__name__
    return Restricted


def _rejected(base, support, rng, shape, sort=False, rounds=64):
    """Draws of `base` kept in `support` (sorted first, for an ordered support: the order
    statistics of independent draws); what is still outside after `rounds` is a starting value."""
    x = onp.sort(base.sample(rng, shape), axis=-1) if sort else base.sample(rng, shape)
    for _ in range(rounds):
        bad = ~onp.broadcast_to(support.check(x), shape[:len(shape) - support.event_dim])
        if not bad.any():
            return x
        y = onp.sort(base.sample(rng, shape), axis=-1) if sort else base.sample(rng, shape)
        x = onp.where(bad[(...,) + (None,) * support.event_dim], y, x)
    u = rng.uniform(-INIT_RADIUS, INIT_RADIUS, support.unconstrained_shape(shape))
    return onp.where(bad[(...,) + (None,) * support.event_dim], plain(support.to_constrained(u)), x)


@functools.cache
def truncated(base: type[Distribution], bounds: tuple[str, ...]) -> type[Distribution]:
    """`base` renormalised on [lower, upper]: log p(x) - log(F(upper) - F(lower))."""

    class Truncated(restricted(base, "real", bounds)):
        improper = False

        def log_prob_unchecked(self, x):
            return base.log_prob_unchecked(self._base(), x) - self.log_mass()

        def log_mass(self):
            """log(F(upper) - F(lower)): the base family's mass inside the bounds, from the cdf in
            the lower tail and from the survival function (log_ccdf) in the upper one, where 1 - F
            would cancel."""
            b = self._base()
            lower, upper = (within_support(b, self.args[k]) if k in self.args else None for k in BOUNDS)
            low, high = _ends(b.support)          # a bound at or past the support's end cuts nothing
            if lower is not None and onp.all(plain(lower) <= plain(low)):
                lower = None
            if upper is not None and onp.all(plain(upper) >= plain(high)):
                upper = None
            if lower is None and upper is None:
                return np.zeros(onp.shape(plain(self.args.get("lower", self.args.get("upper")))))
            if lower is None:
                return b.log_cdf(upper)
            if upper is None:
                return b.log_ccdf(lower)
            lo, hi = b.log_cdf(lower), b.log_cdf(upper)
            slo, shi = b.log_ccdf(lower), b.log_ccdf(upper)
            upper_tail = plain(slo) < plain(hi)
            by_cdf = hi + np.log1p(-np.exp(np.minimum(lo - hi, 0.0)))
            by_ccdf = slo + np.log1p(-np.exp(np.minimum(shi - slo, 0.0)))
            return np.where(upper_tail, by_ccdf, by_cdf)

        def native_sample(self, rng, shape):
            """By the inverse cdf; in the upper tail by the inverse survival function, the
            uniform draw taken between the bounds' survival probabilities."""
            b = type(self._base())(**{k: plain(v) for k, v in self._base().args.items()})
            lower, upper = (self.args.get(k) for k in BOUNDS)
            lo_f = onp.exp(plain(b.log_cdf(lower))) if lower is not None else 0.0
            hi_f = onp.exp(plain(b.log_cdf(upper))) if upper is not None else 1.0
            lo_s = onp.exp(plain(b.log_ccdf(lower))) if lower is not None else 1.0
            hi_s = onp.exp(plain(b.log_ccdf(upper))) if upper is not None else 0.0
            u = rng.random(shape)
            by_cdf = b.icdf(onp.clip(lo_f + (hi_f - lo_f) * u, 1e-300, 1 - 1e-16))
            by_ccdf = b.isf(onp.clip(hi_s + (lo_s - hi_s) * u, 1e-300, 1 - 1e-16))
            x = onp.where(onp.broadcast_to(lo_s < 0.5, onp.shape(u)), by_ccdf, by_cdf)
            return onp.clip(x, plain(lower) if lower is not None else -onp.inf,
                            plain(upper) if upper is not None else onp.inf)

    Truncated.__name__ = Truncated.__qualname__ = base.__name__
    return Truncated


def family_of(dist: type[Distribution], support: str | None, truncate: bool, bounds: tuple[str, ...]) -> type:
    """The family of a statement: `dist`, restricted to a declared support or truncated."""
    if truncate:
        return truncated(dist, bounds)
    if support is not None:
        return restricted(dist, support, bounds)
    return dist


__all__ = ["Flat", "family_of", "restricted", "truncated"]
