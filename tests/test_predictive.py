"""Predictive draws: `ppl sample` (prior) and `ppl sample --fit` (posterior), and their API twins
`Model.sample` and `Fit.predictive`, with the same numbers for the same seed."""
import csv

import numpy as onp
import pytest

import ppl
from conftest import MODELS, read_json

EIGHT = MODELS / "eight_schools.ppl"
Y = onp.array([28, 8, -3, 7, -1, 1, 18, 12])


@pytest.fixture(scope="module")
def eight_fit(module_cli):
    out = module_cli.cwd / "eight.json"
    r = module_cli("fit", EIGHT, "--steps", 1500, "--quiet", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def sampled(module_cli, eight_fit):
    d = module_cli.cwd
    prior, post = module_cli.many([
        ("sample", EIGHT, "-n", 300, "--seed", 4, "--draws", d / "prior.csv"),
        ("sample", EIGHT, "--fit", eight_fit, "-n", 300, "--seed", 5, "--draws", d / "post.csv")])
    assert prior.returncode == 0, prior.stderr
    assert post.returncode == 0, post.stderr
    return {"prior": prior, "post": post, "dir": d}


def read_draws(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], onp.array(rows[1:], dtype=float)


def test_posterior_predictive_eight_schools(eight_fit):
    """y drawn given the guide's draws: the shape of y, and a mean within 3 standard errors of the
    fitted theta means (the error of both Monte Carlo means counted)."""
    result = read_json(eight_fit)
    fit = ppl.load(EIGHT).restore(eight_fit)
    n = 4000
    draws = fit.predictive(n, seed=1)
    assert draws["y"].shape == (n,) + Y.shape
    assert set(draws) == {"mu", "tau", "theta_raw", "theta", "y"}
    theta = result["latents"]["theta"]
    se = onp.sqrt(draws["y"].var(axis=0, ddof=1) / n + onp.square(theta["sd"]) / 1000)
    z = (draws["y"].mean(axis=0) - onp.asarray(theta["mean"])) / se
    assert onp.all(onp.abs(z) < 3), z
    # y is drawn around each draw's own theta, with the data's sigma
    sigma = onp.array([15, 10, 16, 11, 9, 11, 10, 18])
    resid = (draws["y"] - draws["theta"]) / sigma
    assert abs(resid.mean()) < 0.05 and resid.std() == pytest.approx(1, abs=0.03)


def test_cli_posterior_predictive_matches_api(sampled, eight_fit):
    header, values = read_draws(sampled["dir"] / "post.csv")
    assert header[-8:] == [f"y[{i}]" for i in range(8)]
    assert values.shape == (300, 2 + 8 + 8 + 8)
    api = ppl.load(EIGHT).restore(eight_fit).predictive(300, seed=5)
    onp.testing.assert_array_equal(values[:, -8:], api["y"])
    onp.testing.assert_array_equal(values[:, 0], api["mu"])
    out = sampled["post"].stdout.splitlines()
    assert out[0] == f"posterior predictive of {eight_fit}: 300 draws, seed 5"
    assert out[1].split() == ["name", "mean", "sd", "q05", "q50", "q95", "kind"]
    assert out[-1].startswith("y[7]") and out[-1].endswith("observed")


def test_prior_predictive_cli_matches_api(sampled):
    header, values = read_draws(sampled["dir"] / "prior.csv")
    api = ppl.load(EIGHT).sample(300, seed=4)
    assert header == ["mu", "tau"] + [f"theta_raw[{i}]" for i in range(8)] + [f"theta[{i}]" for i in range(8)] + \
        [f"y[{i}]" for i in range(8)]
    flat = onp.concatenate([api[k].reshape(300, -1) for k in ("mu", "tau", "theta_raw", "theta", "y")], axis=1)
    onp.testing.assert_array_equal(values, flat)
    assert sampled["prior"].stdout.startswith("prior predictive: 300 draws, seed 4\n")


def test_prior_predictive_distribution():
    """mu ~ Normal(0, 5) and theta_raw ~ Normal(0, 1) from their priors; y | theta ~ Normal(theta, sigma)."""
    draws = ppl.load(EIGHT).sample(20_000, seed=0)
    assert draws["mu"].mean() == pytest.approx(0, abs=4 * 5 / onp.sqrt(20_000))
    assert draws["mu"].std() == pytest.approx(5, rel=0.03)
    assert draws["theta_raw"].std() == pytest.approx(1, rel=0.03)
    onp.testing.assert_allclose(draws["theta"], draws["mu"][:, None] + draws["tau"][:, None] * draws["theta_raw"])
    assert onp.median(draws["tau"]) == pytest.approx(5, rel=0.1)          # HalfCauchy(5): median 5


def test_prior_predictive_needs_no_observed_data():
    model = ppl.compile("data N: int\ndata x: real[N]\ndata y: int<lower=0>[N]\n"
                        "a ~ Normal(0, 1)\ny ~ Poisson(exp(a + x))")
    draws = model.sample(1000, {"N": 3, "x": [0.0, 1.0, 2.0]}, seed=2)
    assert draws["y"].shape == (1000, 3) and draws["y"].dtype.kind == "i"
    rate = onp.exp(draws["a"][:, None] + onp.array([0.0, 1.0, 2.0]))
    assert draws["y"].mean(axis=0) == pytest.approx(rate.mean(axis=0), rel=0.15)


def test_prior_predictive_uses_params():
    model = ppl.load(MODELS / "normal_mle.ppl")
    draws = model.sample(5000, seed=0)                               # mu = 0, sigma = 1 initially
    assert draws["y"].shape == (5000, read_json(MODELS / "normal_mle.data.json")["N"])
    assert abs(draws["y"].mean()) < 0.05
    shifted = model.sample(5000, seed=0, params={"mu": 3.0, "sigma": 2.0})
    assert shifted["y"].mean() == pytest.approx(3, abs=0.1) and shifted["y"].std() == pytest.approx(2, rel=0.05)
    with pytest.raises(ppl.PPLError, match="no param named 'nu'"):
        model.sample(10, params={"nu": 1.0})


def test_predictive_is_reproducible():
    model = ppl.load(MODELS / "mixture.ppl")
    a, b, c = model.sample(50, seed=1), model.sample(50, seed=1), model.sample(50, seed=2)
    for k in a:
        onp.testing.assert_array_equal(a[k], b[k])
    assert not onp.array_equal(a["x"], c["x"])
    fit = model.fit(steps=100, seed=0)
    p1, p2 = fit.predictive(50, seed=3), fit.predictive(50, seed=3)
    for k in p1:
        onp.testing.assert_array_equal(p1[k], p2[k])
    n = read_json(MODELS / "mixture.data.json")["N"]
    assert p1["x"].shape == (50, n) and p1["z"].shape == (50, n)


def test_sample_errors(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"mode": "optimize", "params": {}, "guide": {}}')
    r = cli("sample", EIGHT, "--fit", bad)
    assert r.returncode == 1 and "optimize" in r.stderr and "Traceback" not in r.stderr
