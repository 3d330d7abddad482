"""A fit's complete state on disk, to continue it later exactly where it stopped.

Stored as a NumPy `.npz` archive: arrays as themselves, everything else (step counters, the random
generator's state, traces) as one JSON document. No pickle: loading a checkpoint cannot run code.
Written through a temporary file and a rename, so an interrupted write leaves the old file intact.
"""
from __future__ import annotations

import hashlib
import io
import json
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


def load(path: str | Path, parts: dict, rng: onp.random.Generator, print_: str) -> None:
    """Restore `parts` and the generator from `path`, checking it belongs to this fit."""
    path = Path(path)
    try:
        with onp.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["__meta__"].tobytes())
            arrays = {k: archive[k] for k in archive.files if k != "__meta__"}
    except (OSError, ValueError, KeyError) as err:
        raise PPLError(f"cannot read checkpoint {path}: {err}", hint="pass a file written by --checkpoint") from None
    if meta.get("format") != FORMAT or meta.get("fingerprint") != print_:
        raise PPLError(f"checkpoint {path} belongs to another model, data set or set of options",
                       hint="resume with exactly the model, data and options that wrote it")
    for name, obj in parts.items():
        for attr, value in meta[name].items():
            if isinstance(value, dict) and "deque" in value:
                value = deque(value["deque"], maxlen=value["maxlen"])
            elif isinstance(value, dict) and "arrays" in value:
                value = [arrays[f"{name}.{attr}.{i}"] for i in range(value["arrays"])]
            setattr(obj, attr, value)
        for key, value in arrays.items():
            component, _, attr = key.partition(".")
            if component == name and "." not in attr:
                setattr(obj, attr, value)
    rng.bit_generator.state = meta["rng"]


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
