"""Pass 6, build: a rewritten program and its data compiled once into closures.

`build` returns a `Built` program whose `loss(params, rng, K, baselines)` runs K particles at once
(a leading array axis) and returns one scalar whose value is the mean loss and whose gradient
is the estimator's: pathwise sites carry gradients through their transforms; every score site adds
stop(C - b) * log q to a surrogate that is added with its value subtracted back out.
"""
from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from . import fused, ir
from .constraints import positive, real
from .distributions import DISTRIBUTIONS
from .errors import FitError, SemanticError
from .expr import Const, compile_expr, constant
from .functions import _sum
from .params import Param, ParamSpace
from .runtime_checks import check_args, check_finite, check_observed

INIT_RADIUS = 2.0        # guide locations start uniform in (-2, 2), unconstrained, as in Stan
INIT_SCALE = 0.1         # guide scales start small, as in Pyro's AutoNormal


@dataclass
class Run:
    """The mutable state of one pass through the program."""
    params: dict
    rng: object
    K: int
    costs: list
    scores: list
    record: dict | None = None
    checking: bool = False


class Built:
    """A program bound to its data: the loss, forward simulation, and a diagnosing replay."""

    def __init__(self, rewritten, space, ops, slots, shapes, signs, site_index):
        self.rewritten, self.space, self.ops, self.slots = rewritten, space, ops, slots
        self.shapes, self.signs, self.n_costs = shapes, signs, len(signs)
        self.mode = rewritten.module.mode
        self.score_sites = [(site_index[s.name], s.costs) for s in rewritten.sites if s.estimator == "score"]
        self.param_slots = [(d.name, slots[d.name]) for d in rewritten.module.decls if d.kind == "param"]

    def _run(self, params, rng, K, record=None, checking=False):
        run = Run(params, rng, K, [None] * self.n_costs, [], record, checking)
        env = [None] * len(self.slots)
        for name, slot in self.param_slots:
            env[slot] = params[name]
        for op in self.ops:
            op(env, run)
        return run

    def loss(self, params, rng, K, baselines=None, baseline="auto", record=None):
        """(scalar, aux): mean loss over K particles with the estimator's gradient; aux holds
        the per-particle loss and each score site's downstream cost."""
        run = self._run(params, rng, K, record=record)
        total = _total(run.costs, self.signs, K)
        if not self.score_sites:
            return np.mean(total), {"total": getval(total), "downstream": []}
        surrogate = total
        downstream = []
        for (site, cost_ids), logq in zip(self.score_sites, run.scores):
            C = getval(_total([run.costs[i] for i in cost_ids], [self.signs[i] for i in cost_ids], K))
            b = _baseline(C, baseline, K, None if baselines is None else baselines[len(downstream)])
            surrogate = surrogate + (C - b) * logq
            downstream.append(C)
        mean, smean = np.mean(total), np.mean(surrogate)
        out = getval(mean) + smean - getval(smean)
        return out, {"total": getval(total), "downstream": downstream}

    def simulate(self, params, rng, K) -> dict:
        """K forward draws of every latent and deterministic, and the per-particle loss."""
        record = {}
        run = self._run(params, rng, K, record=record)
        record["__loss__"] = onp.broadcast_to(getval(_total(run.costs, self.signs, K)), (K,))
        return record

    def diagnose(self, params, rng, K):
        """Replay a step with run-time checks; raise `FitError` at the first faulty statement."""
        self._run(params, rng, K, checking=True)


def _total(terms, signs, K):
    """sum(sign * term), with as few traced operations as possible."""
    if not terms:
        return np.zeros(K)
    order = sorted(range(len(terms)), key=lambda i: -signs[i])   # a positive term first, if any
    first = order[0]
    total = terms[first] if signs[first] > 0 else -terms[first]
    for i in order[1:]:
        total = total + terms[i] if signs[i] > 0 else total - terms[i]
    return total


def _baseline(C, how, K, average):
    if how == "none":
        return 0.0
    if how == "loo" or (how == "auto" and K >= 2):
        return (np.sum(C) - C) / (K - 1) if K >= 2 else 0.0
    return 0.0 if average is None else average


def build(rewritten, data: dict, rng, param_init: dict) -> Built:
    """Compile `rewritten` against validated `data` ({name: array}); `param_init` gives the
    user params' initial constrained values, `rng` draws the guide's initial locations."""
    module = rewritten.module
    scope = {name: Const(constant(value)) for name, value in data.items()}
    slots = {}
    named = [d.name for d in module.decls if d.kind == "param"]
    named += [s.name for s in module.body if isinstance(s, (ir.Let, ir.Sample))]
    for name in named:
        slots[name] = scope[name] = len(slots)
    shapes = _dry_run(module, scope, slots, param_init, rng)
    params = _user_params(param_init) + _guide_params(rewritten, shapes, rng)
    space = ParamSpace(params)
    site_index = {s.name: i for i, s in enumerate(rewritten.sites)}
    ops, signs = _compile_ops(rewritten, scope, slots, shapes, data)
    return Built(rewritten, space, ops, slots, shapes, signs, site_index)


def _value(code, env):
    return code.value if isinstance(code, Const) else code(env)


def _arg_codes(stmt, scope):
    return [(name, compile_expr(expr, scope)) for name, expr in stmt.args]


def _dist(cls, codes, env, rank=0):
    """An instance of `cls`; its arguments are aligned on their batch axes (and to `rank`, the
    number of axes of the value it will score), so a particle axis never meets an element axis."""
    args = {name: _value(code, env) for name, code in codes}
    events = cls.arg_event_dims
    ranks = {k: np.ndim(v) - events.get(k, 0) for k, v in args.items()}
    target = max(rank, *ranks.values())
    for k, v in args.items():
        if ranks[k] < target:
            shape = np.shape(v)
            args[k] = np.reshape(v, shape[:1] + (1,) * (target - ranks[k]) + shape[1:])
    return cls(**args)


def _dry_run(module, scope, slots, param_init, rng):
    """One particle from the prior: finds every latent's shape (and the prior that drew it),
    and reports shape errors and data outside a support before any fitting."""
    env = [None] * len(slots)
    for name, (_, value) in param_init.items():
        env[slots[name]] = constant(value)
    shapes = {}
    for stmt in module.body:
        try:
            _dry_step(stmt, scope, slots, env, shapes, rng)
        except (ValueError, IndexError, TypeError) as err:
            raise SemanticError(f"cannot evaluate this statement: {err}", stmt.span) from None
    return shapes


def _dry_step(stmt, scope, slots, env, shapes, rng):
    if isinstance(stmt, ir.Let):
        value = _value(compile_expr(stmt.expr, scope), env)
        env[slots[stmt.name]] = value
        shapes[stmt.name] = (onp.shape(value)[1:], None)
    elif isinstance(stmt, ir.Sample):
        codes = _arg_codes(stmt, scope)
        prior = _dist(DISTRIBUTIONS[stmt.dist], codes, env)
        shape = _latent_shape(stmt, prior, scope)
        prior = _dist(DISTRIBUTIONS[stmt.dist], codes, env, 1 + len(shape))
        env[slots[stmt.name]] = prior.sample(rng, (1,) + shape)
        shapes[stmt.name] = (shape, prior)
    elif isinstance(stmt, ir.Observe):
        y = scope[stmt.name].value
        dist = _dist(DISTRIBUTIONS[stmt.dist], _arg_codes(stmt, scope), env, onp.ndim(y))
        if onp.broadcast_shapes(dist.batch_shape, onp.shape(y)) != onp.shape(y):
            raise SemanticError(f"the distribution has shape {dist.batch_shape[1:]} but the data "
                                f"'{stmt.name}' has shape {onp.shape(y)[1:]}", stmt.span,
                                hint="the arguments must broadcast to the shape of the data")
        check_observed(stmt, dist, y)
    elif isinstance(stmt, ir.Objective):
        for _, expr in stmt.terms:
            value = _value(compile_expr(expr, scope), env)
            if onp.ndim(value) != 1:
                raise SemanticError(f"an objective must be a single number, but '{expr}' has shape "
                                    f"{onp.shape(value)[1:]}", expr.span, hint=f"write sum({expr}) or mean({expr})")


def _latent_shape(stmt, prior, scope):
    batch = tuple(prior.batch_shape[1:])
    if stmt.shape is None:
        return batch
    shape = tuple(int(_value(compile_expr(d, scope), None)[0]) for d in stmt.shape)
    if onp.broadcast_shapes(batch, shape) != shape:
        raise SemanticError(f"the arguments have shape {batch}, which does not fit the declared "
                            f"shape {shape}", stmt.span)
    return shape


def _user_params(param_init):
    return [Param(name, onp.shape(value), c, onp.asarray(c.to_unconstrained(value), dtype=float))
            for name, (c, value) in param_init.items()]


def _guide_params(rewritten, shapes, rng):
    params = []
    for name, site in rewritten.guide.items():
        shape, prior = shapes[name]
        if site.discrete:
            (arg, constraint), = site.params
            event = onp.shape(getattr(prior, arg))[len(prior.batch_shape):]
            value = onp.broadcast_to(getattr(prior, arg)[0], shape + tuple(event))
            params.append(Param(f"{name}.{arg}", onp.shape(value), constraint,
                                onp.asarray(constraint.to_unconstrained(onp.asarray(value, dtype=float)))))
        else:
            ushape = prior.support.unconstrained_shape(shape)
            params.append(Param(f"{name}.loc", ushape, real, rng.uniform(-INIT_RADIUS, INIT_RADIUS, ushape)))
            params.append(Param(f"{name}.scale", ushape, positive, onp.full(ushape, onp.log(INIT_SCALE))))
    return params


def _compile_ops(rewritten, scope, slots, shapes, data):
    """One closure per statement, in program order; returns (ops, the sign of each cost term:
    the loss is the sum of sign * term)."""
    module, sites = rewritten.module, {s.name: s for s in rewritten.sites}
    ops, signs = [], []
    for stmt in module.body:
        if isinstance(stmt, ir.Let):
            ops.append(_let_op(stmt, compile_expr(stmt.expr, scope), slots[stmt.name]))
        elif isinstance(stmt, ir.Sample):
            site = sites.get(stmt.name)
            if module.mode == "vi":
                ops.append(_guided_op(stmt, scope, slots, shapes, site, rewritten.guide[stmt.name], len(signs)))
                signs += [-1.0, 1.0]      # - log p(z) + log q(z)
            else:
                ops.append(_sample_op(stmt, scope, slots, shapes, site))
        elif isinstance(stmt, ir.Observe):
            ops.append(_observe_op(stmt, scope, data, len(signs)))
            signs.append(-1.0)            # - log p(y)
        else:
            sense = 1.0 if stmt.sense == "minimize" else -1.0
            for s, expr in stmt.terms:
                ops.append(_term_op(stmt, compile_expr(expr, scope), len(signs)))
                signs.append(sense * s)
    assert len(signs) == len(rewritten.costs), "cost terms out of step with the rewrite"
    return ops, signs


def _let_op(stmt, code, slot):
    get = (lambda env: code.value) if isinstance(code, Const) else code

    def op(env, run):
        value = get(env)
        if run.checking:
            check_finite(stmt, value, f"the value of '{stmt.name}'")
        env[slot] = value
        if run.record is not None:
            run.record[stmt.name] = getval(value)
    return op


def _guided_op(stmt, scope, slots, shapes, site, guide, cost):
    """A latent in inference mode: drawn from its guide, scored under its prior."""
    cls, codes, slot = DISTRIBUTIONS[stmt.dist], _arg_codes(stmt, scope), slots[stmt.name]
    shape, _ = shapes[stmt.name]
    rank = 1 + len(shape)
    score = site.estimator == "score"
    arg = guide.params[0][0]
    free, loc_name, scale_name = f"{stmt.name}.{arg}", f"{stmt.name}.loc", f"{stmt.name}.scale"

    def discrete(run, prior):
        q = cls(**{arg: run.params[free]})
        x = q.sample(run.rng, (run.K,) + shape)
        return x, q.log_prob_sum(x)

    def continuous(run, prior):
        loc, scale = run.params[loc_name], run.params[scale_name]
        eps = run.rng.standard_normal((run.K,) + np.shape(loc)[1:])
        u = loc + scale * eps
        if score:
            u = getval(u)
            logq = fused.normal(u, loc, scale)
        else:
            # log Normal(u; loc, scale) with u - loc = scale * eps: the same function of
            # (loc, scale, eps), hence the same pathwise gradient, in fewer operations
            logq = -fused.sum_rest(0.5 * eps * eps + fused.HALF_LOG_2PI) - np.sum(np.log(scale))
        support = prior.support
        x = support.to_constrained(u)
        if support is not real:
            logq = logq - _sum(support.log_abs_det_jacobian(u))
        return x, logq

    draw = discrete if cls.discrete else continuous

    def op(env, run):
        prior = _dist(cls, codes, env, rank)
        if run.checking:
            check_args(stmt, prior)
        x, logq = draw(run, prior)
        env[slot] = x
        run.costs[cost] = prior.log_prob_sum(x)
        run.costs[cost + 1] = logq
        if run.checking:
            check_finite(stmt, run.costs[cost], f"the log-density of '{stmt.name}'")
        if score:
            run.scores.append(logq)
        if run.record is not None:
            run.record[stmt.name] = getval(x)
    return op


def _sample_op(stmt, scope, slots, shapes, site):
    """A latent drawn from the program itself (optimization, or prior simulation)."""
    cls, codes, slot = DISTRIBUTIONS[stmt.dist], _arg_codes(stmt, scope), slots[stmt.name]
    shape, _ = shapes[stmt.name]
    pathwise = site is not None and site.estimator == "pathwise"
    score = site is not None and site.estimator == "score"
    rank = 1 + len(shape)

    def op(env, run):
        dist = _dist(cls, codes, env, rank)
        if run.checking:
            check_args(stmt, dist)
        if pathwise:
            x = dist.transform(cls.noise(run.rng, (run.K,) + shape))
        else:
            x = dist.sample(run.rng, (run.K,) + shape)
        if score:
            logp = dist.log_prob_sum(x)
            if run.checking:
                check_finite(stmt, logp, f"the log-density of '{stmt.name}'")
            run.scores.append(logp)
        env[slot] = x
        if run.record is not None:
            run.record[stmt.name] = getval(x)
    return op


def _observe_op(stmt, scope, data, cost):
    cls, codes = DISTRIBUTIONS[stmt.dist], _arg_codes(stmt, scope)
    y = constant(data[stmt.name])
    rank = onp.ndim(y)
    # data were checked against a fixed support before the fit; a support that moves with the
    # arguments (Uniform's bounds) is checked at every step
    moving = not cls.discrete and isinstance(cls.__dict__.get("support"), property)

    def op(env, run):
        dist = _dist(cls, codes, env, rank)
        if run.checking:
            check_args(stmt, dist)
            check_observed(stmt, dist, y)
        run.costs[cost] = _sum(dist.log_prob(y)) if moving else dist.log_prob_sum(y)
        if run.checking:
            check_finite(stmt, run.costs[cost], f"the log-density of '{stmt.name}'")
    return op


def _term_op(stmt, code, cost):
    get = (lambda env: code.value) if isinstance(code, Const) else code

    def op(env, run):
        value = get(env)
        if run.checking:
            check_finite(stmt, value, "the objective")
        run.costs[cost] = value
    return op
