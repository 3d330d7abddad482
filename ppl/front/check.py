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
LATENT_TYPES = ("real", "positive", "unit", "simplex", "ordered", "positive_ordered")
VECTOR_TYPES = ("simplex", "ordered", "positive_ordered")
BOUND_NAMES = ("lower", "upper")
METHODS = ("log_prob", "log_cdf", "log_ccdf")
TARGET = "target"

# what a `~` statement does, by what its name already is (`Checked.roles`)
NEW, OBSERVE, SCORE = "new", "observe", "score"


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str        # data | param | latent | deterministic | loop
    integer: bool    # integer-valued (usable as an index)
    span: object
    flat: bool = False   # a latent declared without a distribution (`beta: real[K]`)

    def __str__(self):
        return f"{self.name}: {self.kind}{' int' if self.integer else ''} (line {self.span.line})"


@dataclass(frozen=True)
class Checked:
    """A program that passed the checks, with its symbol table, fitting mode, and what each
    `~` statement does (`roles`: id of the statement -> NEW, OBSERVE or SCORE)."""
    program: ast.Program
    symbols: dict
    mode: str        # vi | optimize | mle | prior
    roles: dict = None

    def __str__(self):
        return "\n".join([f"# mode: {self.mode}", *map(str, self.symbols.values())])


@dataclass
class _State:
    symbols: dict
    later: dict
    roles: dict
    objective: object = None
    observed: list = None      # statements that observe data or add a log-density term


def check(program: ast.Program) -> Checked:
    """Check a syntax tree; raise `SemanticError` at the first problem."""
    st = _State({}, dict(_defined(program.stmts)), {}, observed=[])
    for stmt in program.stmts:
        _statement(stmt, st, None)
    objective, observed, symbols = st.objective, st.observed, st.symbols
    if objective is not None and observed:
        first = observed[0]
        hint = f"remove the objective on line {objective.span.line} to fit the model to its data, or this statement"
        if isinstance(first, ast.SampleStmt) and st.roles[id(first)] == OBSERVE:
            hint = (f"remove the objective on line {objective.span.line} to fit the model to its data, or the "
                    f"declaration 'data {first.name}' on line {symbols[first.name].span.line} to make "
                    f"'{first.name}' a latent")
            what = "observe data"
        else:
            what = "add a log-density term"
        raise SemanticError(f"a program with an objective cannot also {what}", first.span, hint=hint)
    latents = [s for s in symbols.values() if s.kind == "latent"]
    mode = "optimize" if objective else "vi" if observed and latents else "mle" if observed else "prior"
    flat = next((s for s in latents if s.flat), None)
    if flat is not None and mode != "vi":
        raise SemanticError(f"'{flat.name}' has no distribution (a flat prior), which only a model fitted to data "
                            "can have", flat.span, hint=f"give it one, as {flat.name} ~ Normal(0, 10), or observe data")
    return Checked(program, symbols, mode, st.roles)


def _defined(stmts):
    """(name, statement) for every name a statement defines, loops' bodies included."""
    for stmt in stmts:
        if isinstance(stmt, ast.Loop):
            yield from _defined(stmt.body)
        elif hasattr(stmt, "name"):
            yield stmt.name, stmt


def _statement(stmt, st, loop):
    """Check one statement; `loop` is the innermost loop around it, if any."""
    symbols, later = st.symbols, st.later
    if loop is not None and isinstance(stmt, (ast.DataDecl, ast.ParamDecl, ast.LatentDecl, ast.ObjectiveStmt)):
        raise SemanticError("declarations and objectives go outside loops", stmt.span,
                            hint=f"move this line above the loop on line {loop.span.line}")
    if isinstance(stmt, ast.ObjectiveStmt):
        if st.objective is not None:
            raise SemanticError(f"a second objective; the first is on line {st.objective.span.line}",
                                stmt.span, hint="a program has at most one minimize or maximize")
        st.objective = stmt
        _expr(stmt.expr, symbols, later)
    elif isinstance(stmt, ast.Loop):
        _loop(stmt, st)
    elif isinstance(stmt, ast.Increment):
        _increment(stmt, st)
    elif isinstance(stmt, ast.SampleStmt) and (stmt.name in symbols or stmt.indices or loop is not None):
        _tilde_on_value(stmt, st, loop)
    elif isinstance(stmt, ast.Assign) and (stmt.indices or (loop is not None and stmt.name in symbols)):
        _update(stmt, st)
    else:
        _no_duplicate(stmt, symbols)
        if isinstance(stmt, ast.SampleStmt):
            st.roles[id(stmt)] = NEW
        symbols[stmt.name] = _declare(stmt, symbols, later)


def _loop(stmt, st):
    _no_duplicate(stmt, st.symbols, stmt.var)
    for bound in (stmt.start, stmt.stop):
        if not _static(bound, st.symbols, st.later, "a loop bound"):
            raise SemanticError("a loop bound must be an integer", bound.span, hint="use int data or a number")
    outer = st.symbols
    st.symbols = dict(outer)          # names defined in the body are the body's own
    st.symbols[stmt.var] = Symbol(stmt.var, "loop", True, stmt.span)
    try:
        for inner in stmt.body:
            _statement(inner, st, stmt)
    finally:
        st.symbols = outer


def _increment(stmt, st):
    _expr(stmt.expr, st.symbols, st.later)
    if stmt.name == TARGET:
        st.observed.append(stmt)
        return
    sym = st.symbols.get(stmt.name)
    if sym is None or sym.kind != "deterministic":
        what = "is not defined" if sym is None else f"is a {sym.kind}"
        raise SemanticError(f"'{stmt.name}' {what}; += updates a value defined with =", stmt.span,
                            hint=f"define it first, as {stmt.name} = 0, or write target += ... for a log-density term")


def _update(stmt, st):
    """`s[i] = e` (anywhere) or `s = e` inside a loop: a new value of a deterministic `s`."""
    sym = st.symbols.get(stmt.name)
    if sym is None:
        raise SemanticError(f"'{stmt.name}' is not defined; {stmt.name}[...] = ... replaces elements of a value "
                            "defined before", stmt.span, hint=f"define it first, as {stmt.name} = zeros(N)")
    if sym.kind != "deterministic":
        what = "data" if sym.kind == "data" else f"a {sym.kind}"
        raise SemanticError(f"'{stmt.name}' is {what}, which cannot be assigned to", stmt.span,
                            hint="assign to a value defined with =, such as a copy: s = 1 * x")
    for idx in stmt.indices:
        _index(idx, st.symbols, st.later)
    _expr(stmt.expr, st.symbols, st.later)


def _tilde_on_value(stmt, st, loop):
    """`y ~ D` on a name already defined: an observation of data, else a log-density term."""
    sym = st.symbols.get(stmt.name)
    if sym is None:
        where = "inside a loop (which draws no new latents)" if loop is not None else f"on {stmt.name}[...]"
        raise SemanticError(f"'{stmt.name}' is not defined; a ~ statement {where} gives a density to a value "
                            "defined before", stmt.span,
                            hint=f"declare it above: data {stmt.name}: real[N] for data, {stmt.name}: real[N] for a "
                                 "latent")
    if sym.kind == "latent" and not sym.flat:
        raise SemanticError(f"'{stmt.name}' is already drawn from a distribution on line {sym.span.line}",
                            stmt.span, hint=f"to add another density term, write target += D.log_prob({stmt.name}); "
                                            "or declare it without one: "
                                            f"{stmt.name}: real, then give it densities with ~")
    if sym.kind == "loop":
        raise SemanticError(f"'{stmt.name}' is a loop variable", stmt.span, hint="give a density to a value")
    if stmt.type is not None:
        raise SemanticError(f"'{stmt.name}' is already defined on line {sym.span.line}; its type comes from there",
                            stmt.type.span, hint="remove the annotation")
    for idx in stmt.indices:
        _index(idx, st.symbols, st.later)
    _distribution(stmt.dist, st.symbols, st.later)
    _truncation(stmt, st.symbols, st.later)
    whole_data = sym.kind == "data" and not stmt.indices and loop is None
    st.roles[id(stmt)] = OBSERVE if whole_data else SCORE
    st.observed.append(stmt)


def _truncation(stmt, symbols, later):
    if stmt.truncate is None:
        return
    cls = DISTRIBUTIONS[stmt.dist.func]
    if cls.discrete or cls.event_dim or getattr(cls, "log_cdf", None) is None:
        why = "is discrete" if cls.discrete else "draws vectors" if cls.event_dim else "has no cdf here"
        raise SemanticError(f"{cls.__name__} {why}, so it cannot be truncated", stmt.span,
                            hint="truncate a continuous family with a cdf: " + ", ".join(
                                sorted(n for n, c in DISTRIBUTIONS.items() if getattr(c, "log_cdf", None)
                                       and not c.discrete and not c.event_dim)))
    if all(b is None for b in stmt.truncate):
        raise SemanticError("T[,] truncates nothing", stmt.span, hint="give a lower bound, an upper bound or both")
    for bound in stmt.truncate:
        if bound is not None:
            _expr(bound, symbols, later)


def _no_duplicate(stmt, symbols, name=None):
    name = name or stmt.name
    if name in symbols:
        first = symbols[name]
        raise SemanticError(f"'{name}' is already defined (as {first.kind}) on line {first.span.line}",
                            stmt.span, hint="give it another name")
    if name in FUNCTIONS or name in CONSTANTS or name in DISTRIBUTIONS:
        raise SemanticError(f"'{name}' is a built-in name", stmt.span, hint="give it another name")
    if name == TARGET:
        raise SemanticError("'target' is reserved", stmt.span,
                            hint="target += e adds e to the log-density; give the value another name")


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
    if isinstance(stmt, ast.LatentDecl):
        if stmt.type.base == "int":
            raise SemanticError("a discrete latent needs a distribution", stmt.span,
                                hint=f"write {stmt.name}: {stmt.type} ~ Categorical(...), or another family")
        _latent_type(stmt.type, symbols, later)
        return Symbol(stmt.name, "latent", False, stmt.span, flat=True)
    if isinstance(stmt, ast.SampleStmt):
        cls = _distribution(stmt.dist, symbols, later)
        _truncation(stmt, symbols, later)
        if stmt.type is not None:
            _sample_type(stmt, cls, symbols, later)
        return Symbol(stmt.name, "latent", cls.discrete, stmt.span)
    if isinstance(stmt.expr, ast.Call) and stmt.expr.func in DISTRIBUTIONS:
        raise SemanticError(f"'{stmt.expr.func}' is a distribution, not a function", _name_span(stmt.expr),
                            hint=f"to draw '{stmt.name}' from it, write {stmt.name} ~ {stmt.expr}")
    integer = _expr(stmt.expr, symbols, later)
    return Symbol(stmt.name, "deterministic", integer, stmt.span)


def _latent_type(t, symbols, later):
    _type(t, LATENT_TYPES + ("int",), "a latent", symbols, later)
    if t.base in VECTOR_TYPES and not t.shape:
        raise SemanticError(f"{t.base} needs a size", t.span, hint=f"write {t.base}[K]")


def _sample_type(stmt, cls, symbols, later):
    """The annotation of a new latent: its shape, and a support the family's own is restricted to."""
    t = stmt.type
    _latent_type(t, symbols, later)
    want = "int" if cls.discrete else "real"
    restricted = t.bounds or t.base not in ("int", "real")
    if not restricted and t.base != want:
        raise SemanticError(f"{cls.__name__} draws {'integers' if cls.discrete else 'reals'}, "
                            f"but '{stmt.name}' is declared {t.base}", t.span, hint=f"declare it as {want}")
    if restricted and (cls.discrete or cls.event_dim):
        raise SemanticError(f"'{stmt.name}' is declared {t.base}{'<...>' if t.bounds else ''}, which restricts a "
                            f"univariate continuous distribution, but {cls.__name__} "
                            f"{'is discrete' if cls.discrete else 'draws vectors'}", t.span,
                            hint=f"declare it as {want}")
def _type(t, allowed, what, symbols, later, bounds=True):
    if t.base not in allowed:
        raise SemanticError(f"'{t.base}' is not a type for {what}", t.span,
                            hint=did_you_mean(t.base, allowed) or f"use one of: {', '.join(allowed)}")
    for name, expr in t.bounds:
        if not bounds or name not in BOUND_NAMES or t.base not in ("int", "real") or (what == "a latent" and t.base == "int"):
            raise SemanticError(f"bound '{name}' is not allowed here", expr.span,
                                hint="bounds are <lower=...>, <upper=...> on int and real data, and on real params "
                                     "and latents")
        if what == "a latent":       # a latent's bounds may depend on other latents
            _expr(expr, symbols, later)
        else:
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
    if isinstance(expr, ast.Method):
        return _method(expr, symbols, later)
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
    if isinstance(expr, ast.Binary) and expr.op in ast.COMPARISONS:
        return True
    if isinstance(expr, ast.Binary) and expr.op in ("/", "^", "@"):
        return False
    return all(kinds)


def _method(expr, symbols, later):
    cls = _distribution(expr.dist, symbols, later)
    if expr.method not in METHODS:
        raise SemanticError(f"a distribution has no method '{expr.method}'", expr.span,
                            hint=did_you_mean(expr.method, METHODS) or f"the methods are {', '.join(METHODS)}")
    if expr.method != "log_prob" and getattr(cls, "log_cdf", None) is None:
        raise SemanticError(f"{cls.__name__} has no cdf here, so no {expr.method}", expr.span,
                            hint="use log_prob, or a family with a cdf")
    if len(expr.args) != 1:
        raise SemanticError(f"{expr.method} takes 1 argument, the value, got {len(expr.args)}", expr.span,
                            hint=f"write {expr.dist}.{expr.method}(x)")
    _expr(expr.args[0], symbols, later)
    return False


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
    for key, value in call.kwargs:
        if key != "axis" or not fn.axis:
            raise SemanticError(f"{call.func} takes no named argument '{key}'", call.span,
                                hint=f"pass its arguments by position: {call.func}(...)" if not fn.axis
                                else f"the one named argument of {call.func} is axis=k")
        if not isinstance(value, ast.Num) or not isinstance(value.value, int):
            raise SemanticError("axis must be a whole number, such as axis=0", value.span)
    low, high = fn.arity
    if not low <= len(call.args) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        extra = len(call.args) - high
        raise SemanticError(f"{call.func} takes {want} argument{'s' * (high != 1)}, got {len(call.args)}",
                            call.span, hint=f"remove the extra argument{'s' * (extra != 1)}" if extra > 0
                            else f"add the missing argument{'s' * (low - len(call.args) != 1)}")
    if fn.static:
        for arg in call.args:
            if not _static(arg, symbols, later, f"an argument of {call.func}") and fn.kind == "make":
                raise SemanticError("a size must be an integer", arg.span)
        return fn.integer
    kinds = [_expr(a, symbols, later) for a in call.args]
    return fn.integer and all(kinds)
