"""One closure per statement, run in program order on a list of slots (see `program.Run`).

A cost term is stored as one number per particle (`run.costs`), in the slot the rewrite gave it:
a latent has two, `SiteCosts.logp` and `SiteCosts.logq`. A term that another one carries (a block
latent's log q inside the mean-field block's column, an observation's log-density inside an
enumerated latent's marginal) leaves its slot empty and is marked in `run.carried`. When a score
site needs a cost per element, its elementwise values go to `run.elem` too (no gradient needed
there). A cost influenced
by an enumerated latent z is evaluated at every value k of z at once (an axis after the particles)
and then either summed out of the model (inference mode, "enumerate": added to log p(z = k) and
reduced by log-sum-exp, see `enumeration.marginal_final`) or averaged with weights w_k ("expect": w = p(z = k)
for the program's own draws, q(z = k) for a guide).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp
from autograd.tracer import Box, getval

from ..kernels import nodes
from ..distributions.constraints import real
from . import draws
from .expr import Const, beside, make_dist, value
from ..kernels.special import sum_rest
from .runtime_checks import check_args, check_finite, check_observed

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..distributions import Distribution
    from ..distributions.base import Value
    from ..middle import ir
    from ..middle.guide import GuideSite
    from ..middle.rewrite import Site
    from .program import Run

@dataclass(frozen=True)
class SiteCosts:
    """A latent's two cost slots: log p(z) and log q(z), in inference (`Rewritten.costs`)."""
    logp: int
    logq: int


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the ops of one program must keep besides the plain costs."""
    enum_of: dict          # cost index -> the enumerated site that absorbs it
    marginal: frozenset    # enumerated sites summed out of the model (the others are weighted)
    elem_needed: frozenset  # cost indices some score site uses per element
    elementwise: frozenset  # score sites whose score is kept per element
    enum_rank: int          # axes after the enumeration axis (at least the program's largest rank)
    blocks: dict | None = None     # full-rank guide: latent -> (start, stop) in the joint draw
    stl: bool = False       # sticking the landing: no direct gradient through log q's parameters
    local: frozenset = frozenset()   # latents subsampled with the observations (`run.rows`)
    columns: dict = None    # mean-field latents drawn in one block: latent -> (start, stop)
    layout: tuple = None    # and where their parameters sit (`nodes.meanfield`)
    folded: frozenset = frozenset()   # block latents whose constant prior the block scores
    fast: bool = True       # the build's optimizations (`build(fast=...)`): fused one-call densities too




def _plain(dist):
    """`dist` without autograd boxes in its arguments (itself when it has none: a constant prior)."""
    if not any(isinstance(v, Box) for v in dist.args.values()):
        return dist
    return type(dist)(**{k: getval(v) for k, v in dist.args.items()})


def _elementwise(dist, x):
    with onp.errstate(divide="ignore", invalid="ignore"):
        return _plain(dist).log_prob_unchecked(getval(x))


def varying_args(codes: list) -> frozenset[str]:
    """The arguments that can change from step to step (constants were checked before the fit)."""
    return frozenset(name for name, code in codes if not isinstance(code, Const))


def steady_args(cls: type[Distribution], codes: list) -> list[str]:
    """The arguments the steady check looks at: those that vary, with a constraint beyond real.
    A real argument is not checked at every step: the check lets NaN and infinity through, and
    nothing else is outside real."""
    return [n for n in sorted(varying_args(codes)) if cls.arg_constraints.get(n) is not real]


def check_step(stmt: ir.Sample | ir.Observe, dist: Distribution, steady: list[str], run: Run) -> None:
    """Arguments outside their constraints (a negative scale) stop the fit at once, naming the
    statement: the `steady` ones (`steady_args`) at every step, all of them when replaying a
    faulty step."""
    if run.checking:
        check_args(stmt, dist)
    elif steady:
        check_args(stmt, dist, steady, steady=True)


def elem_values(run: Run, plan: Plan, cost: int, values: Value) -> onp.ndarray:
    """A cost's elementwise values for another site's score; where a latent is enumerated with
    weights, the values at its k are averaged with those weights (the enumeration axis goes)."""
    site = plan.enum_of.get(cost)
    values = onp.asarray(getval(values), dtype=float)
    if site is None or site in run.fixed or site in plan.marginal:
        return values
    return onp.sum(onp.asarray(getval(run.enum[site])) * values, axis=1)


def absorb(run: Run, plan: Plan, cost: int, log_density: Callable[[], Value]) -> bool:
    """Hand a cost to the enumerated latent that influences it; True when it did."""
    site = plan.enum_of.get(cost)
    if site is None or site in run.fixed:
        return False
    if site in plan.marginal:
        run.enum[site].append(log_density())
        run.carried.add(cost)
    else:
        run.costs[cost] = sum_rest(run.enum[site] * log_density())
    return True


def let_op(stmt: ir.Let, code: Const | Callable[..., Value], slot: int) -> Callable[..., None]:
    get = (lambda env: code.value) if isinstance(code, Const) else code

    def op(env, run):
        x = get(env)
        if run.checking:
            check_finite(stmt, x, f"the value of '{stmt.name}'")
        env[slot] = x
        if run.record is not None:
            run.record[stmt.name] = getval(x)
    return op


def guided_op(stmt: ir.Sample, codes: list, slot: int, shape: tuple[int, ...], site: Site, guide: GuideSite,
              costs: SiteCosts, plan: Plan) -> Callable[..., None]:
    """A latent in inference mode: drawn from its guide by one of `draws`' strategies, scored
    under its prior into its two cost slots."""
    cls = stmt.family
    steady, constant = steady_args(cls, codes), not varying_args(codes)    # constant: its arguments
    rank, score = 1 + len(shape), site.estimator == "score"
    per_element = stmt.name in plan.elementwise
    draw = _strategy(stmt, cls, shape, score, per_element, guide, costs, plan)
    folded = stmt.name in plan.folded
    fixed_prior = make_dist(cls, codes, None, rank) if constant else None    # built once

    def op(env, run):
        prior = fixed_prior if fixed_prior is not None else make_dist(cls, codes, env, rank)
        check_step(stmt, prior, steady, run)
        x, logq, logq_values = draw(run, prior)
        env[slot] = x
        # a discrete draw under a prior without parameters: its log-density has no gradient, and
        # the per-element values (for score terms) give the cost too
        values = _elementwise(prior, x) if costs.logp in plan.elem_needed and cls.discrete and constant else None
        if folded and run.mf is not None:
            run.carried.add(costs.logp)           # in the block's last column
        elif not absorb(run, plan, costs.logp, lambda: prior.log_prob_elements(beside(x, prior))):
            run.costs[costs.logp] = prior.log_prob_sum(x) if values is None else sum_rest(values)
        if logq is None:
            run.carried.add(costs.logq)           # in the block's last column
        else:
            # a score site's log q enters the gradient only through its score term: differentiating
            # the cost itself would add -grad log q, which averages to zero but adds variance
            # (a score site's is a constant: summed outside the tape)
            total_logq = logq if not per_element else sum_rest(getval(logq) if score else logq)
            run.costs[costs.logq] = getval(total_logq) if score else total_logq
        if costs.logp in plan.elem_needed:
            run.elem[costs.logp] = elem_values(run, plan, costs.logp,
                                                _elementwise(prior, x) if values is None else values)
        if costs.logq in plan.elem_needed:
            run.elem[costs.logq] = logq_values if logq_values is not None else getval(logq)
        if run.checking and costs.logp not in run.carried:
            check_finite(stmt, run.costs[costs.logp], f"the log-density of '{stmt.name}'")
        if score:
            run.scores[stmt.name] = logq
        if run.record is not None:
            run.record[stmt.name] = getval(x)
    return op


def _strategy(stmt, cls, shape, score, per_element, guide, costs, plan) -> draws.Draw:
    """The way `stmt` is drawn from its guide (`draws`)."""
    param = param_reader(stmt.name, plan)
    if cls.discrete:
        arg = guide.params[0][0]
        return draws.discrete(cls, shape, f"{stmt.name}.{arg}", fixed_args(cls, arg), per_element, param)
    if plan.blocks and stmt.name in plan.blocks:
        return draws.joint(shape, plan.blocks[stmt.name])
    normal = draws.normal(stmt.name, score, per_element, costs.logq in plan.elem_needed, plan.stl, param)
    if plan.columns and stmt.name in plan.columns:
        return draws.block(shape, plan.columns[stmt.name], normal)
    return normal


def meanfield_op(layout: tuple, sizes: list[int]) -> Callable[..., None]:
    """Draw every block latent of the mean-field guide at once (`nodes.meanfield`) from the flat
    parameter vector, the noise of all in one call: from each particle's own stream (`Streams`),
    the very numbers the latents (`sizes`) would draw one by one. Gradients taken by parameter
    name (no flat vector) skip the block."""
    total = sum(sizes)

    def op(env, run):
        theta = getattr(run.params, "theta", None)
        if theta is None or run.checking:     # a replay checks each latent on its own
            run.mf = None
            return
        run.mf = nodes.meanfield(theta, run.rng.standard_normal((run.K, total)), layout)
    return op


def param_reader(latent: str, plan: Plan) -> Callable[..., Value]:
    """How `latent`'s ops read a guide parameter: whole, or, for a latent subsampled with the
    observations, at this step's rows (particles first)."""
    if latent in plan.local:
        return lambda run, name: run.params[name][:, run.rows]
    return lambda run, name: run.params[name]


def _broadcast(x, shape):
    return x + np.zeros(shape) if onp.shape(x) != shape else x


def fixed_args(cls: type[Distribution], arg: str | None) -> tuple[str, ...]:
    """A same-family guide learns `arg`; it takes the other arguments of that signature (a
    Binomial's total_count) from the prior."""
    if arg is None:
        return ()
    signature = next(s for s in cls.signatures if arg in s)
    return tuple(k for k in signature if k != arg)


def sample_op(stmt: ir.Sample, codes: list, slot: int, shape: tuple[int, ...], site: Site | None,
              plan: Plan) -> Callable[..., None]:
    """A latent drawn from the program itself (optimization, or prior simulation)."""
    cls = stmt.family
    steady = steady_args(cls, codes)
    rank = 1 + len(shape)
    pathwise = site is not None and site.estimator == "pathwise"
    score = site is not None and site.estimator == "score"
    per_element = score and stmt.name in plan.elementwise

    def op(env, run):
        dist = make_dist(cls, codes, env, rank)
        check_step(stmt, dist, steady, run)
        if pathwise:
            x = dist.transform(cls.noise(run.rng, (run.K,) + shape))
        else:
            x = dist.sample(run.rng, (run.K,) + shape)
        if score:
            logp = _broadcast(dist.log_prob_unchecked(x), (run.K,) + shape) if per_element else dist.log_prob_sum(x)
            if run.checking:
                check_finite(stmt, logp, f"the log-density of '{stmt.name}'")
            run.scores[stmt.name] = logp
        env[slot] = x
        if run.record is not None:
            run.record[stmt.name] = getval(x)
    return op


def observe_op(stmt: ir.Observe, codes: list, data: Const | Callable[..., Value], cost: int,
               plan: Plan) -> Callable[..., None]:
    """An observation; `data` is its value's code (a constant, or a minibatch's slot)."""
    cls = stmt.family
    steady = steady_args(cls, codes)
    fixed = isinstance(data, Const)
    rank = onp.ndim(data.value) if fixed else None
    # data were checked against a fixed support before the fit; a support that moves with the
    # arguments (Uniform's bounds) is checked at every step
    moving = not cls.discrete and cls.moving_support
    # the common case as one call: a fused density, on arguments with no check at each step
    plain = not (moving or steady or cost in plan.enum_of or cost in plan.elem_needed)
    density = cls.fused_density([name for name, _ in codes]) if plain and plan.fast else None
    if density is not None:
        primitive, order = density[0], [dict(codes)[name] for name in density[1]]

    def op(env, run):
        y = data.value if fixed else data(env)
        if density is not None and not run.checking:
            run.costs[cost] = primitive(y, *[value(code, env) for code in order])
            return
        dist = make_dist(cls, codes, env, rank if fixed else onp.ndim(y))
        check_step(stmt, dist, steady, run)
        if run.checking:
            check_observed(stmt, dist, y)
        if not absorb(run, plan, cost, lambda: dist.log_prob_elements(y)):
            run.costs[cost] = sum_rest(dist.log_prob(y)) if moving else dist.log_prob_sum(y)
        if cost in plan.elem_needed:
            run.elem[cost] = elem_values(run, plan, cost, _elementwise(dist, y))
        if run.checking:
            check_finite(stmt, run.costs[cost], f"the log-density of '{stmt.name}'")
    return op


def term_op(stmt: ir.Objective, code: Const | Callable[..., Value], reduce: str | None, cost: int,
            plan: Plan) -> Callable[..., None]:
    """An objective term; `code` computes E when the term is sum(E) or mean(E) (`reduce`)."""
    get = (lambda env: code.value) if isinstance(code, Const) else code
    site = plan.enum_of.get(cost)

    def op(env, run):
        x = get(env)
        if site is not None and site not in run.fixed:
            weighted = run.enum[site] * x      # p(z = k) * E at z = k; both (particles, k, ...)
            value = sum_rest(weighted)
            if reduce == "mean":
                value = value / _count(onp.shape(weighted)[2:])
        else:
            value = x if reduce is None else sum_rest(x)
            if reduce == "mean":
                value = value / _count(onp.shape(x)[1:])
        if run.checking:
            check_finite(stmt, value, "the objective")
        run.costs[cost] = value
        if cost in plan.elem_needed:
            scale = _count(onp.shape(x)[2 if site in run.enum else 1:]) if reduce == "mean" else 1
            run.elem[cost] = elem_values(run, plan, cost, x) / scale
    return op


def _count(shape):
    return max(1, int(onp.prod(shape, dtype=int)))
