"""Pass 3, lower: a checked syntax tree to the intermediate form (`ir.Module`)."""
from __future__ import annotations

from ..front import ast
from . import ir
from ..front.check import Checked, signature_of
from ..distributions import DISTRIBUTIONS
from .ir import Size


def lower(checked: Checked) -> ir.Module:
    """Turn declarations into `Decl`s, samples into `Sample`/`Observe` with named arguments,
    assignments into `Let`s, and split the objective into its additive terms. Sizes computed
    from data become `Size`s, which check the declared shape when it is evaluated."""
    decls, body = [], []
    for stmt in checked.program.stmts:
        if isinstance(stmt, (ast.DataDecl, ast.ParamDecl)):
            kind = "data" if isinstance(stmt, ast.DataDecl) else "param"
            value = stmt.default if kind == "data" else stmt.init
            decls.append(ir.Decl(kind, stmt.name, stmt.type.base, stmt.type.bounds, _sizes(stmt.type, stmt.name),
                                 value, span=stmt.span))
        elif isinstance(stmt, ast.SampleStmt):
            body.append(_sample(stmt, checked.symbols[stmt.name].kind == "data"))
        elif isinstance(stmt, ast.Assign):
            body.append(ir.Let(stmt.name, stmt.expr, span=stmt.span))
        else:
            body.append(ir.Objective(stmt.sense, tuple(_terms(stmt.expr, 1)), span=stmt.span))
    return ir.Module(tuple(decls), tuple(body), checked.mode)


def _sample(stmt, observed):
    call = stmt.dist
    names = signature_of(DISTRIBUTIONS[call.func], call)
    given = dict(zip(names, call.args)) if call.args else dict(call.kwargs)
    args = tuple((n, given[n]) for n in names)
    if observed:
        return ir.Observe(stmt.name, call.func, args, span=stmt.span)
    shape = _sizes(stmt.type, stmt.name) if stmt.type is not None else None
    return ir.Sample(stmt.name, call.func, args, shape, span=stmt.span)


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
