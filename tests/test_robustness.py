"""Interrupted fits resume exactly; numerical faults are skipped or named; outputs never half-written."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

import ppl
from ppl import cli

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "eight_schools.ppl"


def _fit_cli(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "ppl.cli", "fit", str(MODEL), "--seed", "5", "--quiet", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(ppl.__file__).parents[1])})


@pytest.mark.slow
def test_sigint_at_a_random_step_then_resume_is_bit_for_bit(tmp_path):
    steps = "6000"
    run = _fit_cli("--optimizer", "adam", "--steps", steps, "--out", "part.json", "--checkpoint", "fit.npz",
                   cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "fit.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)                                  # the fit is running: its first checkpoint
    time.sleep(random.Random().uniform(0.0, 0.8))         # then a random step
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert "--resume fit.npz" in err and "Traceback" not in err
    part = json.loads((tmp_path / "part.json").read_text())
    assert part["interrupted"] is True and 0 < len(part["trace"]) < int(steps)

    resumed = _fit_cli("--optimizer", "adam", "--steps", steps, "--out", "resumed.json", "--resume", "fit.npz",
                       cwd=tmp_path)
    whole = _fit_cli("--optimizer", "adam", "--steps", steps, "--out", "whole.json", cwd=tmp_path)
    for proc in (resumed, whole):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("resumed.json", "whole.json"))
    assert a["interrupted"] is False
    assert a["guide"] == b["guide"] and a["objective"] == b["objective"] and a["trace"] == b["trace"]


@pytest.mark.parametrize("stop_at", [3, 40, 75])
def test_lbfgs_stopped_then_resumed_is_bit_for_bit(tmp_path, stop_at):
    """Stopped among the starts (3), in a later start (40), among the doubled draws (75): the
    resumed fit ends where the whole one does, bit for bit."""
    model = ppl.load(MODEL)
    calls = iter(range(10 ** 6))
    part = model.fit(checkpoint=tmp_path / "c.npz", stop=lambda: next(calls) == stop_at)
    assert part.interrupted and part.steps == stop_at + 1
    resumed = model.fit(resume=tmp_path / "c.npz").to_json()
    whole = model.fit().to_json()
    assert whole["convergence"]["method"] == "lbfgs" and whole["steps"] > 75
    assert resumed["guide"] == whole["guide"] and resumed["trace"] == whole["trace"]
    assert resumed["convergence"] == whole["convergence"] and resumed["objective"] == whole["objective"]


def test_resume_refuses_another_model_or_options(tmp_path):
    model = ppl.load(MODEL)
    calls = iter(range(10 ** 6))
    model.fit(steps=50, checkpoint=tmp_path / "c.npz", stop=lambda: next(calls) == 10)
    with pytest.raises(ppl.PPLError, match="belongs to another model"):
        model.fit(steps=50, lr=0.01, resume=tmp_path / "c.npz")


def test_a_scale_going_negative_names_its_line():
    model = ppl.compile("param s: real = 1\n\ny ~ Normal(0, s)\nminimize y^2 + 3 * s", "neg.ppl")
    with pytest.raises(ppl.FitError) as err:
        model.fit(steps=500, optimizer="adam")
    text = str(err.value)
    assert text.startswith("neg.ppl:3:1: runtime error: Normal's argument 'scale' must be positive")
    assert "at step" in text and "parameter values there: s = -" in text
    # L-BFGS steps back from such points, until it can go no nearer the optimum (s = 0) than them
    with pytest.raises(ppl.FitError) as err:
        model.fit(steps=500)
    text = str(err.value)
    assert text.startswith("neg.ppl:3:1: runtime error: Normal's argument 'scale' must be positive")
    assert "at step" in text and "parameter values there: s = " in text


def test_transient_nan_steps_are_skipped_and_the_fit_recovers():
    # log(y + 1) is NaN whenever the draw y falls below -1: now and then, never for long
    # with fixed draws the objective is NaN from the start (some draw is below -1), so "auto"
    # leaves L-BFGS for Adam, exactly as if asked for
    model = ppl.compile("param a: real = 0\ny ~ Normal(a, 1)\nminimize (y - 2)^2 + 0 * log(y + 1)")
    fit = model.fit(steps=1500, seed=0)
    assert fit.convergence["method"] == "adam"
    adam = model.fit(steps=1500, seed=0, optimizer="adam")
    assert json.dumps(fit.to_json()) == json.dumps(adam.to_json())        # NaN objectives compare as text
    with pytest.raises(ppl.FitError, match="3:1: runtime error: the objective is nan"):
        model.fit(steps=1500, seed=0, optimizer="lbfgs")
    assert fit.skipped > 0
    assert np.isnan(fit.trace).sum() == fit.skipped
    assert abs(float(fit.params["a"]) - 2) < 0.1


def _as_nobody():
    if os.geteuid() == 0:              # root ignores permissions: drop to an unprivileged user
        os.setgid(65534)
        os.setuid(65534)


def test_unwritable_output_keeps_the_previous_file_and_names_the_path():
    tmp_path = Path(tempfile.mkdtemp())            # pytest's own folders are closed to other users
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    previous = out_dir / "result.json"
    previous.write_text('{"previous": true}\n')
    model = tmp_path / "m.ppl"
    model.write_text("param m: real = 0\ny ~ Normal(m, 1)\nminimize (y - 1)^2\n")
    errors = tmp_path / "stderr.txt"
    errors.write_text("")
    for path in (tmp_path, model, errors):
        path.chmod(0o777 if path.is_dir() else 0o666)
    out_dir.chmod(0o555)
    pid = os.fork()
    if pid == 0:                                   # the child: no privileges, stderr to a file
        status = 99
        try:
            _as_nobody()
            sys.stderr = open(errors, "w")
            status = cli.main(["fit", str(model), "--steps", "20", "--quiet", "--out", str(previous)])
            sys.stderr.flush()
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    out_dir.chmod(0o755)
    assert os.WEXITSTATUS(status) == 1
    assert previous.read_text() == '{"previous": true}\n'
    message = errors.read_text()
    assert f"cannot write {previous}" in message and "Traceback" not in message
    assert list(out_dir.iterdir()) == [previous]               # no temporary file left behind
    shutil.rmtree(tmp_path)


def test_a_diverging_fit_is_an_error_not_a_frozen_converged_one(capsys):
    """A gradient past 1e154 overflows Adam's second moment, whose steps would then all be 0:
    the fit used to stand still there and call itself converged."""
    model = ppl.compile("param a: real = 1\ny ~ Normal(a, 1)\nmaximize 1e155 * a", "big.ppl")
    with pytest.raises(ppl.FitError, match="the fit diverged: a gradient of 1e\\+155 overflowed") as err:
        model.fit(optimizer="adam", steps=300)
    assert "at step 1" in str(err.value) and "parameter values there: a = 1" in str(err.value)
    assert capsys.readouterr().err == ""                     # and no RuntimeWarning on stderr
    lbfgs = model.fit(steps=30)                              # L-BFGS keeps going, and says it has not converged
    assert not lbfgs.convergence["converged"] and "did not converge within 30" in lbfgs.warnings[0]
