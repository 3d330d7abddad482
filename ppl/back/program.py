"""A built program: the loss with its estimator's gradient, forward simulation, and a diagnosing
replay. K particles run at once as a leading array axis.

`loss` returns one scalar whose value is the mean loss and whose gradient is the estimator's:
pathwise sites carry gradients through their transforms; enumerated sites are summed out inside
the loss; every score site adds stop(C - b) * log q, with the surrogate's own value subtracted back
out so the reported value is unchanged.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as onp
from autograd.core import make_vjp
from autograd.tracer import getval

from ..kernels import nodes
from ..kernels.special import sum_rest
from ..kernels.noise import Counter, NotFixed

if TYPE_CHECKING:
    from ..distributions.base import Rng, Value
    from ..kernels.noise import FixedDraws
    from ..kernels.streams import Streams

PASS_ELEMENTS = 2_000_000    # bound on particles x elements in one vectorized pass


@dataclass
class Run:
    """The mutable state of one pass through the program."""
    params: dict
    rng: object
    K: int
    costs: list
    scores: dict = field(default_factory=dict)    # score site -> log q (summed, or per element)
    elem: dict = field(default_factory=dict)      # cost index -> its elementwise values (no gradient)
    enum: dict = field(default_factory=dict)      # enumerated site -> weights or log-terms
    fixed: dict = field(default_factory=dict)     # enumerated site -> a drawn value to use instead
    joint: object = None                          # the full-rank guide's draw (particles, D)
    joint_logq: object = None                     # and its log-density
    carried: set = field(default_factory=set)     # cost slots whose term another one carries
    rows: object = None                           # subsampling: this step's rows
    mf: object = None                             # the mean-field block: values, then log q
    record: dict | None = None
    checking: bool = False


@dataclass(frozen=True)
class ScoreSite:
    name: str
    costs: tuple               # ((cost index, "element" | "statement"), ...)
    rank: int                  # number of element axes of the site
    elementwise: bool          # its score is kept per element


@dataclass(kw_only=True, eq=False)
class Program:
    """The result of the build pass; see the module docstring."""

    rewritten: object        # the rewritten IR it was built from (`Rewritten`)
    space: object            # its parameters (`ParamSpace`)
    ops: list                # one closure per statement, in program order
    finals: list             # closures run after them (an enumerated latent's marginal)
    slots: dict              # name -> its slot in the environment
    shapes: dict             # latent or deterministic -> (shape, prior)
    signs: list              # loss = sum(sign * cost), per cost slot
    score_sites: list        # `ScoreSite`s, in program order
    enumerated: dict         # enumerated latent -> its exact conditional distribution's closure
    batch: object = None     # subsampling: the plan (`subsample.Batch`)...
    feed: tuple = ()         # ...and the subsampled data: ((slot, full data), ...)
    widest: int = 0          # the most elements of any observation in one pass

    def __post_init__(self):
        self.mode = self.rewritten.module.mode
        self.param_slots = [(d.name, self.slots[d.name]) for d in self.rewritten.module.decls if d.kind == "param"]

    def minibatch(self, rng: onp.random.Generator, into: tuple | None = None) -> tuple[onp.ndarray, list] | None:
        """(rows, the subsampled data cut to them): one step's minibatch, drawn from `rng`; with
        `into=(rows, cuts)`, written into those arrays (the cuts without the particle axis)."""
        rows = self.batch.rows(rng)
        if into is not None:       # rows are in range: "clip" spares `take` a buffered copy into `out`
            into[0][:] = rows
            for (_, values), cut in zip(self.feed, into[1]):
                onp.take(values, rows, axis=0, out=cut, mode="clip")
            return None
        return rows, [onp.take(values, rows, axis=0)[None] for _, values in self.feed]

    def _run(self, params, rng, K, minibatch=None, **options):
        run = Run(params, rng, K, [None] * len(self.signs), **options)
        env = [None] * len(self.slots)
        for name, slot in self.param_slots:
            env[slot] = params[name]
        if self.batch is not None:
            run.rows, cut = self.minibatch(rng) if minibatch is None else minibatch
            for (slot, _), values in zip(self.feed, cut):
                env[slot] = values
        for op in self.ops:
            op(env, run)
        for final in self.finals:
            final(run)
        return run

    def loss(self, params: dict, rng: Rng, K: int, baselines: object,
             record: dict | None = None) -> tuple[Value, dict]:
        """(scalar, aux): the mean loss over K particles with the estimator's gradient; aux holds
        the per-particle loss and each score site's downstream cost C. `baselines(i, C)` gives
        score site i's baseline (`ppl.infer.baselines.Baselines`, its running state)."""
        run = self._run(params, rng, K, record=record)
        total, node, downstream = self._objective(run, K, 1.0 / K, baselines)
        return onp.mean(total) + node - getval(node), {"total": total, "downstream": downstream}

    def _objective(self, run, K, scale, baselines, centred=None):
        """(total, node, downstream): the per-particle loss (NumPy); one traced node, `scale` times
        the sum over particles of the loss plus every score site's stop(C - b) * log q
        (`nodes.objective`); each site's C. b is `baselines(i, C)` unless given in `centred`
        (one per site, these particles' rows)."""
        kept = [i for i in range(len(run.costs)) if i not in run.carried]
        weights, terms = tuple(self.signs[i] for i in kept), [run.costs[i] for i in kept]
        coefs, scores, downstream = [], [], []
        for i, site in enumerate(self.score_sites):
            C = self.downstream(site, run, K)
            coefs.append(C - (baselines(i, C) if centred is None else centred[i]))
            scores.append(run.scores[site.name])
            downstream.append(C)
        if not kept:
            return onp.zeros(K), nodes.objective((), tuple(coefs), scale, *scores), downstream
        total = nodes.signed_total(weights, [getval(t) for t in terms])     # the loss per particle, in NumPy
        return total, nodes.objective(weights, tuple(coefs), scale, *terms, *scores, total=total), downstream

    def gradient(self, theta: onp.ndarray, minibatch: tuple | None, streams: Streams | FixedDraws, K: int,
                 baselines: object, chunk: int | None = None) -> tuple[onp.ndarray, dict]:
        """(gradient, aux) of the mean loss over K particles at the flat parameters `theta`:
        `minibatch` is the step's (`Program.minibatch`, None without subsampling), `streams`
        (`Streams`) draw each particle's values.

        Every particle differentiates its own copy of theta, and the K gradients are summed in
        particle order, so the result is the same bit for bit whether the particles run in one
        pass or about `chunk` at a time (to bound memory; see `passes`). With score sites and
        several passes, a first round without gradients finds every particle's downstream costs,
        which the baselines need, and a second repeats its draws to differentiate."""
        spans = passes(K, chunk)
        centred = None
        if self.score_sites and len(spans) > 1:
            start = streams.state
            parts = []
            for lo, hi in spans:
                run = self._run(self.space.lazy(_copies(theta, hi - lo)), streams.part(lo, hi), hi - lo, minibatch)
                parts.append([self.downstream(site, run, hi - lo) for site in self.score_sites])
            every = [onp.concatenate(C) for C in zip(*parts)]
            centred = [onp.broadcast_to(baselines(i, C), C.shape) for i, C in enumerate(every)]
            streams.state = start
        grads, totals, downstream = [], [], []
        for lo, hi in spans:
            aux = []

            def f(t):
                run = self._run(self.space.lazy(t), streams.part(lo, hi), hi - lo, minibatch)
                total, node, C = self._objective(run, hi - lo, 1.0 / K, baselines,
                                                 centred and [b[lo:hi] for b in centred])
                aux.append((total, C))
                return node

            vjp, _ = make_vjp(f, _copies(theta, hi - lo))
            grads.append(vjp(1.0))
            total = aux[0][0]
            totals.append(total if len(total) == hi - lo else onp.broadcast_to(total, (hi - lo,)))
            downstream.append(aux[0][1])
        g = grads[0] if len(grads) == 1 else onp.concatenate(grads)
        return onp.sum(g, axis=0), {"total": onp.concatenate(totals),
                                    "downstream": [onp.concatenate(C) for C in zip(*downstream)]}

    def noise_width(self, theta: onp.ndarray) -> int | None:
        """How many standard normals one particle draws at `theta`, or None when it draws
        anything else (a discrete guide, a sampler's own noise): what `ppl.kernels.noise` can fix."""
        counter = Counter()
        try:
            with onp.errstate(all="ignore"):
                self._run(self.space.lazy(_copies(theta, 1)), counter, 1)
        except NotFixed:
            return None
        return counter.n

    def downstream(self, site: ScoreSite, run: Run, K: int) -> onp.ndarray:
        """C for a score site: the signed costs it influences, per particle (and per element)."""
        shape = (K,) + self.shapes[site.name][0] if site.elementwise else (K,)
        C = onp.zeros(shape)
        for i, grain in site.costs:
            sign = self.signs[i]
            if site.elementwise and grain == "element" and i in run.elem:
                C = C + sign * _to_elements(run.elem[i], shape)
            elif i not in run.carried:             # a carried term is counted in the one carrying it
                whole = onp.asarray(nodes.term(getval(run.costs[i])), dtype=float)
                C = C + sign * whole.reshape(whole.shape + (1,) * (len(shape) - whole.ndim))
        return C

    def simulate(self, params: dict, rng: onp.random.Generator, K: int) -> dict:
        """K forward draws of every latent and deterministic, and the per-particle loss. An
        enumerated latent is drawn from its exact conditional distribution."""
        state = rng.bit_generator.state
        first = self._run(params, rng, K)
        loss = onp.broadcast_to(total_cost(first, self.signs, K), (K,))
        record, probs = {}, {}
        if self.enumerated:
            fixed = {}
            for name, conditional in self.enumerated.items():
                probs[name] = conditional(first)
                fixed[name] = _draw_categorical(rng, probs[name])
            after = rng.bit_generator.state
            rng.bit_generator.state = state      # the same draws for everything else
            self._run(params, rng, K, record=record, fixed=fixed)
            rng.bit_generator.state = after
        else:
            rng.bit_generator.state = state
            self._run(params, rng, K, record=record)
        record["__loss__"] = onp.asarray(loss)
        record["__probs__"] = probs
        return record

    def diagnose(self, params: dict, minibatch: tuple | None, streams: Rng, K: int) -> None:
        """Replay a step (`gradient`'s: its minibatch, its streams' states) with run-time checks;
        raise `FitError` at the first faulty statement."""
        self._run(params, streams, K, minibatch, checking=True)


@functools.lru_cache(maxsize=64)
def passes(K, chunk=None):
    """The particles of each vectorized pass, [(lo, hi), ...]: as even as can be, at most `chunk`
    in each, but never one alone when K >= 2. NumPy runs its vectorized math (exp, log, power,
    ...) on a one-particle pass's contiguous values and on a wider pass's strided ones by
    different code, whose results can differ in the last bit; passes of two or more see the same
    layouts, so their particles compute exactly what one pass of all K would.

    >>> passes(5, 2), passes(4, 1), passes(3, 2), passes(1)
    ([(0, 3), (3, 5)], [(0, 2), (2, 4)], [(0, 3)], [(0, 1)])
    """
    n = 1 if chunk is None or K < 2 else max(1, min(-(-K // int(chunk)), K // 2))
    sizes = [K // n + (i < K % n) for i in range(n)]
    bounds = onp.cumsum([0] + sizes)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _copies(theta, K):
    """theta (P,) as K rows, one per particle (read-only: nothing writes to them); copied when
    short (quicker than a broadcast view), else a view. The choice depends on P alone: every
    pass of a step then computes on the same memory layout (see `passes`)."""
    if K == 1:
        return theta[None]
    return theta[None].repeat(K, axis=0) if theta.size <= 10_000 else onp.broadcast_to(theta, (K,) + theta.shape)


def total_cost(run, signs, K):
    """The per-particle loss in NumPy: sum(sign * term) (a sign is +-1, or +-N/B for a subsampled
    statement's terms) over the terms of `run`, those another carries left out."""
    kept = [i for i in range(len(run.costs)) if i not in run.carried]
    if not kept:
        return onp.zeros(K)
    return nodes.signed_total(tuple(signs[i] for i in kept), [getval(run.costs[i]) for i in kept])


def _to_elements(values, shape):
    """Sum `values` (particles, extra axes..., element axes) down to `shape` (particles, elements)."""
    values = onp.asarray(values, dtype=float)
    rank = len(shape) - 1
    if values.ndim < rank + 1 or tuple(values.shape[values.ndim - rank:]) != tuple(shape[1:]):
        whole = sum_rest(values) if values.ndim > 1 else values
        return whole.reshape((-1,) + (1,) * rank)     # elements do not line up: the whole term
    extra = tuple(range(1, values.ndim - rank))
    return values.sum(axis=extra) if extra else values


def _draw_categorical(rng, probs):
    """One draw per row of `probs` (categories on axis 1)."""
    probs = onp.moveaxis(probs, 1, -1)
    cdf = onp.cumsum(probs, axis=-1)
    u = rng.random(cdf.shape[:-1] + (1,)) * cdf[..., -1:]
    return onp.sum(cdf[..., :-1] <= u, axis=-1)
