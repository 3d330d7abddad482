"""Pass 5, rewrite: choose for every stochastic site a pathwise form or a score-function term.

A site is pathwise when its distribution defines `transform` (draw parameter-free noise, then
map it differentiably). Otherwise, or when forced, it is a score-function site: its value is drawn
without a gradient and the surrogate gains stop(C - b) * log q, where C sums only the cost terms
the site can influence (statement-level Rao-Blackwellization) and b is a baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import ast, ir
from .ast import NOSPAN
from .distributions import DISTRIBUTIONS
from .errors import SemanticError, Span
from .guide import Guided

ESTIMATORS = ("auto", "pathwise", "score")


@dataclass(frozen=True)
class Cost:
    """One additive term of the loss (the negative ELBO, or the signed objective)."""
    label: str
    reads: frozenset
    span: Span = field(default=NOSPAN, compare=False, repr=False)

    def __str__(self):
        return self.label


@dataclass(frozen=True)
class Site:
    """A stochastic statement and how its gradient is obtained."""
    name: str
    estimator: str             # pathwise | score
    reason: str
    costs: tuple               # indices of the cost terms multiplying its score (score sites)
    span: Span = field(default=NOSPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Rewritten:
    module: ir.Module
    guide: dict                # name -> GuideSite (inference mode)
    sites: tuple
    costs: tuple

    def site(self, name):
        return next(s for s in self.sites if s.name == name)

    def __str__(self):
        from .explain import explain
        return explain(self)


def rewrite(guided: Guided, estimator="auto") -> Rewritten:
    """Decide the estimator of each site and the cost terms downstream of each score site.

    `estimator` is "auto", "pathwise", "score", or a dict from statement name to one of those.
    """
    module = guided.module
    choice = _choices(module, estimator)
    costs = tuple(_costs(module))
    sites = []
    for stmt in module.body:
        if not isinstance(stmt, ir.Sample) or module.mode not in ("vi", "optimize"):
            continue
        kind, reason = _estimator(stmt, module.mode, choice.get(stmt.name, "auto"))
        downstream = ()
        if kind == "score":
            influenced = _influence(module, stmt.name)
            downstream = tuple(i for i, c in enumerate(costs) if c.reads & influenced)
        sites.append(Site(stmt.name, kind, reason, downstream, stmt.span))
    return Rewritten(module, {g.name: g for g in guided.sites}, tuple(sites), costs)


def _choices(module, estimator) -> dict:
    samples = [s.name for s in module.body if isinstance(s, ir.Sample)]
    if isinstance(estimator, str):
        if estimator not in ESTIMATORS:
            raise SemanticError(f"unknown estimator '{estimator}'", hint=f"use one of {', '.join(ESTIMATORS)}")
        return {name: estimator for name in samples}
    for name, how in estimator.items():
        if name not in samples:
            raise SemanticError(f"no latent named '{name}' to set an estimator for",
                                hint=f"latents: {', '.join(samples) or 'none'}")
        if how not in ESTIMATORS:
            raise SemanticError(f"unknown estimator '{how}' for '{name}'", hint=f"use one of {', '.join(ESTIMATORS)}")
    return dict(estimator)


def _estimator(stmt, mode, wanted):
    cls = DISTRIBUTIONS[stmt.dist]
    if cls.discrete:
        if wanted == "pathwise":
            raise SemanticError(f"'{stmt.name}' is discrete and has no pathwise form", stmt.span,
                                hint="use the score-function estimator")
        return "score", "discrete: no pathwise form"
    pathwise = mode == "vi" or cls.reparameterized
    if wanted == "score":
        return "score", "score function requested"
    if pathwise:
        return "pathwise", "reparameterized guide" if mode == "vi" else f"{cls.__name__} defines a transform"
    if wanted == "pathwise":
        raise SemanticError(f"{cls.__name__} defines no pathwise transform", stmt.span,
                            hint="use the score-function estimator")
    return "score", f"{cls.__name__} defines no pathwise transform"


def _names(expr):
    return {n.id for n in ast.names(expr)}


def _arg_names(stmt):
    return set().union(*(_names(e) for _, e in stmt.args)) if stmt.args else set()


def _costs(module):
    """The loss's additive terms, each with the names its value reads."""
    if module.mode == "optimize":
        for stmt in module.body:
            if isinstance(stmt, ir.Objective):
                for i, (sign, expr) in enumerate(stmt.terms):
                    yield Cost(f"{'-' if sign < 0 else ''}{_short(expr)}", frozenset(_names(expr)), expr.span)
        return
    for stmt in module.body:
        if isinstance(stmt, ir.Sample):
            yield Cost(f"-log p({stmt.name})", frozenset(_arg_names(stmt) | {stmt.name}), stmt.span)
            yield Cost(f"log q({stmt.name})", frozenset({stmt.name}), stmt.span)
        elif isinstance(stmt, ir.Observe):
            yield Cost(f"-log p({stmt.name})", frozenset(_arg_names(stmt)), stmt.span)


def _short(expr, width=24):
    text = str(expr)
    return text if len(text) <= width else text[:width - 3] + "..."


def value_reads(stmt, mode) -> set:
    """The names a statement's value depends on (a latent's value depends on its arguments in
    optimization mode, and in inference mode only through a support that depends on them)."""
    if isinstance(stmt, ir.Let):
        return _names(stmt.expr)
    if isinstance(stmt, ir.Sample):
        cls = DISTRIBUTIONS[stmt.dist]
        if mode == "optimize" or (not cls.discrete and isinstance(cls.__dict__.get("support"), property)):
            return _arg_names(stmt)
    return set()


def _influence(module, name) -> set:
    """`name` and every value computed, directly or not, from it."""
    reached = {name}
    for stmt in module.body:
        if isinstance(stmt, (ir.Let, ir.Sample)) and value_reads(stmt, module.mode) & reached:
            reached.add(stmt.name)
    return reached
