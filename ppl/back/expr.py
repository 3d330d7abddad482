"""Expressions compiled once into closures over a list of slots.

`compile_expr` returns either a `Const` (folded at build time: numbers, data, and anything
computed from them alone) or a function `env -> value`. Every value has a leading particle
axis of size K or 1; see `functions.py`. Nothing here walks the tree or looks up a name per step.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from ..distributions import DISTRIBUTIONS
from ..distributions.cdf import within_support
from ..distributions.restricted import BOUNDS, truncated
from ..front import ast
from ..front.check import signature_of
from ..kernels import lined
from ..kernels.fused import align
from ..front.errors import DataError, SemanticError, Span, brief
from ..front.functions import CONSTANTS, FUNCTIONS, MAX_ELEMENTS, Refused, TooLarge, check_size
from ..middle.ir import Cell, Size

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..distributions import Distribution
    from ..distributions.base import Value


@dataclass(frozen=True)
class Const:
    value: object


def value(code: Const | Callable[..., Value], env: list | None) -> Value:
    return code.value if isinstance(code, Const) else code(env)


def make_dist(cls: type[Distribution], codes: list, env: list | None, rank: int = 0) -> Distribution:
    """An instance of `cls`; its arguments are aligned on their batch axes (and to `rank`, the
    number of axes of the value it will score), so a particle axis never meets an element axis."""
    args = {name: value(code, env) for name, code in codes}
    events = cls.arg_event_dims
    ranks = {k: onp.ndim(v) - events.get(k, 0) for k, v in args.items()}
    target = max(rank - cls.event_dim, *ranks.values(), 0)
    for k, v in args.items():
        if ranks[k] < target:
            shape = onp.shape(v)
            args[k] = np.reshape(v, shape[:1] + (1,) * (target - ranks[k]) + shape[1:])
    return cls(**args)


def beside(x: Value, dist: Distribution) -> Value:
    """`x` (particles, elements...) with axes inserted after the particles to line up with
    arguments of more axes (an enumeration axis, or a vector of arguments for one value)."""
    events = dist.arg_event_dims
    batch = max([onp.ndim(v) - events.get(k, 0) for k, v in dist.args.items()] + [0]) + dist.event_dim
    extra = batch - onp.ndim(x)
    return np.reshape(x, onp.shape(x)[:1] + (1,) * extra + onp.shape(x)[1:]) if extra > 0 else x


def constant(x: onp.ndarray | float) -> onp.ndarray:
    """A value as a physical constant: a leading particle axis of size 1."""
    return np.asarray(x)[None]


def compile_expr(node: ast.Node, scope: dict) -> Const | Callable[..., Value]:
    """Compile `node`; `scope` maps a name to a slot index (int) or a `Const`."""
    return _COMPILERS[type(node)](node, scope)


def evaluate(node: ast.Node, scope: dict) -> onp.ndarray:
    """The value of an expression that must be constant (sizes, defaults, bounds)."""
    code = compile_expr(node, scope)
    if not isinstance(code, Const):
        raise SemanticError("this must be known before the fit", node.span)
    return code.value


def _num(node, scope):
    return Const(constant(node.value))


def _name(node, scope):
    where = scope.get(node.id)
    if where is None:
        return Const(constant(CONSTANTS[node.id]))
    if isinstance(where, Const):
        return where
    return lambda env: env[where]


# What numpy raises on values that do not fit an operation (RuntimeWarning: when warnings are
# errors, a division by zero or a log of a negative number); each becomes a positioned error.
_FAILURES = (ValueError, IndexError, TypeError, ArithmeticError, RuntimeWarning, MemoryError)


def _lift(node, op, parts):
    """Fold when every part is constant, else a closure; errors point at `node`."""
    def guarded(*values):
        try:
            return op(*values)
        except _FAILURES as err:
            raise _shape_error(node, values, err) from None

    if all(isinstance(p, Const) for p in parts):
        with onp.errstate(all="ignore"):   # a constant may well be infinite (log(0)); checks come later
            return Const(guarded(*(p.value for p in parts)))
    fns = [(lambda env, v=p.value: v) if isinstance(p, Const) else p for p in parts]
    if len(fns) == 1:
        (f,) = fns
        return lambda env: guarded(f(env))
    if len(fns) == 2:
        f, g = fns
        return lambda env: guarded(f(env), g(env))
    return lambda env: guarded(*(f(env) for f in fns))


class _Scalars(ValueError):
    pass


def _shape_error(node, values, err):
    text = brief(node)
    shapes = " and ".join(str(tuple(onp.shape(v))[1:]) for v in values)
    if isinstance(err, TooLarge):
        return SemanticError(f"'{text}' {err}{_particles(values)}", node.span, hint=err.hint)
    if isinstance(err, Refused):
        return SemanticError(f"cannot compute '{text}': {err}", node.span, hint=err.hint)
    if isinstance(err, MemoryError):
        return SemanticError(f"not enough memory to compute '{text}'", node.span,
                             hint="use smaller sizes or fewer particles")
    if isinstance(err, (ArithmeticError, RuntimeWarning)):
        return SemanticError(f"cannot compute '{text}': {err}", node.span)
    if isinstance(err, _Scalars):
        operands = " and ".join(f"'{brief(c)}'" for c in (node.left, node.right))
        return SemanticError(f"@ needs vectors or matrices on both sides, but {operands} include a single "
                             "number", node.span, hint="use * to multiply by a number")
    if isinstance(err, IndexError):
        match = re.search(r"index (-?\d+) is out of bounds for axis (\d+) with size (\d+)", str(err))
        if match:
            index, axis, size = (int(g) for g in match.groups())
            return SemanticError(f"index {index} is out of range for axis {axis - 1} of size {size} in '{text}'",
                                 node.span, hint=f"indices start at 0, so an axis of size {size} takes 0 to {size - 1}")
        return SemanticError(f"index out of range in '{text}'", node.span)
    if any(w in str(err) for w in ("broadcast", "shape", "dimension", "align")):
        hint = ("the left side's last axis and the right side's first must have the same size"
                if getattr(node, "op", None) == "@" else
                "axes are paired from the right; each pair must be equal, or one of them 1")
        return SemanticError(f"shapes {shapes} do not fit together in '{text}'", node.span, hint=hint)
    return SemanticError(f"cannot compute '{text}': {err}", node.span)


MAX_AXES = 32   # numpy's limit, the particle axis included


def _particles(values):
    k = max((onp.shape(v)[0] for v in values if onp.ndim(v)), default=1)
    return f" with {k} particles" if k > 1 else ""


def _fits(a, b):
    """Refuse to broadcast `a` with `b` into a value over the size limit."""
    if onp.size(a) * onp.size(b) > MAX_ELEMENTS:   # else the result cannot be over the limit
        check_size(np.broadcast_shapes(*(onp.shape(x) for x in align((getval(a), getval(b))))))


def _float(x):
    return x.astype(float) if getattr(x, "dtype", None) is not None and x.dtype.kind in "iub" else x


def _power(a, b):
    return np.power(_float(a), b)


def _matmul(a, b):
    ra, rb = onp.ndim(a) - 1, onp.ndim(b) - 1
    if ra < 1 or rb < 1:
        raise _Scalars()
    _matmul_fits(onp.shape(a), onp.shape(b))
    if ra == 1 and rb == 1:
        return np.sum(a * b, axis=-1)
    # vectors become one-row or one-column matrices by reshaping, not indexing: the gradient of an
    # index is a scatter (np.add.at), many times slower than the gradient of a reshape
    if ra == 1 and rb == 2:
        return lined.vecmat(a, b)
    if rb == 1 and ra == 2:
        return lined.matvec(a, b)
    if ra == 1:
        sa = onp.shape(a)
        r = np.matmul(np.reshape(a, sa[:1] + (1,) * (rb - 2) + (1,) + sa[1:]), b)
        return np.reshape(r, onp.shape(r)[:-2] + onp.shape(r)[-1:])
    if rb == 1:
        sb = onp.shape(b)
        r = np.matmul(a, np.reshape(b, sb[:1] + (1,) * (ra - 2) + sb[1:] + (1,)))
        return np.reshape(r, onp.shape(r)[:-1])
    return np.matmul(*align((a, b)))


def _matmul_fits(sa, sb):
    """Refuse a matrix product whose result would be over the size limit (a (m, 0) @ (0, n)
    product has empty operands but m * n elements)."""
    rows = sa[-2:-1] if len(sa) > 2 else ()
    cols = sb[-1:] if len(sb) > 2 else ()
    middle = np.broadcast_shapes(sa[1:-2], sb[1:-2])          # logical batch axes, from the right
    check_size((max(sa[0], sb[0]),) + middle + rows + cols)


def _elementwise(op, lined_op):
    """`op` on operands of one rank; `lined_op` (`lined`) lines up operands of different ranks
    inside one node. Integers that would wrap past 64 bits are refused."""
    def apply(a, b):
        _fits(a, b)
        out = op(a, b) if onp.ndim(a) == onp.ndim(b) else lined_op(a, b)
        if getattr(out, "dtype", onp.dtype(float)).kind in "iu":
            _no_wrap(op, a, b)
        return out
    return apply


def _no_wrap(op, a, b):
    exact = op(*align((onp.asarray(a, dtype=float), onp.asarray(b, dtype=float))))
    if onp.any(onp.abs(exact) >= 2.0**63):
        raise Refused("the integers overflow: the result is past 2^63 - 1, the largest integer",
                      hint="compute with real numbers instead: write 1.0 * x, or a number with a decimal point")


def _comparison(op):
    """A comparison: 1 where it holds, 0 elsewhere (integers, with no gradient)."""
    def apply(a, b):
        _fits(a, b)
        a, b = align((onp.asarray(getval(a)), onp.asarray(getval(b))))
        return op(a, b).astype(onp.int64)
    return apply


_BINARY = {"+": _elementwise(np.add, lined.add), "-": _elementwise(np.subtract, lined.subtract),
           "*": _elementwise(np.multiply, lined.multiply), "/": _elementwise(np.true_divide, lined.true_divide),
           "^": _elementwise(_power, lambda a, b: lined.power(_float(a), b)), "@": _matmul,
           "==": _comparison(onp.equal), "!=": _comparison(onp.not_equal), "<": _comparison(onp.less),
           "<=": _comparison(onp.less_equal), ">": _comparison(onp.greater), ">=": _comparison(onp.greater_equal)}


def _binary(node, scope):
    return _lift(node, _BINARY[node.op], [compile_expr(node.left, scope), compile_expr(node.right, scope)])


def _unary(node, scope):
    return _lift(node, np.negative, [compile_expr(node.operand, scope)])


def _call(node, scope):
    fn = FUNCTIONS[node.func]
    impl = fn.impl
    if node.kwargs:                       # axis=k, checked to be a whole number
        (_, axis), = node.kwargs
        impl = functools.partial(fn.impl, axis=int(axis.value))
    return _lift(node, impl, [compile_expr(a, scope) for a in node.args])


def _method(node, scope):
    """`D(args).log_prob(x)` (or log_cdf, log_ccdf): one value per element of x and the arguments."""
    cls = DISTRIBUTIONS[node.dist.func]
    names = signature_of(cls, node.dist)
    given = dict(zip(names, node.dist.args)) if node.dist.args else dict(node.dist.kwargs)
    pairs = [(n, given[n]) for n in names]
    if node.truncate is not None:
        pairs += [(k, e) for k, e in zip(BOUNDS, node.truncate) if e is not None]
        cls = truncated(cls, tuple(k for k, e in zip(BOUNDS, node.truncate) if e is not None))
    keys = [k for k, _ in pairs]

    def density(x, *args):
        dist = make_dist(cls, [(k, Const(a)) for k, a in zip(keys, args)], None, onp.ndim(x))
        x = beside(x, dist)
        with onp.errstate(divide="ignore", invalid="ignore"):
            return getattr(dist, node.method)(x if node.method == "log_prob" else within_support(dist, x))
    return _lift(node, density, [compile_expr(node.args[0], scope)] + [compile_expr(e, scope) for _, e in pairs])


def _update(node, scope):
    """`s with [i] = v`: s with the elements at one index (a number, or a run of consecutive
    numbers: a slice, or a loop variable taking several values at once) replaced by v."""
    if len(node.indices) != 1:
        raise SemanticError("an assignment to elements takes one index", node.span,
                            hint="assign a whole row: s[i] = row, or index in two steps")
    idx = node.indices[0]
    if isinstance(idx, ast.Slice):
        start, stop = (None if e is None else _slice_bound(e, scope) for e in (idx.start, idx.stop))
        return _lift(node, lambda s, v: _replaced(s, slice(start, stop), v),
                     [compile_expr(node.target, scope), compile_expr(node.value, scope)])
    return _lift(node, lambda s, v, i: _replaced(s, _run(i, onp.shape(s)[1] if onp.ndim(s) > 1 else 0), v),
                 [compile_expr(node.target, scope), compile_expr(node.value, scope), compile_expr(idx, scope)])


def _run(i, n):
    """An index value as a slice of the first axis (of size n): one number, or consecutive numbers."""
    flat = onp.unique(onp.reshape(onp.asarray(getval(i)), (-1,)))
    if flat.dtype.kind not in "iu" and not onp.all(flat == onp.round(flat)):
        raise Refused("an index must be an integer")
    first = int(flat[0])
    if len(flat) > 1 and not onp.array_equal(flat, onp.arange(first, first + len(flat))):
        raise Refused("an assignment to elements takes one index, or consecutive ones")
    if not -n <= first < n or first + len(flat) > n:
        raise IndexError(f"index {first} is out of bounds for axis 1 with size {n}")
    first %= n
    return slice(first, first + len(flat))


def _replaced(s, where, v):
    """s with s[:, where] replaced by v (broadcast), as a concatenation (no in-place writes)."""
    if onp.ndim(s) < 2:
        raise Refused("a single number has no elements to assign", hint="assign the whole value: s = ...")
    start, stop, _ = where.indices(onp.shape(s)[1])
    stop = max(stop, start)
    v = np.reshape(v, onp.shape(v)[:1] + (1,) * (onp.ndim(s) - onp.ndim(v)) + onp.shape(v)[1:]) \
        if onp.ndim(v) < onp.ndim(s) else v
    lead = max(onp.shape(s)[0], onp.shape(v)[0])
    rest = onp.shape(s)[2:]
    s = s + np.zeros((lead,) + onp.shape(s)[1:]) if onp.shape(s)[0] != lead else s
    middle = v + np.zeros((lead, stop - start) + rest)
    return np.concatenate([s[:, :start], middle, s[:, stop:]], axis=1)


def _array(node, scope):
    def stack(*items):
        if max(onp.ndim(i) for i in items) >= MAX_AXES:
            raise Refused(f"an array of more than {MAX_AXES - 1} axes", hint="numpy allows no more")
        lined_up = align([getval(i) for i in items])
        lead = max(onp.shape(i)[0] for i in lined_up)
        shape = np.broadcast_shapes(*(onp.shape(i)[1:] for i in lined_up))
        check_size((lead, len(items)) + shape)
        return lined.stack(*items)
    if not node.items:
        raise SemanticError("an empty array has no shape", node.span, hint="use zeros(0) for an empty vector")
    return _lift(node, stack, [compile_expr(i, scope) for i in node.items])


def _index(node, scope):
    parts = [compile_expr(node.target, scope)]
    layout = []  # per index: a python slice (static), or None (a value from parts)
    for idx in node.indices:
        if isinstance(idx, ast.Slice):
            start, stop = (None if e is None else _slice_bound(e, scope) for e in (idx.start, idx.stop))
            layout.append(slice(start, stop))
        elif isinstance(idx, ast.Num):
            layout.append(int(idx.value))
        else:
            layout.append(None)
            parts.append(compile_expr(idx, scope))
    arrays = [i for i, item in enumerate(layout) if item is None]
    if arrays and any(isinstance(item, slice) for item in layout[:arrays[-1]]):
        raise SemanticError("a slice before an array index is not supported", node.span,
                            hint="put the array indices first, or index in two steps")
    return _lift(node, _indexer(tuple(layout)), parts)


def _slice_bound(expr, scope):
    value = evaluate(expr, scope)
    if onp.size(value) != 1:
        raise SemanticError(f"a slice bound must be a single integer, but '{brief(expr)}' has shape "
                            f"{onp.shape(value)[1:]}", expr.span)
    return int(np.reshape(value, (-1,))[0])


def _indexer(layout):
    if all(item is not None for item in layout):
        key = (slice(None),) + layout
        return lambda x: _check_rank(x, layout)[key]

    checked = set()      # the shapes already checked (they are the same at every step)

    def gather(x, *values):
        values = align(values)
        shapes = (onp.shape(x),) + tuple(onp.shape(v) for v in values)
        if shapes not in checked:
            _check_rank(x, layout)
            if onp.ndim(values[0]) + onp.ndim(x) - len(layout) > MAX_AXES:
                raise Refused(f"a result of more than {MAX_AXES - 1} axes", hint="numpy allows no more")
            _gather_fits(onp.shape(x), layout, values)
            if len(checked) < 64:
                checked.add(shapes)
        it = iter(values)
        picks = [item if item is not None else next(it) for item in layout]
        rank = max(onp.ndim(v) for v in values) - 1
        if onp.shape(x)[0] == 1:        # one index (one node): the array indices follow the 0
            return x[(0, *picks)]
        lead = np.arange(onp.shape(x)[0]).reshape((-1,) + (1,) * rank)
        return x[(lead, *picks)]
    return gather


def _gather_fits(shape, layout, values):
    """Refuse an indexing whose result would be over the size limit: the index arrays' broadcast
    shape, then the sliced axes and the axes not indexed."""
    picked = np.broadcast_shapes(*(onp.shape(v) for v in values))
    kept = [len(range(*item.indices(n))) for item, n in zip(layout, shape[1:]) if isinstance(item, slice)]
    check_size(tuple(picked) + tuple(kept) + tuple(shape[1 + len(layout):]))


def _check_rank(x, layout):
    if onp.ndim(x) - 1 < len(layout):
        axes = onp.ndim(x) - 1
        raise Refused(f"{len(layout)} ind{'ices' if len(layout) > 1 else 'ex'} for a value with "
                      f"{axes} ax{'es' if axes != 1 else 'is'}",
                      hint="give at most one index per axis" if axes else "a single number cannot be indexed")
    return x


def _size(node, scope):
    dims = []
    for expr in node.shape:
        value = evaluate(expr, scope)
        n = int(np.reshape(value, (-1,))[0]) if onp.size(value) == 1 else None
        if n is None:
            raise SemanticError(f"the size '{brief(expr)}' of '{node.owner}' must be a single integer, but has shape "
                                f"{onp.shape(value)[1:]}", expr.span)
        if n < 0:
            raise DataError(f"the size '{brief(expr)}' of '{node.owner}' is {n}; sizes cannot be negative", expr.span,
                            hint="check the data it is computed from")
        if n == 0 and node.simplex and expr is node.shape[-1]:
            raise DataError(f"the size '{brief(expr)}' of the simplex '{node.owner}' is 0; a simplex has at least one "
                            "element", expr.span, hint="check the data it is computed from")
        dims.append(n)
    if math.prod(dims) > MAX_ELEMENTS:
        first, last = node.shape[0].span, node.shape[-1].span
        raise SemanticError(f"'{node.owner}' is declared with shape {tuple(dims)}: {math.prod(dims):,} elements; "
                            f"the limit is {MAX_ELEMENTS:,}", Span(first.line, first.col, last.end_line, last.end_col),
                            hint="a value this large would exhaust memory: use smaller sizes")
    return compile_expr(node.expr, scope)


def _cell(node, scope):
    return _lift(node, lambda cells, i: cells.get(i), [compile_expr(ast.Name(node.target), scope),
                                                      compile_expr(node.index, scope)])


_COMPILERS = {ast.Num: _num, ast.Name: _name, ast.Binary: _binary, ast.Unary: _unary, ast.Call: _call,
              ast.Array: _array, ast.Index: _index, Size: _size, ast.Method: _method, ast.Update: _update,
              Cell: _cell}
