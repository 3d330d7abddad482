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

from ..front.errors import PPLError, Source
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
            if not _numbers(value):
                raise bad(f"{field}.{name}", "is not a number or nested lists of numbers")
    trace = result.get("trace", [])
    if not isinstance(trace, list) or not all(v is None or _number(v) for v in trace):
        raise bad("trace", "is not a list of numbers")
    for field in ("convergence", "options"):
        if result.get(field) is not None and not isinstance(result[field], dict):
            raise bad(field, "is not an object")
    options = result.get("options") or {}
    for key, value in options.items():
        allowed = {"estimator": ESTIMATORS, "rao_blackwell": GRANULARITIES, "guide": GUIDES}.get(key)
        choices = value.values() if key == "estimator" and isinstance(value, dict) else [value]
        if allowed is None or not all(isinstance(v, str) and v in allowed for v in choices):
            raise bad(f"options.{key}", f"is {value!r}, not an option of the compiler")
    for field, suffixes in (("model", MODEL_SUFFIXES), ("data", DATA_SUFFIXES)):
        named = result.get(field)
        files = named if isinstance(named, list) else [named]
        if named is not None and not all(isinstance(f, str) and f.endswith(suffixes) for f in files):
            raise bad(field, f"does not name a {field} file ({', '.join(suffixes)})")
    return result


def named_file(path: str, result: str | Path, what: str) -> str:
    """A file a result names (already `checked`: a model or data file by its suffix): beside the
    result, else as written from the working folder; a regular file, or an error that quotes
    nothing of it."""
    base = Path(result).parent
    for candidate in (base / path, Path(path)):
        if candidate.is_file():
            return str(candidate)
    raise PPLError(f"cannot find the {what} file {path} it names", hint=f"pass --{what} FILE",
                   source=Source("", str(result)))


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _numbers(value, depth=0) -> bool:
    """A number, or lists of numbers nested at most 32 deep."""
    if isinstance(value, list):
        return depth < 32 and all(_numbers(v, depth + 1) for v in value)
    return _number(value)
