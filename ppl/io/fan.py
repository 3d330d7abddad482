"""The panels of a fit's plot (`ppl.io.plots`), each drawn on a matplotlib Axes:

- `marginal`: one number's posterior, a density (bars for a discrete one) that respects its
  support (a positive latent's density is reflected at 0, so no mass falls below it), with the
  mean marked and the central 50% and 90% intervals drawn beneath, as the summary's q05 and q95;
- `fan`: a vector (or a matrix, row-major) as a fan chart: the median over the index with the
  50% and 90% bands around it;
- `ppc`: an observation against draws of the posterior predictive: the observed values over the
  index on the predictive's 50% and 90% bands (one number: the predictive's density and the
  observed value), with the share of observations outside the 90% band.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp

if TYPE_CHECKING:
    import matplotlib.axes

BANDS = ((0.05, 0.95, 0.22, "90% interval"), (0.25, 0.75, 0.45, "50% interval"))
GRID = 200            # points of a density


def marginal(ax: matplotlib.axes.Axes, draws: onp.ndarray, bounds: tuple = (None, None), color: str = "C0") -> None:
    """One number's marginal: its density (or bars), mean and central intervals."""
    draws = onp.asarray(draws).ravel()
    if draws.dtype.kind in "iub":
        values, counts = onp.unique(draws, return_counts=True)
        ax.bar(values, counts / counts.sum(), width=0.8, color=color, alpha=0.6)
        top = (counts / counts.sum()).max()
        ax.set_xlim(values.min() - 0.6, values.max() + 0.6)
    else:
        grid, density = kde(draws.astype(float), bounds)
        ax.fill_between(grid, 0, density, color=color, alpha=0.45, lw=0)
        ax.plot(grid, density, color=color, lw=1.2)
        top = density.max()
        ax.set_xlim(grid[0], grid[-1])
    _intervals(ax, draws, -0.06 * top, color)
    mean = float(draws.mean())
    ax.axvline(mean, color="k", lw=1, ls="--", label=f"mean {mean:.3g}")
    ax.set_ylim(-0.12 * top, 1.08 * top)
    ax.set_yticks([])
    ax.legend(loc="upper right", fontsize=7, frameon=False)


def _intervals(ax, draws, y, color):
    for lo, hi, _, text in BANDS:
        a, b = onp.quantile(draws, [lo, hi])
        ax.plot([a, b], [y, y], color="k", lw=1.5 if lo == 0.05 else 4, solid_capstyle="butt", label=text)


def kde(draws: onp.ndarray, bounds: tuple = (None, None)) -> tuple[onp.ndarray, onp.ndarray]:
    """(grid, density): a Gaussian kernel density estimate on the draws' central 99% (and a
    margin), reflected at each finite bound of the support so that it puts no mass outside it."""
    low, high = bounds
    lo, hi = onp.quantile(draws, [0.005, 0.995])    # heavy tails (a Cauchy) would squash the rest
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    lo, hi = lo - pad, hi + pad
    lo = max(lo, low) if low is not None else lo
    hi = min(hi, high) if high is not None else hi
    grid = onp.linspace(lo, hi, GRID)
    if onp.ptp(draws) == 0:                        # a constant: a spike at its value
        return grid, onp.where(onp.abs(grid - draws[0]) <= (hi - lo) / GRID, 1.0, 0.0)
    from scipy.stats import gaussian_kde
    estimate = gaussian_kde(draws)
    density = estimate(grid)
    for bound in (b for b in bounds if b is not None):
        density = density + estimate(2 * bound - grid)      # the mass the kernels put beyond the bound, folded back
    return grid, density


def fan(ax: matplotlib.axes.Axes, draws: onp.ndarray, color: str = "C0", label: str = "median") -> None:
    """A fan chart of draws (n, elements...): the median over the (flattened) index, with the 50%
    and 90% bands."""
    flat = onp.asarray(draws, dtype=float).reshape(len(draws), -1)
    index = onp.arange(flat.shape[1])
    for lo, hi, alpha, text in BANDS:
        a, b = onp.quantile(flat, [lo, hi], axis=0)
        ax.fill_between(index, a, b, color=color, alpha=alpha, lw=0, label=text, step=None)
    ax.plot(index, onp.median(flat, axis=0), color=color, lw=1.4, marker="o" if len(index) <= 30 else None,
            ms=3, label=label)
    ax.set_xlim(-0.5, len(index) - 0.5)


def ppc(ax: matplotlib.axes.Axes, observed: onp.ndarray, predicted: onp.ndarray) -> str:
    """The observed values against predictive draws (n, *shape); returns a phrase saying how
    many observations fall outside the predictive's 90% band."""
    y = onp.asarray(observed, dtype=float).ravel()
    flat = onp.asarray(predicted, dtype=float).reshape(len(predicted), -1)
    if y.size == 1:
        marginal(ax, flat[:, 0] if flat.dtype.kind == "f" else predicted.ravel(), color="0.5")
        ax.axvline(y[0], color="C3", lw=2, label=f"observed {y[0]:.3g}")
        ax.legend(loc="upper right", fontsize=7, frameon=False)
        below = float(onp.mean(flat[:, 0] < y[0]))
        return f"{below:.0%} of the predictive draws below the observed value"
    fan(ax, flat, color="0.45", label="predictive median")
    ax.plot(onp.arange(y.size), y, "o", color="C3", ms=3.5, label="observed", zorder=3)
    a, b = onp.quantile(flat, [0.05, 0.95], axis=0)
    outside = int(onp.sum((y < a) | (y > b)))
    ax.legend(loc="best", fontsize=7, framealpha=0.8, ncol=2)
    return f"{outside} of {y.size} observations outside the 90% predictive interval (expected about {0.1 * y.size:.3g})"
