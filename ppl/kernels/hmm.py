"""The marginal log-likelihood of a hidden Markov model (the forward algorithm), as one autograd
primitive whose gradient comes from the backward pass.

    hmm_marginal(log_omega, Gamma, rho) = log sum over state paths z of
        rho[z_0] omega[z_0, 0] prod_n Gamma[z_{n-1}, z_n] omega[z_n, n]

with log_omega[k, n] the log-density of observation n in state k (K x N, as Stan's
`hmm_marginal`), Gamma[i, j] the probability of moving from state i to j, and rho the initial
distribution. Every input carries a leading particle axis. The derivatives are the smoothed
posteriors: d/d log_omega[k, n] = p(z_n = k | y); d/d Gamma[i, j] = sum_n p(z_{n-1} = i, z_n = j | y)
/ Gamma[i, j]; d/d rho[k] = p(z_0 = k | y) / rho[k].
"""
from __future__ import annotations

import numpy as onp
from autograd.extend import defvjp, primitive

from .special import plain_logsumexp


def _forward(log_omega, log_gamma, log_rho):
    """Log forward messages alpha (P, K, N) and the log-likelihood (P,)."""
    P, K, N = log_omega.shape
    alpha = onp.empty((P, K, N))
    alpha[:, :, 0] = log_rho + log_omega[:, :, 0]
    for n in range(1, N):
        alpha[:, :, n] = plain_logsumexp(alpha[:, :, n - 1, None] + log_gamma, axis=1) + log_omega[:, :, n]
    return alpha, plain_logsumexp(alpha[:, :, -1], axis=1)


def _backward(log_omega, log_gamma):
    """Log backward messages beta (P, K, N)."""
    P, K, N = log_omega.shape
    beta = onp.zeros((P, K, N))
    for n in range(N - 2, -1, -1):
        beta[:, :, n] = plain_logsumexp(log_gamma + (log_omega[:, :, n + 1] + beta[:, :, n + 1])[:, None, :], axis=2)
    return beta


def _inputs(log_omega, gamma, rho):
    log_omega = onp.asarray(log_omega, dtype=float)
    P = max(log_omega.shape[0], onp.shape(gamma)[0], onp.shape(rho)[0])
    K = log_omega.shape[1]
    log_omega = onp.broadcast_to(log_omega, (P,) + log_omega.shape[1:])
    with onp.errstate(divide="ignore"):
        log_gamma = onp.broadcast_to(onp.log(gamma), (P, K, K))
        log_rho = onp.broadcast_to(onp.log(rho), (P, K))
    return log_omega, log_gamma, log_rho


@primitive
def hmm_marginal(log_omega: onp.ndarray, gamma: onp.ndarray, rho: onp.ndarray) -> onp.ndarray:
    """log p(y) of the hidden Markov model, one per particle (see the module docstring)."""
    return _forward(*_inputs(log_omega, gamma, rho))[1]


def _vjp(argnum):
    def make(ans, log_omega, gamma, rho):
        lo, lg, lr = _inputs(log_omega, gamma, rho)
        alpha, beta = _forward(lo, lg, lr)[0], _backward(lo, lg)
        total = ans[:, None, None]
        if argnum == 0:
            grad = onp.exp(alpha + beta - total)
        elif argnum == 1:
            pair = alpha[:, :, :-1, None] + lg[:, :, None, :] + (lo + beta)[:, None, :, 1:].transpose(0, 1, 3, 2)
            grad = onp.exp(plain_logsumexp(pair - total[..., None], axis=2)) / onp.asarray(gamma)
        else:
            grad = onp.exp(alpha[:, :, 0] + beta[:, :, 0] - ans[:, None]) / onp.asarray(rho)
        target = onp.shape(log_omega if argnum == 0 else gamma if argnum == 1 else rho)

        def vjp(g):
            out = onp.reshape(g, (-1,) + (1,) * (grad.ndim - 1)) * grad
            while out.ndim > len(target):
                out = out.sum(axis=0)
            for axis, n in enumerate(target):
                if n == 1 and out.shape[axis] != 1:
                    out = out.sum(axis=axis, keepdims=True)
            return out
        return vjp
    return make


defvjp(hmm_marginal, _vjp(0), _vjp(1), _vjp(2))
