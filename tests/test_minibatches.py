"""Minibatches drawn ahead in a worker process: the same rows and generator as drawn in step, and
a worker that fails, is killed or loses its fit is reported or goes away, never hangs."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ppl
from ppl.infer import minibatches as mb
from ppl.front.errors import FitError
from conftest import ROOT

MODEL = """
data N: int
data X: real[N, 2]
data y: real[N]
beta: real[2] ~ Normal(0, 1)
y ~ Normal(X @ beta, 1)
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
                                reason="minibatches are drawn ahead only where the system forks and has two cores")


def state(rng):
    return json.dumps(rng.bit_generator.state, default=lambda a: a.tolist())


def bound(data=None, batch=7, seed=3):
    rng = np.random.default_rng(0)
    data = data or {"N": 50, "X": rng.normal(size=(50, 2)), "y": rng.normal(size=50)}
    return ppl.compile(MODEL).bind(data, seed=seed, batch_size=batch)


@pytest.mark.parametrize("bits", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_ahead_hands_out_the_rows_and_data_drawn_in_step_and_settles_the_generator(bits):
    built, _ = bound()
    rng = np.random.Generator(bits(5))
    source = mb.minibatches(built, rng)
    assert isinstance(source, mb.Ahead)
    ahead = []
    for step in range(10):
        rows, cuts = source()
        ahead.append((rows.copy(), [c.copy() for c in cuts]))
        if step == 4:
            source.settle()
            settled = state(rng)
    source.close()
    after = state(rng)

    rng = np.random.Generator(bits(5))
    for step, (rows, cuts) in enumerate(ahead):
        want_rows, want_cuts = built.minibatch(rng)
        np.testing.assert_array_equal(rows, want_rows)
        for cut, want in zip(cuts, want_cuts):
            assert cut.shape == want.shape and cut.dtype == want.dtype
            np.testing.assert_array_equal(cut, want)
        if step == 4:
            assert state(rng) == settled                  # a checkpoint here saves the generator in step
    assert state(rng) == after


def test_closing_before_any_minibatch_leaves_the_generator_untouched():
    built, rng = bound()
    before = rng.bit_generator.state
    source = mb.minibatches(built, rng)
    time.sleep(0.05)                                      # the worker has drawn ahead by now
    source.close()
    assert rng.bit_generator.state == before
    assert not _running(source.pid)


def test_a_worker_that_fails_is_reported_with_its_error(monkeypatch):
    built, rng = bound()

    def broken(self, rng, into=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(built), "minibatch", broken)   # the worker forks with it
    source = mb.minibatches(built, rng)
    with pytest.raises(FitError, match="the process reading the minibatches failed: RuntimeError: disk on fire"):
        source()
    source.close()


def test_a_killed_worker_is_reported_not_waited_for():
    built, rng = bound()
    source = mb.minibatches(built, rng)
    source()
    os.kill(source.pid, signal.SIGKILL)
    with pytest.raises(FitError) as err:
        _drain(source)                                    # what it drew before it died is still handed out
    assert "was stopped by signal 9 (SIGKILL)" in str(err.value)
    assert "it may have run out of memory" in str(err.value)
    source.close()


def test_a_worker_ended_by_a_real_time_signal_is_reported():
    built, rng = bound()
    source = mb.minibatches(built, rng)
    source()
    os.kill(source.pid, signal.SIGRTMIN + 2)
    with pytest.raises(FitError, match=r"stopped by signal \d+ \(Real-time signal 2\)"):
        _drain(source)
    source.close()


def test_an_interrupt_during_the_fork_stops_the_fit_and_leaves_no_worker():
    code = """
import os, signal
from test_minibatches import MODEL, _running
import numpy as np, ppl
armed = [True]

def interrupt():                     # Ctrl-C while the worker is being forked
    if armed[0]:
        armed[0] = False
        os.kill(os.getpid(), signal.SIGINT)

os.register_at_fork(before=interrupt)
rng = np.random.default_rng(0)
data = {"N": 500, "X": rng.normal(size=(500, 2)), "y": rng.normal(size=500)}
model = ppl.compile(MODEL)
try:
    model.fit(data, steps=50, batch_size=10)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
children = open(f"/proc/self/task/{os.getpid()}/children").read().split()
print("children", [pid for pid in children if _running(int(pid))])
print("blocked", signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set()))
model.fit(data, steps=50, batch_size=10)
print("next fit done")
"""
    out = subprocess.run(_python(code), capture_output=True, text=True, timeout=120)
    assert out.stdout.split("\n")[:4] == ["interrupted", "children []", "blocked False", "next fit done"], \
        out.stdout + out.stderr


def test_the_worker_ignores_an_interrupt_meant_for_the_fit():
    built, rng = bound()
    source = mb.minibatches(built, rng)
    os.kill(source.pid, signal.SIGINT)
    time.sleep(0.2)
    assert _running(source.pid)
    source()
    source.close()


def test_a_mapped_data_file_cut_short_during_the_fit_is_a_fit_error(tmp_path):
    rng = np.random.default_rng(1)
    N = 200_000
    np.save(tmp_path / "X.npy", rng.normal(size=(N, 2)))
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    built, rng = bound({"N": N, "X": X, "y": np.zeros(N)}, batch=1000)
    source = mb.minibatches(built, rng)
    source()
    os.truncate(tmp_path / "X.npy", 4096)                 # every later read past the first page fails
    with pytest.raises(FitError, match="the process reading the minibatches was stopped by signal 7 .SIGBUS."):
        _drain(source)
    source.close()


def test_the_worker_goes_away_with_its_fit():
    code = """
import os
from test_minibatches import bound
from ppl.infer import minibatches as mb
built, rng = bound()
source = mb.minibatches(built, rng)
source()
print(source.pid, flush=True)
os._exit(0)
"""
    out = subprocess.run(_python(code), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid)


def test_the_command_line_reports_a_killed_worker_without_a_traceback(tmp_path):
    (tmp_path / "m.ppl").write_text(MODEL)
    rng = np.random.default_rng(3)
    (tmp_path / "d.json").write_text(json.dumps({"N": 500, "X": rng.normal(size=(500, 2)).tolist(),
                                                 "y": rng.normal(size=500).tolist()}))
    code = "from ppl.cli import main\nsys.exit(main())"
    argv = _python(code) + ["fit", "m.ppl", "--data", "d.json", "--batch-size", "10", "--steps", "10000000",
                            "--quiet"]
    with subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        worker = None
        deadline = time.monotonic() + 60
        while worker is None and time.monotonic() < deadline:      # the fit's worker, once forked
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    worker = next(iter(f.read().split()), None)
            except FileNotFoundError:
                break
            time.sleep(0.05)
        assert worker is not None, proc.stderr.read()
        time.sleep(0.3)                                            # some steps in
        os.kill(int(worker), signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err
    assert re.fullmatch("m.ppl: runtime error: the process reading the minibatches was stopped by signal 9 "
                        r"\(SIGKILL\), before step \d+\n  it may have run out of memory\n", err), err


def test_a_fit_with_sigchld_ignored_neither_hangs_nor_misses_a_dead_worker():
    built, rng = bound()
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)     # children reaped by the system
    try:
        source = mb.minibatches(built, rng)
        source()
        source.close()
        source = mb.minibatches(built, rng)
        source()
        os.kill(source.pid, signal.SIGKILL)
        with pytest.raises(FitError, match="the process reading the minibatches ended"):
            _drain(source)
        source.close()
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_a_fit_starts_while_another_thread_waits_on_stdin():
    code = """
import sys, threading
from test_minibatches import bound
from ppl.infer import minibatches as mb
threading.Thread(target=sys.stdin.read, daemon=True).start()
built, rng = bound()
source = mb.minibatches(built, rng)
assert isinstance(source, mb.Ahead)
for _ in range(10):
    source()
source.close()
print("done", flush=True)
"""
    with subprocess.Popen(_python(code), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            proc.wait(timeout=60)                 # stdin stays open and empty: the reader waits
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the fit hung")
        assert proc.stdout.read().strip() == "done", proc.stderr.read()


def _drain(source):
    """Take minibatches until the source fails: at most every buffer the worker filled, then one."""
    for _ in range(mb.SLOTS + 2):
        source()


def _python(code):
    """The command line of a Python process running `code`, ppl and these tests importable."""
    path = [str(ROOT), str(ROOT / "tests")]
    return [sys.executable, "-c", f"import sys\nsys.path[:0] = {path!r}\n{code}"]


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"     # a zombie has exited
    except FileNotFoundError:
        return False


def test_a_fit_through_the_worker_equals_the_fit_in_step(monkeypatch):
    from ppl.infer import fit as fitting
    model = ppl.load(ROOT / "models" / "logistic_regression.ppl")
    data = ROOT / "models" / "logistic_regression.data.json"
    ahead = model.fit(data, steps=150, seed=4, batch_size=20, particles=2)
    monkeypatch.setattr(fitting, "minibatches", mb.InStep)
    in_step = model.fit(data, steps=150, seed=4, batch_size=20, particles=2)
    assert ahead.to_json() == in_step.to_json()


def test_a_fit_whose_mapped_data_file_is_cut_short_stops_with_a_clear_error(tmp_path):
    rng = np.random.default_rng(2)
    N = 200_000
    np.save(tmp_path / "X.npy", rng.normal(size=(N, 2)))
    data = {"N": N, "X": np.load(tmp_path / "X.npy", mmap_mode="r"), "y": np.zeros(N)}
    steps = iter(range(10 ** 6))

    def cut_short():
        if next(steps) == 4:
            os.truncate(tmp_path / "X.npy", 4096)
        return False

    with pytest.raises(FitError) as err:
        ppl.compile(MODEL).fit(data, steps=200, batch_size=1000, stop=cut_short)
    text = str(err.value)
    assert "the process reading the minibatches was stopped by signal 7 (SIGBUS), before step" in text
    assert "check that the memory-mapped data file was not changed or removed during the fit" in text
