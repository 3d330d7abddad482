"""Fits checked against analytic answers, every bundled model through the CLI, and reproducibility."""
import json

import numpy as onp
import pytest
from scipy.stats import multivariate_normal

import ppl
from conftest import MODELS, read_json

MODEL_FILES = sorted(MODELS.glob("*.ppl"))

# ------------------------------------------------------------------ Normal-Normal, analytic posterior

NORMAL_NORMAL = """
data N: int
data y: real[N]
mu ~ Normal(0, 2)
y ~ Normal(mu, 1)
"""
# 20 draws from Normal(1.5, 1), rounded (numpy default_rng(42))
Y20 = [1.805, 0.46, 2.25, 2.441, -0.451, 0.198, 1.628, 1.184, 1.483, 0.647,
       2.379, 2.278, 1.566, 2.627, 1.968, 0.641, 1.869, 0.541, 2.378, 1.45]


@pytest.fixture(scope="module")
def normal_normal_fit():
    model = ppl.compile(NORMAL_NORMAL)
    assert model.mode == "vi"
    return model.fit(data={"N": len(Y20), "y": Y20}, steps=1000, lr=0.02, particles=100, seed=0)


def normal_normal_posterior():
    precision = 1 / 4 + len(Y20)
    return sum(Y20) / precision, precision ** -0.5


def test_normal_normal_posterior_from_latents(normal_normal_fit):
    """fit.latents summarise 1000 draws of the fitted guide: the Monte Carlo error of their sd
    alone is about 2.2%, so 5% leaves little room for error in the fitted guide itself."""
    mean, sd = normal_normal_posterior()
    summary = normal_normal_fit.latents["mu"]
    assert float(summary["mean"]) == pytest.approx(mean, rel=0.05)
    assert float(summary["sd"]) == pytest.approx(sd, rel=0.05)
    assert float(summary["q05"]) < float(summary["q50"]) < float(summary["q95"])
    # central 90% interval of a Normal: mean +- 1.645 sd (draws' Monte Carlo error ~ 0.05 sd)
    assert float(summary["q05"]) == pytest.approx(mean - 1.645 * sd, abs=0.2 * sd)
    assert float(summary["q95"]) == pytest.approx(mean + 1.645 * sd, abs=0.2 * sd)


def test_normal_normal_guide_parameters(normal_normal_fit):
    """The guide Normal(loc, scale) contains the posterior, so its parameters are the posterior's.
    Ignoring the prior would give sum(y)/N, 1.25% above the posterior mean; 0.4% tells them apart."""
    mean, sd = normal_normal_posterior()
    assert float(normal_normal_fit.guide["mu.loc"]) == pytest.approx(mean, rel=0.004)
    assert abs(sum(Y20) / len(Y20) / mean - 1) > 0.01
    assert float(normal_normal_fit.guide["mu.scale"]) == pytest.approx(sd, rel=0.05)


def test_normal_normal_elbo_is_log_evidence(normal_normal_fit):
    """At the exact posterior the ELBO equals log p(y) with zero variance; near it the gap is the
    KL divergence, second order in the guide's error (< 1e-3 for a few percent in scale)."""
    n = len(Y20)
    log_evidence = multivariate_normal(onp.zeros(n), onp.eye(n) + 4.0 * onp.ones((n, n))).logpdf(Y20)
    obj = normal_normal_fit.objective
    assert obj["name"] == "elbo"
    assert obj["value"] <= log_evidence + 4 * obj["stderr"] + 1e-9
    assert obj["value"] == pytest.approx(log_evidence, abs=4 * obj["stderr"] + 1e-3)


# ------------------------------------------------------------------ maximum likelihood

def test_normal_mle_recovers_sample_moments():
    data = read_json(MODELS / "normal_mle.data.json")
    y = onp.asarray(data["y"], dtype=float)
    fit = ppl.load(MODELS / "normal_mle.ppl").fit()
    assert fit.mode == "mle"
    assert float(fit.params["mu"]) == pytest.approx(y.mean(), rel=0.01)
    assert float(fit.params["sigma"]) == pytest.approx(y.std(ddof=0), rel=0.01)
    # the reported objective is the maximized log-likelihood (no noise: there are no latents)
    s2 = y.var()
    max_loglik = -len(y) / 2 * (onp.log(2 * onp.pi * s2) + 1)
    assert fit.objective["name"] == "log_likelihood"
    assert fit.objective["value"] == pytest.approx(max_loglik, abs=1e-6)


# ------------------------------------------------------------------ the CLI

def test_cli_reparam_demo_reaches_optimum(cli, tmp_path):
    out = tmp_path / "r.json"
    r = cli("fit", MODELS / "reparam_demo.ppl", "--quiet", "--out", out)
    assert r.returncode == 0, r.stderr
    result = read_json(out)
    # the fixed-draws fit stops once converged, well before its 2000-step limit
    assert result["mode"] == "optimize" and result["steps"] < 2000 and result["convergence"]["converged"]
    mu, log_sigma = result["params"]["mu"], result["params"]["log_sigma"]
    assert mu == pytest.approx(3, abs=0.05)
    # E[J] = (mu - 3)^2 + sigma^2 + sigma decreases towards sigma = 0 (it starts at 11)
    sigma = onp.exp(log_sigma)
    assert sigma < 0.2
    exact = (mu - 3) ** 2 + sigma ** 2 + sigma
    obj = result["objective"]
    assert obj["value"] == pytest.approx(exact, abs=4 * obj["stderr"])


# expected shapes of every latent/deterministic mean per bundled model, in terms of its data sizes
LATENT_SHAPES = {
    "bits": {"z": (20,)},
    "eight_schools": {"mu": (), "tau": (), "theta_raw": ("J",), "theta": ("J",)},
    "linear_regression": {"alpha": (), "beta": ("D",), "sigma": ()},
    "logistic_regression": {"alpha": (), "beta": ("D",)},
    "mixture": {"mu": ("K",), "z": ("N",)},
    "normal_mle": {},
    "poisson_regression": {"a": (), "b": ()},
    "reparam_demo": {"y": ()},
    "ar2": {"alpha": (), "beta": (2,), "sigma": ()},
    "garch": {"mu": (), "alpha0": (), "alpha1": (), "beta1": (), "sigma": ("T",)},
    "hmm": {"theta": ("K", "K"), "mu": ("K",), "log_omega": ("K", "N")},
    "changepoint": {"early": (), "late": (), "s": (), "t": ("T",)},
    "flat_regression": {"alpha": (), "beta": (), "sigma": ()},
    "censored": {"mu": (), "sigma": ()},
}
DETERMINISTIC = {"eight_schools": {"theta"}, "garch": {"sigma"}, "hmm": {"log_omega"}, "changepoint": {"t"}}
MODES = {"bits": "optimize", "reparam_demo": "optimize", "normal_mle": "mle"}
PARAM_SHAPES = {"bits": {"theta": (20,)}, "reparam_demo": {"mu": (), "log_sigma": ()},
                "normal_mle": {"mu": (), "sigma": ()}}
# bits and mixture: finite discrete latents entering elementwise are summed out exactly
ESTIMATORS = {"bits": {"z": "enumerate"}, "mixture": {"mu": "pathwise", "z": "enumerate"},
              "eight_schools": {"mu": "pathwise", "tau": "pathwise", "theta_raw": "pathwise"},
              "reparam_demo": {"y": "pathwise"}}


def expected_shapes(name):
    path = MODELS / f"{name}.data.json"
    data = read_json(path) if path.exists() else {}
    data.setdefault("K", 3)                          # mixture.ppl: data K: int = 3
    return {k: tuple(data[d] if isinstance(d, str) else d for d in shape)
            for k, shape in LATENT_SHAPES[name].items()}


SEED, STEPS = 3, 200


@pytest.fixture(scope="module")
def all_fits(module_cli):
    """Every model fitted through the CLI (`--seed 3 --steps 200`), all processes at once; the same
    runs serve the output checks and the comparison with the API."""
    outs = {m.stem: module_cli.cwd / f"{m.stem}.json" for m in MODEL_FILES}
    runs = module_cli.many([("fit", m, "--seed", SEED, "--steps", STEPS, "--quiet", "--out", outs[m.stem])
                            for m in MODEL_FILES])
    return {m.stem: (r, outs[m.stem]) for m, r in zip(MODEL_FILES, runs)}


def test_bundled_models_are_all_known():
    # a new model file should get its expected shapes listed above
    assert {m.stem for m in MODEL_FILES} == set(LATENT_SHAPES)


@pytest.mark.parametrize("name", [m.stem for m in MODEL_FILES])
def test_every_model_fits_through_cli(all_fits, name):
    run, out = all_fits[name]
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "step " not in run.stderr          # --quiet: no progress lines
    result = read_json(out)
    # the summary table still goes to stdout; every bundled model is fitted by L-BFGS on fixed
    # draws, which stops once converged
    head = run.stdout.splitlines()[0]
    assert head.startswith(f"{result['mode']}: {result['steps']} L-BFGS iterations, ")
    assert f"seed {SEED}; {result['objective']['name']} = " in head
    assert {"mode", "seed", "steps", "objective", "params", "latents", "estimators"} <= set(result)
    assert result["mode"] == MODES.get(name, "vi")
    assert result["seed"] == SEED and 0 < result["steps"] <= STEPS
    assert result["convergence"]["method"] == "lbfgs" and result["convergence"]["converged"]
    obj = result["objective"]
    assert set(obj) == {"name", "value", "stderr"}
    assert obj["name"] == {"vi": "elbo", "mle": "log_likelihood", "optimize": "objective"}[result["mode"]]
    assert onp.isfinite(obj["value"]) and obj["stderr"] >= 0
    for p, shape in PARAM_SHAPES.get(name, {}).items():
        assert onp.shape(result["params"][p]) == shape, p
    assert set(result["params"]) == set(PARAM_SHAPES.get(name, {}))
    expected = expected_shapes(name)
    assert set(result["latents"]) == set(expected)
    for latent, summary in result["latents"].items():
        assert set(summary) == {"mean", "mcse_mean", "sd", "q05", "q50", "q95"}, latent
        for key, value in summary.items():
            assert onp.shape(value) == expected[latent], (latent, key)
            assert onp.all(onp.isfinite(value)), (latent, key)
        assert onp.all(onp.asarray(summary["sd"]) >= 0)
        assert onp.all(onp.asarray(summary["q05"]) <= onp.asarray(summary["q50"]))
        assert onp.all(onp.asarray(summary["q50"]) <= onp.asarray(summary["q95"]))
    sampled = set(expected) - DETERMINISTIC.get(name, set())
    assert set(result["estimators"]) == sampled
    assert set(result["estimators"].values()) <= {"pathwise", "score", "enumerate"}
    for latent, how in ESTIMATORS.get(name, {}).items():
        assert result["estimators"][latent] == how


# ------------------------------------------------------------------ reproducibility

def roundtrip(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_cli_and_api_agree_exactly(all_fits, model_file):
    run, out = all_fits[model_file.stem]
    assert run.returncode == 0, run.stderr
    api = roundtrip(ppl.load(model_file).fit(steps=STEPS, seed=SEED).to_json())
    assert read_json(out) == api


@pytest.mark.parametrize("model_file", [MODELS / "eight_schools.ppl", MODELS / "reparam_demo.ppl"],
                         ids=lambda p: p.stem)
def test_same_seed_same_result_other_seed_different(model_file):
    model = ppl.load(model_file)
    a = roundtrip(model.fit(steps=200, seed=5).to_json())
    b = roundtrip(ppl.load(model_file).fit(steps=200, seed=5).to_json())
    c = roundtrip(model.fit(steps=200, seed=6).to_json())
    assert a == b
    assert a["objective"]["value"] != c["objective"]["value"]
    assert (a["params"], a["guide"]) != (c["params"], c["guide"])
    assert a["latents"] != c["latents"]


def test_exact_fit_differs_only_in_draws():
    """bits.ppl is summed out exactly: its fitted params do not depend on the seed (no noise in
    the gradients), while the summaries, drawn from the fitted program, do."""
    model = ppl.load(MODELS / "bits.ppl")
    # five steps, short of the optimum (there every bit is 0 in every draw, whatever the seed)
    a, b = roundtrip(model.fit(steps=5, seed=5).to_json()), roundtrip(model.fit(steps=5, seed=6).to_json())
    assert a["estimators"] == {"z": "enumerate"}
    assert a["params"] == b["params"]
    assert a["latents"] != b["latents"]


def test_fit_sample_reproducible():
    fit = ppl.load(MODELS / "eight_schools.ppl").fit(steps=100, seed=0)
    s1, s2, s3 = fit.sample(50, seed=1), fit.sample(50, seed=1), fit.sample(50, seed=2)
    assert set(s1) == {"mu", "tau", "theta_raw", "theta"}
    assert s1["theta"].shape == (50, 8)
    for k in s1:
        onp.testing.assert_array_equal(s1[k], s2[k])
    assert not onp.array_equal(s1["theta"], s3["theta"])
    # the deterministic is computed from the drawn latents
    onp.testing.assert_allclose(s1["theta"], s1["mu"][:, None] + s1["tau"][:, None] * s1["theta_raw"], atol=1e-12)
