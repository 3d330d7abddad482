"""Determinism: K particles in one vectorized pass or a few at a time give the same fit, bit for
bit, for every model shipped, every family's sampler and subsampled data (each particle draws from
a stream of its own, and the per-particle gradients are added in particle order)."""
import json
from pathlib import Path

import numpy as np
import pytest

import ppl
from ppl.infer import fit as fitting
from ppl.kernels.streams import Streams

MODELS = Path(__file__).resolve().parents[1] / "models"
PARTICLES = 7
CHUNKS = (None, 2, 4)      # one pass of 7; passes of 3 + 2 + 2; passes of 4 + 3


def _data(path):
    data = path.with_suffix(".data.json")
    return json.loads(data.read_text()) if data.exists() else None


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.ppl")), ids=lambda p: p.stem)
def test_shipped_models_fit_the_same_in_chunks(path):
    model = ppl.load(path)
    fits = [model.fit(_data(path), steps=25, particles=PARTICLES, seed=3, chunk=c).to_json() for c in CHUNKS]
    assert fits[0] == fits[1] == fits[2]
    assert len(set(fits[0]["trace"])) > 1          # the fit moved: the comparison is not vacuous


def test_full_rank_guide_fits_the_same_in_chunks():
    path = MODELS / "eight_schools.ppl"
    for stl in (False, True):
        model = ppl.load(path, guide="fullrank")
        fits = [model.fit(_data(path), steps=25, particles=PARTICLES, stl=stl, chunk=c).to_json() for c in CHUNKS]
        assert fits[0] == fits[1] == fits[2]


# every family's own sampler ("score": drawn by its sample method) and its pathwise draw
FAMILIES = [
    "x ~ Normal(t, a)", "x ~ Beta(a, 2)", "x ~ Cauchy(t, a)", "x ~ Chi2(a)", "x ~ Exponential(a)",
    "x ~ Gamma(a, 2)", "x ~ Gumbel(t, a)", "x ~ HalfCauchy(a)", "x ~ HalfNormal(a)",
    "x ~ InverseGamma(a + 1, 2)", "x ~ Laplace(t, a)", "x ~ LogNormal(t, a)", "x ~ Logistic(t, a)",
    "x ~ Pareto(a, 3)", "x ~ StudentT(a + 2, t, 1)", "x ~ Uniform(t, t + a)", "x ~ VonMises(t, a)",
    "x ~ Weibull(a, 1)", "x ~ Poisson(a)", "x ~ Binomial(5, sigmoid(t))", "x ~ Geometric(sigmoid(t))",
    "x ~ NegativeBinomial(a, sigmoid(t))", "x ~ BetaBinomial(5, a, 2)", "x ~ Bernoulli(sigmoid(t))",
    "x ~ Categorical(softmax([t, 0, 1]))", "x ~ DiscreteUniform(0, 3)",
]


@pytest.mark.parametrize("estimator", ["score", "pathwise"])
@pytest.mark.parametrize("statement", FAMILIES)
def test_every_sampler_draws_the_same_in_chunks(statement, estimator):
    text = f"param a: positive = 1.5\nparam t: real = 0.2\n{statement}\nminimize (x - 1)^2 + a + t^2"
    try:
        model = ppl.compile(text, estimator=estimator)
    except ppl.PPLError:
        assert estimator == "pathwise"              # a discrete family has no pathwise form
        return
    thetas, traces = [], []
    for chunk in CHUNKS:
        built, rng = model.bind(None, 0)
        path = fitting.run(built, rng, steps=15, lr=0.05, particles=PARTICLES, baseline="auto", sign=1.0,
                           chunk=chunk)
        thetas.append(path.theta)
        traces.append(path.trace)
    assert all(np.array_equal(thetas[0], t) for t in thetas[1:]) and traces[0] == traces[1] == traces[2]
    assert not np.array_equal(thetas[0], built.space.initial())


def test_subsampled_fit_with_local_latents_is_the_same_in_chunks():
    text = "data N: int\ndata y: real[N]\nmu ~ Normal(0, 5)\nz: real[N] ~ Normal(mu, 1)\ny ~ Normal(z, 0.5)"
    data = {"N": 40, "y": np.random.default_rng(1).normal(2.0, 1.0, 40).tolist()}
    model = ppl.compile(text)
    fits = [model.fit(data, steps=25, particles=5, batch_size=8, chunk=c).to_json() for c in (None, 2)]
    assert fits[0] == fits[1]


def test_resume_with_another_chunk_ends_where_the_whole_fit_does(tmp_path):
    path = MODELS / "mixture.ppl"
    model, data = ppl.load(path), _data(path)
    calls = iter(range(10 ** 6))
    model.fit(data, steps=40, particles=4, chunk=2, checkpoint=tmp_path / "c.npz", stop=lambda: next(calls) == 17)
    resumed = model.fit(data, steps=40, particles=4, resume=tmp_path / "c.npz").to_json()
    whole = model.fit(data, steps=40, particles=4).to_json()
    assert resumed["trace"] == whole["trace"] and resumed["guide"] == whole["guide"]


def test_streams_draw_each_particle_from_its_own_generator():
    rng = np.random.default_rng(7)
    streams = Streams.seeded(rng, 3)
    start = streams.state
    alpha = np.array([[0.5], [2.0], [9.0]])                 # one shape per particle
    together = streams.standard_gamma(np.broadcast_to(alpha, (3, 4)))
    streams.state = start
    alone = [streams.part(k, k + 1).standard_gamma(np.broadcast_to(alpha[k:k + 1], (1, 4)))[0] for k in range(3)]
    assert np.array_equal(together, np.stack(alone))
    assert not np.array_equal(together[0], together[1])     # the streams differ
