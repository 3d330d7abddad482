"""A fit's progress on stderr: a live bar on a terminal, plain periodic lines otherwise.

`reporter(steps, name)` returns a `report(step, objective)` callable for `Model.fit(report=...)`
with a `close()`. On a terminal it draws a tqdm bar (steps done, steps/s, elapsed and ETA, the
running objective); when the stream is a file or a pipe (a log, CI) it prints one line every
tenth of the run instead, since a bar redrawn with carriage returns is unreadable there. The
running objective is the mean over the last `window` steps, the smoothing the convergence rule
uses (`ppl.infer.fit.Convergence`). Once the fit has gradient signal-to-noise ratios (`report.snr`,
every 50 steps), both show the noisiest parameter group and the estimator its gradient comes
from: `snr 0.31 z.logits (score)`.

tqdm is the one runtime dependency for this: pure Python, no dependencies of its own, and it
already knows terminals (widths, refresh rates, Windows consoles), which hand-written escape
codes would not.
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from typing import TextIO

LINES = 10            # plain lines per run when the output is not a terminal
REFRESH = 0.1         # seconds between bar refreshes


def reporter(steps: int, name: str, *, stream: TextIO | None = None, bar: bool | None = None,
             estimators: dict[str, str] | None = None) -> Lines | Bar:
    """A `report(step, objective)` for `steps` steps of a fit whose objective is called `name`:
    a bar when `stream` (default stderr) is a terminal or `bar` is True, else plain lines.
    `estimators` ({latent: estimator}) names where each group's gradient comes from.

    >>> import io
    >>> out = io.StringIO()
    >>> report = reporter(20, "elbo", stream=out)
    >>> for t in range(20):
    ...     report(t, -1.0)
    >>> report.close()
    >>> out.getvalue().splitlines()[-1].split("  ")[:2]
    ['step 20/20', 'elbo -1 (mean of last 2 steps)']
    """
    stream = sys.stderr if stream is None else stream
    if bar is None:
        bar = _is_terminal(stream)
    if bar:
        try:
            return Bar(steps, name, stream, estimators or {})
        except ImportError:          # tqdm is a dependency, but a copy run from source may lack it
            pass
    return Lines(steps, name, stream, estimators or {})


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Running:
    """The mean of the last `window` values."""

    def __init__(self, steps):
        self.values = deque(maxlen=max(1, min(100, steps // 10)))
        self.total = 0.0

    def exact(self):
        """The values carry no noise (a deterministic fit): the mean is of the last one only."""
        self.values, self.total = deque(maxlen=1), 0.0

    def add(self, value):
        if len(self.values) == self.values.maxlen:
            self.total -= self.values[0]
        self.values.append(value)
        self.total += value

    @property
    def mean(self):
        return self.total / len(self.values)


class _Noisiest:
    """The parameter group with the lowest gradient signal-to-noise ratio, as a few words."""

    def __init__(self, estimators):
        self.estimators, self.text = estimators, ""

    def exact(self) -> None:
        """Called by a fit whose objective has no noise (L-BFGS on fixed draws): show its value."""
        self.running.exact()

    def snr(self, ratios: dict[str, float]) -> None:
        if ratios:
            group, ratio = min(ratios.items(), key=lambda kv: kv[1])
            how = self.estimators.get(group.split(".", 1)[0], "param")
            self.text = f"snr {ratio:.2g} {group} ({how})"


class Lines(_Noisiest):
    """`step 200/2000  elbo -35.2 (mean of last 100 steps)  snr 0.31 z.logits (score)  1523 steps/s
    eta 1s`, every tenth."""

    def __init__(self, steps, name, stream, estimators=None):
        super().__init__(estimators or {})
        self.steps, self.name, self.stream = steps, name, stream
        self.every, self.start = max(1, steps // LINES), time.perf_counter()
        self.running, self.last, self.latest = _Running(steps), -1, -1

    def __call__(self, t: int, value: float) -> None:
        self.running.add(value)
        self.latest = t
        if (t + 1) % self.every == 0 or t + 1 == self.steps:
            self._line(t)

    def _line(self, t, final=False):
        self.last = t
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = (t + 1) / elapsed
        n = len(self.running.values)
        snr = f"  {self.text}" if self.text else ""
        smoothed = f" (mean of last {n} steps)" if self.running.values.maxlen > 1 else ""
        print(f"step {t + 1}/{self.steps}  {self.name} {self.running.mean:.6g}{smoothed}"
              f"{snr}  {rate:.0f} steps/s  {'done' if final else f'eta {_duration((self.steps - t - 1) / rate)}'}",
              file=self.stream, flush=True)

    def close(self) -> None:
        """A fit that stopped before its last step (converged) still gets its final line."""
        if self.latest > self.last:
            self._line(self.latest, final=True)


class Bar(_Noisiest):
    """A tqdm bar: `elbo -35.2  snr 2.1 mu.loc (pathwise) |████▌     | 900/2000 [00:01<00:01, 1523.4 steps/s]`."""

    def __init__(self, steps, name, stream, estimators=None):
        from tqdm import tqdm
        super().__init__(estimators or {})
        self.name, self.running = name, _Running(steps)
        sized = _width(stream) > 0            # a terminal that reports no size (a bare pty) gets 80 columns
        self.bar = tqdm(total=steps, desc=name, file=stream, unit=" steps", unit_scale=False, dynamic_ncols=sized,
                        ncols=None if sized else 80, nrows=None if sized else 24, mininterval=REFRESH, leave=True, bar_format="{desc} {percentage:3.0f}%|{bar}| "
                        "{n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")
        self.latest, self.shown = 0, 0.0

    def __call__(self, t: int, value: float) -> None:
        self.running.add(value)
        self.latest = t + 1
        now = time.monotonic()
        if now - self.shown >= REFRESH:       # formatting the description every step would cost more than a step
            self._show()
            self.shown = now

    def _show(self):
        snr = f"  {self.text}" if self.text else ""
        self.bar.set_description_str(f"{self.name} {self.running.mean:.6g}{snr}", refresh=False)
        self.bar.update(self.latest - self.bar.n)

    def close(self) -> None:
        if self.running.values:
            self._show()
        if 0 < self.latest < self.bar.total:      # stopped early (converged): the bar ends full
            self.bar.total = self.latest
            self.bar.refresh()
        self.bar.close()


def _width(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
