"""Gradient estimates checked particle by particle against hand-derived formulas, and in
expectation against exact gradients.

Per-particle checks use `trace=True` to read the drawn values and recompute the estimator by hand
(to 1e-8). Expectation checks average >= 10,000 estimates, taken as batches of particles in one
`model.grad` call each, and allow 4 standard errors estimated from the spread of the batch means.
"""
import numpy as onp
import pytest
from scipy.special import expit
from scipy.stats import norm

import ppl
from conftest import MODELS

Z = 4.0          # standard errors allowed in expectation checks
ATOL = 1e-8

T = 0.45         # the target in bits.ppl
THETA_BITS = onp.linspace(-1.5, 2.0, 20)     # non-trivial bit probabilities, sigmoid from 0.18 to 0.88

REPARAM_POINTS = [(0.5, -0.3), (-1.2, 0.4), (3.7, -1.1)]


@pytest.fixture(scope="module")
def reparam():
    return ppl.load(MODELS / "reparam_demo.ppl")


@pytest.fixture(scope="module")
def reparam_score():
    return ppl.load(MODELS / "reparam_demo.ppl", estimator="score")


@pytest.fixture(scope="module")
def bits():
    """bits.ppl with the score function forced, Rao-Blackwellized per statement: every bit's score
    is multiplied by the whole objective C = sum((z - 0.45)^2)."""
    return ppl.load(MODELS / "bits.ppl", estimator="score", rao_blackwell="statement")


@pytest.fixture(scope="module")
def bits_element():
    """The score function with the default, per-element Rao-Blackwellization: the objective is a sum
    over bits, so bit j's score is multiplied only by its own term (z_j - 0.45)^2."""
    return ppl.load(MODELS / "bits.ppl", estimator="score")


@pytest.fixture(scope="module")
def bits_auto():
    return ppl.load(MODELS / "bits.ppl")


def batch_stats(model, params, *, batches, particles, baseline="auto", data=None, seed0=0):
    """Mean over `batches` calls of `particles` particles each (different seeds), its standard
    error from the spread of the batch means, and the batch means themselves."""
    rows = {}
    for b in range(batches):
        _, grads = model.grad(params, data=data, seed=seed0 + b, particles=particles, baseline=baseline)
        for k, g in grads.items():
            rows.setdefault(k, []).append(onp.asarray(g, dtype=float))
    out = {}
    for k, r in rows.items():
        r = onp.array(r)
        out[k] = (r.mean(axis=0), r.std(axis=0, ddof=1) / onp.sqrt(batches), r)
    return out


def assert_within(mean, se, exact, what):
    mean, se, exact = map(onp.asarray, (mean, se, exact))
    assert onp.all(se > 0), f"{what}: zero standard error, the estimates do not vary"
    z = (mean - exact) / se
    assert onp.all(onp.abs(z) < Z), f"{what}: estimate {mean} vs exact {exact}, z = {z}"


# ---------------------------------------------------------------- per particle, pathwise

@pytest.mark.parametrize("mu, log_sigma", REPARAM_POINTS)
@pytest.mark.parametrize("seed", [0, 7])
def test_reparam_pathwise_per_particle(reparam, mu, log_sigma, seed):
    value, grads, trace = reparam.grad({"mu": mu, "log_sigma": log_sigma}, seed=seed, trace=True)
    (y,) = trace["y"]
    sigma = onp.exp(log_sigma)
    assert set(grads) == {"mu", "log_sigma"}
    assert value == pytest.approx((y - 3) ** 2 + sigma, abs=ATOL)
    assert grads["mu"] == pytest.approx(2 * (y - 3), abs=ATOL)
    assert grads["log_sigma"] == pytest.approx(2 * (y - 3) * (y - mu) + sigma, abs=ATOL)


def test_reparam_draws_depend_on_seed_and_params(reparam):
    # guards the per-particle test against a trace that ignores the draw or the params
    _, _, t0 = reparam.grad({"mu": 0.5, "log_sigma": -0.3}, seed=0, trace=True)
    _, _, t1 = reparam.grad({"mu": 0.5, "log_sigma": -0.3}, seed=1, trace=True)
    _, _, t2 = reparam.grad({"mu": 1.5, "log_sigma": -0.3}, seed=0, trace=True)
    assert t0["y"][0] != t1["y"][0]
    assert t2["y"][0] == pytest.approx(t0["y"][0] + 1.0, abs=ATOL)   # same noise, shifted by mu


def test_reparam_pathwise_particles_average(reparam):
    """With K particles the estimate is the mean of the K per-particle estimates."""
    mu, log_sigma, K = -1.2, 0.4, 6
    value, grads, trace = reparam.grad({"mu": mu, "log_sigma": log_sigma}, seed=3, particles=K, trace=True)
    y, sigma = trace["y"], onp.exp(log_sigma)
    assert y.shape == (K,)
    assert value == pytest.approx(onp.mean((y - 3) ** 2 + sigma), abs=ATOL)
    assert grads["mu"] == pytest.approx(onp.mean(2 * (y - 3)), abs=ATOL)
    assert grads["log_sigma"] == pytest.approx(onp.mean(2 * (y - 3) * (y - mu) + sigma), abs=ATOL)


def test_maximize_is_the_objective_as_written(reparam):
    """`maximize -J` has value -J and gradient -dJ: the gradient of the objective as written."""
    neg = ppl.compile("param mu: real = 0\nparam log_sigma: real = 0\ny ~ Normal(mu, exp(log_sigma))\n"
                      "maximize -((y - 3)^2 + exp(log_sigma))")
    p = {"mu": 0.5, "log_sigma": -0.3}
    v1, g1 = reparam.grad(p, seed=5)
    v2, g2 = neg.grad(p, seed=5)
    assert v2 == pytest.approx(-v1, abs=ATOL)
    for k in g1:
        assert g2[k] == pytest.approx(-g1[k], abs=ATOL)


# ---------------------------------------------------------------- per particle, score function

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("theta", [onp.zeros(20), THETA_BITS], ids=["theta0", "theta_spread"])
def test_bits_score_per_particle_baseline_zero(bits, theta, seed):
    """One particle, default baseline (a decaying average starting at 0): dJ/dtheta_j = C (z_j - p_j)."""
    assert bits.rewritten.site("z").estimator == "score"
    value, grads, trace = bits.grad({"theta": theta}, seed=seed, trace=True)
    (z,) = trace["z"]
    assert z.shape == (20,) and set(onp.unique(z)) <= {0, 1}
    p = expit(theta)
    C = onp.sum((z - T) ** 2)
    assert value == pytest.approx(C, abs=ATOL)
    onp.testing.assert_allclose(grads["theta"], C * (z - p), rtol=0, atol=ATOL)


@pytest.mark.parametrize("seed", [0, 1])
def test_bits_score_per_particle_element_rao_blackwell(bits_element, seed):
    """Per-element Rao-Blackwellization: dJ/dtheta_j = (z_j - 0.45)^2 (z_j - p_j)."""
    value, grads, trace = bits_element.grad({"theta": THETA_BITS}, seed=seed, trace=True)
    (z,) = trace["z"]
    p = expit(THETA_BITS)
    assert value == pytest.approx(onp.sum((z - T) ** 2), abs=ATOL)
    onp.testing.assert_allclose(grads["theta"], (z - T) ** 2 * (z - p), rtol=0, atol=ATOL)


@pytest.mark.parametrize("baseline", ["auto", "loo"])
def test_bits_score_per_particle_leave_one_out(bits, bits_element, baseline):
    """K >= 2 particles, leave-one-out baseline: the mean of (C_k - b_k)(z_k - p), where b_k is
    the mean of the other particles' costs (per statement, or per element)."""
    K = 5
    p = expit(THETA_BITS)
    value, grads, trace = bits.grad({"theta": THETA_BITS}, seed=11, particles=K, baseline=baseline, trace=True)
    z = trace["z"]
    assert z.shape == (K, 20)
    C = onp.sum((z - T) ** 2, axis=1)
    b = (C.sum() - C) / (K - 1)
    assert value == pytest.approx(C.mean(), abs=ATOL)
    onp.testing.assert_allclose(grads["theta"], onp.mean((C - b)[:, None] * (z - p), axis=0), rtol=0, atol=ATOL)

    _, grads, trace = bits_element.grad({"theta": THETA_BITS}, seed=11, particles=K, baseline=baseline, trace=True)
    z = trace["z"]
    C = (z - T) ** 2
    b = (C.sum(axis=0) - C) / (K - 1)
    onp.testing.assert_allclose(grads["theta"], onp.mean((C - b) * (z - p), axis=0), rtol=0, atol=ATOL)


def test_bits_baseline_none_with_particles(bits):
    K = 5
    _, grads, trace = bits.grad({"theta": THETA_BITS}, seed=11, particles=K, baseline="none", trace=True)
    z, p = trace["z"], expit(THETA_BITS)
    C = onp.sum((z - T) ** 2, axis=1)
    onp.testing.assert_allclose(grads["theta"], onp.mean(C[:, None] * (z - p), axis=0), rtol=0, atol=ATOL)


@pytest.mark.parametrize("mu, log_sigma", REPARAM_POINTS)
@pytest.mark.parametrize("seed", [0, 7])
def test_reparam_forced_score_per_particle(reparam_score, mu, log_sigma, seed):
    """Forced score function, one particle, baseline 0.

    The design's Rao-Blackwellization multiplies the score of y only by the cost terms y can
    influence: C = (y - 3)^2; the term exp(log_sigma) does not read y, so its gradient (sigma,
    w.r.t. log_sigma) is taken directly. Per particle:
      d/dmu        = C (y - mu) / sigma^2
      d/dlog_sigma = C ((y - mu)^2 / sigma^2 - 1) + sigma
    (the un-Rao-Blackwellized J(y) * d log N(y; mu, sigma) has the same expectation).
    """
    assert reparam_score.rewritten.site("y").estimator == "score"
    value, grads, trace = reparam_score.grad({"mu": mu, "log_sigma": log_sigma}, seed=seed, trace=True)
    (y,) = trace["y"]
    sigma = onp.exp(log_sigma)
    C = (y - 3) ** 2
    eps = (y - mu) / sigma
    assert value == pytest.approx(C + sigma, abs=ATOL)
    assert grads["mu"] == pytest.approx(C * eps / sigma, abs=ATOL)
    assert grads["log_sigma"] == pytest.approx(C * (eps ** 2 - 1) + sigma, abs=ATOL)


# ---------------------------------------------------------------- in expectation

@pytest.mark.parametrize("mu, log_sigma", [(0.5, -0.3), (-1.2, 0.4)])
def test_reparam_pathwise_unbiased(reparam, mu, log_sigma):
    sigma = onp.exp(log_sigma)
    stats = batch_stats(reparam, {"mu": mu, "log_sigma": log_sigma}, batches=100, particles=200)
    assert_within(*stats["mu"][:2], 2 * (mu - 3), "d/dmu")
    assert_within(*stats["log_sigma"][:2], 2 * sigma ** 2 + sigma, "d/dlog_sigma")


@pytest.mark.parametrize("mu, log_sigma", [(0.5, -0.3), (-1.2, 0.4)])
def test_reparam_forced_score_unbiased(reparam_score, mu, log_sigma):
    sigma = onp.exp(log_sigma)
    stats = batch_stats(reparam_score, {"mu": mu, "log_sigma": log_sigma}, batches=100, particles=1000,
                        baseline="none")
    assert_within(*stats["mu"][:2], 2 * (mu - 3), "d/dmu (score)")
    assert_within(*stats["log_sigma"][:2], 2 * sigma ** 2 + sigma, "d/dlog_sigma (score)")


def test_reparam_pathwise_beats_score(reparam, reparam_score):
    """Same point, same budget: the pathwise estimator's batch means spread less than the score's."""
    p = {"mu": 0.5, "log_sigma": -0.3}
    path = batch_stats(reparam, p, batches=100, particles=100)
    score = batch_stats(reparam_score, p, batches=100, particles=100, baseline="none")
    for k in p:
        # F(99, 99) exceeds 2 with probability < 0.001 when the variances are equal
        assert score[k][1] ** 2 > 2 * path[k][1] ** 2, k


def bits_exact(theta):
    p = expit(theta)
    return p * (1 - p) * (1 - 2 * T)


@pytest.mark.parametrize("which", ["bits", "bits_element"])
def test_bits_score_unbiased_baseline_zero(request, which):
    model = request.getfixturevalue(which)
    stats = batch_stats(model, {"theta": THETA_BITS}, batches=100, particles=10_000, baseline="none")
    mean, se, _ = stats["theta"]
    assert_within(mean, se, bits_exact(THETA_BITS), f"{which}, baseline none")
    # enough draws to tell the answer from its negation: the exact gradient is > 4 standard errors from 0
    assert onp.all(bits_exact(THETA_BITS) > Z * se)


@pytest.mark.parametrize("which", ["bits", "bits_element"])
def test_bits_leave_one_out_unbiased_and_lower_variance(request, which):
    model = request.getfixturevalue(which)
    loo = batch_stats(model, {"theta": THETA_BITS}, batches=100, particles=100)            # auto: LOO
    none = batch_stats(model, {"theta": THETA_BITS}, batches=100, particles=100, baseline="none", seed0=1000)
    mean, se, _ = loo["theta"]
    assert_within(mean, se, bits_exact(THETA_BITS), f"{which}, leave-one-out")
    var_loo, var_none = loo["theta"][1] ** 2, none["theta"][1] ** 2
    # per coordinate: F(99, 99) > 2 has probability < 0.001 under equal variances
    assert onp.all(var_none > 2 * var_loo), var_none / var_loo


def test_element_rao_blackwell_lowers_variance(bits, bits_element):
    """Dropping the other bits' terms from bit j's multiplier removes noise, not signal."""
    stmt = batch_stats(bits, {"theta": THETA_BITS}, batches=100, particles=100, baseline="none")
    elem = batch_stats(bits_element, {"theta": THETA_BITS}, batches=100, particles=100, baseline="none", seed0=1000)
    assert onp.all(stmt["theta"][1] ** 2 > 2 * elem["theta"][1] ** 2)


@pytest.mark.parametrize("theta", [onp.zeros(20), THETA_BITS], ids=["theta0", "theta_spread"])
def test_bits_auto_is_exact(bits_auto, theta):
    """By default the bits are independent and enter the objective elementwise, so they are summed
    out exactly: every call returns E[J] and its exact gradient, whatever the seed."""
    assert bits_auto.rewritten.site("z").estimator == "enumerate"
    p = expit(theta)
    exact_value = onp.sum(p * (1 - T) ** 2 + (1 - p) * T ** 2)
    for seed in (0, 1):
        value, grads = bits_auto.grad({"theta": theta}, seed=seed)
        assert value == pytest.approx(exact_value, abs=ATOL)
        onp.testing.assert_allclose(grads["theta"], bits_exact(theta), rtol=0, atol=ATOL)


# ---------------------------------------------------------------- VI with a discrete latent

VI_DISCRETE = "data y: real\nz ~ Bernoulli(0.3)\ny ~ Normal(2 * z, 1)"
Y_OBS = 1.5


def exact_elbo(logit):
    """ELBO(l) = sum_z q(z) [log p(z) + log p(y | z) - log q(z)], q = Bernoulli(sigmoid(l))."""
    q1 = expit(logit)
    a = {z: onp.log([0.7, 0.3][z]) + norm.logpdf(Y_OBS, 2 * z, 1) for z in (0, 1)}
    return q1 * (a[1] - onp.log(q1)) + (1 - q1) * (a[0] - onp.log1p(-q1))


def exact_elbo_grad(logit):
    q1 = expit(logit)
    a1 = onp.log(0.3) + norm.logpdf(Y_OBS, 2, 1)
    a0 = onp.log(0.7) + norm.logpdf(Y_OBS, 0, 1)
    return q1 * (1 - q1) * (a1 - a0 - logit)


def test_exact_elbo_grad_formula():
    # the hand derivative agrees with central finite differences of the enumerated ELBO
    for l in (-1.0, 0.0, 0.7):
        h = 1e-5
        fd = (exact_elbo(l + h) - exact_elbo(l - h)) / (2 * h)
        assert exact_elbo_grad(l) == pytest.approx(fd, abs=1e-8)


@pytest.fixture(scope="module")
def vi_discrete():
    """The score function forced, so that z has a Bernoulli(logits=z.logits) guide."""
    return ppl.compile(VI_DISCRETE, estimator="score")


def log_evidence():
    a = [onp.log([0.7, 0.3][z]) + norm.logpdf(Y_OBS, 2 * z, 1) for z in (0, 1)]
    return onp.logaddexp(*a)


def test_vi_discrete_auto_sums_z_out():
    """By default z is summed out: no guide for it, and the objective is log p(y) itself."""
    model = ppl.compile(VI_DISCRETE)
    assert model.rewritten.site("z").estimator == "enumerate"
    for seed in (0, 1):
        value, grads = model.grad(data={"y": Y_OBS}, seed=seed)
        assert grads == {}
        assert value == pytest.approx(log_evidence(), abs=ATOL)
    # the ELBO with the optimal guide q(z) = p(z | y) is the same number
    l_opt = onp.log(0.3 / 0.7) + norm.logpdf(Y_OBS, 2, 1) - norm.logpdf(Y_OBS, 0, 1)
    assert exact_elbo(l_opt) == pytest.approx(log_evidence(), abs=1e-12)
    assert exact_elbo_grad(l_opt) == pytest.approx(0, abs=1e-12)


def test_vi_discrete_per_particle(vi_discrete):
    """One particle, baseline 0: value = log p(z) + log p(y|z) - log q(z) =: f, and the gradient
    w.r.t. the logit l is f (z - q1) + d/dl[-log q(z)] = (f - 1)(z - q1)."""
    for l, seed in [(-1.0, 0), (0.7, 1), (0.7, 2), (2.0, 3)]:
        value, grads, trace = vi_discrete.grad({"z.logits": l}, data={"y": Y_OBS}, seed=seed, trace=True)
        (z,) = trace["z"]
        q1 = expit(l)
        f = onp.log([0.7, 0.3][z]) + norm.logpdf(Y_OBS, 2 * z, 1) - onp.log([1 - q1, q1][z])
        assert value == pytest.approx(f, abs=ATOL)
        assert grads["z.logits"] == pytest.approx((f - 1) * (z - q1), abs=ATOL)


def vi_per_particle(logit):
    """Per z in {0, 1}: q(z), the one-particle ELBO estimate f(z) and the gradient estimate
    (f(z) - 1)(z - q1) (baseline 0)."""
    q1 = expit(logit)
    q = onp.array([1 - q1, q1])
    f = onp.array([onp.log([0.7, 0.3][z]) + norm.logpdf(Y_OBS, 2 * z, 1) - onp.log(q[z]) for z in (0, 1)])
    g = (f - 1) * (onp.array([0, 1]) - q1)
    return q, f, g


def enumerated_se(q, values, K):
    mean = onp.sum(q * values)
    return onp.sqrt((onp.sum(q * values ** 2) - mean ** 2) / K)


def test_vi_discrete_mode_and_guide_init(vi_discrete):
    assert vi_discrete.mode == "vi"
    assert vi_discrete.rewritten.site("z").estimator == "score"
    # params=None: the guide's logit starts at the prior's, logit(0.3)
    l0, K = onp.log(0.3 / 0.7), 20_000
    _, grads = vi_discrete.grad(data={"y": Y_OBS}, particles=K, seed=0, baseline="none")
    assert set(grads) == {"z.logits"}
    q, _, g = vi_per_particle(l0)
    assert onp.sum(q * g) == pytest.approx(exact_elbo_grad(l0), abs=1e-12)
    assert abs(float(grads["z.logits"]) - exact_elbo_grad(l0)) < Z * enumerated_se(q, g, K)


@pytest.mark.parametrize("logit, baseline", [(-1.0, "none"), (0.7, "none"), (0.7, "auto")])
def test_vi_discrete_elbo_gradient_unbiased(vi_discrete, logit, baseline):
    stats = batch_stats(vi_discrete, {"z.logits": logit}, data={"y": Y_OBS}, batches=100, particles=1000,
                        baseline=baseline)
    mean, se, _ = stats["z.logits"]
    assert_within(mean, se, exact_elbo_grad(logit), f"ELBO gradient at logit {logit}")


def test_vi_discrete_value_is_elbo(vi_discrete):
    K = 100_000
    value, _ = vi_discrete.grad({"z.logits": 0.7}, data={"y": Y_OBS}, particles=K, seed=4)
    q, f, _ = vi_per_particle(0.7)
    assert onp.sum(q * f) == pytest.approx(exact_elbo(0.7), abs=1e-12)
    assert abs(value - exact_elbo(0.7)) < Z * enumerated_se(q, f, K)
