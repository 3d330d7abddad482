"""Model comparison: fits of several models to the same observations, ranked by their expected log
predictive density from leave-one-out cross-validation (PSIS-LOO, `ppl.infer.loo`), or, where
some fit has no pointwise log-likelihood, by the ELBO.

The difference between two models' elpd_loo has a standard error of its own, from the
observations' pointwise differences (`se_diff`, as the `loo` package's `loo_compare` and ArviZ's
`compare` compute it): a difference within two of them does not tell the models apart. The ELBO
is a lower bound on log p(data), under each model's own guide: a difference of the bounds is not
a difference of the evidence when one guide fits its posterior worse than the other does.

>>> a = {"mode": "vi", "objective": {"name": "elbo", "value": -10.0, "stderr": 0.1}, "loo": None}
>>> b = {"mode": "vi", "objective": {"name": "elbo", "value": -12.0, "stderr": 0.1}, "loo": None}
>>> [row["model"] for row in compare({"a": a, "b": b})["rows"]]
['a', 'b']
"""
from __future__ import annotations

import math
import numbers

import numpy as onp

from ..front.errors import OptionError, PPLError, Source

MODES = {"optimize": "an optimization (minimize or maximize): it has no observations to predict",
         "mle": "a maximum-likelihood fit: it has no posterior, so neither LOO nor the ELBO applies",
         "prior": "not a fit"}


def compare(results: dict) -> dict:
    """{"method": "loo" | "elbo", "head", "rows": [...] best first, "notes", "warnings"} for results
    ({name: a `Fit`, or a result dict as `Fit.to_json` and `ppl fit --out` write}).

    A row holds the model's name and rank, then for LOO its elpd_loo, se, p_loo, elpd_diff (to
    the best, 0 or negative), se_diff, and its count of observations with Pareto k above 0.7; for
    the ELBO, its elbo, stderr, elbo_diff and se_diff."""
    if len(results) < 2:
        raise OptionError(f"compare needs at least two fits, not {len(results)}", hint="give the results of two or more models")
    docs = {name: _document(name, r) for name, r in results.items()}
    missing = [name for name, doc in docs.items() if doc["loo"] is None]
    if not missing:
        return _by_loo(docs)
    return _by_elbo(docs, missing)


def _document(name, result):
    """The fields compare reads, checked (a result file is untrusted input)."""
    if hasattr(result, "loo") and callable(result.loo):
        result = {"mode": result.mode, "objective": result.objective, "loo": result.loo()}
    where = Source("", str(name))
    if not isinstance(result, dict):
        raise PPLError("is not a result (a JSON object written by ppl fit --out)", source=where)
    mode = result.get("mode")
    if mode != "vi":
        raise PPLError(f"it is {MODES.get(mode, 'not a result of ppl fit')}", source=where,
                       hint="compare fits by variational inference (models with priors on their unknowns)")
    objective = result.get("objective")
    if not isinstance(objective, dict) or not all(_number(objective.get(k)) for k in ("value", "stderr")):
        raise PPLError("its 'objective' is not an object with a value and a stderr", source=where,
                       hint="give a result written by ppl fit --out")
    return {"objective": objective, "loo": _checked_loo(result.get("loo"), where)}


def _checked_loo(value, where):
    if value is None:
        return None
    bad = PPLError("its 'loo' is malformed", source=where, hint="give a result written by ppl fit --out")
    if not isinstance(value, dict) or not all(_number(value.get(k)) for k in ("elpd_loo", "se", "p_loo")):
        raise bad
    pointwise, n = value.get("pointwise"), value.get("n")
    if not isinstance(n, int) or not isinstance(pointwise, dict) or not isinstance(value.get("observations"), dict):
        raise bad
    elpd, k = pointwise.get("elpd_loo"), pointwise.get("pareto_k")
    if not (isinstance(elpd, list) and isinstance(k, list) and len(elpd) == len(k) == n
            and all(_number(e) for e in elpd) and all(x is None or _number(x) for x in k)):
        raise bad
    return value


def _number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _by_loo(docs):
    shapes = {name: doc["loo"]["observations"] for name, doc in docs.items()}
    if len({repr(sorted(s.items())) for s in shapes.values()}) > 1:
        shown = "; ".join(f"{name}: {_observations(s)}" for name, s in shapes.items())
        raise OptionError(f"the fits predict different observations ({shown})",
                       hint="LOO compares models of the same data: fit each to the same observations")
    digests = {doc["loo"].get("data_digest") for doc in docs.values()} - {None}
    if len(digests) > 1:
        raise OptionError("the fits predict different data: their observations have the same shapes but other "
                          "values", hint="LOO compares models of the same data: fit each to the same observations")
    order = sorted(docs, key=lambda name: -docs[name]["loo"]["elpd_loo"])
    best = onp.asarray(docs[order[0]]["loo"]["pointwise"]["elpd_loo"])
    rows, warnings = [], []
    for rank, name in enumerate(order):
        loo = docs[name]["loo"]
        diff = onp.asarray(loo["pointwise"]["elpd_loo"]) - best
        k = [x for x in loo["pointwise"]["pareto_k"]]
        bad = sum(1 for x in k if x is None or x > 0.7)
        rows.append({"model": name, "rank": rank, "elpd_loo": loo["elpd_loo"], "se": loo["se"], "p_loo": loo["p_loo"],
                     "elpd_diff": float(diff.sum()), "se_diff": float(onp.sqrt(len(diff) * onp.var(diff))),
                     "pareto_k_bad": bad})
        if bad:
            warnings.append(f"warning: {name} has {bad} observation{'s' * (bad != 1)} with Pareto k above 0.7: "
                         "its elpd_loo is unreliable there (an influential observation, or a guide far from the "
                         "posterior: see its pareto k-hat); refit with the fullrank guide, or examine those "
                         "observations")
    n, draws = docs[order[0]]["loo"]["n"], docs[order[0]]["loo"].get("draws")
    head = (f"PSIS-LOO over {n} observation{'s' * (n != 1)}" + (f", {draws:,} draws of each fitted guide "
            "weighted to its posterior" if isinstance(draws, int) else "") + "; higher elpd_loo is better")
    return {"method": "loo", "head": head, "rows": rows, "notes": [_verdict(rows, "elpd_diff")], "warnings": warnings}


def _by_elbo(docs, missing):
    order = sorted(docs, key=lambda name: -docs[name]["objective"]["value"])
    top = docs[order[0]]["objective"]
    rows = []
    for rank, name in enumerate(order):
        o = docs[name]["objective"]
        rows.append({"model": name, "rank": rank, "elbo": o["value"], "stderr": o["stderr"],
                     "elbo_diff": o["value"] - top["value"],
                     "se_diff": math.sqrt(o["stderr"] ** 2 + top["stderr"] ** 2) if rank else 0.0})
    head = (f"the ELBO (a lower bound on log p(data)); higher is better. LOO does not apply: "
            f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no pointwise log-likelihood "
            "(a fit from minibatches, or a model whose observations are not `~` statements)")
    note = ("note: a difference of ELBOs is a difference of the evidence only when both guides fit their "
            "posteriors equally well (compare their pareto k-hat)")
    return {"method": "elbo", "head": head, "rows": rows, "notes": [_verdict(rows, "elbo_diff"), note], "warnings": []}


def _verdict(rows, key):
    first, second = rows[0], rows[1]
    diff, se = -second[key], second["se_diff"]
    if diff <= 2 * se:
        return (f"{first['model']} and {second['model']} differ by {diff:.3g} ± {se:.2g}, within two standard "
                "errors: the data do not tell them apart")
    ratio = f" ({diff / se:.3g} standard errors)" if se > 0 else ""
    return f"{first['model']} is ahead of {second['model']} by {diff:.3g} ± {se:.2g}{ratio}"


def _observations(shapes):
    return ", ".join(f"{k}{list(v) if v else ''}" for k, v in shapes.items())


def table(comparison: dict) -> str:
    """The comparison as the command line prints it on stdout: a heading, a row per model, then the
    verdict (its warnings go to stderr)."""
    keys = (["elpd_loo", "se", "p_loo", "elpd_diff", "se_diff", "pareto_k_bad"] if comparison["method"] == "loo"
            else ["elbo", "stderr", "elbo_diff", "se_diff"])
    cells = [["model", *keys]] + [[r["model"], *(_cell(r[k]) for k in keys)] for r in comparison["rows"]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    return "\n".join([comparison["head"], *lines, *comparison["notes"]])


def _cell(x):
    return str(x) if isinstance(x, int) else f"{x:.2f}"
