"""Plots a modeller reads, checked by rendering them to files and reading their size and axes: a
marginal with its mean and intervals (a positive latent's density with no mass below 0), a fan
chart for a vector, a posterior-predictive check per observation, `--vars`, titles in modelling
words."""
import json

import numpy as onp
import pytest

import ppl
from conftest import MODELS, run_main

pytest.importorskip("matplotlib")
from ppl.io import fan  # noqa: E402

EIGHT = MODELS / "eight_schools.ppl"


@pytest.fixture(scope="module")
def eight():
    fit = ppl.load(EIGHT).fit(seed=0)
    return fit, {ax.get_title(): ax for ax in fit.plot().axes}


def lines(ax):
    return [(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in ax.get_lines()]


def test_a_panel_per_variable_in_modelling_words(eight):
    fit, axes = eight
    titles = list(axes)
    assert titles[0].startswith("variational inference: ELBO = -31.57")
    assert titles[1:] == ["mu", "tau", "theta_raw", "theta (deterministic)", "y: observed and posterior predictive"]
    assert not [t for t in titles if "pathwise" in t or "score" in t]


def test_a_positive_latent_has_no_density_below_zero(eight):
    fit, axes = eight
    tau = axes["tau"]
    assert tau.get_xlim()[0] >= 0
    x = onp.concatenate([p.vertices[:, 0] for p in tau.collections[0].get_paths()])
    assert x.min() >= 0
    grid, density = fan.kde(fit.draws["tau"], (0.0, None))
    assert grid[0] >= 0 and density[0] > 0.5 * density.max()      # reflected at 0: no dip at the bound


def test_reflection_keeps_the_mass_and_the_density_at_the_bound():
    draws = onp.random.default_rng(0).exponential(1.0, 4000)
    grid, density = fan.kde(draws, (0.0, None))
    assert grid[0] == 0.0
    assert density[0] == pytest.approx(1.0, abs=0.15)                  # the exponential's density at 0
    assert onp.trapezoid(density, grid) == pytest.approx(0.99, abs=0.03)   # the central 99.5% of the mass
    plain_grid, plain = fan.kde(draws)
    assert plain_grid[0] < 0 and plain[0] > 0                          # without the bound, mass leaks below 0


def test_a_marginal_marks_its_mean_and_intervals(eight):
    fit, axes = eight
    mu = fit.draws["mu"]
    drawn = lines(axes["mu"])
    assert any(x == (pytest.approx(mu.mean()), pytest.approx(mu.mean())) for x, _ in drawn)     # the mean's line
    for lo, hi in ((0.05, 0.95), (0.25, 0.75)):
        a, b = onp.quantile(mu, [lo, hi])
        assert any(x == (pytest.approx(a), pytest.approx(b)) for x, _ in drawn), (lo, hi)
    assert "mean 4.6" in [t.get_text() for t in axes["mu"].get_legend().get_texts()]


def test_a_vector_is_a_fan_chart(eight):
    fit, axes = eight
    ax = axes["theta_raw"]
    assert len(ax.collections) == 2                                    # the 90% and 50% bands
    median = next(y for x, y in lines(ax) if len(x) == 8)
    onp.testing.assert_allclose(median, onp.median(fit.draws["theta_raw"], axis=0))
    assert ax.get_xlabel() == "J"                                      # the size the model declares
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["theta_raw[0]", "theta_raw[1]"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["90% interval", "50% interval", "median"]


def test_the_posterior_predictive_check(eight):
    fit, axes = eight
    ax = axes["y: observed and posterior predictive"]
    y = json.loads((MODELS / "eight_schools.data.json").read_text())["y"]
    observed = next(ys for x, ys in lines(ax) if len(x) == 8 and list(ys) == y)
    assert list(observed) == y
    said = [t.get_text() for t in ax.texts][0]
    assert said.startswith("0 of 8 observations outside the 90% predictive interval")


def test_the_plot_file(tmp_path, capsys):
    status, _, err = run_main(capsys, "fit", EIGHT, "--quiet", "--out", tmp_path / "r.json", "--plot", tmp_path / "f.png")
    assert status == 0, err
    assert (tmp_path / "f.png").stat().st_size > 50_000
    import matplotlib.image
    height, width, _ = matplotlib.image.imread(tmp_path / "f.png").shape
    assert width == 1260 and height > 1000                              # six rows of panels


def test_vars_chooses_the_panels(tmp_path, capsys):
    assert run_main(capsys, "fit", EIGHT, "--quiet", "--out", tmp_path / "r.json")[0] == 0
    status, out, err = run_main(capsys, "plot", tmp_path / "r.json", "--vars", "tau,y", "--out", tmp_path / "v.svg")
    assert status == 0, err
    svg = (tmp_path / "v.svg").read_text()
    assert "y: observed and posterior predictive" in svg and "theta_raw" not in svg
    status, _, err = run_main(capsys, "plot", tmp_path / "r.json", "--vars", "tauu", "--out", tmp_path / "w.png")
    assert status == 1 and "nothing to plot is named 'tauu'" in err and "did you mean 'tau'?" in err
    assert not (tmp_path / "w.png").exists()


def test_vars_is_checked_before_the_fit(tmp_path, capsys):
    status, out, err = run_main(capsys, "fit", EIGHT, "--plot", tmp_path / "f.png", "--vars", "sigma_y")
    assert status == 1 and out == "" and "'sigma_y'" in err


def test_a_discrete_scalar_and_a_model_without_observations():
    fit = ppl.load(MODELS / "reparam_demo.ppl").fit(steps=100)
    titles = [ax.get_title() for ax in fit.plot().axes]
    assert titles[0].startswith("stochastic optimization: objective = ") and titles[1:] == ["y"]
