"""The fitting loop (stochastic gradient steps with Adam) and the fitted result."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as onp

from . import checkpoint as saved
from .baselines import Baselines
from .convergence import Convergence
from .diagnostics import SNRMonitor
from ..front.errors import FitError, PPLError
from .minibatches import minibatches
from .optim import Adam
from ..back.program import PASS_ELEMENTS
from ..kernels.streams import Streams

if TYPE_CHECKING:
    from ..back.params import ParamSpace
    from ..back.program import Program

MAX_BAD_STEPS = 20            # consecutive non-finite steps before a fit gives up
OBJECTIVES = {"vi": ("elbo", -1.0), "mle": ("log_likelihood", -1.0), "optimize": ("objective", 1.0)}


def objective_sign(mode: str, sense: str | None) -> tuple[str, float]:
    """(name, sign) so that objective = sign * loss."""
    if mode == "optimize":
        return "objective", 1.0 if sense == "minimize" else -1.0
    return OBJECTIVES[mode]


@dataclass
class Trajectory:
    theta: onp.ndarray         # final unconstrained parameters (averaged over the last steps)
    trace: list                # the objective per step (nan for a skipped step)
    skipped: int               # steps skipped for a non-finite objective or gradient
    snr: dict                  # parameter group -> signal-to-noise ratio per window of steps
    convergence: dict | None = None   # the convergence rule's verdict (`Convergence.record`)
    interrupted: bool = False  # stopped by a signal before its last step
    steps: int | None = None   # the steps run (default: the trace's length)

    def __post_init__(self):
        if self.steps is None:
            self.steps = len(self.trace)


@dataclass
class Loop:
    """Everything a fit carries from one step to the next (besides the optimizer, the averages
    and the monitors): what a checkpoint stores."""
    t: int
    theta: onp.ndarray
    trace: list
    skipped: int = 0
    bad_run: int = 0
    interrupted: bool = False


def run(built: Program, rng: onp.random.Generator, *, steps: int, lr: float, particles: int, baseline: str,
        sign: float, report: Callable[[int, float], object] | None = None, tol: float | None = None,
        resume: str | Path | None = None, checkpoint: str | Path | None = None, every: int = 100,
        fingerprint: str = "", stop: Callable[[], bool] | None = None, chunk: int | None = None,
        theta: onp.ndarray | None = None) -> Trajectory:
    """Fit `built` with Adam; the objective is `sign` times the loss being minimized; `report(t,
    objective)` is called after every step and, if it has one, `report.snr({group: ratio})` after
    every window of the gradient signal-to-noise monitor. With `tol`,
    stop as soon as the convergence rule (`Convergence`) holds at that tolerance. `checkpoint` is
    a path written every `every` steps (and when stopped); `resume` a path to continue from, which
    then ends bit for bit where the uninterrupted fit would. `stop()` is asked after every step:
    when it says so, the fit ends there (marked interrupted). About `chunk` particles run per
    pass (`Program.gradient`; by default as many as keep a pass's widest observation, and its
    per-particle gradient, under `PASS_ELEMENTS` numbers); the result does not depend on it.
    `theta` is where the fit starts (default: the parameters' initial values).

    `rng` draws the particles' own streams (`Streams`) once, then each step's minibatch rows
    (`minibatches`: drawn a few steps ahead in a worker process where possible; the generator
    ends as if each were drawn at its step)."""
    space = built.space
    if chunk is None:       # a pass holds K x (observation elements, parameters) numbers at most
        chunk = max(1, PASS_ELEMENTS // max(1, built.widest, space.size))
    loop = Loop(0, space.initial() if theta is None else theta, [])
    streams = Streams.seeded(rng, particles)
    baselines = Baselines(baseline, n_sites=len(built.score_sites), particles=particles)
    parts = {"loop": loop, "baselines": baselines, "adam": Adam(lr=lr, steps=steps), "tail": TailAverage(steps),
             "convergence": Convergence(steps, tol, space, direction=-sign), "monitor": SNRMonitor(space),
             "streams": SimpleNamespace(states=streams.state)}
    if resume is not None:
        saved.load(resume, parts, rng, fingerprint, saved.array_limit(space.size), fixed=FIXED)
        _resumable(resume, loop, parts, steps, particles)
        streams.state = parts["streams"].states
        loop.interrupted = False
    # a subsampled fit's next minibatches are drawn and gathered while the steps run
    source = None
    try:
        source = minibatches(built, rng) if built.batch is not None else None
        while loop.t < steps:
            try:
                batch = source() if source is not None else None
            except FitError as err:
                raise FitError(f"{err.message}, before step {loop.t + 1}", hint=err.hint) from None
            if _step(built, parts, streams, batch, particles, chunk, sign, report) and tol is not None:
                break
            if stop is not None and stop():
                loop.interrupted = True
            if checkpoint is not None and (loop.interrupted or loop.t % every == 0):
                parts["streams"].states = streams.state
                if source is not None:
                    source.settle()
                saved.save(checkpoint, parts, rng, fingerprint)
            if loop.interrupted:
                break
    finally:
        if source is not None:
            source.close()
    return Trajectory(parts["tail"].value(loop.theta), loop.trace, loop.skipped, parts["monitor"].history,
                      parts["convergence"].record(len(loop.trace)), loop.interrupted)


# the settings of a fit's parts, which its options fix: a checkpoint must hold these very values
FIXED = ("adam.lr", "adam.steps", "adam.final", "adam.b1", "adam.b2", "adam.eps", "tail.start", "convergence.tol",
         "convergence.early", "convergence.steps", "convergence.window", "convergence.direction", "monitor.groups",
         "monitor.window", "baselines.how", "baselines.K")


def _resumable(path, loop, parts, steps, particles):
    """The counters of a loaded checkpoint agree with each other and with this fit, and what
    is made at a step (Adam's moments, the tail's sum) is there once a step made it."""
    states, adam, tail = parts["streams"].states, parts["adam"], parts["tail"]
    window = parts["convergence"]
    made = [(adam.t > 0, adam.m), (adam.t > 0, adam.v), (tail.n > 0, tail.sum), (window.n > 0, window.theta_sum)]
    fine = (loop.t <= steps and len(loop.trace) == loop.t and loop.skipped <= loop.t and loop.bad_run <= loop.t
            and adam.t <= loop.t and isinstance(states, list) and len(states) == particles
            and all(isinstance(s, dict) for s in states)
            and all(isinstance(v, onp.ndarray) if step else v is None for step, v in made))
    if not fine:
        raise PPLError(f"checkpoint {path} is not one this fit wrote: its counters do not agree (step {loop.t})",
                       hint="pass a file written by --checkpoint, unchanged")


def _step(built, parts, streams, batch, particles, chunk, sign, report) -> bool:
    """One step: the gradient, then Adam's update, or a skip when the objective or the gradient
    is not finite; True when the convergence rule holds at the end of this step's window."""
    loop, adam, baselines, monitor = parts["loop"], parts["adam"], parts["baselines"], parts["monitor"]
    t = loop.t
    # the step's draws, to replay it if it is the one that ends the fit (only that one)
    state = (batch, streams.state) if loop.bad_run == MAX_BAD_STEPS - 1 else None
    with onp.errstate(all="ignore"):      # a non-finite step is counted and skipped below
        try:
            g, aux = built.gradient(loop.theta, batch, streams, particles, baselines, chunk)
        except FitError as err:
            raise at_step(err, t, built.space, loop.theta) from None
    loop.t += 1
    value = float(aux["total"].mean())
    if not (math.isfinite(value) and onp.isfinite(g).all()):
        loop.skipped, loop.bad_run = loop.skipped + 1, loop.bad_run + 1
        if loop.bad_run >= MAX_BAD_STEPS:
            _fail(built, loop.theta, state, particles, t, value)
        loop.trace.append(float("nan"))
        return False
    loop.bad_run = 0
    with onp.errstate(all="ignore"):          # a huge gradient's ratio is nan: no warning on stderr
        windowed = monitor.update(g)
    if windowed and hasattr(report, "snr"):
        report.snr(monitor.latest())
    with onp.errstate(over="ignore", invalid="ignore"):
        loop.theta = adam.step(loop.theta, g)
    if not onp.isfinite(adam.v).all():       # its steps would be 0 from here on: a frozen fit, not a converged one
        raise at_step(FitError(f"the fit diverged: a gradient of {float(onp.max(onp.abs(g))):.3g} overflowed "
                               "Adam's estimate of its square (the objective may grow without limit: check what "
                               "it maximizes or minimizes, or scale it down)"), t, built.space, loop.theta)
    parts["tail"].add(t, loop.theta)
    baselines.update(aux["downstream"])
    loop.trace.append(sign * value)
    if report is not None:
        report(t, sign * value)
    return parts["convergence"].update(sign * value, loop.theta)


class TailAverage:
    """The mean of the iterates over the last quarter of the steps (Polyak-Ruppert averaging):
    it removes most of the noise that single-sample gradients leave in the final iterate."""

    def __init__(self, steps, fraction=0.25):
        self.start = int(steps * (1 - fraction))
        self.sum, self.n = None, 0

    def add(self, t, theta):
        if t >= self.start:
            self.sum = theta.copy() if self.sum is None else self.sum + theta
            self.n += 1

    def value(self, theta):
        return theta if self.n == 0 else self.sum / self.n


def at_step(err: FitError, t: int, space: ParamSpace, theta: onp.ndarray) -> FitError:
    """The error, with the step it happened at and the parameter values there."""
    values = space.constrained(theta)
    shown = ", ".join(f"{k} = {onp.array2string(onp.asarray(v), precision=4, threshold=6)}"
                      for k, v in list(values.items())[:6])
    return FitError(f"{err.message} at step {t + 1}", err.span, err.source,
                    hint=f"parameter values there: {shown}" if shown else err.hint)


def _fail(built, theta, state, particles, t, value):
    """Replay the failing step (its minibatch, its streams' states), checking each statement."""
    batch, states = state
    streams = Streams.seeded(onp.random.default_rng(0), particles)
    streams.state = states
    with onp.errstate(all="ignore"):
        try:
            built.diagnose(built.space.lazy(theta), batch, streams, particles)
        except FitError as err:
            raise at_step(err, t, built.space, theta) from None
    what = "objective" if not math.isfinite(value) else "gradient"
    raise FitError(f"the {what} was not finite for {MAX_BAD_STEPS} steps in a row (at step {t + 1})",
                   hint="try a smaller --lr, or check the model for values that can overflow")
