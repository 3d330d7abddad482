"""A fit's complete state on disk, to continue it later exactly where it stopped.

Stored as a NumPy `.npz` archive: arrays as themselves, everything else (step counters, the random
generator's state, traces) as one JSON document. No pickle: loading a checkpoint cannot run code.
Written through a temporary file and a rename, so an interrupted write leaves the old file intact.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections import deque
from pathlib import Path

import numpy as onp

from ..front.errors import PPLError, brief
from ..io.bounded import open_regular
from ..io.output import write_atomic

FORMAT = 3


def fingerprint(source: str, data: dict, options: dict) -> str:
    """What a checkpoint may only be resumed with: the model text, its data, and the options."""
    digest = hashlib.sha256(source.encode())
    digest.update(json.dumps(_plain(data), sort_keys=True, default=str).encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def save(path: str | Path, parts: dict, rng: onp.random.Generator, print_: str) -> None:
    """Write `parts` ({component: object whose attributes are the state; a name beginning with
    `_` is not state}) and the generator."""
    arrays, meta = {}, {"format": FORMAT, "fingerprint": print_, "rng": rng.bit_generator.state}
    for name, obj in parts.items():
        meta[name] = {}
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, onp.ndarray):
                arrays[f"{name}.{attr}"] = value
            elif isinstance(value, list) and any(isinstance(v, onp.ndarray) for v in value):
                for i, v in enumerate(value):
                    arrays[f"{name}.{attr}.{i}"] = onp.asarray(v)
                meta[name][attr] = {"arrays": len(value)}
            else:
                meta[name][attr] = {"deque": list(value), "maxlen": value.maxlen} if isinstance(value, deque) \
                    else _plain(value)
    buffer = io.BytesIO()
    onp.savez(buffer, __meta__=onp.frombuffer(json.dumps(meta).encode(), dtype=onp.uint8), **arrays)
    write_atomic(path, buffer.getvalue())


MAX_META_BYTES = 256 << 20       # the JSON part of a checkpoint (counters, traces, generator states)


def load(path: str | Path, parts: dict, rng: onp.random.Generator, print_: str, limit: int,
         fixed: tuple[str, ...] = ()) -> None:
    """Restore `parts` and the generator from `path`, checking it belongs to this fit.

    A checkpoint is untrusted input: before anything is decompressed, every member's declared
    size must be within `limit` bytes (the caller's bound on one array of this fit's state) and
    the JSON part within MAX_META_BYTES; then the fingerprint must match; then every field must
    have the type, and every array the shape, of the state it replaces (`parts` as they are
    now, before loading), with counters that are not negative and numbers that are finite; and
    the `fixed` fields (`part.attr`: settings the fit derives from its options, which the
    fingerprint covers) must hold the values they have now."""
    path = Path(path)
    with open_regular(path, "checkpoint") as f:      # one file, whose size is known: not a device or a pipe
        meta, arrays = _read(path, f, print_, limit)
    shapes = {v.shape for obj in parts.values() for v in vars(obj).values() if isinstance(v, onp.ndarray)}
    vector = shapes.pop() if len(shapes) == 1 else None     # every array of a fit is a vector of its parameters
    restored = {name: _restored(path, name, obj, meta.get(name), arrays, vector) for name, obj in parts.items()}
    known = {f"{name}.{attr}" for name, values in restored.items() for attr in values}
    odd = [key for key in arrays if key not in known and key.rsplit(".", 1)[0] not in known]
    if odd:
        raise _tampered(path, f"it holds an array '{odd[0]}' that no part of the fit has")
    for key in fixed:
        name, attr = key.split(".")
        if restored[name][attr] != getattr(parts[name], attr):
            raise _tampered(path, f"'{key}' is {brief(repr(restored[name][attr]))}, but this fit's is "
                                  f"{brief(repr(getattr(parts[name], attr)))}")
    rng.bit_generator.state = _generator(path, "rng", meta.get("rng"), rng.bit_generator.state)
    for name, obj in parts.items():
        for attr, value in restored[name].items():
            setattr(obj, attr, value)
        why = obj.inconsistent() if hasattr(obj, "inconsistent") else None   # fields that must agree
        if why:
            raise _tampered(path, f"'{name}' {why}")


def _read(path, f, print_, limit) -> tuple[dict, dict]:
    """(the JSON part, {name: array}) of the archive open as `f`, each member's size checked
    against its bound before it is decompressed, and the fingerprint before the arrays are read."""
    try:
        with zipfile.ZipFile(f) as archive:
            for info in archive.infolist():
                bound = MAX_META_BYTES if info.filename == "__meta__.npy" else limit
                if info.file_size > bound:
                    raise _tampered(path, f"its member {info.filename} would expand to {info.file_size:,} bytes")
        f.seek(0)
        with onp.load(f, allow_pickle=False) as archive:
            meta = json.loads(archive["__meta__"].tobytes())
            if not isinstance(meta, dict):
                raise _tampered(path, "its description is not a JSON object")
            if meta.get("format") != FORMAT or meta.get("fingerprint") != print_:
                raise PPLError(f"checkpoint {path} belongs to another model, data set or set of options",
                               hint="resume with exactly the model, data and options that wrote it")
            return meta, {k: archive[k] for k in archive.files if k != "__meta__"}
    except (OSError, ValueError, KeyError, RecursionError, zipfile.BadZipFile, EOFError, NotImplementedError,
            RuntimeError, zlib.error, struct.error) as err:         # what zipfile and numpy raise on a bad archive
        raise PPLError(f"cannot read checkpoint {path}: {err}", hint="pass a file written by --checkpoint") from None


def _restored(path, name, obj, saved, arrays, vector) -> dict:
    """{attribute: value} of part `name` from a checkpoint, each checked against `obj`'s own."""
    if not isinstance(saved, dict):
        raise _tampered(path, f"it has no state for '{name}'")
    state = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    out = {}
    for attr, template in state.items():
        key = f"{name}.{attr}"
        if key in arrays:
            value = arrays[key]
        elif attr in saved:
            value = saved[attr]
            if isinstance(value, dict) and "deque" in value:
                value = _deque(path, key, value, template)
            elif isinstance(value, dict) and "arrays" in value:
                count = value["arrays"]
                if not isinstance(count, int) or not 0 <= count <= len(arrays):
                    raise _tampered(path, f"'{key}' names {count!r} arrays")
                value = [arrays.get(f"{key}.{i}") for i in range(count)]
                if any(v is None for v in value):
                    raise _tampered(path, f"'{key}' misses one of its arrays")
        else:
            raise _tampered(path, f"it has no value for '{key}'")
        out[attr] = _checked(path, key, value, template, vector)
    extra = set(saved) - set(state)
    if extra:
        raise _tampered(path, f"it has a field '{name}.{sorted(extra)[0]}' that the fit does not")
    return out


def _checked(path, key, value, template, vector):
    """`value` if it can stand for `template` (the state as it is now), else an error. `vector`
    is the shape of the fit's parameter vector, which an array the fit has not made yet has."""
    if isinstance(template, onp.ndarray):
        return _array(path, key, value, template.shape, template.dtype)
    if template is None:                       # not made yet: an array, a verdict, a report
        return _unset(path, key, value, vector)
    if isinstance(template, bool):
        if not isinstance(value, bool):
            raise _tampered(path, f"'{key}' is {brief(repr(value))}, not a truth value")
        return value
    if isinstance(template, int):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _tampered(path, f"'{key}' is {brief(repr(value))}, not a count")
        return value
    if isinstance(template, float):
        if not _number(value):
            raise _tampered(path, f"'{key}' is {brief(repr(value))}, not a number")
        return float(value)
    if isinstance(template, tuple):            # a fixed layout, such as a parameter's slice
        if value != list(template):
            raise _tampered(path, f"'{key}' is {brief(repr(value))}, not {list(template)}")
        return template
    if isinstance(template, (list, deque)) and isinstance(value, (list, deque)):
        items = _items(path, key, value, template, vector)
        return deque(items, maxlen=template.maxlen) if isinstance(template, deque) else items
    if isinstance(template, dict) and "bit_generator" in template:
        return _generator(path, key, value, template)
    if isinstance(template, dict) and isinstance(value, dict):
        if template and set(value) != set(template):
            raise _tampered(path, f"'{key}' has the keys {brief(repr(sorted(map(str, value))))}, not "
                                  f"{brief(repr(sorted(template)))}")
        return {k: _checked(path, f"{key}.{k}", v, template.get(k), vector) for k, v in value.items()}
    if isinstance(template, str) and isinstance(value, str):
        return value
    raise _tampered(path, f"'{key}' is {type(value).__name__}, not {type(template).__name__}")


def _items(path, key, value, template, vector):
    """A list of the state: arrays (of the template's arrays' shape, else the parameters'), or
    items like the template's first (numbers, generator states, ...), or numbers (NaN for a
    skipped step; JSON's null never stands for one here) when the template is empty. A list of one number per score site (the
    baselines) keeps its length, and its items may have become arrays of the site's elements."""
    first = template[0] if len(template) else None
    per_site = isinstance(first, float)
    if per_site and len(value) != len(template):
        raise _tampered(path, f"'{key}' has {len(value)} items, not {len(template)}")
    if any(isinstance(v, onp.ndarray) for v in value) or isinstance(first, onp.ndarray):
        shape = None if per_site else first.shape if isinstance(first, onp.ndarray) else vector
        return [v if per_site and _number(v) else _array(path, key, v, shape, onp.float64) for v in value]
    if first is not None:
        return [_checked(path, key, v, first, vector) for v in value]
    if not all(_number(v) for v in value):
        raise _tampered(path, f"'{key}' holds something that is not a number")
    return value


def _unset(path, key, value, vector):
    """A part of the state the fit had not made when the checkpoint was read: None, an array of
    the parameters' shape, a verdict (text), or a report of numbers and names."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, onp.ndarray):
        return _array(path, key, value, vector, onp.float64)
    if isinstance(value, dict) and all(isinstance(v, str) or _number(v) for v in value.values()):
        return value
    raise _tampered(path, f"'{key}' is {type(value).__name__}, not an array, a verdict or a report")


def _array(path, key, value, shape, dtype):
    """An array of the state: of `dtype`, of `shape` (None: any shape), every number finite."""
    if not isinstance(value, onp.ndarray) or value.dtype != dtype:
        raise _tampered(path, f"'{key}' is not an array of {onp.dtype(dtype).name} numbers")
    if shape is not None and value.shape != shape:
        raise _tampered(path, f"'{key}' has shape {value.shape}, not {shape}")
    if not onp.isfinite(value).all():
        raise _tampered(path, f"'{key}' holds NaN or an infinity")
    return value


BIT_GENERATORS = {g.__name__: g for g in (onp.random.PCG64, onp.random.PCG64DXSM, onp.random.MT19937,
                                          onp.random.Philox, onp.random.SFC64)}


def _generator(path, key, value, template) -> dict:
    """`value` once a new generator of the kind of `template` (a state) takes it as its state."""
    try:
        BIT_GENERATORS[template["bit_generator"]]().state = value
    except (KeyError, TypeError, ValueError, OverflowError) as err:
        raise _tampered(path, f"'{key}' is not a random generator's state ({brief(str(err))})") from None
    return value


def _deque(path, key, value, template):
    maxlen = value.get("maxlen")
    items = value.get("deque")
    if not isinstance(items, list) or maxlen != getattr(template, "maxlen", None) or len(items) > (maxlen or 0):
        raise _tampered(path, f"'{key}' is not a window of at most {getattr(template, 'maxlen', 0)} numbers")
    return deque(items, maxlen=maxlen)


def _number(v) -> bool:
    """A finite-range real of JSON (NaN stands for a skipped step): not a truth value, not an
    integer too large to be a float."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return isinstance(v, float) or abs(v) < 2 ** 1023


def array_limit(size: int) -> int:
    """The most bytes one array of the state of a fit with `size` parameters can take (with room
    to spare: a per-element baseline, a window of parameter means)."""
    return 64 * (size + 1024)


def _tampered(path, why) -> PPLError:
    return PPLError(f"checkpoint {path} is not one this fit wrote: {why}",
                    hint="pass a file written by --checkpoint, unchanged")


def _plain(value):
    if isinstance(value, onp.memmap) and value.filename:      # a mapped file: named, not read
        stat = Path(value.filename).stat()
        return {"file": str(value.filename), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "shape": list(value.shape), "dtype": str(value.dtype), "offset": int(value.offset)}
    if isinstance(value, onp.ndarray):
        return value.tolist()
    if isinstance(value, (onp.floating, onp.integer)):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
