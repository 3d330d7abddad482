"""ppl's own expit, logsumexp and normal quantile against scipy's, and the promise behind them:
compiling and fitting a model of Normals, Bernoullis and Categoricals never imports scipy (0.3 s
of start-up for scipy.special, 1 s for scipy.stats)."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.special

from ppl.kernels.special import normal_quantile, plain_expit, plain_logsumexp
from conftest import ROOT


def test_expit_matches_scipy_even_at_the_extremes():
    x = np.concatenate([np.linspace(-800, 800, 2001), [-np.inf, np.inf, 0.0]])
    with np.errstate(over="raise"):
        np.testing.assert_allclose(plain_expit(x), scipy.special.expit(x), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (-1, True), (-1, False), (1, False), ((1, 2), True)])
def test_logsumexp_matches_scipy(axis, keepdims):
    x = np.random.default_rng(0).normal(scale=300, size=(3, 4, 5))
    x[0, 0, :] = -np.inf                                   # a row of zeros of probability
    x[1, 2, 3] = np.inf
    with np.errstate(invalid="ignore"):
        want = scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(plain_logsumexp(x, axis=axis, keepdims=keepdims), want, rtol=1e-13)


def test_normal_quantile_matches_scipy_to_the_last_bits():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.random(100_000), np.logspace(-300, -1, 2000), 1 - np.logspace(-16, -1, 1000),
                        [0.5, 0.075, 0.925]])                   # the rational functions' seams
    want = scipy.special.ndtri(p)
    np.testing.assert_allclose(normal_quantile(p), want, rtol=2e-15, atol=1e-15)
    assert normal_quantile(0.0) == -np.inf and normal_quantile(1.0) == np.inf


def test_common_models_never_import_scipy():
    code = ("import sys, ppl\n"
            "for m in ('eight_schools', 'mixture', 'logistic_regression'):\n"
            "    ppl.load(f'models/{m}.ppl').fit(steps=20)\n"
            "    ppl.load(f'models/{m}.ppl').fit(steps=20, optimizer='adam')\n"
            "print('scipy' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
