"""Score-function gradients done right: unbiased under every option, exact by enumeration,
per-element Rao-Blackwellization, and the mixture model fitted through enumeration."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

import ppl

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"

# The mixture with point-estimated means: every gradient but the assignments' is then exact, so
# "expect" (the ELBO's expectation over each z_i computed by enumeration) is the exact gradient.
MIXTURE = """
data N: int
data x: real[N]
data K: int = 3
param mu: real[K] = 0
z: int[N] ~ Categorical(ones(K) / K)
x ~ Normal(mu[z], 1)
"""
MIX_DATA = {"N": 5, "x": [-2.0, -1.5, 0.3, 2.2, 2.9]}
MIX_PARAMS = {"mu": np.array([-1.0, 0.5, 2.0]),
              "z.logits": np.random.default_rng(1).normal(size=(5, 3))}

# A discrete latent with a downstream cost it cannot influence: (w - 2)^2.
IRRELEVANT = """
param theta: real[3] = 0
param m: real = 0
z ~ Bernoulli(sigmoid(theta))
w ~ Normal(m, 1)
minimize sum((z - 0.3)^2) + (w - 2)^2
"""
IRR_PARAMS = {"theta": np.array([-0.5, 0.2, 1.0]), "m": 0.5}

# (Rao-Blackwellization, baseline, particles per estimate). With no baseline, estimates of one
# particle are drawn 100 at a time (their batch means give the standard error): the same estimator.
# gradcheck carries the baseline's running state from draw to draw as a fit does, so "average" and
# "auto" (leave-one-out shrunk towards the average after its warm-up) are checked as fitted.
OPTIONS = [(rb, baseline, k) for rb in ("element", "statement", "none")
           for baseline, k in (("none", 1), ("loo", 4), ("average", 4), ("auto", 4))]


def _check(model, params, data, baseline, particles, seed):
    batch = 100 if baseline == "none" and particles == 1 else particles
    return model.gradcheck(params, data, draws=10_000 // batch, particles=batch, baseline=baseline, seed=seed)


def _exact(source, params, data):
    return ppl.compile(source, estimator={"z": "expect"}).grad(params, data)[1]


@pytest.mark.slow
@pytest.mark.parametrize("rb, baseline, particles", OPTIONS)
def test_mixture_score_gradient_unbiased_under_every_option(rb, baseline, particles):
    exact = _exact(MIXTURE, MIX_PARAMS, MIX_DATA)
    model = ppl.compile(MIXTURE, estimator={"z": "score"}, rao_blackwell=rb)
    check = _check(model, MIX_PARAMS, MIX_DATA, baseline, particles, seed=3)
    for name in ("mu", "z.logits"):
        z = (check[name]["mean"] - exact[name]) / check[name]["stderr"]
        assert np.all(np.abs(z) < 4), (name, z)


@pytest.mark.slow
@pytest.mark.parametrize("rb, baseline, particles", OPTIONS)
def test_irrelevant_downstream_cost_unbiased_under_every_option(rb, baseline, particles):
    p = 1 / (1 + np.exp(-IRR_PARAMS["theta"]))
    exact = {"theta": p * (1 - p) * (0.7 ** 2 - 0.3 ** 2), "m": 2 * (IRR_PARAMS["m"] - 2)}   # by hand
    np.testing.assert_allclose(_exact(IRRELEVANT, IRR_PARAMS, None)["theta"], exact["theta"])
    model = ppl.compile(IRRELEVANT, estimator={"z": "score"}, rao_blackwell=rb)
    check = _check(model, IRR_PARAMS, None, baseline, particles, seed=4)
    for name in ("theta", "m"):
        z = (check[name]["mean"] - exact[name]) / check[name]["stderr"]
        assert np.all(np.abs(z) < 4), (name, z)


@pytest.mark.slow
def test_rao_blackwellization_leaves_out_the_irrelevant_cost():
    """Statement level already drops (w - 2)^2 from z's score; with no Rao-Blackwellization
    its noise enters, and per element each bit sees only its own term."""
    def variance(rb):
        model = ppl.compile(IRRELEVANT, estimator={"z": "score"}, rao_blackwell=rb)
        return model.gradcheck(IRR_PARAMS, draws=2000, baseline="none", seed=5)["theta"]["stderr"] ** 2
    none, statement, element = variance("none"), variance("statement"), variance("element")
    assert np.all(statement < none) and np.all(element < statement)


def test_exact_enumeration_has_no_variance_and_matches_finite_differences():
    model = ppl.compile(MIXTURE, estimator={"z": "expect"})
    grads = [model.grad(MIX_PARAMS, MIX_DATA, seed=s)[1]["z.logits"] for s in range(5)]
    assert all(np.array_equal(g, grads[0]) for g in grads)
    x, mu, logits = np.array(MIX_DATA["x"]), MIX_PARAMS["mu"], MIX_PARAMS["z.logits"]

    def elbo(logits):
        q = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        log_joint = np.log(1 / 3) - 0.5 * (x[:, None] - mu) ** 2 - 0.5 * np.log(2 * np.pi)
        return np.sum(q * (log_joint - np.log(q)))
    h, fd = 1e-6, np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        step = np.zeros_like(logits)
        step[index] = h
        fd[index] = (elbo(logits + step) - elbo(logits - step)) / (2 * h)
    np.testing.assert_allclose(grads[0], fd, atol=1e-6)


def test_summed_out_assignments_give_the_exact_marginal_likelihood():
    model = ppl.compile(MIXTURE)                         # auto: z is summed out of the model
    assert model.rewritten.site("z").estimator == "enumerate"
    value, grads = model.grad({"mu": MIX_PARAMS["mu"]}, MIX_DATA)
    assert set(grads) == {"mu"}                           # no assignment parameters left

    def loglik(mu):
        x = np.array(MIX_DATA["x"])
        return logsumexp(np.log(1 / 3) - 0.5 * (x[:, None] - mu) ** 2 - 0.5 * np.log(2 * np.pi), axis=1).sum()
    assert value == pytest.approx(loglik(MIX_PARAMS["mu"]), rel=1e-12)
    h = 1e-6
    fd = [(loglik(MIX_PARAMS["mu"] + h * e) - loglik(MIX_PARAMS["mu"] - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(grads["mu"], fd, rtol=1e-6)


def _em_means(x, start):
    mu = np.array(start, dtype=float)
    for _ in range(1000):
        lp = -0.5 * (x[:, None] - mu) ** 2
        r = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
        mu = (r * x[:, None]).sum(0) / r.sum(0)
    return np.sort(mu)


def test_mixture_default_fit_recovers_true_means_and_matches_em():
    fit = ppl.load(MODELS / "mixture.ppl").fit(seed=0)
    assert fit.estimators["z"] == "enumerate"
    means = np.sort(fit.latents["mu"]["mean"])
    np.testing.assert_allclose(means, [-6.0, 0.0, 5.0], atol=0.2)     # the generating centres
    x = np.array(json.loads((MODELS / "mixture.data.json").read_text())["x"])
    np.testing.assert_allclose(means, _em_means(x, [-1.0, 0.0, 1.0]), atol=0.05)
    probs = fit.enumerated["z"]                                       # exact conditionals
    assert probs.shape == (len(x), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_explain_shows_granularity_and_json_records_it(tmp_path):
    model = ppl.compile(IRRELEVANT, estimator={"z": "score"})
    line = next(l for l in model.explain().splitlines() if l.startswith("z"))
    assert "per element" in line and "(w - 2)" not in line
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(MODELS / "bits.ppl"), "--estimator", "score",
                          "--particles", "4", "--steps", "50", "--quiet", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    z = json.loads(out.read_text())["statements"]["z"]
    assert z["estimator"] == "score" and z["baseline"] == "loo+average"
    assert z["costs"] == {"sum((z - 0.45) ^ 2)": "element"}


def test_gradcheck_command_reports_exact_gradient():
    run = subprocess.run([sys.executable, "-m", "ppl.cli", "gradcheck", str(MODELS / "bits.ppl"),
                          "--estimator", "score", "--draws", "400", "--particles", "4"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    rows = [l.split() for l in run.stdout.splitlines() if l.startswith("theta[")]
    assert len(rows) == 12                                   # the table shows the first 12
    exact = [float(r[3]) for r in rows]
    np.testing.assert_allclose(exact, 0.25 * 0.1)            # p(1 - p)(1 - 2t) at theta = 0
    assert all(abs(float(r[4])) < 4 for r in rows)


@pytest.mark.slow
def test_fit_warns_when_a_score_gradient_stays_at_noise_level():
    def stderr(*options):
        run = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(MODELS / "mixture.ppl"), "--steps", "300",
                              "--quiet", "--estimator", "z=score", *options], capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == 0, run.stderr
        return [line for line in run.stderr.splitlines() if line.startswith("warning: the gradient")]
    warned = stderr("--rao-blackwell", "none")
    assert len(warned) == 1 and warned[0].startswith("warning: the gradient of 'z.logits' (score function)")
    assert "--particles" in warned[0] and "enumeration" in warned[0]
    assert stderr() == []                                     # per element, the signal is clear
