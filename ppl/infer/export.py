"""A fit handed to the tools a modeller already has: ArviZ (`to_arviz`, with named dimensions and
the pointwise log-likelihood that `az.loo` and `az.compare` read) and pandas (the draws, and the
summary table as a DataFrame).

A dimension is named by the size its declaration names: `theta_raw: real[J]` is indexed by `J`,
and so is `theta = mu + tau * theta_raw`, whose length is that of `J` and of no other named size
(where two named sizes are equal, or a size is an expression, ArviZ's `NAME_dim_0` stays).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp

from ..middle import ir
from ..back import predictive
from ..back.data import bind

if TYPE_CHECKING:
    import arviz
    import pandas

INSTALL = "pip install 'ppl-lang[arviz]'"     # the distribution's name: `ppl` on PyPI is another project


def to_arviz(fit: object, predictive_draws: bool = True) -> arviz.InferenceData:
    """`Fit.to_arviz`: posterior, log_likelihood, posterior_predictive and observed_data."""
    try:
        import arviz as az
    except ImportError:
        raise ImportError(f"Fit.to_arviz() needs ArviZ, an optional dependency: {INSTALL} "
                          "(or pip install arviz)") from None
    groups = {}
    if fit.draws:          # maximum likelihood has no latents: no posterior
        groups["posterior"] = {k: onp.asarray(v)[None] for k, v in fit.draws.items()}
    log_lik = fit.log_likelihood
    if log_lik:
        groups["log_likelihood"] = {k: v[None] for k, v in log_lik.items()}
    if predictive_draws and fit.model is not None:
        observed = predictive.observed_data(fit.model, fit.data)
        n = len(next(iter(fit.draws.values()))) if fit.draws else len(fit.loss if fit.loss is not None else [0])
        draws = fit.predictive(max(n, 1))
        groups["posterior_predictive"] = {k: draws[k][None] for k in observed}
        groups["observed_data"] = observed
    names, coords = dims(fit) if fit.model is not None else ({}, {})
    return az.from_dict(**groups, dims=names, coords=coords,
                        attrs={"mode": fit.mode, "objective": fit.objective["name"],
                               "objective_value": fit.objective["value"]})


def dims(fit: object) -> tuple[dict, dict]:
    """({variable: [dimension, ...]}, {dimension: [0, 1, ...]}) for every latent, deterministic
    and observation with an axis whose size is named."""
    module = fit.model.ir
    values, _ = bind(module, fit.model.data_values(fit.data))
    declared = {d.name: d.shape for d in module.decls}
    declared.update({s.name: s.shape for s in module.body if isinstance(s, ir.Sample) and s.shape})
    named = {_size_name(e) for shape in declared.values() for e in shape} - {None}
    sizes = {n: int(values[n]) for n in named if n in values and onp.ndim(values[n]) == 0}
    shapes = {k: onp.shape(v)[1:] for k, v in fit.draws.items()}
    shapes.update({s.name: onp.shape(values[s.name]) for s in module.body if isinstance(s, ir.Observe)})
    out, coords = {}, {}
    for name, shape in shapes.items():
        given = [_size_name(e) for e in declared.get(name) or ()]
        names = [_dim(i, length, given if len(given) == len(shape) else [], sizes, set(shapes))
                 for i, length in enumerate(shape)]
        if any(names) and len(set(filter(None, names))) == len(list(filter(None, names))):
            out[name] = [d or f"{name}_dim_{i}" for i, d in enumerate(names)]
            coords.update({d: list(range(length)) for d, length in zip(names, shape) if d})
    return out, coords


def _dim(i, length, given, sizes, variables):
    """The name of axis `i` (of `length`): its declared size's, else the one named size of that
    length; None when there is none, or when it would be a variable's name."""
    dim = given[i] if given and sizes.get(given[i]) == length else None
    if dim is None:
        candidates = [n for n, v in sizes.items() if v == length]
        dim = candidates[0] if len(candidates) == 1 else None
    return None if dim in variables else dim


def _size_name(expr):
    """A size written as one name (`J`), or None."""
    text = str(expr)
    return text if text.isidentifier() else None


def to_dataframe(fit: object) -> pandas.DataFrame:
    """`Fit.to_dataframe`: the draws, one column per element (`name[i]`), as `--draws` writes."""
    pd = _pandas("Fit.to_dataframe()")
    from ..io.output import draw_columns
    return pd.DataFrame(dict(draw_columns(fit.draws)))


def summary_frame(fit: object) -> pandas.DataFrame:
    """`Fit.summary`'s table: a row per element of every latent and deterministic, labelled as
    the command line's table and `--draws` label it (`theta[0]`), a column per statistic."""
    pd = _pandas("Fit.summary()")
    from ..io.output import label
    weighted = (fit.psis or {}).get("latents") or {}
    index, rows = [], []
    for name, stats in fit.latents.items():
        shape = onp.shape(stats["mean"])
        extra = {f"psis_{k}": v for k, v in weighted.get(name, {}).items()}
        for ix in onp.ndindex(shape):
            index.append(label(name, ix))
            row = {k: float(onp.asarray(v)[ix]) for k, v in {**stats, **extra}.items()}
            rows.append({**row, "estimator": fit.estimators.get(name, "deterministic")})
    return pd.DataFrame(rows, index=pd.Index(index, name="name"))


def _pandas(what):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(f"{what} needs pandas: pip install pandas") from None
    return pd
