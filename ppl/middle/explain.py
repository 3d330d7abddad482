"""The printable form of a rewritten program: per statement, its guide, estimator and why."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..front import ast
from . import ir
from ..distributions.restricted import BOUNDS

if TYPE_CHECKING:
    from .rewrite import Rewritten


def explain(rewritten: Rewritten) -> str:
    """One line per statement; score sites list the cost terms that multiply their score."""
    module = rewritten.module
    sites = {s.name: s for s in rewritten.sites}
    rows = []
    for stmt in module.body:
        if isinstance(stmt, ir.Sample):
            rows.append(_sample_row(stmt, sites.get(stmt.name), rewritten))
        elif isinstance(stmt, ir.Observe):
            where = "ELBO" if module.mode == "vi" else "log-likelihood"
            rows.append((f"{stmt.name}", f"~ {_call(stmt)}", "observed", "", f"+ log p({stmt.name}) in the {where}"))
        elif isinstance(stmt, ir.Let):
            rows.append((stmt.name, f"= {stmt.expr}", "", "deterministic", ""))
        elif isinstance(stmt, ir.Factor):
            where = "ELBO" if module.mode == "vi" else "log-likelihood"
            rows.append(("target", f"+= {stmt.expr}", "", "log-density", f"+ {stmt.label.split(' += ')[-1]} in the "
                                                                            f"{where}" if " += " in stmt.label
                         else f"+ log-density of {stmt.label} in the {where}"))
        elif isinstance(stmt, ir.Loop):
            inner = "; ".join(str(s).replace("\n", " ") for s in stmt.body)
            where = "ELBO" if module.mode == "vi" else "log-likelihood"
            terms = f"its log-density terms, summed, join the {where}" if any(
                c.part == "factor" and c.expr is stmt for c in rewritten.costs) else "no log-density terms"
            rows.append((f"for {stmt.var}", f"in {stmt.start}:{stmt.stop}", "", "loop", f"{{{inner}}}: {terms}"))
        else:
            terms = " | ".join(str(c) for c in rewritten.costs)
            rows.append((stmt.sense, str(stmt).removeprefix(stmt.sense + " "), "", "objective",
                         f"cost terms: {terms}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else []
    lines = [f"# mode: {module.mode}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _signed(labels):
    """["-log p(z)", "log q(z)"] -> "-log p(z) + log q(z)"."""
    if not labels:
        return "0"
    out = labels[0]
    for label in labels[1:]:
        out += f" - {label[1:]}" if label.startswith("-") else f" + {label}"
    return out


def _call(stmt):
    """The distribution as written: its own arguments, then a declared support or a truncation."""
    own = [str(e) for k, e in stmt.args if k not in BOUNDS]
    bounds = {k: e for k, e in stmt.args if k in BOUNDS}
    text = "flat" if stmt.dist == "Flat" else f"{stmt.dist}({', '.join(own)})"
    if getattr(stmt, "truncate", False):
        return f"{text} T[{bounds.get('lower', '')}, {bounds.get('upper', '')}]"
    support = getattr(stmt, "support", None)
    if support is not None:
        limits = ", ".join(f"{k}={v}" for k, v in bounds.items())
        return f"{text} on {support}{f'<{limits}>' if limits else ''}"
    return text


def _sample_row(stmt, site, rewritten):
    shape = "[" + ", ".join(map(str, stmt.shape)) + "]" if stmt.shape else ""
    name, model = f"{stmt.name}{shape}", f"~ {_call(stmt)}"
    guide = rewritten.guide.get(stmt.name)
    guide_text = f"guide {guide.text}" if guide else ""
    if site is None:
        return (name, model, guide_text, "prior", "drawn from the prior")
    if site.estimator in ("enumerate", "expect"):
        costs = [rewritten.costs[i] for i, _ in site.costs]
        if site.estimator == "enumerate" and rewritten.module.mode == "vi":
            terms = " + ".join(str(c).lstrip("-") for c in costs if c.part in ("logp", "factor"))
            return (name, model, "summed out", "enumerate", f"log sum_k exp({terms}) at {stmt.name} = k, per element")
        weight = f"q({stmt.name} = k)" if guide else f"p({stmt.name} = k)"
        return (name, model, guide_text or "summed out", site.estimator,
                f"sum_k {weight} * ({_signed([str(c) for c in costs])}) at {stmt.name} = k, per element")
    if site.estimator == "pathwise":
        return (name, model, guide_text, "pathwise", _pathwise_form(stmt, guide))
    log = f"log q({stmt.name})" if guide else f"log p({stmt.name})"
    terms = _signed([str(rewritten.costs[i]) for i, _ in site.costs])
    grain = {g for _, g in site.costs}
    per = "per element" if grain == {"element"} else "per statement" if grain == {"statement"} else \
        "per element where it can: " + ", ".join(f"{rewritten.costs[i]} ({g})" for i, g in site.costs)
    return (name, model, guide_text, "score",
            f"+ stop(C - b) * {log}, C = {terms}, {per}  ({site.reason})")


def _pathwise_form(stmt, guide):
    if guide is not None:
        return guide.pathwise_form()
    form = (stmt.family.transform.__doc__ or "transform(eps)").strip().splitlines()[0]
    value, _, noise = form.partition(", ")
    for name, expr in stmt.args:
        text = str(expr) if isinstance(expr, (ast.Name, ast.Num, ast.Call, ast.Index)) else f"({expr})"
        value = re.sub(rf"\b{name}\b", text, value)
    return f"{stmt.name} = {value}" + (f", {noise}" if noise else "")
