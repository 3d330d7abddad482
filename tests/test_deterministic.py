"""The deterministic fit (L-BFGS on fixed draws) against exact optima: a conjugate posterior, a
correlated Gaussian posterior under both guides, L-BFGS itself against scipy's, the fixed
draws' moments, the starting points' modes, and the full-rank guide against mean-field."""
import numpy as onp
import pytest
from scipy.optimize import minimize, rosen, rosen_der
from scipy.special import ndtr
from scipy.stats import multivariate_normal

import ppl
from conftest import MODELS
from ppl.infer.lbfgs import LBFGS
from ppl.kernels.noise import Counter, FixedDraws, NotFixed, moment_matched, stratified

# ------------------------------------------------------------------ exact optima

# the Normal-Normal model and its 20 observations of tests/test_fit.py
from test_fit import NORMAL_NORMAL, Y20  # noqa: E402


def test_conjugate_posterior_to_machine_precision():
    """The guide family contains the posterior and every term of the ELBO is quadratic in the
    draws, which the moment-matched draws integrate exactly: the fixed-draws optimum is the
    exact posterior, and the ELBO there is log p(y) with no variance at all."""
    fit = ppl.compile(NORMAL_NORMAL).fit({"N": 20, "y": Y20})
    precision = 1 / 4 + 20
    assert fit.convergence["method"] == "lbfgs" and fit.convergence["converged"]
    assert float(fit.guide["mu.loc"]) == pytest.approx(sum(Y20) / precision, rel=1e-7)
    assert float(fit.guide["mu.scale"]) == pytest.approx(precision ** -0.5, rel=1e-7)
    log_evidence = multivariate_normal(onp.zeros(20), onp.eye(20) + 4.0 * onp.ones((20, 20))).logpdf(Y20)
    assert fit.objective["value"] == pytest.approx(log_evidence, abs=1e-6)
    assert fit.objective["stderr"] < 1e-6
    assert fit.psis["k_hat"] < 0.5 and not fit.warnings


REGRESSION = """
data N: int
data X: real[N, 3]
data y: real[N]
beta: real[3] ~ Normal(0, 10)
y ~ Normal(X @ beta, 1)
"""


@pytest.fixture(scope="module")
def regression():
    """Collinear predictors on very different scales (as unscaled data are): a Gaussian
    posterior with correlations up to 0.95 and sds from 0.002 to 0.6."""
    rng = onp.random.default_rng(1)
    a = rng.normal(size=40)
    X = onp.column_stack([onp.ones(40), 100 + 30 * a, a + 0.3 * rng.normal(size=40)])
    y = X @ [1.0, 0.02, -1.0] + rng.normal(size=40)
    precision = X.T @ X + onp.eye(3) / 100
    cov = onp.linalg.inv(precision)
    return {"N": 40, "X": X.tolist(), "y": y.tolist()}, cov @ X.T @ y, precision, cov


def test_meanfield_optimum_of_a_correlated_gaussian(regression):
    """Mean-field's optimum for a Gaussian posterior: the exact means, and sds 1 / sqrt(precision_ii)."""
    data, mean, precision, _ = regression
    fit = ppl.compile(REGRESSION).fit(data)
    assert fit.convergence["converged"]
    onp.testing.assert_allclose(fit.guide["beta.loc"], mean, rtol=1e-6)
    onp.testing.assert_allclose(fit.guide["beta.scale"], onp.diag(precision) ** -0.5, rtol=1e-6)
    # such sds are far too small: the importance weights say so
    assert any("guide" in w for w in fit.warnings)


def test_fullrank_optimum_is_the_posterior(regression):
    data, mean, _, cov = regression
    fit = ppl.compile(REGRESSION, guide="fullrank").fit(data)
    assert fit.convergence["converged"]
    onp.testing.assert_allclose(fit.guide["guide.loc"], mean, rtol=1e-6)
    L = fit.guide["guide.scale_tril"]
    onp.testing.assert_allclose(L @ L.T, cov, rtol=1e-5)
    assert fit.psis["k_hat"] < 0.5 and not fit.warnings


def test_adam_stops_short_where_lbfgs_does_not(regression):
    """The unscaled problem that the deterministic fit solves exactly leaves Adam's 2,000 steps
    far from the optimum, and its verdict says so."""
    data, mean, precision, _ = regression
    fit = ppl.compile(REGRESSION).fit(data, optimizer="adam")
    z = (fit.guide["beta.loc"] - mean) * onp.sqrt(onp.diag(onp.linalg.inv(precision))) ** -1
    assert onp.max(onp.abs(z)) > 1
    assert not fit.convergence["converged"] and any("did not converge" in w for w in fit.warnings)


# ------------------------------------------------------------------ starting points and modes

MIXTURE = """
data N: int
data y: real[N]
mu: real[2] ~ Normal(0, 10)
z: int[N] ~ Bernoulli(0.5)
y ~ Normal(mu[z], 1)
"""


def test_starts_find_both_labelings_of_a_symmetric_mixture():
    """Two components with the same prior: swapping their labels gives a second optimum with the
    same ELBO. The starts find both, and the fit says so."""
    rng = onp.random.default_rng(0)
    y = onp.concatenate([rng.normal(-3, 1, 50), rng.normal(3, 1, 50)])
    fit = ppl.compile(MIXTURE).fit({"N": 100, "y": y.tolist()}, starts=8)
    optima = fit.convergence["optima"]
    assert len(optima) == 2 and sum(o["starts"] for o in optima) == 8
    assert optima[0]["objective"] == pytest.approx(optima[1]["objective"], abs=1e-3)
    assert any("2 different optima" in w and "order a mixture's components" in w for w in fit.warnings)


def test_starts_agree_on_a_unimodal_posterior():
    fit = ppl.compile(NORMAL_NORMAL).fit({"N": 20, "y": Y20})
    assert fit.convergence["optima"] == [{"objective": pytest.approx(fit.convergence["optima"][0]["objective"]),
                                          "starts": 4}]
    assert ppl.compile(NORMAL_NORMAL).fit({"N": 20, "y": Y20}, starts=1).convergence["optima"] is None


@pytest.mark.parametrize("name", ["eight_schools", "linear_regression", "logistic_regression",
                                  "poisson_regression", "mixture"])
def test_fullrank_is_at_least_as_good_as_meanfield(name):
    """The full-rank guide starts at the mean-field optimum, so its ELBO is never lower (within
    the 10,000 draws' standard errors)."""
    model = ppl.load(MODELS / f"{name}.ppl")
    mf, fr = model.fit(), model.with_options(guide="fullrank").fit()
    assert fr.convergence["converged"]
    slack = 3 * onp.hypot(mf.objective["stderr"], fr.objective["stderr"])
    assert fr.objective["value"] >= mf.objective["value"] - slack


# ------------------------------------------------------------------ when L-BFGS does not apply

def test_lbfgs_refused_where_draws_cannot_be_fixed():
    bits = ppl.load(MODELS / "bits.ppl", estimator="score")
    with pytest.raises(ppl.PPLError, match="drawn from a discrete guide or the program's own sampler"):
        bits.fit(optimizer="lbfgs")
    assert bits.fit(steps=50).convergence["method"] == "adam"        # "auto" takes Adam there
    eight = ppl.load(MODELS / "eight_schools.ppl")
    with pytest.raises(ppl.PPLError, match="stl"):
        eight.fit(optimizer="lbfgs", stl=True)
    assert eight.fit(steps=50, stl=True).convergence["method"] == "adam"
    with pytest.raises(ppl.OptionError, match="optimizer must be one of 'auto', 'lbfgs', 'adam', not 'newton'"):
        eight.fit(optimizer="newton")


# ------------------------------------------------------------------ the pieces

@pytest.mark.parametrize("n", [2, 10, 40])
def test_lbfgs_matches_scipy_on_rosenbrock(n):
    x0 = onp.full(n, -1.2)
    f = lambda x: (rosen(x), rosen_der(x))
    opt = LBFGS(x0, *f(x0))
    while not (opt.converged() or opt.failed) and opt.iterations < 5000:
        opt.step(f)
    ours = opt.iterations
    theirs = minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10}).nit
    onp.testing.assert_allclose(opt.x, onp.ones(n), atol=1e-5)
    assert not opt.failed and ours <= 1.5 * theirs + 5


def test_lbfgs_on_a_badly_scaled_quadratic_with_a_diagonal():
    """Curvatures from 1 to 10^8: told the right diagonal, L-BFGS converges at once."""
    h = onp.logspace(0, 8, 30)
    f = lambda x: (0.5 * float(h @ (x - 1) ** 2), h * (x - 1))
    opt = LBFGS(onp.zeros(30), *f(onp.zeros(30)))
    while not (opt.converged() or opt.failed) and opt.iterations < 100:
        opt.step(f, 1 / h)
    assert opt.iterations <= 3
    onp.testing.assert_allclose(opt.x, 1, rtol=1e-10)


def test_fixed_draws_are_stratified_and_moment_matched():
    raw = stratified(onp.random.default_rng(0), 64, 5)
    for column in raw.T:                  # each coordinate: one draw in each of 64 equal strata
        assert sorted(onp.floor(ndtr(column) * 64).astype(int)) == list(range(64))
    matched = moment_matched(raw)
    onp.testing.assert_allclose(matched.mean(axis=0), 0, atol=1e-15)
    onp.testing.assert_allclose(matched.T @ matched / 64, onp.eye(5), atol=1e-13)
    wide = moment_matched(stratified(onp.random.default_rng(0), 8, 20))     # fewer draws than coordinates
    onp.testing.assert_allclose(onp.mean(wide ** 2, axis=0), 1, rtol=1e-13)


def test_fixed_draws_are_read_in_the_order_asked():
    draws = FixedDraws.latin_hypercube(onp.random.default_rng(0), 4, 5)
    reader = draws.part(1, 3)
    a, b = reader.standard_normal((2, 2)), reader.standard_normal((2, 3))
    onp.testing.assert_array_equal(onp.concatenate([a, b], axis=1), draws.eps[1:3])
    with pytest.raises(NotFixed):
        reader.standard_normal((2, 1))                   # more than was counted
    with pytest.raises(NotFixed):
        draws.part(0, 4).random((4, 1))
    counter = Counter()
    counter.standard_normal((1, 3, 2))
    assert counter.n == 6
    with pytest.raises(NotFixed):
        counter.integers(0, 3)
