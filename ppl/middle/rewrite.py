"""Pass 5, rewrite: choose for every stochastic site a pathwise form, a score-function term, or
exact enumeration.

A site is pathwise when its distribution defines `transform` (draw parameter-free noise, then map
it differentiably). A discrete site with a small finite support whose influence is elementwise is
summed out exactly (enumeration). Otherwise it is a score-function site: its value is drawn without
a gradient and the surrogate gains stop(C - b) * log q, where C sums only the cost terms the site
can influence (Rao-Blackwellization), element by element where the program keeps elements apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..front import ast
from . import ir
from ..front.ast import NOSPAN
from .dependence import GRANULARITY, NONE, WHOLE, dependence, flat, log_density_dependence, loop_dependence, \
    ranks, site_dependence
from ..front.errors import SemanticError, Span
from .guide import Guided
from .options import ESTIMATORS, GRANULARITIES, CostPart, one_of



@dataclass(frozen=True)
class Cost:
    """One additive term of the loss (the negative ELBO, or the signed objective)."""
    label: str
    source: str                # the statement it belongs to ("" for an objective term)
    part: CostPart
    expr: object = None        # an objective term's expression
    inner: object = None       # E when the term is sum(E) or mean(E): its elementwise form
    reduce: str | None = None  # sum | mean
    span: Span = field(default=NOSPAN, compare=False, repr=False)

    def __str__(self):
        return self.label


@dataclass(frozen=True)
class Site:
    """A stochastic statement and how its gradient is obtained."""
    name: str
    estimator: str             # pathwise | score | enumerate
    reason: str
    costs: tuple = ()          # ((cost index, "element" | "statement"), ...) it multiplies / sums out
    span: Span = field(default=NOSPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Rewritten:
    module: ir.Module
    guide: dict                # name -> GuideSite, for the latents a guide draws
    sites: tuple
    costs: tuple
    family: str = "meanfield"  # the guide family of the continuous latents

    def site(self, name: str) -> Site:
        return next(s for s in self.sites if s.name == name)

    def __str__(self):
        from .explain import explain
        return explain(self)


def rewrite(guided: Guided, estimator: str | dict[str, str] = "auto", rao_blackwell: str = "element") -> Rewritten:
    """Decide the estimator of each site and, for score and enumerated sites, the cost terms each
    one influences and at what granularity.

    `estimator` is one of ESTIMATORS or a dict from latent name to one; `rao_blackwell` is
    "element" (the default), "statement", or "none" (every cost multiplies every score).
    """
    module = guided.module
    one_of("rao_blackwell", rao_blackwell, GRANULARITIES)
    choice = _choices(module, estimator)
    costs = tuple(_costs(module))
    known = ranks(module)
    sites, claimed = [], {}
    for stmt in module.body:
        if not isinstance(stmt, ir.Sample) or module.mode not in ("vi", "optimize"):
            continue
        deps = site_dependence(module, stmt.name, known)
        influence = [(i, _cost_dependence(c, module, deps, known)) for i, c in enumerate(costs)]
        influence = [(i, d) for i, d in influence if d != NONE]
        kind, reason = _estimator(stmt, module, choice.get(stmt.name, "auto"), deps, influence, claimed)
        if kind in ("enumerate", "expect"):
            claimed.update({i: stmt.name for i, _ in influence})
            sites.append(Site(stmt.name, kind, reason, tuple((i, "element") for i, _ in influence), stmt.span))
        elif kind == "score":
            sites.append(Site(stmt.name, kind, reason, _granular(influence, costs, rao_blackwell), stmt.span))
        else:
            sites.append(Site(stmt.name, kind, reason, (), stmt.span))
    enumerated = {s.name for s in sites if s.estimator == "enumerate" and module.mode == "vi"}
    guide = {g.name: g for g in guided.sites if g.name not in enumerated}
    sites = [_through_enumeration(s, claimed, costs, enumerated) for s in sites]
    if guided.family == "fullrank":
        forced = [s for s in sites if s.estimator == "score" and s.name in guide and not guide[s.name].discrete]
        if forced:
            raise SemanticError(f"the full-rank guide draws every continuous latent jointly, so '{forced[0].name}' "
                                "cannot use the score function", forced[0].span, hint="use the mean-field guide")
    return Rewritten(module, guide, tuple(sites), costs, guided.family)


def _through_enumeration(site, claimed, costs, marginal):
    """A score site's costs once enumerated sites have taken some: a cost summed out of the model
    lives in that latent's marginal, stored in the slot of its log p, at statement level (a cost
    weighted over another latent's values keeps its own slot and granularity)."""
    if site.estimator != "score" or not any(i in claimed for i, _ in site.costs):
        return site
    kept = {}
    for i, grain in site.costs:
        owner = claimed.get(i)
        if owner is None:
            kept[i] = grain
        elif owner in marginal:
            slot = next(j for j, c in enumerate(costs) if c.source == owner and c.part == "logp")
            kept[slot] = "statement"
        else:
            kept[i] = grain
    return Site(site.name, site.estimator, site.reason, tuple(sorted(kept.items())), site.span)


def _granular(influence, costs, rao_blackwell):
    if rao_blackwell == "none":
        return tuple((i, "statement") for i in range(len(costs)))
    if rao_blackwell == "statement":
        return tuple((i, "statement") for i, _ in influence)
    return tuple((i, GRANULARITY[d]) for i, d in influence)


def _choices(module, estimator) -> dict:
    samples = [s.name for s in module.body if isinstance(s, ir.Sample)]
    if not isinstance(estimator, dict):
        return {name: one_of("estimator", estimator, ESTIMATORS) for name in samples}
    for name, how in estimator.items():
        if name not in samples:
            raise SemanticError(f"no latent named '{name}' to set an estimator for",
                                hint=f"latents: {', '.join(samples) or 'none'}")
        one_of(f"estimator for '{name}'", how, ESTIMATORS)
    return dict(estimator)


def _estimator(stmt, module, wanted, deps, influence, claimed):
    cls = stmt.family
    if cls.discrete and cls.guide_arg is None and module.mode == "vi":
        why_not = _not_enumerable(stmt, module, deps, influence, claimed)
        if why_not is not None or wanted not in ("auto", "enumerate"):
            hint = ("use it elementwise, as mu[s] or where(t < s, a, b), outside loops (a loop's terms count as "
                    "one), so that it can be summed out; or draw it from a Categorical, whose guide can be "
                    "learned") if why_not else \
                f"it cannot take the {wanted} estimator: leave it to the default, which sums it out"
            raise SemanticError(f"{cls.__name__} has no argument a guide could learn, so '{stmt.name}' must be "
                                f"summed out{': but ' + why_not if why_not else ''}", stmt.span, hint=hint)
        return "enumerate", "no learnable guide: summed out exactly"
    if cls.discrete:
        if wanted == "pathwise":
            raise SemanticError(f"'{stmt.name}' is discrete and has no pathwise form", stmt.span,
                                hint="use the score-function estimator or enumeration")
        if wanted in ("auto", "enumerate", "expect"):
            why_not = _not_enumerable(stmt, module, deps, influence, claimed)
            if why_not is None and wanted == "expect":
                return "expect", "finite support: exact expectation over its values"
            if why_not is None:
                return "enumerate", "finite support, elementwise influence: summed out exactly"
            if wanted != "auto":
                raise SemanticError(f"'{stmt.name}' cannot be enumerated: {why_not}", stmt.span,
                                    hint="use the score-function estimator")
            return "score", f"discrete; not enumerated: {why_not}"
        return "score", "score function requested"
    if wanted in ("enumerate", "expect"):
        raise SemanticError(f"'{stmt.name}' is continuous and cannot be enumerated", stmt.span)
    pathwise = module.mode == "vi" or cls.reparameterized
    if wanted == "score":
        return "score", "score function requested"
    if pathwise:
        return "pathwise", "reparameterized guide" if module.mode == "vi" else f"{cls.__name__} defines a transform"
    if wanted == "pathwise":
        raise SemanticError(f"{cls.__name__} defines no pathwise transform", stmt.span,
                            hint="use the score-function estimator")
    return "score", f"{cls.__name__} defines no pathwise transform"


def _not_enumerable(stmt, module, deps, influence, claimed):
    """Why `stmt` cannot be summed out element by element, or None if it can."""
    cls = stmt.family
    if getattr(cls, "enumerate_support", None) is None:
        return f"{cls.__name__} has no finite support to enumerate"
    if any(d == WHOLE for _, d in influence):
        return "a cost it influences mixes its elements"
    shared = [claimed[i] for i, _ in influence if i in claimed]
    if shared:
        return f"it shares a cost with the enumerated '{shared[0]}'"
    later = [s for s in module.body if isinstance(s, ir.Sample) and s.name in deps and s.name != stmt.name]
    if module.mode == "optimize" and later:
        return f"the draw of '{later[0].name}' depends on it"
    return None


def _cost_dependence(cost, module, deps, known):
    if cost.part == "term":
        return dependence(cost.inner if cost.inner is not None else cost.expr, deps, known)
    if cost.part == "factor":
        if isinstance(cost.expr, ir.Loop):
            return loop_dependence(cost.expr, deps, known)
        return dependence(cost.expr, deps, known)
    stmt = next(s for s in module.body if getattr(s, "name", None) == cost.source and not isinstance(s, ir.Let))
    if cost.part == "logq":
        return deps.get(stmt.name, NONE)
    return log_density_dependence(stmt, deps, known)


def _costs(module):
    """The loss's additive terms, in the order the program computes them."""
    if module.mode == "prior":
        return
    if module.mode == "optimize":
        for stmt in module.body:
            if isinstance(stmt, ir.Objective):
                for sign, expr in stmt.terms:
                    inner, reduce = _reduction(expr)
                    yield Cost(f"{'-' if sign < 0 else ''}{_short(expr)}", "", "term", expr, inner, reduce, expr.span)
        return
    for stmt in module.body:
        if isinstance(stmt, ir.Sample):
            yield Cost(f"-log p({stmt.name})", stmt.name, "logp", span=stmt.span)
            yield Cost(f"log q({stmt.name})", stmt.name, "logq", span=stmt.span)
        elif isinstance(stmt, ir.Observe):
            yield Cost(f"-log p({stmt.name})", stmt.name, "logp", span=stmt.span)
        elif isinstance(stmt, ir.Factor):
            yield Cost(f"-[{_short(stmt.label, 32)}]", "", "factor", stmt.expr, span=stmt.span)
        elif isinstance(stmt, ir.Loop) and any(isinstance(s, ir.Factor) for s in flat(stmt.body)):
            yield Cost(f"-[for {stmt.var} in {stmt.start}:{stmt.stop}]", "", "factor", stmt, span=stmt.span)


def _reduction(expr):
    """(E, "sum"|"mean") for a term sum(E) or mean(E); (None, None) otherwise."""
    if isinstance(expr, ast.Call) and expr.func in ("sum", "mean") and len(expr.args) == 1:
        return expr.args[0], expr.func
    return None, None


def _short(expr, width=24):
    text = str(expr)
    return text if len(text) <= width else text[:width - 3] + "..."
