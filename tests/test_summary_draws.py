"""Summaries and draws: `--num-draws N` (API `num_draws=`) sets the draws behind the table and
`--draws`, the table gives each mean's Monte Carlo standard error, and ArviZ output names its
dimensions by the sizes the model declares."""
import csv
import json

import numpy as onp
import pytest

import ppl
from conftest import MODELS, run_main

EIGHT = MODELS / "eight_schools.ppl"


def test_num_draws_sets_the_summary_and_the_draws_file(tmp_path, capsys):
    status, out, err = run_main(capsys, "fit", EIGHT, "--quiet", "--num-draws", 200, "--out", tmp_path / "r.json",
                                "--draws", tmp_path / "d.csv")
    assert status == 0, err
    with open(tmp_path / "d.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 200
    fit = ppl.load(EIGHT).fit(num_draws=200)              # the same seed: the same numbers
    assert len(fit.draws["mu"]) == 200
    assert json.loads(json.dumps(fit.to_json())) == json.loads((tmp_path / "r.json").read_text())
    mu = onp.array([float(r[0]) for r in rows[1:]])
    assert mu.mean() == pytest.approx(fit.latents["mu"]["mean"], abs=1e-12)


def test_num_draws_is_checked(capsys):
    status, _, err = run_main(capsys, "fit", EIGHT, "--num-draws", 0)
    assert status == 2 and "--num-draws" in err
    with pytest.raises(ppl.OptionError, match="num_draws must be a positive integer, not 0"):
        ppl.load(EIGHT).fit(num_draws=0)
    with pytest.raises(ppl.OptionError, match="num_draws is 10,000,000, more than"):
        ppl.load(EIGHT).fit(num_draws=10 ** 7)


@pytest.fixture(scope="module")
def eight():
    return ppl.load(EIGHT).fit(seed=0)


def test_the_table_gives_each_means_monte_carlo_error(eight, capsys):
    status, out, _ = run_main(capsys, "fit", EIGHT, "--quiet")
    head = out.splitlines()[3].split()
    assert head[:4] == ["name", "mean", "mcse_mean", "sd"]
    mu = next(line.split() for line in out.splitlines() if line.startswith("mu "))
    summary = eight.latents["mu"]
    assert summary["mcse_mean"] == pytest.approx(summary["sd"] / onp.sqrt(1000))
    assert float(mu[2]) == pytest.approx(summary["mcse_mean"], rel=1e-3)
    frame = eight.summary()
    assert frame.loc["tau", "mcse_mean"] == pytest.approx(eight.latents["tau"]["sd"] / onp.sqrt(1000))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_arviz_dimensions_are_the_declared_sizes(eight):
    pytest.importorskip("arviz")
    idata = eight.to_arviz()
    assert idata.posterior["theta_raw"].dims == ("chain", "draw", "J")
    assert idata.posterior["theta"].dims == ("chain", "draw", "J")      # a deterministic, by its length
    assert idata.posterior["mu"].dims == ("chain", "draw")
    for group in ("observed_data", "posterior_predictive", "log_likelihood"):
        assert idata[group]["y"].dims[-1] == "J", group
    assert list(idata.posterior.coords["J"].values) == list(range(8))
    assert not [d for d in idata.posterior.dims if "_dim_" in d]


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("name, expected", [
    ("linear_regression", {"beta": ("D",), "y": ("N",)}),
    ("mixture", {"mu": ("K",), "z": ("N",), "x": ("N",)}),
])
def test_arviz_dimensions_of_the_bundled_models(name, expected):
    pytest.importorskip("arviz")
    idata = ppl.load(MODELS / f"{name}.ppl").fit(steps=50, optimizer="adam").to_arviz()
    for var, dims in expected.items():
        group = idata.posterior if var in idata.posterior else idata.observed_data
        assert group[var].dims[-len(dims):] == dims, var


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_an_ambiguous_size_keeps_arviz_default_name():
    pytest.importorskip("arviz")
    model = ppl.compile("data N: int\ndata M: int\ndata y: real[N]\nmu: real[M] ~ Normal(0, 1)\n"
                        "s = mu * 2\ny ~ Normal(sum(mu), 1)")
    idata = model.fit({"N": 3, "M": 3, "y": [1, 2, 3]}, steps=20, optimizer="adam").to_arviz()
    assert idata.posterior["mu"].dims[-1] == "M"            # declared
    assert idata.posterior["s"].dims[-1] == "s_dim_0"       # 3 is both N and M
