"""The other one-node pieces of a step: the mean-field guide's draw of its latents, an enumerated
latent summed out, the loss with its score terms, and column slices; each an autograd primitive
with a hand-written gradient, checked in tests/test_fused.py. The log-densities are in `fused`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp
from autograd.extend import defvjp, defvjp_argnums, primitive

from .fused import HALF_LOG_2PI, unbroadcast, sum_rest
from .special import plain_logsumexp as logsumexp

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from autograd.tracer import Box


# -- the mean-field guide's draw of every pathwise latent at once -------------------------------

@primitive
def meanfield(theta: onp.ndarray | Box, eps: onp.ndarray, layout: tuple) -> onp.ndarray | Box:
    """Every mean-field latent with a real or positive support, drawn at once from the flat
    parameter vector (P,) or one copy of it per particle (K, P): (particles, D + 1), the D values then log q of all of them less the log
    prior of those whose prior has constant arguments.

    `layout` = (loc_index, rho_index, positive, priors): where each unconstrained dimension's
    location and log-scale sit in `theta` (index arrays or slices), which dimensions are
    exp-transformed (a boolean array, or None for none), and the constant
    priors as (start, stop, fused density, arguments). u = loc + exp(rho) * eps; x = exp(u) where
    positive, else u; log q(x) = sum(log N(u; loc, exp(rho))) - sum_positive(u).
    One node on the tape instead of about ten per latent (slices, exp, multiply, add, logs, sums).
    """
    loc_index, rho_index, positive, priors = layout
    K, D = eps.shape
    out = onp.empty((K, D + 1))
    x, logq = out[:, :D], out[:, D]
    rho = theta[..., rho_index]
    onp.multiply(onp.exp(rho), eps, out=x)
    x += theta[..., loc_index]                   # u = loc + exp(rho) * eps
    logq[:] = -(0.5 * (eps * eps).sum(axis=1) + D * HALF_LOG_2PI) - rho.sum(axis=-1)
    if positive is not None:
        logq -= onp.where(positive, x, 0.0).sum(axis=1)
        x[:] = onp.where(positive, onp.exp(x), x)
    for lo, hi, density, args in priors:        # constant priors: the last column is log q - log p
        logq -= sum_rest(onp.asarray(density.plain(x[:, lo:hi], *args), dtype=float))
    return out


def _meanfield_vjp(ans, theta, eps, layout):
    loc_index, rho_index, positive, priors = layout
    x = ans[:, :-1]

    def vjp(g):
        gx, glogq = g[:, :-1], g[:, -1:]
        if priors:
            gx = gx.copy()
            for lo, hi, density, args in priors:
                with onp.errstate(divide="ignore", invalid="ignore"):
                    dx = onp.asarray(density.partial(0, x[:, lo:hi], *args))
                gx[:, lo:hi] -= glogq * dx
        gu = gx if positive is None else gx * onp.where(positive, x, 1.0) - glogq * positive
        grho = gu * onp.exp(theta[..., rho_index]) * eps - glogq
        out = onp.zeros_like(theta)          # every index appears once: plain assignment
        if theta.ndim == 2:                  # a copy per particle: a gradient per particle
            out[:, loc_index], out[:, rho_index] = gu, grho
        else:
            out[loc_index], out[rho_index] = gu.sum(axis=0), grho.sum(axis=0)
        return out
    return vjp


defvjp(meanfield, _meanfield_vjp)


# -- an enumerated latent summed out: log-sum-exp over its values, one node ------------------

def site_sum(t: onp.ndarray, rank: int) -> onp.ndarray:
    """t (particles, values, extra..., `rank` element axes) summed over its extra axes."""
    extra = tuple(range(2, onp.ndim(t) - rank))
    return t.sum(axis=extra) if extra else t


def marginal_parts(base: onp.ndarray, terms: Iterable[onp.ndarray], rank: int) -> tuple[onp.ndarray, onp.ndarray]:
    """(L, lse): L = base + the `terms` (plain arrays, each summed over its extra axes,
    `site_sum`), every element's log-joint at each value of an enumerated latent (axis 1), and
    lse = log sum_k exp(L). `base` gives L its full shape."""
    L = base
    for t in terms:
        L = L + site_sum(onp.asarray(t, dtype=float), rank)
    return L, logsumexp(L, axis=1)


@primitive
def marginal(rank: int, L: onp.ndarray, lse: onp.ndarray, *terms: onp.ndarray | Box) -> onp.ndarray | Box:
    """sum_rest(lse), per particle: every element's log-likelihood with an enumerated latent
    summed out, as one node. L and lse come from `marginal_parts` on these `terms`, computed
    once by the caller (which keeps L for the latent's conditional distribution); the gradient
    in each term is each value's posterior weight exp(L - lse)."""
    return sum_rest(lse)


def _marginal_vjp(argnums, ans, args, kwargs):
    rank, L, lse, terms = args[0], args[1], args[2], args[3:]
    with onp.errstate(invalid="ignore"):
        p = onp.exp(L - onp.expand_dims(lse, 1))     # each value's posterior weight

    def vjp(g):
        d = onp.reshape(g, onp.shape(g) + (1,) * (p.ndim - onp.ndim(g))) * p
        out = []
        for i in argnums:
            t = terms[i - 3]
            shape = onp.shape(t)
            extra = onp.ndim(t) - rank - 2
            dt = unbroadcast(d, shape[:2] + shape[2 + max(extra, 0):])
            if extra > 0:
                dt = onp.broadcast_to(dt.reshape(shape[:2] + (1,) * extra + shape[2 + extra:]), shape)
            out.append(dt)
        return out
    return vjp


defvjp_argnums(marginal, _marginal_vjp)


# -- the loss: every cost term with its sign, and every score term, one node -------------------

def term(t: onp.ndarray | float) -> onp.ndarray | float:
    """A cost term's value per particle: a term given as (particles, columns) is its last column
    (the mean-field block's log q, `meanfield`, read without a slice on the tape)."""
    return t[:, -1] if onp.ndim(t) == 2 else t


def signed_total(weights: Sequence[float], terms: Sequence[onp.ndarray | float]) -> onp.ndarray | float:
    """sum(w * term) over the cost terms (each per particle, or one number for all; see `term`),
    in NumPy."""
    total = weights[0] * term(terms[0])
    for w, t in zip(weights[1:], terms[1:]):
        total = total + w * term(t)
    return total


@primitive
def objective(weights: Sequence[float], coefs: Sequence[onp.ndarray], scale: float, *inputs: onp.ndarray | Box,
              total: onp.ndarray | None = None) -> float | Box:
    """scale * sum over particles of [sum_i w_i term_i + sum_s sum_rest(coef_s * score_s)]: a
    step's loss (or surrogate) as one node. `inputs` are the len(weights) cost terms (see
    `term`), then one score (log q) per coefficient array; the coefficients (C - b) carry no
    gradient. `total`, sum_i w_i term_i (`signed_total`), when the caller has it already."""
    n = len(weights)
    if total is None:
        total = signed_total(weights, inputs[:n]) if n else 0.0
    for coef, score in zip(coefs, inputs[n:]):
        total = total + sum_rest(coef * score)
    return scale * onp.sum(total)


def _objective_vjp(argnums, ans, args, kwargs):
    weights, coefs, scale, inputs = args[0], args[1], args[2], args[3:]
    n = len(weights)
    leads = [onp.broadcast_shapes(onp.shape(c), onp.shape(s))[:1] for c, s in zip(coefs, inputs[n:])]
    shape = onp.broadcast_shapes(*(onp.shape(term(t)) for t in inputs[:n]), *leads)    # the summed total's

    def vjp(g):
        out = []
        for i in argnums:
            j = i - 3
            if j < n and onp.ndim(inputs[j]) == 2:        # a last column
                d = onp.zeros(onp.shape(inputs[j]))
                d[:, -1] = unbroadcast(onp.full(shape, g * scale * weights[j]), d.shape[:1])
                out.append(d)
            elif j < n:
                out.append(unbroadcast(onp.full(shape, g * scale * weights[j]), onp.shape(inputs[j])))
            else:
                coef, score = coefs[j - n], inputs[j]
                per = unbroadcast(onp.full(shape, g * scale), leads[j - n])    # per particle
                rank = max(onp.ndim(coef), onp.ndim(score))
                d = per.reshape(per.shape + (1,) * (rank - 1)) * coef
                out.append(unbroadcast(onp.broadcast_to(d, onp.broadcast_shapes(onp.shape(d), onp.shape(score))),
                                        onp.shape(score)))
        return out
    return vjp


defvjp_argnums(objective, _objective_vjp)


# -- columns of a (particles, columns) array: a slice whose gradient is an assignment ------------

@primitive
def columns(a: onp.ndarray | Box, lo: int, hi: int | None, shape: tuple[int, ...] | None = None) -> onp.ndarray | Box:
    """a[:, lo:hi] (hi None: the single column a[:, lo]), reshaped to `shape` if given, with a
    gradient written in place of autograd's scatter-add (`np.add.at`), several times slower for
    a plain slice."""
    out = a[:, lo] if hi is None else a[:, lo:hi]
    return out if shape is None else out.reshape(shape)


def _columns_vjp(ans, a, lo, hi, shape=None):
    def vjp(g):
        out = onp.zeros(onp.shape(a))
        out[:, lo if hi is None else slice(lo, hi)] = g if shape is None else g.reshape(len(g), -1)
        return out
    return vjp


defvjp(columns, _columns_vjp)
