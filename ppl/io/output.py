"""What the command line shows and writes: the summary table, and files written atomically
(result JSON, draws and trace CSV, plots)."""
from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as onp

from ..front.errors import PPLError, Source

MAX_ROWS = 12       # elements of one vector shown before the table elides the rest
MODES = {"vi": "variational inference", "mle": "maximum likelihood", "optimize": "stochastic optimization",
         "prior": "nothing to fit (draw from its prior)"}      # a mode, in modelling words


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write `text` (or bytes) to `path` through a temporary file and a rename: never half a file.

    A symbolic link is followed: its target is replaced, the link stays (a link to nothing is
    refused). A character device or a named pipe (`/dev/null`, a FIFO) is written in place, as it
    is, since a rename would replace it with a regular file; any other file that is not a
    regular one (a folder, a socket, a block device) is refused."""
    path = Path(path)
    try:
        if path.is_symlink():
            if not path.exists():
                raise PPLError(f"cannot write {path}: it is a symbolic link to {os.readlink(path)}, which does not "
                               "exist", hint="give the file itself, or create the file the link points to",
                               source=Source("", str(path)))
            path = path.resolve()
        kind = path.stat().st_mode if path.exists() else None
        if kind is not None and (stat.S_ISCHR(kind) or stat.S_ISFIFO(kind)):
            with open(path, "wb" if isinstance(text, bytes) else "w") as f:
                f.write(text)
            return
        if kind is not None and not stat.S_ISREG(kind):
            what = "a folder" if stat.S_ISDIR(kind) else "not a regular file"
            raise PPLError(f"cannot write {path}: it is {what}", hint="give the path of a file",
                           source=Source("", str(path)))
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(tmp, 0o666 & ~_umask())       # mkstemp's 0600 would hide the file from others
            with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as err:
        raise PPLError(f"cannot write {path}: {err.strerror}", hint="check that the folder exists and is writable",
                       source=Source("", str(path))) from None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, value: object) -> None:
    write_atomic(path, json.dumps(value, indent=1) + "\n")


def label(name: str, index: tuple[int, ...]) -> str:
    """`name`, `name[i]` or `name[i,j]`: one element, as the draws files and the table name it."""
    return name + (f"[{','.join(map(str, index))}]" if index else "")


def draw_columns(draws: dict) -> list:
    """[(label, column of draws)]: one column per element, in row-major order per name."""
    out = []
    for name, values in draws.items():
        values = onp.asarray(values)
        for index in onp.ndindex(values.shape[1:]):
            out.append((label(name, index), values[(slice(None),) + index]))
    return out


def draws_csv(draws: dict) -> str:
    """One column per element (`name`, `name[i]`, `name[i,j]`), one row per draw; numbers in
    full precision, integers as integers."""
    columns = draw_columns(draws)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([h for h, _ in columns])
    writer.writerows(zip(*(c.tolist() for _, c in columns)))
    return buffer.getvalue()


def trace_csv(trace: Iterable[float]) -> str:
    """`step,objective`: one row per step (from 1); `nan` for a skipped step."""
    lines = ["step,objective"] + [f"{t},{v!r}" for t, v in enumerate(map(float, trace), start=1)]
    return "\n".join(lines) + "\n"


def table(fit: object) -> str:
    """The summary of a fit: objective, params, then a row per latent/deterministic element."""
    lines, head, rows = table_parts(fit)
    if head:
        lines.append(layout(head, rows, len(head) - 2))
    return "\n".join(line.rstrip() for line in lines)


def table_parts(fit: object) -> tuple[list[str], list[str], list[list[str]]]:
    """(the lines above the table, its head, its rows) of `table`: what a notebook shows too."""
    o = fit.objective
    batch = f"minibatches of {fit.batch_size}, " if getattr(fit, "batch_size", None) else ""
    c = fit.convergence or {}
    if c.get("method") == "lbfgs":
        draws = c["draws"][-1]
        how = f"{fit.steps} L-BFGS iterations, {draws} fixed draw{'s' * (draws != 1)}"
    else:
        how = f"{fit.steps} steps, {fit.particles} particle{'s' * (fit.particles != 1)}"
    lines = [f"{fit.mode}: {how}, {batch}seed {fit.seed}; {o['name']} = {o['value']:.6g} ± {o['stderr']:.2g}"]
    if fit.convergence:
        lines.append(verdict(fit.convergence, o["name"]))
    if fit.skipped:
        lines.append(f"warning: {fit.skipped} steps had a non-finite objective or gradient and were skipped")
    for name, value in fit.params.items():
        lines.append(f"param {name} = {_fmt_value(value)}")
    check = getattr(fit, "psis", None)
    if check is not None:
        lines.append(psis_line(check))
    if not fit.latents:
        return lines, [], []
    weighted = check["latents"] if check is not None else None
    if weighted:
        summaries = {k: {**v, "psis_mean": weighted[k]["mean"], "psis_sd": weighted[k]["sd"]}
                     for k, v in fit.latents.items()}
        return lines, *summary_cells(summaries, fit.estimators, columns=FIT_STATS + ("psis_mean", "psis_sd"))
    return lines, *summary_cells(fit.latents, fit.estimators, columns=FIT_STATS)


def psis_line(check: dict) -> str:
    """The importance-weighting check in one line (see `ppl.infer.importance`)."""
    k = "not finite" if check["k_hat"] is None else f"{check['k_hat']:.2f}"
    meaning = {"good": "the guide is close to the posterior", "ok": "the guide is usable, the weighted columns better",
               "bad": "the guide is far from the posterior"}[check["verdict"]]
    weighted = "; importance-weighted means and sds in psis_mean, psis_sd" if check["latents"] else ""
    return (f"pareto k-hat {k} ({meaning}; effective sample size {check['ess']:.0f} of {check['draws']} "
            f"draws){weighted}")


STATS = ("mean", "sd", "q05", "q50", "q95")
FIT_STATS = ("mean", "mcse_mean", "sd", "q05", "q50", "q95")    # a fit's: the Monte Carlo error of each mean too


def verdict(c: dict, name: str) -> str:
    """A fit's convergence verdict (`Fit.convergence`) in one line."""
    if c.get("method") == "lbfgs":
        return _verdict_fixed(c)
    if c["rel_change_mean"] is None:
        return f"convergence: not judged (too few windows of {c['window']} steps)"
    verdict = "converged" if c["converged"] else "not converged"
    stop = f", stopped early after {len(c['smoothed']) * c['window']} of {c['max_steps']} steps" \
        if c.get("stopped_early") else ""
    extra = ""
    if c.get("trend") is not None:
        extra = f"; trend {c['trend']['t']:.1f} se"
    if c.get("movement") is not None:
        extra += f"; parameters moved {c['movement']['max']:.2g} of their scale"
    return (f"{verdict}: relative change of the smoothed {name} {c['rel_change_mean']:.2g} (mean), "
            f"{c['rel_change_median']:.2g} (median) over the last {c['history']} windows of {c['window']} "
            f"steps; tolerance {c['tol']:g}{extra}{stop}")


def _verdict_fixed(c) -> str:
    verdict = "converged" if c["converged"] else "not converged"
    draws = " -> ".join(map(str, c["draws"]))
    moved = f"; the optimum moved {c['drops'][-1]:.2g} nats when the draws doubled (stable below " \
            f"{c['stable_drop']:.2g})" if c["drops"] else ""
    starts = ""
    if c.get("optima"):
        n = len(c["optima"])
        starts = f"; {c['starts']} starting points reached {n} optim{'um' if n == 1 else 'a'}"
    return (f"{verdict}: L-BFGS, {c['iterations']} iterations on {draws} fixed draws, gradient "
            f"{c['gradient']:.2g}{moved}{starts}")


def summary_table(summaries: dict, labels: dict | None = None, label_head: str = "estimator",
                  columns: tuple[str, ...] = STATS) -> str:
    """A row per element of each summary ({name: {"mean": ..., ...}}), a column per key in
    `columns`; `labels` adds a last column."""
    return layout(*summary_cells(summaries, labels, label_head, columns), len(columns))


def summary_cells(summaries: dict, labels: dict | None = None, label_head: str = "estimator",
                  columns: tuple[str, ...] = STATS) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of `summary_table`: each a list of cells; a one-cell row is an elision."""
    head = ["name", *columns] + ([label_head] if labels is not None else [])
    rows = []
    for name, s in summaries.items():
        rows += [r[:len(head)] for r in
                 _rows(name, s, columns, "" if labels is None else labels.get(name, "deterministic"))]
    return head, rows


def layout(head: list[str], rows: list[list[str]], numbers: int) -> str:
    """Cells in aligned columns: the `numbers` after the first right-aligned, the rest left."""
    cells = [r for r in [head] + rows if len(r) > 1]      # a one-cell row (an elision) spans the table
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = [r[0] if len(r) == 1 else
             "  ".join(c.rjust(w) if 0 < i <= numbers else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [head] + rows]
    return "\n".join(line.rstrip() for line in lines)


def _rows(name, s, columns, estimator):
    mean = onp.asarray(s["mean"])
    if mean.ndim == 0:
        return [[name, *(_num(s[k]) for k in columns), estimator]]
    rows = []
    for count, index in enumerate(onp.ndindex(mean.shape)):
        if count == MAX_ROWS:
            rows.append([f"... {mean.size - MAX_ROWS} more elements of {name} (every element: --draws FILE)"])
            break
        rows.append([label(name, index), *(_num(onp.asarray(s[k])[index]) for k in columns), estimator])
    return rows


def _num(x):
    return f"{float(x):.4g}"


def _fmt_value(value):
    value = onp.asarray(value)
    return _num(value) if value.ndim == 0 else onp.array2string(value, precision=4, threshold=12)


def gradcheck_table(check: dict[str, dict], draws: int, particles: int) -> str:
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
