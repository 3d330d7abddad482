"""Fixed noise for a deterministic fit: the same standard-normal draws at every evaluation.

With the draws held fixed, the ELBO (or E[J]) becomes an ordinary smooth function of the
parameters, which a quasi-Newton method minimizes to machine precision: deterministic ADVI
(Giordano, Ingram and Broderick 2024), the sample average approximation of stochastic
programming. The draws are a Latin hypercube (McKay, Beckman and Conover 1979) mapped through
the normal quantile: each coordinate's M values fall one in each of M equally likely strata of
its distribution, in an order of their own. They are then moment-matched: shifted to mean 0 and,
when M > D, turned by the symmetric inverse square root of their covariance so that it is
exactly the identity (with M <= D, each coordinate is scaled to variance 1). Any objective that
is quadratic in the draws (a Gaussian posterior, a linear regression's likelihood) is then
integrated exactly, whatever the correlations between coordinates, and the rest nearly so. On
the bundled and posteriordb models 32 such draws leave the ELBO within 0.001 to 0.04 nats of the
true optimum's, where 32 independent draws leave 0.1 to 0.5 and 32 scrambled Sobol points 0.01
to 0.1 (bench/README.md). The draws need no table of direction numbers, have no limit on the
dimension, and come from NumPy alone (scipy.stats would add a second to every start-up).

A program whose guide or sampler draws anything but standard normals (a discrete latent drawn
from its guide, a Gamma's uniform noise in optimization mode) cannot be fixed this way: `width`
says so by returning None.

>>> import numpy as np
>>> draws = FixedDraws.latin_hypercube(np.random.default_rng(0), 8, 3)
>>> reader = draws.part(0, 8)
>>> a, b = reader.standard_normal((8, 2)), reader.standard_normal((8,))
>>> a.shape, b.shape, bool(np.all(draws.part(0, 8).standard_normal((8, 2)) == a))
((8, 2), (8,), True)
"""
from __future__ import annotations

import numpy as onp

from .special import normal_quantile


class NotFixed(Exception):
    """The program asked for a draw that is not standard normal."""


class FixedDraws:
    """M draws of D standard-normal coordinates, (M, D); `part(lo, hi)` reads draws lo..hi-1
    in the order the program asks for its noise."""

    def __init__(self, eps):
        self.eps = eps

    @classmethod
    def latin_hypercube(cls, rng: onp.random.Generator, M: int, D: int) -> "FixedDraws":
        """M moment-matched draws of D standard normals from a Latin hypercube (`stratified`)."""
        return cls(moment_matched(stratified(rng, M, D)))

    @property
    def size(self) -> int:
        return len(self.eps)

    def part(self, lo: int, hi: int) -> "_Reader":
        return _Reader(self.eps[lo:hi])


def stratified(rng, M, D) -> onp.ndarray:
    """M draws of D standard normals, each coordinate's one in each of M equally likely strata,
    the strata's order and the points within them drawn from `rng`."""
    strata = onp.argsort(rng.random((D, M)), axis=1).T
    u = (strata + rng.random((M, D))) / M                  # rng.random is in [0, 1): u may be 0
    return normal_quantile(onp.maximum(u, onp.finfo(float).tiny))


def moment_matched(eps) -> onp.ndarray:
    """`eps` (M, D) shifted to mean 0 and whitened to covariance I (when M > D; else each
    column scaled to variance 1), by the symmetric inverse square root, which moves the draws
    least."""
    M, D = eps.shape
    if M < 2 or D == 0:
        return eps
    eps = eps - eps.mean(axis=0)
    if M > D:
        w, V = onp.linalg.eigh(eps.T @ eps / M)
        return eps @ (V / onp.sqrt(w)) @ V.T
    return eps / onp.sqrt(onp.mean(eps * eps, axis=0))


class _Reader:
    """Hands out the columns of its rows, left to right, one `standard_normal` call at a time."""

    def __init__(self, eps):
        self.eps, self.at = eps, 0

    def standard_normal(self, size: tuple[int, ...], out: onp.ndarray | None = None) -> onp.ndarray:
        K, rest = size[0], tuple(size[1:])
        n = int(onp.prod(rest, dtype=int))
        if K != len(self.eps) or self.at + n > self.eps.shape[1]:
            raise NotFixed("the program drew more noise than it did when counted")
        x = self.eps[:, self.at:self.at + n].reshape((K,) + rest)
        self.at += n
        return x

    def __getattr__(self, name):
        raise NotFixed(name)


class Counter:
    """Counts one particle's standard-normal draws (zeros); any other draw raises `NotFixed`."""

    def __init__(self):
        self.n = 0

    def standard_normal(self, size: tuple[int, ...], out: onp.ndarray | None = None) -> onp.ndarray:
        self.n += int(onp.prod(size[1:], dtype=int))
        return onp.zeros(size)

    def __getattr__(self, name):
        raise NotFixed(name)
