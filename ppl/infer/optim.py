"""Adam with its state in the open, so a fit can report, skip, save and resume steps.

(autograd.misc.optimizers.adam runs its own loop and hides the moments; a fit needs both.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as onp


@dataclass
class Adam:
    """Adam (Kingma and Ba 2015) on a flat vector, with the learning rate decaying geometrically
    from `lr` to `lr * final` over `steps` steps."""
    lr: float = 0.05
    steps: int = 1
    final: float = 0.1
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: onp.ndarray | None = field(default=None, repr=False)
    v: onp.ndarray | None = field(default=None, repr=False)

    def step(self, theta: onp.ndarray, grad: onp.ndarray) -> onp.ndarray:
        """The next parameter vector after descending along `grad`."""
        if self.m is None:
            self.m, self.v = onp.zeros_like(theta), onp.zeros_like(theta)
        rate = self.lr * self.final ** (self.t / max(1, self.steps - 1))
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad ** 2
        mhat = self.m / (1 - self.b1 ** self.t)
        vhat = self.v / (1 - self.b2 ** self.t)
        return theta - rate * mhat / (onp.sqrt(vhat) + self.eps)
