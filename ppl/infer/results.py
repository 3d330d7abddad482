"""A result document read back (`ppl fit --out`, `Fit.to_json`) is untrusted input: every field
it is restored from is checked for its type before use, and the files it names are found only
as model or data files, never read as anything else.

>>> checked({"mode": "vi", "seed": -1}, "r.json")
Traceback (most recent call last):
ppl.front.errors.PPLError: r.json: error: the result's 'seed' is -1, not a count
  give a result written by ppl fit --out
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path

from ..front.errors import PPLError, Source, brief
from ..middle.options import GRANULARITIES, GUIDES, ESTIMATORS, Mode
from typing import get_args

MODEL_SUFFIXES = (".ppl",)
DATA_SUFFIXES = (".json", ".csv", ".npy")


def checked(result: dict, where: str | None = None) -> dict:
    """`result` itself, once every field `Model.restore` reads has its type; else a PPLError
    naming the field (`where` names the file it came from)."""
    def bad(field, why):
        return PPLError(f"the result's '{field}' {why}", source=Source("", where or "<result>"),
                        hint="give a result written by ppl fit --out")
    if not isinstance(result, dict):
        raise bad("document", "is not a JSON object")
    if result.get("mode") not in get_args(Mode):
        raise bad("mode", f"is {result.get('mode')!r}, not one of {', '.join(get_args(Mode))}")
    for field in ("seed", "steps", "skipped_steps", "particles"):
        value = result.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(field, f"is {value!r}, not a count")
    if result.get("batch_size") is not None and not _count(result["batch_size"]):
        raise bad("batch_size", f"is {result['batch_size']!r}, not a count")
    for field in ("params", "guide"):
        values = result.get(field, {})
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise bad(field, "is not an object of named values")
        for name, value in values.items():
            if not _numbers(value) or _shape(value) is None:
                raise bad(f"{field}.{name}", "is not a number or an array of numbers (nested lists, all of "
                                             "one length at each level)")
    trace = result.get("trace", [])
    if not isinstance(trace, list) or not all(v is None or _number(v) for v in trace):
        raise bad("trace", "is not a list of numbers")
    for field in ("convergence", "options"):
        if result.get(field) is not None and not isinstance(result[field], dict):
            raise bad(field, "is not an object")
    if result.get("convergence") is not None:
        c = result["convergence"]
        form = LBFGS if c.get("method") == "lbfgs" else ADAM
        odd = next((k for k, kind in form.items() if not _fits(c.get(k, ABSENT), kind)), None)
        if odd is not None:
            raise bad(f"convergence.{odd}", f"is {brief(repr(c.get(odd, 'missing')))}, not {_say(form[odd])}")
    options = result.get("options") or {}
    for key, value in options.items():
        allowed = {"estimator": ESTIMATORS, "rao_blackwell": GRANULARITIES, "guide": GUIDES}.get(key)
        choices = value.values() if key == "estimator" and isinstance(value, dict) else [value]
        if allowed is None or not all(isinstance(v, str) and v in allowed for v in choices):
            raise bad(f"options.{key}", f"is {value!r}, not an option of the compiler")
    for field, suffixes in (("model", MODEL_SUFFIXES), ("data", DATA_SUFFIXES)):
        named = result.get(field)
        files = named if isinstance(named, list) and field == "data" else [named]     # one model, data in parts
        if named is not None and not all(isinstance(f, str) and f.endswith(suffixes) for f in files):
            raise bad(field, f"does not name a {field} file ({', '.join(suffixes)})")
    return result


def named_file(path: str, result: str | Path, what: str) -> str:
    """A file a result names (already `checked`: a model or data file by its suffix): beside the
    result, else as written from the working folder; a regular file, or an error that quotes
    nothing of it."""
    base = Path(result).parent
    for candidate in (base / path, Path(path)):
        try:
            if candidate.is_file():
                return str(candidate)
        except OSError:           # a name too long for the file system: no such file
            pass
    raise PPLError(f"cannot find the {what} file {path} it names", hint=f"pass --{what} FILE",
                   source=Source("", str(result)))


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _shape(value) -> tuple | None:
    """The shape of nested lists of numbers, or None when they are ragged."""
    if not isinstance(value, list):
        return ()
    shapes = {_shape(v) for v in value}
    if len(shapes) > 1 or None in shapes:
        return None
    return (len(value), *(shapes.pop() if shapes else ()))


# The convergence report `record` writes (ppl.infer.convergence, ppl.infer.deterministic), as
# the table, the plot and the warnings read it: a kind per field (a tuple: any of them).
NUMBER, COUNT, FLAG, TEXT, ABSENT = "a number", "a count", "true or false", "a text", object()
DRAWS = "a list of counts, not empty"
ADAM = {"converged": FLAG, "rule": (TEXT, None), "tol": NUMBER, "window": COUNT, "history": COUNT,
        "rel_change_mean": (NUMBER, None), "rel_change_median": (NUMBER, None),
        "trend": ({"slope": NUMBER, "t": NUMBER}, None, ABSENT),
        "movement": ({"max": NUMBER, "parameter": TEXT}, None, ABSENT),
        "early_stop": (FLAG, ABSENT), "stopped_early": (FLAG, ABSENT), "max_steps": COUNT, "smoothed": [NUMBER]}
LBFGS = {"converged": FLAG, "stable": FLAG, "draws": DRAWS, "drops": [NUMBER], "stable_drop": NUMBER,
         "iterations": COUNT, "max_steps": COUNT, "gradient": NUMBER, "line_search_failed": FLAG,
         "starts": COUNT, "optima": ([{"objective": NUMBER, "starts": COUNT}], None, ABSENT)}


def _fits(value, kind) -> bool:
    """`value` is of `kind`: a name above, None, ABSENT, [kind] (a list of them),
    {key: kind} (an object with those keys), or a tuple of kinds (any of them)."""
    if isinstance(kind, tuple):
        return any(_fits(value, k) for k in kind)
    if isinstance(kind, list):
        return isinstance(value, list) and all(_fits(v, kind[0]) for v in value)
    if isinstance(kind, dict):
        return isinstance(value, dict) and all(_fits(value.get(k, ABSENT), v) for k, v in kind.items())
    return {NUMBER: _number, COUNT: _count, FLAG: lambda v: isinstance(v, bool),
            TEXT: lambda v: isinstance(v, str), DRAWS: lambda v: _fits(v, [COUNT]) and bool(v)}.get(
        kind, lambda v: v is kind)(value)


def _say(kind) -> str:
    if isinstance(kind, tuple):
        return " or ".join(_say(k) for k in kind if k is not ABSENT)
    if isinstance(kind, list):
        return f"a list of {_say(kind[0]).removeprefix('a ')}s"
    if isinstance(kind, dict):
        return f"an object of {', '.join(kind)}"
    return "null" if kind is None else kind


def _numbers(value, depth=0) -> bool:
    """A number, or lists of numbers nested at most 32 deep."""
    if isinstance(value, list):
        return depth < 32 and all(_numbers(v, depth + 1) for v in value)
    return _number(value)
