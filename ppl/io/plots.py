"""Plots of a fit with matplotlib (the optional `plot` extra): the objective per step with its
smoothed curve, then one panel per latent or deterministic with its marginal posterior densities
(a kernel density estimate from the fit's draws; bars for a discrete one). A vector's elements
are stacked in one panel, a ridge per element, up to `MAX_RIDGES` of them.

Only `matplotlib.figure.Figure` is used, never pyplot: nothing global changes, no window opens.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as onp

from ..front.errors import PPLError, Source
from .output import label, write_atomic

if TYPE_CHECKING:
    import matplotlib.figure

MAX_RIDGES = 20       # elements of one latent drawn as densities
MAX_PANELS = 24       # latents drawn
COLUMNS = 3
FORMATS = ("png", "pdf", "svg")


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


def plot_fit(fit: object) -> matplotlib.figure.Figure:
    """A matplotlib `Figure` of `fit`: the objective trace, then the marginal densities.

    >>> import ppl
    >>> fit = ppl.compile("data y: real[3]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").fit({"y": [1, 2, 3]}, steps=50)
    >>> len(plot_fit(fit).axes)                       # doctest: +SKIP
    2
    """
    Figure = _figure_class()
    names = list(fit.draws)[:MAX_PANELS]
    rows = -(-len(names) // COLUMNS)
    heights = [2.6] + [_panel_height(fit.draws[n]) for n in names[::COLUMNS]] if names else [2.6]
    fig = Figure(figsize=(4.2 * COLUMNS, sum(heights) + 0.6), layout="constrained")
    grid = fig.add_gridspec(1 + rows, COLUMNS, height_ratios=heights)
    _trace(fig.add_subplot(grid[0, :]), fit)
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[1 + i // COLUMNS, i % COLUMNS])
        _densities(ax, name, onp.asarray(fit.draws[name]), fit.estimators.get(name, "deterministic"))
    return fig


def save(fig: matplotlib.figure.Figure, path: str | Path) -> None:
    """Write `fig` to `path` atomically, in the format its extension names (png, pdf, svg)."""
    check(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lower().lstrip("."), dpi=100)
    write_atomic(path, buffer.getvalue())


def _panel_height(draws):
    elements = min(MAX_RIDGES, int(onp.prod(onp.shape(draws)[1:], dtype=int)))
    return 2.4 if elements <= 1 else 1.2 + 0.28 * elements


def _trace(ax, fit):
    trace = onp.asarray(fit.trace, dtype=float)
    name = fit.objective["name"]
    steps = onp.arange(1, len(trace) + 1)
    c = fit.convergence
    if c and c.get("method") == "lbfgs":       # no noise: the trace is the objective itself
        ax.plot(steps, trace, lw=1.4, color="C0", label=f"{name} per iteration (each start, then more draws)")
    else:
        ax.plot(steps, trace, lw=0.6, alpha=0.35, color="C0", label=f"{name} per step")
    if c and c.get("smoothed"):
        w = c["window"]
        centres = w * onp.arange(len(c["smoothed"])) + (w + 1) / 2
        ax.plot(centres, c["smoothed"], lw=1.8, color="C1", marker="o", ms=2.5, label=f"mean of {w} steps")
        verdict = "converged" if c["converged"] else "not converged"
        ax.set_title(f"{fit.mode}: {name} = {fit.objective['value']:.5g} ± {fit.objective['stderr']:.2g} "
                     f"({verdict}, tol {c['tol']:g})", fontsize=10)
    elif c and c.get("method") == "lbfgs":
        verdict = "converged" if c["converged"] else "not converged"
        ax.set_title(f"{fit.mode}: {name} = {fit.objective['value']:.5g} ± {fit.objective['stderr']:.2g} "
                     f"({verdict}; L-BFGS on {c['draws'][-1]} fixed draws)", fontsize=10)
    else:
        ax.set_title(f"{fit.mode}: {name} = {fit.objective['value']:.5g}", fontsize=10)
    finite = trace[onp.isfinite(trace)]
    if finite.size > 10:                        # the first steps would flatten everything after them
        late = finite[len(finite) // 10:]
        lo, hi = onp.quantile(late, [0.01, 0.99])
        pad = 0.15 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.legend(loc="lower right" if fit.mode != "optimize" else "upper right", fontsize=8)


def _densities(ax, name, draws, estimator):
    flat = draws.reshape(len(draws), -1)
    shape = draws.shape[1:]
    count = min(flat.shape[1], MAX_RIDGES)
    discrete = draws.dtype.kind in "iub"
    lo, hi = _range(flat[:, :count], discrete)
    for k in range(count):
        offset = count - 1 - k                    # the first element at the top
        column = flat[:, k]
        if discrete:
            values, counts = onp.unique(column, return_counts=True)
            heights = counts / counts.max()
            ax.bar(values, 0.9 * heights, bottom=offset, width=0.8, color=f"C{k % 10}", alpha=0.7)
        else:
            grid, density = _kde(column, lo, hi)
            ax.fill_between(grid, offset, offset + 0.9 * density / density.max(), color=f"C{k % 10}", alpha=0.5,
                            lw=0.8)
    if shape:
        ax.set_yticks(range(count))
        ax.set_yticklabels([label(name, ix) for ix in reversed(list(onp.ndindex(shape))[:count])], fontsize=7)
    else:
        ax.set_yticks([])
    more = flat.shape[1] - count
    ax.set_title(f"{name}  ({estimator})" + (f", first {count} of {flat.shape[1]}" if more else ""), fontsize=9)
    ax.set_xlim(lo, hi)


def _range(flat, discrete):
    if discrete:
        return flat.min() - 0.6, flat.max() + 0.6
    lo, hi = onp.quantile(flat, [0.005, 0.995])     # heavy tails (a Cauchy) would squash the rest
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _kde(column, lo, hi):
    grid = onp.linspace(lo, hi, 200)
    if onp.ptp(column) == 0:                        # a constant: a spike at its value
        return grid, onp.where(onp.abs(grid - column[0]) <= (hi - lo) / 200, 1.0, 1e-12)
    from scipy.stats import gaussian_kde
    return grid, gaussian_kde(column)(grid) + 1e-12
