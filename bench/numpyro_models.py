"""NumPyro translations of the posteriordb models in `/work/shared/posteriordb`, for bench/accuracy.py.

One function per posterior, registered under the posterior's name (the .ppl file's stem). Each
takes the posterior's data (the JSON file as {name: int or float64 array}) and is the NumPyro
model itself, written from the .ppl file: the same priors and likelihood, the same site names
(so that the reference's "beta[0]" reads element 0 of the site `beta`), deterministics as
`numpyro.deterministic`. A discrete latent that ppl sums out is summed out here by hand
(`numpyro.factor` of a log-sum-exp), since AutoNormal cannot have a discrete site.

Importing this module switches JAX to float64 before anything else of JAX or NumPyro is loaded.
"""
from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

MODELS = {}


def posterior(name):
    """Register the decorated function as the translation of posterior `name`."""
    def register(fn):
        MODELS[name] = fn
        return fn
    return register


def _vector(d, n, *args):
    """A vector latent of n elements, as `x: real[n] ~ D(...)` declares it."""
    return d(*args).expand([n]).to_event(1)


@posterior("arK-arK")
def arK(data):
    """alpha ~ Normal(0, 10); beta[K] ~ Normal(0, 10); sigma ~ HalfCauchy(2.5);
    y_obs ~ Normal(alpha + Ylag @ beta, sigma)."""
    Ylag, y_obs = jnp.asarray(data["Ylag"]), jnp.asarray(data["y_obs"])
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", _vector(dist.Normal, data["K"], 0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    numpyro.sample("y_obs", dist.Normal(alpha + Ylag @ beta, sigma).to_event(1), obs=y_obs)


@posterior("eight_schools-eight_schools_noncentered")
def eight_schools_noncentered(data):
    """theta_trans[J] ~ Normal(0, 1); mu ~ Normal(0, 5); tau ~ HalfCauchy(5);
    theta = theta_trans * tau + mu; y ~ Normal(theta, sigma)."""
    y, sigma = jnp.asarray(data["y"]), jnp.asarray(data["sigma"])
    theta_trans = numpyro.sample("theta_trans", _vector(dist.Normal, data["J"], 0.0, 1.0))
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    theta = numpyro.deterministic("theta", theta_trans * tau + mu)
    numpyro.sample("y", dist.Normal(theta, sigma).to_event(1), obs=y)


@posterior("gp_pois_regr-gp_regr")
def gp_regr(data):
    """rho ~ Gamma(25, 4); alpha ~ HalfNormal(2); sigma ~ HalfNormal(1);
    y ~ MultivariateNormal(0, alpha^2 exp(-D2 / (2 rho^2)) + sigma I)."""
    y, D2, I = jnp.asarray(data["y"]), jnp.asarray(data["D2"]), jnp.asarray(data["I"])
    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    cov = alpha ** 2 * jnp.exp(-D2 / (2 * rho ** 2)) + sigma * I
    numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(data["N"]), covariance_matrix=cov), obs=y)


@posterior("kidiq-kidscore_momiq")
def kidscore_momiq(data):
    """beta[2] ~ Normal(0, 1000); sigma ~ HalfCauchy(2.5);
    kid_score ~ Normal(beta[0] + beta[1] * mom_iq, sigma)."""
    kid_score, mom_iq = jnp.asarray(data["kid_score"]), jnp.asarray(data["mom_iq"])
    beta = numpyro.sample("beta", _vector(dist.Normal, 2, 0.0, 1000.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    numpyro.sample("kid_score", dist.Normal(beta[0] + beta[1] * mom_iq, sigma).to_event(1), obs=kid_score)


@posterior("low_dim_gauss_mix-low_dim_gauss_mix")
def low_dim_gauss_mix(data):
    """mu[2] ~ Normal(0, 2); sigma[2] ~ HalfNormal(2); theta ~ Beta(5, 5);
    z[N] ~ Bernoulli(1 - theta) (z = 0, component 0, with probability theta), summed out:
    y[i] has density theta N(y[i] | mu[0], sigma[0]) + (1 - theta) N(y[i] | mu[1], sigma[1])."""
    y = jnp.asarray(data["y"])
    mu = numpyro.sample("mu", _vector(dist.Normal, 2, 0.0, 2.0))
    sigma = numpyro.sample("sigma", _vector(dist.HalfNormal, 2, 2.0))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    first = jnp.log(theta) + dist.Normal(mu[..., 0], sigma[..., 0]).log_prob(y)
    second = jnp.log1p(-theta) + dist.Normal(mu[..., 1], sigma[..., 1]).log_prob(y)
    numpyro.factor("y", jnp.sum(jnp.logaddexp(first, second)))


@posterior("sblrc-blr")
def blr(data):
    """beta[D] ~ Normal(0, 10); sigma ~ HalfNormal(10); y ~ Normal(X @ beta, sigma)."""
    X, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    beta = numpyro.sample("beta", _vector(dist.Normal, data["D"], 0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    numpyro.sample("y", dist.Normal(X @ beta, sigma).to_event(1), obs=y)
