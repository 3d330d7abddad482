"""The closures of an enumerated latent: evaluated at every value of its finite support at once,
on an axis after the particles, then summed out of the model (inference) or weighted by the
program's or the guide's probabilities; and its exact conditional distribution afterwards.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from ..kernels import nodes
from ..kernels.special import sum_rest
from .expr import make_dist
from .ops import SiteCosts, check_step, fixed_args, param_reader, steady_args, varying_args

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..middle import ir
    from ..middle.guide import GuideSite
    from .ops import Plan


def enumerated_op(stmt: ir.Sample, codes: list, slot: int, shape: tuple[int, ...], costs: SiteCosts | None,
                  plan: Plan, support: onp.ndarray, mode: str, guide: GuideSite | None = None) -> Callable[..., None]:
    """A latent evaluated at every value of its support at once, on an axis after the particles:
    summed out of the model, or weighted by the program's or the guide's probabilities. In
    inference its two cost slots (`costs`) get the guide-weighted log p and log q, or, summed out,
    the marginal (`marginal_final`) in log p's and nothing in log q's; in optimization it has none."""
    cls = stmt.family
    steady = steady_args(cls, codes)
    rank = 1 + len(shape)
    values = onp.reshape(support, (1, len(support)) + (1,) * plan.enum_rank)
    marginal = stmt.name in plan.marginal
    free = guide and f"{stmt.name}.{guide.params[0][0]}"
    param = param_reader(stmt.name, plan)
    # constant arguments: the distribution at the values, and its log-density there, once
    constant = make_dist(cls, codes, None, values.ndim) if not varying_args(codes) else None
    if constant is not None:
        with onp.errstate(divide="ignore", invalid="ignore"):      # an impossible value: -inf
            constant_log_p = getval(constant.log_prob_unchecked(values))

    def op(env, run):
        fixed = stmt.name in run.fixed
        # arguments line up with the values: particles first, then the enumeration axis
        dist = constant if constant is not None and not fixed else \
            make_dist(cls, codes, env, rank if fixed else values.ndim)
        check_step(stmt, dist, steady, run)
        if fixed:
            env[slot] = run.fixed[stmt.name]
            if mode == "vi":
                run.carried.update((costs.logp, costs.logq))
        else:
            env[slot] = values
            log_p = constant_log_p if constant is not None else dist.log_prob_unchecked(values)
            if marginal:
                run.enum[stmt.name] = [log_p]
                run.carried.add(costs.logq)         # log p's slot gets the marginal (`marginal_final`)
            elif free is None:
                run.enum[stmt.name] = np.exp(log_p)
            else:
                arg = guide.params[0][0]
                q = cls(**{**{k: dist.args[k] for k in fixed_args(cls, arg)}, arg: _enum_axis(param(run, free), plan)})
                log_q = q.log_prob_unchecked(values)
                w = run.enum[stmt.name] = np.exp(log_q)
                run.costs[costs.logp] = sum_rest(w * log_p)
                run.costs[costs.logq] = sum_rest(w * log_q)
        if run.record is not None:
            run.record[stmt.name] = getval(env[slot])
    return op


def _enum_axis(arg, plan):
    """A guide argument (1, elements..., [categories]) lined up with the enumeration axis."""
    shape = onp.shape(arg)
    return np.reshape(arg, shape[:1] + (1,) * (plan.enum_rank + 1 - (len(shape) - 1)) + shape[1:])


def marginal_final(name: str, shape: tuple[int, ...], cost: int) -> Callable[..., None]:
    """Inference mode: log sum_k exp(log p(z = k) + costs it influences), element by element."""
    zeros = onp.zeros((1, 1) + shape)

    def final(run):
        if name in run.fixed:
            return
        terms = run.enum[name]
        L, lse = nodes.marginal_parts(zeros, [getval(t) for t in terms], len(shape))
        run.costs[cost] = nodes.marginal(len(shape), L, lse, *terms)
        run.enum[name] = L          # for the latent's conditional distribution (`conditional`)
    return final


def conditional(name: str, shape: tuple[int, ...], marginal: bool) -> Callable[..., onp.ndarray]:
    """The exact conditional probabilities of an enumerated latent, (particles, k, elements...)."""
    def probs(run):
        if marginal:
            L = onp.asarray(getval(run.enum[name]))
            L = L - L.max(axis=1, keepdims=True)
            p = onp.exp(L)
            p = p / p.sum(axis=1, keepdims=True)
        else:
            p = nodes.site_sum(onp.asarray(getval(run.enum[name]), dtype=float), len(shape))
        return onp.broadcast_to(p, (run.K,) + p.shape[1:2] + shape)
    return probs
