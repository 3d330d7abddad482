"""The deterministic fit: fixed stratified draws, L-BFGS, and more draws until the optimum stops
moving.

A stochastic optimizer (Adam on fresh draws each step) stops short of the variational optimum
whenever its step size, its scale initialisation or the conditioning of the problem is wrong for
the model: unscaled predictors, a posterior sd of 0.05 beside one of 6, a scale parameter with
heavy gradient noise. With the draws held fixed (`ppl.kernels.noise`) the objective is a smooth
deterministic function, and L-BFGS (`ppl.infer.lbfgs`), which learns the curvature, minimizes it to
machine precision whatever the scaling, with no learning rate to choose (Giordano, Ingram and
Broderick 2024).

The optimum on M fixed draws differs from the true one by the draws' integration error. So
after converging on M draws the fit takes 2M new ones and converges again from there; the
objective's decrease on the new draws, d = f_2M(x_M) - f_2M(x_2M), is about
(1/2) |x_M - x_2M|^2 in the objective's own metric, in which one unit is one posterior sd of a
location. The fit has converged when that movement, per parameter, is below `STABLE_MOVE`:
d <= STABLE_MOVE^2 / 2 * P for P parameters.

Before that, the first draws are fitted from `STARTS` starting points (guide locations drawn as
the first were), the best going on: starting points that reach different optima are the VI
counterpart of chains that disagree, and the fit reports them (a mixture's swapped labels, a
parameter the data do not identify, a local optimum).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as onp

from . import checkpoint as saved
from . import convergence
from .baselines import Baselines
from ..front.errors import FitError, PPLError
from .fit import Trajectory, at_step
from .lbfgs import LBFGS
from ..kernels.noise import FixedDraws
from ..back.program import PASS_ELEMENTS

if TYPE_CHECKING:
    from ..back.program import Program

FIRST_DRAWS = 32            # fixed draws of the first stage
MAX_DRAWS = 1024            # the most fixed draws
MAX_NOISE = 50_000_000      # the most numbers in the fixed draws (M x D)
STABLE_MOVE = 0.05          # rms movement per parameter, in posterior sds, that counts as stable
STARTS = 4                  # starting points, each converged on the first draws
RESCALE = math.log(4.0)     # the preconditioner is renewed when a squared scale changes by more
SAME = 0.1                  # two optima this close (in posterior sds) in every coordinate are one


@dataclass
class Stages:
    """Everything a deterministic fit carries from one iteration to the next besides the
    optimizer: what a checkpoint stores."""
    seed: int                  # the draws' and the starting points' seed
    draws: list                # the draws of every stage so far; the last is the current one
    starts: int = 1            # starting points to try on the first draws
    t: int = 0                 # iterations run, over all starts and stages
    begun: int = 0             # the iteration the current start began at
    trace: list = field(default_factory=list)
    optima: list = field(default_factory=list)   # each finished start's parameters...
    values: list = field(default_factory=list)   # ...and objective (inf: it did not finish)
    drops: list = field(default_factory=list)    # the decrease on doubled draws, per doubling
    start: float = math.nan    # the current stage's objective where it started
    first: int = 0             # the iterations the first start took
    diagonal: onp.ndarray | None = None          # the preconditioner: squared scales
    interrupted: bool = False

    @property
    def starting(self) -> bool:
        """Still converging the starts on the first draws."""
        return len(self.draws) == 1 and len(self.optima) < self.starts


def first_draws(width: int, joint: bool = False) -> int:
    """The first stage's draws: FIRST_DRAWS, or for a joint (full-rank) guide over `width`
    coordinates at least 2 (width + 1), so that the draws span every direction of its scale;
    one when nothing is drawn (maximum likelihood)."""
    if width == 0:
        return 1
    need = FIRST_DRAWS if not joint else max(FIRST_DRAWS, 2 * (width + 1))
    return 1 << (need - 1).bit_length()


def feasible(width: int, draws: int) -> bool:
    """Whether `draws` fixed draws of `width` coordinates fit the limits."""
    return draws <= MAX_DRAWS and draws * max(1, width) <= MAX_NOISE


def run(built: Program, rng: onp.random.Generator, *, width: int, steps: int, draws: int, sign: float,
        starts: int = STARTS, report: Callable[[int, float], object] | None = None,
        stop: Callable[[], bool] | None = None, checkpoint: str | Path | None = None, every: int = 100,
        fingerprint: str = "", resume: str | Path | None = None, chunk: int | None = None,
        theta: onp.ndarray | None = None, held: tuple[str, ...] = ()) -> Trajectory:
    """Fit `built` on fixed draws of `width` standard-normal coordinates per particle, starting
    with `draws` of them, for at most `steps` L-BFGS iterations over all starts and stages.
    `theta` is the first start (default the initial parameters); `starts - 1` more draw their
    guide locations anew, as the first did (but those `held`, which they take from `theta`: the
    values a fit's `init` gave), and each is converged on the first draws: the best
    goes on, and optima that differ are reported (`record`). `report`, `stop`, `checkpoint`
    (every `every` iterations), `resume` and `chunk` work as in `ppl.infer.fit.run`."""
    if chunk is None:
        chunk = max(1, PASS_ELEMENTS // max(1, built.widest, built.space.size))
    theta = built.space.initial() if theta is None else theta
    stages = Stages(int(rng.integers(2 ** 63)), [draws], starts if width else 1)
    objective = Objective(built, width, chunk)
    objective.use(stages.seed, draws)
    opt = _begin(objective, theta, built)
    parts = {"stages": stages, "lbfgs": opt}
    if resume is not None:
        wanted = stages.starts
        saved.load(resume, parts, rng, fingerprint, saved.array_limit(built.space.size), fixed=FIXED)
        _resumable(resume, stages, opt, steps, wanted)
        stages.interrupted = False
        objective.use(stages.seed, stages.draws[-1])
        if objective(opt.x)[0] != opt.f:          # the same draws give the same value, bit for bit
            raise PPLError(f"checkpoint {resume} is not one this fit wrote: its point's objective is not "
                           "the one it holds", hint="pass a file written by --checkpoint, unchanged")
    stages.start = opt.f if math.isnan(stages.start) else stages.start
    if hasattr(report, "exact"):
        report.exact()
    done = False
    while stages.t < steps and not done:
        _precondition(stages, opt, built.space)
        opt.step(objective, stages.diagonal)
        stages.t += 1
        if opt.failed and objective.error is not None:      # as a stochastic fit would stop there
            raise at_step(objective.error, stages.t - 1, built.space, opt.x)
        if not opt.failed:
            stages.trace.append(sign * opt.f)
            if report is not None:
                report(stages.t - 1, sign * opt.f)
        if stages.starting:
            over = len(stages.optima) > 0 and stages.t - stages.begun >= _budget(stages)
            if opt.converged() or opt.failed or over:
                _next_start(stages, opt, objective, built, finished=not over, held=(held, theta))
        elif opt.converged() or opt.failed:
            done = _next_stage(stages, opt, objective, built.space.size)
        if stop is not None and stop():
            stages.interrupted = True
        if checkpoint is not None and (stages.interrupted or stages.t % every == 0):
            saved.save(checkpoint, parts, rng, fingerprint)
        if stages.interrupted:
            break
    if stages.starting and stages.optima:      # out of steps among the starts: the best so far
        best = int(onp.argmin(stages.values))
        opt.restart(*objective(stages.optima[best]), stages.optima[best])
    return Trajectory(opt.x, stages.trace, 0, {}, record(stages, opt, steps, built, width, done, sign),
                      stages.interrupted, stages.t)


FIXED = ("stages.seed", "stages.starts", "lbfgs.memory")    # a checkpoint must hold this fit's very settings


def _resumable(path, stages, opt, steps, starts):
    """The counters of a loaded checkpoint agree with each other and with this fit; the
    preconditioning diagonal is positive, and every curvature pair is one L-BFGS keeps."""
    with onp.errstate(all="ignore"):
        curved = all(s @ y > 1e-12 * math.sqrt((s @ s) * (y @ y)) for s, y in zip(opt.s, opt.y))
    fine = (stages.t <= steps and len(stages.trace) <= stages.t and stages.draws and stages.starts == starts
            and all(isinstance(d, int) and 1 <= d <= MAX_DRAWS for d in stages.draws)
            and len(stages.optima) == len(stages.values) <= starts
            and len(opt.s) == len(opt.y) <= opt.memory and opt.iterations <= stages.t and curved
            and (stages.diagonal is None or isinstance(stages.diagonal, onp.ndarray) and (stages.diagonal > 0).all()))
    if not fine:
        raise PPLError(f"checkpoint {path} is not one this fit wrote: its counters do not agree (step {stages.t})",
                       hint="pass a file written by --checkpoint, unchanged")


def _precondition(stages, opt, space):
    """The diagonal the L-BFGS directions are built on: each coordinate's squared scale (a guide
    location's sd; 1 for the rest, `convergence.scales`), which makes the problem as well scaled
    as the posterior is, whatever the units of the data. It is kept while the scales hold, so
    that the curvature pairs stay valid, and taken anew (the pairs dropped) once some scale has
    changed by more than a factor of 2: a fixed standardization of the unconstrained space,
    renewed as the guide learns the posterior's scales."""
    new = convergence.scales(space, opt.x, other=1.0) ** 2
    if stages.diagonal is None or onp.max(onp.abs(onp.log(new / stages.diagonal))) > RESCALE:
        stages.diagonal = new
        opt.restart(opt.f, opt.g)


def _budget(stages) -> int:
    """The iterations a start after the first may take: four times what the first took, at
    least 100; a start that takes longer is dropped (a far start in a badly scaled space)."""
    return max(100, 4 * stages.first)


class NotFinite(Exception):
    """The objective on the fixed draws is not finite where the fit starts; `error` says where."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _begin(objective, theta, built) -> LBFGS:
    """The optimizer at `theta`, which must give a finite objective (else `NotFinite`)."""
    opt = LBFGS(theta, *objective(theta))
    try:
        if objective.error is not None:
            raise objective.error
        if not (math.isfinite(opt.f) and onp.isfinite(opt.g).all()):
            _fail(built, objective, theta)
    except FitError as err:
        raise NotFinite(err) from None
    return opt


def _next_start(stages, opt, objective, built, finished=True, held=((), None)):
    """A start has converged on the first draws (or, not `finished`, run out of its budget):
    keep its optimum and move the optimizer to the next start, or, after the last, to the best
    optimum. A start where the objective is not finite, or that did not finish, has +inf."""
    if not stages.optima:
        stages.first = stages.t
    stages.optima.append(opt.x.copy())
    stages.values.append(opt.f if finished else math.inf)
    stages.diagonal = None
    while len(stages.optima) < stages.starts:
        x = restart_point(built.space, onp.random.default_rng([stages.seed, len(stages.optima)]), *held)
        f, g = objective(x)
        if math.isfinite(f) and onp.isfinite(g).all():
            opt.restart(f, g, x)
            stages.start, stages.begun = f, stages.t
            return
        stages.optima.append(x)
        stages.values.append(math.inf)
    best = int(onp.argmin(stages.values))
    opt.restart(*objective(stages.optima[best]), stages.optima[best])


def restart_point(space, rng, held=(), first=None) -> onp.ndarray:
    """The initial parameters with every guide location drawn anew, uniform in (-INIT_RADIUS,
    INIT_RADIUS) as the build draws the first; the parameters `held` are those of `first`."""
    from ..back.build import INIT_RADIUS
    x = space.initial()
    for name, (lo, hi) in space.slices.items():
        if name.endswith(".loc"):
            x[lo:hi] = rng.uniform(-INIT_RADIUS, INIT_RADIUS, hi - lo)
    for name in held:
        lo, hi = space.slices[name]
        x[lo:hi] = first[lo:hi]
    return x


def _next_stage(stages, opt, objective, size) -> bool:
    """After a stage has converged: True when the fit is done (the optimum stopped moving, or no
    more draws can be had), else the draws are doubled and the optimizer restarted there."""
    if len(stages.draws) > 1:
        stages.drops.append(max(0.0, stages.start - opt.f))
        if stages.drops[-1] <= stable_drop(size):
            return True
    more = 2 * stages.draws[-1]
    if objective.width == 0 or not feasible(objective.width, more):
        return True
    stages.draws.append(more)
    objective.use(stages.seed, more)
    opt.restart(*objective(opt.x))
    stages.diagonal = None
    stages.start = opt.f
    return False


def stable_drop(size) -> float:
    """The decrease on doubled draws below which the optimum has stopped moving."""
    return 0.5 * STABLE_MOVE ** 2 * max(1, size)


def modes(stages, space) -> list:
    """The distinct optima the starts reached, best first: [(objective, count), ...]."""
    order = [i for i in onp.argsort(stages.values) if math.isfinite(stages.values[i])]
    groups = []
    for i in order:
        x = stages.optima[i]
        for group in groups:
            best = stages.optima[group[0]]
            if onp.max(onp.abs(x - best) / convergence.scales(space, best)) <= SAME:
                group.append(i)
                break
        else:
            groups.append([i])
    return [(float(stages.values[g[0]]), len(g)) for g in groups]


def record(stages, opt, steps, built, width, done, sign) -> dict:
    """The verdict: converged when the last stage converged and the optimum stopped moving (or
    nothing is drawn: the objective is exact); the distinct optima of the starts."""
    size = built.space.size
    stable = width == 0 or bool(stages.drops) and stages.drops[-1] <= stable_drop(size)
    optima = [{"objective": sign * f, "starts": n} for f, n in modes(stages, built.space)] \
        if len(stages.optima) == stages.starts > 1 else None
    unfinished = sum(1 for v in stages.values if not math.isfinite(v))
    return {"method": "lbfgs", "converged": bool(done and stable and not stages.interrupted),
            "stable": stable, "draws": list(stages.draws), "drops": list(stages.drops),
            "stable_drop": stable_drop(size), "iterations": stages.t, "max_steps": steps,
            "evaluations": opt.evaluations, "gradient": opt.gradient_size(), "line_search_failed": opt.failed,
            "starts": stages.starts, "optima": optima, "unfinished_starts": unfinished}


class Objective:
    """f(theta) and its gradient: the mean loss over the current fixed draws. A point where a
    distribution's argument leaves its constraint (a scale that underflowed to 0) has f = inf,
    so that a line search steps back from it; the error is kept in `error`."""

    def __init__(self, built, width, chunk):
        self.built, self.width, self.chunk = built, width, chunk
        self.none = Baselines("none", n_sites=0, particles=1)
        self.error = None

    def use(self, seed, draws):
        self.draws = FixedDraws.latin_hypercube(onp.random.default_rng([seed, draws]), draws, self.width)

    def __call__(self, theta):
        self.error = None
        with onp.errstate(all="ignore"):
            try:
                g, aux = self.built.gradient(theta, None, self.draws, self.draws.size, self.none, self.chunk)
            except FitError as err:
                self.error = err
                return math.inf, onp.zeros_like(theta)
        return float(aux["total"].mean()), g


def _fail(built, objective, theta):
    """The objective is not finite at the start: replay it checking each statement."""
    draws = objective.draws
    with onp.errstate(all="ignore"):
        built.diagnose(built.space.lazy(theta[None].repeat(draws.size, axis=0)), None, draws.part(0, draws.size),
                       draws.size)
    raise FitError("the objective is not finite at the initial values",
                   hint="check the model for values that can overflow, or give params other initial values")
