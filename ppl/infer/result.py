"""The result of a fit: learned values, summaries from draws, the objective with its error."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as onp

from . import baselines, convergence, importance
from ..back import predictive as _predictive
from .views import FitViews
from .diagnostics import summarize
from .diagnostics import warnings as snr_warnings
from ..back.program import PASS_ELEMENTS
from ..io.wording import for_caller, in_callers_words

if TYPE_CHECKING:
    from ..back.program import Program
    from .fit import Trajectory

QUANTILES = {"q05": 0.05, "q50": 0.5, "q95": 0.95}
EVAL_DRAWS = 1000             # draws for the final objective and the summaries


@dataclass(kw_only=True, eq=False, repr=False)
class Fit(FitViews):
    """A fitted model: what the fit learned, and summaries from draws of it (`Fit.of` makes one
    from a fit's trajectory; `Model.fit` and `Model.restore` return one).

    >>> import ppl
    >>> fit = ppl.compile("param m: real = 0\\ny ~ Normal(m, 1)\\nminimize (y - 2)^2").fit(steps=300, seed=0, particles=10)
    >>> round(float(fit.params["m"]), 1)
    2.0
    """
    mode: str
    seed: int
    steps: int                     # the steps run
    particles: int
    batch_size: int | None
    objective: dict                # {"name", "value", "stderr"}
    params: dict                   # the model's `param`s, constrained
    guide: dict                    # the guide's parameters, constrained
    latents: dict                  # per latent and deterministic: mean, sd, q05, q50, q95
    draws: dict                    # the draws behind the summaries
    estimators: dict
    enumerated: dict               # an enumerated latent's exact conditional probabilities
    statements: dict
    diagnostics: dict
    psis: dict | None              # the importance-weighting check (`importance.assess`)
    convergence: dict | None
    trace: list
    skipped: int
    interrupted: bool
    warnings: list
    program: Program               # the built program, and the unconstrained parameters it ended at
    theta: onp.ndarray
    model: object = None           # the `Model` it fitted, and the data given to it
    data: object = None
    loss: onp.ndarray | None = None   # -log p(x, z) + log q(z) of each of the draws
    _cache: dict = field(default_factory=dict, init=False)

    @classmethod
    def of(cls, built: Program, path: Trajectory, *, mode: str, seed: int, particles: int, objective_name: str,
           sign: float, baseline: str, rng: onp.random.Generator, draws: int = EVAL_DRAWS, model: object = None,
           data: object = None, batch_size: int | None = None) -> Fit:
        """The fit of `built` that ended as `path` (a `Trajectory`): its parameters, and `draws`
        draws of it (from `rng`) summarized; in inference, more for the importance weights."""
        values = built.space.constrained(path.theta)
        user = {d.name for d in built.rewritten.module.decls if d.kind == "param"}
        estimators = {s.name: s.estimator for s in built.rewritten.sites}
        warnings = convergence.warnings(path.convergence, objective_name) + snr_warnings(path.snr, estimators)
        fit = cls(mode=mode, seed=seed, steps=path.steps, particles=particles, batch_size=batch_size, objective={},
                  params={k: v for k, v in values.items() if k in user},
                  guide={k: v for k, v in values.items() if k not in user}, latents={}, draws={},
                  estimators=estimators, enumerated={}, statements=_statements(built.rewritten, baseline, particles),
                  diagnostics=summarize(path.snr, estimators), psis=None, convergence=path.convergence,
                  trace=path.trace, skipped=path.skipped, interrupted=path.interrupted, warnings=warnings,
                  program=built, theta=path.theta, model=model, data=data)
        fit._summarize(draws, rng, objective_name, sign)
        fit.warnings = [for_caller(w) for w in fit.warnings]      # `--steps` or `steps=`, as the caller says it
        return fit

    def _summarize(self, draws, rng, objective_name, sign):
        """The draws, the summaries and the objective; in inference, more draws than the
        summaries' for the importance weights and the objective."""
        built = self.program
        checked = self.mode == "vi" and built.batch is None
        n = importance.draws(draws, self._width()) if checked else draws
        self._cache["redraw"] = (type(rng.bit_generator), rng.bit_generator.state, n)      # the same draws again, for `loo`
        every = self._draw(n, rng)
        loss = every.pop("__loss__")
        if built.batch is not None:
            self.warnings.append(_minibatch_note(built.batch))
        # the exact conditional probabilities of each enumerated latent, averaged over the draws
        # of everything else: categories on the last axis
        self.enumerated = {k: onp.moveaxis(v.mean(axis=0), 0, -1) for k, v in every.pop("__probs__").items()}
        self.objective = {"name": objective_name, "value": float(sign * loss.mean()),
                          "stderr": float(loss.std(ddof=1) / onp.sqrt(len(loss))) if len(loss) > 1 else 0.0}
        self.draws = {name: v[:draws] for name, v in every.items()}
        self.loss = onp.asarray(loss[:draws], dtype=float)
        self.latents = {name: _summary(v) for name, v in self.draws.items()}
        # importance weights p / q of the draws: how close the guide is to the posterior
        self.psis = importance.assess(loss, every) if checked else None
        if self.psis is not None:
            self.warnings += importance.warnings(self.psis, self.latents)

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
        """`n` draws of every value (with "__loss__" and "__probs__"); after a fit subsampled
        from data too large to summarize whole, the values with one element per row are left out."""
        out = self._draws(n, rng)
        for name in self.program.batch.rowwise if self.program.batch is not None else ():
            out.pop(name, None)
        return out

    def _width(self):
        """Numbers per draw: every latent and deterministic, or the largest observed data (whose
        log-densities are computed per draw), whichever is more."""
        built = self.program
        return max(1, sum(int(onp.prod(s[0], dtype=int)) for s in built.shapes.values()), built.widest)

    def _draws(self, n, rng):
        built = self.program
        params = built.space.lazy(self.theta)
        chunk = max(1, min(n, PASS_ELEMENTS // self._width()))
        with onp.errstate(all="ignore"):      # a draw may be non-finite; its summary says so
            parts = [built.simulate(params, rng, min(chunk, n - i)) for i in range(0, n, chunk)]
        out = {"__probs__": {k: onp.concatenate([p["__probs__"][k] for p in parts])
                             for k in parts[0]["__probs__"]}}
        for name in parts[0]:
            if name == "__probs__":
                continue
            out[name] = onp.concatenate([onp.broadcast_to(p[name], (k,) + onp.shape(p[name])[1:])
                                         for p, k in zip(parts, _sizes(n, chunk))])
        return out

    @in_callers_words
    def predictive(self, n: int = 1000, seed: int | None = None) -> dict:
        """`n` draws from the posterior predictive: the latents and deterministics drawn from the
        fitted guide (as `sample`), and every observation drawn anew given them, under its own name.

        >>> import ppl
        >>> fit = ppl.compile("data y: real[3]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").fit({"y": [1, 2, 3]}, steps=50)
        >>> fit.predictive(10, seed=1)["y"].shape
        (10, 3)
        """
        if self.model is None:
            raise RuntimeError("this Fit does not know its model: use Model.fit or Model.restore")
        rng = onp.random.default_rng(self.seed if seed is None else seed)
        latents = self._draw(n, rng)
        latents.pop("__loss__")
        latents.pop("__probs__")
        return _predictive.posterior(self.model, self.data, latents, self.params, rng, n)

    def to_json(self) -> dict:
        """The documented JSON form (see the README)."""
        return {"mode": self.mode, "seed": self.seed, "steps": self.steps, "particles": self.particles,
                "batch_size": self.batch_size,
                "objective": self.objective, "params": _lists(self.params), "guide": _lists(self.guide),
                "latents": {k: _lists(v) for k, v in self.latents.items()}, "estimators": self.estimators,
                "enumerated": _lists(self.enumerated), "statements": self.statements,
                "diagnostics": self.diagnostics, "psis": _psis_json(self.psis),
                "skipped_steps": self.skipped, "interrupted": self.interrupted,
                "convergence": self.convergence, "trace": [v if math.isfinite(v) else None for v in self.trace],
                "loo": self.loo(),
                "model": self._model_file(), "data": self._data_files(),
                "options": self.model.options.as_dict() if self.model is not None else None}

    def _model_file(self):
        name = self.model.source.filename if self.model is not None else None
        return None if name is None or name.startswith("<") else name

    def _data_files(self):
        """The data as the files it came from (None when it was given as a dict or not at all)."""
        data = self.data
        if data is None and self.model is not None and self.model.data_path is not None:
            data = self.model.data_path if Path(self.model.data_path).exists() else None
        return _files(data)

    def __repr__(self):
        o = self.objective
        return f"<Fit {self.mode}: {o['name']} = {o['value']:.4g} ± {o['stderr']:.2g}>"


def _files(data):
    if isinstance(data, (list, tuple)):
        files = [_files(d) for d in data]
        return None if None in files else files
    return str(data) if isinstance(data, (str, os.PathLike)) else None


def _minibatch_note(batch):
    left = ", ".join(f"'{n}'" for n in sorted(batch.rowwise))
    return (f"note: the data are too large to summarize whole, so the objective is estimated from minibatches of "
            f"{batch.size} of the {batch.total} rows" + (f", and {left} (one value per row) are not summarized: "
                                                          "read their guide parameters" if left else ""))


def _statements(rewritten, baseline, particles):
    """Per stochastic statement: estimator, baseline and cost granularity."""
    used = baselines.used(baseline, particles)
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


def summarize_draws(draws: onp.ndarray) -> dict:
    """mean, mcse_mean, sd, q05, q50, q95 over the first axis of `draws` (independent draws)."""
    return _summary(draws)


def _summary(draws):
    """The summary of independent draws: mcse_mean, the Monte Carlo standard error of the mean,
    is sd / sqrt(draws) (the guide's draws are independent: their effective number is theirs)."""
    draws = onp.asarray(draws, dtype=float)
    sd = draws.std(axis=0, ddof=1) if len(draws) > 1 else draws[0] * 0
    out = {"mean": draws.mean(axis=0), "mcse_mean": sd / onp.sqrt(len(draws)), "sd": sd}
    for key, q in QUANTILES.items():
        out[key] = onp.quantile(draws, q, axis=0)
    return out


def _psis_json(check):
    if check is None:
        return None
    latents = check["latents"]
    return {**check, "latents": None if latents is None else {k: _lists(v) for k, v in latents.items()}}


def _lists(values):
    return {k: onp.asarray(v).tolist() for k, v in values.items()}
