"""Predictive draws: every observation drawn anew, given draws of the latents.

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

from dataclasses import replace

import numpy as onp
from autograd.tracer import getval

from ..middle import ir
from .data import bind
from ..front.errors import PPLError, SemanticError
from .expr import Const, constant, evaluate
from .interpret import Handler, interpret


def prior(model: object, data: object = None, n: int = 1000, seed: int = 0, params: dict | None = None) -> dict:
    """`n` draws of every latent, deterministic and observation from the prior predictive."""
    module = model.ir
    observed = {s.name for s in module.body if isinstance(s, ir.Observe)}
    decls = tuple(d for d in module.decls if d.name not in observed)
    try:
        values, inits = bind(replace(module, decls=decls), model.data_values(data))
        shapes = _observed_shapes(module, observed, values)
        env_params = _params(inits, params, model)
        return _forward(module, values, env_params, onp.random.default_rng(seed), n, shapes, latents=None)
    except PPLError as err:
        raise err.at(model.source) from None


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
    names = list(params) + [s.name for s in module.body if isinstance(s, (ir.Let, ir.Sample))]
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
        return self._keep(name, self.latents[name] if self.latents is not None else super().let(site))

    def sample(self, site):
        name = site.stmt.name
        if self.latents is not None:
            return self._keep(name, self.latents[name])
        shape = site.shape(site.dist())
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
