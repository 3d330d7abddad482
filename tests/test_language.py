"""The language's flat priors, declared supports, `target +=`, `~` on defined values, loops,
truncation, distribution methods and functions, checked against exact values.

- ELBO estimates are checked particle by particle: `model.grad(trace=True)` gives the drawn values,
  from which each particle's noise is recovered, and the ELBO is recomputed by hand (our own
  bijections and scipy/autograd densities) and differentiated by autograd (to 1e-8).
- Fits are used only where the posterior is known exactly (a flat location, Gaussian likelihood),
  or to compare two programs that must give the same fit.
- Distribution methods and truncation are checked against scipy.stats through tables of cases;
  gradients by `autograd.test_util.check_grads` or central differences of the scipy reference.
- Functions are evaluated in a one-line program, `z = f(params, data)`, `minimize sum(z)`: the
  recorded `z` is compared with NumPy/SciPy and the gradient with central differences of the same
  reference along a random direction.
"""
import itertools
import math

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest
from autograd.scipy import stats as astats
from autograd.scipy.special import gammaln as agammaln
from autograd.scipy.special import logsumexp as alogsumexp
from autograd.test_util import check_grads
from scipy import special, stats

import ppl
from conftest import MODELS
from ppl.distributions import (Beta, Cauchy, Exponential, Gamma, GaussianRandomWalk, Gumbel, HalfCauchy, HalfNormal,
                                HalfStudentT, Laplace, Logistic, LogNormal, Normal, Pareto, Uniform, Weibull)
from ppl.distributions.restricted import truncated

RTOL = 1e-8
Z = 4.5          # standard errors allowed in statistical comparisons


def close(actual, expected, rtol=RTOL, atol=RTOL):
    onp.testing.assert_allclose(onp.asarray(actual, float), onp.asarray(expected, float), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# Per-particle hand computation of the ELBO
# ---------------------------------------------------------------------------------------------

def _sigmoid(u):
    return 1 / (1 + anp.exp(-u))


def _log_sigmoid(u):
    return -anp.logaddexp(0.0, -u)


class Bij:
    """A bijection from the reals onto a support: forward(u, env) -> (x, log|dx/du|), inverse(x, env) -> u.
    `env` holds the latents drawn before (a bound may depend on them)."""

    def __init__(self, forward, inverse):
        self.forward, self.inverse = forward, inverse


REAL = Bij(lambda u, env: (u, 0.0), lambda x, env: x)
POSITIVE = Bij(lambda u, env: (anp.exp(u), anp.sum(u)), lambda x, env: onp.log(x))


def interval(low, high):
    """(low, high), each a number or a function of the latents drawn before; x = low + (high - low) sigmoid(u)."""
    lo = low if callable(low) else (lambda env: low)
    hi = high if callable(high) else (lambda env: high)

    def forward(u, env):
        width = hi(env) - lo(env)
        return lo(env) + width * _sigmoid(u), anp.sum(anp.log(width) + _log_sigmoid(u) + _log_sigmoid(-u))

    def inverse(x, env):
        return special.logit((x - lo(env)) / (hi(env) - lo(env)))
    return Bij(forward, inverse)


def lower_bound(low):
    lo = low if callable(low) else (lambda env: low)
    return Bij(lambda u, env: (lo(env) + anp.exp(u), anp.sum(u)), lambda x, env: onp.log(x - lo(env)))


ORDERED = Bij(lambda u, env: (anp.cumsum(anp.concatenate([u[:1], anp.exp(u[1:])])), anp.sum(u[1:])),
              lambda x, env: onp.concatenate([x[:1], onp.log(onp.diff(x))]))
POSITIVE_ORDERED = Bij(lambda u, env: (anp.cumsum(anp.exp(u)), anp.sum(u)),
                       lambda x, env: onp.log(onp.diff(onp.concatenate([[0.0], x]))))


def _stick(u):
    """Stan's stick-breaking: K - 1 reals onto the K-simplex, x_k = rest_k sigmoid(u_k - log(K - 1 - k))."""
    k_minus_1 = len(u)
    rest, xs, ldj = 1.0, [], 0.0
    for k in range(k_minus_1):
        z = _sigmoid(u[k] - math.log(k_minus_1 - k))
        xs.append(rest * z)
        ldj = ldj + anp.log(z) + anp.log1p(-z) + anp.log(rest)
        rest = rest - rest * z
    return anp.stack(xs + [rest]), ldj


def _unstick(x):
    k_minus_1 = len(x) - 1
    rest = 1 - onp.concatenate([[0.0], onp.cumsum(x)[:-1]])
    return special.logit(x[:-1] / rest[:-1]) + onp.log(onp.arange(k_minus_1, 0, -1))


def _simplex_forward(u, env):
    if onp.ndim(u) == 1:
        return _stick(u)
    rows = [_stick(row) for row in u]
    return anp.stack([r[0] for r in rows]), sum(r[1] for r in rows)


SIMPLEX = Bij(_simplex_forward, lambda x, env: onp.stack([_unstick(r) for r in onp.atleast_2d(x)]).reshape(
    onp.shape(x)[:-1] + (onp.shape(x)[-1] - 1,)))


def hand_elbo(model, data, params, latents, log_joint, particles=3, seed=0):
    """The model's ELBO estimate and gradient at `params`, and the same recomputed by hand from
    the drawn values: each latent's noise eps = (u - loc) / scale recovered from its draw, then
    mean over particles of log p(x, z) - sum log q(z), z = T(loc + scale * eps), differentiated by
    autograd. `latents` is [(name, Bij)] in the program's order; `log_joint(env, theta)` is log p."""
    value, grads, record = model.grad(params=params, data=data, particles=particles, seed=seed, trace=True)
    theta = {k: onp.asarray(v, float) for k, v in params.items()}
    noise = []
    for p in range(particles):
        env, eps = {}, {}
        for name, bij in latents:
            x = onp.asarray(record[name])[p]
            eps[name] = (bij.inverse(x, env) - theta[name + ".loc"]) / theta[name + ".scale"]
            env[name] = x
        noise.append(eps)

    def elbo(theta):
        total = 0.0
        for eps in noise:
            env, log_q = {}, 0.0
            for name, bij in latents:
                loc, scale = theta[name + ".loc"], theta[name + ".scale"]
                u = loc + scale * eps[name]
                env[name], ldj = bij.forward(u, env)
                log_q = log_q + anp.sum(astats.norm.logpdf(u, loc, scale)) - ldj
            total = total + log_joint(env, theta) - log_q
        return total / particles

    return (value, grads, record), (elbo(theta), autograd.grad(elbo)(theta))


def assert_matches_hand(model, data, params, latents, log_joint, particles=3, seed=0):
    (value, grads, record), (v_hand, g_hand) = hand_elbo(model, data, params, latents, log_joint, particles, seed)
    close(value, v_hand)
    assert set(grads) == set(g_hand)
    for k in grads:
        close(grads[k], g_hand[k], rtol=1e-7, atol=1e-7)
    return record


def normal_lp(x, loc, scale):
    return anp.sum(astats.norm.logpdf(x, loc, scale))


# ---------------------------------------------------------------------------------------------
# 1. Flat priors and declared supports
# ---------------------------------------------------------------------------------------------

FLAT_MU = "data N: int\ndata y: real[N]\nmu: real\ny ~ Normal(mu, 1)\n"
Y4 = onp.array([1.0, 2.0, 4.0, 0.5])


def test_flat_real_latent_elbo_is_the_observations_alone():
    """With no prior, each particle's ELBO is log p(y | mu) - log q(mu): checked in closed form."""
    model = ppl.compile(FLAT_MU)
    assert "mu  ~ flat" in model.explain()
    loc, scale = 0.5, 0.3
    value, grads, record = model.grad(data={"N": 4, "y": Y4}, params={"mu.loc": loc, "mu.scale": scale},
                                      particles=3, trace=True)
    mu = record["mu"]
    eps = (mu - loc) / scale
    per = [stats.norm.logpdf(Y4, m, 1).sum() - stats.norm.logpdf(m, loc, scale) for m in mu]
    close(value, onp.mean(per))
    # d/dloc: sum(y - mu); d/dscale: sum(y - mu) eps + 1/scale (log q's own dependence on scale)
    close(grads["mu.loc"], onp.mean([onp.sum(Y4 - m) for m in mu]))
    close(grads["mu.scale"], onp.mean([onp.sum(Y4 - m) * e for m, e in zip(mu, eps)]) + 1 / scale)


def test_flat_location_fit_is_the_exact_posterior():
    """y_i ~ Normal(mu, 1), mu flat: the posterior is Normal(mean(y), 1/sqrt(n)), which the
    mean-field guide holds exactly; the ELBO at it is the log evidence."""
    fit = ppl.compile(FLAT_MU).fit(data={"N": 4, "y": Y4}, seed=0)
    n = len(Y4)
    close(fit.guide["mu.loc"], Y4.mean(), atol=1e-6)
    close(fit.guide["mu.scale"], 1 / math.sqrt(n), atol=1e-6)
    log_evidence = stats.norm.logpdf(Y4, Y4.mean(), 1).sum() + 0.5 * math.log(2 * math.pi / n)
    close(fit.objective["value"], log_evidence, atol=1e-6)


def test_flat_vector_latent_fit_is_the_exact_posterior():
    y = onp.array([[0.3, -1.0, 2.0], [1.1, 0.0, 2.4], [0.2, -0.4, 1.3]])
    src = "data N: int\ndata K: int\ndata y: real[N, K]\nbeta: real[K]\ny ~ Normal(beta, 1)\n"
    fit = ppl.compile(src).fit(data={"N": 3, "K": 3, "y": y}, seed=0)
    close(fit.guide["beta.loc"], y.mean(axis=0), atol=1e-6)
    close(fit.guide["beta.scale"], onp.full(3, 1 / math.sqrt(3)), atol=1e-6)


def test_flat_positive_latent_elbo_per_particle():
    y = onp.array([1.0, -2.0, 0.5, 0.3])
    model = ppl.compile("data y: real[4]\nsigma: real<lower=0>\ny ~ Normal(0, sigma)\n")
    assert_matches_hand(model, {"y": y}, {"sigma.loc": 0.2, "sigma.scale": 0.4}, [("sigma", POSITIVE)],
                        lambda env, th: normal_lp(y, 0.0, env["sigma"]))


def test_flat_unit_interval_latent_elbo_per_particle():
    model = ppl.compile("data n: int\ndata k: int\nalpha: real<lower=0, upper=1>\nk ~ Binomial(n, alpha)\n")

    def log_joint(env, th):
        a = env["alpha"]
        return agammaln(11.0) - agammaln(4.0) - agammaln(8.0) + 3 * anp.log(a) + 7 * anp.log1p(-a)
    assert_matches_hand(model, {"n": 10, "k": 3}, {"alpha.loc": 0.1, "alpha.scale": 0.3},
                        [("alpha", interval(0.0, 1.0))], log_joint)


def test_flat_unit_interval_is_uniform_prior():
    """A flat latent on (0, 1) and one drawn from Uniform(0, 1) are the same model: the same ELBO
    estimates, gradients and fit."""
    flat = ppl.compile("data n: int\ndata k: int\nalpha: real<lower=0, upper=1>\nk ~ Binomial(n, alpha)\n")
    unif = ppl.compile("data n: int\ndata k: int\nalpha ~ Uniform(0, 1)\nk ~ Binomial(n, alpha)\n")
    data, params = {"n": 10, "k": 3}, {"alpha.loc": 0.1, "alpha.scale": 0.3}
    (va, ga), (vb, gb) = (m.grad(data=data, params=params, particles=3) for m in (flat, unif))
    close(va, vb, atol=1e-12)
    for k in ga:
        close(ga[k], gb[k], atol=1e-12)
    fa, fb = flat.fit(data=data, seed=0), unif.fit(data=data, seed=0)
    for k in fa.guide:
        close(fa.guide[k], fb.guide[k], atol=1e-10)


def test_bounded_latent_with_prior_is_the_half_family():
    """`sigma: real<lower=0> ~ Normal(0, 1)` keeps Normal's density on (0, inf), not renormalised:
    HalfNormal(1) up to the constant log 2, so the same gradients and the same fit."""
    data = {"N": 5, "y": [0.3, -1.2, 2.0, 0.7, 1.1]}
    bounded = ppl.compile("data N: int\ndata y: real[N]\nsigma: real<lower=0> ~ Normal(0, 1)\ny ~ Normal(0, sigma)\n")
    half = ppl.compile("data N: int\ndata y: real[N]\nsigma ~ HalfNormal(1)\ny ~ Normal(0, sigma)\n")
    params = {"sigma.loc": 0.1, "sigma.scale": 0.4}
    (va, ga), (vb, gb) = (m.grad(data=data, params=params, particles=3) for m in (bounded, half))
    close(vb - va, math.log(2), atol=1e-12)
    for k in ga:
        close(ga[k], gb[k], atol=1e-12)
    fa, fb = bounded.fit(data=data, seed=0), half.fit(data=data, seed=0)
    for k in fa.guide:
        close(fa.guide[k], fb.guide[k], atol=1e-6)
    close(fb.objective["value"] - fa.objective["value"], math.log(2), atol=1e-6)


def test_bounded_latent_with_prior_elbo_per_particle():
    y = onp.array([0.3, -1.2, 2.0])
    model = ppl.compile("data y: real[3]\nsigma: real<lower=0> ~ Normal(0, 1)\ny ~ Normal(0, sigma)\n")
    assert_matches_hand(model, {"y": y}, {"sigma.loc": -0.2, "sigma.scale": 0.5}, [("sigma", POSITIVE)],
                        lambda env, th: normal_lp(env["sigma"], 0.0, 1.0) + normal_lp(y, 0.0, env["sigma"]))


def test_bound_given_by_another_latent_elbo_per_particle():
    """`b: real<lower=0, upper=1 - a>`: b's guide maps onto (0, 1 - a) for each particle's a; the
    Uniform(0, 1) density of b is kept as it is (not renormalised to the interval)."""
    model = ppl.compile("data y: real\na ~ Uniform(0, 1)\nb: real<lower=0, upper=1 - a> ~ Uniform(0, 1)\n"
                        "y ~ Normal(a + b, 0.3)\n")
    params = {"a.loc": 0.3, "a.scale": 0.5, "b.loc": -0.4, "b.scale": 0.7}
    record = assert_matches_hand(model, {"y": 0.6}, params,
                                 [("a", interval(0.0, 1.0)), ("b", interval(0.0, lambda env: 1 - env["a"]))],
                                 lambda env, th: normal_lp(0.6, env["a"] + env["b"], 0.3), particles=4)
    assert onp.all(record["b"] > 0) and onp.all(record["b"] < 1 - record["a"])


def test_bound_given_by_another_latent_holds_in_the_fit():
    model = ppl.compile("data y: real\na ~ Uniform(0, 1)\nb: real<lower=0, upper=1 - a> ~ Uniform(0, 1)\n"
                        "y ~ Normal(a + b, 0.3)\n")
    draws = model.fit(data={"y": 0.6}, seed=0).sample(500, seed=1)
    assert onp.all(draws["b"] > 0) and onp.all(draws["a"] + draws["b"] < 1)


def test_ordered_with_prior_elbo_per_particle():
    y = onp.array([-1.0, 0.2, 1.5])
    model = ppl.compile("data y: real[3]\nmu: ordered[3] ~ Normal(0, 2)\ny ~ Normal(mu, 1)\n")
    params = {"mu.loc": onp.array([-0.5, 0.1, -0.3]), "mu.scale": onp.array([0.2, 0.4, 0.3])}
    record = assert_matches_hand(model, {"y": y}, params, [("mu", ORDERED)],
                                 lambda env, th: normal_lp(env["mu"], 0.0, 2.0) + normal_lp(y, env["mu"], 1.0))
    assert onp.all(onp.diff(record["mu"], axis=-1) > 0)


def test_flat_ordered_elbo_per_particle():
    y = onp.array([1.0, 2.0, 3.0, -1.0, 0.0, 4.0])
    model = ppl.compile("data y: real[6]\nmu: ordered[2]\ny ~ Normal(mu[0], 1)\ny ~ Normal(mu[1], 1)\n")
    params = {"mu.loc": onp.array([0.5, 0.2]), "mu.scale": onp.array([0.3, 0.4])}
    assert_matches_hand(model, {"y": y}, params, [("mu", ORDERED)],
                        lambda env, th: normal_lp(y, env["mu"][0], 1.0) + normal_lp(y, env["mu"][1], 1.0))


def test_ordered_fit_draws_increase():
    model = ppl.compile("data y: real[4]\nmu: ordered[3] ~ Normal(0, 2)\ny ~ Normal(mu[0] + mu[2], 1)\n")
    fit = model.fit(data={"y": [0.5, 1.0, 0.2, 0.9]}, seed=0)
    draws = fit.sample(300, seed=1)["mu"]
    assert draws.shape == (300, 3)
    assert onp.all(onp.diff(draws, axis=-1) > 0)


def test_positive_ordered_elbo_per_particle_and_draws():
    y = onp.array([1.0, 2.0, 3.0, -1.0, 0.0, 4.0])
    model = ppl.compile("data y: real[6]\nmu: positive_ordered[2] ~ Normal(0, 5)\ny ~ Normal(mu[0] + mu[1], 1)\n")
    params = {"mu.loc": onp.array([-0.5, 0.2]), "mu.scale": onp.array([0.3, 0.4])}
    record = assert_matches_hand(model, {"y": y}, params, [("mu", POSITIVE_ORDERED)],
                                 lambda env, th: normal_lp(env["mu"], 0.0, 5.0) + normal_lp(y, anp.sum(env["mu"]), 1.0))
    assert onp.all(record["mu"] > 0) and onp.all(onp.diff(record["mu"], axis=-1) > 0)
    draws = model.fit(data={"y": y}, seed=0).sample(300, seed=1)["mu"]
    assert onp.all(draws > 0) and onp.all(onp.diff(draws, axis=-1) > 0)


def test_flat_simplex_elbo_per_particle():
    counts = onp.array([2, 3, 5])
    model = ppl.compile("data c: int[3]\ntheta: simplex[3]\nc ~ Multinomial(10, theta)\n")

    def log_joint(env, th):
        return agammaln(11.0) - onp.sum(special.gammaln(counts + 1.0)) + anp.sum(counts * anp.log(env["theta"]))
    params = {"theta.loc": onp.array([0.1, -0.2]), "theta.scale": onp.array([0.3, 0.5])}
    record = assert_matches_hand(model, {"c": counts}, params, [("theta", SIMPLEX)], log_joint)
    close(record["theta"].sum(axis=-1), 1.0, atol=1e-12)


def test_hmm_program_elbo_per_particle():
    """models/hmm.ppl at N = 5: a simplex per row of a matrix, positive_ordered means with `~` on
    their elements, and hmm_marginal, against a brute-force sum over the 2^5 state paths."""
    model = ppl.load(MODELS / "hmm.ppl")
    y = onp.array([2.5, 3.4, 9.0, 10.5, 3.1])

    def log_joint(env, th):
        mu, gamma = env["mu"], env["theta"]
        log_omega = astats.norm.logpdf(y[None, :], mu[:, None], 1.0)
        paths = []
        for z in itertools.product(range(2), repeat=len(y)):
            lp = log_omega[z[0], 0] + sum(anp.log(gamma[z[n - 1], z[n]]) + log_omega[z[n], n] for n in range(1, len(y)))
            paths.append(lp)
        return (normal_lp(mu[0], 3.0, 1.0) + normal_lp(mu[1], 10.0, 1.0) + alogsumexp(anp.stack(paths)))
    params = {"theta.loc": onp.array([[0.4], [-0.3]]), "theta.scale": onp.array([[0.2], [0.3]]),
              "mu.loc": onp.array([1.0, 1.8]), "mu.scale": onp.array([0.1, 0.2])}
    assert_matches_hand(model, {"N": 5, "K": 2, "y": y}, params, [("theta", SIMPLEX), ("mu", POSITIVE_ORDERED)],
                        log_joint, particles=2)


# ---------------------------------------------------------------------------------------------
# 2. target += and ~ on values already defined
# ---------------------------------------------------------------------------------------------

AR_DATA = {"T": 6, "y": [0.3, -0.2, 0.5, 1.1, 0.4, 0.9]}
AR_PARAMS = {"mu.loc": 0.3, "mu.scale": 0.5}
AR_HEAD = "data T: int\ndata y: real[T]\nmu ~ Normal(0, 1)\n"
AR_FORMS = {
    "slice": "y[1:T] ~ Normal(mu * y[0:T - 1], 1)\n",
    "loop": "for t in 1:T {\n  y[t] ~ Normal(mu * y[t - 1], 1)\n}\n",
    "target_loop": "for t in 1:T {\n  target += Normal(mu * y[t - 1], 1).log_prob(y[t])\n}\n",
    "target_slice": "target += Normal(mu * y[0:T - 1], 1).log_prob(y[1:T])\n",
    "target_local": "for t in 1:T {\n  m = mu * y[t - 1]\n  target += -0.5 * (y[t] - m)^2 - 0.5 * log(2 * pi)\n}\n",
}


def _same_estimates(a, b, data, params, particles=3, seed=1):
    (va, ga), (vb, gb) = (m.grad(data=data, params=params, particles=particles, seed=seed) for m in (a, b))
    close(va, vb, rtol=1e-12, atol=1e-12)
    assert set(ga) == set(gb)
    for k in ga:
        close(ga[k], gb[k], rtol=1e-12, atol=1e-12)
    return va, ga


def test_target_increment_is_the_observation():
    obs = ppl.compile(AR_HEAD + "y ~ Normal(mu, 1)\n")
    target = ppl.compile(AR_HEAD + "target += Normal(mu, 1).log_prob(y)\n")
    _same_estimates(obs, target, AR_DATA, AR_PARAMS)
    line = next(line for line in target.explain().splitlines() if line.startswith("target"))
    assert "+= Normal(mu, 1).log_prob(y)" in line and "log-density" in line and "ELBO" in line


@pytest.mark.parametrize("form", sorted(AR_FORMS))
def test_lagged_forms_agree_and_match_the_hand_elbo(form):
    """Every way of writing y[t] ~ Normal(mu y[t-1], 1), t = 1..T-1, gives the same estimates,
    which match a hand computation."""
    model = ppl.compile(AR_HEAD + AR_FORMS[form])
    y = onp.asarray(AR_DATA["y"])
    assert_matches_hand(model, AR_DATA, AR_PARAMS, [("mu", REAL)],
                        lambda env, th: normal_lp(env["mu"], 0.0, 1.0) + normal_lp(y[1:], env["mu"] * y[:-1], 1.0))
    if form != "slice":
        _same_estimates(model, ppl.compile(AR_HEAD + AR_FORMS["slice"]), AR_DATA, AR_PARAMS)


def test_tilde_on_a_slice_is_explained_as_a_log_density():
    text = ppl.compile(AR_HEAD + AR_FORMS["slice"]).explain()
    assert "log-density of y[1:T] ~ Normal(mu * y[0:T - 1], 1)" in text


def test_tilde_on_elements_of_a_flat_latent_is_a_random_walk():
    """`x: real[T]` flat, then `x[0] ~ ...` and `x[t] ~ Normal(x[t - 1], s)` (as a slice or a loop):
    exactly `x: real[T] ~ GaussianRandomWalk(s)`."""
    tail = "data y: real[T]\ny ~ Normal(x, 1)\n"
    head = "data T: int\nparam s: positive = 0.7\n"
    walk = ppl.compile(head + "x: real[T] ~ GaussianRandomWalk(s)\n" + tail)
    data = {"T": 4, "y": [0.1, 0.5, 0.2, 1.0]}
    params = {"s": 0.7, "x.loc": onp.array([0.1, -0.2, 0.3, 0.4]), "x.scale": onp.array([0.3, 0.5, 0.2, 0.4])}
    for steps in ("x[1:T] ~ Normal(x[0:T - 1], s)\n", "for t in 1:T {\n  x[t] ~ Normal(x[t - 1], s)\n}\n"):
        pieces = ppl.compile(head + "x: real[T]\nx[0] ~ Normal(0, s)\n" + steps + tail)
        _same_estimates(pieces, walk, data, params)
    y = onp.asarray(data["y"])

    def log_joint(env, th):
        x = env["x"]
        return normal_lp(x, anp.concatenate([anp.zeros(1), x[:-1]]), th["s"]) + normal_lp(y, x, 1.0)
    assert_matches_hand(walk, data, params, [("x", REAL)], log_joint)


def test_tilde_on_a_deterministic_adds_its_density():
    a = ppl.compile("data y: real\nmu ~ Normal(0, 1)\nm = 2 * mu\nm ~ Normal(1, 1)\ny ~ Normal(mu, 1)\n")
    b = ppl.compile("data y: real\nmu ~ Normal(0, 1)\nm = 2 * mu\ntarget += Normal(1, 1).log_prob(m)\n"
                    "y ~ Normal(mu, 1)\n")
    _same_estimates(a, b, {"y": 0.4}, AR_PARAMS)
    assert_matches_hand(a, {"y": 0.4}, AR_PARAMS, [("mu", REAL)],
                        lambda env, th: (normal_lp(env["mu"], 0, 1) + normal_lp(2 * env["mu"], 1, 1)
                                         + normal_lp(0.4, env["mu"], 1)))


def test_censored_likelihood_through_log_ccdf():
    """models/censored.ppl's form: observed values plus N_cens values known only to exceed U."""
    src = ("data N: int\ndata y: real[N]\ndata U: real\ndata C: int\nparam mu: real = 0.5\nparam s: positive = 1.5\n"
           "y ~ Normal(mu, s)\ntarget += C * Normal(mu, s).log_ccdf(U)\n")
    y, U, C = onp.array([0.2, 1.4, -0.3]), 2.0, 3
    value, grads = ppl.compile(src).grad(data={"N": 3, "y": y, "U": U, "C": C}, params={"mu": 0.5, "s": 1.5})

    def ref(mu, s):
        return stats.norm.logpdf(y, mu, s).sum() + C * stats.norm.logsf(U, mu, s)
    close(value, ref(0.5, 1.5))
    h = 1e-6
    close(grads["mu"], (ref(0.5 + h, 1.5) - ref(0.5 - h, 1.5)) / (2 * h), rtol=1e-6, atol=1e-6)
    close(grads["s"], (ref(0.5, 1.5 + h) - ref(0.5, 1.5 - h)) / (2 * h), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# 3. log_prob, log_cdf, log_ccdf against scipy.stats
# ---------------------------------------------------------------------------------------------

CDF_CASES = [
    (Normal, dict(loc=0.3, scale=1.7), stats.norm(0.3, 1.7), [-30.0, -3.0, 0.1, 2.5, 30.0]),
    (HalfNormal, dict(scale=1.3), stats.halfnorm(scale=1.3), [1e-3, 0.2, 1.0, 4.0, 20.0]),
    (LogNormal, dict(loc=0.2, scale=0.8), stats.lognorm(s=0.8, scale=math.exp(0.2)), [1e-6, 0.3, 1.0, 4.0, 1e4]),
    (Exponential, dict(rate=2.5), stats.expon(scale=1 / 2.5), [1e-10, 0.1, 1.0, 5.0, 300.0]),
    (Uniform, dict(low=-1.0, high=2.0), stats.uniform(-1.0, 3.0), [-0.999, 0.0, 1.5, 1.999]),
    (Laplace, dict(loc=0.5, scale=2.0), stats.laplace(0.5, 2.0), [-50.0, -1.0, 0.4, 0.6, 3.0, 50.0]),
    (Logistic, dict(loc=-0.3, scale=0.7), stats.logistic(-0.3, 0.7), [-30.0, -1.0, 0.0, 2.0, 30.0]),
    (Gumbel, dict(loc=0.2, scale=1.5), stats.gumbel_r(0.2, 1.5), [-5.0, -1.0, 0.0, 2.0, 40.0]),
    (Cauchy, dict(loc=0.1, scale=2.0), stats.cauchy(0.1, 2.0), [-1e3, -1.0, 0.0, 2.0, 1e3]),
    (HalfCauchy, dict(scale=2.0), stats.halfcauchy(scale=2.0), [1e-6, 0.5, 2.0, 30.0, 1e3]),
    (Weibull, dict(concentration=1.7, scale=2.0), stats.weibull_min(1.7, scale=2.0), [1e-5, 0.5, 2.0, 6.0, 20.0]),
    (Gamma, dict(concentration=2.5, rate=1.5), stats.gamma(2.5, scale=1 / 1.5), [1e-4, 0.3, 1.2, 4.0, 20.0]),
    (Beta, dict(concentration1=2.0, concentration0=3.5), stats.beta(2.0, 3.5), [1e-4, 0.1, 0.5, 0.9, 0.999]),
    (Pareto, dict(scale=1.5, alpha=2.5), stats.pareto(2.5, scale=1.5), [1.6, 2.0, 5.0, 100.0]),
]
CDF_IDS = [c[0].__name__ for c in CDF_CASES]
METHODS = [("log_prob", "logpdf"), ("log_cdf", "logcdf"), ("log_ccdf", "logsf")]


@pytest.mark.parametrize("cls, args, ref, xs", CDF_CASES, ids=CDF_IDS)
def test_log_densities_and_cdfs_match_scipy(cls, args, ref, xs):
    dist, x = cls(**args), onp.array(xs)
    for ours, theirs in METHODS:
        close(getattr(dist, ours)(x), getattr(ref, theirs)(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, args, ref, xs", CDF_CASES, ids=CDF_IDS)
def test_icdf_matches_scipy_ppf(cls, args, ref, xs):
    u = onp.array([1e-6, 0.01, 0.3, 0.5, 0.9, 1 - 1e-6])
    close(cls(**args).icdf(u), ref.ppf(u), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cls, args, ref, xs", CDF_CASES, ids=CDF_IDS)
def test_cdf_gradients(cls, args, ref, xs):
    """log_cdf and log_ccdf differentiated in every parameter and in x, at interior points."""
    names = sorted(args)
    # interior points, away from 0 (the numerical step is 1e-6) and from Laplace's kink at 0.5
    x = onp.array([v for v in xs if 1e-2 < onp.abs(v) < 50 and v not in (0.4, 0.6)])
    x = x[(x > args.get("low", -onp.inf)) & (x < args.get("high", onp.inf))]
    for method in ("log_cdf", "log_ccdf"):
        def f(x, *values):
            return getattr(cls(**dict(zip(names, values))), method)(x)
        check_grads(f, modes=["rev"], order=1)(x, *(float(args[k]) for k in names))


TAIL_CASES = [
    # (family, method, x, exact value by a stable closed form)
    pytest.param(Normal(loc=0.0, scale=1.0), "log_ccdf", 38.0, stats.norm.logsf(38.0), id="Normal-ccdf-38"),
    pytest.param(Normal(loc=0.0, scale=1.0), "log_cdf", -1e3, stats.norm.logcdf(-1e3), id="Normal-cdf--1000"),
    pytest.param(HalfNormal(scale=1.0), "log_ccdf", 38.0, math.log(2) + stats.norm.logsf(38.0),
                 id="HalfNormal-ccdf-38"),
    pytest.param(Exponential(rate=1.0), "log_cdf", 1e-20, math.log(-math.expm1(-1e-20)), id="Exponential-cdf-1e-20"),
    pytest.param(Logistic(loc=0.0, scale=1.0), "log_ccdf", 800.0, -800.0, id="Logistic-ccdf-800"),
    pytest.param(Laplace(loc=0.0, scale=1.0), "log_ccdf", 700.0, -700.0 - math.log(2), id="Laplace-ccdf-700"),
    pytest.param(LogNormal(loc=0.0, scale=1.0), "log_ccdf", 1e20, stats.norm.logsf(math.log(1e20)),
                 id="LogNormal-ccdf-1e20"),
    pytest.param(Weibull(concentration=2.0, scale=1.0), "log_cdf", 1e-20, math.log(-math.expm1(-1e-40)),
                 id="Weibull-cdf-1e-20"),
    pytest.param(HalfNormal(scale=1.0), "log_cdf", 1e-12, math.log(special.erf(1e-12 / math.sqrt(2))),
                 id="HalfNormal-cdf-1e-12"),
    pytest.param(Cauchy(loc=0.0, scale=1.0), "log_ccdf", 1e12, math.log(math.atan(1e-12) / math.pi),
                 id="Cauchy-ccdf-1e12"),
    pytest.param(HalfCauchy(scale=1.0), "log_ccdf", 1e20, math.log(2 * math.atan(1e-20) / math.pi),
                 id="HalfCauchy-ccdf-1e20"),
    pytest.param(Cauchy(loc=0.0, scale=1.0), "log_cdf", -1e20, math.log(math.atan(1e-20) / math.pi),
                 id="Cauchy-cdf--1e20"),
    pytest.param(Gumbel(loc=0.0, scale=1.0), "log_ccdf", 800.0, -800.0, id="Gumbel-ccdf-800"),
]


@pytest.mark.parametrize("dist, method, x, exact", TAIL_CASES)
def test_cdfs_in_the_far_tails(dist, method, x, exact):
    with onp.errstate(all="ignore"):
        value = float(getattr(dist, method)(onp.array(x)))
    assert math.isfinite(value)
    close(value, exact, rtol=1e-9, atol=0)


def test_distribution_methods_in_the_language():
    """`D(args).log_prob(x)`, `.log_cdf(x)`, `.log_ccdf(x)` in a program, with positional
    arguments in the documented order, for every family with a cdf."""
    families = [("Normal(0.3, 1.7)", stats.norm(0.3, 1.7), [0.5, 1.0, 2.0]),
                ("HalfNormal(1.3)", stats.halfnorm(scale=1.3), [0.5, 1.0, 2.0]),
                ("LogNormal(0.2, 0.8)", stats.lognorm(0.8, scale=math.exp(0.2)), [0.5, 1.0, 2.0]),
                ("Exponential(2.5)", stats.expon(scale=0.4), [0.5, 1.0, 2.0]),
                ("Uniform(-1, 3)", stats.uniform(-1, 4), [0.5, 1.0, 2.0]),
                ("Laplace(0.5, 2)", stats.laplace(0.5, 2), [0.3, 1.0, 2.0]),
                ("Logistic(-0.3, 0.7)", stats.logistic(-0.3, 0.7), [0.5, 1.0, 2.0]),
                ("Gumbel(0.2, 1.5)", stats.gumbel_r(0.2, 1.5), [0.5, 1.0, 2.0]),
                ("Cauchy(0.1, 2)", stats.cauchy(0.1, 2), [0.5, 1.0, 2.0]),
                ("HalfCauchy(2)", stats.halfcauchy(scale=2), [0.5, 1.0, 2.0]),
                ("Weibull(1.7, 2)", stats.weibull_min(1.7, scale=2), [0.5, 1.0, 2.0])]
    lines = ["data x: real[3]", "param k: real = 0"]
    for i, (dist, _, _) in enumerate(families):
        lines += [f"p{i} = {dist}.log_prob(x)", f"c{i} = {dist}.log_cdf(x)", f"s{i} = {dist}.log_ccdf(x)"]
    lines.append("minimize k^2")
    x = onp.array([0.5, 1.0, 2.0])
    _, _, record = ppl.compile("\n".join(lines) + "\n").grad(data={"x": x}, trace=True)
    for i, (dist, ref, _) in enumerate(families):
        close(record[f"p{i}"][0], ref.logpdf(x), rtol=1e-10, atol=1e-12)
        close(record[f"c{i}"][0], ref.logcdf(x), rtol=1e-10, atol=1e-12)
        close(record[f"s{i}"][0], ref.logsf(x), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 4. Truncation
# ---------------------------------------------------------------------------------------------

TRUNC_Y = onp.array([0.3, 0.9, 1.5, 0.1])
TRUNC_FORMS = {"both": ("T[0, 2]", 0.0, 2.0), "lower": ("T[0, ]", 0.0, onp.inf), "upper": ("T[, 2]", -onp.inf, 2.0)}


@pytest.mark.parametrize("form", sorted(TRUNC_FORMS))
def test_truncated_observation_is_truncnorm(form):
    text, lo, hi = TRUNC_FORMS[form]
    src = f"data N: int\ndata y: real[N]\nparam mu: real = 0.4\nparam s: positive = 0.7\ny ~ Normal(mu, s) {text}\n"
    value, grads = ppl.compile(src).grad(data={"N": 4, "y": TRUNC_Y}, params={"mu": 0.4, "s": 0.7})

    def ref(mu, s):
        return stats.truncnorm.logpdf(TRUNC_Y, (lo - mu) / s, (hi - mu) / s, mu, s).sum()
    close(value, ref(0.4, 0.7), rtol=1e-10)
    h = 1e-6
    close(grads["mu"], (ref(0.4 + h, 0.7) - ref(0.4 - h, 0.7)) / (2 * h), rtol=1e-6, atol=1e-6)
    close(grads["s"], (ref(0.4, 0.7 + h) - ref(0.4, 0.7 - h)) / (2 * h), rtol=1e-6, atol=1e-6)


def test_truncated_latents_elbo_per_particle():
    """A truncated latent (renormalised, unlike a declared bound) and one truncated at another latent."""
    model = ppl.compile("data y: real\nz ~ Normal(1, 2) T[0, 3]\nw ~ Normal(0, 1) T[z, ]\ny ~ Normal(z + w, 1)\n")

    def log_joint(env, th):
        z, w = env["z"], env["w"]
        lz = normal_lp(z, 1.0, 2.0) - anp.log(astats.norm.cdf(3.0, 1.0, 2.0) - astats.norm.cdf(0.0, 1.0, 2.0))
        lw = normal_lp(w, 0.0, 1.0) - anp.log(1 - astats.norm.cdf(z))
        return lz + lw + normal_lp(1.5, z + w, 1.0)
    params = {"z.loc": 0.2, "z.scale": 0.5, "w.loc": 0.1, "w.scale": 0.3}
    record = assert_matches_hand(model, {"y": 1.5}, params,
                                 [("z", interval(0.0, 3.0)), ("w", lower_bound(lambda env: env["z"]))], log_joint)
    assert onp.all((record["z"] > 0) & (record["z"] < 3)) and onp.all(record["w"] > record["z"])


def test_truncated_latent_prior_predictive_in_bounds():
    draws = ppl.compile("z ~ Normal(1, 2) T[0, 3]\nw ~ Normal(0, 1) T[z, ]\n").sample(2000, seed=0)
    assert onp.all((draws["z"] >= 0) & (draws["z"] <= 3)) and onp.all(draws["w"] >= draws["z"])
    se = stats.truncnorm.std(-0.5, 1, 1, 2) / math.sqrt(2000)
    assert abs(draws["z"].mean() - stats.truncnorm.mean(-0.5, 1, 1, 2)) < Z * se


def test_explain_shows_truncation():
    head = "data y: real\nparam mu: real\nparam s: positive\n"
    upper = ppl.compile(head + "y ~ Normal(mu, s) T[, 2]\n").explain()
    lower = ppl.compile(head + "y ~ Normal(mu, s) T[2, ]\n").explain()
    assert upper != lower
    assert "T[" in upper and "T[" in lower


def test_explain_shows_truncated_latent_is_mapped_to_its_support():
    text = ppl.compile("data y: real\nz ~ Normal(1, 2) T[0, 3]\ny ~ Normal(z, 1)\n").explain()
    assert "to_support" in text.splitlines()[1]


TRUNC_SAMPLE_CASES = [
    pytest.param(0.5, 1.2, -0.3, 2.0, id="both"),
    pytest.param(0.5, 1.2, 3.0, None, id="lower-only"),
    pytest.param(0.5, 1.2, None, -1.0, id="upper-only"),
    pytest.param(0.0, 1.0, None, -10.0, id="far-lower-tail"),
    pytest.param(0.0, 1.0, -0.001, 0.001, id="narrow"),
    pytest.param(0.0, 1.0, 10.0, None, id="far-upper-tail"),
    pytest.param(0.0, 1.0, 8.0, 9.0, id="upper-tail-interval"),
]


@pytest.mark.parametrize("loc, scale, lower, upper", TRUNC_SAMPLE_CASES)
def test_truncated_normal_draws(loc, scale, lower, upper):
    """Draws of Normal(loc, scale) T[lower, upper] lie in the bounds and follow scipy's truncnorm."""
    bounds = {k: v for k, v in (("lower", lower), ("upper", upper)) if v is not None}
    dist = truncated(Normal, tuple(bounds))(loc=loc, scale=scale, **bounds)
    n = 4000
    x = dist.sample(onp.random.default_rng(0), (n,))
    lo, hi = bounds.get("lower", -onp.inf), bounds.get("upper", onp.inf)
    assert onp.all((x >= lo) & (x <= hi))
    a, b = (lo - loc) / scale, (hi - loc) / scale
    se = stats.truncnorm.std(a, b, loc, scale) / math.sqrt(n)
    assert abs(x.mean() - stats.truncnorm.mean(a, b, loc, scale)) < Z * se
    assert stats.kstest(x, stats.truncnorm(a, b, loc, scale).cdf).pvalue > 1e-4


TRUNC_DENSITY_CASES = [
    pytest.param(0.0, 1.0, -0.3, 2.0, [-0.2, 0.5, 1.9], id="central"),
    pytest.param(0.0, 1.0, -11.0, -10.0, [-10.9, -10.5], id="lower-tail"),
    pytest.param(0.0, 1.0, 5.0, 6.0, [5.1, 5.9], id="5-sd"),
    pytest.param(0.0, 1.0, 8.0, 9.0, [8.3, 8.9], id="upper-tail"),
    pytest.param(0.0, 1.0, 10.0, 11.0, [10.3], id="far-upper-tail"),
]


@pytest.mark.parametrize("loc, scale, lower, upper, xs", TRUNC_DENSITY_CASES)
def test_truncated_normal_density(loc, scale, lower, upper, xs):
    dist = truncated(Normal, ("lower", "upper"))(loc=loc, scale=scale, lower=lower, upper=upper)
    x = onp.array(xs)
    with onp.errstate(all="ignore"):
        ours = dist.log_prob(x)
    close(ours, stats.truncnorm.logpdf(x, (lower - loc) / scale, (upper - loc) / scale, loc, scale), rtol=1e-9)


OTHER_TRUNCATIONS = [
    (Exponential, dict(rate=1.5), stats.expon(scale=1 / 1.5), 0.5, 3.0),
    (LogNormal, dict(loc=0.0, scale=0.8), stats.lognorm(0.8), 0.5, 2.0),
    (Laplace, dict(loc=0.0, scale=1.0), stats.laplace(), -1.0, 2.5),
    (Gumbel, dict(loc=0.0, scale=1.0), stats.gumbel_r(), -0.5, 1.5),
    (Cauchy, dict(loc=0.0, scale=1.0), stats.cauchy(), -2.0, 5.0),
    (Weibull, dict(concentration=1.5, scale=1.0), stats.weibull_min(1.5), 0.2, 1.0),
]


@pytest.mark.parametrize("cls, args, ref, lower, upper", OTHER_TRUNCATIONS,
                         ids=[c[0].__name__ for c in OTHER_TRUNCATIONS])
def test_truncation_of_other_families(cls, args, ref, lower, upper):
    dist = truncated(cls, ("lower", "upper"))(**args, lower=lower, upper=upper)
    x = onp.linspace(lower, upper, 7)[1:-1]
    mass = ref.cdf(upper) - ref.cdf(lower)
    close(dist.log_prob(x), ref.logpdf(x) - math.log(mass), rtol=1e-10)
    draws = dist.sample(onp.random.default_rng(1), (3000,))
    assert onp.all((draws >= lower) & (draws <= upper))
    assert stats.kstest(draws, lambda v: (ref.cdf(v) - ref.cdf(lower)) / mass).pvalue > 1e-4


# ---------------------------------------------------------------------------------------------
# 5. Loops and element assignment
# ---------------------------------------------------------------------------------------------

def test_independent_loop_fast_path_matches_reference():
    """The AR(2) loop of models/ar2.ppl: its iterations are run at once in the fast program, one
    by one in the reference, with the same gradients; and it is the slice form exactly."""
    head = ("data T: int\ndata y: real[T]\nalpha ~ Normal(0, 10)\nbeta: real[2] ~ Normal(0, 1)\n"
            "sigma ~ HalfNormal(2)\n")
    loop = ppl.compile(head + """for t in 2:T {
  y[t] ~ Normal(alpha + beta[0] * y[t - 1] + beta[1] * y[t - 2], sigma)
}
""")
    sliced = ppl.compile(head + "y[2:T] ~ Normal(alpha + beta[0] * y[1:T - 1] + beta[1] * y[0:T - 2], sigma)\n")
    data = {"T": 8, "y": [0.1, 0.4, -0.2, 0.3, 0.8, 0.5, 0.1, -0.4]}
    params = {"alpha.loc": 0.1, "alpha.scale": 0.5, "beta.loc": onp.array([0.3, -0.1]),
              "beta.scale": onp.array([0.2, 0.3]), "sigma.loc": -0.5, "sigma.scale": 0.2}
    check = loop.check_fast_path(data=data, params=params, draws=5)
    assert check["max_rel"] < 1e-12
    _same_estimates(loop, sliced, data, params)


def _garch_sigma(r, mu, a0, a1, b1, sigma1):
    s = onp.zeros(len(r))
    s[0] = sigma1
    for t in range(1, len(r)):
        s[t] = math.sqrt(a0 + a1 * (r[t - 1] - mu) ** 2 + b1 * s[t - 1] ** 2)
    return s


GARCH_R = onp.array([0.1, -0.5, 0.3, 1.2, -0.7, 0.2, 0.05, -0.3])


def test_recurrent_loop_matches_numpy_recursion():
    """GARCH(1, 1) volatility as parameters: the loop's values are the NumPy recursion's, the
    log-likelihood its, the gradient its by central differences; fast and reference agree."""
    src = """data T: int
data r: real[T]
param mu: real = 0.1
param a0: real<lower=0> = 0.2
param a1: real<lower=0, upper=1> = 0.3
param b1: real<lower=0, upper=1> = 0.5
s = zeros(T)
s[0] = 1
for t in 1:T {
  s[t] = sqrt(a0 + a1 * (r[t - 1] - mu)^2 + b1 * s[t - 1]^2)
}
r ~ Normal(mu, s)
"""
    model = ppl.compile(src)
    data = {"T": len(GARCH_R), "r": GARCH_R}
    point = {"mu": 0.1, "a0": 0.2, "a1": 0.3, "b1": 0.5}
    value, grads, record = model.grad(data=data, params=point, trace=True)

    def loglik(p):
        return stats.norm.logpdf(GARCH_R, p["mu"], _garch_sigma(GARCH_R, p["mu"], p["a0"], p["a1"], p["b1"], 1.0)).sum()
    close(record["s"][0], _garch_sigma(GARCH_R, 0.1, 0.2, 0.3, 0.5, 1.0), rtol=1e-12)
    close(value, loglik(point), rtol=1e-12)
    h = 1e-6
    for k in point:
        up, down = dict(point), dict(point)
        up[k] += h
        down[k] -= h
        close(grads[k], (loglik(up) - loglik(down)) / (2 * h), rtol=1e-6, atol=1e-6)
    assert model.check_fast_path(data=data, params=point, draws=2)["max_rel"] < 1e-12


def test_garch_with_flat_bounded_latents_elbo_per_particle():
    """models/garch.ppl: flat priors on real, positive, (0, 1) and (0, 1 - alpha1), a recurrent loop."""
    model = ppl.load(MODELS / "garch.ppl")
    data = {"T": len(GARCH_R), "r": GARCH_R, "sigma1": 0.8}

    def log_joint(env, th):
        mu, a0, a1, b1 = env["mu"], env["alpha0"], env["alpha1"], env["beta1"]
        s = [0.8]
        for t in range(1, len(GARCH_R)):
            s.append(anp.sqrt(a0 + a1 * (GARCH_R[t - 1] - mu) ** 2 + b1 * s[-1] ** 2))
        return normal_lp(GARCH_R, mu, anp.stack(s))
    params = {"mu.loc": 0.05, "mu.scale": 0.1, "alpha0.loc": -1.0, "alpha0.scale": 0.3,
              "alpha1.loc": -0.5, "alpha1.scale": 0.4, "beta1.loc": 0.2, "beta1.scale": 0.3}
    latents = [("mu", REAL), ("alpha0", POSITIVE), ("alpha1", interval(0.0, 1.0)),
               ("beta1", interval(0.0, lambda env: 1 - env["alpha1"]))]
    record = assert_matches_hand(model, data, params, latents, log_joint, particles=2)
    for p in range(2):
        close(record["sigma"][p], _garch_sigma(GARCH_R, record["mu"][p], record["alpha0"][p], record["alpha1"][p],
                                               record["beta1"][p], 0.8), rtol=1e-12)
    assert model.check_fast_path(data=data, params=params, draws=2)["max_rel"] < 1e-12


def test_increment_inside_and_outside_a_loop():
    src = """data y: real[3]
param m: real = 0.5
x = 1
x += 2
for t in 0:3 {
  x += m * y[t]
}
minimize (x - 4)^2
"""
    value, grads, record = ppl.compile(src).grad(data={"y": [1.0, 2.0, 3.0]}, params={"m": 0.5}, trace=True)
    x = 3 + 0.5 * 6
    close(record["x"][0], x)
    close(value, (x - 4) ** 2)
    close(grads["m"], 2 * (x - 4) * 6)


NESTED_DATA = {"N": 2, "M": 3, "Y": [[0.0, 1.0, 2.5], [1.0, 1.5, 3.0]]}
NESTED_HEAD = "data N: int\ndata M: int\ndata Y: real[N, M]\nparam m: real[N] = 0.5\n"


def _nested_reference(m):
    Y = onp.asarray(NESTED_DATA["Y"])
    return Y - onp.asarray(m)[:, None] - onp.arange(3)[None, :]


def test_nested_loops_accumulate():
    src = NESTED_HEAD + """tot = 0
for i in 0:N {
  for j in 0:M {
    tot += (Y[i, j] - m[i] - j)^2
  }
}
minimize tot
"""
    m = onp.array([0.5, 0.2])
    value, grads = ppl.compile(src).grad(data=NESTED_DATA, params={"m": m})
    resid = _nested_reference(m)
    close(value, onp.sum(resid ** 2))
    close(grads["m"], -2 * resid.sum(axis=1))
    assert ppl.compile(src).check_fast_path(data=NESTED_DATA, params={"m": m}, draws=2)["max_rel"] < 1e-12


def test_nested_loop_with_an_inner_local_and_a_term():
    src = (NESTED_HEAD + "for i in 0:N {\n  acc = 0\n  for j in 0:M {\n    acc += (Y[i, j] - m[i] - j)^2\n  }\n"
           "  target += -0.5 * acc\n}\n")
    m = onp.array([0.5, 0.2])
    model = ppl.compile(src)
    value, grads = model.grad(data=NESTED_DATA, params={"m": m})
    resid = _nested_reference(m)
    close(value, -0.5 * onp.sum(resid ** 2))
    close(grads["m"], resid.sum(axis=1))
    assert model.check_fast_path(data=NESTED_DATA, params={"m": m}, draws=2)["max_rel"] < 1e-12


def test_nested_loop_assigning_rows():
    src = (NESTED_HEAD + "S = zeros(N, M)\nfor i in 0:N {\n  row = zeros(M)\n  for j in 1:M {\n"
           "    row[j] = row[j - 1] + m[i]\n  }\n  S[i] = row\n}\nY ~ Normal(S, 1)\n")
    m = onp.array([0.5, 0.2])
    value, grads, record = ppl.compile(src).grad(data=NESTED_DATA, params={"m": m}, trace=True)
    S = m[:, None] * onp.arange(3)[None, :]
    close(record["S"][0], S)
    Y = onp.asarray(NESTED_DATA["Y"])
    close(value, stats.norm.logpdf(Y, S, 1).sum())
    close(grads["m"], ((Y - S) * onp.arange(3)).sum(axis=1))
    assert ppl.compile(src).check_fast_path(data=NESTED_DATA, params={"m": m}, draws=2)["max_rel"] < 1e-12


def test_nested_loops_with_a_term_in_the_inner_loop():
    src = NESTED_HEAD + "for i in 0:N {\n  for j in 0:M {\n    Y[i, j] ~ Normal(m[i] + j, 1)\n  }\n}\n"
    m = onp.array([0.5, 0.2])
    value, grads = ppl.compile(src).grad(data=NESTED_DATA, params={"m": m})
    resid = _nested_reference(m)
    close(value, stats.norm.logpdf(resid).sum())
    close(grads["m"], resid.sum(axis=1))


def test_assignment_to_two_indices_is_refused_with_a_positioned_error():
    src = NESTED_HEAD + """S = zeros(N, M)
for i in 0:N {
  for j in 0:M {
    S[i, j] = m[i] + j
  }
}
Y ~ Normal(S, 1)
"""
    with pytest.raises(ppl.SemanticError, match="one index") as err:
        ppl.compile(src).grad(data=NESTED_DATA)
    assert ":8:5:" in str(err.value)


def test_element_assignment_outside_loops():
    src = "data T: int\ndata y: real[T]\nparam m: real = 0.5\ns = m * ones(T)\ns[0] = 1\ns[2] = m^2\ny ~ Normal(s, 1)\n"
    y = onp.array([1.0, 2.0, 3.0, 4.0])
    value, grads, record = ppl.compile(src).grad(data={"T": 4, "y": y}, params={"m": 0.5}, trace=True)
    s = onp.array([1.0, 0.5, 0.25, 0.5])
    close(record["s"][0], s)
    close(value, stats.norm.logpdf(y, s, 1).sum())
    close(grads["m"], (y[1] - s[1]) + (y[3] - s[3]) + (y[2] - s[2]) * 2 * 0.5)


def test_loop_body_local_name():
    src = """data T: int
data y: real[T]
param m: real = 0.5
for t in 1:T {
  d = y[t] - m * y[t - 1]
  target += -0.5 * d^2
}
"""
    y = onp.array([1.0, 2.0, 3.0, 4.0])
    model = ppl.compile(src)
    value, grads = model.grad(data={"T": 4, "y": y}, params={"m": 0.5})
    d = y[1:] - 0.5 * y[:-1]
    close(value, -0.5 * onp.sum(d ** 2))
    close(grads["m"], onp.sum(d * y[:-1]))
    assert model.check_fast_path(data={"T": 4, "y": y}, params={"m": 0.5}, draws=2)["max_rel"] < 1e-12


def test_loop_is_explained():
    text = ppl.compile(AR_HEAD + AR_FORMS["loop"]).explain()
    line = next(line for line in text.splitlines() if line.startswith("for t"))
    assert "target += Normal(mu * y[t - 1], 1).log_prob(y[t])" in line and "ELBO" in line


def test_loop_explained_in_the_modes_own_words():
    src = "data T: int\ndata y: real[T]\nparam m: real\nfor t in 1:T {\n  y[t] ~ Normal(m * y[t - 1], 1)\n}\n"
    model = ppl.compile(src)
    assert model.mode == "mle"
    assert "ELBO" not in model.explain() and "log-likelihood" in model.explain()


# ---------------------------------------------------------------------------------------------
# 6. Functions
# ---------------------------------------------------------------------------------------------

def _shape(value):
    shape = onp.shape(value)
    return "" if shape == () else "[" + ", ".join(map(str, shape)) + "]"


def evaluate(expr, params, data=None):
    """`z = expr` in a program whose params (initial values given as data) and data are the given
    arrays, `minimize sum(z)`: (z, gradient of sum(z) in each param)."""
    data = data or {}
    lines = [f"data {k}: real{_shape(v)}" for k, v in data.items()]
    lines += [f"data {k}_init: real{_shape(v)}" for k, v in params.items()]
    lines += [f"param {k}: real{_shape(v)} = {k}_init" for k, v in params.items()]
    lines += [f"z = {expr}", "minimize sum(z)"]
    values = {**data, **{k + "_init": onp.asarray(v, float) for k, v in params.items()}}
    _, grads, record = ppl.compile("\n".join(lines) + "\n").grad(data=values, trace=True)
    return record["z"][0], grads


def assert_function(expr, ref, params, data=None, symmetric=(), h=1e-6, gradient=True):
    """The value of `expr` is ref(**params, **data); its gradient agrees with central differences of
    sum(ref) along a random direction (symmetric for the params named in `symmetric`)."""
    data = data or {}
    z, grads = evaluate(expr, params, data)
    close(z, ref(**params, **data), rtol=1e-10, atol=1e-12)
    if not gradient:
        return
    rng = onp.random.default_rng(3)
    direction = {}
    for k, v in params.items():
        d = rng.standard_normal(onp.shape(v))
        direction[k] = (d + onp.swapaxes(d, -1, -2)) / 2 if k in symmetric else d

    def total(t):
        return onp.sum(ref(**{k: onp.asarray(v) + t * direction[k] for k, v in params.items()}, **data))
    numeric = (total(h) - total(-h)) / (2 * h)
    analytic = sum(onp.sum(onp.asarray(grads[k]) * direction[k]) for k in params)
    close(analytic, numeric, rtol=1e-6, atol=1e-6)


RNG = onp.random.default_rng(0)
VEC = onp.array([0.3, -1.2, 2.0])
MAT = onp.array([[0.13, -0.42, 0.64], [0.1, -0.54, 0.36]])
_S = RNG.standard_normal((3, 3))
SPD = _S @ _S.T + 3 * onp.eye(3)
CHOL = onp.linalg.cholesky(SPD)
A_CMP = onp.array([0.3, 1.0, 2.0])

FUNCTION_CASES = [
    ("p == a", lambda p, a: (p == a) * 1.0, dict(p=VEC), dict(a=A_CMP)),
    ("p != a", lambda p, a: (p != a) * 1.0, dict(p=VEC), dict(a=A_CMP)),
    ("p < a", lambda p, a: (p < a) * 1.0, dict(p=VEC), dict(a=A_CMP)),
    ("p <= a", lambda p, a: (p <= a) * 1.0, dict(p=VEC), dict(a=A_CMP)),
    ("p > a", lambda p, a: (p > a) * 1.0, dict(p=VEC), dict(a=A_CMP)),
    ("p >= a", lambda p, a: (p >= a) * 1.0, dict(p=VEC), dict(a=A_CMP)),
    ("p * (p > 0)", lambda p: p * (p > 0), dict(p=VEC), {}),
    ("where(p > 0, p, 2 * p)", lambda p: onp.where(p > 0, p, 2 * p), dict(p=VEC), {}),
    ("where(a, p, q)", lambda p, q, a: onp.where(a != 0, p, q), dict(p=VEC, q=-VEC),
     dict(a=onp.array([1.0, 0.0, 1.0]))),
    ("fmin(p, 1)", lambda p: onp.fmin(p, 1), dict(p=VEC), {}),
    ("fmax(p, q)", lambda p, q: onp.fmax(p, q), dict(p=VEC, q=VEC[::-1] + 0.1), {}),
    ("clip(p, -1, 1)", lambda p: onp.clip(p, -1, 1), dict(p=VEC), {}),
    ("min(P, axis=0)", lambda P: P.min(axis=0), dict(P=MAT), {}),
    ("max(P, axis=1)", lambda P: P.max(axis=1), dict(P=MAT), {}),
    ("min(P)", lambda P: P.min(), dict(P=MAT), {}),
    ("max(P)", lambda P: P.max(), dict(P=MAT), {}),
    ("sum(P, axis=0)", lambda P: P.sum(axis=0), dict(P=MAT), {}),
    ("sum(P, axis=1) * sum(P)", lambda P: P.sum(axis=1) * P.sum(), dict(P=MAT), {}),
    ("mean(P, axis=1)", lambda P: P.mean(axis=1), dict(P=MAT), {}),
    ("mean(P)", lambda P: P.mean(), dict(P=MAT), {}),
    ("logsumexp(P, axis=0)", lambda P: special.logsumexp(P, axis=0), dict(P=MAT), {}),
    ("logsumexp(P, axis=1)", lambda P: special.logsumexp(P, axis=1), dict(P=MAT), {}),
    ("logsumexp(P)", lambda P: special.logsumexp(P), dict(P=MAT), {}),
    ("cumsum(p)", lambda p: onp.cumsum(p), dict(p=VEC), {}),
    ("cumsum(P)", lambda P: onp.cumsum(P, axis=-1), dict(P=MAT), {}),
    ("cumprod(a) * p", lambda p, a: onp.cumprod(a) * p, dict(p=VEC), dict(a=A_CMP)),
    pytest.param("cumprod(p)", lambda p: onp.cumprod(p), dict(p=VEC), {}),
    ("transpose(P)", lambda P: P.T, dict(P=MAT), {}),
    ("outer(p, q)", lambda p, q: onp.outer(p, q), dict(p=VEC, q=VEC[:2]), {}),
    ("diag(p)", lambda p: onp.diag(p), dict(p=VEC), {}),
    ("diag(a) * p", lambda p, a: onp.diag(a) * p, dict(p=VEC), dict(a=SPD)),
    pytest.param("diag(P)", lambda P: onp.diag(P), dict(P=SPD), {}),
    ("eye(3) * p", lambda p: onp.eye(3) * p, dict(p=VEC), {}),
    ("cholesky(P)", lambda P: onp.linalg.cholesky(P), dict(P=SPD), {}),
    ("solve_triangular(L, p)", lambda p, L: onp.linalg.solve(L, p), dict(p=VEC), dict(L=CHOL)),
    ("solve_triangular(L, B)", lambda B, L: onp.linalg.solve(L, B), dict(B=MAT.T), dict(L=CHOL)),
    pytest.param("solve_triangular(L, b)", lambda L, b: onp.linalg.solve(onp.tril(L), b), dict(L=CHOL), dict(b=VEC)),
    ("reshape(P, 3, 2)", lambda P: P.reshape(3, 2), dict(P=MAT), {}),
    ("reshape(p, 3, 1)", lambda p: p.reshape(3, 1), dict(p=VEC), {}),
    ("reshape(P, 6)", lambda P: P.reshape(6), dict(P=MAT), {}),
    ("size(a) * p", lambda p, a: len(a) * p, dict(p=VEC), dict(a=onp.ones(4))),
    ("Phi(p)", lambda p: special.ndtr(p), dict(p=VEC), {}),
    ("log_Phi(p)", lambda p: special.log_ndtr(p), dict(p=onp.array([-40.0, -3.0, 0.5, 9.0])), {}),
    ("erf(p)", lambda p: special.erf(p), dict(p=VEC), {}),
    ("log_mix(w, p, q)", lambda w, p, q: onp.logaddexp(onp.log(w) + p, onp.log1p(-w) + q),
     dict(w=0.3, p=VEC, q=VEC[::-1]), {}),
    ("log_mix(0.3, p, q)", lambda p, q: onp.logaddexp(onp.log(0.3) + p, onp.log(0.7) + q),
     dict(p=VEC, q=VEC[::-1]), {}),
    ("gp_exp_quad_cov(x, al, rho)",
     lambda al, rho, x: al ** 2 * onp.exp(-(x[:, None] - x[None, :]) ** 2 / (2 * rho ** 2)),
     dict(al=1.3, rho=0.7), dict(x=VEC)),
    ("gp_exp_quad_cov(p, 1.3, 0.7)", lambda p: 1.69 * onp.exp(-(p[:, None] - p[None, :]) ** 2 / 0.98), dict(p=VEC), {}),
    ("gp_exp_quad_cov(X, 1.3, rho)",
     lambda rho, X: 1.69 * onp.exp(-((X[:, None, :] - X[None, :, :]) ** 2).sum(-1) / (2 * rho ** 2)),
     dict(rho=0.9), dict(X=MAT.T)),
    ("cholesky(gp_exp_quad_cov(x, 1, rho) + 0.1 * eye(3))",
     lambda rho, x: onp.linalg.cholesky(onp.exp(-(x[:, None] - x[None, :]) ** 2 / (2 * rho ** 2)) + 0.1 * onp.eye(3)),
     dict(rho=0.9), dict(x=VEC)),
]


def _case_id(case):
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("expr, ref, params, data", FUNCTION_CASES, ids=[_case_id(c) for c in FUNCTION_CASES])
def test_function(expr, ref, params, data):
    comparison = expr.startswith("p ") and not expr.startswith("p *")     # a step: no derivative to compare
    assert_function(expr, ref, params, data, symmetric=("P",) if expr.startswith("cholesky(P)") else (),
                    gradient=not comparison)


def _hmm_brute_force(log_omega, gamma, rho):
    K, N = log_omega.shape
    paths = []
    for z in itertools.product(range(K), repeat=N):
        lp = math.log(rho[z[0]]) + log_omega[z[0], 0]
        for n in range(1, N):
            lp += math.log(gamma[z[n - 1], z[n]]) + log_omega[z[n], n]
        paths.append(lp)
    return special.logsumexp(paths)


def test_hmm_marginal_against_enumerated_paths():
    rng = onp.random.default_rng(5)
    log_omega = rng.normal(-1.0, 1.0, (2, 5))
    gamma = onp.array([[0.8, 0.2], [0.35, 0.65]])
    rho = onp.array([0.6, 0.4])
    assert_function("hmm_marginal(LO, G, r)", lambda LO, G, r: _hmm_brute_force(LO, G, r),
                    dict(LO=log_omega, G=gamma, r=rho))


def test_hmm_marginal_summed_state_posteriors():
    """d/d log_omega[k, n] is p(z_n = k | y), which sums to 1 over k for every n."""
    rng = onp.random.default_rng(6)
    _, grads = evaluate("hmm_marginal(LO, G, r)", dict(LO=rng.normal(-1.0, 1.0, (2, 5))),
                        dict(G=onp.array([[0.8, 0.2], [0.35, 0.65]]), r=onp.array([0.6, 0.4])))
    close(grads["LO"].sum(axis=0), onp.ones(5), atol=1e-12)


def test_comparisons_have_no_gradient_and_give_zero_or_one():
    _, grads = evaluate("(p < a) + (p >= a) + (p == a)", dict(p=VEC), dict(a=A_CMP))
    close(grads["p"], onp.zeros(3), atol=0)


def test_comparisons_in_a_model_with_a_discrete_sum():
    """models/changepoint.ppl's rate, where(t < s, early, late), at each s against a NumPy version."""
    src = ("data T: int\nparam e: positive = 2\nparam l: positive = 0.5\ndata s: int\nt = cumsum(ones(T)) - 1\n"
           "rate = where(t < s, e, l)\nminimize sum(rate)\n")
    model = ppl.compile(src)
    for s in (0, 3, 7):
        _, grads, record = model.grad(data={"T": 7, "s": s}, params={"e": 2.0, "l": 0.5}, trace=True)
        close(record["rate"][0], onp.where(onp.arange(7) < s, 2.0, 0.5))
        close(grads["e"], s)
        close(grads["l"], 7 - s)


# ---------------------------------------------------------------------------------------------
# 7. HalfStudentT and GaussianRandomWalk
# ---------------------------------------------------------------------------------------------

def test_half_student_t_density():
    x = onp.array([[1e-3, 0.1, 1.0, 3.0, 40.0]])
    df = onp.array([[1.0], [3.0], [30.0]])
    close(HalfStudentT(df=df, scale=1.5).log_prob(x), math.log(2) + stats.t.logpdf(x, df, scale=1.5), rtol=1e-10)
    assert onp.all(HalfStudentT(df=3.0, scale=1.0).log_prob(onp.array([-0.5])) == -onp.inf)


def test_half_student_t_draws_follow_its_distribution():
    dist, n = HalfStudentT(df=3.0, scale=1.5), 4000
    rng = onp.random.default_rng(0)

    def cdf(v):
        return 2 * stats.t.cdf(v, 3.0, scale=1.5) - 1
    assert stats.kstest(dist.sample(rng, (n,)), cdf).pvalue > 1e-4
    assert stats.kstest(dist.transform(HalfStudentT.noise(rng, (n,))), cdf).pvalue > 1e-4


def test_half_student_t_pathwise_gradient():
    eps = HalfStudentT.noise(onp.random.default_rng(1), (4,))
    check_grads(lambda df, scale: HalfStudentT(df=df, scale=scale).transform(eps), modes=["rev"], order=1)(3.0, 1.5)
    check_grads(lambda x, df, scale: HalfStudentT(df=df, scale=scale).log_prob(x), modes=["rev"], order=1)(
        onp.array([0.3, 2.0]), 3.0, 1.5)


def test_half_student_t_prior_elbo_per_particle():
    y = onp.array([0.3, -1.2, 2.0])
    model = ppl.compile("data y: real[3]\nsigma ~ HalfStudentT(3, 1.5)\ny ~ Normal(0, sigma)\n")
    assert_matches_hand(model, {"y": y}, {"sigma.loc": 0.1, "sigma.scale": 0.4}, [("sigma", POSITIVE)],
                        lambda env, th: (math.log(2) + anp.sum(astats.t.logpdf(env["sigma"], 3.0, 0.0, 1.5))
                                         + normal_lp(y, 0.0, env["sigma"])))


def test_gaussian_random_walk_density():
    x = onp.array([[0.3, -0.2, 0.5, 1.0], [1.0, 2.0, 1.5, 1.7]])
    steps = onp.diff(onp.concatenate([onp.zeros((2, 1)), x], axis=1), axis=1)
    lp = GaussianRandomWalk(scale=0.7).log_prob(x)
    close(lp, stats.norm.logpdf(steps, 0, 0.7), rtol=1e-12)
    close(onp.sum(lp, axis=-1), [stats.multivariate_normal(onp.zeros(4), 0.49 * onp.minimum.outer(
        onp.arange(1, 5), onp.arange(1, 5))).logpdf(row) for row in x], rtol=1e-10)


def test_gaussian_random_walk_draws_and_pathwise_gradient():
    walk = GaussianRandomWalk(scale=0.7)
    draws = walk.sample(onp.random.default_rng(0), (3000, 5))
    close(onp.var(draws, axis=0), 0.49 * onp.arange(1, 6), rtol=0.1)
    steps = onp.diff(onp.concatenate([onp.zeros((3000, 1)), draws], axis=1), axis=1)
    assert stats.kstest(steps.ravel(), stats.norm(0, 0.7).cdf).pvalue > 1e-4
    eps = onp.random.default_rng(1).standard_normal((2, 5))
    check_grads(lambda s: GaussianRandomWalk(scale=s).transform(eps), modes=["rev"], order=1)(0.7)
    check_grads(lambda x, s: GaussianRandomWalk(scale=s).log_prob(x), modes=["rev"], order=1)(draws[:2], 0.7)


def test_gaussian_random_walk_needs_a_length():
    with pytest.raises(ValueError, match="needs a length"):
        GaussianRandomWalk(scale=1.0).log_prob(onp.array(0.5))


# ---------------------------------------------------------------------------------------------
# 8. A global discrete latent summed out
# ---------------------------------------------------------------------------------------------

CHANGEPOINT = """data T: int
data y: int[T]
early ~ Exponential(1)
late ~ Exponential(1)
s ~ DiscreteUniform(0, T - 1)
t = cumsum(ones(T)) - 1
y ~ Poisson(where(t < s, early, late))
"""


def test_change_point_is_enumerated_and_exact():
    model = ppl.compile(CHANGEPOINT)
    line = next(line for line in model.explain().splitlines() if line.startswith("s "))
    assert "enumerate" in line and "summed out" in line
    T = 30
    y = onp.random.default_rng(2).poisson(onp.where(onp.arange(T) < 12, 3.0, 1.0))
    logfact = special.gammaln(y + 1.0)

    def log_joint(env, th):
        e, l = env["early"], env["late"]
        per_s = []
        for s in range(T):
            early_part = onp.arange(T) < s
            rate = e * early_part + l * ~early_part
            per_s.append(anp.sum(y * anp.log(rate) - rate - logfact))
        return -e - l - math.log(T) + alogsumexp(anp.stack(per_s))
    params = {"early.loc": 0.5, "early.scale": 0.2, "late.loc": -0.1, "late.scale": 0.3}
    record = assert_matches_hand(model, {"T": T, "y": y}, params, [("early", POSITIVE), ("late", POSITIVE)],
                                 log_joint)
    assert "s" not in record


def test_summing_out_allows_1000_values():
    model = ppl.compile("data y: real[3]\ns ~ DiscreteUniform(0, 999)\ny ~ Normal(s / 100, 1)\n")
    y = onp.array([0.1, 0.2, 0.3])
    value, _ = model.grad(data={"y": y})
    s = onp.arange(1000)
    close(value, special.logsumexp(stats.norm.logpdf(y[None, :], s[:, None] / 100, 1).sum(axis=1)) - math.log(1000),
          rtol=1e-12)


def test_summing_out_more_than_1000_values_is_refused():
    model = ppl.compile("data y: real[3]\ns ~ DiscreteUniform(0, 1000)\ny ~ Normal(s / 100, 1)\n")
    with pytest.raises(ppl.SemanticError) as err:
        model.grad(data={"y": [0.1, 0.2, 0.3]})
    text = str(err.value)
    assert "'s' takes 1,001 values, more than the 1,000 that can be summed out" in text
    assert "<model>:2:1" in text and "use fewer values" in text


# ---------------------------------------------------------------------------------------------
# Loops run at once only where that is the same program; coupled densities; predictive limits
# ---------------------------------------------------------------------------------------------

LOOP_PROGRAMS = {
    # writing s[t - 1] and then reading s[t]: in order, s[t] is not written yet
    "write behind, read ahead": ("s = zeros(N)\nfor t in 1:N {\n  s[t - 1] = a * y[t]\n  y[t] ~ Normal(s[t], 1)\n}\n",
                                 lambda a, y: stats.norm.logpdf(y[1:], 0, 1).sum()),
    # a name from before the loop assigned anew: the last iteration's value survives
    "carried name": ("m = 0\nfor t in 0:N {\n  m = a * y[t]\n}\ntarget += m\n", lambda a, y: a * y[-1]),
    # a matrix's rows assigned a number each
    "matrix rows": ("s = zeros(N, 2)\nfor t in 0:N {\n  s[t] = a * y[t]\n}\ntarget += Normal(s, 1).log_prob(ones(N, 2))\n",
                    lambda a, y: stats.norm.logpdf(1.0, a * onp.repeat(y[:, None], 2, 1), 1).sum()),
    # one name, a vector in one loop and a number in the next
    "a name reused": ("for t in 0:N {\n  m = a * [1, 5]\n  target += Normal(m, 1).log_prob(y[t])\n}\n"
                      "for u in 0:N {\n  m = a\n  target += Normal(m, 1).log_prob(y[u])\n}\n",
                      lambda a, y: stats.norm.logpdf(y[:, None], a * onp.array([1, 5]), 1).sum()
                      + stats.norm.logpdf(y, a, 1).sum()),
    "no iterations": ("s = zeros(N)\nfor t in 0:0 {\n  s[t] = a * y[t]\n}\ntarget += sum(s)\n", lambda a, y: 0.0),
}


@pytest.mark.parametrize("name", sorted(LOOP_PROGRAMS))
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.filterwarnings("ignore:Output seems independent of input")    # where the value does not depend on a
def test_loops_the_fast_path_must_not_change(name, n):
    body, exact = LOOP_PROGRAMS[name]
    model = ppl.compile("data N: int\ndata y: real[N]\nparam a: real = 0.5\n" + body)
    data = {"N": n, "y": [1.0, 2.0, 3.0][:n]}
    value, _ = model.grad({"a": 0.5}, data)
    close(value, exact(0.5, onp.array(data["y"])))
    assert model.check_fast_path({"a": 0.5}, data, draws=1)["max_abs"] < 1e-12


def test_a_random_walk_is_not_treated_element_by_element():
    """Step t of a walk reads x[t - 1]: a discrete latent in it is not summed out element by
    element, and its observation is not subsampled."""
    model = ppl.compile("data T: int\ndata y: real[T]\nz: int[T] ~ Bernoulli(0.5)\nx = 2.0 * z + y\n"
                        "x ~ GaussianRandomWalk(1)\n")
    assert model.rewritten.site("z").estimator == "score" and "mixes its elements" in model.explain()
    walk = ppl.compile("data N: int\ndata y: real[N]\nparam s: real<lower=0> = 1.0\ny ~ GaussianRandomWalk(s)\n")
    with pytest.raises(ppl.PPLError, match="not independent"):
        walk.fit(data={"N": 4, "y": [0.1, 0.3, 0.2, 0.5]}, batch_size=2, steps=2)


@pytest.mark.parametrize("family, ref", [("Exponential(r)", lambda r: stats.expon(scale=1 / r)),
                                         ("Weibull(2, r)", lambda r: stats.weibull_min(2, scale=r)),
                                         ("Gamma(2, r)", lambda r: stats.gamma(2, scale=1 / r))])
def test_a_truncation_bound_outside_the_support_cuts_nothing(family, ref):
    model = ppl.compile(f"data y: real[3]\nparam r: positive = 1.5\ny ~ {family} T[-1, 5]\n")
    y = onp.array([0.5, 1.0, 2.0])
    value, grads = model.grad({"r": 1.5}, {"y": y})
    dist = lambda r: ref(r).logpdf(y).sum() - 3 * onp.log(ref(r).cdf(5.0))    # noqa: E731
    close(value, dist(1.5))
    close(grads["r"], (dist(1.5 + 1e-6) - dist(1.5 - 1e-6)) / 2e-6, rtol=1e-6, atol=1e-6)


def test_the_prior_predictive_refuses_what_it_cannot_draw():
    prior_term = "data y: real[3]\nmu ~ Normal(0, 1)\ntarget += Normal(5, 0.1).log_prob(mu)\ny ~ Normal(mu, 1)\n"
    with pytest.raises(ppl.PPLError, match="changes the prior"):
        ppl.compile(prior_term).sample(n=10)
    ordered = "data y: real[3]\nmu: ordered[2] ~ Normal([2, 0], 1)\ny ~ Normal(mu[0], 1)\n"
    with pytest.raises(ppl.PPLError, match="declared ordered"):
        ppl.compile(ordered).sample(n=10)
    observation = "data T: int\ndata y: real[T]\nmu ~ Normal(0, 1)\nfor t in 0:T {\n  y[t] ~ Normal(mu, 1)\n}\n"
    draws = ppl.compile(observation).sample(data={"T": 2, "y": [0.0, 1.0]}, n=50)
    assert set(draws) == {"mu"}          # an observation's data are not drawn; the prior is unchanged
