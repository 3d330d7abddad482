"""Whether a fit converged, and what to say when it did not.

A stochastic fit (Adam) is judged every `window` steps on three things, all of which must hold:

1. Stan ADVI's rule (tol_rel_obj) on the smoothed objective: the window's mean objective against
   the previous window's, relative change |m_k - m_(k-1)| / max(|m_(k-1)|, 1) (the floor at 1,
   as in SciPy's ftol, lets an objective near zero converge); the mean or the median of the
   last `history` changes is below `tol`.
2. No trend: a least-squares line through the last `history + 1` window means, with each mean's
   noise estimated from the spread of the steps inside its window, does not rise (in the
   direction of improvement) by more than 3 standard errors. A slow steady climb passes rule 1
   when each window gains little; it does not pass this one.
3. The parameters have stopped moving: the mean parameters of the last window against those of
   the window `history` windows earlier, each coordinate measured in its own scale (a guide
   location in units of its guide's sd, anything else in its unconstrained units or relative to
   its size), move by at most `MOVE`. A plateau of the objective along which the guide still
   drifts (a scale creeping towards its optimum, a location oscillating at the size of its sd)
   fails here.

A deterministic fit (L-BFGS on fixed draws, `ppl.infer.deterministic`) has converged when its last
stage converged to machine precision and the optimum stopped moving as the draws doubled.
"""
from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as onp

if TYPE_CHECKING:
    from ..back.params import ParamSpace

EVAL_EVERY = 100              # steps per window of the smoothed objective (Stan ADVI's eval_elbo)
TOL_REL_OBJ = 0.01            # Stan ADVI's default tol_rel_obj
TREND_T = 3.0                 # a trend this many standard errors from flat is real
MOVE = 0.2                    # parameter movement over the recent windows, in the parameters' scales


class Convergence:
    """Adam's convergence rule (see the module docstring); `update(value, theta)` after every
    finite step, `record(steps_run)` for the verdict. `space` (a `ParamSpace`) gives the
    parameters their scales; `direction` is +1 when a higher objective is better, -1 when lower."""

    def __init__(self, steps, tol=None, space=None, direction=1.0):
        self.tol, self.early = TOL_REL_OBJ if tol is None else float(tol), tol is not None
        self.steps = steps
        self.window = max(1, min(EVAL_EVERY, steps // 10))
        self.changes = deque(maxlen=max(2, int(0.1 * steps / self.window)))
        self.smoothed, self.noise, self.total, self.squares, self.n, self.rule = [], [], 0.0, 0.0, 0, None
        self.theta_sum, self.means = None, []          # parameters: this window's sum, past windows' means
        self.trend, self.movement, self.direction = None, None, direction    # +1: higher is better
        self._space = space                             # not part of the state a checkpoint keeps

    def update(self, value: float, theta: onp.ndarray | None = None) -> bool:
        """Add one step's objective (and parameters); True when the rule holds at the end of this window."""
        self.total, self.squares, self.n = self.total + value, self.squares + value * value, self.n + 1
        if theta is not None:
            self.theta_sum = theta.copy() if self.theta_sum is None else self.theta_sum + theta
        if self.n < self.window:
            return False
        mean = self.total / self.n
        self.noise.append(math.sqrt(max(self.squares / self.n - mean * mean, 0.0) / self.n))
        if self.theta_sum is not None:
            self.means = (self.means + [self.theta_sum / self.n])[-(self.changes.maxlen + 1):]
        self.total, self.squares, self.n, self.theta_sum = 0.0, 0.0, 0, None
        if self.smoothed:
            self.changes.append(abs(mean - self.smoothed[-1]) / max(abs(self.smoothed[-1]), 1.0))
        self.smoothed.append(mean)
        self.rule = None
        if len(self.changes) == self.changes.maxlen:
            self.trend, self.movement = self._trend(), self._movement()
            steady = self.trend["t"] <= TREND_T and (self.movement is None or self.movement["max"] <= MOVE)
            if steady and self.statistics()[0] < self.tol:
                self.rule = "mean"
            elif steady and self.statistics()[1] < self.tol:
                self.rule = "median"
        return self.rule is not None

    def inconsistent(self) -> str | None:
        """Why the restored state cannot be one a fit reached (its histories must line up), or None."""
        if len(self.noise) != len(self.smoothed):
            return f"holds {len(self.noise)} noise values for {len(self.smoothed)} windows"
        if len(self.changes) != min(max(len(self.smoothed) - 1, 0), self.changes.maxlen):
            return f"holds {len(self.changes)} changes for {len(self.smoothed)} windows"
        if len(self.means) > self.changes.maxlen + 1:
            return f"holds {len(self.means)} window means, more than {self.changes.maxlen + 1}"
        return None

    def _trend(self) -> dict:
        """The least-squares slope per window of the last window means, and its t-statistic in
        the direction of improvement."""
        y = onp.array(self.smoothed[-(self.changes.maxlen + 1):])
        se = onp.array(self.noise[-len(y):])
        x = onp.arange(len(y)) - (len(y) - 1) / 2
        slope = float(x @ y / (x @ x))
        spread = math.sqrt(float(onp.sum(x * x * se * se))) / float(x @ x)
        gain = self.direction * slope
        return {"slope": slope, "t": gain / spread if spread > 0 else (math.inf if gain > 0 else 0.0)}

    def _movement(self) -> dict | None:
        """The largest movement of a parameter between the oldest and newest window means kept,
        in its own scale, and the parameter it belongs to."""
        if self._space is None or len(self.means) < 2 or not self._space.size:
            return None
        new, old = self.means[-1], self.means[0]
        with onp.errstate(over="ignore", divide="ignore", invalid="ignore"):   # a scale of exp(-800) is 0
            moved = onp.abs(new - old) / scales(self._space, new)
        i = int(onp.argmax(moved))
        name = next(n for n, (lo, hi) in self._space.slices.items() if lo <= i < hi)
        return {"max": float(moved[i]), "parameter": name}

    def statistics(self) -> tuple[float, float]:
        """(mean, median) of the recent relative changes (nan before there are any)."""
        if not self.changes:
            return float("nan"), float("nan")
        return float(onp.mean(self.changes)), float(onp.median(self.changes))

    def record(self, steps_run: int) -> dict:
        mean, median = self.statistics()
        return {"method": "adam", "converged": self.rule is not None, "rule": self.rule, "tol": self.tol,
                "window": self.window, "history": self.changes.maxlen,
                "rel_change_mean": None if math.isnan(mean) else mean,
                "rel_change_median": None if math.isnan(median) else median,
                "trend": self.trend, "movement": self.movement,
                "early_stop": self.early, "stopped_early": self.early and self.rule is not None and steps_run < self.steps,
                "max_steps": self.steps, "smoothed": list(self.smoothed)}


def scales(space: ParamSpace, theta: onp.ndarray, other: float | None = None) -> onp.ndarray:
    """Each coordinate's scale at `theta`: a mean-field location's guide sd; a full-rank
    location's marginal sd (the row norms of L), which is also the scale of the off-diagonal
    entries of L's row; `other` (default max(1, |value|)) for anything else."""
    out = onp.maximum(1.0, onp.abs(theta)) if other is None else onp.full(len(theta), float(other))
    for name, (lo, hi) in space.slices.items():
        if name.endswith(".loc") and f"{name[:-4]}.scale" in space.slices:
            slo, shi = space.slices[f"{name[:-4]}.scale"]
            out[lo:hi] = onp.exp(theta[slo:shi])
        elif name == "guide.loc" and "guide.scale_tril" in space.slices:
            L = onp.asarray(space.value("guide.scale_tril", theta))[0]
            rows = onp.sqrt(onp.sum(L ** 2, axis=1))
            out[lo:hi] = rows
            tlo, thi = space.slices["guide.scale_tril"]
            r, c = onp.tril_indices(len(L))
            out[tlo:thi] = onp.where(r == c, out[tlo:thi], rows[r])
    return out


def warnings(c: dict | None, name: str) -> list[str]:
    """A warning, with what to try, when the fit ended without converging, or when its starting
    points reached different optima."""
    if c is None:
        return []
    out = _warn_optima(c, name) if c.get("optima") and len(c["optima"]) > 1 else []
    if c["converged"]:
        return out
    if c.get("method") == "lbfgs":
        return out + [_warn_fixed(c)]
    if c["rel_change_mean"] is None:
        return [f"warning: the fit was too short to judge convergence (the rule compares windows of "
                f"{c['window']} steps); run more steps (--steps)"]
    why = []
    if c["rel_change_mean"] >= c["tol"] and c["rel_change_median"] >= c["tol"]:
        why.append(f"the smoothed {name} still changed by {c['rel_change_mean']:.2%} per {c['window']} steps "
                   f"(mean of the last {c['history']} windows; tolerance {c['tol']:.2%})")
    if c.get("trend") is not None and c["trend"]["t"] > TREND_T:
        why.append(f"the {name} was still improving ({c['trend']['t']:.1f} standard errors over the last "
                   f"{c['history'] + 1} windows)")
    if c.get("movement") is not None and c["movement"]["max"] > MOVE:
        m = c["movement"]
        why.append(f"'{m['parameter']}' still moved by {m['max']:.2g} of its scale over the last "
                   f"{c['history']} windows")
    return [f"warning: the fit did not converge: {'; '.join(why) or 'interrupted'}; run more steps (--steps), "
            "more particles (--particles), or the lbfgs optimizer where it applies"]


def _warn_optima(c, name) -> list[str]:
    found = ", ".join(f"{o['objective']:.6g} (from {o['starts']})" for o in c["optima"])
    return [f"warning: the fit's {c['starts']} starting points reached {len(c['optima'])} different optima, {name} "
            f"{found}: the posterior has several modes (a mixture's labels that can be swapped, a parameter the "
            "data do not identify, or a local optimum), and the result describes the best of them only. Make the "
            "model identifiable (order a mixture's components, or give them distinct priors), or fit from more "
            "starting points (--starts)"]


def _warn_fixed(c) -> str:
    if c["iterations"] >= c["max_steps"]:
        return (f"warning: the fit did not converge within {c['max_steps']} L-BFGS iterations (gradient "
                f"{c['gradient']:.2g}); run more steps (--steps)")
    if c["line_search_failed"] and not c["stable"]:
        return (f"warning: the fit stopped where L-BFGS could not decrease the objective further, with a "
                f"gradient of {c['gradient']:.2g}: the objective may not be smooth there; try --optimizer adam")
    if not c["stable"]:
        last = f" by {c['drops'][-1]:.2g} nats" if c["drops"] else ""
        return (f"warning: the fit's optimum still moved{last} when its fixed draws doubled to {c['draws'][-1]}, "
                "the most it can use: its summaries carry Monte Carlo error; try --optimizer adam with more steps")
    return "warning: the fit did not converge (it was interrupted)"
