"""Pass 3, lower: a checked syntax tree to the intermediate form (`ir.Module`)."""
from __future__ import annotations

from ..front import ast
from . import ir
from ..front.check import OBSERVE, SCORE, TARGET, Checked, signature_of
from ..distributions.restricted import BOUNDS
from ..distributions import DISTRIBUTIONS
from .ir import Size


def lower(checked: Checked) -> ir.Module:
    """Turn declarations into `Decl`s, samples into `Sample`/`Observe` with named arguments,
    assignments into `Let`s, log-density terms (`target +=`, `~` on a value already defined) into
    `Factor`s, and split the objective into its additive terms. Sizes computed from data become
    `Size`s, which check the declared shape when it is evaluated."""
    decls, body = [], []
    for stmt in checked.program.stmts:
        if isinstance(stmt, (ast.DataDecl, ast.ParamDecl)):
            kind = "data" if isinstance(stmt, ast.DataDecl) else "param"
            value = stmt.default if kind == "data" else stmt.init
            decls.append(ir.Decl(kind, stmt.name, stmt.type.base, stmt.type.bounds, _sizes(stmt.type, stmt.name),
                                 value, span=stmt.span))
        elif isinstance(stmt, ast.ObjectiveStmt):
            body.append(ir.Objective(stmt.sense, tuple(_terms(stmt.expr, 1)), span=stmt.span))
        else:
            body.append(_statement(stmt, checked.roles))
    return ir.Module(tuple(decls), tuple(body), checked.mode)


def _statement(stmt, roles):
    if isinstance(stmt, ast.LatentDecl):
        t = stmt.type
        support = t.base if t.bounds or t.base != "real" else None
        return ir.Sample(stmt.name, "Flat", tuple(t.bounds), _sizes(t, stmt.name), support, span=stmt.span)
    if isinstance(stmt, ast.SampleStmt):
        return _sample(stmt, roles[id(stmt)])
    if isinstance(stmt, ast.Increment):
        if stmt.name == TARGET:
            return ir.Factor(str(stmt), stmt.expr, span=stmt.span)
        total = ast.Binary("+", ast.Name(stmt.name, span=stmt.span), stmt.expr, span=stmt.span)
        return ir.Let(stmt.name, total, span=stmt.span)
    if isinstance(stmt, ast.Loop):
        return ir.Loop(stmt.var, stmt.start, stmt.stop, tuple(_statement(s, roles) for s in stmt.body),
                       span=stmt.span)
    if stmt.indices:
        update = ast.Update(ast.Name(stmt.name, span=stmt.span), stmt.indices, stmt.expr, span=stmt.span)
        return ir.Let(stmt.name, update, span=stmt.span)
    return ir.Let(stmt.name, stmt.expr, span=stmt.span)


def _sample(stmt, role):
    call = stmt.dist
    names = signature_of(DISTRIBUTIONS[call.func], call)
    given = dict(zip(names, call.args)) if call.args else dict(call.kwargs)
    args = tuple((n, given[n]) for n in names)
    truncate = stmt.truncate is not None
    bounds = tuple((k, e) for k, e in zip(BOUNDS, stmt.truncate) if e is not None) if truncate else ()
    if role == SCORE:
        value = ast.Index(ast.Name(stmt.name, span=stmt.span), stmt.indices, span=stmt.span) if stmt.indices \
            else ast.Name(stmt.name, span=stmt.span)
        density = ast.Method(call, "log_prob", (value,), stmt.truncate, span=stmt.span)
        return ir.Factor(str(stmt), density, span=stmt.span)
    if role == OBSERVE:
        return ir.Observe(stmt.name, call.func, args + bounds, truncate, span=stmt.span)
    t = stmt.type
    shape = _sizes(t, stmt.name) if t is not None else None
    support = t.base if t is not None and (t.bounds or t.base not in ("int", "real")) else None
    if support is not None:
        bounds = tuple(t.bounds)
    return ir.Sample(stmt.name, call.func, args + bounds, shape, support, truncate, span=stmt.span)


def _sizes(type_, name):
    """A literal size is checked with the program (`check`); the others when evaluated."""
    shape, simplex = type_.shape, type_.base == "simplex"
    return tuple(d if isinstance(d, ast.Num) else Size(d, shape, name, simplex, span=d.span) for d in shape)


def _terms(expr, sign):
    """Top-level additive terms: `a - (b + c)` gives (+a, -b, -c)."""
    if isinstance(expr, ast.Binary) and expr.op in "+-":
        yield from _terms(expr.left, sign)
        yield from _terms(expr.right, sign if expr.op == "+" else -sign)
    elif isinstance(expr, ast.Unary):
        yield from _terms(expr.operand, -sign)
    else:
        yield sign, expr
