"""Plots of a fit with matplotlib (the optional `plot` extra), in the words of the model: the
objective per step, then a panel per latent and deterministic (`ppl.io.fan`): a number's marginal
posterior with its mean and 50% and 90% intervals, a vector's fan chart over its index, and a
panel per observation against draws of the posterior predictive (a posterior-predictive check).
`vars` chooses the variables (latents, deterministics, observations) to show.

Only `matplotlib.figure.Figure` is used, never pyplot: nothing global changes, no window opens.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as onp

from ..front.errors import OptionError, PPLError, Source, did_you_mean
from . import fan
from .output import MODES, label, write_atomic

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

MAX_PANELS = 24       # latents and deterministics drawn
COLUMNS = 3
FORMATS = ("png", "pdf", "svg")
PPC_DRAWS = 400       # posterior predictive draws of a posterior-predictive check
OBJECTIVES = {"elbo": "ELBO", "log_likelihood": "log-likelihood", "objective": "objective"}


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PPLError("plotting needs matplotlib, an optional dependency",
                       hint="pip install 'ppl-lang[plot]' (or pip install matplotlib)") from None
    return Figure


def check(path: str | Path) -> None:
    """Raise before any work if `path` cannot take a plot (its format, or no matplotlib)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PPLError(f"cannot write a plot as '{Path(path).suffix or path}'", source=Source("", str(path)),
                       hint=f"name the file with one of: {', '.join('.' + f for f in FORMATS)}")
    _figure_class()


def plot_fit(fit: object, vars: list[str] | None = None) -> matplotlib.figure.Figure:
    """A matplotlib `Figure` of `fit` (a `Fit`): the objective trace, then a panel per latent and
    deterministic, then a posterior-predictive check per observation; `vars` chooses which.

    >>> import ppl
    >>> fit = ppl.compile("data y: real[3]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").fit({"y": [1, 2, 3]})
    >>> [ax.get_title() for ax in plot_fit(fit).axes][1:]
    ['mu', 'y: observed and posterior predictive']
    """
    Figure = _figure_class()
    observed = fit.observed_data() if fit.model is not None else {}
    chosen = choose(vars, list(fit.draws), list(observed))
    latents = [n for n in chosen if n in fit.draws][:MAX_PANELS]
    checks = [n for n in chosen if n in observed]
    predicted = fit.predictive(PPC_DRAWS) if checks else {}
    panels = [(onp.ndim(fit.draws[n]) <= 1, n) for n in latents] + [(onp.size(observed[n]) <= 1, n) for n in checks]
    rows = _rows(panels)
    heights = [2.6] + [2.4 if row[0][0] else 2.6 for row in rows]
    fig = Figure(figsize=(4.2 * COLUMNS, sum(heights) + 0.4), layout="constrained")
    grid = fig.add_gridspec(1 + len(rows), COLUMNS, height_ratios=heights)
    _trace(fig.add_subplot(grid[0, :]), fit)
    bounds, dims = fit.bounds(), fit.dims()
    for r, row in enumerate(rows, start=1):
        for c, (small, name) in enumerate(row):
            ax = fig.add_subplot(grid[r, c] if small else grid[r, :])
            if name in fit.draws:
                _variable(ax, name, onp.asarray(fit.draws[name]), bounds.get(name, (None, None)), dims.get(name),
                          fit.estimators.get(name))
            else:
                _check(ax, name, observed[name], predicted[name], dims.get(name))
    return fig


def choose(vars: list[str] | None, latents: list[str], observations: list[str]) -> list[str]:
    """The names to plot: `vars` (each a latent, deterministic or observation), or every one."""
    if vars is None:
        return latents + observations
    known = latents + observations
    for name in vars:
        if name not in known:
            raise OptionError(f"--vars: nothing to plot is named '{name}' (the latents, deterministics and "
                           f"observations are {', '.join(known) or 'none'})", hint=did_you_mean(name, known))
    return [n for n in known if n in vars]


def _rows(panels):
    """Small panels (one number) three to a row; a wide one (a vector) on a row of its own."""
    rows, current = [], []
    for small, name in panels:
        if small:
            current.append((small, name))
            if len(current) == COLUMNS:
                rows.append(current)
                current = []
        else:
            rows += ([current] if current else []) + [[(small, name)]]
            current = []
    return rows + ([current] if current else [])


def save(fig: matplotlib.figure.Figure, path: str | Path) -> None:
    """Write `fig` to `path` atomically, in the format its extension names (png, pdf, svg)."""
    check(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lower().lstrip("."), dpi=100)
    write_atomic(path, buffer.getvalue())


def _trace(ax, fit):
    trace = onp.asarray(fit.trace, dtype=float)
    name = OBJECTIVES.get(fit.objective["name"], fit.objective["name"])
    steps = onp.arange(1, len(trace) + 1)
    c = fit.convergence or {}
    lbfgs = c.get("method") == "lbfgs"
    if lbfgs:       # no noise: the trace is the objective itself
        ax.plot(steps, trace, lw=1.4, color="C0", label=f"{name} per iteration (each start, then more draws)")
    else:
        ax.plot(steps, trace, lw=0.6, alpha=0.35, color="C0", label=f"{name} per step")
    if c.get("smoothed"):
        w = c["window"]
        centres = w * onp.arange(len(c["smoothed"])) + (w + 1) / 2
        ax.plot(centres, c["smoothed"], lw=1.8, color="C1", marker="o", ms=2.5, label=f"mean of {w} steps")
    verdict = "" if not c else "converged" if c["converged"] else "not converged"
    how = f"; L-BFGS on {c['draws'][-1]} fixed draws" if lbfgs else f", tol {c['tol']:g}" if c.get("smoothed") else ""
    ax.set_title(f"{MODES.get(fit.mode, fit.mode)}: {name} = {fit.objective['value']:.5g} ± "
                 f"{fit.objective['stderr']:.2g}" + (f" ({verdict}{how})" if verdict else ""), fontsize=10)
    finite = trace[onp.isfinite(trace)]
    if finite.size > 10:                        # the first steps would flatten everything after them
        late = finite[len(finite) // 10:]
        lo, hi = onp.quantile(late, [0.01, 0.99])
        pad = 0.15 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("iteration" if lbfgs else "step")
    ax.set_ylabel(name)
    ax.legend(loc="lower right" if fit.mode != "optimize" else "upper right", fontsize=8)


def _variable(ax: matplotlib.axes.Axes, name, draws, bounds, dims, estimator):
    """A latent's or deterministic's panel: a marginal for one number, else a fan chart."""
    title = name if estimator is not None else f"{name} (deterministic)"
    if draws.ndim <= 1:
        fan.marginal(ax, draws, bounds)
        ax.set_xlabel(name)
    else:
        fan.fan(ax, draws)
        _index_axis(ax, name, draws.shape[1:], dims)
        ax.set_ylabel(name)
        ax.legend(loc="best", fontsize=7, framealpha=0.8, ncol=3)
    ax.set_title(title, fontsize=10)


def _check(ax, name, observed, predicted, dims):
    """An observation against the posterior predictive."""
    said = fan.ppc(ax, observed, onp.asarray(predicted))
    if onp.size(observed) > 1:
        _index_axis(ax, name, onp.shape(observed), dims)
        ax.set_ylabel(name)
    else:
        ax.set_xlabel(name)
    ax.set_title(f"{name}: observed and posterior predictive", fontsize=10)
    ax.text(0.01, 0.98, said, transform=ax.transAxes, fontsize=7, va="top")


def _index_axis(ax, name, shape, dims):
    """The x axis of a vector: its size's name, and the elements' labels when they are few."""
    size = int(onp.prod(shape, dtype=int))
    ax.set_xlabel(dims[0] if dims and len(shape) == 1 else
                  f"{name} element (row-major)" if len(shape) > 1 else "index")
    if size <= 12:
        ax.set_xticks(range(size))
        ax.set_xticklabels([label(name, ix) for ix in onp.ndindex(tuple(shape))], fontsize=7,
                           rotation=30 if size > 6 else 0)
