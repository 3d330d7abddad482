"""Score-function baselines: what each score site's downstream cost C is centred by.

A baseline b may depend on anything but the particle it centres, so stop(C - b) * grad log q stays
unbiased. The choices (`baseline=`):

- "none": b = 0 (plain REINFORCE, for comparison);
- "loo": leave-one-out, the mean of the other particles' costs (needs 2+ particles);
- "average": a decaying average of past steps' mean costs, decay 0.9 (Pyro's
  `use_decaying_avg_baseline`);
- "auto" (the default): with one particle, "average"; with 2+, leave-one-out shrunk towards the
  decaying average by how well that average has predicted the costs lately.

The shrinkage combines two estimates of E[C] per element: the leave-one-out mean, unbiased with
variance s^2 / (K - 1) (s^2 the costs' variance across particles), and the past average, whose
error e^2 is estimated from how far it was from each new step's mean cost. Weighting each by its
inverse error, b = lam * average + (1 - lam) * loo with lam = s^2 / (s^2 + (K - 1) e^2), s^2 and e^2
summed over the site's elements. All of s^2, e^2 and the average come from earlier steps only, so the weight is fixed before the particles are
drawn. While the costs move (early in a fit) the average lags, e^2 is large and b is nearly
leave-one-out; once they settle b leans on the average, whose error is far below that of K - 1
particles (bench/README.md: 195 -> ~100 on the mixture's assignment logits at 4 particles).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as onp

from ..middle.options import one_of
from .options import BASELINES as CHOICES

DECAY = 0.9                 # the decaying average's decay (Pyro's default baseline_beta)
WARMUP = 10                 # steps of pure leave-one-out before the average is trusted


def used(how: str, particles: int) -> str:
    """The baseline `how` resolves to for `particles` particles (as the JSON result names it)."""
    if how == "auto":
        return "loo+average" if particles >= 2 else "average"
    return how


class Baselines:
    """The running state of every score site's baseline; `b = baselines(i, C)` centres site i's
    costs C (particles first), and `update(downstream)` folds a finished step's costs in.

    >>> import numpy as np
    >>> state = Baselines("loo", n_sites=1, particles=2)
    >>> state(0, np.array([1.0, 3.0])).tolist()
    [3.0, 1.0]
    """

    def __init__(self, how="auto", *, n_sites, particles):
        one_of("baseline", how, CHOICES)
        if how == "loo" and particles < 2:
            how = "none"                          # no other particle to leave out
        self.how, self.K = used(how, particles), particles
        self.steps = 0
        self.average = [0.0] * n_sites          # decaying mean cost (Pyro's: not bias-corrected)
        self.spread = [0.0] * n_sites           # decaying variance across particles, summed over elements
        self.error = [0.0] * n_sites            # decaying squared error of the average, summed likewise

    def __call__(self, i: int, C: onp.ndarray) -> float | onp.ndarray:
        K = self.K
        if self.how == "none":
            return 0.0
        if self.how == "average":
            return self.average[i]
        loo = (onp.sum(C, axis=0) - C) / (K - 1)
        if self.how == "loo" or self.steps < WARMUP:
            return loo
        lam = self.weight(i)
        return lam * self._corrected(self.average[i]) + (1 - lam) * loo

    def weight(self, i: int) -> float:
        """lam: the weight of the past average against leave-one-out, one per site. The errors
        are pooled over the site's elements: one element's few recent misses say little."""
        s2 = self._corrected(self.spread[i])
        # the average's own error: its observed squared miss, less the part the new mean's own
        # sampling noise (s^2 / K) explains; floored at what averaging ~(1+d)/(1-d) steps leaves
        floor = s2 * (1 - DECAY) / ((1 + DECAY) * self.K)
        e2 = max(self._corrected(self.error[i], self.steps - 1) - s2 / self.K, floor)
        denominator = s2 + (self.K - 1) * e2
        return float(s2 / denominator) if denominator > 0 else 0.0

    def update(self, downstream: Iterable[onp.ndarray]) -> None:
        """Fold one finished step's downstream costs (one array per site, particles first) in."""
        self.steps += 1
        for i, C in enumerate(downstream):
            mean = onp.mean(C, axis=0)
            if self.how == "loo+average":
                if self.steps > 1:           # the miss of the average of the steps before
                    miss = onp.sum((self._corrected(self.average[i], self.steps - 1) - mean) ** 2)
                    self.error[i] = DECAY * self.error[i] + (1 - DECAY) * float(miss)
                self.spread[i] = DECAY * self.spread[i] + (1 - DECAY) * float(onp.sum(onp.var(C, axis=0, ddof=1)))
            self.average[i] = DECAY * self.average[i] + (1 - DECAY) * mean

    def _corrected(self, value, steps=None):
        """A decaying average divided by (1 - d^n), so that its first steps are not pulled to 0."""
        steps = self.steps if steps is None else steps
        return value / (1 - DECAY ** steps) if steps > 0 else value
