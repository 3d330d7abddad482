"""What the command line shows and writes: the summary table, and files written atomically."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as onp

from .errors import PPLError

MAX_ROWS = 12       # elements of one vector shown before the table elides the rest


def write_atomic(path, text: str):
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as err:
        raise PPLError(f"cannot write {path}: {err.strerror}", hint="check that the folder exists and is writable") from None


def write_json(path, value):
    write_atomic(path, json.dumps(value, indent=1) + "\n")


def table(fit) -> str:
    """The summary of a fit: objective, params, then a row per latent/deterministic element."""
    o = fit.objective
    lines = [f"{fit.mode}: {fit.steps} steps, {fit.particles} particle{'s' * (fit.particles != 1)}, "
             f"seed {fit.seed}; {o['name']} = {o['value']:.6g} ± {o['stderr']:.2g}"]
    if fit.skipped:
        lines.append(f"warning: {fit.skipped} steps had a non-finite objective or gradient and were skipped")
    for name, value in fit.params.items():
        lines.append(f"param {name} = {_fmt_value(value)}")
    if fit.latents:
        head = ["name", "mean", "sd", "q05", "q50", "q95", "estimator"]
        rows = []
        for name, s in fit.latents.items():
            est = fit.estimators.get(name, "deterministic")
            rows += _rows(name, s, est)
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        lines.append("  ".join(h.rjust(w) if i and i < 6 else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths))))
        for r in rows:
            lines.append("  ".join(c.rjust(w) if i and i < 6 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(line.rstrip() for line in lines)


def _rows(name, s, estimator):
    mean = onp.asarray(s["mean"])
    if mean.ndim == 0:
        return [[name, *(_num(s[k]) for k in ("mean", "sd", "q05", "q50", "q95")), estimator]]
    rows = []
    for count, index in enumerate(onp.ndindex(mean.shape)):
        if count == MAX_ROWS:
            rows.append([f"... {mean.size - MAX_ROWS} more", "", "", "", "", "", ""])
            break
        label = f"{name}[{','.join(map(str, index))}]"
        rows.append([label, *(_num(onp.asarray(s[k])[index]) for k in ("mean", "sd", "q05", "q50", "q95")), estimator])
    return rows


def _num(x):
    return f"{float(x):.4g}"


def _fmt_value(value):
    value = onp.asarray(value)
    return _num(value) if value.ndim == 0 else onp.array2string(value, precision=4, threshold=12)


def gradcheck_table(check, draws, particles) -> str:
    """Per parameter element: mean of the estimates, its standard error, exact gradient, z-score."""
    lines = [f"{draws} estimates of {particles} particle{'s' * (particles != 1)} each",
             f"{'parameter':<16}{'mean':>12}{'stderr':>12}{'exact':>12}{'z':>8}"]
    for name, row in check.items():
        mean = onp.asarray(row["mean"])
        for count, index in enumerate(onp.ndindex(mean.shape)):
            if count == MAX_ROWS:
                lines.append(f"... {mean.size - MAX_ROWS} more")
                break
            label = name + (f"[{','.join(map(str, index))}]" if index else "")
            exact = "n/a" if row["exact"] is None else _num(onp.asarray(row["exact"])[index])
            z = "" if row["z"] is None else f"{float(onp.asarray(row['z'])[index]):.2f}"
            lines.append(f"{label:<16}{_num(mean[index]):>12}{_num(onp.asarray(row['stderr'])[index]):>12}"
                         f"{exact:>12}{z:>8}")
    return "\n".join(lines)
