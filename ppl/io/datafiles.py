"""Reading data files: JSON in Stan's layout, CSV (a column per vector) and NumPy's `.npy`
(memory-mapped), several merged into one; each error names the file, and the line and column
where the text has them. Checking the values against the model's declarations is `data.bind`'s.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as onp

from ..front.errors import DataError, Source, Span

MAX_FILE_BYTES = 2 * 2 ** 30    # a JSON or CSV data file is read whole: 2 GiB at most

EXAMPLE = '{"N": 3, "y": [0.5, 1.2, -0.3]}'


def _read(path: Path) -> str:
    """A data file's text, refusing one too large to read whole."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DataError(f"the data file is {path.stat().st_size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                            source=Source("", str(path)), hint="split it into several --data files, or subsample it")
        return path.read_text()
    except OSError as err:
        raise DataError(f"cannot read data file: {err.strerror}", source=Source("", str(path))) from None


def load_json(path: str | Path) -> dict:
    """Read a data file in Stan's JSON layout: an object from names to numbers or nested lists."""
    path = Path(path)
    text = _read(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        span = Span(err.lineno, err.colno, err.lineno, err.colno + 1)
        raise DataError(f"not valid JSON: {err.msg}", span, Source(text, str(path)),
                        hint=_json_hint(text, err.pos)) from None
    if not isinstance(data, dict):
        raise DataError(f"a data file must hold a JSON object mapping names to values, not {kind(data)}",
                        source=Source(text, str(path)), hint=f"write {EXAMPLE}")
    return data


def _json_hint(text, pos):
    before = text[:pos].rstrip()
    if before.endswith(",") and text[pos:pos + 1] in "]}":
        return "remove the ',' before it: JSON allows no trailing comma"
    return f"a data file is one JSON object, such as {EXAMPLE}"


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
    text = _read(path)
    source = Source(text, str(path))
    rows = list(csv.reader(io.StringIO(text)))
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


def _columns(header, source):
    """{name: [(index tuple, column number), ...]}, checking that the header names are usable."""
    columns, seen, col = {}, set(), 1
    for i, cell in enumerate(header):
        span = Span(1, col, 1, col + max(1, len(cell)))
        col += len(cell) + 1
        match = COLUMN.match(cell)
        if not match:
            raise DataError(f"'{cell}' is not a column name ppl can use", span, source,
                            hint="name columns like the model's data: y, or X[0], X[1] for a matrix")
        if cell.replace(" ", "") in seen:
            raise DataError(f"the column '{cell}' appears twice", span, source, hint="rename or remove one")
        seen.add(cell.replace(" ", ""))
        name, index = match.group(1), match.group(2)
        index = () if index is None else tuple(int(k) for k in index.split(","))
        parts = columns.setdefault(name, [])
        if parts and (len(parts[0][0]) != len(index) or not index):
            raise DataError(f"the columns of '{name}' mix different numbers of indices", span, source,
                            hint=f"use either one column '{name}' or columns '{name}[0]', '{name}[1]', ...")
        parts.append((index, i))
    for name, parts in columns.items():
        _check_complete(name, parts, source)
    return columns


def _check_complete(name, parts, source):
    if not parts[0][0]:
        return
    shape = tuple(max(ix[k] for ix, _ in parts) + 1 for k in range(len(parts[0][0])))
    have = {ix for ix, _ in parts}
    for ix in onp.ndindex(shape):
        if ix not in have:
            raise DataError(f"the columns of '{name}' go up to {at(name, tuple(s - 1 for s in shape))}, but "
                            f"there is no column {at(name, ix)}", Span(1, 1, 1, 2), source,
                            hint=f"give every column of '{name}', numbered from 0")


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
