"""Gradient signal-to-noise ratios per parameter group, over windows of a fit's steps."""
from __future__ import annotations

import numpy as onp

WINDOW = 50                       # steps per window
# For pure noise the window's |mean| / sd is about sqrt(2 / pi) / sqrt(WINDOW) (0.11 for 50 steps):
# a score-function site that never rises clearly above that floor gets a warning.
LOW_SNR = 1.5 / WINDOW ** 0.5


class SNRMonitor:
    """Running sums of gradient estimates; at each full window, per group, the mean over elements
    of |mean| / sd of the estimates in that window."""

    def __init__(self, space, window=WINDOW):
        self.groups = dict(space.slices)
        self.window = window
        self.history = {name: [] for name in self.groups}
        self._reset(space.size)

    def _reset(self, size):
        self.n, self.s1, self.s2 = 0, onp.zeros(size), onp.zeros(size)

    def latest(self) -> dict:
        """group -> the SNR of its last full window (groups with none yet left out)."""
        return {name: values[-1] for name, values in self.history.items() if values}

    def update(self, g: onp.ndarray) -> bool:
        """Add one gradient estimate; True when it completed a window."""
        self.n += 1
        self.s1 += g
        self.s2 += g * g
        if self.n == self.window:
            mean = self.s1 / self.n
            sd = onp.sqrt(onp.maximum(self.s2 / self.n - mean ** 2, 0.0) * self.n / (self.n - 1))
            ratio = onp.abs(mean) / onp.where(sd > 0, sd, onp.inf)
            ratio = onp.where((sd == 0) & (mean != 0), onp.inf, ratio)
            for name, (lo, hi) in self.groups.items():
                if hi > lo:
                    self.history[name].append(float(onp.mean(ratio[lo:hi])))
            self._reset(len(g))
            return True
        return False


def summarize(history: dict[str, list[float]], estimators: dict[str, str]) -> dict[str, dict]:
    """Per group: its estimator, and the SNR of the first and the last full window."""
    out = {}
    for name, values in history.items():
        site = name.split(".", 1)[0]
        out[name] = {"estimator": estimators.get(site, "param"),
                     "snr_first": values[0] if values else None, "snr_last": values[-1] if values else None}
    return out


def warnings(history: dict[str, list[float]], estimators: dict[str, str]) -> list[str]:
    """One line per score-function group whose SNR stayed below LOW_SNR in every window."""
    lines = []
    for name, values in history.items():
        site = name.split(".", 1)[0]
        if estimators.get(site) == "score" and values and max(values) < LOW_SNR:
            lines.append(f"warning: the gradient of '{name}' (score function) stayed noisy: signal-to-noise "
                         f"at most {max(values):.3g}; try --particles 10, or enumeration")
    return lines
