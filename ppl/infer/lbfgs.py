"""L-BFGS with its state in the open, so a fit can report, save and resume every iteration.

(scipy.optimize's L-BFGS-B runs its own loop and keeps its memory inside Fortran; a fit needs to
checkpoint between iterations and resume bit for bit.) The direction is the two-loop recursion
of Nocedal and Wright (Algorithm 7.4) over the last `memory` steps; the step length is found by
bisection on the weak Wolfe conditions (Lewis and Overton 2013), so every accepted step has
s'y > 0 and the inverse Hessian estimate stays positive definite. A trial point whose objective
or gradient is not finite counts as too far, and a step longer than the quasi-Newton one moves
no coordinate by more than MAX_MOVE of its scale (the square root of the diagonal the direction
is built on).

>>> import numpy as np
>>> f = lambda x: (float((x[0] - 1) ** 2 + 10 * (x[1] - x[0] ** 2) ** 2),
...                np.array([2 * (x[0] - 1) - 40 * x[0] * (x[1] - x[0] ** 2), 20 * (x[1] - x[0] ** 2)]))
>>> opt = LBFGS(np.zeros(2), *f(np.zeros(2)))
>>> while not (opt.converged() or opt.failed) and opt.iterations < 200:
...     opt.step(f)
>>> np.round(opt.x, 6).tolist()
[1.0, 1.0]
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as onp

C1, C2 = 1e-4, 0.9          # sufficient decrease and curvature constants of the Wolfe conditions
MAX_EVALUATIONS = 40        # objective evaluations per line search
MAX_MOVE = 100.0            # the furthest a step extrapolates a coordinate, in units of sqrt(diagonal)
FTOL = 1e-12                # converged: relative decrease of the objective below this...
GTOL = 1e-8                 # ...or every gradient element below this (times max(1, |f|))


@dataclass
class LBFGS:
    """The current point `x` with its objective `f` and gradient `g`, and the last `memory`
    steps `s` and gradient changes `y`."""
    x: onp.ndarray
    f: float
    g: onp.ndarray
    memory: int = 10
    s: list = field(default_factory=list)
    y: list = field(default_factory=list)
    iterations: int = 0
    evaluations: int = 0
    decrease: float = math.inf     # the last iteration's decrease of f
    failed: bool = False           # the last line search found no acceptable step

    def direction(self, diagonal: onp.ndarray | None = None) -> onp.ndarray:
        """-H g with H the L-BFGS inverse Hessian estimate, built on `diagonal` (an estimate of
        the inverse Hessian's diagonal, default all ones) scaled by the last step's curvature;
        at first, the scaled gradient, at most 1 long in the largest coordinate."""
        h0 = onp.ones_like(self.g) if diagonal is None else diagonal
        q = self.g.copy()
        alphas = []
        for s, y in zip(reversed(self.s), reversed(self.y)):
            a = s @ q / (y @ s)
            alphas.append(a)
            q -= a * y
        q *= h0
        if self.s:
            s, y = self.s[-1], self.y[-1]
            q *= (s @ y) / (y @ (h0 * y))
        else:
            q /= max(1.0, float(onp.max(onp.abs(q) / onp.sqrt(h0))))
        for (s, y), a in zip(zip(self.s, self.y), reversed(alphas)):
            q += s * (a - y @ q / (y @ s))
        return -q

    def step(self, fun: Callable[[onp.ndarray], tuple[float, onp.ndarray]],
             diagonal: onp.ndarray | None = None) -> None:
        """One iteration: a line search along the L-BFGS direction (on `diagonal`, see
        `direction`); `fun(x)` returns (f, g)."""
        with onp.errstate(all="ignore"):       # pairs of extreme curvature overflow: not a descent direction
            d = self.direction(diagonal)
            slope = float(self.g @ d)
        if not slope < 0:           # not a descent direction (rounding): start the memory afresh
            self.s, self.y = [], []
            d = self.direction(diagonal)
            slope = float(self.g @ d)
        h0 = onp.ones_like(self.g) if diagonal is None else diagonal
        reach = float(onp.max(onp.abs(d) / onp.sqrt(h0), initial=0.0))
        if reach == 0:              # a zero gradient: the point is a stationary one already
            return
        # the full step first; beyond it, no coordinate moves more than MAX_MOVE of its scale
        longest = max(1.0, MAX_MOVE / reach)
        t, lo, hi = 1.0, 0.0, math.inf
        best = None
        for _ in range(MAX_EVALUATIONS):
            x = self.x + t * d
            f, g = fun(x)
            self.evaluations += 1
            if not (math.isfinite(f) and onp.isfinite(g).all()) or f > self.f + C1 * t * slope:
                hi = t                                  # too far
            elif g @ d < C2 * slope and t < longest:
                lo, best = t, (x, f, g)                 # decreases, but the slope is still steep
            else:
                best = (x, f, g)
                break
            t = min(2 * lo, longest) if hi == math.inf else (lo + hi) / 2
        if best is None:
            self.failed, self.decrease = True, 0.0
            return
        x, f, g = best
        s, y = x - self.x, g - self.g
        if s @ y > 1e-12 * math.sqrt((s @ s) * (y @ y)):
            self.s, self.y = (self.s + [s])[-self.memory:], (self.y + [y])[-self.memory:]
        self.decrease, self.failed = self.f - f, False
        self.x, self.f, self.g = x, f, g
        self.iterations += 1

    def restart(self, f: float, g: onp.ndarray, x: onp.ndarray | None = None) -> None:
        """Start afresh at `x` (default: here), where the objective, or a new one, is `f` with
        gradient `g`: no curvature pairs from before."""
        self.x = self.x if x is None else x
        self.f, self.g, self.s, self.y = f, g, [], []
        self.decrease, self.failed = math.inf, False

    def converged(self) -> bool:
        """The objective stopped decreasing, or the gradient vanished."""
        scale = max(1.0, abs(self.f))
        return not self.failed and (self.decrease <= FTOL * scale or self.gradient_size() <= GTOL * scale)

    def gradient_size(self) -> float:
        return float(onp.max(onp.abs(self.g), initial=0.0))
