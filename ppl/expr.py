"""Expressions compiled once into closures over a list of slots.

`compile_expr` returns either a `Const` (folded at build time: numbers, data, and anything
computed from them alone) or a function `env -> value`. Every value has a leading particle
axis of size K or 1; see `functions.py`. Nothing here walks the tree or looks up a name per step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import autograd.numpy as np

from . import ast
from .errors import SemanticError
from .functions import CONSTANTS, FUNCTIONS


@dataclass(frozen=True)
class Const:
    value: object


def constant(x):
    """A value as a physical constant: a leading particle axis of size 1."""
    return np.asarray(x)[None]


def compile_expr(node, scope: dict):
    """Compile `node`; `scope` maps a name to a slot index (int) or a `Const`."""
    return _COMPILERS[type(node)](node, scope)


def evaluate(node, scope: dict):
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


def _lift(node, op, parts):
    """Fold when every part is constant, else a closure; errors point at `node`."""
    def guarded(*values):
        try:
            return op(*values)
        except (ValueError, IndexError, TypeError, FloatingPointError) as err:
            raise _shape_error(node, values, err) from None

    if all(isinstance(p, Const) for p in parts):
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
    shapes = " and ".join(str(tuple(np.shape(v))[1:]) for v in values)
    if isinstance(err, _Scalars):
        operands = " and ".join(f"'{c}'" for c in (node.left, node.right))
        return SemanticError(f"@ needs vectors or matrices on both sides, but {operands} include a single "
                             "number", node.span, hint="use * to multiply by a number")
    if isinstance(err, IndexError):
        match = re.search(r"index (-?\d+) is out of bounds for axis (\d+) with size (\d+)", str(err))
        if match:
            index, axis, size = (int(g) for g in match.groups())
            return SemanticError(f"index {index} is out of range for axis {axis - 1} of size {size} in '{node}'",
                                 node.span, hint=f"indices start at 0, so an axis of size {size} takes 0 to {size - 1}")
        return SemanticError(f"index out of range in '{node}'", node.span)
    if any(w in str(err) for w in ("broadcast", "shape", "dimension", "align")):
        return SemanticError(f"shapes {shapes} do not fit together in '{node}'", node.span)
    return SemanticError(f"cannot compute '{node}': {err}", node.span)


def _float(x):
    return x.astype(float) if getattr(x, "dtype", None) is not None and x.dtype.kind in "iub" else x


def _power(a, b):
    return np.power(_float(a), b)


def _matmul(a, b):
    ra, rb = np.ndim(a) - 1, np.ndim(b) - 1
    if ra < 1 or rb < 1:
        raise _Scalars()
    if ra == 1 and rb == 1:
        return np.sum(a * b, axis=-1)
    if ra == 1:
        return np.matmul(a[:, None, :], b)[:, 0, :]
    if rb == 1:
        return np.matmul(a, b[..., None])[..., 0]
    return np.matmul(a, b)


def align(*xs):
    """Give values the same rank by inserting axes after the particle axis, so that broadcasting
    lines up their own (logical) axes from the right and never a particle axis with another."""
    n = max(np.ndim(x) for x in xs)
    return [x if np.ndim(x) == n else np.reshape(x, np.shape(x)[:1] + (1,) * (n - np.ndim(x)) + np.shape(x)[1:])
            for x in xs]


def _elementwise(op):
    def apply(a, b):
        if np.ndim(a) != np.ndim(b):
            a, b = align(a, b)
        return op(a, b)
    return apply


_BINARY = {"+": _elementwise(np.add), "-": _elementwise(np.subtract), "*": _elementwise(np.multiply),
           "/": _elementwise(np.true_divide), "^": _elementwise(_power), "@": _matmul}


def _binary(node, scope):
    return _lift(node, _BINARY[node.op], [compile_expr(node.left, scope), compile_expr(node.right, scope)])


def _unary(node, scope):
    return _lift(node, np.negative, [compile_expr(node.operand, scope)])


def _call(node, scope):
    fn = FUNCTIONS[node.func]
    return _lift(node, fn.impl, [compile_expr(a, scope) for a in node.args])


def _array(node, scope):
    def stack(*items):
        items = align(*items)
        lead = max(np.shape(i)[0] for i in items)
        shape = np.broadcast_shapes(*(np.shape(i)[1:] for i in items))
        return np.stack([np.broadcast_to(i, (lead,) + shape) for i in items], axis=1)
    if not node.items:
        raise SemanticError("an empty array has no shape", node.span, hint="use zeros(0) for an empty vector")
    return _lift(node, stack, [compile_expr(i, scope) for i in node.items])


def _index(node, scope):
    parts = [compile_expr(node.target, scope)]
    layout = []  # per index: a python slice (static), or None (a value from parts)
    for idx in node.indices:
        if isinstance(idx, ast.Slice):
            start, stop = (None if e is None else int(evaluate(e, scope)[0]) for e in (idx.start, idx.stop))
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


def _indexer(layout):
    if all(item is not None for item in layout):
        key = (slice(None),) + layout
        return lambda x: _check_rank(x, layout)[key]

    def gather(x, *values):
        _check_rank(x, layout)
        it = iter(align(*values))
        picks = [item if item is not None else next(it) for item in layout]
        rank = max(np.ndim(v) for v in values) - 1
        if np.shape(x)[0] == 1:
            return x[0][tuple(picks)]
        lead = np.arange(np.shape(x)[0]).reshape((-1,) + (1,) * rank)
        return x[(lead, *picks)]
    return gather


def _check_rank(x, layout):
    if np.ndim(x) - 1 < len(layout):
        raise IndexError(f"{len(layout)} indices for a value with {np.ndim(x) - 1} dimensions")
    return x


_COMPILERS = {ast.Num: _num, ast.Name: _name, ast.Binary: _binary, ast.Unary: _unary, ast.Call: _call,
              ast.Array: _array, ast.Index: _index}
