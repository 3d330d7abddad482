"""Speed benchmark: ppl against Pyro, NumPyro and a hand-written NumPy gradient, side by side.

    PYTHONPATH=. python bench/speed.py            # the full run (about 10 minutes on 2 cores)
    PYTHONPATH=. python bench/speed.py --quick    # a fast check that everything runs (~2 min)
    PYTHONPATH=. python bench/speed.py --profile eight_schools --profile logistic:100000

Measures, in one process (and fresh subprocesses for end-to-end times):

1. import of ppl plus compiling (load + bind) a model, from a fresh process;
2. per-step time (gradient + Adam update) with 1 and 10 particles on four models: a Normal mean,
   logistic regression on scikit-learn's breast-cancer data, eight schools, and the Gaussian
   mixture (score function against Pyro's and NumPyro's TraceGraph_ELBO; enumeration against
   their TraceEnum_ELBO);
3. end-to-end wall time of a 2,000-step fit from process start (imports, compilation included);
4. a scaling table for logistic regression with N = 10^3 ... 10^6 (synthetic data, D = 10, plus
   N = 10^5 at D = 30) and a subsampled row at N = 10^7 (batch 10,000: every framework draws a
   minibatch per step and scales its log-likelihood by N / B);
5. ppl's subsampled steps with the same batch (1,000 and 10,000) at N = 10^4 and N = 10^7, and the
   full step at N = 10^4.

Every measurement is repeated, the frameworks interleaved within each repetition (the machine is
shared and noisy); tables show medians, and a ratio of two frameworks measured together is the
median of the repetitions' ratios. Pyro and NumPyro are optional (the `bench`
extra; NumPyro's enumeration also needs funsor); one that is not installed is skipped with a note.
scikit-learn is required (its bundled breast-cancer data).
"""
from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _threads(argv):
    """--threads N (default 1): set before numpy, torch or jax is imported, and inherited by the
    end-to-end subprocesses. 0 leaves every library's own default."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


THREADS = _threads(sys.argv[1:]) if __name__ == "__main__" else 0
if THREADS:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(THREADS)
    if THREADS == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import frameworks as fw  # noqa: E402

ROOT = fw.ROOT
FRAMEWORKS = ["ppl", "pyro", "numpyro", "numpy"]
NAMES = {"ppl": "ppl", "pyro": "Pyro", "numpyro": "NumPyro", "numpy": "NumPy (hand)"}

# (model, row label, {framework: variant}); a framework absent from the dict has no such model
ROWS = [
    ("normal_mean", "Normal mean", {"ppl": "auto", "pyro": "trace", "numpyro": "trace", "numpy": "hand"}),
    ("logistic", "logistic regression (cancer)", {"ppl": "auto", "pyro": "trace", "numpyro": "trace", "numpy": "hand"}),
    ("eight_schools", "eight schools", {"ppl": "auto", "pyro": "trace", "numpyro": "trace"}),
    ("mixture", "mixture, score function", {"ppl": "score", "pyro": "graph", "numpyro": "graph"}),
    ("mixture", "mixture, enumeration", {"ppl": "auto", "pyro": "enum", "numpyro": "enum"}),
]
VARIANT_TEXT = {"auto": "", "score": "estimator=score", "trace": "Trace_ELBO", "graph": "TraceGraph_ELBO",
                "enum": "TraceEnum_ELBO", "hand": ""}
SCALING_D = 10         # columns of the synthetic scaling data
WIDE_D = 30            # an extra N = 10^5 point with the breast-cancer data's 30 columns
SUBSAMPLED_N, BATCH = 10 ** 7, 10_000
SAME_BATCHES, SAME_REPS = (1_000, 10_000), 7   # the same batch at N = 10^4 and 10^7
SAME_TOLERANCE = 0.05


def log(*a):
    print(*a, file=sys.stderr, flush=True)


HAVE = {}


def available():
    have = {"ppl": True, "numpy": True}
    have["pyro"] = all(importlib.util.find_spec(m) for m in ("torch", "pyro"))
    have["numpyro"] = all(importlib.util.find_spec(m) for m in ("jax", "numpyro"))
    have["funsor"] = importlib.util.find_spec("funsor") is not None
    return have


# --------------------------------------------------------------------------------------------- data

def datasets():
    rng = np.random.default_rng(0)
    out = {"normal_mean": {"N": 100, "y": 1.5 + rng.standard_normal(100)},
           "eight_schools": fw.load_data(ROOT / "models" / "eight_schools.data.json"),
           "mixture": fw.load_data(ROOT / "models" / "mixture.data.json")}
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        sys.exit("bench/speed.py needs scikit-learn for its breast-cancer data: pip install scikit-learn")
    cancer = load_breast_cancer()
    X = (cancer.data - cancer.data.mean(axis=0)) / cancer.data.std(axis=0)
    out["logistic"] = {"N": X.shape[0], "D": X.shape[1], "X": X, "y": cancer.target.astype(int)}
    return out


def synthetic_logistic(N, D=SCALING_D, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    beta = rng.standard_normal(D) / np.sqrt(D)
    y = (rng.random(N) < 1 / (1 + np.exp(-(0.5 + X @ beta)))).astype(np.int64)
    return {"N": N, "D": D, "X": X, "y": y}


# ------------------------------------------------------------------------ honesty of the baseline

def verify_hand_gradients(data):
    """The hand-written gradients must equal ppl's on the same noise: ppl draws the latents
    (trace=True), eps is recovered from them, and ppl's gradient in its constrained guide
    parameters is compared with the hand-written one (loss in (loc, log scale), chain rule)."""
    import ppl
    rng = np.random.default_rng(3)
    for model, K in (("normal_mean", 1), ("normal_mean", 7), ("logistic", 1), ("logistic", 5)):
        m = ppl.load(fw.MODEL_FILES[model])
        hand = fw.HAND[model](data[model], K, 2000)
        if model == "normal_mean":
            loc, scale = rng.normal(size=1), np.exp(rng.normal(size=1) - 1)
            params = {"mu.loc": loc[0], "mu.scale": scale[0]}
            value, grads, record = m.grad(params, data[model], seed=11, particles=K, trace=True)
            eps = (record["mu"] - loc) / scale
            g_loc, g_scale = grads["mu.loc"], grads["mu.scale"]
        else:
            D = data[model]["D"]
            loc, scale = rng.normal(size=D + 1) * 0.3, np.exp(rng.normal(size=D + 1) - 2)
            params = {"alpha.loc": loc[0], "alpha.scale": scale[0], "beta.loc": loc[1:], "beta.scale": scale[1:]}
            value, grads, record = m.grad(params, data[model], seed=11, particles=K, trace=True)
            z = np.concatenate([np.reshape(record["alpha"], (K, 1)), np.reshape(record["beta"], (K, D))], axis=1)
            eps = (z - loc) / scale
            g_loc = np.concatenate([np.ravel(grads["alpha.loc"]), np.ravel(grads["beta.loc"])])
            g_scale = np.concatenate([np.ravel(grads["alpha.scale"]), np.ravel(grads["beta.scale"])])
        loss, g = hand.loss_and_grad(np.concatenate([np.ravel(loc), np.log(np.ravel(scale))]), eps)
        P = len(np.ravel(loc))
        # ppl reports the ELBO and its gradient in (loc, scale); the hand code minimizes -ELBO in (loc, rho)
        assert np.isclose(value, -loss, rtol=1e-9, atol=1e-9), (model, K, value, -loss)
        assert np.allclose(g_loc, -g[:P], rtol=1e-7, atol=1e-9), (model, K, g_loc, -g[:P])
        assert np.allclose(g_scale * np.ravel(scale), -g[P:], rtol=1e-7, atol=1e-9), (model, K)
    log("hand-written NumPy gradients agree with ppl's (value and gradient, 1 and several particles)")


# ------------------------------------------------------------------------------------ measurement
# Every measurement is a pair (wall seconds, CPU seconds of this process) per step. With every
# library held to one thread (--threads 1, the default) the two agree on an idle machine; on a
# loaded one the CPU time is the steadier of the two, so the tables use it unless --clock wall.

def now():
    """(wall, CPU) seconds; CPU counts this process and its children, running (a subsampled ppl
    fit's minibatch worker) or finished."""
    t = os.times()
    return np.array([time.perf_counter(), time.process_time() + t.children_user + t.children_system + _running_children()])


def _running_children():
    """CPU seconds of this process's running children (Linux's /proc; 0 elsewhere)."""
    total = 0
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            pids = f.read().split()
    except OSError:
        return 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0])      # nanoseconds on a CPU
        except (OSError, ValueError, IndexError):       # ended meanwhile: counted once reaped
            pass
    return total / 1e9


def _difference(run, n, n0):
    """Per step of run(n0 + n) minus run(n0): what a fit pays once cancels out."""
    t0 = now()
    run(n0)
    t1 = now()
    run(n0 + n)
    t2 = now()
    return np.maximum((t2 - t1) - (t1 - t0), 0.0) / n


def per_step_fit(stepper, framework, n, n0=10):
    """Per step over n steps. ppl: model.fit(steps=n0 + n) minus model.fit(steps=n0)."""
    return _difference(stepper.fit, n, n0) if framework == "ppl" else per_step_loop(stepper, framework, n)


def per_step_loop(stepper, framework, n):
    """Per step over n steps; ppl through ppl.infer.fit.run (the loop model.fit runs) on a program
    bound once, the others through their own step loops."""
    t0 = now()
    stepper.loop(n) if framework == "ppl" else stepper.run(n)
    return (now() - t0) / n


def per_step_steady(stepper, framework, n, n0=20):
    """Per step over n steps, without what a ppl fit pays once (a subsampled fit forks its
    minibatch worker and stops it, 10-30 ms): ppl's steps n0 + 1 to n0 + n of one fit, timed
    from inside it (its `report` after each step). The others as `per_step_loop`."""
    if framework != "ppl":
        return per_step_loop(stepper, framework, n)
    marks = {}

    def report(t, value):
        if t + 1 in (n0, n0 + n):
            marks[t + 1] = now()
    stepper.loop(n0 + n, report=report)
    return (marks[n0 + n] - marks[n0]) / n


def steps_for(seconds_per_step, target, lo=20, hi=20000):
    return int(min(hi, max(lo, target / max(seconds_per_step, 1e-7))))


def interleaved(steppers, measure, reps, target, lo=20):
    """{key: array (reps, 2)}: each repetition measures every stepper once, in rotating order."""
    ns = {}
    for key, (s, f) in steppers.items():               # warm-up, and how many steps make `target`
        measure(s, f, 5)
        ns[key] = steps_for(measure(s, f, lo)[1], target, lo)
    out = {key: [] for key in steppers}
    keys = list(steppers)
    for r in range(reps):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            s, f = steppers[key]
            out[key].append(measure(s, f, ns[key]))
    return {k: np.array(v) for k, v in out.items()}


def medians(times):
    """{framework: {"wall": median, "cpu": median, "n": reps}}; with ppl among them, each other
    framework also gets "per_ppl": {"wall": [...], "cpu": [...]}, its time over ppl's in each
    repetition (measured back to back, so a slow spell of the shared machine touches both)."""
    out = {f: {"wall": float(np.median(t[:, 0])), "cpu": float(np.median(t[:, 1])), "n": len(t)}
           for f, t in times.items()}
    for f, t in times.items():
        if f != "ppl" and "ppl" in times:
            out[f]["per_ppl"] = {c: (t[:, i] / times["ppl"][:, i]).tolist() for i, c in enumerate(("wall", "cpu"))}
    return out


def paired(res, clock):
    """{key: {framework: array}}: each framework's per-repetition time over ppl's, on `clock`."""
    return {k: {f: np.array(v["per_ppl"][clock]) for f, v in r.items() if isinstance(v, dict) and "per_ppl" in v}
            for k, r in res.items()}


def run_per_step(data, have, reps, target, only, ppl_timing="loop"):
    results = {}
    for model, label, variants in ROWS:
        if only and model not in only:
            continue
        for K in (1, 10):
            steppers = {}
            for f, v in variants.items():
                if not have[f] or (v == "enum" and f == "numpyro" and not have["funsor"]):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    steppers[f] = (fw.make(f, model, data[model], K, 2000, v), f)
            log(f"per step: {label}, {K} particle(s): {', '.join(steppers)}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                times = interleaved(steppers, per_step_fit if ppl_timing == "fit" else per_step_loop, reps, target)
            results[(label, K)] = medians(times)
    return results


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONWARNINGS"] = "ignore"
    return env


def timed_process(cmd, env):
    """(wall seconds from just before the process starts to its exit, its CPU seconds, stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"failed: {' '.join(cmd)}\n{err.read().decode()[-3000:]}")
        return wall, usage.ru_utime + usage.ru_stime, out.read().decode()


def run_end_to_end(data, have, reps, steps, only, tmp):
    env = _env()
    runner = Path(__file__).resolve().parent / "e2e_runner.py"
    jobs = []
    for model, label, variants in ROWS:
        if only and model not in only:
            continue
        path = Path(tmp) / f"{model}.data.json"
        fw.save_data(data[model], path)
        for f, v in variants.items():
            if have[f] and not (v == "enum" and f == "numpyro" and not have["funsor"]):
                jobs.append((label, f, [sys.executable, str(runner), f, model, v, str(path), str(steps)]))
    times = {(label, f): [] for label, f, _ in jobs}
    for r in range(reps):
        for label, f, cmd in jobs:
            times[(label, f)].append(timed_process(cmd, env)[:2])
        log(f"end to end: repetition {r + 1} of {reps} done")
    return {k: {"wall": float(np.median([t[0] for t in v])), "cpu": float(np.median([t[1] for t in v])),
                "n": len(v)} for k, v in times.items()}


IMPORT_CODE = """
import time; w0, c0 = time.perf_counter(), time.process_time()
import ppl
w1, c1 = time.perf_counter(), time.process_time()
m = ppl.load({path!r}); m.bind({data!r}, 0)
w2, c2 = time.perf_counter(), time.process_time()
print(w1 - w0, w2 - w1, c1 - c0, c2 - c1)
"""


def run_import_compile(data, reps, tmp):
    """Per model, medians of: import (wall, CPU), load + bind (wall, CPU), the process (wall, CPU)."""
    env = _env()
    out = {}
    for model in ("normal_mean", "logistic", "eight_schools", "mixture"):
        path = Path(tmp) / f"{model}.data.json"
        fw.save_data(data[model], path)
        code = IMPORT_CODE.format(path=str(fw.MODEL_FILES[model]), data=str(path))
        rows = []
        for _ in range(reps):
            wall, cpu, text = timed_process([sys.executable, "-c", code], env)
            iw, cw, ic, cc = map(float, text.split())
            rows.append((iw, cw, ic, cc, wall, cpu))
        out[model] = dict(zip(["import_wall", "compile_wall", "import_cpu", "compile_cpu", "process_wall",
                               "process_cpu"], (float(np.median(c)) for c in zip(*rows))))
    return out


def _scaling_steppers(data, batch_size=None):
    """{framework: (stepper, framework)}, and {framework: why} for one ppl cannot build."""
    steppers, refused = {}, {}
    for f in FRAMEWORKS:
        if not HAVE[f]:
            continue
        variant = "hand" if f == "numpy" else "auto" if f == "ppl" else "trace"
        try:
            stepper = fw.make(f, "logistic", data, 1, 2000, variant, batch_size=batch_size)
            if f == "ppl":                       # binding checks the data (and its size)
                stepper._bound = stepper.model.bind(data, fw.SEED, batch_size=batch_size)
        except Exception as err:                 # noqa: BLE001 - a ppl refusal (size limit) is a result
            if f != "ppl":
                raise
            refused[f] = "refused: " + str(err).splitlines()[0].split("error: ", 1)[-1]
            log(f"  ppl refused: {str(err).splitlines()[0]}")
            continue
        steppers[f] = (stepper, f)
    return steppers, refused


def run_scaling(sizes, reps, target, subsampled, D):
    results = {}
    big = synthetic_logistic(max(sizes), D)
    for N in sizes:
        data = {"N": N, "D": D, "X": big["X"][:N], "y": big["y"][:N]}
        log(f"scaling: N = {N:,}")
        steppers, refused = _scaling_steppers(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times = interleaved(steppers, per_step_loop, reps, target, lo=20 if N < 10 ** 6 else 10)
        results[N] = {**medians(times), **refused}
        del steppers
    del big
    if 10 ** 5 in sizes and D != WIDE_D:          # the same point with as many columns as the cancer data
        log(f"scaling: N = 100,000, D = {WIDE_D}")
        steppers, refused = _scaling_steppers(synthetic_logistic(10 ** 5, WIDE_D))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times = interleaved(steppers, per_step_loop, reps, target)
        results["wide"] = {**medians(times), **refused}
        del steppers
    same = None
    if subsampled:
        log(f"scaling: N = {SUBSAMPLED_N:,}, subsampled (batch {BATCH:,}); generating the data")
        data = synthetic_logistic(SUBSAMPLED_N, D)
        steppers, refused = _scaling_steppers(data, BATCH)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times = interleaved(steppers, per_step_steady, reps, target, lo=10)
        results["sub"] = {**medians(times), **refused}
        del steppers
        same = run_subsampled_same(data, max(reps, SAME_REPS), target)
        del data
    return results, same


def run_subsampled_same(big, reps, target):
    """ppl alone, interleaved: a subsampled step with the same batch at N = 10^4 and at N = 10^7
    (the first 10^4 rows, copied), and the full step at N = 10^4.
    {(N, batch or None): {"wall", "cpu": medians, "wall_q": (quartiles)}}"""
    small = {"N": 10 ** 4, "D": big["D"], "X": np.ascontiguousarray(big["X"][:10 ** 4]), "y": big["y"][:10 ** 4].copy()}
    steppers = {}
    for key, data in (((10 ** 4, None), small), *(((d["N"], B), d) for B in SAME_BATCHES for d in (small, big))):
        stepper = fw.make("ppl", "logistic", data, 1, 2000, "auto", batch_size=key[1])
        stepper._bound = stepper.model.bind(data, fw.SEED, batch_size=key[1])
        steppers[key] = (stepper, "ppl")
    log(f"subsampled steps with the same batch at N = 10^4 and {SUBSAMPLED_N:,}, {reps} repetitions")
    times = interleaved(steppers, per_step_steady, reps, target)
    out = medians(times)
    for k, t in times.items():
        out[k]["wall_q"] = tuple(float(q) for q in np.percentile(t[:, 0], [25, 75]))
    return out


# ------------------------------------------------------------------------------------------ report

def ms(x):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    x = x * 1e3
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float) or b == 0:
        return "—"
    return f"{a / b:.2f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def pick(res, clock):
    """{key: {framework: seconds}} on one clock (a string, such as a refusal, stays as it is)."""
    return {k: {f: (v[clock] if isinstance(v, dict) else v) for f, v in r.items()} for k, r in res.items()}


def spread(x, invert=False):
    """The median of per-repetition ratios, and their range."""
    if x is None or not len(x):
        return "—"
    x = 1 / x if invert else x
    return f"{np.median(x):.2f} ({x.min():.2f}-{x.max():.2f})"


def report_per_step(res, pairs):
    rows = []
    for model, label, variants in ROWS:
        for K in (1, 10):
            r, q = res.get((label, K)), pairs.get((label, K), {})
            if r is None:
                continue
            cells = [label, str(K)] + [ms(r.get(f)) if f in variants else "" for f in FRAMEWORKS]
            cells += [spread(q.get("pyro")), spread(q.get("numpyro")),
                      spread(q.get("numpy"), invert=True) if "numpy" in variants else ""]
            rows.append(cells)
    return table(["model", "particles", "ppl ms", "Pyro ms", "NumPyro ms", "NumPy ms", "Pyro / ppl",
                  "NumPyro / ppl", "ppl / NumPy"], rows)


def report_e2e(res):
    rows = []
    for model, label, variants in ROWS:
        if not any((label, f) in res for f in FRAMEWORKS):
            continue
        w = {f: res[(label, f)]["wall"] if (label, f) in res else None for f in FRAMEWORKS}
        c = {f: res[(label, f)]["cpu"] if (label, f) in res else None for f in FRAMEWORKS}
        cell = lambda f: (("—" if w[f] is None else f"{w[f]:.2f} ({c[f]:.2f})") if f in variants else "")  # noqa: E731
        rows.append([label] + [cell(f) for f in FRAMEWORKS]
                    + [ratio(w["pyro"], w["ppl"]), ratio(w["numpyro"], w["ppl"]), ratio(c["numpyro"], c["ppl"])])
    return table(["model", "ppl s", "Pyro s", "NumPyro s", "NumPy s", "Pyro / ppl", "NumPyro / ppl",
                  "NumPyro / ppl, CPU"], rows)


def report_scaling(res, pairs):
    rows, notes = [], []
    for N, r in res.items():
        for f, v in r.items():
            if isinstance(v, str) and v.startswith("refused: "):
                where = {"sub": f"N = {SUBSAMPLED_N:,}, subsampled", "wide": f"N = 100,000, D = {WIDE_D}"}.get(N) \
                    or f"N = {N:,}"
                notes.append(f"{NAMES[f]} at {where}: {v}")
                r = {**r, f: "refused (below)"}
        label = {"sub": f"10^{len(str(SUBSAMPLED_N)) - 1}, subsampled, batch {BATCH:,}",
                 "wide": f"10^5, D = {WIDE_D}"}.get(N) or f"10^{len(str(N)) - 1}"
        q = pairs.get(N, {})
        rows.append([label, ms(r.get("ppl")), ms(r.get("pyro")), ms(r.get("numpyro")), ms(r.get("numpy")),
                     spread(q.get("pyro")), spread(q.get("numpy"), invert=True)])
    return (table(["N", "ppl ms", "Pyro ms", "NumPyro ms", "NumPy ms", "Pyro / ppl", "ppl / NumPy"], rows)
            + "".join(f"\n\n{n}" for n in notes))


def report_subsampled(same):
    full = same[(10 ** 4, None)]
    rows = [["full step (no subsampling)", f"{full['wall'] * 1e3:.3g} ({full['cpu'] * 1e3:.3g})", "", "", ""]]
    for B in SAME_BATCHES:
        a, b = same[(10 ** 4, B)], same[(SUBSAMPLED_N, B)]
        rows.append([f"batch {B:,}", f"{a['wall'] * 1e3:.3g} ({a['cpu'] * 1e3:.3g})",
                     f"{b['wall'] * 1e3:.3g} ({b['cpu'] * 1e3:.3g})", f"{b['wall'] / a['wall']:.2f}",
                     f"{b['wall'] / full['wall']:.2f}"])
    return table(["step", "N = 10^4: ms", f"N = 10^{len(str(SUBSAMPLED_N)) - 1}: ms", "10^7 / 10^4",
                  "10^7 / full 10^4"], rows)


def report_import(res):
    rows = [[m, f"{v['import_wall'] * 1e3:.0f} ({v['import_cpu'] * 1e3:.0f})",
             f"{v['compile_wall'] * 1e3:.0f} ({v['compile_cpu'] * 1e3:.0f})",
             f"{(v['import_wall'] + v['compile_wall']) * 1e3:.0f} ({(v['import_cpu'] + v['compile_cpu']) * 1e3:.0f})",
             f"{v['process_wall'] * 1e3:.0f} ({v['process_cpu'] * 1e3:.0f})"] for m, v in res.items()]
    return table(["model", "import ppl ms", "load + bind ms", "import + compile ms", "whole process ms"], rows)


def targets(step, e2e, imp, scaling_pairs, have, clock, scaling_d=SCALING_D, e2e_steps=2000, same=None,
            step_pairs=None):
    """One line per target, from the same medians as the tables (per step on `clock`; a ratio
    of two frameworks measured in the same row, the median of its per-repetition ratios)."""
    out = []

    def line(ok, text):
        out.append(f"- {'MET' if ok else 'MISSED'}: {text}")

    if have["pyro"] and step:
        pairs = []
        for model, label, variants in ROWS:
            for K in (1, 10):
                r = (step_pairs or {}).get((label, K), {}).get("pyro")
                if r is not None:
                    pairs.append((float(np.median(r)), f"{label}, {K}"))
        # the pairing for the mixture: ppl's default (enumeration) against Pyro's TraceGraph_ELBO
        # (two rows, measured apart: the ratio of their medians)
        for K in (1, 10):
            a, b = step.get(("mixture, enumeration", K)), step.get(("mixture, score function", K))
            if a and b and "pyro" in b:
                pairs.append((b["pyro"] / a["ppl"], f"mixture, ppl default (enumeration) vs Pyro TraceGraph_ELBO, {K}"))
        line(all(x >= 4 for x, _ in pairs), "per step at least 4x faster than Pyro on every model, 1 and 10 particles "
             "(the median of the repetitions' Pyro / ppl): "
             + "; ".join(f"{l}: {x:.2f}x" for x, l in pairs))
    if have["numpyro"] and e2e:
        pairs = [(e2e[(label, "numpyro")]["wall"] / e2e[(label, "ppl")]["wall"], label) for _, label, _ in ROWS
                 if (label, "numpyro") in e2e and (label, "ppl") in e2e]
        steps = "" if e2e_steps == 2000 else f"; {e2e_steps}-step fits, not the target's 2,000"
        line(all(x > 1 for x, _ in pairs), f"end to end from process start faster than NumPyro (NumPyro / ppl, wall{steps}: "
             + "; ".join(f"{l}: {x:.2f}x" for x, l in pairs) + ")")
    r = step.get(("Normal mean", 1)) if step else None
    if r and "numpy" in r:
        x = r["ppl"] / r["numpy"]
        r10 = step.get(("Normal mean", 10))
        extra = f"; 10 particles: {r10['ppl'] / r10['numpy']:.1f}x" if r10 else ""
        line(x <= 20, f"within 20x of the hand-written NumPy gradient on the one-latent model (1 particle: {x:.1f}x{extra})")
    per_numpy = {k: float(np.median(1 / q["numpy"])) for k, q in (scaling_pairs or {}).items() if "numpy" in q}
    if 10 ** 5 in per_numpy:
        x = per_numpy[10 ** 5]
        extra = f"; with D = {WIDE_D}: {per_numpy['wide']:.2f}x" if "wide" in per_numpy else ""
        line(x <= 1.5, f"within 1.5x of the hand-written NumPy gradient on logistic regression at N = 10^5 "
             f"(D = {scaling_d}: {x:.2f}x{extra})")
    if same:
        pairs = [(same[(SUBSAMPLED_N, B)]["wall"] / same[(10 ** 4, B)]["wall"], B) for B in SAME_BATCHES]
        full = same[(10 ** 4, None)]["wall"]
        widest = max((v["wall_q"][1] - v["wall_q"][0]) / v["wall"] for v in same.values())
        strict = "; ".join(f"batch {B:,}: {same[(SUBSAMPLED_N, B)]['wall'] / full:.2f}x" for B in SAME_BATCHES)
        line(all(x <= 1 + SAME_TOLERANCE for x, _ in pairs),
             f"subsampled steps at N = {SUBSAMPLED_N:,} cost no more than at N = 10^4 (the same batch, wall, "
             f"10^7 / 10^4: " + "; ".join(f"batch {B:,}: {x:.2f}x" for x, B in pairs)
             + f"; read as equal within {SAME_TOLERANCE:.0%}; the runs' interquartile range is up to {widest:.0%} of "
             f"their median. Against the full step at N = 10^4, with no subsampling at all: {strict})")
    if step and ("eight schools", 1) in step and ("eight schools", 10) in step:
        x = step[("eight schools", 10)]["ppl"] / step[("eight schools", 1)]["ppl"]
        line(x <= 2, f"10 particles cost at most 2x one particle on eight schools ({x:.2f}x)")
    if imp:
        tot = {m: v["import_wall"] + v["compile_wall"] for m, v in imp.items()}
        worst = max(tot, key=tot.get)
        line(tot[worst] < 0.5, f"import of ppl plus compiling a model under 0.5 s (wall: up to {tot[worst] * 1e3:.0f} ms, "
             f"{worst}, of which import {imp[worst]['import_wall'] * 1e3:.0f} ms; CPU: import "
             f"{imp[worst]['import_cpu'] * 1e3:.0f} ms + compile {imp[worst]['compile_cpu'] * 1e3:.0f} ms)")
    return "\n".join(out)


def environment():
    parts = [fw.source_state(), f"Python {platform.python_version()}", f"numpy {np.__version__}", f"{os.cpu_count()} cores"]
    for mod in ("torch", "pyro", "jax", "numpyro", "funsor"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            parts.append(f"{mod} absent")
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------- profile

def profile(spec, steps):
    """cProfile of ppl's loop (ppl.infer.fit.run) on MODEL or logistic:N (synthetic data, D = 30)."""
    model, _, size = spec.partition(":")
    if model == "logistic" and size:
        n, _, d = size.partition(":")
        data = synthetic_logistic(int(n), int(d or SCALING_D))
    else:
        data = datasets()[model]
    K = 1
    stepper = fw.PPL(model, data, K)
    stepper.loop(20)
    prof = cProfile.Profile()
    prof.enable()
    t0 = time.perf_counter()
    stepper.loop(steps)
    elapsed = time.perf_counter() - t0
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    print(f"## profile: {spec}, {steps} steps, 1 particle: {elapsed / steps * 1e3:.3f} ms/step under cProfile")
    print(buf.getvalue())


# -------------------------------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a fast check: fewer repetitions, 200-step end-to-end "
                   "fits, scaling to N = 10^4, no 10^7 row")
    p.add_argument("--reps", type=int, help="repetitions per per-step measurement (default 7; quick 2)")
    p.add_argument("--e2e-reps", type=int, help="fresh processes per end-to-end cell (default 3; quick 1)")
    p.add_argument("--e2e-steps", type=int, help="steps of the end-to-end fit (default 2000; quick 200)")
    p.add_argument("--only", nargs="*", choices=sorted({r[0] for r in ROWS}), help="models for parts 2 and 3")
    p.add_argument("--skip", nargs="*", default=[], choices=["import", "step", "e2e", "scaling"])
    p.add_argument("--no-pyro", action="store_true")
    p.add_argument("--no-numpyro", action="store_true")
    p.add_argument("--json", help="also write the raw timings here")
    p.add_argument("--threads", type=int, default=1, help="threads for BLAS, torch and XLA in every framework "
                   "(default 1; 0 keeps each library's default)")
    p.add_argument("--scaling-d", type=int, default=SCALING_D, help=f"columns of the scaling data (default {SCALING_D})")
    p.add_argument("--no-subsampled", action="store_true", help=f"skip the N = {SUBSAMPLED_N:,} subsampled row")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                   help="which time the per-step tables use (default cpu: the process's CPU time)")
    p.add_argument("--ppl-timing", choices=["loop", "fit"], default="loop",
                   help="loop: time ppl.infer.fit.run (the loop model.fit runs) on a program bound once; fit: "
                   "model.fit(steps=10 + n) minus model.fit(steps=10)")
    p.add_argument("--profile", action="append", metavar="MODEL[:N]",
                   help="only profile ppl's per-step time on MODEL (logistic:N[:D] for synthetic data of N rows)")
    p.add_argument("--profile-steps", type=int, default=300)
    args = p.parse_args(argv)

    if args.profile:
        for spec in args.profile:
            profile(spec, args.profile_steps)
        return

    quick = args.quick
    reps = args.reps or (2 if quick else 7)
    e2e_reps = args.e2e_reps or (1 if quick else 3)
    e2e_steps = args.e2e_steps or (200 if quick else 2000)
    target = 0.06 if quick else 0.2              # CPU seconds per single measurement
    sizes = [10 ** 3, 10 ** 4] if quick else [10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6]
    clock = args.clock

    have = HAVE
    have.update(available())
    if args.no_pyro:
        have["pyro"] = False
    if args.no_numpyro:
        have["numpyro"] = False
    start = time.perf_counter()
    print(f"# ppl speed benchmark\n\n{environment()}; threads per framework: {THREADS or 'library default'}; "
          f"load average at start {os.getloadavg()[0]:.1f}\n")
    print("command: " + " ".join(["PYTHONPATH=. python", "bench/speed.py"] + (argv if argv is not None else sys.argv[1:])) + "\n")
    for f in ("pyro", "numpyro"):
        if not have[f]:
            print(f"note: {NAMES[f]} is not installed (or disabled): its cells are skipped\n")
    if have["numpyro"] and not have["funsor"]:
        print("note: funsor is not installed: NumPyro's TraceEnum_ELBO (enumeration) is skipped\n")

    data = datasets()
    print("data: " + "; ".join(f"{m}: " + ", ".join(f"{k} = {v}" for k, v in d.items() if isinstance(v, int))
                               for m, d in data.items()) + "\n")
    verify_hand_gradients(data)
    print("hand-written NumPy gradients checked against ppl's: same value and gradient on the same noise\n")
    step = e2e = imp = scaling_pairs = same = pairs = None
    raw = {"clock": clock}
    with tempfile.TemporaryDirectory() as tmp:
        if "import" not in args.skip:
            imp = run_import_compile(data, 3 if not quick else 1, tmp)
            print("## import of ppl plus compiling a model: a fresh process, median; wall (CPU) ms\n")
            print(report_import(imp) + "\n")
            raw["import"] = imp
        if "step" not in args.skip:
            step_all = run_per_step(data, have, reps, target, args.only, args.ppl_timing)
            step, pairs = pick(step_all, clock), paired(step_all, clock)
            print(f"## per step (gradient + Adam update), {clock} time, median of {reps}; a ratio is the median "
                  "of the repetitions' ratios (each repetition times the row's frameworks back to back), with "
                  "their range\n")
            print(report_per_step(step, pairs) + "\n")
            raw["step"] = {f"{k[0]}|{k[1]}": v for k, v in step_all.items()}
        if "e2e" not in args.skip:
            e2e = run_end_to_end(data, have, e2e_reps, e2e_steps, args.only, tmp)
            print(f"## end to end: a {e2e_steps}-step fit from process start, 1 particle, median of {e2e_reps}; "
                  "wall (CPU) seconds\n")
            print(report_e2e(e2e) + "\n")
            raw["e2e"] = {f"{k[0]}|{k[1]}": v for k, v in e2e.items()}
    if "scaling" not in args.skip:
        scaling_reps = 3 if not quick else 1
        scaling_all, same = run_scaling(sizes, scaling_reps, target, not quick and not args.no_subsampled,
                                        args.scaling_d)
        scaling, scaling_pairs = pick(scaling_all, clock), paired(scaling_all, clock)
        print(f"## scaling: logistic regression, synthetic data, D = {args.scaling_d}, 1 particle, per step, "
              f"{clock} time, median of {scaling_reps}; ratios as per step\n")
        print(report_scaling(scaling, scaling_pairs) + "\n")
        raw["scaling"] = {str(k): v for k, v in scaling_all.items()}
        if same:
            print(f"## subsampled steps (ppl): the same batch at N = 10^4 and N = {SUBSAMPLED_N:,}, 1 particle, "
                  f"median of {SAME_REPS}; wall (CPU, the minibatch worker included) ms\n")
            print(report_subsampled(same) + "\n")
            raw["subsampled"] = {f"{k[0]}|{k[1]}": v for k, v in same.items()}
    print("## targets\n")
    print(targets(step, e2e, imp, scaling_pairs, have, clock, args.scaling_d, e2e_steps, same, pairs) + "\n")
    print(f"total benchmark time: {time.perf_counter() - start:.0f} s; load average at the end "
          f"{os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, default=float))


if __name__ == "__main__":
    main()
