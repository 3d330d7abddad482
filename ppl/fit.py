"""The fitting loop (stochastic gradient steps with Adam) and the fitted result."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as onp
from autograd.differential_operators import grad_and_aux

from .diagnostics import SNRMonitor
from .errors import FitError
from .optim import Adam

BASELINE_DECAY = 0.9          # decaying-average baseline, as Pyro's default
MAX_BAD_STEPS = 20            # consecutive non-finite steps before a fit gives up
OBJECTIVES = {"vi": ("elbo", -1.0), "mle": ("log_likelihood", -1.0), "optimize": ("objective", 1.0)}


def objective_sign(mode, sense):
    """(name, sign) so that objective = sign * loss."""
    if mode == "optimize":
        return "objective", 1.0 if sense == "minimize" else -1.0
    return OBJECTIVES[mode]


@dataclass
class Trajectory:
    theta: onp.ndarray         # final unconstrained parameters
    trace: list                # the objective per step (nan for a skipped step)
    skipped: int               # steps skipped for a non-finite objective or gradient
    snr: dict                  # parameter group -> signal-to-noise ratio per window of steps


def run(built, rng, *, steps, lr, particles, baseline, sign, report=None) -> Trajectory:
    """Fit `built` with Adam; the objective is `sign` times the loss being minimized."""
    space = built.space
    monitor = SNRMonitor(space)
    n_sites = len(built.score_sites)
    averages = [0.0] * n_sites

    def loss(theta, rng):
        return built.loss(space.unflatten(theta), rng, particles, averages, baseline)

    step_grad = grad_and_aux(loss)
    theta, adam = space.initial(), Adam(lr=lr, steps=steps)
    trace, skipped, bad_run = [], 0, 0
    for t in range(steps):
        state = rng.bit_generator.state
        with onp.errstate(all="ignore"):      # a non-finite step is counted and skipped below
            g, aux = step_grad(theta, rng)
        value = float(onp.mean(aux["total"]))
        if not (math.isfinite(value) and onp.all(onp.isfinite(g))):
            skipped, bad_run = skipped + 1, bad_run + 1
            if bad_run >= MAX_BAD_STEPS:
                _fail(built, space.unflatten(theta), state, particles, t, value)
            trace.append(float("nan"))
            continue
        bad_run = 0
        monitor.update(g)
        theta = adam.step(theta, g)
        for i, C in enumerate(aux["downstream"]):
            averages[i] = BASELINE_DECAY * averages[i] + (1 - BASELINE_DECAY) * onp.mean(C, axis=0)
        trace.append(sign * value)
        if report is not None:
            report(t, sign * value)
    return Trajectory(theta, trace, skipped, monitor.history)


def _fail(built, params, state, particles, t, value):
    rng = onp.random.Generator(onp.random.PCG64())
    rng.bit_generator.state = state
    with onp.errstate(all="ignore"):
        built.diagnose(params, rng, particles)
    what = "objective" if not math.isfinite(value) else "gradient"
    raise FitError(f"the {what} was not finite for {MAX_BAD_STEPS} steps in a row (at step {t + 1})",
                   hint="try a smaller --lr, or check the model for values that can overflow")
