"""Pareto-smoothed importance sampling against ArviZ's implementation, and its k-hat against
what theory says of Gaussian proposals."""
import numpy as onp
import pytest

from ppl.infer.psis import psis, weighted_moments


@pytest.mark.parametrize("seed", range(6))
def test_smoothed_weights_and_k_hat_match_arviz(seed):
    az = pytest.importorskip("arviz")
    rng = onp.random.default_rng(seed)
    n = [100, 1000, 4000][seed % 3]
    log_w = rng.standard_t(df=[1, 3, 10][seed // 2], size=n) * [0.5, 2][seed % 2]
    want, k_want = az.psislw(log_w.copy())
    got, k = psis(log_w)
    assert k == pytest.approx(float(k_want), rel=1e-12)
    onp.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def gaussian_log_weights(sd_p, n=20_000, seed=0):
    """Draws from q = Normal(0, 1) and their log weights towards p = Normal(0.3, sd_p)."""
    x = onp.random.default_rng(seed).standard_normal(n)
    return x, -0.5 * ((x - 0.3) / sd_p) ** 2 - onp.log(sd_p) + 0.5 * x * x


def test_a_wider_proposal_is_good_and_reweighting_recovers_p():
    x, log_w = gaussian_log_weights(0.8)
    smoothed, k = psis(log_w)
    assert k < 0.5
    mean, sd = weighted_moments(x, smoothed)
    assert mean == pytest.approx(0.3, abs=0.02) and sd == pytest.approx(0.8, rel=0.03)


def test_a_narrower_proposal_has_a_heavy_tail():
    """q = Normal(0, 1) for p = Normal(0.3, s): the weights' tail has shape 1 - 1/s^2 (0.56 for
    s = 1.5, 0.89 for s = 3), which k-hat approaches from below (the tail is only
    asymptotically Pareto): over 0.7 for the narrowest proposal, and in order."""
    ks = [psis(gaussian_log_weights(s)[1])[1] for s in (1.2, 1.5, 3.0)]
    assert ks == sorted(ks) and ks[0] > 0.2 and ks[-1] > 0.7


def test_degenerate_weights():
    assert psis(onp.array([0.0, onp.nan, 1.0]))[1] == float("inf")
    assert psis(onp.array([0.0, onp.inf]))[1] == float("inf")
    smoothed, k = psis(onp.array([0.0, -onp.inf, 0.0, 0.0, 0.0, 0.0, 0.0]))
    assert onp.exp(smoothed[1]) == 0 and onp.isclose(onp.exp(smoothed).sum(), 1)
