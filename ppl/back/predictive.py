"""Predictive draws: every observation drawn anew, given draws of the latents.

The prior predictive draws the latents from their priors (user `param`s at their initial values
or at given ones); the posterior predictive takes them from a fit (`Fit.sample`'s guide draws) and
draws only the observations. Both walk the lowered program once, with `K` draws as the leading
axis, compiling each statement's arguments as the build does (`compile_expr` over slots). The
objective of `minimize`/`maximize` is not a draw and is left out.

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
from ..distributions import DISTRIBUTIONS
from ..front.errors import PPLError, SemanticError
from .expr import Const, compile_expr, constant, evaluate
from .ops import make_dist, value


def prior(model, data=None, n: int = 1000, seed: int = 0, params: dict | None = None) -> dict:
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


def posterior(model, data, latents: dict, params: dict, rng, n: int) -> dict:
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
    """Run the program forwards with K draws; `latents` (posterior) replaces the latent draws."""
    scope = {name: Const(constant(v)) for name, v in values.items()}
    names = list(params) + [s.name for s in module.body if isinstance(s, (ir.Let, ir.Sample))]
    if latents is None:
        names += [s.name for s in module.body if isinstance(s, ir.Observe)]
    slots = {name: i for i, name in enumerate(dict.fromkeys(names))}
    scope.update(slots)
    env = [None] * len(slots)
    for name, v in params.items():
        env[slots[name]] = v[None]
    out = {}
    for stmt in module.body:
        try:
            if isinstance(stmt, ir.Let):
                x = latents[stmt.name] if latents is not None else value(compile_expr(stmt.expr, scope), env)
            elif isinstance(stmt, ir.Sample):
                x = latents[stmt.name] if latents is not None else _draw_latent(stmt, scope, env, rng, K)
            elif isinstance(stmt, ir.Observe):
                x = _draw(stmt, scope, env, rng, K, obs_shapes[stmt.name])
            else:
                continue
        except (ValueError, IndexError, TypeError) as err:
            raise SemanticError(f"cannot draw this statement: {err}", stmt.span) from None
        x = onp.asarray(getval(x))
        x = onp.broadcast_to(x, (K,) + x.shape[1:])
        if stmt.name in slots:
            env[slots[stmt.name]] = x
        out[stmt.name] = x
    return out


def _codes(stmt, scope):
    return [(name, compile_expr(expr, scope)) for name, expr in stmt.args]


def _draw_latent(stmt, scope, env, rng, K):
    """A latent from its prior; its shape is the arguments' broadcast shape, or its annotation."""
    cls, codes = DISTRIBUTIONS[stmt.dist], _codes(stmt, scope)
    if stmt.shape is None:
        prior = make_dist(cls, codes, env)
        shape = tuple(prior.batch_shape[1:]) + tuple(prior.event_shape)
    else:
        shape = tuple(int(evaluate(d, scope)[0]) for d in stmt.shape)
    return make_dist(cls, codes, env, 1 + len(shape)).sample(rng, (K,) + shape)


def _draw(stmt, scope, env, rng, K, shape):
    cls = DISTRIBUTIONS[stmt.dist]
    return make_dist(cls, _codes(stmt, scope), env, 1 + len(shape)).sample(rng, (K,) + tuple(shape))


def observed_data(model, data=None) -> dict:
    """The data of every observed name, as bound to the model: {name: array}."""
    try:
        values, _ = bind(model.ir, model.data_values(data))
    except PPLError as err:
        raise err.at(model.source) from None
    return {s.name: values[s.name] for s in model.ir.body if isinstance(s, ir.Observe)}
