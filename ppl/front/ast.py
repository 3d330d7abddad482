"""The syntax tree: frozen dataclasses, each carrying its source span.

Every node prints back as source text, so a pass's output can be read and compared as text.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import Span

NOSPAN = Span(0, 0, 0, 0)


@dataclass(frozen=True)
class Node:
    span: Span = field(default=NOSPAN, compare=False, repr=False, kw_only=True)


# -- expressions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Num(Node):
    value: int | float

    def __str__(self):
        return repr(self.value)


@dataclass(frozen=True)
class Name(Node):
    id: str

    def __str__(self):
        return self.id


@dataclass(frozen=True)
class Array(Node):
    items: tuple

    def __str__(self):
        return "[" + ", ".join(map(str, self.items)) + "]"


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node

    def __str__(self):
        return f"-{_wrap(self.operand, 3)}"


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def __str__(self):
        p = _PRECEDENCE[self.op]
        left_needs, right_needs = (p + 1, p) if self.op == "^" else (p + 1, p + 1) if p == 0 else (p, p + 1)
        return f"{_wrap(self.left, left_needs)} {self.op} {_wrap(self.right, right_needs)}"


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple = ()
    kwargs: tuple = ()  # ((name, expr), ...) in source order

    def __str__(self):
        parts = [str(a) for a in self.args] + [f"{k}={v}" for k, v in self.kwargs]
        return f"{self.func}({', '.join(parts)})"


@dataclass(frozen=True)
class Method(Node):
    """`Normal(mu, s).log_prob(x)`: a distribution's log-density (or log-cdf, log-ccdf) at a value,
    elementwise; `truncate` is the (lower, upper) of a truncated distribution (`~ ... T[a, b]`)."""
    dist: Call
    method: str
    args: tuple = ()
    truncate: tuple | None = None

    def __str__(self):
        return f"{self.dist}{_truncation(self.truncate)}.{self.method}({', '.join(map(str, self.args))})"


@dataclass(frozen=True)
class Update(Node):
    """`s[i] = e` as a value: s with the elements at i replaced by e."""
    target: Name
    indices: tuple
    value: Node

    def __str__(self):
        return f"{self.target} with [{', '.join(map(str, self.indices))}] = {self.value}"


@dataclass(frozen=True)
class Slice(Node):
    start: Node | None
    stop: Node | None

    def __str__(self):
        return f"{self.start or ''}:{self.stop or ''}"


@dataclass(frozen=True)
class Index(Node):
    target: Node
    indices: tuple

    def __str__(self):
        return f"{_wrap(self.target, 5)}[{', '.join(map(str, self.indices))}]"


def children(expr: Node) -> tuple:
    """The direct subexpressions of an expression."""
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Call):
        return expr.args + tuple(v for _, v in expr.kwargs)
    if isinstance(expr, Index):
        return (expr.target,) + expr.indices
    if isinstance(expr, Slice):
        return tuple(e for e in (expr.start, expr.stop) if e is not None)
    if isinstance(expr, Array):
        return expr.items
    if isinstance(expr, Method):
        return children(expr.dist) + expr.args + tuple(b for b in expr.truncate or () if b is not None)
    if isinstance(expr, Update):
        return (expr.target,) + expr.indices + (expr.value,)
    return ()


def names(expr: Node) -> Iterator[Name]:
    """Every `Name` node in an expression, in order."""
    if isinstance(expr, Name):
        yield expr
    for child in children(expr):
        yield from names(child)


COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "^": 4, **{op: 0 for op in COMPARISONS}}


def _wrap(e, needed):
    """`e` as text, in parentheses when it binds more loosely than `needed`."""
    own = _PRECEDENCE[e.op] if isinstance(e, Binary) else 3 if isinstance(e, Unary) else 5
    return f"({e})" if own < needed else str(e)


# -- types and statements -----------------------------------------------------------------

@dataclass(frozen=True)
class Type(Node):
    base: str                 # int, real, positive, unit, simplex
    bounds: tuple = ()        # ((name, expr), ...)
    shape: tuple = ()         # (expr, ...)

    def __str__(self):
        b = "<" + ", ".join(f"{k}={v}" for k, v in self.bounds) + ">" if self.bounds else ""
        s = "[" + ", ".join(map(str, self.shape)) + "]" if self.shape else ""
        return f"{self.base}{b}{s}"


@dataclass(frozen=True)
class DataDecl(Node):
    name: str
    type: Type
    default: Node | None = None

    def __str__(self):
        return f"data {self.name}: {self.type}" + (f" = {self.default}" if self.default else "")


@dataclass(frozen=True)
class ParamDecl(Node):
    name: str
    type: Type
    init: Node | None = None

    def __str__(self):
        return f"param {self.name}: {self.type}" + (f" = {self.init}" if self.init else "")


@dataclass(frozen=True)
class LatentDecl(Node):
    """`beta: real[K]`: a latent with a flat (improper) prior on its type's support."""
    name: str
    type: Type

    def __str__(self):
        return f"{self.name}: {self.type}"


def _at(name, indices):
    return f"{name}[{', '.join(map(str, indices))}]" if indices else name


def _truncation(bounds):
    return "" if bounds is None else f" T[{bounds[0] or ''}, {bounds[1] or ''}]"


@dataclass(frozen=True)
class SampleStmt(Node):
    name: str
    type: Type | None
    dist: Call
    indices: tuple = ()          # y[t] ~ ...: the elements the statement is about
    truncate: tuple | None = None   # (lower or None, upper or None) of T[lower, upper]

    def __str__(self):
        return f"{_at(self.name, self.indices)}{f': {self.type}' if self.type else ''} ~ {self.dist}" \
               f"{_truncation(self.truncate)}"


@dataclass(frozen=True)
class Assign(Node):
    name: str
    expr: Node
    indices: tuple = ()          # s[t] = e: a new value of s with those elements replaced

    def __str__(self):
        return f"{_at(self.name, self.indices)} = {self.expr}"


@dataclass(frozen=True)
class Increment(Node):
    """`x += e` (x = x + e), or `target += e`: e, summed, joins the log-density."""
    name: str
    expr: Node

    def __str__(self):
        return f"{self.name} += {self.expr}"


@dataclass(frozen=True)
class Loop(Node):
    """`for var in start:stop { body }`, var taking start, ..., stop - 1."""
    var: str
    start: Node
    stop: Node
    body: tuple

    def __str__(self):
        inner = "".join(f"\n  {line}" for stmt in self.body for line in str(stmt).splitlines())
        return f"for {self.var} in {self.start}:{self.stop} {{{inner}\n}}"


@dataclass(frozen=True)
class ObjectiveStmt(Node):
    sense: str  # minimize | maximize
    expr: Node

    def __str__(self):
        return f"{self.sense} {self.expr}"


@dataclass(frozen=True)
class Program(Node):
    stmts: tuple

    def __str__(self):
        return "\n".join(map(str, self.stmts))
