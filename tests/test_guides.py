"""Guides: full-rank versus mean-field on a correlated posterior; sticking the landing."""
import numpy as np
import pytest

import ppl

# b, c ~ Normal(0, 1), a ~ Normal(b + c, 1/3): the posterior of (b, c) given a has correlation
# -1 / (1 + 1/9) = -0.9 (precision I + 9 * ones), and mean 9a / 19 in each coordinate.
CORRELATED = """
data a: real
b ~ Normal(0, 1)
c ~ Normal(0, 1)
a ~ Normal(b + c, 1 / 3)
"""


def _posterior_correlation(guide, seed):
    """(correlation of b and c, mean of (b + c) / 2, mean of b - c) under the fitted guide. The
    data pin b + c down (posterior sd 0.23) but barely b - c (sd 1.4, as under the prior): the
    guide's location along b - c wanders with the gradient noise, so only b + c is held tight."""
    fit = ppl.compile(CORRELATED, guide=guide).fit({"a": 1.0}, steps=3000, seed=seed)
    draws = fit.sample(20_000, seed=1)
    b, c = draws["b"], draws["c"]
    return np.corrcoef(b, c)[0, 1], np.mean(b + c) / 2, np.mean(b - c)


def test_fullrank_guide_recovers_the_correlation():
    corr, mean, difference = _posterior_correlation("fullrank", seed=0)
    assert corr == pytest.approx(-0.9, abs=0.05)
    assert mean == pytest.approx(9 / 19, abs=0.02)
    assert abs(difference) < 0.3


def test_meanfield_guide_cannot_represent_it():
    corr, mean, difference = _posterior_correlation("meanfield", seed=0)
    assert abs(corr) < 0.1
    assert mean == pytest.approx(9 / 19, abs=0.02)          # its means are still right
    assert abs(difference) < 0.3


def test_fullrank_explain_and_parameters():
    model = ppl.compile(CORRELATED, guide="fullrank")
    assert "guide.scale_tril" in model.explain()
    value, grads = model.grad(data={"a": 1.0})
    assert set(grads) == {"guide.loc", "guide.scale_tril"}
    assert grads["guide.scale_tril"].shape == (2, 2)


NORMAL_NORMAL = """
data y: real
mu ~ Normal(0, 1)
y ~ Normal(mu, 1)
"""


def test_sticking_the_landing_has_no_variance_at_the_optimum():
    model = ppl.compile(NORMAL_NORMAL)
    optimum = {"mu.loc": 0.7, "mu.scale": np.sqrt(0.5)}     # the exact posterior for y = 1.4
    stl = [model.grad(optimum, {"y": 1.4}, seed=s, stl=True)[1] for s in range(50)]
    plain = [model.grad(optimum, {"y": 1.4}, seed=s)[1] for s in range(50)]
    for name in optimum:
        assert np.var([g[name] for g in stl]) < 1e-12
        assert np.var([g[name] for g in plain]) > 1e-3       # the usual estimator is noisy there


def test_sticking_the_landing_full_rank_at_the_optimum():
    model = ppl.compile(NORMAL_NORMAL, guide="fullrank")
    optimum = {"guide.loc": [0.7], "guide.scale_tril": [[np.sqrt(0.5)]]}
    grads = [model.grad(optimum, {"y": 1.4}, seed=s, stl=True)[1] for s in range(20)]
    for name in optimum:
        assert np.var([g[name] for g in grads], axis=0).max() < 1e-12


def test_sticking_the_landing_fit_matches_the_posterior():
    fit = ppl.compile(NORMAL_NORMAL).fit({"y": 1.4}, steps=2000, stl=True, seed=0)
    assert fit.guide["mu.loc"] == pytest.approx(0.7, abs=0.03)
    assert fit.guide["mu.scale"] == pytest.approx(np.sqrt(0.5), rel=0.05)
