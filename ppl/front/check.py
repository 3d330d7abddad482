"""Pass 2, check: names, kinds, distribution arguments, function arity, one objective at most."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import ast
from ..distributions import DISTRIBUTIONS
from .errors import SemanticError, Span, brief, did_you_mean
from .functions import CONSTANTS, FUNCTIONS, MAX_ELEMENTS

if TYPE_CHECKING:
    from ..distributions import Distribution

DATA_TYPES = ("int", "real")
PARAM_TYPES = ("real", "positive", "unit", "simplex")
BOUND_NAMES = ("lower", "upper")


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str        # data | param | latent | deterministic
    integer: bool    # integer-valued (usable as an index)
    span: object

    def __str__(self):
        return f"{self.name}: {self.kind}{' int' if self.integer else ''} (line {self.span.line})"


@dataclass(frozen=True)
class Checked:
    """A program that passed the checks, with its symbol table and fitting mode."""
    program: ast.Program
    symbols: dict
    mode: str        # vi | optimize | mle | prior

    def __str__(self):
        return "\n".join([f"# mode: {self.mode}", *map(str, self.symbols.values())])


def check(program: ast.Program) -> Checked:
    """Check a syntax tree; raise `SemanticError` at the first problem."""
    symbols: dict[str, Symbol] = {}
    later = {s.name: s for s in program.stmts if hasattr(s, "name")}
    objective = None
    observed = []
    for stmt in program.stmts:
        if isinstance(stmt, ast.ObjectiveStmt):
            if objective is not None:
                raise SemanticError(f"a second objective; the first is on line {objective.span.line}",
                                    stmt.span, hint="a program has at most one minimize or maximize")
            objective = stmt
            _expr(stmt.expr, symbols, later)
            continue
        if isinstance(stmt, ast.SampleStmt) and stmt.name in symbols and symbols[stmt.name].kind == "data":
            _observe(stmt, symbols, later)
            observed.append(stmt)
            continue
        _no_duplicate(stmt, symbols)
        symbols[stmt.name] = _declare(stmt, symbols, later)
    if objective is not None and observed:
        name = observed[0].name
        raise SemanticError("a program with an objective cannot also observe data", observed[0].span,
                            hint=f"remove the objective on line {objective.span.line} to fit the model to its "
                                 f"data, or the declaration 'data {name}' on line {symbols[name].span.line} "
                                 f"to make '{name}' a latent")
    latents = any(s.kind == "latent" for s in symbols.values())
    mode = "optimize" if objective else "vi" if observed and latents else "mle" if observed else "prior"
    return Checked(program, symbols, mode)


def _no_duplicate(stmt, symbols):
    if stmt.name in symbols:
        first = symbols[stmt.name]
        raise SemanticError(f"'{stmt.name}' is already defined (as {first.kind}) on line {first.span.line}",
                            stmt.span, hint="give it another name")
    if stmt.name in FUNCTIONS or stmt.name in CONSTANTS or stmt.name in DISTRIBUTIONS:
        raise SemanticError(f"'{stmt.name}' is a built-in name", stmt.span, hint="give it another name")


def _declare(stmt, symbols, later) -> Symbol:
    if isinstance(stmt, ast.DataDecl):
        _type(stmt.type, DATA_TYPES, "data", symbols, later)
        if stmt.default is not None:
            _static(stmt.default, symbols, later, "a data default")
        return Symbol(stmt.name, "data", stmt.type.base == "int", stmt.span)
    if isinstance(stmt, ast.ParamDecl):
        _type(stmt.type, PARAM_TYPES, "param", symbols, later)
        if stmt.init is not None:
            _static(stmt.init, symbols, later, "an initial value")
        return Symbol(stmt.name, "param", False, stmt.span)
    if isinstance(stmt, ast.SampleStmt):
        cls = _distribution(stmt.dist, symbols, later)
        if stmt.type is not None:
            _type(stmt.type, DATA_TYPES, "latent", symbols, later, bounds=False)
            want = "int" if cls.discrete else "real"
            if stmt.type.base != want:
                raise SemanticError(f"{cls.__name__} draws {'integers' if cls.discrete else 'reals'}, "
                                    f"but '{stmt.name}' is declared {stmt.type.base}", stmt.type.span,
                                    hint=f"declare it as {want}")
        return Symbol(stmt.name, "latent", cls.discrete, stmt.span)
    if isinstance(stmt.expr, ast.Call) and stmt.expr.func in DISTRIBUTIONS:
        raise SemanticError(f"'{stmt.expr.func}' is a distribution, not a function", _name_span(stmt.expr),
                            hint=f"to draw '{stmt.name}' from it, write {stmt.name} ~ {stmt.expr}")
    integer = _expr(stmt.expr, symbols, later)
    return Symbol(stmt.name, "deterministic", integer, stmt.span)


def _observe(stmt, symbols, later):
    if stmt.type is not None:
        raise SemanticError(f"'{stmt.name}' is data; its type comes from its declaration on line "
                            f"{symbols[stmt.name].span.line}", stmt.type.span, hint="remove the annotation")
    _distribution(stmt.dist, symbols, later)


def _type(t, allowed, what, symbols, later, bounds=True):
    if t.base not in allowed:
        raise SemanticError(f"'{t.base}' is not a type for {what}", t.span,
                            hint=did_you_mean(t.base, allowed) or f"use one of: {', '.join(allowed)}")
    for name, expr in t.bounds:
        if not bounds or name not in BOUND_NAMES or t.base not in ("int", "real"):
            raise SemanticError(f"bound '{name}' is not allowed here", expr.span,
                                hint="bounds are <lower=...>, <upper=...> on int and real data and real params")
        _static(expr, symbols, later, "a bound")
    for dim in t.shape:
        if not _static(dim, symbols, later, "a size"):
            raise SemanticError("a size must be an integer", dim.span, hint="use an int data value or a number")
    if t.base == "simplex" and (not t.shape or t.shape[-1] == ast.Num(0)):
        raise SemanticError("a simplex needs a size of at least 1", t.span,
                            hint="write simplex[K], a vector of K numbers that sum to 1")
    literal = [d.value for d in t.shape if isinstance(d, ast.Num)]
    if literal and math.prod(literal) > MAX_ELEMENTS:   # sizes computed from data: see expr.Size
        first, last = t.shape[0].span, t.shape[-1].span
        raise SemanticError(f"a shape of {math.prod(literal):,} elements; the limit is {MAX_ELEMENTS:,}",
                            Span(first.line, first.col, last.end_line, last.end_col),
                            hint="a value this large would exhaust memory: use smaller sizes")


def _static(expr, symbols, later, what) -> bool:
    """Check an expression that must be known before the fit: data and numbers only."""
    for node in ast.names(expr):
        sym = symbols.get(node.id)
        if sym is not None and sym.kind != "data":
            raise SemanticError(f"{what} can only use data and numbers, but '{node.id}' is a {sym.kind}",
                                node.span)
    return _expr(expr, symbols, later)


def _distribution(call, symbols, later):
    cls = DISTRIBUTIONS.get(call.func)
    if cls is None and call.func in FUNCTIONS:
        raise SemanticError(f"'{call.func}' is a function, not a distribution", _name_span(call),
                            hint="the right of ~ must be a distribution, such as Normal(...); "
                                 f"to use {call.func}(...), write NAME = {call.func}(...)")
    if cls is None:
        raise SemanticError(f"unknown distribution '{call.func}'", _name_span(call),
                            hint=did_you_mean(call.func, DISTRIBUTIONS)
                            or f"the distributions are {', '.join(sorted(DISTRIBUTIONS))}")
    signature_of(cls, call)
    for arg in call.args + tuple(v for _, v in call.kwargs):
        _expr(arg, symbols, later)
    return cls


def signature_of(cls: type[Distribution], call: ast.Call) -> tuple:
    """The argument names of `call` in the distribution's own order; raise if none fits."""
    given = [k for k, _ in call.kwargs]
    for name in given:
        if given.count(name) > 1:
            raise SemanticError(f"argument '{name}' is given twice", call.span)
    usage = " or ".join(f"{cls.__name__}({', '.join(sig)})" for sig in cls.signatures)
    if call.args and given:
        named = " or ".join(f"{cls.__name__}({', '.join(f'{n}=...' for n in sig)})" for sig in cls.signatures)
        raise SemanticError(f"{cls.__name__} takes its arguments all by position or all by name",
                            call.span, hint=f"write {cls.__name__}({', '.join(cls.signatures[0])}) by position, "
                                            f"or {named} by name")
    if call.args:
        sig = cls.signatures[0]
        if len(call.args) != len(sig):
            raise SemanticError(f"{cls.__name__} takes {len(sig)} argument{'s' * (len(sig) != 1)}, "
                                f"got {len(call.args)}", call.span, hint=f"write {usage}")
        return sig
    for sig in cls.signatures:
        if set(sig) == set(given):
            return sig
    known = {n for sig in cls.signatures for n in sig}
    wrong = [n for n in given if n not in known]
    if wrong:
        span = next(getattr(k, "span", v.span) for k, v in call.kwargs if k == wrong[0])
        raise SemanticError(f"{cls.__name__} has no argument '{wrong[0]}'", span,
                            hint=did_you_mean(wrong[0], known) or f"write {usage}")
    raise SemanticError(f"{cls.__name__} cannot take arguments ({', '.join(given) or 'none'})", call.span,
                        hint=f"write {usage}")


def _expr(expr, symbols, later) -> bool:
    """Check an expression; return whether it is integer-valued."""
    if isinstance(expr, ast.Num):
        return isinstance(expr.value, int)
    if isinstance(expr, ast.Name):
        return _name(expr, symbols, later)
    if isinstance(expr, ast.Call):
        return _function(expr, symbols, later)
    if isinstance(expr, ast.Index):
        for idx in expr.indices:
            _index(idx, symbols, later)
        return _expr(expr.target, symbols, later)
    kinds = [_expr(c, symbols, later) for c in ast.children(expr)]
    if isinstance(expr, ast.Binary) and expr.op in ("/", "^", "@"):
        return False
    return all(kinds)


def _index(idx, symbols, later):
    if isinstance(idx, ast.Slice):
        for part in ast.children(idx):
            if not _static(part, symbols, later, "a slice bound"):
                raise SemanticError("a slice bound must be an integer", part.span)
        return
    if not _expr(idx, symbols, later):
        raise SemanticError(f"an index must be an integer, but '{brief(idx)}' is real", idx.span,
                            hint="index with int data, an integer latent or a number")


def _name(expr, symbols, later):
    sym = symbols.get(expr.id)
    if sym is not None:
        return sym.integer
    if expr.id in CONSTANTS:
        return False
    if expr.id in later:
        raise SemanticError(f"'{expr.id}' is used before it is defined on line {later[expr.id].span.line}",
                            expr.span, hint="move its definition above this line")
    hint = did_you_mean(expr.id, list(symbols) + list(CONSTANTS))
    if expr.id in FUNCTIONS:
        hint = f"'{expr.id}' is a function; call it as {expr.id}(...)"
    raise SemanticError(f"unknown name '{expr.id}'", expr.span, hint=hint)


def _name_span(call):
    """The span of a call's function name alone."""
    start = call.span
    return type(start)(start.line, start.col, start.line, start.col + len(call.func))


def _function(call, symbols, later):
    fn = FUNCTIONS.get(call.func)
    if fn is None:
        if call.func in DISTRIBUTIONS:
            raise SemanticError(f"'{call.func}' is a distribution, not a function", _name_span(call),
                                hint=f"a distribution can only appear on the right of ~: write "
                                     f"NAME ~ {call.func}(...) on a line of its own, then use NAME")
        raise SemanticError(f"unknown function '{call.func}'", _name_span(call),
                            hint=did_you_mean(call.func, FUNCTIONS)
                            or f"the functions are {', '.join(sorted(FUNCTIONS))}")
    if call.kwargs:
        raise SemanticError(f"{call.func} takes no named arguments", call.span,
                            hint=f"pass its arguments by position: {call.func}(...)")
    low, high = fn.arity
    if not low <= len(call.args) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        extra = len(call.args) - high
        raise SemanticError(f"{call.func} takes {want} argument{'s' * (high != 1)}, got {len(call.args)}",
                            call.span, hint=f"remove the extra argument{'s' * (extra != 1)}" if extra > 0
                            else f"add the missing argument{'s' * (low - len(call.args) != 1)}")
    if fn.static:
        for arg in call.args:
            if not _static(arg, symbols, later, f"a size given to {call.func}"):
                raise SemanticError("a size must be an integer", arg.span)
        return False
    kinds = [_expr(a, symbols, later) for a in call.args]
    return fn.integer and all(kinds)
