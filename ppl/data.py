"""Data binding: check supplied data against the `data` declarations; initial `param` values."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as onp

from . import constraints, ir
from .errors import DataError, Source, Span, did_you_mean
from .expr import Const, constant, evaluate

PARAM_CONSTRAINTS = {"positive": constraints.positive, "unit": constraints.unit_interval,
                     "simplex": constraints.simplex}


def load_json(path) -> dict:
    """Read a data file in Stan's JSON layout: an object from names to numbers or nested lists."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise DataError(f"cannot read data file: {err.strerror}", source=Source("", str(path))) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        span = Span(err.lineno, err.colno, err.lineno, err.colno + 1)
        raise DataError(f"not valid JSON: {err.msg}", span, Source(text, str(path))) from None
    if not isinstance(data, dict):
        raise DataError("a data file must hold a JSON object mapping names to values",
                        source=Source(text, str(path)))
    return data


def bind(module: ir.Module, data: dict | None) -> tuple[dict, dict]:
    """Validated data ({name: array}) and initial params ({name: (constraint, value)})."""
    data = dict(data or {})
    scope, values, params = {}, {}, {}
    for decl in module.decls:
        if decl.kind == "data":
            values[decl.name] = _data_value(decl, data, scope)
            scope[decl.name] = Const(constant(values[decl.name]))
        else:
            params[decl.name] = _param_init(decl, scope)
    return values, params


def _data_value(decl, data, scope):
    if decl.name in data:
        raw = data[decl.name]
    elif decl.value is not None:
        raw = evaluate(decl.value, scope)[0]
    else:
        near = did_you_mean(decl.name, data)
        raise DataError(f"no data for '{decl.name}'", decl.span,
                        hint=f"the data has no '{decl.name}'; " + (near or "give it in the data file or the data dict"))
    value = _as_array(decl, raw)
    shape = _shape(decl, scope)
    if value.shape != shape:
        raise DataError(f"'{decl.name}' has shape {value.shape}, but is declared {_type(decl)}, "
                        f"which is shape {shape}", decl.span)
    for name, expr in decl.bounds:
        bound = evaluate(expr, scope)[0]
        bad = value < bound if name == "lower" else value > bound
        if onp.any(bad):
            index = tuple(int(i) for i in onp.argwhere(onp.atleast_1d(bad))[0]) if value.ndim else ()
            where = f"[{', '.join(map(str, index))}]" if index else ""
            side = "below its lower" if name == "lower" else "above its upper"
            raise DataError(f"'{decl.name}'{where} = {value[index] if index else value} is {side} bound {bound}",
                            decl.span)
    return value


def _type(decl):
    return str(decl).split(": ", 1)[1].split(" = ")[0]


def _as_array(decl, raw):
    try:
        value = onp.asarray(raw)
    except ValueError:
        raise DataError(f"'{decl.name}' is a ragged array (rows of different lengths)", decl.span) from None
    if value.dtype == bool:
        value = value.astype(onp.int64)
    if value.dtype.kind not in "iuf":
        raise DataError(f"'{decl.name}' must be numbers, but got {_kind(raw)}", decl.span)
    value = value.astype(float)
    bad = ~onp.isfinite(value)
    if bad.any():
        raise DataError(f"'{decl.name}'{_where(bad)} is {value[bad].flat[0]}; data must be finite numbers",
                        decl.span, hint="remove or impute the missing values")
    if decl.base == "int":
        frac = value != onp.round(value)
        if frac.any():
            raise DataError(f"'{decl.name}' must be integers, but '{decl.name}'{_where(frac)} is "
                            f"{value[frac].flat[0]}", decl.span, hint=f"declare it real, or round the data")
        return value.astype(onp.int64)
    return value


def _where(mask):
    if mask.ndim == 0:
        return ""
    return "[" + ", ".join(str(int(i)) for i in onp.argwhere(mask)[0]) + "]"


def _kind(raw):
    if isinstance(raw, str):
        return f"the text {raw!r}"
    if raw is None:
        return "null"
    return "a value of another kind"


def _shape(decl, scope):
    dims = []
    for expr in decl.shape:
        dim = evaluate(expr, scope)[0]
        if dim < 0:
            raise DataError(f"the size '{expr}' of '{decl.name}' is {dim}; sizes cannot be negative", expr.span)
        dims.append(int(dim))
    return tuple(dims)


def _param_init(decl, scope):
    constraint = _param_constraint(decl, scope)
    shape = _shape(decl, scope)
    if decl.value is None:
        value = constraint.to_constrained(onp.zeros(constraint.unconstrained_shape(shape)))
        return constraint, onp.asarray(value, dtype=float)
    value = onp.asarray(evaluate(decl.value, scope)[0], dtype=float)
    try:
        value = onp.broadcast_to(value, shape).copy()
    except ValueError:
        raise DataError(f"the initial value of '{decl.name}' has shape {value.shape}, which does not fit "
                        f"{shape}", decl.value.span) from None
    if not onp.all(constraint.check(value)):
        raise DataError(f"the initial value of '{decl.name}' is outside {constraint.name}", decl.value.span)
    return constraint, value


def _param_constraint(decl, scope):
    if decl.base in PARAM_CONSTRAINTS:
        return PARAM_CONSTRAINTS[decl.base]
    bounds = {name: float(evaluate(expr, scope)[0]) for name, expr in decl.bounds}
    if "lower" in bounds and "upper" in bounds:
        return constraints.interval(bounds["lower"], bounds["upper"])
    if "lower" in bounds:
        return constraints.greater_than(bounds["lower"])
    if "upper" in bounds:
        return constraints.less_than(bounds["upper"])
    return constraints.real
