"""Progress of `ppl fit`: a bar on a terminal (run under a pseudo-terminal), plain lines when
stderr is a pipe, nothing with --quiet; and the reporter on its own."""
import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest

import ppl
from ppl.io.progress import reporter
from conftest import MODELS, _env

EIGHT = MODELS / "eight_schools.ppl"
LINE = re.compile(r"step (\d+)/(\d+)  elbo (-?[\d.e+-]+) \(mean of last (\d+) steps?\)"
                  r"(?:  snr [\d.e+-]+ [\w.]+ \(\w+\))?  \d+ steps/s  eta \d+s$")


def run_in_pty(args, cwd, columns=100):
    """Run `python -m ppl.cli ARGS` with stdin, stdout and stderr on a pseudo-terminal; its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "ppl.cli", *map(str, args)], cwd=cwd, env=_env(),
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:           # the child closed the terminal (EIO on Linux)
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        proc.wait(timeout=60)
    return proc.returncode, out.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(tmp_path):
    status, out = run_in_pty(["fit", EIGHT, "--optimizer", "adam", "--steps", 1500, "--out", tmp_path / "r.json"],
                             tmp_path)
    assert status == 0, out
    frames = [f for f in re.split(r"[\r\n]+", out) if "%|" in f]
    assert frames, f"no progress bar drawn:\n{out[:2000]}"
    final = frames[-1]
    assert "1500/1500" in final and "100%" in final and "steps/s" in final
    assert re.match(r"\s*elbo -?\d", final), final                # the running objective
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", final), final        # elapsed < remaining (ETA)
    assert "\r" in out                                              # redrawn in place
    assert not LINE.search(out)                                     # no plain lines on a terminal
    assert "vi: 1500 steps" in out                                  # and the summary after it


def test_progress_bar_of_a_fit_that_converges_early(tmp_path):
    """L-BFGS stops when converged, long before --steps: the bar ends full at the steps run, and
    shows the objective itself (it has no noise to smooth)."""
    status, out = run_in_pty(["fit", EIGHT, "--steps", 1500, "--out", tmp_path / "r.json"], tmp_path)
    assert status == 0, out
    steps = json.loads((tmp_path / "r.json").read_text())["steps"]
    assert steps < 1500
    final = [f for f in re.split(r"[\r\n]+", out) if "%|" in f][-1]
    assert f"{steps}/{steps}" in final and "100%" in final, final
    assert re.match(r"\s*elbo -?\d", final), final


@pytest.fixture(scope="module")
def piped(module_cli):
    """`ppl fit` (Adam) with stderr a pipe, with and without --quiet, and by L-BFGS (all at once)."""
    return module_cli.many([("fit", EIGHT, "--steps", 500, "--optimizer", "adam"),
                            ("fit", EIGHT, "--steps", 300, "--quiet", "--optimizer", "adam"),
                            ("fit", EIGHT, "--steps", 500)])


def test_plain_lines_when_not_a_terminal(piped):
    r = piped[0]
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("step ")]
    assert [int(LINE.match(line).group(1)) for line in lines] == list(range(50, 501, 50))
    assert re.search(r"snr [\d.e+-]+ \w+\.(loc|scale) \(pathwise\)", lines[-1]), lines[-1]  # the noisiest group
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    assert r.stdout.startswith("vi: 500 steps")                   # the summary goes to stdout


def test_quiet_prints_no_progress(piped):
    r = piped[1]
    assert r.returncode == 0, r.stderr
    assert "step " not in r.stderr and "%|" not in r.stderr
    assert r.stdout.startswith("vi: 300 steps")                   # --quiet keeps the summary


def test_plain_lines_end_with_the_last_step_of_an_early_stop(piped):
    r = piped[2]
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("step ")]
    steps = int(r.stdout.split()[1])                              # "vi: 93 L-BFGS iterations, ..."
    assert steps < 500 and lines[-1].startswith(f"step {steps}/500  elbo ")
    assert "mean of last" not in lines[-1]                        # an exact objective, not smoothed


def test_lines_report_the_running_mean():
    out = io.StringIO()
    report = reporter(100, "objective", stream=out)
    for t in range(100):
        report(t, float(t))
    report.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    match = LINE.match(lines[-1].replace("objective", "elbo"))
    assert match and match.group(1) == "100" and float(match.group(3)) == pytest.approx(94.5)   # mean of 90..99
    assert match.group(4) == "10"


def test_bar_on_a_stream_without_a_size():
    """A terminal that reports no size still gets a bar (80 columns), and close() completes it."""
    out = io.StringIO()
    report = reporter(50, "elbo", stream=out, bar=True)
    for t in range(50):
        report(t, -1.0)
    report.close()
    final = out.getvalue().split("\r")[-1]
    assert "50/50" in final and "elbo -1" in final and len(final.rstrip("\n")) <= 80


def test_stream_kind_is_detected():
    assert type(reporter(10, "elbo", stream=io.StringIO())).__name__ == "Lines"


def test_lines_show_the_noisiest_gradient_group_and_its_estimator():
    out = io.StringIO()
    report = reporter(20, "elbo", stream=out, estimators={"z": "score", "mu": "pathwise"})
    for t in range(10):
        report(t, -1.0)
    report.snr({"z.logits": 0.31, "mu.loc": 2.5})
    for t in range(10, 20):
        report(t, -1.0)
    lines = out.getvalue().splitlines()
    assert "snr" not in lines[0]
    assert "snr 0.31 z.logits (score)" in lines[-1]


def test_fit_reports_snr_while_it_runs():
    seen = []

    class Report:
        def __call__(self, t, value):
            pass

        def snr(self, ratios):
            seen.append(dict(ratios))

    ppl.compile("param mu: real = 0\ny ~ Normal(mu, 1)\nminimize (y - 3)^2").fit(steps=200, report=Report(),
                                                                               optimizer="adam")
    assert len(seen) == 4 and set(seen[-1]) == {"mu"} and seen[-1]["mu"] > 0
