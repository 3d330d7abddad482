"""Predictive draws: every observation drawn anew, given draws of the latents; and the pointwise
log-likelihood of the observations at such draws (`log_likelihood`), for model comparison.

The prior predictive draws the latents from their priors (user `param`s at their initial values
or at given ones); the posterior predictive takes them from a fit (`Fit.sample`'s guide draws) and
draws only the observations. Both walk the lowered program once, with `K` draws as the leading
axis, through the interpreter the build's dry run uses too (`interpret`), with a handler of its
own (`Forward`). The objective of `minimize`/`maximize` is not a draw and is left out.

In the prior predictive an observed name is a draw like any latent, so its data need not be
given (its declared shape is still computed from the other data); in the posterior predictive it
keeps its data value wherever the program reads it, and its draws are reported under its name.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from itertools import product

import numpy as onp
from autograd.tracer import getval

from ..front import ast
from ..middle import ir
from .data import bind
from ..front.errors import PPLError, SemanticError
from .expr import Const, constant, evaluate
from ..middle.dependence import flat
from .interpret import Handler, interpret, value_names


def prior(model: object, data: object = None, n: int = 1000, seed: int = 0, params: dict | None = None) -> dict:
    """`n` draws of every latent, deterministic and observation from the prior predictive."""
    module = model.ir
    observed = {s.name for s in module.body if isinstance(s, ir.Observe)}
    decls = tuple(d for d in module.decls if d.name not in observed)
    try:
        _drawable(module)
        values, inits = bind(replace(module, decls=decls), model.data_values(data))
        shapes = _observed_shapes(module, observed, values)
        env_params = _params(inits, params, model)
        return _forward(module, values, env_params, onp.random.default_rng(seed), n, shapes, latents=None)
    except PPLError as err:
        raise err.at(model.source) from None


def _drawable(module):
    """Refuse a prior the predictive would draw wrongly: each `~` is drawn from its distribution,
    which a log-density term on anything but data (`target +=`, `~` on a latent or deterministic)
    or a declared support (kept, not renormalised: the prior is the product restricted jointly)
    changes. (`y[t] ~ ...` on data is an observation: it leaves the prior as it is, undrawn.)"""
    data = {d.name for d in module.decls if d.kind == "data"} | {s.var for s in flat(module.body)
                                                                 if isinstance(s, ir.Loop)}
    for stmt in flat(module.body):
        term = isinstance(stmt, ir.Factor) and not (
            isinstance(stmt.expr, ast.Method) and {n.id for n in ast.names(stmt.expr.args[0])} <= data)
        if term or (isinstance(stmt, ir.Sample) and stmt.support is not None and stmt.dist != "Flat"):
            what = f"'{stmt.name}' is declared {stmt.support}" if isinstance(stmt, ir.Sample) \
                else "this statement adds a log-density term"
            raise SemanticError(f"{what}, which changes the prior in a way its draws cannot follow", stmt.span,
                                hint="draw from the fitted model instead (ppl sample --fit)")


def posterior(model: object, data: object, latents: dict, params: dict, rng: onp.random.Generator, n: int) -> dict:
    """The observations drawn given `latents` ({name: (n, ...)}, every latent and deterministic),
    with the fitted `params`; returns `latents` together with the observations."""
    module = model.ir
    try:
        values, inits = bind(module, model.data_values(data))
        observed = {s.name for s in module.body if isinstance(s, ir.Observe)}
        shapes = {name: onp.shape(values[name]) for name in observed}
        return _forward(module, values, _params(inits, params, model), rng, n, shapes, latents=latents)
    except PPLError as err:
        raise err.at(model.source) from None


def _params(inits, given, model):
    given = dict(given or {})
    unknown = set(given) - set(inits)
    if unknown:
        raise SemanticError(f"no param named '{sorted(unknown)[0]}'", hint=f"params: {', '.join(inits) or 'none'}")
    return {name: onp.asarray(given.get(name, init), dtype=float) for name, (_, init) in inits.items()}


def _observed_shapes(module, observed, values):
    scope = {name: Const(constant(v)) for name, v in values.items()}
    return {d.name: tuple(int(evaluate(e, scope)[0]) for e in d.shape) for d in module.decls if d.name in observed}


def _forward(module, values, params, rng, K, obs_shapes, latents):
    """Run the program forwards with K draws (`Forward`); `latents` (posterior) replaces the
    latent draws."""
    scope = {name: Const(constant(v)) for name, v in values.items()}
    names = list(params) + value_names(module)
    if latents is None:
        names += [s.name for s in module.body if isinstance(s, ir.Observe)]
    slots = {name: i for i, name in enumerate(dict.fromkeys(names))}
    scope.update(slots)
    env = [None] * len(slots)
    for name, v in params.items():
        env[slots[name]] = v[None]
    forward = Forward(rng, K, obs_shapes, latents)
    interpret(module, scope, slots, env, forward)
    return forward.out


class Forward(Handler):
    """The predictive's walk: K draws of every latent from its prior (or the given `latents`),
    every deterministic, and every observation drawn given them, kept in `out`."""
    failure = "cannot draw this statement"

    def __init__(self, rng, K, obs_shapes, latents=None):
        self.rng, self.K, self.obs_shapes, self.latents, self.out = rng, K, obs_shapes, latents, {}

    def _keep(self, name, x):
        x = onp.asarray(getval(x))
        self.out[name] = x = onp.broadcast_to(x, (self.K,) + x.shape[1:])
        return x

    def let(self, site):
        name = site.stmt.name
        given = self.latents is not None and name in self.latents    # a loop's own names are computed
        return self._keep(name, self.latents[name] if given else super().let(site))

    def sample(self, site):
        name = site.stmt.name
        if self.latents is not None:
            return self._keep(name, self.latents[name])
        prior = site.dist()
        if getattr(prior, "improper", False):
            raise SemanticError(f"'{name}' has no distribution (a flat prior), so it cannot be drawn before "
                                "fitting", site.stmt.span, hint="draw from the fitted model instead (ppl sample --fit)")
        shape = site.shape(prior)
        return self._keep(name, site.dist(1 + len(shape)).sample(self.rng, (self.K,) + shape))

    def observe(self, site):
        shape = tuple(self.obs_shapes[site.stmt.name])
        return self._keep(site.stmt.name, site.dist(1 + len(shape)).sample(self.rng, (self.K,) + shape))


def observed_data(model: object, data: object = None) -> dict:
    """The data of every observed name, as bound to the model: {name: array}."""
    try:
        values, _ = bind(model.ir, model.data_values(data))
    except PPLError as err:
        raise err.at(model.source) from None
    return {s.name: values[s.name] for s in model.ir.body if isinstance(s, ir.Observe)}


MAX_COMBINATIONS = 4096      # joint values of the summed-out latents enumerated for the log-likelihood


def log_likelihood(model: object, data: object, latents: dict, params: dict, summed: Collection[str] = ()) -> dict:
    """{observed name: (n, *batch)}: log p(y_i | draw s), the log-density of every element of every
    observation at each of the n draws in `latents` (every latent, {name: (n, ...)}), `param`s at
    `params`. A latent in `summed` (summed out by the fit) is summed out here too, element by
    element: log sum_k p(z_i = k) p(y_i | z_i = k, rest), so that the value is the likelihood the
    fit's ELBO holds."""
    module = model.ir
    try:
        values, inits = bind(module, model.data_values(data))
        walk = _Walk(module, values, _params(inits, params, model), latents, set(summed))
        first = walk({})
        if not summed or onp.prod([len(v) for v in first.supports.values()]) > MAX_COMBINATIONS:
            return first.out              # summed-out latents at their drawn values
        names = list(first.supports)
        terms = {name: [] for name in first.out}
        for values_k in product(*first.supports.values()):
            at_k = walk(dict(zip(names, values_k)))
            for name, lp in at_k.out.items():
                terms[name].append(lp + sum(_aligned(at_k.prior[z], lp.shape) for z in names))
        return {name: _logsumexp(onp.stack(t)) for name, t in terms.items()}
    except PPLError as err:
        raise err.at(model.source) from None


class _Walk:
    """The program walked over fixed draws of its latents (`Pointwise`), once per call."""

    def __init__(self, module, values, params, latents, summed):
        self.module, self.latents, self.summed = module, latents, summed
        self.n = len(next(iter(latents.values()))) if latents else 1
        self.scope = {name: Const(constant(v)) for name, v in values.items()}
        names = list(params) + value_names(module)
        self.slots = {name: i for i, name in enumerate(dict.fromkeys(names))}
        self.scope.update(self.slots)
        self.params = params

    def __call__(self, fixed):
        env = [None] * len(self.slots)
        for name, v in self.params.items():
            env[self.slots[name]] = v[None]
        handler = Pointwise(self.n, self.latents, self.summed, fixed)
        interpret(self.module, self.scope, self.slots, env, handler)
        return handler


class Pointwise(Handler):
    """Every latent at its given draws (a summed-out one at a value in `fixed`, its log prior
    kept in `prior`), every deterministic computed from them, and every observation's
    elementwise log-density kept in `out`; the supports of the summed-out latents in `supports`."""
    failure = "cannot compute the log-likelihood of this statement"

    def __init__(self, n, latents, summed, fixed):
        self.n, self.latents, self.summed, self.fixed = n, latents, summed, fixed
        self.out, self.prior, self.supports = {}, {}, {}

    def sample(self, site):
        name = site.stmt.name
        x = onp.asarray(self.latents[name])
        if name in self.summed:
            self.supports[name] = onp.asarray(site.dist().enumerate_support())
        if name in self.fixed:
            x = onp.full(x.shape, self.fixed[name], dtype=x.dtype)
            self.prior[name] = onp.asarray(getval(site.dist(x.ndim).log_prob(x)), dtype=float)
        return x

    def observe(self, site):
        y = site.data()
        lp = onp.asarray(getval(site.dist(onp.ndim(y)).log_prob(y)), dtype=float)
        self.out[site.stmt.name] = onp.broadcast_to(lp, (self.n,) + lp.shape[1:])
        return None


def _aligned(prior, shape):
    """A summed-out latent's log prior (n, *elements) lined up with an observation's (n, *batch):
    element by element when its elements are the observation's last axes, else as one total."""
    if prior.ndim == 1 or prior.ndim <= len(shape) and prior.shape[1:] == tuple(shape[len(shape) - prior.ndim + 1:]):
        return prior.reshape(prior.shape[:1] + (1,) * (len(shape) - prior.ndim) + prior.shape[1:])
    return prior.reshape(len(prior), -1).sum(axis=1).reshape((-1,) + (1,) * (len(shape) - 1))


def _logsumexp(x):
    top = onp.max(x, axis=0)
    safe = onp.where(onp.isfinite(top), top, 0.0)
    with onp.errstate(divide="ignore"):
        return safe + onp.log(onp.sum(onp.exp(x - safe), axis=0))
