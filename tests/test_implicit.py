"""Implicit reparameterization: per-draw gradients against finite differences of the inverse CDF at
fixed noise, and pathwise estimates of d/dtheta E[f] against exact values in expectation (10^5
draws, within 4 standard errors), with a lower variance than the score-function estimator's."""
import math

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import elementwise_grad
from autograd.test_util import check_grads
from scipy import special, stats

from ppl.kernels import implicit
from ppl.distributions import Beta, Dirichlet, Gamma, StudentT, VonMises

DRAWS = 100_000
Z = 4.0
U = onp.array([1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-9])


def per_draw_gradient(make, theta, eps, f=lambda x: x):
    """d f(x) / d theta for every draw, each draw with its own copy of theta."""
    full = onp.full(DRAWS, theta, dtype=float)
    return elementwise_grad(lambda t: f(make(t).transform(eps)))(full)


def within(estimates, exact):
    mean, stderr = estimates.mean(), estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(mean - exact) < Z * stderr, (mean, exact, stderr)


def compare_with_score(pathwise, score, exact):
    """Both estimators are unbiased; the pathwise one has the smaller variance."""
    within(pathwise, exact)
    within(score, exact)
    ratio = pathwise.var() / score.var()
    assert ratio < 1, ratio
    return ratio


# --- per draw: against finite differences of the inverse CDF at fixed u ------------

def central(f, theta, h):
    return (f(theta + h) - f(theta - h)) / (2 * h)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0, 2.5, 40.0, 3000.0])
def test_gamma_gradient_matches_finite_differences(alpha):
    dz = elementwise_grad(implicit.standard_gamma)(onp.full(U.shape, alpha), U)
    # a small step: at u = 1e-6, log z ~ (log u) / alpha is far from linear in alpha
    fd = central(lambda a: special.gammaincinv(a, U), alpha, 1e-7 * alpha)
    onp.testing.assert_allclose(dz, fd, rtol=1e-6)
    if alpha <= 100:   # check_grads steps alpha by 1e-6 absolute: at alpha = 3000 that is below
        check_grads(lambda a: implicit.standard_gamma(a, U), modes=["rev"], order=1)(alpha)  # gammaincinv's noise
    check_grads(lambda u: implicit.standard_gamma(alpha, u), modes=["rev"], order=1)(U[1:-1])


@pytest.mark.parametrize("a, b", [(0.3, 0.5), (1.0, 1.0), (2.0, 3.0), (0.5, 20.0), (50.0, 2.0), (400.0, 700.0)])
def test_beta_gradient_matches_finite_differences(a, b):
    u = U[1:-1]   # x rounds to 1 at the extreme quantile of Beta(0.3, 0.5)
    da, db = (elementwise_grad(implicit.beta, i)(onp.full(u.shape, a), onp.full(u.shape, b), u) for i in (0, 1))
    onp.testing.assert_allclose(da, central(lambda t: special.betaincinv(t, b, u), a, 1e-5 * a), rtol=1e-6, atol=1e-12)
    onp.testing.assert_allclose(db, central(lambda t: special.betaincinv(a, t, u), b, 1e-5 * b), rtol=1e-6, atol=1e-12)
    check_grads(lambda p: implicit.beta(p[0], p[1], u), modes=["rev"], order=1)(onp.array([a, b]))


@pytest.mark.parametrize("kappa", [1e-3, 0.5, 2.0, 30.0, 1000.0])
def test_von_mises_draw_and_gradient(kappa):
    x = implicit.von_mises(kappa, U)
    onp.testing.assert_allclose(implicit.von_mises_cdf(x, kappa), U, rtol=1e-12, atol=1e-15)
    if kappa < 50:   # beyond, scipy's CDF is a normal approximation good to ~1e-8
        onp.testing.assert_allclose(stats.vonmises(kappa).cdf(x), U, rtol=1e-7, atol=1e-13)
    dz = elementwise_grad(implicit.von_mises)(onp.full(U.shape, kappa), U)
    # finite differences of the draw itself lose digits in the far tails: interior quantiles
    fd = central(lambda k: implicit.von_mises(k, U[1:-1]), kappa, 1e-4 * kappa)
    onp.testing.assert_allclose(dz[1:-1], fd, rtol=1e-6, atol=1e-12)
    check_grads(lambda u: implicit.von_mises(kappa, u), modes=["rev"], order=1)(U[1:-1])


# dz/dtheta at the draw for (theta, u), computed with mpmath (40 digits) from -(dF/dtheta) / p:
# far tails, where finite differences say little
TAILS = [
    (implicit.standard_gamma, (0.05,), 1e-6, 0, 3.2303214473382646e-117),
    (implicit.standard_gamma, (0.05,), 1 - 1e-9, 0, 21.969387185309167),
    (implicit.standard_gamma, (2.5,), 1e-6, 0, 0.015885485924179091),
    (implicit.standard_gamma, (2.5,), 1 - 1e-9, 0, 2.7246134543484246),
    (implicit.standard_gamma, (3000.0,), 1 - 1e-9, 0, 1.0547381032683935),
    (implicit.beta, (2.0, 3.0), 1e-6, 0, 0.0014746037315698446),
    (implicit.beta, (2.0, 3.0), 1e-6, 1, -0.00011908167849184052),
    (implicit.beta, (2.0, 3.0), 1 - 1e-9, 0, 0.00022745816594831796),
    (implicit.beta, (2.0, 3.0), 1 - 1e-9, 1, -0.0014955219507329155),
    (implicit.beta, (0.5, 20.0), 0.99, 0, 0.12546925010497064),
    (implicit.beta, (0.5, 20.0), 0.99, 1, -0.0071846333087980829),
    (implicit.von_mises, (2.0,), 1e-6, 0, 0.00017968206155742975),
    (implicit.von_mises, (1000.0,), 0.01, 0, 3.6821535612904662e-5),
]
# the von Mises far tail: the Fourier sum's rounding (~1e-17) over a density of ~1e-8
VON_MISES_FAR = [((2.0,), 1 - 1e-9, -1.7968208545738421e-7), ((30.0,), 1e-6, 0.016321091074688055),
                 ((30.0,), 1 - 1e-9, -0.022244334563532686)]


@pytest.mark.parametrize("draw, theta, u, i, expected", TAILS)
def test_tail_gradients_match_high_precision(draw, theta, u, i, expected):
    assert float(elementwise_grad(draw, i)(*theta, u)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("theta, u, expected", VON_MISES_FAR)
def test_von_mises_far_tail_gradient(theta, u, expected):
    assert float(elementwise_grad(implicit.von_mises)(*theta, u)) == pytest.approx(expected, rel=1e-6)


def test_broadcasting_and_bad_arguments():
    alpha = onp.array([[0.5], [2.0]])
    u = onp.array([0.1, 0.5, 0.9])
    g = elementwise_grad(lambda a: implicit.standard_gamma(a, u))(alpha)
    assert g.shape == (2, 1)
    each = [elementwise_grad(lambda a: implicit.standard_gamma(a, u))(onp.full(3, a)).sum() for a in (0.5, 2.0)]
    onp.testing.assert_allclose(g[:, 0], each)
    assert onp.isnan(implicit.von_mises(onp.array([onp.nan, 1.0]), 0.3)[0])
    assert onp.isnan(implicit.standard_gamma(onp.nan, 0.3))
    u = implicit.uniform(onp.random.default_rng(0), 10_000)
    assert (u > 0).all() and (u < 1).all()


# --- in expectation: the acceptance checks ---------------------------------------------

def noise(cls, seed):
    return cls.noise(onp.random.default_rng(seed), (DRAWS,))


@pytest.mark.parametrize("alpha", [0.5, 2.0, 10.0])
def test_gamma_shape_gradient_in_expectation(alpha):
    """f(z) = z, z ~ Gamma(alpha, 1): d/dalpha E[z] = 1."""
    eps = noise(Gamma, 0)
    pathwise = per_draw_gradient(lambda a: Gamma(concentration=a, rate=1.0), alpha, eps)
    z = Gamma(concentration=alpha, rate=1.0).transform(eps)
    score = z * (onp.log(z) - special.digamma(alpha))
    compare_with_score(pathwise, score, 1.0)


@pytest.mark.parametrize("a, b", [(0.5, 0.5), (2.0, 3.0), (5.0, 1.0)])
def test_beta_gradient_in_expectation(a, b):
    """f(x) = x, x ~ Beta(a, b): d/da E[x] = b / (a + b)^2."""
    eps = noise(Beta, 1)
    pathwise = per_draw_gradient(lambda t: Beta(concentration1=t, concentration0=b), a, eps)
    x = Beta(concentration1=a, concentration0=b).transform(eps)
    score = x * (onp.log(x) - special.digamma(a) + special.digamma(a + b))
    compare_with_score(pathwise, score, b / (a + b) ** 2)


@pytest.mark.parametrize("kappa", [0.5, 2.0, 10.0])
def test_von_mises_concentration_gradient_in_expectation(kappa):
    """f(x) = cos x, x ~ VonMises(0, kappa): d/dkappa E[cos x] = 1 - A/kappa - A^2, A = I1/I0."""
    eps = noise(VonMises, 2)
    pathwise = per_draw_gradient(lambda k: VonMises(loc=0.0, concentration=k), kappa, eps, anp.cos)
    x = VonMises(loc=0.0, concentration=kappa).transform(eps)
    A = special.i1e(kappa) / special.i0e(kappa)
    compare_with_score(pathwise, onp.cos(x) * (onp.cos(x) - A), 1 - A / kappa - A**2)


def test_dirichlet_gradient_through_normalized_gammas():
    """f(x) = x_0, x ~ Dirichlet(alpha): d/dalpha_0 E[x_0] = (a0 - alpha_0) / a0^2, a0 = sum(alpha)."""
    alpha = onp.array([1.5, 0.7, 3.0])
    eps = Dirichlet.noise(onp.random.default_rng(3), (DRAWS, 3))
    first = elementwise_grad(lambda a: Dirichlet(concentration=a).transform(eps)[:, 0])
    grads = first(onp.broadcast_to(alpha, (DRAWS, 3)))
    total = alpha.sum()
    within(grads[:, 0], (total - alpha[0]) / total**2)
    within(grads[:, 1], -alpha[0] / total**2)


def test_student_t_df_gradient_through_its_gamma():
    """f(x) = x^2, x ~ StudentT(df, 0, 1): d/ddf E[x^2] = -2 / (df - 2)^2 (df > 4: finite variance)."""
    df = 9.0
    eps = StudentT.noise(onp.random.default_rng(4), (DRAWS,))
    pathwise = per_draw_gradient(lambda d: StudentT(df=d, loc=0.0, scale=1.0), df, eps, lambda x: x**2)
    within(pathwise, -2 / (df - 2) ** 2)
