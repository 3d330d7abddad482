"""The intermediate form: declarations plus a straight-line body of Let, Sample, Observe, Objective.

Expressions are the syntax tree's own (frozen) expression nodes. Every node prints as one line.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..distributions import DISTRIBUTIONS
from ..distributions.restricted import BOUNDS, Flat, family_of
from ..front import ast
from ..front.errors import Span
from .options import Mode
from ..front.ast import NOSPAN


@dataclass(frozen=True)
class Stmt:
    span: Span = field(default=NOSPAN, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Decl(Stmt):
    """A `data` or `param` declaration with its resolved type."""
    kind: str                  # data | param
    name: str
    base: str                  # int | real | positive | unit | simplex
    bounds: tuple = ()         # ((lower|upper, expr), ...)
    shape: tuple = ()          # (expr, ...)
    value: object = None       # default (data) or initial value (param) expression, or None

    def __str__(self):
        b = "<" + ", ".join(f"{k}={v}" for k, v in self.bounds) + ">" if self.bounds else ""
        s = "[" + ", ".join(map(str, self.shape)) + "]" if self.shape else ""
        return f"{self.kind} {self.name}: {self.base}{b}{s}" + (f" = {self.value}" if self.value is not None else "")


@dataclass(frozen=True)
class Let(Stmt):
    name: str
    expr: object

    def __str__(self):
        return f"{self.name} = {self.expr}"


def _call(dist, args):
    return f"{dist}({', '.join(f'{k}={v}' for k, v in args)})"


def _family(stmt):
    cls = Flat if stmt.dist == "Flat" else DISTRIBUTIONS[stmt.dist]
    bounds = tuple(k for k, _ in stmt.args if k in BOUNDS)
    return family_of(cls, getattr(stmt, "support", None), stmt.truncate, bounds)


def _suffix(stmt):
    return " truncated" if stmt.truncate else ""


@dataclass(frozen=True)
class Sample(Stmt):
    """A latent draw; `args` are keyword arguments in the distribution's own names (then the
    bounds, `lower` and `upper`, of a declared support or a truncation)."""
    name: str
    dist: str                  # a family's name, or "Flat" (declared without a distribution)
    args: tuple                # ((name, expr), ...)
    shape: tuple | None = None
    support: str | None = None     # the declared type the support is restricted to
    truncate: bool = False

    @property
    def family(self) -> type:
        return _family(self)

    def __str__(self):
        s = "[" + ", ".join(map(str, self.shape)) + "]" if self.shape else ""
        support = f": {self.support}" if self.support else ""
        return f"{self.name}{s}{support} ~ {_call(self.dist, self.args)}{_suffix(self)}"


@dataclass(frozen=True)
class Observe(Stmt):
    name: str
    dist: str
    args: tuple
    truncate: bool = False

    @property
    def family(self) -> type:
        return _family(self)

    def __str__(self):
        return f"observe {self.name} ~ {_call(self.dist, self.args)}{_suffix(self)}"


@dataclass(frozen=True)
class Factor(Stmt):
    """A log-density term (`target += e`, or `~` on a value already defined): e, summed, joins
    the log joint density."""
    label: str                 # the statement as written
    expr: object

    def __str__(self):
        return f"target += {self.expr}"


@dataclass(frozen=True)
class Loop(Stmt):
    """`for var in start:stop { body }`: its body holds Lets (a new value of a name defined before
    the loop, or one of the body's own) and Factors, nested Loops too; no draws."""
    var: str
    start: object
    stop: object
    body: tuple

    def __str__(self):
        inner = "".join(f"\n  {line}" for stmt in self.body for line in str(stmt).splitlines())
        return f"for {self.var} in {self.start}:{self.stop} {{{inner}\n}}"


@dataclass(frozen=True)
class Objective(Stmt):
    """`minimize`/`maximize`; the expression is split into its top-level additive terms."""
    sense: str
    terms: tuple               # ((sign, expr), ...), sign +1 or -1

    def __str__(self):
        parts = [("- " if s < 0 else "+ ") + str(e) for s, e in self.terms]
        return f"{self.sense} " + " ".join(parts).removeprefix("+ ")


@dataclass(frozen=True)
class Module:
    """A lowered program: declarations, body in source order, and the fitting mode."""
    decls: tuple
    body: tuple
    mode: Mode

    def __str__(self):
        return "\n".join([f"# mode: {self.mode}", *map(str, self.decls), *map(str, self.body)])


@dataclass(frozen=True)
class Cell(ast.Node):
    """`s[i]` read inside a loop that assigns s element by element (`back.loops.Cells`): the
    element as last assigned, without indexing into an array. Prints as the indexing it replaces."""
    target: str
    index: object

    def __str__(self):
        return f"{self.target}[{self.index}]"


@dataclass(frozen=True)
class Size(ast.Node):
    """A declared size (the `N` of `real[N]`) as lowered: evaluating it checks that the size is
    not negative and that the declaration's whole shape stays within MAX_ELEMENTS, before any
    array of that shape is made. Prints as the expression it wraps."""
    expr: object
    shape: tuple      # every size of the declaration, as written
    owner: str        # the declared name
    simplex: bool = False   # the last size of a simplex, which needs at least one element

    def __str__(self):
        return str(self.expr)
