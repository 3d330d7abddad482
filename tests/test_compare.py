"""Model comparison: the pointwise log-likelihood of the fitted draws, the `log_likelihood` group
that `az.loo` and `az.compare` read, PSIS-LOO (`Fit.loo`) against an exact leave-one-out
predictive, and `ppl compare` (LOO, or the ELBO where LOO does not apply)."""
import json
import warnings

import numpy as onp
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import ppl
from conftest import MODELS, run_main
from ppl.infer.compare import compare, table

REGRESSIONS = sorted(p.stem for p in MODELS.glob("*regression.ppl"))       # every bundled regression
Y = [0.3, -1.2, 0.8, 2.1, 0.4, -0.5, 1.7, 0.9, -0.1, 3.5]
CONJUGATE = "data N: int\ndata y: real[N]\nmu ~ Normal(0, 1)\ny ~ Normal(mu, 1)"


@pytest.fixture(scope="module")
def fits():
    return {name: ppl.load(MODELS / f"{name}.ppl").fit(seed=0) for name in REGRESSIONS + ["eight_schools", "mixture"]}


def test_pointwise_log_likelihood_is_each_observations_density(fits):
    fit = fits["eight_schools"]
    data = json.loads((MODELS / "eight_schools.data.json").read_text())
    expected = norm.logpdf(data["y"], fit.draws["theta"], data["sigma"])
    assert fit.log_likelihood["y"].shape == (1000, 8)
    onp.testing.assert_allclose(fit.log_likelihood["y"], expected, rtol=1e-12)


def test_a_summed_out_latent_is_summed_out_of_the_log_likelihood(fits):
    fit = fits["mixture"]
    x = onp.array(json.loads((MODELS / "mixture.data.json").read_text())["x"])
    mu = fit.draws["mu"]
    expected = logsumexp(norm.logpdf(x[None, :, None], mu[:, None, :], 1) - onp.log(3), axis=2)
    onp.testing.assert_allclose(fit.log_likelihood["x"], expected, rtol=1e-12)


def test_no_pointwise_log_likelihood_outside_inference():
    mle = ppl.load(MODELS / "normal_mle.ppl").fit(steps=200)
    assert mle.log_likelihood == {} and mle.loo() is None and mle.to_json()["loo"] is None


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize("name", REGRESSIONS)
def test_arviz_loo_runs_on_the_bundled_regressions(fits, name):
    az = pytest.importorskip("arviz")
    idata = fits[name].to_arviz()
    assert list(idata.log_likelihood.data_vars) == ["y"]
    assert idata.log_likelihood["y"].dims[:2] == ("chain", "draw")
    result = az.loo(idata)
    mine = fits[name].loo()
    assert onp.isfinite(result.elpd_loo) and result.n_data_points == mine["n"]
    # ArviZ takes the guide's draws for the posterior's; Fit.loo weights them to it: close here
    assert abs(result.elpd_loo - mine["elpd_loo"]) < 0.5 * mine["se"]


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_arviz_compare_ranks_the_fits(fits):
    az = pytest.importorskip("arviz")
    null = ppl.compile((MODELS / "linear_regression.ppl").read_text().replace("alpha + X @ beta", "alpha"))
    table_ = az.compare({"linear": fits["linear_regression"].to_arviz(),
                         "null": null.fit(MODELS / "linear_regression.data.json").to_arviz()})
    assert list(table_.index) == ["linear", "null"]


def exact_loo(y):
    """log p(y_i | y_-i) for y ~ Normal(mu, 1), mu ~ Normal(0, 1): Normal(sum_-i / n, 1 + 1 / n)."""
    y = onp.asarray(y)
    n = len(y)
    rest = (y.sum() - y) / n
    return norm.logpdf(y, rest, onp.sqrt(1 + 1 / n))


def test_loo_matches_the_exact_leave_one_out_predictive():
    fit = ppl.compile(CONJUGATE).fit({"N": len(Y), "y": Y}, seed=0)
    result = fit.loo()
    exact = exact_loo(Y)
    assert result["n"] == len(Y) and result["draws"] == 10_000 and result["weighted"]
    onp.testing.assert_allclose(result["pointwise"]["elpd_loo"], exact, atol=0.02)
    assert result["elpd_loo"] == pytest.approx(exact.sum(), abs=0.05)
    n = len(Y)
    lppd = norm.logpdf(Y, sum(Y) / (n + 1), onp.sqrt(1 + 1 / (n + 1))).sum()     # log p(y_i | y), exactly
    assert result["lppd"] == pytest.approx(lppd, abs=0.02)
    assert result["p_loo"] == pytest.approx(lppd - exact.sum(), abs=0.05) and result["pareto_k"]["bad"] == 0
    assert result["se"] == pytest.approx(onp.sqrt(len(Y) * onp.var(exact)), rel=0.05)


def test_loo_of_eight_schools_is_the_reference(fits):
    """Stan's PSIS-LOO from NUTS draws of the non-centred eight schools: elpd_loo about -30.7, p_loo about 1."""
    result = fits["eight_schools"].loo()
    assert result["elpd_loo"] == pytest.approx(-30.7, abs=0.3) and 0.5 < result["p_loo"] < 1.5
    assert result["pareto_k"]["bad"] == 0


def test_loo_is_in_the_result_json(fits):
    result = fits["linear_regression"].to_json()["loo"]
    assert {"elpd_loo", "se", "p_loo", "n", "draws", "pareto_k", "pointwise", "observations", "data_digest"} <= set(result)
    assert result["observations"] == {"y": [50]} and len(result["pointwise"]["elpd_loo"]) == 50
    json.dumps(result)


# ------------------------------------------------------------------ ppl compare

@pytest.fixture(scope="module")
def results(tmp_path_factory, fits):
    """Result files of the linear regression and of a model without its predictors, same data."""
    d = tmp_path_factory.mktemp("compare")
    null = d / "null.ppl"
    null.write_text((MODELS / "linear_regression.ppl").read_text().replace("alpha + X @ beta", "alpha"))
    for name, model in (("linear", MODELS / "linear_regression.ppl"), ("null", null)):
        status = ppl.cli.main(["fit", str(model), "--data", str(MODELS / "linear_regression.data.json"),
                               "--quiet", "--out", str(d / f"{name}.json")])
        assert status == 0
    return d


def test_compare_ranks_by_loo(results, capsys):
    status, out, err = run_main(capsys, "compare", results / "null.json", results / "linear.json")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("PSIS-LOO over 50 observations, 10,000 draws")
    assert lines[1].split() == ["model", "elpd_loo", "se", "p_loo", "elpd_diff", "se_diff", "pareto_k_bad"]
    assert lines[2].split()[0].endswith("linear.json") and lines[2].split()[4] == "0.00"
    assert lines[3].split()[0].endswith("null.json") and float(lines[3].split()[4]) < -20
    assert lines[4].startswith(f"{results / 'linear.json'} is ahead of {results / 'null.json'} by ")


def test_compare_through_the_api_prints_the_same(results, fits, capsys):
    status, out, _ = run_main(capsys, "compare", results / "linear.json", results / "null.json")
    paths = [str(results / "linear.json"), str(results / "null.json")]
    api = compare({p: json.loads(open(p).read()) for p in paths})
    assert out == table(api) + "\n"
    same = compare({paths[0]: fits["linear_regression"], paths[1]: json.loads(open(paths[1]).read())})
    assert table(same) == table(api)          # a Fit compares as its result does (the same seed)


def test_compare_falls_back_to_the_elbo(results, capsys, tmp_path):
    doc = json.loads((results / "linear.json").read_text())
    doc["loo"] = None
    (tmp_path / "noloo.json").write_text(json.dumps(doc))
    status, out, err = run_main(capsys, "compare", tmp_path / "noloo.json", results / "null.json")
    assert status == 0, err
    assert out.startswith("the ELBO (a lower bound on log p(data)); higher is better. LOO does not apply")
    assert out.splitlines()[1].split() == ["model", "elbo", "stderr", "elbo_diff", "se_diff"]


def test_compare_refuses_what_it_cannot_compare(results, capsys, tmp_path):
    mle = tmp_path / "mle.json"
    assert ppl.cli.main(["fit", str(MODELS / "normal_mle.ppl"), "--quiet", "--out", str(mle)]) == 0
    capsys.readouterr()
    status, out, err = run_main(capsys, "compare", mle, results / "linear.json")
    assert status == 1 and "maximum-likelihood fit" in err and "Traceback" not in err
    eight = tmp_path / "eight.json"
    assert ppl.cli.main(["fit", str(MODELS / "eight_schools.ppl"), "--quiet", "--out", str(eight)]) == 0
    capsys.readouterr()
    status, _, err = run_main(capsys, "compare", eight, results / "linear.json")
    assert status == 1 and "different observations" in err
    status, _, err = run_main(capsys, "compare", results / "linear.json")
    assert status == 2 and "two or more" in err
    other = tmp_path / "other.json"
    data = json.loads((MODELS / "linear_regression.data.json").read_text())
    (tmp_path / "other.data.json").write_text(json.dumps({**data, "y": [v + 1 for v in data["y"]]}))
    assert ppl.cli.main(["fit", str(MODELS / "linear_regression.ppl"), "--data", str(tmp_path / "other.data.json"),
                         "--quiet", "--out", str(other)]) == 0
    capsys.readouterr()
    status, _, err = run_main(capsys, "compare", other, results / "linear.json")
    assert status == 1 and "the fits predict different data" in err
    doc = json.loads((results / "linear.json").read_text())
    doc["loo"]["pointwise"]["elpd_loo"] = doc["loo"]["pointwise"]["elpd_loo"][:3]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    status, _, err = run_main(capsys, "compare", tmp_path / "bad.json", results / "null.json")
    assert status == 1 and "'loo' is malformed" in err and "Traceback" not in err


def test_compare_warns_of_unreliable_observations():
    loo = {"elpd_loo": -10.0, "se": 1.0, "p_loo": 1.0, "n": 2, "observations": {"y": [2]},
           "pointwise": {"elpd_loo": [-5.0, -5.0], "pareto_k": [0.2, 0.9]}}
    other = {**loo, "elpd_loo": -12.0, "pointwise": {"elpd_loo": [-6.0, -6.0], "pareto_k": [0.1, 0.1]}}
    doc = {"mode": "vi", "objective": {"value": -1.0, "stderr": 0.1}}
    with warnings.catch_warnings():
        result = compare({"a": {**doc, "loo": loo}, "b": {**doc, "loo": other}})
    assert [r["pareto_k_bad"] for r in result["rows"]] == [1, 0]
    assert result["warnings"][0].startswith("warning: a has 1 observation with Pareto k above 0.7")
