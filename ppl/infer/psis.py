"""Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao and Gabry 2024).

After a variational fit, draws z ~ q have importance weights w = p(x, z) / q(z). The largest
weights are replaced by the expected order statistics of a generalized Pareto distribution fitted
to them, and that distribution's shape k-hat says how far q is from the posterior (Yao, Vehtari,
Simpson and Gelman 2018): below 0.5 the guide is close and importance-weighted estimates are
reliable; up to 0.7 they are usable; above 0.7 the guide misses a large part of the posterior
(correlations it cannot represent, heavier tails, a mode it did not find), and neither its own
summaries nor the reweighted ones can be trusted.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> z = rng.standard_normal(4000)                       # q = Normal(0, 1), p = Normal(0, 0.9)
>>> log_w = -0.5 * (z / 0.9) ** 2 + 0.5 * z ** 2
>>> smoothed, k = psis(log_w)
>>> bool(k < 0.5), round(float(np.sum(np.exp(smoothed))), 6)
(True, 1.0)
"""
from __future__ import annotations

import numpy as onp

from ..kernels.special import plain_logsumexp as logsumexp

GOOD, USABLE = 0.5, 0.7       # k-hat thresholds: reliable below GOOD, unreliable above USABLE


def psis(log_weights: onp.ndarray) -> tuple[onp.ndarray, float]:
    """(normalized smoothed log weights, k-hat) for one vector of log importance weights.
    k-hat is inf when the tail is too short to fit, or when a weight is not finite (a draw with
    log p = +inf) ; draws with log weight -inf (impossible under p) keep weight 0."""
    lw = onp.array(log_weights, dtype=float)
    n = len(lw)
    if n == 0 or onp.isnan(lw).any() or (lw == onp.inf).any() or not onp.isfinite(lw).any():
        return onp.full(n, onp.nan), float("inf")
    lw -= lw.max()
    tail_len = int(onp.ceil(min(0.2 * n, 3 * onp.sqrt(n))))
    order = onp.argsort(lw)
    cutoff = max(lw[order[-tail_len - 1]], onp.log(onp.finfo(float).tiny)) if n > tail_len else -onp.inf
    tail = order[lw[order] > cutoff]
    k = float("inf")
    if len(tail) > 4:
        excess = onp.exp(lw[tail]) - onp.exp(cutoff)
        k, sigma = gpd_fit(excess)
        if onp.isfinite(k):
            probs = (onp.arange(len(tail)) + 0.5) / len(tail)
            lw[tail] = onp.log(gpd_quantile(probs, k, sigma) + onp.exp(cutoff))
            lw = onp.minimum(lw, 0.0)        # no smoothed weight above the largest raw one
    return lw - logsumexp(lw), k


def gpd_fit(x: onp.ndarray) -> tuple[float, float]:
    """(shape k, scale sigma) of a generalized Pareto distribution for the sorted positive
    sample `x`: Zhang and Stephens' (2009) empirical Bayes estimate, with the weakly informative
    prior on k of Vehtari et al. (2024), which pulls k towards 0.5 by 10 pseudo-observations."""
    n = len(x)
    m = 30 + int(onp.sqrt(n))
    b = 1 - onp.sqrt(m / (onp.arange(1, m + 1) - 0.5))
    b = b / (3 * x[int(n / 4 + 0.5) - 1]) + 1 / x[-1]
    k = onp.log1p(-b[:, None] * x).mean(axis=1)
    profile = n * (onp.log(-b / k) - k - 1)
    weights = 1 / onp.exp(profile - profile[:, None]).sum(axis=1)
    keep = weights >= 10 * onp.finfo(float).eps
    weights, b = weights[keep] / weights[keep].sum(), b[keep]
    b_post = onp.sum(b * weights)
    k_post = onp.log1p(-b_post * x).mean()
    sigma = -k_post / b_post
    return float((n * k_post + 10 * 0.5) / (n + 10)), float(sigma)


def gpd_quantile(p: onp.ndarray, k: float, sigma: float) -> onp.ndarray:
    """The quantiles `p` (in (0, 1)) of a generalized Pareto distribution (location 0)."""
    if abs(k) < onp.finfo(float).eps:
        return -sigma * onp.log1p(-p)
    return sigma * onp.expm1(-k * onp.log1p(-p)) / k


def weighted_moments(draws: onp.ndarray, log_w: onp.ndarray) -> tuple[onp.ndarray, onp.ndarray]:
    """(mean, sd) over the first axis of `draws` under normalized log weights `log_w`."""
    w = onp.exp(log_w).reshape((-1,) + (1,) * (onp.ndim(draws) - 1))
    x = onp.asarray(draws, dtype=float)
    mean = onp.sum(w * x, axis=0)
    var = onp.sum(w * (x - mean) ** 2, axis=0) / max(1e-300, 1 - onp.sum(onp.exp(2 * log_w)))
    return mean, onp.sqrt(var)


def verdict(k: float) -> str:
    """"good", "ok" or "bad" for a k-hat."""
    return "good" if k < GOOD else "ok" if k <= USABLE else "bad"
