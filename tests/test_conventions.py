"""Conventions a user of Stan, PyMC or NumPyro expects: `ppl --version`, `python -m ppl`, help for
every option (every `--estimator` value explained), `ppl compile --data`, starting values
(`--init`, `init=`), and hints where a model has nothing to fit, is declared in Stan's style, or
draws a scale from a distribution on the whole real line."""
import argparse
import json
import re
import subprocess
import sys

import numpy as onp
import pytest

import ppl
from conftest import MODELS, ROOT, _env, run_main
from ppl import cli as ppl_cli
from ppl.infer.deterministic import restart_point
from ppl.middle.options import ESTIMATORS

EIGHT = MODELS / "eight_schools.ppl"
SCALE = "data N: int\ndata y: real[N]\nmu ~ Normal(0, 10)\nsigma ~ Normal(0, 5)\ny ~ Normal(mu, sigma)\n"
WIDE = ("data N: int\ndata K: int\ndata x: real[N]\nmu: real[K] ~ Normal(0, 10)\n"
        "z: int[N] ~ Categorical(ones(K) / K)\nx ~ Normal(mu[z], 1)\n")


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        ppl_cli.main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out == f"ppl {ppl.__version__} (the ppl-lang distribution)\n"
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():
        assert re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M).group(1) == ppl.__version__


def test_python_dash_m_ppl_is_the_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ppl", "fit", str(EIGHT), "--quiet", "--steps", "30"], env=_env(),
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    same = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(EIGHT), "--quiet", "--steps", "30"],
                          env=_env(), capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.stdout == same.stdout and run.stdout.startswith("vi: ")
    usage = subprocess.run([sys.executable, "-m", "ppl"], env=_env(), capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: ppl ")


def commands():
    parser = ppl_cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"ppl": parser, **sub.choices}


def test_every_option_has_help():
    missing = [f"{name} {action.dest}" for name, parser in commands().items() for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()]
    assert not missing, "options without help: " + ", ".join(missing)


def test_every_choice_is_explained():
    for name, parser in commands().items():
        for action in parser._actions:
            for choice in action.choices or () if not isinstance(action, argparse._SubParsersAction) else ():
                assert f"{choice}" in action.help, (name, action.dest, choice)
    for name in ("fit", "gradcheck", "compile"):
        estimator = next(a for a in commands()[name]._actions if a.dest == "estimator")
        for how in ESTIMATORS:
            assert re.search(rf"\b{how}: \w", estimator.help), (name, how)      # each value, with what it does


def test_compile_with_data_shows_the_estimators_a_fit_uses(tmp_path, capsys):
    (tmp_path / "wide.ppl").write_text(WIDE)
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    small.write_text(json.dumps({"N": 3, "K": 3, "x": [0.1, 2.0, -1.0]}))
    large.write_text(json.dumps({"N": 3, "K": 100, "x": [0.1, 2.0, -1.0]}))
    _, out, _ = run_main(capsys, "compile", tmp_path / "wide.ppl", "--explain")
    assert re.search(r"^z\[N\] .* enumerate ", out, re.M)
    _, out, _ = run_main(capsys, "compile", tmp_path / "wide.ppl", "--explain", "--data", small)
    assert re.search(r"^z\[N\] .* enumerate ", out, re.M)
    status, out, err = run_main(capsys, "compile", tmp_path / "wide.ppl", "--explain", "--data", large)
    assert status == 0, err
    assert re.search(r"^z\[N\] .* score ", out, re.M)              # 100 values: too many to sum out
    assert run_main(capsys, "compile", tmp_path / "wide.ppl", "--pass", "rewrite", "--data", large)[1] == out
    (tmp_path / "bad.json").write_text(json.dumps({"N": 3, "K": 3, "x": [1.0]}))
    status, out, err = run_main(capsys, "compile", tmp_path / "wide.ppl", "--data", tmp_path / "bad.json")
    assert status == 1 and "data error" in err and out == ""


def test_init_starts_the_fit_there():
    model = ppl.load(EIGHT)
    still = dict(optimizer="adam", steps=1, lr=1e-9)          # a step too small to move
    fit = model.fit(init={"mu": 3.0, "tau": 2.0, "theta_raw": [0.5] * 8}, **still)
    assert float(fit.guide["mu.loc"]) == pytest.approx(3.0, abs=1e-6)
    assert float(fit.guide["tau.loc"]) == pytest.approx(onp.log(2.0), abs=1e-6)       # the image of 2 in R
    onp.testing.assert_allclose(fit.guide["theta_raw.loc"], 0.5, atol=1e-6)
    mle = ppl.load(MODELS / "normal_mle.ppl").fit(init={"sigma": 3.0}, **still)
    assert float(mle.params["sigma"]) == pytest.approx(3.0, abs=1e-6)
    assert float(mle.params["mu"]) == pytest.approx(0.0, abs=1e-6)                   # the model's own


def test_every_lbfgs_start_keeps_the_initial_values():
    built, _ = ppl.load(EIGHT).bind()
    first = built.space.initial()
    lo, hi = built.space.slices["mu.loc"]
    first[lo:hi] = 3.0
    again = restart_point(built.space, onp.random.default_rng(1), ("mu.loc",), first)
    assert again[lo] == 3.0
    t_lo, _ = built.space.slices["tau.loc"]
    assert again[t_lo] != first[t_lo]                        # the rest is drawn anew
    fit = ppl.load(EIGHT).fit(init={"mu": 4.0}, steps=300)
    assert fit.convergence["starts"] == 4 and fit.convergence["converged"]


def test_init_through_the_command_line_is_the_apis(tmp_path, capsys):
    (tmp_path / "init.json").write_text(json.dumps({"mu": 1.0, "tau": 0.5}))
    status, _, err = run_main(capsys, "fit", EIGHT, "--quiet", "--init", tmp_path / "init.json",
                              "--out", tmp_path / "r.json")
    assert status == 0, err
    api = ppl.load(EIGHT).fit(init={"mu": 1.0, "tau": 0.5})
    assert json.loads(json.dumps(api.to_json())) == json.loads((tmp_path / "r.json").read_text())
    assert ppl.load(EIGHT).fit(init=tmp_path / "init.json").to_json()["params"] == api.to_json()["params"]


@pytest.mark.parametrize("init, said", [
    ({"theta": 1.0}, "init: 'theta' is a deterministic"),
    ({"tau": -1.0}, "init: 'tau' = -1.0 is outside its support (positive)"),
    ({"mux": 1.0}, "init: no param or continuous latent is named 'mux' (they are mu, tau, theta_raw)"),
    ({"J": 3}, "init: 'J' is data"),
    ({"theta_raw": [1, 2]}, "init: 'theta_raw' is [1, 2], which is not a number or an array of shape (8,)"),
])
def test_bad_initial_values_are_named(init, said):
    with pytest.raises(ppl.OptionError) as err:
        ppl.load(EIGHT).fit(init=init, steps=5)
    assert str(err.value).startswith(said)


def test_nothing_to_fit_points_to_sample(tmp_path, capsys):
    (tmp_path / "prior.ppl").write_text("mu ~ Normal(0, 1)\n")
    status, _, err = run_main(capsys, "fit", tmp_path / "prior.ppl")
    assert status == 1 and "to draw from its prior, use ppl sample MODEL" in err
    with pytest.raises(ppl.SemanticError) as api:
        ppl.compile("mu ~ Normal(0, 1)").fit()
    assert "to draw from its prior, use model.sample(1000)" in api.value.hint


@pytest.mark.parametrize("line, written", [
    ("data int N;", "data N: int"),
    ("data vector[N] y;", "data y: real[N]"),
    ("data real<lower=0> sigma[J];", "data sigma: real<lower=0>[J]"),
    ("data array[N] int<lower=0, upper=1> y;", "data y: int<lower=0, upper=1>[N]"),
    ("data matrix[N, D] X;", "data X: real[N, D]"),
    ("real<lower=0> tau;", "tau: real<lower=0>"),
])
def test_a_stan_style_declaration_is_written_as_this_language_writes_it(line, written):
    with pytest.raises(ppl.PPLSyntaxError) as err:
        ppl.compile(f"data N: int\n{line}\n")
    assert err.value.hint.startswith(f"declare it as `{written}`: the name first, then a colon and its type")


def test_a_normal_latent_used_as_a_scale_points_to_halfnormal(tmp_path, capsys):
    (tmp_path / "scale.ppl").write_text(SCALE)
    (tmp_path / "scale.data.json").write_text(json.dumps({"N": 3, "y": [1.0, 2.0, 3.0]}))
    status, _, err = run_main(capsys, "fit", tmp_path / "scale.ppl", "--seed", 0)
    assert status == 1 and "Normal's argument 'scale' must be positive, but 'sigma' is" in err
    assert "'sigma' is drawn from Normal, whose values can be negative" in err and "sigma ~ HalfNormal(5)" in err
    with pytest.raises(ppl.FitError) as api:
        ppl.load(tmp_path / "scale.ppl").fit(seed=0)
    assert "sigma ~ HalfNormal(5)" in api.value.hint
    assert ppl.compile(SCALE.replace("Normal(0, 5)", "HalfNormal(5)")).fit({"N": 3, "y": [1.0, 2.0, 3.0]}).mode == "vi"
