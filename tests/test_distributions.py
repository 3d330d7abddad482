"""Distributions checked against scipy.stats, driven by one table of cases.

Every case has batch shape (3,) and in-support test values of shape (2, 3) + event shape, so
each comparison also exercises broadcasting of arguments against values. Statistical assertions
allow 5 standard errors at fixed seeds.
"""
import dataclasses
import math

import numpy as onp
import pytest
from scipy import integrate, special, stats
import autograd.numpy as anp
from autograd import grad
from autograd.test_util import check_grads

from ppl.distributions import constraints
from ppl.distributions import (
    DISTRIBUTIONS, Bernoulli, Beta, BetaBinomial, Binomial, Categorical, Cauchy, Chi2, Dirichlet, DiscreteUniform,
    Distribution, Exponential, Gamma, GaussianRandomWalk, Geometric, Gumbel, HalfCauchy, HalfNormal, HalfStudentT,
    InverseGamma, Laplace, LKJCholesky, Logistic, LogNormal, Multinomial, MultivariateNormal, NegativeBinomial, Normal, Pareto, Poisson, StudentT,
    Uniform, VonMises, Weibull)

N = 200_000
Z = 5.0  # standard errors allowed in statistical comparisons


class PerRow:
    """Frozen-scipy look-alike for a batch of 3: row i (the axis before the event axes) follows
    `rows[i]`, for scipy distributions that take one parameter set at a time. `logp(row, x)`,
    `mean(row)`, `var(row)` adapt each row's own interface."""

    def __init__(self, rows, event_dim=0, logp=None, mean=None, var=None):
        self.rows, self.event_dim = rows, event_dim
        self._logp = logp or (lambda r, x: r.logpmf(x))
        self._mean = mean or (lambda r: r.mean())
        self._var = var or (lambda r: r.var())

    def logpdf(self, x):
        x = onp.asarray(x, dtype=float)
        axis = x.ndim - self.event_dim - 1
        x = onp.broadcast_to(x, onp.broadcast_shapes(x.shape, (len(self.rows),) + x.shape[axis + 1:]))
        return onp.stack([self._logp(r, onp.take(x, i, axis=x.ndim - self.event_dim - 1))
                          for i, r in enumerate(self.rows)], axis=-1)

    logpmf = logpdf

    def pmf(self, x):
        return onp.exp(self.logpdf(x))

    def mean(self):
        return onp.array([self._mean(r) for r in self.rows])

    def var(self):
        return onp.array([self._var(r) for r in self.rows])


def categorical(probs):
    return PerRow([stats.rv_discrete(values=(onp.arange(len(p)), p)) for p in probs])


def dirichlet(alpha):
    # scipy's dirichlet wants the components on the first axis
    return PerRow([stats.dirichlet(a) for a in alpha], 1, lambda r, x: r.logpdf(onp.moveaxis(x, -1, 0)))


def mvn(loc, cov):
    return PerRow([stats.multivariate_normal(m, c) for m, c in zip(loc, cov)], 1, lambda r, x: r.logpdf(x),
                  lambda r: r.mean, lambda r: onp.diag(r.cov))


def multinomial(n, probs):
    return PerRow([stats.multinomial(k, p) for k, p in zip(n, probs)], 1, lambda r, x: r.logpmf(x),
                  var=lambda r: onp.diag(r.cov()))


def lkj2(eta):
    """LKJCholesky of dimension 2: L = [[1, 0], [r, sqrt(1 - r^2)]] with (r + 1) / 2 ~ Beta(eta, eta)."""
    def logp(e, x):
        return stats.beta(e, e).logpdf((x[..., 1, 0] + 1) / 2) - math.log(2)

    def mean(e):
        return onp.array([[1.0, 0.0], [0.0, stats.beta(e, 0.5).expect(onp.sqrt)]])

    def var(e):
        m = stats.beta(e, 0.5).expect(onp.sqrt)
        r2 = stats.beta(0.5, e).mean()   # r^2 ~ Beta(1/2, eta)
        return onp.array([[0.0, 0.0], [r2, 1 - r2 - m**2]])
    return PerRow(list(eta), 2, logp, mean, var)


class WithMoments:
    """A frozen scipy distribution whose mean and variance are given (scipy's own come from a
    slow generic integration)."""

    def __init__(self, frozen, mean, var):
        self.frozen, self._mean, self._var = frozen, mean, var

    def __getattr__(self, name):
        return getattr(self.frozen, name)

    def mean(self):
        return self._mean

    def var(self):
        return self._var


class HalfT:
    """scipy has no half-t: 2 t(x; df, 0, scale) on x > 0, with its cdf, quantile and moments."""

    def __init__(self, df, scale):
        self.df, self.scale, self.t = df, scale, stats.t(df, 0, scale)

    def logpdf(self, x):
        return onp.where(onp.asarray(x) > 0, math.log(2) + self.t.logpdf(x), -onp.inf)

    def cdf(self, x):
        return 2 * self.t.cdf(x) - 1

    def ppf(self, q):
        return self.t.ppf((1 + onp.asarray(q)) / 2)

    def mean(self):
        df = self.df
        return 2 * self.scale * onp.sqrt(df / math.pi) * onp.exp(special.gammaln((df + 1) / 2)
                                                                 - special.gammaln(df / 2)) / (df - 1)

    def var(self):
        return self.scale**2 * self.df / (self.df - 2) - self.mean() ** 2


def vonmises(kappa):
    """VonMises(0, kappa): mean 0, variance the integral of x^2 times the density over [-pi, pi]."""
    var = [integrate.quad(lambda t: t * t * stats.vonmises.pdf(t, k), -math.pi, math.pi, epsabs=1e-15)[0]
           for k in kappa]
    return WithMoments(stats.vonmises(kappa), onp.zeros(len(kappa)), onp.array(var))


@dataclasses.dataclass
class Case:
    cls: type
    args: dict
    scipy: object        # frozen scipy distribution with the same law (or a PerRow of them)
    values: list         # in-support values, shape (2, 3) + event shape
    outside: list        # values outside the support of every batch member
    moment_rtol: float = 1e-10   # scipy computes some moments by numerical integration

    @property
    def dist(self):
        return self.cls(**self.args)


A = onp.array
LOC, SCALE = A([-1.0, 0.0, 2.5]), A([0.5, 1.0, 3.0])
PROBS = A([[0.2, 0.3, 0.5], [0.7, 0.1, 0.2], [0.25, 0.25, 0.5]])
LOGITS = A([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5], [-3.0, 1.0, 1.0]])
NOT_REAL = [onp.nan, onp.inf, -onp.inf]
LOC_SCALE_VALUES = [[-1.3, 0.2, 6.0], [0.0, -4.0, 2.0]]
C1, C0 = A([0.5, 2.0, 7.0]), A([0.7, 3.0, 1.5])
COUNTS, P = A([5.0, 10.0, 20.0]), A([0.1, 0.5, 0.9])
ALPHA = A([[0.5, 1.0, 2.0, 0.8], [3.0, 3.0, 3.0, 3.0], [1.5, 0.3, 4.0, 2.0]])
SIMPLEX_VALUES = [[[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.05, 0.01, 0.6, 0.34]],
                  [[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1], [0.2, 0.2, 0.3, 0.3]]]
MVN_LOC = A([[0.0, 1.0], [-2.0, 0.5], [3.0, 3.0]])
TRIL = A([[[1.0, 0.0], [0.5, 2.0]], [[0.3, 0.0], [-0.2, 0.4]], [[2.0, 0.0], [1.5, 1.0]]])
COV = TRIL @ onp.swapaxes(TRIL, -1, -2)
VECTOR_NOT_REAL = [[onp.nan, 0.0], [0.0, onp.inf]]
ETA = A([0.5, 1.0, 3.0])


def corr2(r):
    return [[1.0, 0.0], [r, math.sqrt(1 - r * r)]]


CASES = {
    "Normal": Case(Normal, dict(loc=LOC, scale=SCALE), stats.norm(LOC, SCALE),
                   [[-1.2, 0.3, 7.0], [0.0, -2.0, 2.5]], NOT_REAL),
    "HalfNormal": Case(HalfNormal, dict(scale=SCALE), stats.halfnorm(scale=SCALE),
                       [[0.1, 1.5, 4.0], [1e-3, 0.7, 9.0]], [-0.5] + NOT_REAL),
    "LogNormal": Case(LogNormal, dict(loc=LOC, scale=A([0.25, 0.5, 0.4])),
                      stats.lognorm(s=A([0.25, 0.5, 0.4]), scale=onp.exp(LOC)),
                      [[0.3, 1.5, 12.0], [0.5, 0.2, 20.0]], [-1.0] + NOT_REAL),
    "Exponential": Case(Exponential, dict(rate=A([0.5, 1.0, 4.0])), stats.expon(scale=1 / A([0.5, 1.0, 4.0])),
                        [[0.1, 1.5, 0.01], [6.0, 0.3, 2.0]], [-0.1] + NOT_REAL),
    "Gamma": Case(Gamma, dict(concentration=A([0.5, 2.0, 7.5]), rate=A([1.0, 0.5, 3.0])),
                  stats.gamma(A([0.5, 2.0, 7.5]), scale=1 / A([1.0, 0.5, 3.0])),
                  [[0.1, 3.0, 2.5], [1e-3, 0.7, 1.0]], [-0.1, 0.0] + NOT_REAL),
    "InverseGamma": Case(InverseGamma, dict(concentration=A([4.5, 5.0, 6.0]), rate=A([1.0, 0.5, 3.0])),
                         stats.invgamma(A([4.5, 5.0, 6.0]), scale=A([1.0, 0.5, 3.0])),
                         [[0.3, 0.2, 0.5], [2.0, 1.1, 0.9]], [-0.1, 0.0] + NOT_REAL),
    "Beta": Case(Beta, dict(concentration1=C1, concentration0=C0), stats.beta(C1, C0),
                 [[0.01, 0.3, 0.9], [0.95, 0.6, 0.5]], [-0.1, 1.1] + NOT_REAL),
    "Uniform": Case(Uniform, dict(low=A([-1.0, 0.0, 2.0]), high=A([1.0, 0.5, 10.0])),
                    stats.uniform(A([-1.0, 0.0, 2.0]), A([2.0, 0.5, 8.0])),
                    [[-0.9, 0.1, 3.0], [0.5, 0.45, 9.9]], [-2.0, 11.0] + NOT_REAL),
    "Laplace": Case(Laplace, dict(loc=LOC, scale=SCALE), stats.laplace(LOC, SCALE), LOC_SCALE_VALUES, NOT_REAL),
    "Logistic": Case(Logistic, dict(loc=LOC, scale=SCALE), stats.logistic(LOC, SCALE), LOC_SCALE_VALUES, NOT_REAL),
    "Gumbel": Case(Gumbel, dict(loc=LOC, scale=SCALE), stats.gumbel_r(LOC, SCALE), LOC_SCALE_VALUES, NOT_REAL),
    "Cauchy": Case(Cauchy, dict(loc=LOC, scale=SCALE), stats.cauchy(LOC, SCALE),
                   [[-1.3, 0.2, 60.0], [3.0, -40.0, 2.0]], NOT_REAL),
    "HalfCauchy": Case(HalfCauchy, dict(scale=SCALE), stats.halfcauchy(scale=SCALE),
                       [[0.1, 1.5, 40.0], [1e-3, 7.0, 2.0]], [-0.5] + NOT_REAL),
    # df above 4: the sample variance's standard error needs a finite fourth moment
    "StudentT": Case(StudentT, dict(df=A([6.0, 9.0, 30.0]), loc=LOC, scale=SCALE),
                     stats.t(A([6.0, 9.0, 30.0]), LOC, SCALE), LOC_SCALE_VALUES, NOT_REAL),
    "HalfStudentT": Case(HalfStudentT, dict(df=A([6.0, 9.0, 30.0]), scale=SCALE), HalfT(A([6.0, 9.0, 30.0]), SCALE),
                         [[0.1, 1.5, 40.0], [1e-3, 7.0, 2.0]], [-0.5] + NOT_REAL),
    "Weibull": Case(Weibull, dict(concentration=A([0.7, 1.5, 3.0]), scale=A([1.0, 2.0, 0.5])),
                    stats.weibull_min(A([0.7, 1.5, 3.0]), scale=A([1.0, 2.0, 0.5])),
                    [[0.1, 1.5, 0.4], [2.0, 0.3, 0.7]], [-0.1] + NOT_REAL),
    "Pareto": Case(Pareto, dict(scale=A([1.0, 0.5, 2.0]), alpha=A([5.0, 6.0, 9.0])),
                   stats.pareto(A([5.0, 6.0, 9.0]), scale=A([1.0, 0.5, 2.0])),
                   [[1.2, 0.6, 2.1], [3.0, 1.5, 2.5]], [0.4] + NOT_REAL),
    "Chi2": Case(Chi2, dict(df=A([0.8, 3.0, 10.0])), stats.chi2(A([0.8, 3.0, 10.0])),
                 [[0.1, 2.0, 9.0], [3.0, 0.5, 15.0]], [-1.0, 0.0] + NOT_REAL),
    # loc 0: the draws' plain mean and variance are then the exact ones below
    "VonMises": Case(VonMises, dict(loc=A([0.0, 0.0, 0.0]), concentration=A([0.3, 2.0, 8.0])),
                     vonmises(A([0.3, 2.0, 8.0])), [[-3.0, 0.5, 0.1], [2.0, -1.0, -0.2]], [-4.0, 4.0] + NOT_REAL),
    "Dirichlet": Case(Dirichlet, dict(concentration=ALPHA), dirichlet(ALPHA), SIMPLEX_VALUES,
                      [[0.5, 0.6, 0.1, 0.1], [-0.1, 0.6, 0.3, 0.2], [onp.nan, 0.5, 0.25, 0.25]]),
    "MultivariateNormal-tril": Case(MultivariateNormal, dict(loc=MVN_LOC, scale_tril=TRIL), mvn(MVN_LOC, COV),
                                    [[[0.0, 1.0], [-1.0, 0.2], [4.0, 2.0]], [[1.5, -2.0], [0.0, 0.0], [3.0, 9.0]]],
                                    VECTOR_NOT_REAL),
    "MultivariateNormal-cov": Case(MultivariateNormal, dict(loc=MVN_LOC, covariance_matrix=COV),
                                   mvn(MVN_LOC, COV),
                                   [[[0.0, 1.0], [-1.0, 0.2], [4.0, 2.0]], [[1.5, -2.0], [0.0, 0.0], [3.0, 9.0]]],
                                   VECTOR_NOT_REAL),
    "LKJCholesky": Case(LKJCholesky, dict(dimension=A([2.0, 2.0, 2.0]), concentration=ETA), lkj2(ETA),
                        [[corr2(0.3), corr2(-0.9), corr2(0.0)], [corr2(-0.2), corr2(0.5), corr2(0.7)]],
                        [[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.1], [0.0, 1.0]], [[1.0, 0.0], [onp.nan, 1.0]]],
                        moment_rtol=1e-8),
    "Bernoulli-probs": Case(Bernoulli, dict(probs=A([0.1, 0.5, 0.8])), stats.bernoulli(A([0.1, 0.5, 0.8])),
                            [[0, 1, 1], [1, 0, 0]], [-1, 2, 0.5] + NOT_REAL),
    "Bernoulli-logits": Case(Bernoulli, dict(logits=A([-2.0, 0.0, 3.0])),
                             stats.bernoulli(special.expit(A([-2.0, 0.0, 3.0]))),
                             [[0, 1, 1], [1, 0, 0]], [-1, 2, 0.5] + NOT_REAL),
    "Binomial-probs": Case(Binomial, dict(total_count=COUNTS, probs=P), stats.binom(COUNTS, P),
                           [[0, 5, 20], [2, 7, 13]], [-1, 2.5, 21] + NOT_REAL),
    "Binomial-logits": Case(Binomial, dict(total_count=COUNTS, logits=special.logit(P)), stats.binom(COUNTS, P),
                            [[0, 5, 20], [2, 7, 13]], [-1, 2.5, 21] + NOT_REAL),
    "Categorical-probs": Case(Categorical, dict(probs=PROBS), categorical(PROBS),
                              [[0, 1, 2], [2, 0, 1]], [-1, 3, 1.5] + NOT_REAL),
    "Categorical-logits": Case(Categorical, dict(logits=LOGITS), categorical(special.softmax(LOGITS, -1)),
                               [[0, 1, 2], [2, 0, 1]], [-1, 3, 1.5] + NOT_REAL),
    "Poisson": Case(Poisson, dict(rate=A([0.5, 3.0, 20.0])), stats.poisson(A([0.5, 3.0, 20.0])),
                    [[0, 2, 25], [1, 7, 13]], [-1, 2.5] + NOT_REAL),
    "Geometric-probs": Case(Geometric, dict(probs=A([0.2, 0.5, 0.9])), stats.geom(A([0.2, 0.5, 0.9]), loc=-1),
                            [[0, 3, 1], [7, 0, 0]], [-1, 1.5] + NOT_REAL),
    "Geometric-logits": Case(Geometric, dict(logits=special.logit(A([0.2, 0.5, 0.9]))),
                             stats.geom(A([0.2, 0.5, 0.9]), loc=-1), [[0, 3, 1], [7, 0, 0]], [-1, 1.5] + NOT_REAL),
    # successes before total_count failures; scipy counts failures before n successes
    "NegativeBinomial-probs": Case(NegativeBinomial, dict(total_count=A([1.5, 4.0, 10.0]), probs=A([0.3, 0.5, 0.8])),
                                   stats.nbinom(A([1.5, 4.0, 10.0]), 1 - A([0.3, 0.5, 0.8])),
                                   [[0, 3, 40], [2, 8, 25]], [-1, 0.5] + NOT_REAL),
    "NegativeBinomial-logits": Case(NegativeBinomial, dict(total_count=A([1.5, 4.0, 10.0]),
                                                           logits=special.logit(A([0.3, 0.5, 0.8]))),
                                    stats.nbinom(A([1.5, 4.0, 10.0]), 1 - A([0.3, 0.5, 0.8])),
                                    [[0, 3, 40], [2, 8, 25]], [-1, 0.5] + NOT_REAL),
    "BetaBinomial": Case(BetaBinomial, dict(total_count=COUNTS, concentration1=C1, concentration0=C0),
                         stats.betabinom(COUNTS, C1, C0), [[0, 5, 20], [2, 7, 13]], [-1, 2.5, 21] + NOT_REAL),
    "DiscreteUniform": Case(DiscreteUniform, dict(low=A([-2.0, 0.0, 3.0]), high=A([2.0, 5.0, 6.0])),
                            stats.randint(A([-2, 0, 3]), A([3, 6, 7])), [[-2, 0, 6], [1, 5, 4]],
                            [-3, 7, 0.5] + NOT_REAL),
    "Multinomial-probs": Case(Multinomial, dict(total_count=A([3.0, 10.0, 20.0]), probs=PROBS),
                              multinomial([3, 10, 20], PROBS), [[[1, 1, 1], [10, 0, 0], [5, 5, 10]],
                                                               [[0, 0, 3], [2, 3, 5], [0, 20, 0]]],
                              [[1, 1, 0], [-1, 2, 2], [0.5, 1.5, 1], [onp.nan, 1, 2]]),
    "Multinomial-logits": Case(Multinomial, dict(total_count=A([3.0, 10.0, 20.0]), logits=LOGITS),
                               multinomial([3, 10, 20], special.softmax(LOGITS, -1)),
                               [[[1, 1, 1], [10, 0, 0], [5, 5, 10]], [[0, 0, 3], [2, 3, 5], [0, 20, 0]]],
                               [[1, 1, 0], [-1, 2, 2], [0.5, 1.5, 1], [onp.nan, 1, 2]]),
}
ALL = list(CASES)
CONTINUOUS = [k for k in ALL if not CASES[k].cls.discrete]
DISCRETE = [k for k in ALL if CASES[k].cls.discrete]
PATHWISE = [k for k in ALL if CASES[k].cls.reparameterized]
SCALAR = [k for k in ALL if CASES[k].cls.event_dim == 0]


def scipy_log_prob(case, x):
    frozen = case.scipy
    return frozen.logpmf(x) if case.cls.discrete else frozen.logpdf(x)


def value_shape(case, batch):
    return tuple(batch) + case.dist.event_shape


SERIES = {GaussianRandomWalk}   # one value is a whole series: tests/test_language.py checks them


def test_table_covers_registry():
    assert {case.cls for case in CASES.values()} == set(DISTRIBUTIONS.values()) - SERIES


# --- densities -----------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_log_prob_matches_scipy(name):
    case = CASES[name]
    x = A(case.values)
    assert x.shape == value_shape(case, (2, 3))
    lp = case.dist.log_prob(x)
    assert lp.shape == (2, 3)
    onp.testing.assert_allclose(lp, scipy_log_prob(case, x), rtol=1e-8, atol=1e-12)
    # A single value broadcasts against the batch.
    onp.testing.assert_allclose(case.dist.log_prob(x[0, 0]), scipy_log_prob(case, x[0, 0]),
                                rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_leading_particle_axis_broadcasts(name):
    case = CASES[name]
    stacked = case.cls(**{k: onp.stack([v, v]) for k, v in case.args.items()})
    assert stacked.batch_shape == (2, 3) and stacked.event_shape == case.dist.event_shape
    lp = stacked.log_prob(A(case.values[0]))
    onp.testing.assert_allclose(lp, onp.stack([case.dist.log_prob(A(case.values[0]))] * 2))


@pytest.mark.parametrize("name", ALL)
def test_mean_and_variance_match_scipy(name):
    case = CASES[name]
    assert case.dist.mean.shape == case.dist.variance.shape == value_shape(case, (3,))
    onp.testing.assert_allclose(case.dist.mean, case.scipy.mean(), rtol=case.moment_rtol, atol=1e-14)
    onp.testing.assert_allclose(case.dist.variance, case.scipy.var(), rtol=case.moment_rtol, atol=1e-14)


# --- sampling ------------------------------------------------------------------

def draws(name, seed=0, n=N):
    case = CASES[name]
    return case.dist.sample(onp.random.default_rng(seed), value_shape(case, (n, 3)))


@pytest.mark.parametrize("name", ALL)
def test_sample_shape_and_dtype(name):
    case = CASES[name]
    x = case.dist.sample(onp.random.default_rng(1), value_shape(case, (4, 3)))
    assert x.shape == value_shape(case, (4, 3))
    assert x.dtype == (onp.int64 if case.cls.discrete else onp.float64)
    assert case.dist.support.check(x).all()
    with pytest.raises(ValueError):
        case.dist.sample(onp.random.default_rng(1), value_shape(case, (4,)))


def assert_moments(x, mean, var):
    """Sample mean and variance (over axis 0) within Z standard errors of the exact ones."""
    n = len(x)
    sample_var = x.var(axis=0, ddof=1)
    m4 = ((x - x.mean(axis=0)) ** 4).mean(axis=0)
    assert onp.all(onp.abs(x.mean(axis=0) - mean) <= Z * onp.sqrt(var / n))
    assert onp.all(onp.abs(sample_var - var) <= Z * onp.sqrt((m4 - sample_var**2) / n))


@pytest.mark.parametrize("name", [k for k in ALL if onp.all(onp.isfinite(CASES[k].scipy.var()))])
def test_sample_moments(name):
    assert_moments(draws(name), CASES[name].scipy.mean(), CASES[name].scipy.var())


@pytest.mark.parametrize("name", [k for k in CONTINUOUS if k in SCALAR])
def test_sample_quantiles(name):
    # Also the only sampling check for the Cauchy families, whose moments diverge.
    x = draws(name, seed=2)
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        frac = (x <= CASES[name].scipy.ppf(q)).mean(axis=0)
        assert onp.all(onp.abs(frac - q) < Z * onp.sqrt(q * (1 - q) / N)), q


@pytest.mark.parametrize("name", [k for k in DISCRETE if k in SCALAR])
def test_sample_frequencies(name):
    x = draws(name, seed=3)
    for k in range(6):
        p = CASES[name].scipy.pmf(k)
        assert onp.all(onp.abs((x == k).mean(axis=0) - p) <= Z * onp.sqrt(p * (1 - p) / N)), k


# --- pathwise draws and gradients ------------------------------------------------

@pytest.mark.parametrize("name", PATHWISE)
def test_pathwise_draws_follow_the_law(name):
    # The transform is checked on its own: `sample` may use a family's faster sampler.
    case = CASES[name]
    x = case.dist.transform(case.cls.noise(onp.random.default_rng(4), value_shape(case, (20_000, 3))))
    if name in SCALAR:
        assert stats.kstest(case.scipy.cdf(x).ravel(), "uniform").pvalue > 1e-3
    else:
        assert_moments(x, case.scipy.mean(), case.scipy.var())


def with_arg(case, name, value):
    # a covariance is read through its lower triangle: perturb it symmetrically
    if case.cls.arg_constraints[name] is constraints.positive_definite:
        value = (value + anp.swapaxes(value, -1, -2)) / 2
    return case.cls(**{**case.args, name: value})


def continuous_args(case):
    """Arguments with a gradient: not counts or sizes."""
    return [a for a in case.args if not case.cls.arg_constraints[a].discrete]


@pytest.mark.parametrize("name", PATHWISE)
def test_transform_gradients(name):
    # For the implicit families this compares dz/dtheta = -(dF/dtheta) / p with finite
    # differences of the numerical inverse CDF at fixed noise.
    case = CASES[name]
    eps = case.cls.noise(onp.random.default_rng(5), value_shape(case, (2, 3)))
    for arg in continuous_args(case):
        check_grads(lambda a: with_arg(case, arg, a).transform(eps), modes=["rev"], order=1)(case.args[arg])


@pytest.mark.filterwarnings("ignore:Output seems independent of input")  # Uniform's density in x
@pytest.mark.parametrize("name", ALL)
def test_log_prob_gradients(name):
    case = CASES[name]
    x = A(case.values, dtype=float)
    for arg in continuous_args(case):
        check_grads(lambda a: with_arg(case, arg, a).log_prob(x), modes=["rev"], order=1)(case.args[arg])
    if not case.cls.discrete:
        # a perturbed simplex or correlation factor leaves the support: differentiate the formula
        density = case.dist.log_prob if name in SCALAR else case.dist.log_prob_unchecked
        check_grads(density, modes=["rev"], order=1)(x)


# --- support and declarations --------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_outside_support(name):
    case = CASES[name]
    for v in case.outside:
        assert not onp.any(case.dist.support.check(A(v))), v
        lp = case.dist.log_prob(A(v))
        assert lp.shape == (3,) and onp.all(lp == -onp.inf), v


@pytest.mark.parametrize("name", ALL)
def test_inside_support(name):
    case = CASES[name]
    assert case.dist.support.check(A(case.values)).all()
    assert onp.isfinite(case.dist.log_prob(A(case.values))).all()


NO_GUIDE = {BetaBinomial, DiscreteUniform}   # no one argument makes a sensible same-family guide


@pytest.mark.parametrize("cls", [c for c in DISTRIBUTIONS.values() if c not in SERIES],
                         ids=[n for n, c in DISTRIBUTIONS.items() if c not in SERIES])
def test_declarations(cls):
    case = next(c for c in CASES.values() if c.cls is cls)
    assert cls.discrete == case.dist.support.discrete
    assert cls.event_dim == case.dist.support.event_dim == len(case.dist.event_shape)
    assert cls.reparameterized == (not cls.discrete)  # every continuous family here has a pathwise form
    if cls.reparameterized:
        assert "eps" in cls.transform.__doc__ and " ~ " in cls.transform.__doc__  # shown to users
        # explain.py splits the form at its first ", ": the value must not contain one
        assert cls.transform.__doc__.partition(", ")[2].lstrip().startswith("eps")
    assert {n for sig in cls.signatures for n in sig} == set(cls.arg_constraints)
    assert set(cls.arg_event_dims) <= set(cls.arg_constraints)
    if cls.discrete:
        assert (cls.guide_arg is None) == (cls in NO_GUIDE)
        assert cls.guide_arg is None or cls.guide_arg in cls.arg_constraints
    # Every parameter of every signature is readable, whichever was given.
    for n in cls.arg_constraints:
        assert onp.shape(getattr(case.dist, n))[:1] == (3,), n
    assert (cls.__doc__ or "").strip() and "\n" not in cls.__doc__.strip()   # one line: the density
    assert not Distribution.reparameterized


def test_wrong_arguments_raise_type_error():
    for args in ({}, {"loc": 0.0}, {"loc": 0.0, "scale": 1.0, "rate": 1.0}):
        with pytest.raises(TypeError):
            Normal(**args)
    with pytest.raises(TypeError):
        Bernoulli(probs=0.5, logits=0.0)


def test_batch_shape_and_repr():
    d = Normal(loc=onp.zeros((4, 1)), scale=A([1.0, 2.0, 3.0]))
    assert d.batch_shape == (4, 3)
    assert d.log_prob(A([0.0, 1.0, 2.0])).shape == (4, 3)
    assert repr(d) == "Normal(loc=float64[4,1], scale=float64[3])"
    assert repr(Poisson(rate=2.0)) == "Poisson(rate=2)"
    assert Categorical(probs=onp.ones((5, 2, 4)) / 4).batch_shape == (5, 2)
    assert repr(Uniform(low=0.0, high=2.0).support) == "interval(0, 2)"


def test_event_shapes():
    """Batch axes exclude event axes; a value's shape is batch_shape + event_shape."""
    d = Dirichlet(concentration=onp.ones((5, 2, 4)))
    assert (d.batch_shape, d.event_shape, d.event_dim) == ((5, 2), (4,), 1)
    assert d.mean.shape == (5, 2, 4) and d.log_prob(onp.full(4, 0.25)).shape == (5, 2)
    m = MultivariateNormal(loc=onp.zeros((7, 1, 3)), scale_tril=onp.eye(3))
    assert (m.batch_shape, m.event_shape) == ((7, 1), (3,))
    assert m.sample(onp.random.default_rng(0), (7, 2, 3)).shape == (7, 2, 3)
    c = LKJCholesky(dimension=4.0, concentration=A([1.0, 2.0]))
    assert (c.batch_shape, c.event_shape, c.support.event_dim) == ((2,), (4, 4), 2)
    mn = Multinomial(total_count=A([[3.0], [4.0]]), logits=onp.zeros(5))
    assert (mn.batch_shape, mn.event_shape) == ((2, 1), (5,))
    assert Normal(loc=0.0, scale=1.0).event_shape == ()


def test_enumerated_supports():
    """A constant count enumerates 0..n; counts that vary enumerate their union, every member
    scoring values beyond its own range -inf, without a nan in the gradient."""
    assert onp.array_equal(Binomial(total_count=4.0, probs=0.3).enumerate_support(), onp.arange(5))
    assert onp.array_equal(DiscreteUniform(low=-1.0, high=2.0).enumerate_support(), [-1, 0, 1, 2])
    for d in (Binomial(total_count=A([2.0, 4.0]), logits=A([0.5, -1.0])),
              BetaBinomial(total_count=A([2.0, 4.0]), concentration1=1.5, concentration0=A([2.0, 0.5])),
              DiscreteUniform(low=A([0.0, 1.0]), high=A([2.0, 4.0]))):
        values = d.enumerate_support()
        assert onp.array_equal(values, onp.arange(int(values[0]), 5))
        lp = d.log_prob_unchecked(values[:, None])
        onp.testing.assert_allclose(lp, d.log_prob(values[:, None]))
        assert onp.array_equal(onp.isfinite(lp), onp.broadcast_to(d.support.check(values[:, None]), lp.shape))
        assert abs(onp.exp(lp).sum(axis=0) - 1).max() < 1e-12
    def total(logits):
        return anp.sum(anp.exp(Binomial(total_count=A([2.0, 4.0]), logits=logits).log_prob_unchecked(onp.arange(5)[:, None])))
    assert onp.isfinite(grad(total)(A([0.5, -1.0]))).all()


def test_lkj_normalized_through_its_bijection():
    """E over z ~ Uniform(-1, 1)^3 of p(L(u)) |dL/du| / q(u), u = arctanh(z), is 1: the density,
    its constant and the corr_cholesky Jacobian agree (dimension 3, where scipy has no reference)."""
    z = onp.random.default_rng(8).uniform(-1, 1, size=(200_000, 3))
    u = onp.arctanh(z)
    support = constraints.corr_cholesky
    for eta in (0.7, 1.0, 2.5):
        d = LKJCholesky(dimension=3.0, concentration=eta)
        log_q = onp.sum(onp.log((1 - z**2) / 2), axis=-1)
        w = onp.exp(d.log_prob(support.to_constrained(u)) + support.log_abs_det_jacobian(u) - log_q)
        assert abs(w.mean() - 1) < Z * w.std() / onp.sqrt(len(w)), eta


def test_lkj_draws_have_beta_marginals():
    """Every correlation of LKJ(eta) in dimension D is 2 Beta(eta - 1 + D/2, eta - 1 + D/2) - 1."""
    d = LKJCholesky(dimension=3.0, concentration=2.0)
    L = d.sample(onp.random.default_rng(9), (20_000, 3, 3))
    C = L @ onp.swapaxes(L, -1, -2)
    onp.testing.assert_allclose(onp.diagonal(C, axis1=-2, axis2=-1), 1.0, atol=1e-12)
    for i, j in ((1, 0), (2, 0), (2, 1)):
        assert stats.kstest((C[:, i, j] + 1) / 2, stats.beta(2.5, 2.5).cdf).pvalue > 1e-3, (i, j)
    eps = d.noise(onp.random.default_rng(10), (2, 3, 3))
    check_grads(lambda eta: LKJCholesky(dimension=3.0, concentration=eta).transform(eps), modes=["rev"], order=1)(2.0)


# --- the two parameterizations of the discrete families --------------------------

def test_bernoulli_probs_and_logits_agree():
    p = A([0.1, 0.5, 0.8])
    x = A([[0, 1, 1], [1, 0, 0]])
    by_probs, by_logits = Bernoulli(probs=p), Bernoulli(logits=special.logit(p))
    onp.testing.assert_allclose(by_probs.log_prob(x), by_logits.log_prob(x), rtol=1e-12)
    onp.testing.assert_allclose(by_probs.logits, by_logits.logits, rtol=1e-12)
    onp.testing.assert_allclose(by_logits.probs, p, rtol=1e-12)


def test_categorical_probs_and_logits_agree():
    x = A([[0, 1, 2], [2, 0, 1]])
    # Logits are defined up to an additive constant per distribution.
    by_probs = Categorical(probs=PROBS)
    by_logits = Categorical(logits=onp.log(PROBS) + A([[1.0], [-7.0], [30.0]]))
    onp.testing.assert_allclose(by_probs.log_prob(x), by_logits.log_prob(x), rtol=1e-12)
    onp.testing.assert_allclose(by_logits.probs, PROBS, rtol=1e-12)
    onp.testing.assert_allclose(onp.exp(by_probs.logits), PROBS, rtol=1e-12)


def test_bernoulli_certain_outcomes():
    x = A([0, 1])
    for d in (Bernoulli(probs=A([0.0, 1.0])), Bernoulli(logits=A([-onp.inf, onp.inf]))):
        assert onp.array_equal(d.log_prob(x), [0.0, 0.0])
        assert onp.array_equal(d.log_prob(1 - x), [-onp.inf, -onp.inf])
        assert onp.array_equal(d.sample(onp.random.default_rng(6), (100, 2)), onp.tile(x, (100, 1)))
    onp.testing.assert_allclose(Bernoulli(logits=A([-800.0, 800.0])).log_prob(A([1, 0])), [-800.0, -800.0])


def test_categorical_impossible_and_certain_categories():
    d = Categorical(probs=A([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]))
    onp.testing.assert_array_equal(d.log_prob(A([0, 0])), [0.0, -onp.inf])
    onp.testing.assert_allclose(d.log_prob(A([1, 2])), [-onp.inf, onp.log(0.5)])
    big = Categorical(logits=A([1000.0, -onp.inf, 0.0]))
    onp.testing.assert_allclose(big.log_prob(A([0, 1, 2])), [0.0, -onp.inf, -1000.0])
    draws = d.sample(onp.random.default_rng(7), (1000, 2))
    assert (draws[:, 0] == 0).all() and (draws[:, 1] > 0).all()
