"""The long fuzz run: the generators of tests/test_fuzz.py driven by a seeded random.Random.

    python bench/fuzz.py [--cases 100000] [--seed 0] [--timeout 10] [--show 5]

Each case is one of: a mutated program (a bundled model or a golden error case, bound to its data
when it compiles), a random token stream, a random data document bound to a bundled model, a
JSON or CSV data file read and bound, a model file (a mutated program, at times with bytes no
text file holds) loaded; a result file (a short fit's `--out`, changed) given to `ppl plot`,
`ppl sample --fit` or `ppl gradcheck --params`; or a checkpoint (a short fit's, changed) resumed.
It prints the count of each outcome (compiled, bound, each
PPLError kind and the phase it came from, crash, hang) and the first few crashes with their input.
The exit status is 1 when anything crashed or hung. Run from the repository root (with its
`test` extra installed), or with PYTHONPATH pointing at it.
"""
from __future__ import annotations

import argparse
import collections
import random
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_fuzz as fz  # noqa: E402  (the generators live beside the property-based tests)


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` of a case swallows it."""


def _alarm(signum, frame):
    raise Hang()


def one_case(rnd):
    """(family, outcome, input) for one random case; outcome 'crash: ...' on a crash."""
    roll = rnd.random()
    if roll < 0.3:
        _, text, data = rnd.choice(fz.SEEDS)
        text = fz.mutate(rnd, text)
        return "mutated program", lambda: fz.run_case(text, data), (text, data)
    if roll < 0.42:
        text, data = fz.program(rnd)
        return "generated program", lambda: fz.run_case(text, data), (text, data)
    if roll < 0.54:
        text = fz.token_stream(rnd)
        return "token stream", lambda: fz.run_case(text), (text, None)
    if roll < 0.56:
        raw = fz.byte_edit(rnd, fz.mutate(rnd, rnd.choice(fz.SEEDS)[1]))
        return "model file", lambda: fz.run_model_file(raw), (raw, None)
    if roll < 0.82:
        return _data_case(rnd, roll)
    if roll < 0.92:
        model, base = rnd.choice(fz.results())
        raw = fz.result_bytes(rnd, fz.result_document(rnd, base))
        command = "plot" if rnd.random() < 0.02 else rnd.choice(["sample", "gradcheck"])
        return f"result file ({command})", lambda: fz.run_result(raw, model, command), (raw, model)
    model, optimizer, archive = rnd.choice(fz.checkpoints())
    raw = fz.checkpoint_archive(rnd, archive)
    resume = lambda: fz.run_checkpoint(model, optimizer, raw)     # noqa: E731
    return f"checkpoint ({optimizer})", resume, (raw, model.source.filename)


def _data_case(rnd, roll):
    name, text, base = rnd.choice(fz.MODELS)
    model = fz.compiled(name, text)
    decls = fz.declarations(model)
    if roll < 0.74:
        doc = fz.data_document(rnd, decls, base if rnd.random() < 0.7 else None)
        return "data document", lambda: fz.run_case(text, doc), (text, doc)
    if roll < 0.78:
        body = fz.byte_edit(rnd, fz.json_text(rnd, fz.data_document(rnd, decls, base, python=False)))
        return "JSON file", lambda: fz.run_file(body, ".json", model), (text, body)
    body = fz.byte_edit(rnd, fz.csv_text(rnd, decls))
    return "CSV file", lambda: fz.run_file(body, ".csv", model), (text, body)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as a hang")
    ap.add_argument("--show", type=int, default=5, help="crashes to print in full")
    args = ap.parse_args(argv)
    rnd = random.Random(args.seed)
    outcomes, families, crashes, slowest = collections.Counter(), collections.Counter(), [], (0.0, None)
    signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    for n in range(args.cases):
        family, run, given = one_case(rnd)
        families[family] += 1
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            outcome = run()
        except fz.Crash as err:
            outcome = f"crash: {err.signature}"
            crashes.append((n, family, str(err), given))
        except Hang:
            outcome = "hang"
            crashes.append((n, family, f"no answer within {args.timeout} s", given))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.perf_counter() - t0
        if took > slowest[0]:
            slowest = (took, given)
        outcomes[outcome] += 1
        if (n + 1) % 10_000 == 0:
            print(f"  {n + 1:,} cases, {time.perf_counter() - start:.0f} s, {len(crashes)} crashes",
                  file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    per_case = 1e3 * elapsed / max(1, args.cases)
    print(f"{args.cases:,} cases, seed {args.seed}, {elapsed:.1f} s ({per_case:.2f} ms a case)")
    print("families: " + ", ".join(f"{k} {v:,}" for k, v in families.most_common()))
    for outcome, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {outcome:32s} {count:>8,}")
    print(f"slowest case: {slowest[0]:.2f} s")
    for n, family, what, (text, data) in crashes[:args.show]:
        print(f"\n--- case {n} ({family}): {what}\n{text!r:.3000}\ndata: {str(data)[:500]!r}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
