"""A fit's complete state on disk, to continue it later exactly where it stopped.

Stored as a NumPy `.npz` archive: arrays as themselves, everything else (step counters, the random
generator's state, traces) as one JSON document. No pickle: loading a checkpoint cannot run code.
Written through a temporary file and a rename, so an interrupted write leaves the old file intact.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import deque
from pathlib import Path

import numpy as onp

from ..front.errors import PPLError
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


def load(path: str | Path, parts: dict, rng: onp.random.Generator, print_: str, limit: int) -> None:
    """Restore `parts` and the generator from `path`, checking it belongs to this fit.

    A checkpoint is untrusted input: before anything is decompressed, every member's declared
    size must be within `limit` bytes (the caller's bound on one array of this fit's state) and
    the JSON part within MAX_META_BYTES; then the fingerprint must match; then every field must
    have the type, and every array the shape, of the state it replaces (`parts` as they are
    now, before loading), with counters that are not negative and numbers that are finite."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                bound = MAX_META_BYTES if info.filename == "__meta__.npy" else limit
                if info.file_size > bound:
                    raise _tampered(path, f"its member {info.filename} would expand to {info.file_size:,} bytes")
        with onp.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["__meta__"].tobytes())
            if not isinstance(meta, dict):
                raise _tampered(path, "its description is not a JSON object")
            if meta.get("format") != FORMAT or meta.get("fingerprint") != print_:
                raise PPLError(f"checkpoint {path} belongs to another model, data set or set of options",
                               hint="resume with exactly the model, data and options that wrote it")
            arrays = {k: archive[k] for k in archive.files if k != "__meta__"}
    except (OSError, ValueError, KeyError, RecursionError, zipfile.BadZipFile, EOFError) as err:
        raise PPLError(f"cannot read checkpoint {path}: {err}", hint="pass a file written by --checkpoint") from None
    restored = {name: _restored(path, name, obj, meta.get(name), arrays) for name, obj in parts.items()}
    known = {f"{name}.{attr}" for name, values in restored.items() for attr in values}
    odd = [key for key in arrays if key not in known and key.rsplit(".", 1)[0] not in known]
    if odd:
        raise _tampered(path, f"it holds an array '{odd[0]}' that no part of the fit has")
    try:
        rng.bit_generator.state = meta["rng"]
    except (KeyError, TypeError, ValueError) as err:
        raise _tampered(path, f"its random generator's state is not one ({err})") from None
    for name, obj in parts.items():
        for attr, value in restored[name].items():
            setattr(obj, attr, value)


def _restored(path, name, obj, saved, arrays) -> dict:
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
        out[attr] = _checked(path, key, value, template)
    extra = set(saved) - set(state)
    if extra:
        raise _tampered(path, f"it has a field '{name}.{sorted(extra)[0]}' that the fit does not")
    return out


def _checked(path, key, value, template):
    """`value` if it can stand for `template` (the state as it is now), else an error."""
    if isinstance(template, onp.ndarray) or (template is None and isinstance(value, onp.ndarray)):
        return _array(path, key, value, template)
    if isinstance(template, bool) or isinstance(value, bool):
        if type(value) is not type(template) and template is not None:
            raise _tampered(path, f"'{key}' is {value!r}, not a truth value")
        return value
    if isinstance(template, int) and not isinstance(template, bool):
        if not isinstance(value, int) or value < 0:
            raise _tampered(path, f"'{key}' is {value!r}, not a count")
        return value
    if isinstance(template, float):
        if not isinstance(value, (int, float)):
            raise _tampered(path, f"'{key}' is {value!r}, not a number")
        return float(value)
    if isinstance(template, (list, deque)) and isinstance(value, (list, deque)):
        if any(isinstance(v, onp.ndarray) for v in value):
            shape = next((onp.shape(v) for v in template if isinstance(v, onp.ndarray)), None)
            return [_array(path, key, v, onp.zeros(shape) if shape else None) for v in value]
        if not all(_plain_value(v) for v in value):
            raise _tampered(path, f"'{key}' holds something that is not a number")
        return value
    if template is None or isinstance(template, (dict, str)):
        if template is not None and type(value) is not type(template):
            raise _tampered(path, f"'{key}' is {type(value).__name__}, not {type(template).__name__}")
        return value
    raise _tampered(path, f"'{key}' is {type(value).__name__}, not {type(template).__name__}")


def _array(path, key, value, template):
    if not isinstance(value, onp.ndarray) or value.dtype.kind not in "fi":
        raise _tampered(path, f"'{key}' is not an array of numbers")
    if template is not None and value.shape != onp.shape(template):
        raise _tampered(path, f"'{key}' has shape {value.shape}, not {onp.shape(template)}")
    if template is None and value.ndim > 1:
        raise _tampered(path, f"'{key}' has shape {value.shape}, not a vector")
    if value.dtype.kind == "f" and onp.isnan(value).any():
        raise _tampered(path, f"'{key}' holds NaN")
    return value


def _deque(path, key, value, template):
    maxlen = value.get("maxlen")
    items = value.get("deque")
    if not isinstance(items, list) or maxlen != getattr(template, "maxlen", None) or len(items) > (maxlen or 0):
        raise _tampered(path, f"'{key}' is not a window of at most {getattr(template, 'maxlen', 0)} numbers")
    return deque(items, maxlen=maxlen)


def _plain_value(v) -> bool:
    """A JSON value a fit's lists hold: a number (or None for a skipped step), a dict or a list of them."""
    if v is None or isinstance(v, (int, float, str)):
        return True
    if isinstance(v, dict):
        return all(_plain_value(x) for x in v.values())
    if isinstance(v, list):
        return all(_plain_value(x) for x in v)
    return False


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
