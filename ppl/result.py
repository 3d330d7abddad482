"""The result of a fit: learned values, summaries from draws, the objective with its error."""
from __future__ import annotations

import numpy as onp

from .diagnostics import summarize
from .diagnostics import warnings as snr_warnings

QUANTILES = {"q05": 0.05, "q50": 0.5, "q95": 0.95}
EVAL_DRAWS = 1000             # draws for the final objective and the summaries
CHUNK_ELEMENTS = 2_000_000    # bound on particles x elements per vectorized pass


class Fit:
    """A fitted model.

    >>> import ppl
    >>> fit = ppl.compile("param m: real = 0\\ny ~ Normal(m, 1)\\nminimize (y - 2)^2").fit(steps=300, seed=0)
    >>> round(float(fit.params["m"]), 1)
    2.0
    """

    def __init__(self, built, path, *, mode, seed, steps, particles, objective_name, sign, baseline, rng,
                 draws=EVAL_DRAWS):
        self._built, self._theta, self._sign = built, path.theta, sign
        self.mode, self.seed, self.steps, self.particles = mode, seed, steps, particles
        self.trace, self.skipped = path.trace, path.skipped
        theta = path.theta
        values = built.space.constrained(theta)
        user = {d.name for d in built.rewritten.module.decls if d.kind == "param"}
        self.params = {k: v for k, v in values.items() if k in user}
        self.guide = {k: v for k, v in values.items() if k not in user}
        self.estimators = {s.name: s.estimator for s in built.rewritten.sites}
        self.statements = _statements(built.rewritten, baseline, particles)
        self.diagnostics = summarize(path.snr, self.estimators)
        self.warnings = snr_warnings(path.snr, self.estimators)
        draws_ = self._draw(draws, rng)
        loss = draws_.pop("__loss__")
        # the exact conditional probabilities of each enumerated latent, averaged over the draws
        # of everything else: categories on the last axis
        self.enumerated = {k: onp.moveaxis(v.mean(axis=0), 0, -1) for k, v in draws_.pop("__probs__").items()}
        self.objective = {"name": objective_name, "value": float(sign * loss.mean()),
                          "stderr": float(loss.std(ddof=1) / onp.sqrt(len(loss))) if len(loss) > 1 else 0.0}
        self.latents = {name: _summary(v) for name, v in draws_.items()}

    def summary(self) -> dict:
        """Per latent and deterministic: mean, sd, q05, q50, q95 (from draws of the fitted guide)."""
        return self.latents

    def sample(self, n: int = 1000, seed: int | None = None) -> dict:
        """`n` draws of every latent and deterministic from the fitted guide: {name: array (n, ...)}.

        >>> import ppl
        >>> fit = ppl.compile("param m: real = 0\\ny ~ Normal(m, 1)\\nminimize (y - 2)^2").fit(steps=50)
        >>> fit.sample(10, seed=1)["y"].shape
        (10,)
        """
        draws = self._draw(n, onp.random.default_rng(self.seed if seed is None else seed))
        draws.pop("__loss__")
        draws.pop("__probs__")
        return draws

    def _draw(self, n, rng):
        built = self._built
        params = built.space.unflatten(self._theta)
        width = max(1, sum(int(onp.prod(s[0], dtype=int)) for s in built.shapes.values()))
        chunk = max(1, min(n, CHUNK_ELEMENTS // width))
        parts = [built.simulate(params, rng, min(chunk, n - i)) for i in range(0, n, chunk)]
        out = {"__probs__": {k: onp.concatenate([p["__probs__"][k] for p in parts])
                             for k in parts[0]["__probs__"]}}
        for name in parts[0]:
            if name == "__probs__":
                continue
            out[name] = onp.concatenate([onp.broadcast_to(p[name], (k,) + onp.shape(p[name])[1:])
                                         for p, k in zip(parts, _sizes(n, chunk))])
        return out

    def to_json(self) -> dict:
        """The documented JSON form (see the README)."""
        return {"mode": self.mode, "seed": self.seed, "steps": self.steps, "particles": self.particles,
                "objective": self.objective, "params": _lists(self.params), "guide": _lists(self.guide),
                "latents": {k: _lists(v) for k, v in self.latents.items()}, "estimators": self.estimators,
                "enumerated": _lists(self.enumerated), "statements": self.statements,
                "diagnostics": self.diagnostics,
                "skipped_steps": self.skipped}

    def __repr__(self):
        o = self.objective
        return f"<Fit {self.mode}: {o['name']} = {o['value']:.4g} ± {o['stderr']:.2g}>"


def _statements(rewritten, baseline, particles):
    """Per stochastic statement: estimator, baseline and cost granularity."""
    used = "loo" if baseline == "auto" and particles >= 2 else "average" if baseline == "auto" else baseline
    out = {}
    for s in rewritten.sites:
        row = {"estimator": s.estimator, "reason": s.reason}
        if s.estimator == "score":
            row["baseline"] = used
            row["costs"] = {str(rewritten.costs[i]): g for i, g in s.costs}
        elif s.estimator in ("enumerate", "expect"):
            row["costs"] = {str(rewritten.costs[i]): g for i, g in s.costs}
        out[s.name] = row
    return out


def _sizes(n, chunk):
    return [min(chunk, n - i) for i in range(0, n, chunk)]


def _summary(draws):
    draws = onp.asarray(draws, dtype=float)
    out = {"mean": draws.mean(axis=0), "sd": draws.std(axis=0, ddof=1) if len(draws) > 1 else draws[0] * 0}
    for key, q in QUANTILES.items():
        out[key] = onp.quantile(draws, q, axis=0)
    return out


def _lists(values):
    return {k: onp.asarray(v).tolist() for k, v in values.items()}
