"""What a fit offers beyond its numbers (`Fit` inherits them): the summary as a table, the
pointwise log-likelihood and leave-one-out cross-validation for model comparison, the draws for
ArviZ and pandas, and what a notebook shows (`plot`, `_repr_html_`)."""
from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import numpy as onp

from . import export
from ..back import predictive
from ..io import html, output
from ..io.wording import in_callers_words
from ..middle import ir
from .loo import loo

if TYPE_CHECKING:
    import arviz
    import matplotlib.figure
    import pandas

LOG_LIK_NUMBERS = 20_000_000  # the most numbers the pointwise log-likelihood holds


class FitViews:
    """The views of a `Fit` (see there)."""

    def summary(self, as_dict: bool = False) -> pandas.DataFrame | dict:
        """The summary table: a row per element of every latent and deterministic (`theta[0]`),
        with mean, mcse_mean (its Monte Carlo error), sd, q05, q50 and q95 from the draws of the
        fitted guide, psis_mean and psis_sd where importance weighting allows, and the estimator
        of its gradient; a pandas DataFrame, or (`as_dict`, or without pandas) `Fit.latents`,
        {name: {"mean": array, ...}}.

        >>> import ppl
        >>> fit = ppl.compile("data y: real[3]\\nmu: real[2] ~ Normal(0, 1)\\ny ~ Normal(mu[0], 1)").fit({"y": [1, 2, 3]})
        >>> list(fit.summary().index), list(fit.summary().columns[:3])
        (['mu[0]', 'mu[1]'], ['mean', 'mcse_mean', 'sd'])
        >>> fit.summary(as_dict=True)["mu"]["mean"].shape
        (2,)
        """
        if as_dict:
            return self.latents
        try:
            return export.summary_frame(self)
        except ImportError:
            return self.latents

    @property
    def log_likelihood(self) -> dict:
        """{observation: array (draws, *elements)}: log p(y_i | z_s) of every element of every
        observation at each of the summary's draws (`draws`); a latent the fit summed out is
        summed out here too. Empty outside variational inference, after a fit whose data were too
        large to summarize whole, or when it would hold more than `LOG_LIK_NUMBERS` numbers.

        >>> import ppl
        >>> fit = ppl.compile("data y: real[3]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").fit({"y": [1, 2, 3]})
        >>> fit.log_likelihood["y"].shape
        (1000, 3)
        """
        if "log_likelihood" not in self._cache:
            self._cache["log_likelihood"] = self._log_likelihood()
        return self._cache["log_likelihood"]

    def _log_likelihood(self, draws=None):
        """The pointwise log-likelihood at `draws` (default the summary's), or {}."""
        built = self.program
        observed = sum(isinstance(s, ir.Observe) for s in built.rewritten.module.body)
        if self.mode != "vi" or built.batch is not None or self.model is None or not self.draws or not observed:
            return {}
        draws = self.draws if draws is None else draws
        if len(next(iter(draws.values()))) * built.widest * observed > LOG_LIK_NUMBERS:
            return {}
        summed = [k for k, v in self.estimators.items() if v == "enumerate"]
        return predictive.log_likelihood(self.model, self.data, draws, self.params, summed)

    def loo(self) -> dict | None:
        """Leave-one-out cross-validation (PSIS-LOO, `ppl.infer.loo`): {"elpd_loo", "se", "p_loo",
        "pareto_k", ...} from the draws the importance-weighting check took (10,000 in most
        models), weighted from the guide to the posterior; None where there is no pointwise
        log-likelihood (`log_likelihood`).

        >>> import ppl
        >>> model = ppl.compile("data y: real[5]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)")
        >>> result = model.fit({"y": [0.1, -0.3, 0.5, 1.2, 0.2]}, steps=200).loo()
        >>> result["n"], result["draws"], result["pareto_k"]["bad"]
        (5, 10000, 0)
        """
        if "loo" not in self._cache:
            self._cache["loo"] = self._loo()
        return self._cache["loo"]

    def _loo(self):
        if not self.log_likelihood:
            return None
        kind, state, n = self._cache["redraw"]
        per_draw = self.program.widest * len(self.log_likelihood)
        rng = onp.random.Generator(kind())
        rng.bit_generator.state = state
        every = self._draw(n, rng)
        loss, _ = every.pop("__loss__"), every.pop("__probs__")
        keep = max(len(self.loss), min(n, LOG_LIK_NUMBERS // max(1, per_draw)))
        log_lik = self._log_likelihood({k: v[:keep] for k, v in every.items()})
        if not log_lik:
            return None
        digest = hashlib.sha256()            # which data were predicted: `compare` wants the same
        for name, values in sorted(self.observed_data().items()):
            digest.update(name.encode() + onp.ascontiguousarray(values, dtype=float).tobytes())
        return {**loo(log_lik, -loss[:keep]), "data_digest": digest.hexdigest()[:16]}

    def to_arviz(self, predictive: bool = True) -> arviz.InferenceData:
        """The draws as an ArviZ `InferenceData`: the guide's draws as `posterior` (one chain),
        their pointwise `log_likelihood` (so that `az.loo` and `az.compare` work; ArviZ takes the
        guide's draws for the posterior's, where `Fit.loo` reweights them), and, with
        `predictive`, `posterior_predictive` and `observed_data` for every observation. Axes
        are named by the sizes the model declares (`theta_raw` by `J`). Needs ArviZ
        (`pip install 'ppl-lang[arviz]'`)."""
        return export.to_arviz(self, predictive)

    def to_dataframe(self) -> pandas.DataFrame:
        """The draws as a pandas DataFrame, one column per element (`name[i]`), as `--draws` writes."""
        return export.to_dataframe(self)

    def plot(self, path: str | os.PathLike | None = None, vars: list[str] | None = None) -> matplotlib.figure.Figure:
        """A matplotlib `Figure`: the objective per step, each latent's and deterministic's
        marginal posterior (or, for a vector, its median and 50% and 90% intervals over the
        index), and each observation against draws of the posterior predictive; `vars` names
        the variables to show (default all), `path` (.png, .pdf, .svg) saves it too. Needs
        matplotlib (`pip install 'ppl-lang[plot]'`).

        >>> import ppl
        >>> fit = ppl.compile("data y: real[3]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").fit({"y": [1, 2, 3]})
        >>> [ax.get_title() for ax in fit.plot(vars=["mu", "y"]).axes][1:]
        ['mu', 'y: observed and posterior predictive']
        """
        from ..io import plots
        fig = in_callers_words(plots.plot_fit)(self, vars)
        if path is not None:
            plots.save(fig, path)
        return fig

    def observed_data(self) -> dict:
        """{name: array}: the data of every observation, as bound to the model (none without it)."""
        return predictive.observed_data(self.model, self.data) if self.model is not None else {}

    def dims(self) -> dict:
        """{name: [dimension, ...]}: the named sizes that index each variable's axes (as in
        `to_arviz`), for the variables with one."""
        return export.dims(self)[0] if self.model is not None else {}

    def bounds(self) -> dict:
        """{latent: (low, high)}: the bounds of each continuous latent's support (None where it
        has none, or where they vary from element to element).

        >>> import ppl
        >>> ppl.compile("data y: real\\ns ~ HalfNormal(1)\\ny ~ Normal(0, s)").fit({"y": 1.0}).bounds()
        {'s': (0.0, None)}
        """
        out = {}
        for name, (_, prior) in self.program.shapes.items():
            support = getattr(prior, "support", None)
            if support is not None and not support.discrete:
                low, high = (getattr(support, side, None) for side in ("low", "high"))
                if getattr(support, "name", "") in ("simplex", "positive_ordered"):
                    low, high = 0.0, (1.0 if support.name == "simplex" else None)
                out[name] = (_single(low), _single(high))
        return out

    def _repr_html_(self) -> str:
        """The command line's summary, as a notebook shows it."""
        lines, head, rows = output.table_parts(self)
        title = f"ppl.Fit: {output.MODES.get(self.mode, self.mode)}"
        return html.block(title, lines, [html.table(head, rows)] if head else [], self.warnings)


def _single(bound):
    """A bound that is one finite number everywhere, as a float; else None."""
    values = onp.unique(onp.asarray(onp.nan if bound is None else bound, dtype=float))
    return float(values[0]) if len(values) == 1 and onp.isfinite(values[0]) else None
