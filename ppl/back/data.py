"""Data binding: check supplied data against the `data` declarations; initial `param` values."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as onp

from ..front import ast
from ..distributions import constraints
from ..middle import ir
from ..io.datafiles import EXAMPLE, at, kind
from ..front.errors import DataError, did_you_mean
from .expr import Const, constant, evaluate
from ..front.functions import MAX_ELEMENTS

PARAM_CONSTRAINTS = {"positive": constraints.positive, "unit": constraints.unit_interval,
                     "simplex": constraints.simplex}


def bind(module: ir.Module, data: dict | None) -> tuple[dict, dict]:
    """Validated data ({name: array}) and initial params ({name: (constraint, value)})."""
    if data is not None and not isinstance(data, Mapping):
        raise DataError(f"data must map names to values, not {kind(data)}", hint=f"pass a dict, such as {EXAMPLE}")
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
        raise DataError(f"no data for '{decl.name}'", decl.span, hint=_missing_hint(decl.name, data))
    value = _as_array(decl, raw)
    shape = _shape(decl, scope, onp.size(value) > MAX_ELEMENTS)
    if value.shape != shape:
        sizes = ", ".join(f"{e} = {evaluate(e, scope)[0]}" for e in decl.shape if not isinstance(e, ast.Num))
        raise DataError(f"'{decl.name}' has {_describe(value.shape)}, but is declared {_type(decl)}, "
                        f"which is {_describe(shape)}" + (f" since {sizes}" if sizes else ""), decl.span,
                        hint=f"give '{decl.name}' that shape in the data" + (", or correct the sizes" if sizes else ""))
    for name, expr in decl.bounds:
        bound = evaluate(expr, scope)[0]
        for offset, block in blocks(value):
            bad = block < bound if name == "lower" else block > bound
            if onp.any(bad):
                side = "below its lower" if name == "lower" else "above its upper"
                raise DataError(f"{decl.name}{_where(bad, offset)} = {block[bad].flat[0]} is {side} bound {bound}",
                                decl.span, hint=f"fix the data, or change the bound in the declaration of '{decl.name}'")
    return value


def _missing_hint(name, data):
    if not data:
        return "no data was given: pass --data FILE, or put it in MODEL.data.json beside the model"
    near = did_you_mean(name, data)
    if near:
        return f"the data has no '{name}'; {near}"
    return f"the data has only {', '.join(sorted(map(str, data)))}; add '{name}', or give it a default (= ...)"


def _type(decl):
    return str(decl).split(": ", 1)[1].split(" = ")[0]


def _describe(shape):
    return "a single number" if shape == () else f"shape {shape}"


def _as_array(decl, raw):
    if isinstance(raw, onp.memmap):
        return _mapped(decl, raw)
    try:
        value = onp.asarray(raw)
    except ValueError:
        raise _ragged(decl, raw) from None
    if value.dtype == bool:
        value = value.astype(onp.int64)
    if value.dtype == object and all(_is_number(x) for _, x in _leaves(value.tolist())):
        value = _as_floats(decl, value)          # numbers too large for int64, or boxed in objects
    if value.dtype.kind not in "iuf":
        raise _not_numbers(decl, raw)
    with onp.errstate(over="ignore", invalid="ignore"):
        value = value.astype(float)
    _check_numbers(decl, value)
    if decl.base == "int":
        if onp.any(onp.abs(value) > INT_MAX):
            raise DataError(f"'{decl.name}' holds an integer beyond 2^63 - 1", decl.span,
                            hint="integers go up to 9223372036854775807")
        return value.astype(onp.int64)
    return value


INT_MAX = 2.0 ** 63 - 1024     # the largest float64 below 2^63
BLOCK = 2 ** 20                # elements per block when checking memory-mapped data


def blocks(value):
    """(offset, rows) blocks of `value` along its first axis: one block for an array in memory,
    blocks of about BLOCK elements for a memory-mapped one, so that a check never holds a copy
    of the whole file."""
    if not isinstance(value, onp.memmap) or value.ndim == 0:
        yield 0, value
        return
    rows = max(1, BLOCK // max(1, value.size // max(1, len(value))))
    for i in range(0, len(value), rows):
        yield i, onp.asarray(value[i:i + rows])


def _mapped(decl, raw):
    """A memory-mapped array (`.npy` data) checked block by block and kept mapped, not copied:
    a subsampled fit then reads only the rows of each step."""
    if raw.dtype.kind not in "iufb":
        raise DataError(f"'{decl.name}' holds {raw.dtype} values, not numbers", decl.span,
                        hint=f"save '{decl.name}' as an array of numbers")
    _check_numbers(decl, raw)
    return raw


def _check_numbers(decl, value):
    """Every number finite, and whole where the declaration says int (block by block)."""
    if value.dtype.kind != "f":
        return                                 # integers are both
    for offset, block in blocks(value):
        bad = ~onp.isfinite(block)
        if bad.any():
            raise DataError(f"{decl.name}{_where(bad, offset)} is {block[bad].flat[0]}; data must be finite numbers",
                            decl.span, hint=MISSING)
        if decl.base == "int":
            frac = block != onp.round(block)
            if frac.any():
                raise DataError(f"'{decl.name}' is declared int, but {decl.name}{_where(frac, offset)} = "
                                f"{block[frac].flat[0]}", decl.span, hint=f"round the data, or declare '{decl.name}' real")


def _as_floats(decl, value):
    try:
        return onp.asarray(value.tolist(), dtype=float)
    except OverflowError:
        raise DataError(f"'{decl.name}' holds a number too large to represent", decl.span,
                        hint="numbers go up to about 1.8e308") from None


MISSING = "ppl cannot fit missing values: drop or impute them"


def _ragged(decl, raw):
    """The error for nested lists whose rows differ in length, naming the first odd row."""
    hint = f"every row must have the same length; '{decl.name}' is declared {_type(decl)}"
    found = _odd_row(raw) if _is_list(raw) else None
    if found is None:
        return DataError(f"'{decl.name}' is not a regular array of numbers", decl.span, hint=hint)
    path, row, first = found
    return DataError(f"'{decl.name}' is a ragged array: {at(decl.name, path)} {_content(row)}, but "
                     f"{at(decl.name, path[:-1] + (0,))} {_content(first)}", decl.span, hint=hint)


def _odd_row(raw, path=()):
    rows = list(raw)
    for i, row in enumerate(rows):
        if _content(row) != _content(rows[0]):
            return path + (i,), row, rows[0]
    for i, row in enumerate(rows):
        if _is_list(row):
            found = _odd_row(row, path + (i,))
            if found:
                return found
    return None


def _is_list(x):
    return isinstance(x, (list, tuple)) or (isinstance(x, onp.ndarray) and x.ndim > 0)


def _content(x):
    if _is_list(x):
        return f"has {len(x)} element{'s' * (len(x) != 1)}"
    return "is a single number" if _is_number(x) else f"is {kind(x)}"


def _not_numbers(decl, raw):
    """The error for data that are not all numbers, naming the first element that is not."""
    found = next(((p, x) for p, x in _leaves(raw) if not _is_number(x)), None)
    if found is None:
        return DataError(f"'{decl.name}' is not an array of numbers", decl.span, hint="give nested lists of numbers")
    path, leaf = found
    where = at(decl.name, path)
    if leaf is None:
        return DataError(f"{where} is null; data must be numbers", decl.span,
                         hint="null usually marks a missing value (JSON has no NaN); " + MISSING)
    hint = "give a number, or nested lists of numbers"
    if isinstance(leaf, str) and _is_number_text(leaf):
        hint = f"write the number without quotes: {leaf.strip()}"
    return DataError(f"{where} is {kind(leaf)}; data must be numbers", decl.span, hint=hint)


def _leaves(raw, path=()):
    if _is_list(raw):
        for i, item in enumerate(raw):
            yield from _leaves(item, path + (i,))
    else:
        yield path, raw


def _is_number(x):
    return isinstance(x, (int, float, onp.number, onp.bool_)) or (isinstance(x, onp.ndarray) and x.dtype.kind in "biuf")


def _is_number_text(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _where(mask, offset=0):
    """`[1, 0]`: the index of the first True in `mask` (rows from `offset`), or nothing for a
    single value."""
    if not mask.ndim:
        return ""
    first = [int(i) for i in onp.argwhere(mask)[0]]
    first[0] += offset
    return at("", tuple(first))


def _shape(decl, scope, given_large=False):
    """The declared shape. Data given with more than MAX_ELEMENTS elements already exist (a
    memory-mapped file), so their declaration is not held to that limit."""
    dims = []
    for expr in decl.shape:
        dim = evaluate(getattr(expr, "expr", expr) if given_large else expr, scope)[0]
        if dim < 0:
            raise DataError(f"the size '{expr}' of '{decl.name}' is {dim}; sizes cannot be negative", expr.span,
                            hint="check the data it is computed from")
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
                        f"{shape}", decl.value.span,
                        hint=f"give a single number, or a value of shape {shape}") from None
    bad = ~onp.asarray(constraint.check(value))
    if bad.any():
        element = value[tuple(onp.argwhere(bad)[0])] if bad.ndim else value
        raise DataError(f"the initial value of '{decl.name}'{_where(bad)} is {_show(element)}, outside its "
                        f"constraint ({constraint.name})", decl.value.span,
                        hint=f"give an initial value inside {constraint.name}, or leave out '= ...' to start "
                             "from a default inside it")
    return constraint, value


def _show(x):
    x = onp.asarray(x)
    return f"{x.item():g}" if x.ndim == 0 else onp.array2string(x, precision=4, threshold=6)


def _param_constraint(decl, scope):
    if decl.base in PARAM_CONSTRAINTS:
        return PARAM_CONSTRAINTS[decl.base]
    bounds = {}
    for name, expr in decl.bounds:
        value = onp.asarray(evaluate(expr, scope)[0], dtype=float)
        if value.ndim:
            raise DataError(f"the {name} bound of param '{decl.name}' must be a single number", expr.span,
                            hint="bound a param by a number or a scalar data value")
        bounds[name] = float(value)
    if "lower" in bounds and "upper" in bounds:
        return constraints.interval(bounds["lower"], bounds["upper"])
    if "lower" in bounds:
        return constraints.greater_than(bounds["lower"])
    if "upper" in bounds:
        return constraints.less_than(bounds["upper"])
    return constraints.real


