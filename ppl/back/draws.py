"""How a latent is drawn from its guide in inference: one small strategy each.

A strategy is `draw(run, prior) -> (x, log q, log q per element or None)`:

- `discrete`: a free member of the prior's own family (Bernoulli and Categorical logits, ...);
- `normal`: the mean-field Normal in the unconstrained space, mapped onto the prior's support;
- `joint`: this latent's block of the full-rank guide's joint draw (`fullrank.joint_op`), the
  joint log-density going with the first block;
- `block`: this latent's columns of the mean-field block (`nodes.meanfield`, drawn once for all
  its members by `meanfield_op`), the block's log q going with the first; an optimization of
  `normal` that the build applies (`build(fast=True)`), the same numbers up to rounding.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from ..distributions.constraints import real
from ..kernels import fused, nodes
from ..kernels.special import sum_rest

if TYPE_CHECKING:
    from ..distributions import Distribution

Draw = Callable[[object, object], tuple]


def discrete(cls: type[Distribution], shape: tuple, free: str, fixed: tuple, per_element: bool,
             param: Callable) -> Draw:
    """A draw from a member of `cls` whose argument `free` is learned (the `fixed` ones are the
    prior's); log q per element when the site's score is kept per element."""
    arg = free.split(".", 1)[1]

    def draw(run, prior):
        q = cls(**{**{k: prior.args[k] for k in fixed}, arg: param(run, free)})
        x = q.sample(run.rng, (run.K,) + shape)
        if per_element:
            logq = _broadcast(q.log_prob_elements(x), (run.K,) + shape)
            return x, logq, getval(logq)
        return x, q.log_prob_sum(x), None
    return draw


def normal(name: str, score: bool, per_element: bool, logq_elements: bool, stl: bool, param: Callable) -> Draw:
    """u = loc + scale * eps in the unconstrained space, x its image on the prior's support. For
    a score site the draw carries no gradient (only log q's parameters do); with `stl` log q's
    parameters are constants."""
    loc_name, scale_name = f"{name}.loc", f"{name}.scale"

    def draw(run, prior):
        loc, scale = param(run, loc_name), param(run, scale_name)
        eps = run.rng.standard_normal((run.K,) + onp.shape(loc)[1:])
        support = prior.support
        if score:
            u = getval(loc) + getval(scale) * eps
            x = support.to_constrained(u)
            jacobian = 0.0 if support is real else support.log_abs_det_jacobian(u)     # no gradient
            if per_element or logq_elements:
                logq = fused.normal.pointwise(u, loc, scale)
                logq = logq if support is real else logq - jacobian
                return x, (logq if per_element else sum_rest(logq)), getval(logq)
            logq = fused.normal(u, loc, scale)          # one node
            return x, (logq if support is real else logq - sum_rest(jacobian)), None
        u = loc + scale * eps
        x = support.to_constrained(u)
        if stl:          # sticking the landing
            logq = fused.normal(u, getval(loc), getval(scale))
        else:
            # log Normal(u; loc, scale) with u - loc = scale * eps: the same function of
            # (loc, scale, eps), hence the same pathwise gradient, in fewer operations
            logq = -fused.sum_rest(0.5 * eps * eps + fused.HALF_LOG_2PI) - sum_rest(np.log(scale))
        return x, jacobian_corrected(logq, support, u), None
    return draw


def joint(shape: tuple, columns: tuple) -> Draw:
    """The latent's `columns` (start, stop) of the full-rank guide's joint draw."""
    lo, hi = columns

    def draw(run, prior):
        support = prior.support
        u = np.reshape(run.joint[:, lo:hi], (run.K,) + support.unconstrained_shape(shape))
        logq = run.joint_logq if lo == 0 else onp.zeros(1)
        return support.to_constrained(u), jacobian_corrected(logq, support, u), None
    return draw


def block(shape: tuple, columns: tuple, unblocked: Draw) -> Draw:
    """The latent's `columns` of the mean-field block; its log q is carried by the first
    member's (None here). Where the block was not drawn (gradients by parameter name, or a
    replay checking each statement), the latent draws on its own, by `unblocked`."""
    lo, hi = columns
    scalar = shape == ()

    def draw(run, prior):
        if run.mf is None:
            return unblocked(run, prior)
        x = nodes.columns(run.mf, lo, None if scalar else hi, None if len(shape) < 2 else (run.K,) + shape)
        return x, run.mf if lo == 0 else None, None      # the block: its last column (`nodes.term`)
    return draw


def jacobian_corrected(logq, support, u):
    """log q of the constrained value: the unconstrained density less log |d x / d u|."""
    return logq if support is real else logq - sum_rest(support.log_abs_det_jacobian(u))


def _broadcast(x, shape):
    return x + np.zeros(shape) if onp.shape(x) != shape else x
