"""`ppl fit --out/--draws/--trace/--plot`, `ppl plot`, the summary table, convergence and --tol,
Fit.to_arviz, and failures to write: the command line run as a subprocess, as a user runs it."""
import csv
import importlib.util
import json
import struct
import sys

import numpy as onp
import pytest

import ppl
from conftest import MODELS, read_json, run_main

EIGHT = MODELS / "eight_schools.ppl"
STEPS = 1000
EARLY = ("--optimizer", "adam", "--steps", 5000, "--tol", 0.05)
ADAM = ("--optimizer", "adam", "--steps", STEPS)
PLOT = importlib.util.find_spec("matplotlib") is not None       # the `plot` extra




@pytest.fixture(scope="module")
def eight(module_cli):
    """One eight-schools fit (the default optimizer, L-BFGS on fixed draws) writing every
    output, one by Adam's 1000 steps, and one by Adam that stops early with --tol."""
    d = module_cli.cwd
    full, adam, early = module_cli.many([
        ("fit", EIGHT, "--steps", STEPS, "--out", d / "r.json", "--draws", d / "draws.csv",
         "--trace", d / "trace.csv", *(("--plot", d / "fit.png") if PLOT else ())),
        ("fit", EIGHT, *ADAM, "--quiet", "--out", d / "adam.json", "--trace", d / "adam.csv"),
        ("fit", EIGHT, *EARLY, "--quiet", "--out", d / "early.json")])
    for run in (full, adam, early):
        assert run.returncode == 0, run.stderr
    return {"run": full, "adam_run": adam, "early": early, "dir": d, "result": read_json(d / "r.json"),
            "adam": read_json(d / "adam.json")}


# ------------------------------------------------------------------ --out

def test_result_json_documented_shape(eight):
    result = eight["result"]
    assert {"mode", "seed", "steps", "particles", "objective", "params", "guide", "latents", "estimators",
            "skipped_steps", "convergence", "psis", "trace", "model", "data", "options"} <= set(result)
    assert 0 < result["steps"] < STEPS and len(result["trace"]) == result["steps"]
    assert result["model"] == str(EIGHT) and result["data"] == str(MODELS / "eight_schools.data.json")
    assert result["options"]["estimator"] == "auto"
    c = result["convergence"]
    assert {"method", "converged", "stable", "draws", "drops", "stable_drop", "iterations", "max_steps",
            "evaluations", "gradient", "line_search_failed", "starts", "optima", "unfinished_starts"} <= set(c)
    assert c["method"] == "lbfgs" and c["converged"] and c["stable"] and c["iterations"] == result["steps"]
    assert c["draws"][0] == 32 and len(c["drops"]) == len(c["draws"]) - 1 and c["drops"][-1] <= c["stable_drop"]
    assert c["starts"] == 4 and sum(o["starts"] for o in c["optima"]) == 4
    # the trace is the objective on the fixed draws: it rises within each start
    psis = result["psis"]
    assert {"k_hat", "verdict", "ess", "draws", "latents"} == set(psis) and psis["draws"] == 10_000
    assert 0 < psis["ess"] <= 10_000 and psis["verdict"] in ("good", "ok", "bad")


def test_adam_result_json_documented_shape(eight):
    result = eight["adam"]
    assert result["steps"] == STEPS and len(result["trace"]) == STEPS
    c = result["convergence"]
    assert {"method", "converged", "rule", "tol", "window", "history", "rel_change_mean", "rel_change_median",
            "trend", "movement", "early_stop", "stopped_early", "max_steps", "smoothed"} <= set(c)
    assert c["method"] == "adam"
    assert c["tol"] == 0.01 and c["window"] == 100 and c["max_steps"] == STEPS and not c["early_stop"]
    assert len(c["smoothed"]) == STEPS // c["window"]
    assert set(c["trend"]) == {"slope", "t"} and set(c["movement"]) == {"max", "parameter"}
    # the smoothed objective is the mean of each window of the trace
    assert c["smoothed"][-1] == pytest.approx(onp.mean(result["trace"][-100:]))
    head = eight["adam_run"].stdout.splitlines()[0]
    assert head.startswith(f"vi: {STEPS} steps, 1 particle, seed 0; elbo = ")


def test_summary_table_on_stdout(eight):
    out = eight["run"].stdout.splitlines()
    result = eight["result"]
    draws = result["convergence"]["draws"][-1]
    assert out[0].startswith(f"vi: {result['steps']} L-BFGS iterations, {draws} fixed draws, seed 0; elbo = ")
    assert "±" in out[0]
    assert out[1].startswith("converged: L-BFGS, ") and "fixed draws" in out[1]
    assert out[2].startswith(f"pareto k-hat {result['psis']['k_hat']:.2f} (")
    weighted = ["psis_mean", "psis_sd"] if result["psis"]["latents"] else []
    assert out[3].split() == ["name", "mean", "mcse_mean", "sd", "q05", "q50", "q95", *weighted, "estimator"]
    names = [line.split()[0] for line in out[4:]]
    assert names == ["mu", "tau"] + [f"theta_raw[{i}]" for i in range(8)] + [f"theta[{i}]" for i in range(8)]
    assert all(line.split()[-1] == "pathwise" for line in out[4:14])
    assert all(line.split()[-1] == "deterministic" for line in out[14:])
    if weighted:      # the weighted columns are the JSON's
        row = out[4].split()
        assert float(row[7]) == pytest.approx(result["psis"]["latents"]["mu"]["mean"], rel=1e-3)


def test_summary_compact_for_long_vectors():
    fit = ppl.compile("data y: real[30]\nz: real[30] ~ Normal(0, 1)\ny ~ Normal(z, 1)").fit(
        {"y": list(range(30))}, steps=20)
    from ppl.io.output import table
    lines = table(fit).splitlines()
    assert sum(line.startswith("z[") for line in lines) == 12
    assert lines[-1].startswith("... 18 more elements of z")


def test_params_in_summary(capsys):
    status, out, err = run_main(capsys, "fit", MODELS / "normal_mle.ppl", "--steps", 300, "--quiet")
    assert status == 0, err
    assert "param mu = " in out and "param sigma = " in out


# ------------------------------------------------------------------ --draws, --trace

def test_draws_csv_columns_and_means(eight):
    with open(eight["dir"] / "draws.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header == ["mu", "tau"] + [f"theta_raw[{i}]" for i in range(8)] + [f"theta[{i}]" for i in range(8)]
    assert len(body) == 1000 and all(len(r) == len(header) for r in body)
    draws = onp.array(body, dtype=float)
    latents = eight["result"]["latents"]
    for j, column in enumerate(header):
        name, index = (column.split("[")[0], int(column[:-1].split("[")[1])) if "[" in column else (column, None)
        summary = {k: v if index is None else v[index] for k, v in latents[name].items()}
        se = summary["sd"] / onp.sqrt(len(draws))
        assert abs(draws[:, j].mean() - summary["mean"]) < 3 * se, column       # within Monte Carlo error
        assert draws[:, j].mean() == pytest.approx(summary["mean"], abs=1e-9)   # they are the same draws
        assert onp.quantile(draws[:, j], 0.5) == pytest.approx(summary["q50"], abs=1e-9)
    # the deterministic is computed from the drawn latents, draw by draw
    onp.testing.assert_allclose(draws[:, 10:], draws[:, [0]] + draws[:, [1]] * draws[:, 2:10], atol=1e-9)


def test_trace_csv(eight):
    with open(eight["dir"] / "trace.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "objective"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, eight["result"]["steps"] + 1))
    onp.testing.assert_allclose([float(r[1]) for r in rows[1:]], eight["result"]["trace"])


def test_draws_csv_matrix_and_integer_columns():
    from ppl.io.output import draws_csv
    text = draws_csv({"a": onp.arange(4.0).reshape(2, 2) / 2, "X": onp.arange(12).reshape(2, 2, 3)})
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["a[0]", "a[1]", "X[0,0]", "X[0,1]", "X[0,2]", "X[1,0]", "X[1,1]", "X[1,2]"]
    assert rows[1] == ["0.0", "0.5", "0", "1", "2", "3", "4", "5"]


# ------------------------------------------------------------------ plots

def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])              # the IHDR chunk
    assert data[12:16] == b"IHDR" and width > 100 and height > 100
    assert len(data) > 10_000
    import matplotlib.image
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05                              # not a blank image


def test_fit_plot_png(eight):
    pytest.importorskip("matplotlib")
    assert_png(eight["dir"] / "fit.png")


def test_ppl_plot_result_json(cli, eight, tmp_path):
    pytest.importorskip("matplotlib")
    result = eight["result"]
    (tmp_path / "copy.json").write_text(json.dumps(result))
    r = cli("plot", tmp_path / "copy.json")
    assert r.returncode == 0, r.stderr
    assert_png(tmp_path / "copy.png")

def test_ppl_plot_needs_its_model(capsys, eight, tmp_path):
    pytest.importorskip("matplotlib")
    result = dict(eight["result"])
    del result["model"]                                       # as Fit.to_json of a compiled string
    (tmp_path / "anon.json").write_text(json.dumps(result))
    status, _, err = run_main(capsys, "plot", tmp_path / "anon.json")
    assert status == 1 and "--model" in err
    status, out, err = run_main(capsys, "plot", tmp_path / "anon.json", "--model", EIGHT, "--out", tmp_path / "a.svg")
    assert status == 0, err
    assert out == f"wrote {tmp_path / 'a.svg'}\n"
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")


def test_plot_errors(capsys, tmp_path):
    status, out, err = run_main(capsys, "fit", EIGHT, "--steps", 10, "--plot", tmp_path / "fit.gif")
    assert status == 1 and "fit.gif" in err and ".png" in err and out == ""


# ------------------------------------------------------------------ convergence

def test_tol_stops_early(eight):
    result = read_json(eight["dir"] / "early.json")
    c = result["convergence"]
    assert c["early_stop"] and c["stopped_early"] and c["converged"] and c["tol"] == 0.05
    assert result["steps"] < 5000 and len(result["trace"]) == result["steps"] == len(c["smoothed"]) * c["window"]
    assert min(c["rel_change_mean"], c["rel_change_median"]) < 0.05
    assert "stopped early" in eight["early"].stdout.splitlines()[1]


def test_unconverged_warning(capsys, tmp_path):
    # 30 steps of a fit that is still far from its optimum: seed 1's guide starts at an ELBO near
    # -5000, against about -130 at the optimum
    status, out, err = run_main(capsys, "fit", MODELS / "linear_regression.ppl", "--steps", 30, "--quiet",
                                "--seed", 1, "--out", tmp_path / "r.json", "--optimizer", "adam")
    assert status == 0, err
    c = read_json(tmp_path / "r.json")["convergence"]
    assert c["converged"] is False and c["rule"] is None
    assert "warning: the fit did not converge" in err and "--steps" in err
    assert out.splitlines()[1].startswith("not converged: ")


def test_unconverged_lbfgs_warning(capsys, tmp_path):
    # three L-BFGS iterations are far from the optimum
    status, out, err = run_main(capsys, "fit", MODELS / "linear_regression.ppl", "--steps", 3, "--quiet",
                                "--out", tmp_path / "r.json")
    assert status == 0, err
    c = read_json(tmp_path / "r.json")["convergence"]
    assert c["method"] == "lbfgs" and c["converged"] is False and c["iterations"] == 3
    assert "warning: the fit did not converge within 3 L-BFGS iterations" in err and "--steps" in err
    assert out.splitlines()[1].startswith("not converged: L-BFGS, 3 iterations")


def test_convergence_rule_unit():
    from ppl.infer.convergence import Convergence
    flat = Convergence(1000, tol=0.01)
    stops = [flat.update(-10.0) for _ in range(1000)]
    assert stops.index(True) == 299          # three windows of 100: two relative changes of 0
    assert flat.record(1000)["converged"] and flat.record(1000)["rule"] == "mean"
    trending = Convergence(1000)
    for t in range(1000):
        trending.update(-1000.0 + t)         # still improving by 10% per window
    record = trending.record(1000)
    assert not record["converged"] and record["rel_change_mean"] == pytest.approx(100 / 200, rel=0.1)


def test_convergence_rule_sees_a_slow_climb_the_relative_rule_misses():
    """An objective that gains 0.5 per window of 100 steps, in noise of sd 1 per step: each
    window changes by 0.5 / 1000 relatively, far below tol, but the line through the window
    means rises by about 7 of its standard errors (0.5 / (0.1 / sqrt(2)))."""
    from ppl.infer.convergence import Convergence
    rng = onp.random.default_rng(0)
    climbing, flat = Convergence(1000), Convergence(1000)
    for t in range(1000):
        noise = rng.normal()
        climbing.update(-1000.0 + 0.005 * t + noise)
        flat.update(-1000.0 + noise)
    c, f = climbing.record(1000), flat.record(1000)
    assert c["rel_change_mean"] < 0.01 and c["trend"]["t"] > 3 and not c["converged"]
    assert f["converged"] and abs(f["trend"]["t"]) < 3
    # a minimized objective improves downwards: the same climb is then no improvement
    down = Convergence(1000, direction=-1.0)
    for t in range(1000):
        down.update(-1000.0 + 0.005 * t + rng.normal())
    assert down.record(1000)["trend"]["t"] < -3 and down.record(1000)["converged"]


def test_convergence_rule_sees_parameters_still_moving():
    """A flat objective while a guide location drifts by 0.0003 per step: 0.06 over the last two
    windows, 0.6 of its guide sd (0.1). The verdict fails, and names the parameter."""
    from ppl.infer.convergence import Convergence
    built, _ = ppl.compile("data y: real\nmu ~ Normal(0, 1)\ny ~ Normal(mu, 1)").bind({"y": 1.0})
    space = built.space
    rule = Convergence(1000, space=space)
    theta = space.initial()
    lo, _ = space.slices["mu.loc"]
    for t in range(1000):
        theta = theta.copy()
        theta[lo] += 0.0003
        rule.update(-5.0, theta)
    record = rule.record(1000)
    assert record["rel_change_mean"] == 0 and not record["converged"]
    assert record["movement"]["parameter"] == "mu.loc"
    assert record["movement"]["max"] == pytest.approx(0.6, rel=0.01)
    from ppl.infer.convergence import warnings
    assert "'mu.loc' still moved by 0.6 of its scale" in warnings(record, "elbo")[0]


def test_tol_api_matches_cli(eight):
    fit = ppl.load(EIGHT).fit(steps=5000, tol=0.05, optimizer="adam")
    assert json.loads(json.dumps(fit.to_json())) == read_json(eight["dir"] / "early.json")


# ------------------------------------------------------------------ ArviZ and pandas

@pytest.fixture(scope="module")
def small_fit():
    return ppl.load(EIGHT).fit(steps=200, seed=0)


@pytest.mark.filterwarnings("ignore::FutureWarning")      # ArviZ 0.x announces its 1.0 on import
def test_to_arviz(small_fit):
    pytest.importorskip("arviz")
    idata = small_fit.to_arviz()
    assert idata.posterior["theta"].shape == (1, 1000, 8)
    assert idata.posterior["mu"].shape == (1, 1000)
    assert idata.posterior_predictive["y"].shape == (1, 1000, 8)
    onp.testing.assert_array_equal(idata.observed_data["y"].values, [28, 8, -3, 7, -1, 1, 18, 12])
    onp.testing.assert_allclose(idata.posterior["mu"].values[0], small_fit.draws["mu"])


def test_to_arviz_without_arviz(small_fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)          # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'ppl-lang\[arviz\]'"):
        small_fit.to_arviz()


def test_to_dataframe(small_fit):
    pytest.importorskip("pandas")
    frame = small_fit.to_dataframe()
    assert frame.shape == (1000, 18) and list(frame.columns[:3]) == ["mu", "tau", "theta_raw[0]"]


# ------------------------------------------------------------------ writing

def test_unwritable_outputs_fail_before_fitting(cli, capsys, tmp_path):
    missing = tmp_path / "missing" / "f.out"
    r = cli("fit", EIGHT, "--steps", 10, "--quiet", "--out", missing)
    assert r.returncode == 1 and r.stdout == ""
    assert str(missing) in r.stderr and "Traceback" not in r.stderr
    for option in ("--draws", "--trace", "--plot"):
        status, out, err = run_main(capsys, "fit", EIGHT, "--steps", 10, "--quiet", option, missing)
        assert status == 1 and out == "" and str(missing) in err, option


def test_write_failure_names_the_path(tmp_path):
    from ppl.io.output import write_atomic
    target = tmp_path / "dir"
    target.mkdir()
    with pytest.raises(ppl.PPLError, match="cannot write") as info:
        write_atomic(target, "x")                             # a folder is in the way
    assert str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == [target]               # no temporary file left behind


def test_restore_round_trip(small_fit):
    again = ppl.load(EIGHT).restore(json.loads(json.dumps(small_fit.to_json())))
    for key in small_fit.guide:
        onp.testing.assert_allclose(again.guide[key], small_fit.guide[key], rtol=1e-9)
    assert again.trace == small_fit.trace and again.convergence == small_fit.convergence
    # a result remembers how it was compiled: a full-rank guide is restored as one
    fullrank = ppl.load(EIGHT, guide="fullrank").fit(steps=50).to_json()
    restored = ppl.load(EIGHT).restore(json.loads(json.dumps(fullrank)))
    assert sorted(restored.guide) == sorted(fullrank["guide"]) and restored.predictive(5)["y"].shape == (5, 8)
    with pytest.raises(ppl.PPLError, match="does not match"):
        ppl.compile("data y: real[8]\nm ~ Normal(0, 1)\ny ~ Normal(m, 1)").restore(small_fit.to_json(),
                                                                                  {"y": [0] * 8})
