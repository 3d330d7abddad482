"""Subsampling (`batch_size`): minibatch gradients are unbiased for the full-data gradient, local
latents go with their rows, a program that mixes rows is refused with the position, and a
subsampled fit lands where the full one does."""
import json
import subprocess
import sys

import numpy as np
import pytest

import ppl
from conftest import ROOT
from test_reinforce import MIXTURE     # assignments summed out, means point-estimated: an exact gradient

LOGISTIC = """
data N: int
data D: int
data X: real[N, D]
data y: int[N]
param beta: real[D] = 0
y ~ Bernoulli(logits=X @ beta)
"""

# one latent per observation, and a global one
LOCAL = """
data N: int
data y: real[N]
mu ~ Normal(0, 10)
z: real[N] ~ Normal(mu, 1)
y ~ Normal(z, 0.5)
"""

def _logistic_data(n=200, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.array([1.0, -2.0, 0.5])))).astype(int)
    return {"N": n, "D": d, "X": X.tolist(), "y": y.tolist()}


def _unbiased(model, params, data, batch_size, draws, exact):
    check = model.gradcheck(params, data, draws=draws, batch_size=batch_size, seed=5)
    for name, want in exact.items():
        z = (check[name]["mean"] - want) / check[name]["stderr"]
        assert np.all(np.abs(z) < 4), (name, z)
        assert np.all(check[name]["stderr"] > 0)          # the minibatches really differ


def test_minibatch_gradient_of_a_likelihood_is_unbiased():
    model, data = ppl.compile(LOGISTIC), _logistic_data()
    params = {"beta": np.array([0.3, -0.2, 0.1])}
    value, exact = model.grad(params, data)                # no latents: the exact gradient
    _unbiased(model, params, data, 20, 3000, exact)
    values = [model.grad(params, data, seed=s, batch_size=20)[0] for s in range(400)]
    assert abs(np.mean(values) - value) < 4 * np.std(values) / np.sqrt(len(values))


def test_minibatch_gradient_with_enumerated_local_latents_is_unbiased():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-3, 1, 20), rng.normal(0, 1, 20), rng.normal(3, 1, 20)])
    model, data = ppl.compile(MIXTURE), {"N": 60, "x": x.tolist()}
    params = {"mu": np.array([-2.0, 0.5, 2.0])}
    _, exact = model.grad(params, data)
    _unbiased(model, params, data, 10, 3000, exact)


@pytest.mark.slow
def test_minibatch_gradient_with_guided_local_latents_matches_the_full_data_mean():
    rng = np.random.default_rng(2)
    data = {"N": 40, "y": rng.normal(3, 1.1, 40).tolist()}
    model = ppl.compile(LOCAL)
    params = {"mu.loc": 1.0, "z.loc": rng.normal(2, 1, 40)}
    full = model.gradcheck(params, data, draws=3000, seed=1)
    mini = model.gradcheck(params, data, draws=3000, seed=2, batch_size=8)
    for name in ("mu.loc", "mu.scale", "z.loc", "z.scale"):
        z = (mini[name]["mean"] - full[name]["mean"]) / np.hypot(mini[name]["stderr"], full[name]["stderr"])
        assert np.all(np.abs(z) < 4.5), (name, z)
    assert mini["z.loc"]["mean"].shape == (40,)            # every row's guide gets its share


def test_a_subsampled_fit_lands_where_the_full_fit_does():
    model, data = ppl.compile(LOGISTIC), _logistic_data(n=1000)
    full = model.fit(data, steps=1500, seed=0).params["beta"]
    mini = model.fit(data, steps=1500, seed=0, batch_size=100).params["beta"]
    np.testing.assert_allclose(mini, full, atol=0.15)


def test_a_subsampled_fit_reports_every_local_latent():
    rng = np.random.default_rng(3)
    data = {"N": 30, "y": rng.normal(3, 1.1, 30).tolist()}
    fit = ppl.compile(LOCAL).fit(data, steps=1500, seed=0, batch_size=10)
    assert np.shape(fit.summary(as_dict=True)["z"]["mean"]) == (30,)
    assert abs(fit.summary(as_dict=True)["mu"]["mean"] - np.mean(data["y"])) < 0.4


@pytest.mark.parametrize("source, message", [
    (LOCAL.replace("y ~ Normal(z, 0.5)", "m = mean(y)\ny ~ Normal(z + m, 0.5)"), r"'mean\(y\)' mixes the subsampled rows"),
    (LOCAL.replace("y ~ Normal(z, 0.5)", "y ~ Normal(z / N, 0.5)"), "'N' is the subsampled size"),
    (LOCAL.replace("mu ~ Normal(0, 10)", "mu ~ Normal(sum(y), 10)"), r"'sum\(y\)' mixes the subsampled rows"),
    ("param m: real = 0\nw ~ Normal(m, 1)\nminimize (w - 1)^2", "needs observed data"),
    ("data M: int\ndata N: int\ndata a: real[N]\ndata b: real[M]\nmu ~ Normal(0, 1)\na ~ Normal(mu, 1)\n"
     "b ~ Normal(mu, 1)", "different leading sizes"),
])
def test_programs_that_mix_rows_are_refused_at_their_position(source, message):
    data = {"N": 4, "M": 3, "y": [1.0, 2.0, 3.0, 4.0], "a": [1.0] * 4, "b": [1.0] * 3}
    model = ppl.compile(source)
    names = {d.name for d in model.ir.decls}
    with pytest.raises(ppl.PPLError, match=message) as err:
        model.fit({k: v for k, v in data.items() if k in names}, steps=5, batch_size=2)
    assert err.value.hint
    assert "objective" in message or "<model>:" in str(err.value)      # file:line:column


def test_batch_size_outside_the_data_and_fullrank_locals_are_refused():
    data = {"N": 4, "y": [1.0, 2.0, 3.0, 4.0]}
    with pytest.raises(ppl.PPLError, match="between 1 and 4"):
        ppl.compile(LOCAL).fit(data, steps=5, batch_size=5)
    with pytest.raises(ppl.PPLError, match="full-rank guide cannot subsample"):
        ppl.compile(LOCAL, guide="fullrank").fit(data, steps=5, batch_size=2)


@pytest.mark.slow
def test_cli_and_api_give_the_same_subsampled_fit(tmp_path):
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(ROOT / "models" / "mixture.ppl"), "--batch-size",
                        "50", "--steps", "300", "--seed", "4", "--quiet", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    api = ppl.load(ROOT / "models" / "mixture.ppl").fit(steps=300, seed=4, batch_size=50)
    cli = json.loads(out.read_text())
    np.testing.assert_array_equal(np.asarray(cli["guide"]["mu.loc"]), api.guide["mu.loc"])


@pytest.mark.slow
def test_an_interrupted_subsampled_fit_resumes_bit_for_bit(tmp_path):
    model = ppl.load(ROOT / "models" / "mixture.ppl")
    calls = []

    def stop():
        calls.append(1)
        return len(calls) == 137

    model.fit(steps=300, seed=2, batch_size=40, checkpoint=tmp_path / "c.npz", stop=stop)
    resumed = model.fit(steps=300, seed=2, batch_size=40, resume=tmp_path / "c.npz")
    whole = model.fit(steps=300, seed=2, batch_size=40)
    for k in whole.guide:
        np.testing.assert_array_equal(resumed.guide[k], whole.guide[k])


def test_minibatches_drawn_ahead_give_the_fit_drawn_in_step(monkeypatch):
    """The worker process only moves the work: the same rows, the same generator after the fit
    (its summaries), the same result as minibatches drawn at their own steps."""
    from ppl.infer import fit as fitting, minibatches

    used = []
    real = minibatches.minibatches

    def recorded(program, rng):
        used.append(real(program, rng))
        return used[-1]

    monkeypatch.setattr(fitting, "minibatches", recorded)
    model = ppl.load(ROOT / "models" / "mixture.ppl")
    ahead = model.fit(steps=120, seed=6, batch_size=30, particles=3).to_json()
    assert isinstance(used[-1], minibatches.Ahead) == minibatches.Ahead.possible(used[-1].program, used[-1].rng)
    monkeypatch.setattr(fitting, "minibatches", minibatches.InStep)
    in_step = model.fit(steps=120, seed=6, batch_size=30, particles=3).to_json()
    assert ahead == in_step


def test_minibatch_rows_are_distinct_and_uniform():
    from ppl.middle.subsample import Batch
    rng = np.random.default_rng(0)
    for total, size in ((1000, 10), (40, 30)):           # the sparse draw, and choice without replacement
        batch = Batch(size, total, "N", (), frozenset(), frozenset())
        counts = np.zeros(total)
        for _ in range(4000):
            rows = batch.rows(rng)
            assert len(np.unique(rows)) == size and np.all(np.diff(rows) > 0)
            counts[rows] += 1
        expected = 4000 * size / total                       # every row equally often
        chi2 = np.sum((counts - expected) ** 2 / expected)
        assert chi2 < total + 5 * np.sqrt(2 * total), chi2


def test_the_result_records_the_batch_size(tmp_path):
    fit = ppl.load(ROOT / "models" / "eight_schools.ppl").fit(steps=50, batch_size=4)
    assert fit.to_json()["batch_size"] == 4
    from ppl.io.output import table
    assert table(fit).splitlines()[0].startswith("vi: 50 steps, 1 particle, minibatches of 4, seed 0")
