"""How far a variational fit is from the posterior, told by importance weights (`ppl.infer.psis`).

Draws z ~ q come with their loss -log p(x, z) + log q(z), so log w = -loss costs nothing
more than the draws; the fit takes 10,000 (`draws`), of which the summaries use the first 1,000. From them: Pareto k-hat, the effective sample size of the smoothed weights, and the
importance-weighted (PSIS-corrected) mean and sd of every latent and deterministic, kept only
when k-hat is at most 0.7. Two warnings follow: k-hat above 0.7 (the guide misses much of the
posterior; nothing drawn from it can be trusted), and, below that, weighted summaries that move
the guide's own by more than `SHIFT` posterior sds in a mean or `RATIO` in an sd (the guide is
off, and the weighted columns are the better estimates).
"""
from __future__ import annotations

import numpy as onp

from .psis import USABLE, psis, verdict, weighted_moments

DRAWS = 10_000       # draws for the importance weights...
NUMBERS = 20_000_000     # ...unless they would hold more numbers than this
SHIFT = 0.2          # a weighted mean this many posterior sds from the guide's is a material change
RATIO = 1.3          # and so is a weighted sd this many times the guide's (or 1 / RATIO of it)


def draws(least: int, width: int) -> int:
    """How many draws to weigh: DRAWS (k-hat from 1,000 draws wanders by +-0.15 where the
    posterior's is 0.5; from 10,000, by +-0.05), fewer when each draw holds `width` numbers and
    DRAWS of them would exceed NUMBERS, but never fewer than `least`."""
    return max(least, min(DRAWS, NUMBERS // max(1, width)))


def assess(loss: onp.ndarray, draws: dict) -> dict:
    """{"k_hat", "verdict", "ess", "draws", "latents"}: `latents` holds {name: {"mean", "sd"}}
    weighted by the smoothed importance weights, or None when k-hat is above 0.7."""
    log_w, k = psis(-onp.asarray(loss, dtype=float))
    ess = float(1 / onp.sum(onp.exp(2 * log_w))) if onp.isfinite(k) else 0.0
    out = {"k_hat": k if onp.isfinite(k) else None, "verdict": verdict(k), "ess": ess, "draws": len(log_w),
           "latents": None}
    if k <= USABLE:
        out["latents"] = {}
        for name, values in draws.items():
            mean, sd = weighted_moments(values, log_w)
            out["latents"][name] = {"mean": mean, "sd": sd}
    return out


def warnings(check: dict, summaries: dict) -> list[str]:
    """What the check calls for, one line each (nothing when all is well)."""
    k = check["k_hat"]
    if k is None or k > USABLE:
        shown = "not finite" if k is None else f"{k:.2f}"
        return [f"warning: the guide is far from the posterior (Pareto k-hat {shown} > {USABLE}; importance "
                f"weights of {check['draws']} draws, effective sample size {check['ess']:.0f}): its means and sds "
                "can be wrong and reweighting cannot correct them. Try --guide fullrank, reparameterize (centred "
                "or non-centred), put the latents on comparable scales, or look for a second mode"]
    moved = _moved(check["latents"], summaries)
    if not moved:
        return []
    return [f"warning: importance weighting changes the guide's summaries (Pareto k-hat {k:.2f}): "
            f"{'; '.join(moved[:3])}{' ...' if len(moved) > 3 else ''}. The guide is off here: trust the "
            "psis_mean and psis_sd columns over mean and sd, or try --guide fullrank"]


def _moved(weighted, summaries) -> list[str]:
    """One phrase per latent whose weighted mean or sd differs materially from the guide's."""
    out = []
    for name, w in weighted.items():
        if _integral(summaries[name]):
            continue         # a discrete latent's weighted sd is noise where a value is rare
        mean, sd = onp.asarray(summaries[name]["mean"], float), onp.asarray(summaries[name]["sd"], float)
        w_mean, w_sd = onp.asarray(w["mean"], float), onp.asarray(w["sd"], float)
        live = (sd > 0) & (w_sd > 0)
        if not live.any():
            continue
        shift = onp.max(onp.where(live, onp.abs(w_mean - mean) / onp.where(live, w_sd, 1), 0))
        ratio = onp.where(live, w_sd / onp.where(live, sd, 1), 1)
        worst = float(ratio.flat[onp.argmax(onp.abs(onp.log(ratio)))])
        if shift > SHIFT:
            out.append(f"{name}'s mean moves by {shift:.2f} sd")
        if not 1 / RATIO <= worst <= RATIO:
            out.append(f"{name}'s sd is {worst:.2f} times the guide's")
    return out


def _integral(summary) -> bool:
    """Whether every quantile is a whole number (a discrete latent's summary)."""
    q = onp.concatenate([onp.ravel(onp.asarray(summary[k], dtype=float)) for k in ("q05", "q50", "q95")])
    return bool(onp.all(q == onp.round(q)))
