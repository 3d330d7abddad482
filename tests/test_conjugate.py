"""Gamma and Beta latents: variational inference recovers conjugate posteriors with pathwise
gradients, and optimization differentiates their draws implicitly (ppl.kernels.implicit)."""

import numpy as onp
import pytest
from autograd import grad
from scipy import special

import ppl

CONJUGATE = """
data N: int
data y: int<lower=0>[N]
data n: int
data k: int<lower=0>[N]
rate ~ Gamma(3, 2)
y ~ Poisson(rate)
p ~ Beta(2, 2)
k ~ Binomial(n, p)
"""


@pytest.fixture(scope="module")
def conjugate():
    rng = onp.random.default_rng(1)
    N, n = 20, 10
    y, k = rng.poisson(4.0, N), rng.binomial(n, 0.3, N)
    data = {"N": N, "y": y.tolist(), "n": n, "k": k.tolist()}
    model = ppl.compile(CONJUGATE)
    posterior_means = {"rate": (3 + y.sum()) / (2 + N),          # Gamma(3 + sum y, 2 + N)
                       "p": (2 + k.sum()) / (2 + 2 + N * n)}     # Beta(2 + sum k, 2 + sum(n - k))
    return model, model.fit(data=data, steps=2000, seed=0), posterior_means


def test_gamma_and_beta_latents_are_pathwise(conjugate):
    model, fit, _ = conjugate
    assert fit.estimators == {"rate": "pathwise", "p": "pathwise"}
    rows = {line.split()[0]: line for line in model.explain().splitlines()[1:]}
    assert "pathwise" in rows["rate"] and "pathwise" in rows["p"]


@pytest.mark.parametrize("name", ["rate", "p"])
def test_conjugate_posterior_mean_recovered(conjugate, name):
    _, fit, exact = conjugate
    assert fit.latents[name]["mean"] == pytest.approx(exact[name], rel=0.05)


# --- optimization: the program's own Gamma, Beta and von Mises draws, differentiated implicitly ---

PARTICLES = 100_000


def objective_gradient(source):
    model = ppl.compile(source)
    assert "implicit gradient" in model.explain() and model.rewritten.sites[0].estimator == "pathwise"
    return model.grad(seed=0, particles=PARTICLES)[1]


def test_gamma_draw_in_an_objective():
    # E[(z - 5)^2] = a + (a - 5)^2 for z ~ Gamma(a, 1): gradient 1 + 2 (a - 5) = -7 at a = 1
    g = objective_gradient("param a: positive = 1\nz ~ Gamma(a, 1)\nminimize (z - 5)^2")
    assert g["a"] == pytest.approx(-7.0, abs=0.1)


def test_beta_draw_in_an_objective():
    def expected(a, b=2.0):   # E[(x - 0.7)^2] = var + (mean - 0.7)^2
        return a * b / ((a + b) ** 2 * (a + b + 1)) + (a / (a + b) - 0.7) ** 2
    g = objective_gradient("param a: positive = 1\nx ~ Beta(a, 2)\nminimize (x - 0.7)^2")
    assert g["a"] == pytest.approx(grad(expected)(1.0), abs=0.005)


def test_von_mises_draw_in_an_objective():
    # d/dk E[cos x] = 1 - A/k - A^2, A = I1(k) / I0(k)
    g = objective_gradient("param k: positive = 1\nx ~ VonMises(0, k)\nmaximize cos(x)")
    A = special.i1(1.0) / special.i0(1.0)
    assert g["k"] == pytest.approx(1 - A - A**2, abs=0.01)


@pytest.mark.slow
def test_optimization_finds_the_gamma_shape():
    fit = ppl.compile("param a: positive = 1\nz ~ Gamma(a, 1)\nminimize (z - 5)^2").fit(steps=1500, particles=4, seed=0)
    assert float(fit.params["a"]) == pytest.approx(4.5, rel=0.05)


# --- vector-valued and count latents: blocked in the compiler (see each reason) -----------------

EVENT_SHAPES = ("compiler: a latent's shape must be batch_shape + event_shape (build._latent_shape) and "
                "ops.make_dist must align arguments to the value's rank minus cls.event_dim")


def test_dirichlet_categorical_posterior():
    counts = onp.array([3, 9, 18])
    y = onp.repeat(onp.arange(3), counts)
    model = ppl.compile("data N: int\ndata y: int[N]\np ~ Dirichlet([1, 2, 3])\ny ~ Categorical(p)")
    fit = model.fit(data={"N": len(y), "y": y.tolist()}, steps=2000, seed=0)
    alpha = onp.array([1, 2, 3]) + counts
    assert fit.estimators == {"p": "pathwise"}
    onp.testing.assert_allclose(fit.latents["p"]["mean"], alpha / alpha.sum(), rtol=0.05)


def test_multivariate_normal_observations():
    y = onp.random.default_rng(2).normal([1.0, -1.0], 1.0, size=(30, 2))
    source = ("data y: real[30, 2]\nmu ~ Normal(0, 10)\n"
              "y ~ MultivariateNormal(mu * ones(2), [[1, 0.5], [0.5, 1]])")
    fit = ppl.compile(source).fit(data={"y": y.tolist()}, steps=2000, seed=0)
    # conjugate: precision 1/100 + 30 * 1' S^-1 1, mean (30 * 1' S^-1 ybar) / precision
    s_inv = onp.linalg.inv([[1, 0.5], [0.5, 1]])
    precision = 1 / 100 + 30 * s_inv.sum()
    assert fit.latents["mu"]["mean"] == pytest.approx(30 * (s_inv @ y.mean(0)).sum() / precision, abs=0.05)


def test_negative_binomial_latent_gets_a_guide():
    model = ppl.compile("data y: real[3]\nk ~ NegativeBinomial(3, 0.5)\ny ~ Normal(k, 2)")
    fit = model.fit(data={"y": [3.0, 2.0, 4.0]}, steps=200, seed=0)
    assert fit.estimators == {"k": "score"} and onp.isfinite(fit.objective["value"])


def test_beta_binomial_latent_is_summed_out():
    model = ppl.compile("data y: real[3]\nk ~ BetaBinomial(10, 2, 3)\nmu ~ Normal(0, 10)\ny ~ Normal(k + mu, 2)")
    fit = model.fit(data={"y": [3.0, 2.0, 4.0]}, steps=200, seed=0)
    assert fit.estimators["k"] == "enumerate"
