"""Gradient estimates checked particle by particle against hand-derived formulas, and in
expectation against exact gradients.

Per-particle checks use `trace=True` to read the drawn values and recompute the estimator by hand
(to 1e-8). Expectation checks average >= 10,000 estimates, taken as batches of particles in one
`model.grad` call each, and allow 4 standard errors estimated from the spread of the batch means.
"""
import itertools

import numpy as onp
import pytest
from scipy.special import expit, logsumexp
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


@pytest.mark.parametrize("which, particles", [("bits", 10_000), ("bits_element", 2_000)])
def test_bits_score_unbiased_baseline_zero(request, which, particles):
    """(Per-element Rao-Blackwellization has far less variance, so fewer draws resolve it.)"""
    model = request.getfixturevalue(which)
    stats = batch_stats(model, {"theta": THETA_BITS}, batches=100, particles=particles, baseline="none")
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
    w.r.t. the logit l is f (z - q1): log q(z) enters only through the score term (its direct
    gradient, -(z - q1), averages to zero and is left out, as Pyro does)."""
    for l, seed in [(-1.0, 0), (0.7, 1), (0.7, 2), (2.0, 3)]:
        value, grads, trace = vi_discrete.grad({"z.logits": l}, data={"y": Y_OBS}, seed=seed, trace=True)
        (z,) = trace["z"]
        q1 = expit(l)
        f = onp.log([0.7, 0.3][z]) + norm.logpdf(Y_OBS, 2 * z, 1) - onp.log([1 - q1, q1][z])
        assert value == pytest.approx(f, abs=ATOL)
        assert grads["z.logits"] == pytest.approx(f * (z - q1), abs=ATOL)


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


# ---------------------------------------------------------------- VI with a continuous latent

NORMAL_NORMAL = "data N: int\ndata y: real[N]\nmu ~ Normal(0, 2)\ny ~ Normal(mu, 1)"
Y3 = onp.array([0.5, 1.2, -0.3])
DATA3 = {"N": 3, "y": Y3.tolist()}


@pytest.fixture(scope="module")
def normal_normal():
    return ppl.compile(NORMAL_NORMAL)


@pytest.mark.parametrize("m, s", [(0.4, 0.7), (-1.0, 1.5)])
@pytest.mark.parametrize("seed", [0, 3])
def test_vi_pathwise_per_particle(normal_normal, m, s, seed):
    """Guide Normal(m, s), mu = m + s eps. Per particle, with f = log p(y|mu) + log p(mu) - log q(mu):
    d/dm = sum(y - mu) - mu/4 and, w.r.t. the constrained scale s (not log s),
    d/ds = eps (sum(y - mu) - mu/4) + 1/s (log q(mu) = -log s - eps^2/2 + const)."""
    value, grads, trace = normal_normal.grad({"mu.loc": m, "mu.scale": s}, data=DATA3, seed=seed, trace=True)
    (mu,) = trace["mu"]
    eps = (mu - m) / s
    f = norm.logpdf(Y3, mu, 1).sum() + norm.logpdf(mu, 0, 2) - norm.logpdf(mu, m, s)
    assert set(grads) == {"mu.loc", "mu.scale"}
    assert value == pytest.approx(f, abs=ATOL)
    dmu = onp.sum(Y3 - mu) - mu / 4
    assert grads["mu.loc"] == pytest.approx(dmu, abs=ATOL)
    assert grads["mu.scale"] == pytest.approx(eps * dmu + 1 / s, abs=ATOL)


def test_vi_pathwise_unbiased(normal_normal):
    """Exact: ELBO(m, s) = -sum((y - m)^2)/2 - N s^2/2 - (m^2 + s^2)/8 + log s + const, so
    d/dm = sum(y) - (N + 1/4) m and d/ds = -(N + 1/4) s + 1/s."""
    m, s = 0.4, 0.7
    stats = batch_stats(normal_normal, {"mu.loc": m, "mu.scale": s}, data=DATA3, batches=100, particles=200)
    assert_within(*stats["mu.loc"][:2], Y3.sum() - 3.25 * m, "d/dm")
    assert_within(*stats["mu.scale"][:2], -3.25 * s + 1 / s, "d/ds")


# ---------------------------------------------------------------- discrete sites against brute force
#
# Three bits z ~ Bernoulli(sigmoid(theta)) and many objectives J(z): E[J] by summing over all 8
# outcomes, its gradient by central differences of that sum. Elementwise objectives are summed out
# exactly (enumerate) and must match to 1e-8 on every call; the others use the score function
# (Rao-Blackwellized per element or per statement, as the objective allows) and must match in
# expectation within 4 standard errors. Forcing the score function must be unbiased for all of them.

THETA3 = onp.array([-0.7, 0.3, 1.1])
W3 = onp.array([1.0, -2.0, 0.5])
OBJECTIVES = {
    "sum((z - 0.45)^2)": lambda z: onp.sum((z - 0.45) ** 2),
    "mean(z * w)": lambda z: onp.mean(z * W3),
    "sum(z * w) + sum(z^2)": lambda z: onp.sum(z * W3) + onp.sum(z ** 2),
    "-sum(z * w)": lambda z: -onp.sum(z * W3),
    "sum(z * ones(2, 3))": lambda z: 2 * onp.sum(z),
    "sum(exp(z) * w) - sum(z)": lambda z: onp.sum(onp.exp(z) * W3) - onp.sum(z),
    "sum(w[z] * w)": lambda z: onp.sum(W3[z] * W3),
    "sum(z)^2": lambda z: onp.sum(z) ** 2,
    "sum((z - mean(z))^2)": lambda z: onp.sum((z - z.mean()) ** 2),
    "2 * sum(z * w)": lambda z: 2 * onp.sum(z * W3),
    "sum(z[0:2])": lambda z: onp.sum(z[0:2]),
    "sum(z[[2, 0, 1]] * w)": lambda z: onp.sum(z[[2, 0, 1]] * W3),
    "z[0] * z[1] + z[2]": lambda z: z[0] * z[1] + z[2],
    "dot(z, w)": lambda z: z @ W3,
    "logsumexp(z * w)": lambda z: onp.log(onp.sum(onp.exp(z * W3))),
    "sum(softmax(z * w) * w)": lambda z: onp.sum(onp.exp(z * W3) / onp.exp(z * W3).sum() * W3),
    "sum(z * w) * sum(z)": lambda z: onp.sum(z * W3) * onp.sum(z),
}


def brute_force(J, theta):
    def expectation(th):
        p = expit(th)
        total = 0.0
        for bits_ in itertools.product([0, 1], repeat=len(th)):
            z = onp.array(bits_)
            total += onp.prod(onp.where(z == 1, p, 1 - p)) * J(z)
        return total
    h = 1e-6
    grad = onp.array([(expectation(theta + h * e) - expectation(theta - h * e)) / (2 * h) for e in onp.eye(len(theta))])
    return expectation(theta), grad


def check_against(model, params, data, exact_value, exact_grad, name):
    """Exact sites: every call matches. Otherwise: 40 calls of 500 particles, 4 standard errors."""
    kinds = {s.estimator for s in model.rewritten.sites}
    if kinds == {"enumerate"}:
        for seed in (0, 1):
            value, grads = model.grad(params, data=data, seed=seed)
            assert value == pytest.approx(exact_value, abs=ATOL)
            onp.testing.assert_allclose(onp.atleast_1d(grads[name]), exact_grad, rtol=0, atol=ATOL)
        return
    values, grads = [], []
    for seed in range(40):
        v, g = model.grad(params, data=data, seed=seed, particles=500)
        values.append(v)
        grads.append(onp.atleast_1d(g[name]))
    values, grads = onp.array(values), onp.array(grads)
    assert_within(values.mean(), values.std(ddof=1) / onp.sqrt(40), exact_value, "value")
    assert_within(grads.mean(axis=0), grads.std(axis=0, ddof=1) / onp.sqrt(40), exact_grad, "gradient")


@pytest.mark.parametrize("estimator", ["auto", "score"])
@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_bits_objectives_against_brute_force(objective, estimator):
    model = ppl.compile(f"data w: real[3]\nparam theta: real[3] = 0\nz ~ Bernoulli(sigmoid(theta))\nminimize {objective}",
                        estimator=estimator)
    site = model.rewritten.site("z")
    if estimator == "score":
        assert site.estimator == "score"
    value, grad = brute_force(OBJECTIVES[objective], THETA3)
    check_against(model, {"theta": THETA3}, {"w": W3.tolist()}, value, grad, "theta")


def test_elementwise_objectives_are_enumerated():
    """Which objectives the compiler may sum out: those whose terms keep the bits apart."""
    enumerated = {o for o in OBJECTIVES
                  if ppl.compile(f"data w: real[3]\nparam theta: real[3] = 0\nz ~ Bernoulli(sigmoid(theta))\n"
                                 f"minimize {o}").rewritten.site("z").estimator == "enumerate"}
    assert enumerated == {"sum((z - 0.45)^2)", "mean(z * w)", "sum(z * w) + sum(z^2)", "-sum(z * w)",
                          "sum(z * ones(2, 3))", "sum(exp(z) * w) - sum(z)", "sum(w[z] * w)"}


@pytest.mark.parametrize("estimator", ["auto", "score"])
def test_categorical_against_brute_force(estimator):
    theta = onp.array([0.3, -0.5, 1.0])

    def expectation(th):
        p = onp.exp(th - logsumexp(th))
        return onp.sum(p * (W3 - 0.3) ** 2)
    h = 1e-6
    grad = onp.array([(expectation(theta + h * e) - expectation(theta - h * e)) / (2 * h) for e in onp.eye(3)])
    model = ppl.compile("data w: real[3]\nparam th: real[3] = 0\nk ~ Categorical(softmax(th))\nminimize (w[k] - 0.3)^2",
                        estimator=estimator)
    check_against(model, {"th": theta}, {"w": W3.tolist()}, expectation(theta), grad, "th")


# ---------------------------------------------------------------- enumerated and sampled sites together

CHAIN = "param a: real = 0\nz1 ~ Bernoulli(0.5)\nz2 ~ Bernoulli(0.2 + 0.5 * z1)\nminimize z2 + a^2"


def test_chain_single_particle():
    """z1 is drawn (z2's distribution depends on it), z2 is summed out: the value of one particle
    is E[z2 | z1] + a^2 = 0.2 + 0.5 z1 + a^2."""
    model = ppl.compile(CHAIN)
    assert model.rewritten.site("z1").estimator == "score"
    assert model.rewritten.site("z2").estimator == "enumerate"
    for seed in range(4):
        value, grads, trace = model.grad({"a": 0.3}, seed=seed, trace=True)
        (z1,) = trace["z1"]
        assert value == pytest.approx(0.2 + 0.5 * z1 + 0.09, abs=ATOL)
        assert grads["a"] == pytest.approx(0.6, abs=ATOL)


def test_chain_particles_average():
    model = ppl.compile(CHAIN)
    K = 4
    for seed in range(3):
        value, _, trace = model.grad({"a": 0.3}, seed=seed, particles=K, trace=True)
        z1 = trace["z1"]
        assert z1.shape == (K,)
        assert value == pytest.approx(onp.mean(0.2 + 0.5 * z1) + 0.09, abs=ATOL)


SIBLINGS = "param t: real[2] = 0\nu ~ Bernoulli(0.2)\nv ~ Bernoulli(sigmoid(t))\nminimize sum((u - v)^2)"


def test_enumerated_sibling_value():
    """u is summed out, v (which shares u's cost) is drawn: per particle the value is
    sum_j E_u[(u - v_j)^2] = sum_j (0.2 + 0.6 v_j)."""
    model = ppl.compile(SIBLINGS)
    assert model.rewritten.site("u").estimator == "enumerate"
    assert model.rewritten.site("v").estimator == "score"
    value, _, trace = model.grad({"t": [0.7, -0.4]}, seed=2, particles=3, trace=True)
    assert value == pytest.approx(onp.mean(onp.sum(0.2 + 0.6 * trace["v"], axis=1)), abs=ATOL)


def test_enumerated_sibling_score_per_particle():
    model = ppl.compile(SIBLINGS)
    t = onp.array([0.7, -0.4])
    p = expit(t)
    for seed in range(3):
        _, grads, trace = model.grad({"t": t}, seed=seed, trace=True)
        (v,) = trace["v"]
        onp.testing.assert_allclose(grads["t"], (0.2 + 0.6 * v) * (v - p), rtol=0, atol=ATOL)


def test_enumerated_sibling_unbiased():
    model = ppl.compile(SIBLINGS)
    t = onp.array([0.7, -0.4])
    p = expit(t)
    stats = batch_stats(model, {"t": t}, batches=50, particles=1000, baseline="none")
    assert_within(*stats["t"][:2], 0.6 * p * (1 - p), "d/dt E[sum((u - v)^2)]")


def test_enumerated_sibling_unbiased_with_statement_rao_blackwell():
    model = ppl.compile(SIBLINGS, rao_blackwell="statement")
    t = onp.array([0.7, -0.4])
    p = expit(t)
    stats = batch_stats(model, {"t": t}, batches=50, particles=1000, baseline="none")
    assert_within(*stats["t"][:2], 0.6 * p * (1 - p), "d/dt E[sum((u - v)^2)]")


# A discrete latent summed out under a drawn continuous parent: per particle, the ELBO estimate is
# log sum_z p(z | mu) p(y | z) + log p(mu) - log q(mu), at the particle's mu.
HIER = "data y: real\nmu ~ Normal(0, 1)\nz ~ Bernoulli(sigmoid(mu))\ny ~ Normal(2 * z, 1)"


def hier_per_particle(mu, loc, scale):
    p = expit(mu)
    return (onp.logaddexp(onp.log1p(-p) + norm.logpdf(Y_OBS, 0, 1), onp.log(p) + norm.logpdf(Y_OBS, 2, 1))
            + norm.logpdf(mu, 0, 1) - norm.logpdf(mu, loc, scale))


def test_enumerated_under_continuous_parent_single_particle():
    model = ppl.compile(HIER)
    assert model.rewritten.site("z").estimator == "enumerate"
    for seed in range(3):
        value, _, trace = model.grad({"mu.loc": 0.2, "mu.scale": 0.5}, data={"y": Y_OBS}, seed=seed, trace=True)
        assert value == pytest.approx(hier_per_particle(trace["mu"][0], 0.2, 0.5), abs=ATOL)


def test_enumerated_under_continuous_parent_particles_average():
    model = ppl.compile(HIER)
    value, _, trace = model.grad({"mu.loc": 0.2, "mu.scale": 0.5}, data={"y": Y_OBS}, seed=1, particles=4, trace=True)
    assert trace["mu"].shape == (4,)
    assert value == pytest.approx(onp.mean(hier_per_particle(trace["mu"], 0.2, 0.5)), abs=ATOL)


# In inference mode: z1 is summed out, z2 (whose prior depends on z1) has a Bernoulli guide and the
# score function. ELBO(l) = E_q(z2)[log p(z2, y) - log q(z2)], log p(z2, y) = log sum_z1 p(z1, z2, y).
VI_CHAIN = "data y: real\nz1 ~ Bernoulli(0.3)\nz2 ~ Bernoulli(0.2 + 0.5 * z1)\ny ~ Normal(z1 + 2 * z2, 1)"


def vi_chain_log_joint(z2):
    """log p(z2, y) = log sum_z1 p(z1) p(z2 | z1) p(y | z1, z2)."""
    return logsumexp([onp.log([0.7, 0.3][z1]) + onp.log([0.8 - 0.5 * z1, 0.2 + 0.5 * z1][z2])
                      + norm.logpdf(Y_OBS, z1 + 2 * z2, 1) for z1 in (0, 1)])


def vi_chain_elbo(logit):
    q1 = expit(logit)
    return q1 * (vi_chain_log_joint(1) - onp.log(q1)) + (1 - q1) * (vi_chain_log_joint(0) - onp.log1p(-q1))


def vi_chain_per_particle(logit):
    """Per z2 in {0, 1}: q(z2) and the one-particle ELBO estimate log p(z2, y) - log q(z2)."""
    q = onp.array([1 - expit(logit), expit(logit)])
    return q, onp.array([vi_chain_log_joint(z2) for z2 in (0, 1)]) - onp.log(q)


def test_vi_chain_single_particle_value():
    model = ppl.compile(VI_CHAIN)
    assert model.rewritten.site("z1").estimator == "enumerate"
    assert model.rewritten.site("z2").estimator == "score"
    q, f = vi_chain_per_particle(0.4)
    for seed in range(3):
        value, _, trace = model.grad({"z2.logits": 0.4}, data={"y": Y_OBS}, seed=seed, trace=True)
        (z2,) = trace["z2"]
        assert value == pytest.approx(f[z2], abs=1e-6)


def test_vi_chain_particles_average():
    model = ppl.compile(VI_CHAIN)
    q, f = vi_chain_per_particle(0.4)
    value, _, trace = model.grad({"z2.logits": 0.4}, data={"y": Y_OBS}, seed=0, particles=4, trace=True)
    assert value == pytest.approx(onp.mean(f[trace["z2"]]), abs=1e-6)


def test_vi_chain_gradient_unbiased():
    model = ppl.compile(VI_CHAIN)
    l, h = 0.4, 1e-6
    exact = (vi_chain_elbo(l + h) - vi_chain_elbo(l - h)) / (2 * h)
    g = onp.array([model.grad({"z2.logits": l}, data={"y": Y_OBS}, seed=s, baseline="none")[1]["z2.logits"]
                   for s in range(500)])
    assert_within(g.mean(), g.std(ddof=1) / onp.sqrt(len(g)), exact, "d ELBO / d z2.logits")


def test_two_discrete_latents_sharing_an_observation_compile():
    model = ppl.compile("data y: real\nz1 ~ Bernoulli(0.3)\nz2 ~ Bernoulli(0.4)\ny ~ Normal(z1 + 2 * z2, 1)")
    assert {s.name: s.estimator for s in model.rewritten.sites}["z1"] == "enumerate"
