"""The bundled time-series, HMM, change-point, flat-prior and censored models against reference
posteriors: exact ones where the model allows (conjugacy, a grid), else a long random-walk
Metropolis run computed here, in NumPy, from the same densities written independently.

Each default fit must be right (means within 0.25 posterior sd of the reference, sds within 35%)
or say that it is not (a warning that the guide is off).
"""
import json
import math

import numpy as onp
import pytest
from scipy import special, stats

import ppl
from conftest import ROOT

MODELS = ROOT / "models"


def load(name):
    data = json.loads((MODELS / f"{name}.data.json").read_text())
    return data, ppl.load(MODELS / f"{name}.ppl").fit(data, seed=0)


def mean_sd(fit, name):
    s = fit.latents[name]
    return onp.asarray(s["mean"], dtype=float), onp.asarray(s["sd"], dtype=float)


def right_or_warned(fit, reference, mean_tol=0.25, sd_tol=0.35):
    """{name: (mean, sd)} (arrays allowed) within tolerance, or a warning that the guide is off."""
    wrong = []
    for name, (m, s) in reference.items():
        fm, fs = mean_sd(fit, name)
        if onp.any(onp.abs(fm - m) > mean_tol * onp.asarray(s)) or onp.any(onp.abs(fs / s - 1) > sd_tol):
            wrong.append((name, fm, m, fs, s))
    warned = any("guide" in w for w in fit.warnings)
    assert not wrong or warned, wrong
    return wrong


def weighted(grid_logp, *values):
    """(mean, sd) of each value under the normalised grid weights."""
    w = onp.exp(grid_logp - grid_logp.max())
    w /= w.sum()
    return [(float((w * v).sum()), float(math.sqrt(max((w * v * v).sum() - (w * v).sum() ** 2, 0)))) for v in values]


def metropolis(logp, start, scale, rng, chains=32, steps=2000):
    """Random-walk Metropolis on R^d, `chains` chains at once (logp takes (chains, d) and returns
    (chains,)); the second half of every chain, pooled."""
    x = onp.repeat(onp.asarray(start, dtype=float)[None], chains, axis=0)
    x += rng.normal(size=x.shape) * scale
    lp, kept = logp(x), []
    for i in range(steps):
        y = x + rng.normal(size=x.shape) * scale * 2.38 / math.sqrt(x.shape[1])
        ly = logp(y)
        accept = onp.log(rng.random(chains)) < ly - lp
        x[accept], lp[accept] = y[accept], ly[accept]
        if i >= steps // 2:
            kept.append(x.copy())
    return onp.concatenate(kept)


# -- exact references -------------------------------------------------------------------------

def test_flat_regression_matches_the_exact_posterior():
    """Flat priors on alpha, beta and sigma > 0: beta | y is Student-t around least squares with
    n - 3 degrees of freedom, and sigma | y has density proportional to sigma^-(n - 2) exp(-RSS / 2 sigma^2)."""
    data, fit = load("flat_regression")
    x, y = onp.array(data["x"]), onp.array(data["y"])
    X = onp.c_[onp.ones_like(x), x]
    coef, rss = onp.linalg.lstsq(X, y, rcond=None)[0], None
    rss = float(((y - X @ coef) ** 2).sum())
    n, p = len(y), 2
    nu = n - 1 - p
    cov = nu / (nu - 2) * rss / nu * onp.linalg.inv(X.T @ X)
    sigma = onp.linspace(0.3, 2.5, 20001)
    reference = {"alpha": (coef[0], math.sqrt(cov[0, 0])), "beta": (coef[1], math.sqrt(cov[1, 1])),
                 "sigma": weighted(-(n - p) * onp.log(sigma) - rss / (2 * sigma**2), sigma)[0]}
    assert not right_or_warned(fit, reference, mean_tol=0.1, sd_tol=0.15)


def test_censored_matches_a_grid_posterior():
    data, fit = load("censored")
    y, k, U = onp.array(data["y_obs"]), data["N_cens"], data["U"]
    mu, sigma = onp.linspace(1, 5, 801)[:, None], onp.linspace(0.5, 4, 801)[None]
    logp = (stats.norm.logpdf(mu, 0, 10) + stats.halfnorm.logpdf(sigma, 0, 5)
            + stats.norm.logpdf(y[:, None, None], mu, sigma).sum(0) + k * stats.norm.logsf(U, mu, sigma))
    (m_mu, s_mu), (m_s, s_s) = weighted(logp, mu + 0 * sigma, sigma + 0 * mu)
    right_or_warned(fit, {"mu": (m_mu, s_mu), "sigma": (m_s, s_s)})
    assert abs(mean_sd(fit, "mu")[0] - m_mu) < 0.25 * s_mu      # the location is right either way


def test_changepoint_matches_the_exact_posterior():
    """Exponential(1) rates are conjugate to the Poisson counts, so p(s | y) is exact:
    prop. to Gamma(S1 + 1) / (n1 + 1)^(S1 + 1) * Gamma(S2 + 1) / (n2 + 1)^(S2 + 1), with S1, n1 the
    sum and count of y[t] for t < s, and each rate's posterior a Gamma mixture over s."""
    data, fit = load("changepoint")
    y = onp.array(data["y"], dtype=float)
    s = onp.arange(len(y))
    S1 = onp.concatenate([[0], onp.cumsum(y)[:-1]])
    n1, S2, n2 = s.astype(float), y.sum() - S1, len(y) - s
    logw = (special.gammaln(S1 + 1) - (S1 + 1) * onp.log(n1 + 1) + special.gammaln(S2 + 1) - (S2 + 1) * onp.log(n2 + 1))
    w = onp.exp(logw - logw.max())
    w /= w.sum()

    def mixture(a, b):          # Gamma(a, b) components weighted by w
        m = (w * a / b).sum()
        return m, math.sqrt((w * (a / b**2 + (a / b) ** 2)).sum() - m**2)

    ms = (w * s).sum()
    reference = {"s": (ms, math.sqrt((w * s * s).sum() - ms**2)), "early": mixture(S1 + 1, n1 + 1),
                 "late": mixture(S2 + 1, n2 + 1)}
    assert fit.estimators["s"] == "enumerate"
    assert not right_or_warned(fit, reference, mean_tol=0.15, sd_tol=0.2)


def test_ar2_matches_the_exact_posterior():
    """Given sigma, (alpha, beta) has a Gaussian posterior and the marginal likelihood of sigma is
    Gaussian too: a grid over sigma gives every moment exactly."""
    data, fit = load("ar2")
    y = onp.array(data["y"])
    X = onp.c_[onp.ones(len(y) - 2), y[1:-1], y[:-2]]
    target = y[2:]
    n, prior_var = len(target), onp.array([100.0, 1.0, 1.0])
    A, b, yy = X.T @ X, X.T @ target, target @ target
    sigmas = onp.linspace(0.3, 0.8, 1001)
    logp, means, variances = [], [], []
    for sg in sigmas:                 # log N(y; 0, sg^2 I + X P X') through the 3 x 3 precision
        precision = A / sg**2 + onp.diag(1 / prior_var)
        cov = onp.linalg.inv(precision)
        m = cov @ b / sg**2
        log_evidence = (-0.5 * n * onp.log(2 * math.pi * sg**2) - 0.5 * onp.log(prior_var).sum()
                        - 0.5 * onp.linalg.slogdet(precision)[1] - 0.5 * (yy / sg**2 - m @ precision @ m))
        logp.append(log_evidence + stats.halfnorm.logpdf(sg, 0, 2))
        means.append(m)
        variances.append(onp.diag(cov))
    logp, means, variances = onp.array(logp), onp.array(means), onp.array(variances)
    w = onp.exp(logp - logp.max())
    w /= w.sum()
    m = w @ means
    sd = onp.sqrt(w @ (variances + means**2) - m**2)
    ms = w @ sigmas
    reference = {"alpha": (m[0], sd[0]), "beta": (m[1:], sd[1:]), "sigma": (ms, math.sqrt(w @ sigmas**2 - ms**2))}
    assert not right_or_warned(fit, reference, mean_tol=0.2, sd_tol=0.3)


# -- references by Metropolis -------------------------------------------------------------------

def garch_logp(data):
    """log p(mu, log alpha0, logit alpha1, logit(beta1 / (1 - alpha1)) | r), Jacobians included."""
    r, s1 = onp.array(data["r"]), data["sigma1"]

    def logp(u):
        mu, a0 = u[:, 0], onp.exp(u[:, 1])
        a1 = special.expit(u[:, 2])
        b1 = (1 - a1) * special.expit(u[:, 3])
        jac = u[:, 1] + onp.log(a1 * (1 - a1)) + onp.log(1 - a1) + onp.log(special.expit(u[:, 3]) * special.expit(-u[:, 3]))
        sig, total = onp.full(len(u), s1), stats.norm.logpdf(r[0], mu, s1)
        for t in range(1, len(r)):
            sig = onp.sqrt(a0 + a1 * (r[t - 1] - mu) ** 2 + b1 * sig**2)
            total = total - 0.5 * ((r[t] - mu) / sig) ** 2 - onp.log(sig)
        return total - 0.5 * (len(r) - 1) * math.log(2 * math.pi) + jac
    return logp


@pytest.mark.slow
def test_garch_matches_a_long_metropolis_run():
    data, fit = load("garch")
    mu, a0, a1, b1 = (float(mean_sd(fit, k)[0]) for k in ("mu", "alpha0", "alpha1", "beta1"))
    start = [mu, math.log(a0), special.logit(a1), special.logit(b1 / (1 - a1))]
    draws = metropolis(garch_logp(data), start, onp.array([0.07, 0.35, 0.4, 0.5]), onp.random.default_rng(0))
    a1s = special.expit(draws[:, 2])
    values = {"mu": draws[:, 0], "alpha0": onp.exp(draws[:, 1]), "alpha1": a1s,
              "beta1": (1 - a1s) * special.expit(draws[:, 3])}
    reference = {k: (float(v.mean()), float(v.std())) for k, v in values.items()}
    right_or_warned(fit, reference)
    for k, (m, s) in reference.items():          # the means are right even where the sds are not
        assert abs(float(mean_sd(fit, k)[0]) - m) < 0.35 * s, (k, mean_sd(fit, k)[0], m, s)


def hmm_logp(data):
    """log p(theta rows (logits), log mu[0], log(mu[1] - mu[0]) | y): the forward algorithm."""
    y = onp.array(data["y"])

    def logp(u):
        t00, t11 = special.expit(u[:, 0]), special.expit(u[:, 1])
        gamma = onp.stack([onp.stack([t00, 1 - t00], -1), onp.stack([1 - t11, t11], -1)], 1)
        m0 = onp.exp(u[:, 2])
        m1 = m0 + onp.exp(u[:, 3])
        jac = (onp.log(t00 * (1 - t00)) + onp.log(t11 * (1 - t11)) + u[:, 2] + u[:, 3])
        prior = stats.norm.logpdf(m0, 3, 1) + stats.norm.logpdf(m1, 10, 1)
        emit = stats.norm.logpdf(y[None, None], onp.stack([m0, m1], 1)[:, :, None], 1)   # (chains, K, N)
        alpha, log_gamma = emit[:, :, 0], onp.log(gamma)
        for n in range(1, len(y)):    # two states: the sum over the previous one is one logaddexp
            alpha = onp.logaddexp(alpha[:, 0, None] + log_gamma[:, 0], alpha[:, 1, None] + log_gamma[:, 1]) \
                + emit[:, :, n]
        return onp.logaddexp(alpha[:, 0], alpha[:, 1]) + prior + jac
    return logp


@pytest.mark.slow
def test_hmm_matches_a_long_metropolis_run():
    data, fit = load("hmm")
    theta, mu = mean_sd(fit, "theta")[0], mean_sd(fit, "mu")[0]
    start = [special.logit(theta[0, 0]), special.logit(theta[1, 1]), math.log(mu[0]), math.log(mu[1] - mu[0])]
    draws = metropolis(hmm_logp(data), start, onp.array([0.35, 0.4, 0.04, 0.03]), onp.random.default_rng(1))
    t00, t11 = special.expit(draws[:, 0]), special.expit(draws[:, 1])
    m0 = onp.exp(draws[:, 2])
    reference = {"theta": (onp.array([[t00.mean(), 1 - t00.mean()], [1 - t11.mean(), t11.mean()]]),
                           onp.array([[t00.std(), t00.std()], [t11.std(), t11.std()]])),
                 "mu": (onp.array([m0.mean(), (m0 + onp.exp(draws[:, 3])).mean()]),
                        onp.array([m0.std(), (m0 + onp.exp(draws[:, 3])).std()]))}
    assert not right_or_warned(fit, reference)


# -- posteriordb, as the Stan programs read -------------------------------------------------------

POSTERIORDB = ROOT.parent / "shared" / "posteriordb"
FAITHFUL = ROOT / "bench" / "posteriordb"


def faithful():
    return sorted(p.stem for p in FAITHFUL.glob("*.ppl") if (POSTERIORDB / f"{p.stem}.reference.json").exists())


@pytest.mark.slow
@pytest.mark.skipif(not faithful(), reason="no posteriordb folder beside the repository")
@pytest.mark.parametrize("name", faithful())
def test_posteriordb_translations_right_or_warned(name):
    """Each posterior written as its Stan program (flat priors, ordered means, loops, log_mix):
    max z <= 0.5 or a warning; the mixture's ordered means leave no labels to swap."""
    data = FAITHFUL / f"{name}.data.json"
    fit = ppl.load(FAITHFUL / f"{name}.ppl").fit(data if data.exists() else POSTERIORDB / f"{name}.data.json")
    reference = json.loads((POSTERIORDB / f"{name}.reference.json").read_text())["params"]
    z = {}
    for key, r in reference.items():
        stem, _, index = key.partition("[")
        value = onp.asarray(fit.latents[stem]["mean"])
        z[key] = abs(float(value[tuple(int(i) for i in index.rstrip("]").split(","))] if index else value)
                     - r["mean"]) / r["sd"]
    assert max(z.values()) <= 0.5 or fit.warnings, z
    if name.startswith("low_dim_gauss_mix"):
        assert max(z.values()) <= 0.2, z
