"""Which cost terms a stochastic site can influence, and at what granularity.

A value depends on a site `z` not at all, ELEMENT-wise (element i of the value depends on z only
through z_i, with the element axes aligned from the right, as broadcasting aligns them), or WHOLE
(anything else). Elementwise operations and full indexing by z keep ELEMENT; a reduction, a
matrix product, or indexing into z makes it WHOLE. The analysis needs only ranks, which are static.
"""
from __future__ import annotations

from ..front import ast
from . import ir
from ..distributions import DISTRIBUTIONS
from ..front.functions import FUNCTIONS

NONE, ELEMENT, WHOLE = 0, 1, 2
GRANULARITY = {NONE: "none", ELEMENT: "element", WHOLE: "statement"}
ELEMENTWISE_OPS = set("+-*/^") | set(ast.COMPARISONS)


def flat(body: tuple) -> list:
    """The statements of `body` with every loop's own in its place (after the loop itself)."""
    out = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ir.Loop):
            out += flat(stmt.body)
    return out


def ranks(module: ir.Module) -> dict:
    """The number of axes of every named value (a loop variable has none)."""
    out = {d.name: len(d.shape) for d in module.decls}
    for stmt in flat(module.body):
        if isinstance(stmt, ir.Loop):
            out[stmt.var] = 0
        elif isinstance(stmt, ir.Let) and not (isinstance(stmt.expr, ast.Update) and stmt.name in out):
            out[stmt.name] = rank(stmt.expr, out)
        elif isinstance(stmt, ir.Sample):
            out[stmt.name] = sample_rank(stmt, out)
    return out


def sample_rank(stmt: ir.Sample, known: dict[str, int]) -> int:
    if stmt.shape is not None:
        return len(stmt.shape)
    cls = stmt.family
    events = cls.arg_event_dims
    return max([rank(e, known) - events.get(k, 0) for k, e in stmt.args] + [0]) + cls.event_dim


def rank(expr: ast.Node, known: dict[str, int]) -> int:
    if isinstance(expr, ast.Num):
        return 0
    if isinstance(expr, ast.Name):
        return known.get(expr.id, 0)
    if isinstance(expr, ast.Array):
        return 1 + max(rank(i, known) for i in expr.items)
    if isinstance(expr, ast.Unary):
        return rank(expr.operand, known)
    if isinstance(expr, ast.Binary):
        a, b = rank(expr.left, known), rank(expr.right, known)
        if expr.op != "@":
            return max(a, b)
        return max(a, b) if min(a, b) >= 2 else a + b - 2 if a + b >= 2 else 0
    if isinstance(expr, ast.Call):
        fn = FUNCTIONS[expr.func]
        if fn.rank is not None:
            return fn.rank(*(rank(a, known) for a in expr.args))
        if fn.kind == "reduce":
            return max(rank(expr.args[0], known) - 1, 0) if expr.kwargs else 0
        if fn.kind == "make":
            return len(expr.args)
        return max(rank(a, known) for a in expr.args)
    if isinstance(expr, ast.Method):
        event = DISTRIBUTIONS[expr.dist.func].event_dim
        return max([rank(expr.args[0], known) - event] + [rank(a, known) for a in ast.children(expr.dist)] * (not event))
    if isinstance(expr, ast.Update):
        return rank(expr.target, known)
    if isinstance(expr, ast.Index):
        arrays = [rank(i, known) for i in expr.indices if not isinstance(i, (ast.Slice, ast.Num))]
        kept = rank(expr.target, known) - len(expr.indices)
        kept += sum(isinstance(i, ast.Slice) for i in expr.indices)
        return kept + (max(arrays) if arrays else 0)
    return 0


def dependence(expr: ast.Node, deps: dict[str, int], known: dict[str, int]) -> int:
    """How `expr` depends on the site, given the dependence of each name."""
    if isinstance(expr, ast.Name):
        return deps.get(expr.id, NONE)
    if isinstance(expr, ast.Num):
        return NONE
    parts = [dependence(c, deps, known) for c in ast.children(expr)]
    worst = max(parts, default=NONE)
    if worst == NONE:
        return NONE
    if isinstance(expr, ast.Unary):
        return worst
    if isinstance(expr, ast.Binary):
        return worst if expr.op in ELEMENTWISE_OPS else WHOLE
    if isinstance(expr, ast.Call):
        return worst if FUNCTIONS[expr.func].kind == "elementwise" else WHOLE
    if isinstance(expr, ast.Method):
        cls = DISTRIBUTIONS[expr.dist.func]
        return worst if not cls.event_dim and cls.elementwise else WHOLE
    if isinstance(expr, ast.Index):
        full = len(expr.indices) == rank(expr.target, known)
        plain = not any(isinstance(i, ast.Slice) for i in expr.indices)
        return ELEMENT if parts[0] == NONE and worst == ELEMENT and full and plain else WHOLE
    return WHOLE


def value_dependence(stmt: ir.Let | ir.Sample, deps: dict[str, int], known: dict[str, int], mode: str) -> int:
    """How a statement's value depends on the site (a latent's value follows its arguments in
    optimization mode; in inference mode it comes from the guide, unless its support moves)."""
    if isinstance(stmt, ir.Let):
        return dependence(stmt.expr, deps, known)
    cls = stmt.family
    if mode == "optimize" or (not cls.discrete and cls.moving_support):
        return _args_dependence(stmt, deps, known)
    return NONE


def _args_dependence(stmt, deps, known):
    events = stmt.family.arg_event_dims
    out = NONE
    for name, expr in stmt.args:
        d = dependence(expr, deps, known)
        out = max(out, WHOLE if d and events.get(name, 0) else d)
    return out


def site_dependence(module: ir.Module, site: str, known: dict) -> dict:
    """Dependence on `site` of every named value (the site itself: ELEMENT); `known` = ranks(module)."""
    deps = {site: ELEMENT}
    started = False
    for stmt in module.body:
        if isinstance(stmt, ir.Loop) and started:
            _through_loop(stmt, deps, known)
        elif isinstance(stmt, (ir.Let, ir.Sample)):
            if stmt.name == site:
                started = True
                continue
            if started:
                d = value_dependence(stmt, deps, known, module.mode)
                if d:
                    deps[stmt.name] = d
    return deps


def _through_loop(loop, deps, known):
    """A value a loop computes depends on the site wholly if anything it reads does: one
    iteration can read what another wrote, so the body is followed until nothing changes."""
    changed = True
    while changed:
        changed = False
        for stmt in flat(loop.body):
            if isinstance(stmt, ir.Let) and dependence(stmt.expr, deps, known) and deps.get(stmt.name) != WHOLE:
                deps[stmt.name], changed = WHOLE, True


def loop_dependence(loop: ir.Loop, deps: dict[str, int], known: dict[str, int]) -> int:
    """How the log-density terms of a loop depend on the site: wholly, or not at all."""
    inner = dict(deps)
    _through_loop(loop, inner, known)
    terms = [s.expr for s in flat(loop.body) if isinstance(s, ir.Factor)]
    return WHOLE if any(dependence(e, inner, known) for e in terms) else NONE


def log_density_dependence(stmt: ir.Sample | ir.Observe, deps: dict[str, int], known: dict[str, int]) -> int:
    """How log p(value | args) of a Sample or Observe depends on the site."""
    own = deps.get(stmt.name, NONE) if isinstance(stmt, ir.Sample) else NONE
    out = max(own, _args_dependence(stmt, deps, known))
    return out if stmt.family.elementwise or out == NONE else WHOLE
