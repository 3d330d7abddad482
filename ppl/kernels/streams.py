"""One random stream per particle, so that a particle's draws do not depend on which others run
beside it: K particles drawn in one pass or a few at a time see the same numbers.

`Streams` answers the `numpy.random.Generator` methods the samplers call, with the particle axis
first: particle k's slice of every draw comes from generator k, its arguments sliced alike.

>>> import numpy as np
>>> streams = Streams.seeded(np.random.default_rng(0), 3)
>>> start = streams.state
>>> together = streams.standard_normal((3, 2))
>>> streams.state = start
>>> apart = np.concatenate([streams.part(0, 1).standard_normal((1, 2)), streams.part(1, 3).standard_normal((2, 2))])
>>> bool(np.all(together == apart))
True
"""
from __future__ import annotations

import numpy as onp


def _per_particle(method):
    """`method` (a `Generator` method) drawing particle k's slice with generator k: a size tuple
    loses its particle axis, an array argument (particles first, or one row for all) gives row k."""
    def draw(self, *args, **kwargs):
        K = len(self.generators)

        def row(a, k):
            if isinstance(a, tuple):
                return a[1:]
            if isinstance(a, onp.ndarray) and a.ndim:
                if a.shape[0] not in (1, K):
                    raise ValueError(f"an argument of shape {a.shape} has no axis of {K} particles")
                return a[k if a.shape[0] == K else 0]
            return a
        return onp.stack([method(g, *(row(a, k) for a in args), **{n: row(v, k) for n, v in kwargs.items()})
                          for k, g in enumerate(self.generators)])
    draw.__name__ = draw.__qualname__ = method.__name__
    return draw


def _filled(method):
    """`method` (`standard_normal`, `random`: a size and nothing else) writing each particle's
    rows in place, generator k filling row k (the numbers `_per_particle` would draw)."""
    general = _per_particle(method)

    def draw(self, size=None, **kwargs):
        if kwargs or not isinstance(size, tuple) or not size:
            return general(self, size, **kwargs)
        out = onp.empty(size)
        for k, g in enumerate(self.generators):
            method(g, out=out[k:k + 1])
        return out
    draw.__name__ = draw.__qualname__ = method.__name__
    return draw


class Streams:
    """K generators, one per particle, answering the samplers' `Generator` methods."""

    def __init__(self, generators):
        self.generators = list(generators)

    @classmethod
    def seeded(cls, rng: onp.random.Generator, K: int) -> Streams:
        """K independent streams from one draw of `rng` (as `SeedSequence.spawn` makes them)."""
        entropy = int(rng.integers(2**63))
        return cls(onp.random.Generator(onp.random.PCG64(onp.random.SeedSequence(entropy, spawn_key=(k,))))
                   for k in range(K))

    def part(self, lo: int, hi: int) -> onp.random.Generator | Streams:
        """The streams of particles lo..hi-1 (one particle's is its own generator)."""
        return self.generators[lo] if hi - lo == 1 else Streams(self.generators[lo:hi])

    @property
    def state(self) -> list[dict]:
        return [g.bit_generator.state for g in self.generators]

    @state.setter
    def state(self, states: list[dict]) -> None:
        for g, s in zip(self.generators, states):
            g.bit_generator.state = s

    _G = onp.random.Generator
    beta, binomial, chisquare = _per_particle(_G.beta), _per_particle(_G.binomial), _per_particle(_G.chisquare)
    geometric, gumbel, integers = _per_particle(_G.geometric), _per_particle(_G.gumbel), _per_particle(_G.integers)
    laplace, logistic = _per_particle(_G.laplace), _per_particle(_G.logistic)
    multinomial, negative_binomial = _per_particle(_G.multinomial), _per_particle(_G.negative_binomial)
    poisson, random, uniform = _per_particle(_G.poisson), _filled(_G.random), _per_particle(_G.uniform)
    standard_cauchy, standard_exponential = _per_particle(_G.standard_cauchy), _per_particle(_G.standard_exponential)
    standard_gamma, standard_normal = _per_particle(_G.standard_gamma), _filled(_G.standard_normal)
    standard_t, vonmises = _per_particle(_G.standard_t), _per_particle(_G.vonmises)
    del _G
