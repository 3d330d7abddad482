"""Leave-one-out cross-validation by Pareto-smoothed importance sampling (PSIS-LOO; Vehtari,
Gelman and Gabry 2017), from draws of a fitted guide.

For each observation i, the draws s are reweighted from the fitted distribution to the posterior
without y_i: r_is = w_s / p(y_i | z_s), where w_s = p(x, z_s) / q(z_s) takes the guide's draws to the
posterior (Magnusson, Andersen, Jonasson and Vehtari 2019; the `loo` package's
`loo_approximate_posterior`). The ratios are smoothed (`psis`), and
elpd_i = log sum_s r~_is p(y_i | z_s) with r~ normalized. k-hat of each observation's ratios says
whether its estimate can be trusted: above 0.7 it cannot (the observation is influential, or the
guide is far from the posterior).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> mu = rng.normal(0.5, 1 / np.sqrt(21), 2000)          # the posterior of y ~ Normal(mu, 1), mu ~ Normal(0, 1)
>>> y = rng.normal(0.5, 1, 20)
>>> ll = -0.5 * (y[None] - mu[:, None]) ** 2 - 0.5 * np.log(2 * np.pi)
>>> result = loo({"y": ll})
>>> result["n"], bool(result["pareto_k"]["bad"] == 0), bool(0.5 < result["p_loo"] < 1.5)
(20, True, True)
"""
from __future__ import annotations

import numpy as onp

from .psis import GOOD, USABLE, psis


def loo(log_likelihood: dict, log_weights: onp.ndarray | None = None) -> dict:
    """PSIS-LOO of pointwise log-likelihoods ({name: (draws, *elements)}), the draws weighted by
    `log_weights` (log p(x, z) - log q(z) per draw; None for draws of the posterior itself).

    {"elpd_loo", "se", "p_loo", "lppd", "n", "draws", "weighted", "observations": {name: shape},
    "pareto_k": {"max", "ok", "bad"} (counts above 0.5 and 0.7), "pointwise": {"elpd_loo": [...],
    "pareto_k": [...]}} in the observations' order, row-major."""
    ll = onp.concatenate([onp.reshape(v, (len(v), -1)) for v in log_likelihood.values()], axis=1)
    draws, n = ll.shape
    log_w = onp.zeros(draws) if log_weights is None else onp.asarray(log_weights, dtype=float)
    posterior, _ = psis(log_w) if log_weights is not None else (onp.full(draws, -onp.log(draws)), 0.0)
    elpd, khat, lppd = onp.empty(n), onp.empty(n), onp.empty(n)
    for i in range(n):
        smoothed, khat[i] = psis(log_w - ll[:, i])
        elpd[i] = _logsumexp(smoothed + ll[:, i])
        lppd[i] = _logsumexp(posterior + ll[:, i])
    finite = onp.where(onp.isfinite(khat), khat, onp.inf)
    return {"elpd_loo": float(elpd.sum()), "se": float(onp.sqrt(n * onp.var(elpd))) if n > 1 else 0.0,
            "p_loo": float(lppd.sum() - elpd.sum()), "lppd": float(lppd.sum()), "n": int(n), "draws": int(draws),
            "weighted": log_weights is not None,
            "observations": {k: list(onp.shape(v)[1:]) for k, v in log_likelihood.items()},
            "pareto_k": {"max": float(finite.max()) if onp.isfinite(finite.max()) else None,
                         "ok": int(onp.sum(finite > GOOD)), "bad": int(onp.sum(finite > USABLE))},
            "pointwise": {"elpd_loo": elpd.tolist(), "pareto_k": [float(k) if onp.isfinite(k) else None
                                                                  for k in khat]}}


def _logsumexp(x):
    top = onp.max(x)
    if not onp.isfinite(top):
        return float(top)
    return float(top + onp.log(onp.sum(onp.exp(x - top))))
