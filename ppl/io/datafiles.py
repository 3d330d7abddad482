"""Reading data files: JSON in Stan's layout, CSV (a column per vector) and NumPy's `.npy`
(memory-mapped), several merged into one; each error names the file, and the line and column
where the text has them. Checking the values against the model's declarations is `data.bind`'s.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as onp

from ..front.errors import DataError, PPLError, Source, Span, brief
from .bounded import read_text

MAX_FILE_BYTES = 2 * 2 ** 30    # a JSON or CSV data file (or a result) is read whole: 2 GiB at most
SPLIT = "split it into several --data files, or subsample it"

EXAMPLE = '{"N": 3, "y": [0.5, 1.2, -0.3]}'


def load_json(path: str | Path, what: str = "data") -> dict:
    """Read a JSON file holding an object: a data file in Stan's layout, or (`what`) a result."""
    path = Path(path)
    data_file = what == "data"
    error = DataError if data_file else PPLError
    example = f"a data file is one JSON object, such as {EXAMPLE}" if data_file else RESULT
    text = read_text(path, MAX_FILE_BYTES, what, error, hint=SPLIT if data_file else None)
    source = Source(text, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        span = Span(err.lineno, err.colno, err.lineno, err.colno + 1)
        raise error(f"not valid JSON: {err.msg}", span, source, hint=_json_hint(text, err.pos, example)) from None
    except RecursionError:         # Python's parser recurses once per bracket
        span = _deep(text)
        raise error("the JSON is nested too deeply to read" + (f" (more than {JSON_DEPTH} levels here)" if span
                    else ""), span, source, hint=EXAMPLE_AXES if data_file else RESULT) from None
    except ValueError as err:      # a number of more digits than Python converts (sys.int_info)
        raise error(f"not valid JSON: {err}".split(";")[0], _long_number(text), source,
                    hint=f"no number in a {what} file needs so many digits") from None
    if not isinstance(data, dict):
        raise error(f"a {what} file must hold a JSON object mapping names to values, not {kind(data)}",
                    source=source, hint=f"write {EXAMPLE}" if data_file else RESULT)
    return data


JSON_DEPTH = 500      # nesting deeper than this is pointed at when Python's parser gives out
EXAMPLE_AXES = "data are numbers, and arrays of a few axes"
RESULT = "give a result written by ppl fit --out"


def _deep(text) -> Span | None:
    """Where the brackets of JSON `text` are first open more than JSON_DEPTH deep (strings skipped)."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        if match.group() in ("[", "{"):
            depth += 1
        elif match.group() in ("]", "}"):
            depth -= 1
        if depth > JSON_DEPTH:
            return _span_at(text, match.start())
    return None


def _long_number(text) -> Span | None:
    match = re.search(r"[0-9]{%d,}" % (sys.get_int_max_str_digits() + 1), text)
    return _span_at(text, match.start()) if match else None


def _span_at(text, pos) -> Span:
    line = text.count("\n", 0, pos) + 1
    col = pos - text.rfind("\n", 0, pos)
    return Span(line, col, line, col + 1)


def _json_hint(text, pos, example):
    before = text[max(0, pos - 100):pos].rstrip()
    if before.endswith(",") and text[pos:pos + 1] in "]}":
        return "remove the ',' before it: JSON allows no trailing comma"
    return example


def load_data(source: str | Path | Mapping | list | tuple) -> dict:
    """Data from a JSON file (Stan's layout), a CSV file (`.csv`: each column a vector), a NumPy
    file (`.npy`: one array, named by the file, memory-mapped), a dict, or a list of these merged
    into one (a name given twice is an error).

    >>> load_data([{"N": 3}, {"y": [1, 2, 3]}])
    {'N': 3, 'y': [1, 2, 3]}
    """
    if isinstance(source, (list, tuple)):
        return _merge([(_origin(s), load_data(s)) for s in source])
    if isinstance(source, Mapping):
        return dict(source)
    if not isinstance(source, (str, Path)):
        raise DataError(f"data must be a dict of name to value, or the path of a JSON or CSV file, not {kind(source)}")
    path = Path(source)
    suffix = path.suffix.lower()
    return load_csv(path) if suffix == ".csv" else load_npy(path) if suffix == ".npy" else load_json(path)


def load_npy(path: str | Path) -> dict:
    """One array from a NumPy `.npy` file, named by the file (`X.npy` holds `X`), memory-mapped:
    it is read as it is used, so data larger than memory can be fitted with subsampling."""
    path = Path(path)
    name = path.stem
    if not name.isidentifier() or not name.isascii():
        raise DataError(f"'{path.name}' cannot name a data value: the file's name must be the value's name",
                        source=Source("", str(path)), hint="rename the file, such as X.npy for data X")
    try:
        return {name: onp.load(path, mmap_mode="r", allow_pickle=False)}
    except OSError as err:
        raise DataError(f"cannot read data file: {err.strerror or err}", source=Source("", str(path))) from None
    except ValueError:           # not the .npy format, or Python objects, which are never unpickled
        raise DataError("cannot read data file: it is not a .npy array of numbers", source=Source("", str(path)),
                        hint="save the array with numpy.save") from None


def _origin(source):
    return "a dict" if isinstance(source, Mapping) else str(source)


def _merge(parts):
    out, origin = {}, {}
    for where, data in parts:
        for name, value in data.items():
            if name in out:
                raise DataError(f"'{name}' is given twice, in {origin[name]} and in {where}",
                                hint=f"give '{name}' in one data file only")
            out[name], origin[name] = value, where
    return out


COLUMN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[\s*(\d+(?:\s*,\s*\d+)*)\s*\])?$")
NOT_A_NUMBER = {"", "na", "nan", "null", "none"}


def load_csv(path: str | Path) -> dict:
    """Read a CSV data file: a header row of names, then one row per observation. Each column
    becomes a vector; columns `X[0]`, `X[1]`, ... become the columns of a matrix `X` (and
    `X[i,j]` an array of three axes), as in the draws files `ppl fit --draws` writes."""
    path = Path(path)
    text = read_text(path, MAX_FILE_BYTES, "data", DataError, hint=SPLIT)
    source = Source(text, str(path))
    rows = _rows(text, source)
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows:
        raise DataError("the CSV file is empty", source=source,
                        hint="the first row names the columns, such as: x,y; then one row per observation")
    header = [cell.strip() for cell in rows[0]]
    columns = _columns(header, source)
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"this row has {len(row)} field{'s' * (len(row) != 1)}, but the header names "
                            f"{len(header)} columns", Span(line, 1, line, len(source.line(line)) + 1), source,
                            hint="every row needs one value per column; a CSV file cannot hold ragged arrays")
    body = rows[1:]
    return {name: _assemble(parts, body) for name, parts in columns.items()}


def _rows(text, source):
    """The CSV file's rows; what the reader refuses (a field over csv.field_size_limit()
    characters, a stray carriage return) is an error at its line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as err:
        line = max(1, reader.line_num)
        raise DataError(f"not a CSV file ppl can read: {err}", Span(line, 1, line, 2), source,
                        hint="each line is a row of short cells separated by commas") from None


def _columns(header, source):
    """{name: [(index tuple, column number), ...]}, checking that the header names are usable."""
    columns, seen, col = {}, set(), 1
    for i, cell in enumerate(header):
        span = Span(1, col, 1, col + max(1, len(cell)))
        col += len(cell) + 1
        match = COLUMN.match(cell)
        if not match:
            raise DataError(f"'{brief(cell)}' is not a column name ppl can use", span, source,
                            hint="name columns like the model's data: y, or X[0], X[1] for a matrix")
        name = match.group(1)
        index = () if match.group(2) is None else _index(cell, match.group(2), len(header), span, source)
        if (name, index) in seen:
            raise DataError(f"the column '{brief(cell)}' appears twice", span, source, hint="rename or remove one")
        seen.add((name, index))
        parts = columns.setdefault(name, [])
        if parts and (len(parts[0][0]) != len(index) or not index):
            name = brief(name)
            raise DataError(f"the columns of '{name}' mix different numbers of indices", span, source,
                            hint=f"use either one column '{name}' or columns '{name}[0]', '{name}[1]', ...")
        parts.append((index, i))
    for name, parts in columns.items():
        _check_complete(name, parts, source)
    return columns


MAX_INDICES = 30    # an array has at most 31 axes (numpy's 32, less the particles'), the rows' among them


MAX_INDEX_DIGITS = 18


def _index(cell, text, count, span, source) -> tuple[int, ...]:
    """The indices of column `cell` (`X[1, 2]`, whose `text` is `1, 2`). One of more than
    MAX_INDEX_DIGITS digits is refused before it is converted (it could have thousands): no file
    has that many columns. A smaller one past the file's columns is `_check_complete`'s to report."""
    digits = [k.strip().lstrip("0") or "0" for k in text.split(",")]
    if len(digits) > MAX_INDICES:
        raise DataError(f"the column '{brief(cell)}' has {len(digits)} indices; an array of data has at most "
                        f"{MAX_INDICES} besides its rows", span, source, hint="give fewer indices")
    for k in digits:
        if len(k) > MAX_INDEX_DIGITS:
            raise DataError(f"the column '{brief(cell)}' has an index of {len(k):,} digits, and this file "
                            f"has {count:,} column{'s' * (count != 1)}", span, source,
                            hint="number the columns of an array from 0: X[0], X[1], ...")
    return tuple(int(k) for k in digits)


def _check_complete(name, parts, source):
    if not parts[0][0]:
        return
    shape = tuple(max(ix[k] for ix, _ in parts) + 1 for k in range(len(parts[0][0])))
    have = {ix for ix, _ in parts}
    if len(have) < math.prod(shape):    # then one is missing among the first len(have) + 1
        ix = next(ix for ix in map(_nth, range(len(have) + 1), itertools.repeat(shape)) if ix not in have)
        name = brief(name)
        raise DataError(f"the columns of '{name}' go up to {at(name, tuple(s - 1 for s in shape))}, but "
                        f"there is no column {at(name, ix)}", Span(1, 1, 1, 2), source,
                        hint=f"give every column of '{name}', numbered from 0")


def _nth(n: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The `n`th index of an array of `shape`, counting row by row (Python's integers: no overflow)."""
    out = []
    for size in reversed(shape):
        n, k = divmod(n, size)
        out.append(k)
    return tuple(reversed(out))


def _assemble(parts, body):
    """A column as a list; matrix columns as nested lists, rows first."""
    if not parts[0][0]:
        return [_cell(row[parts[0][1]]) for row in body]
    shape = tuple(max(ix[k] for ix, _ in parts) + 1 for k in range(len(parts[0][0])))
    out = onp.empty((len(body),) + shape, dtype=object)
    for ix, col in parts:
        out[(slice(None),) + ix] = [_cell(row[col]) for row in body]
    return out.tolist()


def _cell(text):
    """A CSV cell as a number where it is one; an empty or NA cell is nan (reported as missing);
    anything else stays text, for `bind` to report with the variable's declaration."""
    text = text.strip()
    if text.lower() in NOT_A_NUMBER:
        return float("nan")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def at(name: str, path: tuple[int, ...]) -> str:
    """`y[1, 0]`: an element named as the language indexes it."""
    return name + (f"[{', '.join(map(str, path))}]" if path else "")


def kind(raw: object) -> str:
    """What a raw value is, for an error: `the text 'a'`, `a list`, ..."""
    if isinstance(raw, str):
        return f"the text {raw!r}"
    if raw is None:
        return "null"
    if isinstance(raw, dict):
        return "an object"
    if isinstance(raw, (list, tuple)):
        return "a list"
    return f"a value of type {type(raw).__name__}"
