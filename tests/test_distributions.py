"""Distributions checked against scipy.stats, driven by one table of cases.

Every case has batch shape (3,) and in-support test values of shape (2, 3),
so each comparison also exercises broadcasting of arguments against values.
Statistical assertions allow 5 standard errors at fixed seeds.
"""
import dataclasses

import numpy as onp
import pytest
from scipy import special, stats
from autograd.test_util import check_grads

from ppl import constraints
from ppl.distributions import (
    DISTRIBUTIONS, Bernoulli, Categorical, Cauchy, Distribution, Exponential, HalfCauchy,
    HalfNormal, Laplace, LogNormal, Normal, Poisson, Uniform)

N = 200_000
Z = 5.0  # standard errors allowed in statistical comparisons


class StackedDiscrete:
    """Frozen-scipy look-alike for a batch of categoricals: one rv_discrete per column."""

    def __init__(self, probs):
        self.rows = [stats.rv_discrete(values=(onp.arange(len(p)), p)) for p in probs]

    def _each(self, method, x):
        x = onp.asarray(x, dtype=float)
        x = onp.broadcast_to(x, onp.broadcast_shapes(x.shape, (len(self.rows),)))
        return onp.stack([getattr(r, method)(x[..., i]) for i, r in enumerate(self.rows)], axis=-1)

    def logpmf(self, x):
        return self._each("logpmf", x)

    def pmf(self, x):
        return self._each("pmf", x)

    def mean(self):
        return onp.array([r.mean() for r in self.rows])

    def var(self):
        return onp.array([r.var() for r in self.rows])


@dataclasses.dataclass
class Case:
    cls: type
    args: dict
    scipy: object        # frozen scipy distribution with the same law
    values: list         # in-support values, shape (2, 3)
    outside: list        # scalars outside the support of every batch member

    @property
    def dist(self):
        return self.cls(**self.args)


A = onp.array
LOC, SCALE = A([-1.0, 0.0, 2.5]), A([0.5, 1.0, 3.0])
PROBS = A([[0.2, 0.3, 0.5], [0.7, 0.1, 0.2], [0.25, 0.25, 0.5]])
LOGITS = A([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5], [-3.0, 1.0, 1.0]])
NOT_REAL = [onp.nan, onp.inf, -onp.inf]

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
    "Uniform": Case(Uniform, dict(low=A([-1.0, 0.0, 2.0]), high=A([1.0, 0.5, 10.0])),
                    stats.uniform(A([-1.0, 0.0, 2.0]), A([2.0, 0.5, 8.0])),
                    [[-0.9, 0.1, 3.0], [0.5, 0.45, 9.9]], [-2.0, 11.0] + NOT_REAL),
    "Laplace": Case(Laplace, dict(loc=LOC, scale=SCALE), stats.laplace(LOC, SCALE),
                    [[-1.3, 0.2, 6.0], [0.0, -4.0, 2.0]], NOT_REAL),
    "Cauchy": Case(Cauchy, dict(loc=LOC, scale=SCALE), stats.cauchy(LOC, SCALE),
                   [[-1.3, 0.2, 60.0], [3.0, -40.0, 2.0]], NOT_REAL),
    "HalfCauchy": Case(HalfCauchy, dict(scale=SCALE), stats.halfcauchy(scale=SCALE),
                       [[0.1, 1.5, 40.0], [1e-3, 7.0, 2.0]], [-0.5] + NOT_REAL),
    "Bernoulli-probs": Case(Bernoulli, dict(probs=A([0.1, 0.5, 0.8])), stats.bernoulli(A([0.1, 0.5, 0.8])),
                            [[0, 1, 1], [1, 0, 0]], [-1, 2, 0.5] + NOT_REAL),
    "Bernoulli-logits": Case(Bernoulli, dict(logits=A([-2.0, 0.0, 3.0])),
                             stats.bernoulli(special.expit(A([-2.0, 0.0, 3.0]))),
                             [[0, 1, 1], [1, 0, 0]], [-1, 2, 0.5] + NOT_REAL),
    "Categorical-probs": Case(Categorical, dict(probs=PROBS), StackedDiscrete(PROBS),
                              [[0, 1, 2], [2, 0, 1]], [-1, 3, 1.5] + NOT_REAL),
    "Categorical-logits": Case(Categorical, dict(logits=LOGITS), StackedDiscrete(special.softmax(LOGITS, -1)),
                               [[0, 1, 2], [2, 0, 1]], [-1, 3, 1.5] + NOT_REAL),
    "Poisson": Case(Poisson, dict(rate=A([0.5, 3.0, 20.0])), stats.poisson(A([0.5, 3.0, 20.0])),
                    [[0, 2, 25], [1, 7, 13]], [-1, 2.5] + NOT_REAL),
}
ALL = list(CASES)
CONTINUOUS = [k for k in ALL if not CASES[k].cls.discrete]
DISCRETE = [k for k in ALL if CASES[k].cls.discrete]
PATHWISE = [k for k in ALL if CASES[k].cls.reparameterized]


def scipy_log_prob(case, x):
    frozen = case.scipy
    return frozen.logpmf(x) if case.cls.discrete else frozen.logpdf(x)


def test_table_covers_registry():
    assert {case.cls for case in CASES.values()} == set(DISTRIBUTIONS.values())


# --- densities -----------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_log_prob_matches_scipy(name):
    case = CASES[name]
    x = A(case.values)
    lp = case.dist.log_prob(x)
    assert lp.shape == (2, 3)
    onp.testing.assert_allclose(lp, scipy_log_prob(case, x), rtol=1e-8, atol=1e-12)
    # A scalar value broadcasts against the batch.
    onp.testing.assert_allclose(case.dist.log_prob(x[0, 0]), scipy_log_prob(case, x[0, 0]),
                                rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_leading_particle_axis_broadcasts(name):
    case = CASES[name]
    stacked = case.cls(**{k: onp.stack([v, v]) for k, v in case.args.items()})
    assert stacked.batch_shape == (2, 3)
    lp = stacked.log_prob(A(case.values[0]))
    onp.testing.assert_allclose(lp, onp.stack([case.dist.log_prob(A(case.values[0]))] * 2))


@pytest.mark.parametrize("name", ALL)
def test_mean_and_variance_match_scipy(name):
    case = CASES[name]
    assert case.dist.mean.shape == case.dist.variance.shape == (3,)
    onp.testing.assert_allclose(case.dist.mean, case.scipy.mean(), rtol=1e-10)
    onp.testing.assert_allclose(case.dist.variance, case.scipy.var(), rtol=1e-10)


# --- sampling ------------------------------------------------------------------

def draws(name, seed=0):
    return CASES[name].dist.sample(onp.random.default_rng(seed), (N, 3))


@pytest.mark.parametrize("name", ALL)
def test_sample_shape_and_dtype(name):
    case = CASES[name]
    x = case.dist.sample(onp.random.default_rng(1), (4, 3))
    assert x.shape == (4, 3)
    assert x.dtype == (onp.int64 if case.cls.discrete else onp.float64)
    assert case.dist.support.check(x).all()
    with pytest.raises(ValueError):
        case.dist.sample(onp.random.default_rng(1), (4,))


@pytest.mark.parametrize("name", [k for k in ALL if onp.all(onp.isfinite(CASES[k].scipy.var()))])
def test_sample_moments(name):
    x = draws(name)
    mean, var = CASES[name].scipy.mean(), CASES[name].scipy.var()
    sample_var = x.var(axis=0, ddof=1)
    m4 = ((x - x.mean(axis=0)) ** 4).mean(axis=0)
    assert onp.all(onp.abs(x.mean(axis=0) - mean) < Z * onp.sqrt(var / N))
    assert onp.all(onp.abs(sample_var - var) < Z * onp.sqrt((m4 - sample_var**2) / N))


@pytest.mark.parametrize("name", CONTINUOUS)
def test_sample_quantiles(name):
    # Also the only sampling check for the Cauchy families, whose moments diverge.
    x = draws(name, seed=2)
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        frac = (x <= CASES[name].scipy.ppf(q)).mean(axis=0)
        assert onp.all(onp.abs(frac - q) < Z * onp.sqrt(q * (1 - q) / N)), q


@pytest.mark.parametrize("name", DISCRETE)
def test_sample_frequencies(name):
    x = draws(name, seed=3)
    for k in range(6):
        p = CASES[name].scipy.pmf(k)
        assert onp.all(onp.abs((x == k).mean(axis=0) - p) <= Z * onp.sqrt(p * (1 - p) / N)), k


# --- pathwise draws and gradients ------------------------------------------------

@pytest.mark.parametrize("name", PATHWISE)
def test_pathwise_draws_follow_the_law(name):
    case = CASES[name]
    eps = case.cls.noise(onp.random.default_rng(4), (20_000, 3))
    u = case.scipy.cdf(case.dist.transform(eps))
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3


def with_arg(case, name, value):
    return case.cls(**{**case.args, name: value})


@pytest.mark.parametrize("name", PATHWISE)
def test_transform_gradients(name):
    case = CASES[name]
    eps = case.cls.noise(onp.random.default_rng(5), (2, 3))
    for arg in case.args:
        check_grads(lambda a: with_arg(case, arg, a).transform(eps), modes=["rev"], order=1)(case.args[arg])


@pytest.mark.filterwarnings("ignore:Output seems independent of input")  # Uniform's density in x
@pytest.mark.parametrize("name", ALL)
def test_log_prob_gradients(name):
    case = CASES[name]
    x = A(case.values, dtype=float)
    for arg in case.args:
        check_grads(lambda a: with_arg(case, arg, a).log_prob(x), modes=["rev"], order=1)(case.args[arg])
    if not case.cls.discrete:
        check_grads(case.dist.log_prob, modes=["rev"], order=1)(x)


# --- support and declarations --------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_outside_support(name):
    case = CASES[name]
    for v in case.outside:
        assert not onp.any(case.dist.support.check(v)), v
        lp = case.dist.log_prob(v)
        assert lp.shape == (3,) and onp.all(lp == -onp.inf), v


@pytest.mark.parametrize("name", ALL)
def test_inside_support(name):
    case = CASES[name]
    assert case.dist.support.check(A(case.values)).all()
    assert onp.isfinite(case.dist.log_prob(A(case.values))).all()


@pytest.mark.parametrize("cls", DISTRIBUTIONS.values(), ids=list(DISTRIBUTIONS))
def test_declarations(cls):
    case = next(c for c in CASES.values() if c.cls is cls)
    assert cls.discrete == case.dist.support.discrete
    assert cls.reparameterized == (not cls.discrete)  # every continuous family here has a pathwise form
    if cls.reparameterized:
        assert "eps ~" in cls.transform.__doc__  # the pathwise form, shown to users
    assert {n for sig in cls.signatures for n in sig} == set(cls.arg_constraints)
    if cls.discrete:
        assert cls.guide_arg in cls.arg_constraints
    # Every parameter of every signature is readable, whichever was given.
    for n in cls.arg_constraints:
        assert onp.shape(getattr(case.dist, n))[:1] == (3,), n
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
