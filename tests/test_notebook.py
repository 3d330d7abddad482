"""What a notebook shows: `Fit.summary()` as a DataFrame, `_repr_html_` of a model and a fit (read
as text), a readable `repr(model)`, `fit.plot()`, and messages that name arguments, not options."""
import sys

import pytest

import ppl
from conftest import MODELS, run_main

EIGHT = MODELS / "eight_schools.ppl"
NO_DATA = "data y: real\nmu ~ Normal(0, 1)\ny ~ Normal(mu, 1)"


@pytest.fixture(scope="module")
def fit():
    return ppl.load(EIGHT).fit(seed=0)


def test_summary_is_a_dataframe(fit):
    pd = pytest.importorskip("pandas")
    frame = fit.summary()
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "name"
    assert list(frame.index[:3]) == ["mu", "tau", "theta_raw[0]"] and len(frame) == 18
    assert list(frame.columns) == ["mean", "mcse_mean", "sd", "q05", "q50", "q95", "psis_mean", "psis_sd", "estimator"]
    assert frame.loc["theta[3]", "mean"] == pytest.approx(fit.latents["theta"]["mean"][3])
    assert frame.loc["theta[3]", "estimator"] == "deterministic" and frame.loc["mu", "estimator"] == "pathwise"
    assert frame.loc["tau", "psis_mean"] == pytest.approx(fit.psis["latents"]["tau"]["mean"])


def test_summary_as_a_dict(fit, monkeypatch):
    assert fit.summary(as_dict=True) is fit.latents
    monkeypatch.setitem(sys.modules, "pandas", None)          # as if pandas were not installed
    assert fit.summary() is fit.latents


def test_model_repr_shows_its_program_and_mode():
    text = repr(ppl.load(EIGHT))
    lines = text.splitlines()
    assert lines[0] == f"ppl.Model {EIGHT}: variational inference (mode 'vi')"
    assert lines[1:] == ["  " + line for line in EIGHT.read_text().splitlines() if line and not line.startswith("#")]
    assert "guide='fullrank'" in repr(ppl.load(EIGHT, guide="fullrank")).splitlines()[0]
    assert repr(ppl.compile("mu ~ Normal(0, 1)")).startswith("ppl.Model <model>: nothing to fit")
    assert "maximum likelihood" in repr(ppl.load(MODELS / "normal_mle.ppl"))


def test_model_html_highlights_and_escapes():
    pytest.importorskip("pygments")
    page = ppl.load(EIGHT)._repr_html_()
    assert page.startswith('<div class="ppl">') and "variational inference" in page
    assert "real&lt;lower=0&gt;" in page or "&lt;" in page                   # the program's < is escaped
    assert ">Normal</span>" in page and "<span style=" in page             # highlighted by ppl.lexer
    assert "<details><summary>how each gradient is obtained</summary>" in page and "pathwise" in page


def test_model_html_without_pygments(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygments", None)
    page = ppl.load(EIGHT)._repr_html_()
    assert '<pre style="margin:4px 0">' in page and "data sigma: real&lt;lower=0&gt;[J]" in page


def test_fit_html_is_the_summary(fit):
    page = fit._repr_html_()
    assert page.startswith('<div class="ppl"><div><b>ppl.Fit: variational inference</b></div>')
    assert "elbo = -31.57" in page and "pareto k-hat" in page
    assert '<table class="ppl-summary">' in page and "<th>mcse_mean</th>" in page
    assert page.count("<tr>") == 1 + 18                                       # head and one row per element
    for warning in fit.warnings:
        assert warning.split(":")[0] in page


def test_fit_plot(fit, tmp_path):
    pytest.importorskip("matplotlib")
    figure = fit.plot(tmp_path / "fit.png", vars=["tau", "y"])
    assert [ax.get_title() for ax in figure.axes][1:] == ["tau", "y: observed and posterior predictive"]
    assert (tmp_path / "fit.png").stat().st_size > 10_000


def test_api_warnings_name_arguments_and_the_command_line_options(capsys):
    fit = ppl.load(EIGHT).fit(optimizer="adam", steps=50)
    said = " ".join(fit.warnings)
    assert "did not converge" in said and "steps=..." in said and "--" not in said
    assert "model.with_options(guide='fullrank')" in said
    status, _, err = run_main(capsys, "fit", EIGHT, "--optimizer", "adam", "--steps", 50, "--quiet")
    assert status == 0 and "(--steps)" in err and "--guide fullrank" in err


def test_api_errors_name_arguments(capsys, tmp_path):
    with pytest.raises(ppl.DataError) as err:
        ppl.compile(NO_DATA).fit()
    assert err.value.hint.startswith("no data was given: pass data=...") and "--" not in str(err.value)
    (tmp_path / "m.ppl").write_text(NO_DATA)
    status, _, stderr = run_main(capsys, "fit", tmp_path / "m.ppl")
    assert status == 1 and "pass --data FILE" in stderr
