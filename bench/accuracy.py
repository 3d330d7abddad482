"""Accuracy benchmark: ppl's default fits against reference posteriors, NumPyro's AutoNormal alongside.

    PYTHONPATH=. python bench/accuracy.py                 # the full run (a few minutes on 2 cores)
    PYTHONPATH=. python bench/accuracy.py --no-long       # without the 50,000-step runs (~1 min)
    PYTHONPATH=. python bench/accuracy.py --json accuracy.json --posteriordb PATH --seed 0

Measures:

1. Every posterior in the posteriordb folder (`--posteriordb`, default ../shared/posteriordb from
   the repository root; each posterior is NAME.ppl, NAME.data.json and NAME.reference.json, found
   by globbing; bench/posteriordb holds each as its Stan program reads, flat priors, loops and
   all, and is fitted in place of the folder's own unless --as-given): ppl's default fit,
   `ppl.load(NAME.ppl).fit(NAME.data.json, seed=SEED)`, timed
   (wall clock). For every reference parameter ("beta[1]" is element 1 of `beta`, "X[1,2]" a
   matrix element, indices from 0): z = (fit mean - reference mean) / reference sd and the sd
   ratio fit sd / reference sd, from the fit's summaries (`fit.latents`) and, when ppl keeps them
   (Pareto k-hat <= 0.7), from its importance-weighted ones (`fit.psis["latents"]`). Per
   posterior: max and median |z|, the range of sd ratios, k-hat, ppl's own verdict (converged,
   warnings), the steps run and the time.
2. The bundled models that fit by variational inference (models/*.ppl with mode "vi"): the ELBO
   of the default fit against that of a 50,000-step Adam run (learning rate decayed, seed 1),
   both as `fit.objective` (10,000 draws, value and standard error). `--no-long` skips the long
   runs.
3. When NumPyro imports: each posterior with a hand translation in bench/numpyro_models.py, fitted
   by `AutoNormal` and `SVI(Trace_ELBO())` with `Adam(0.01)`, 2,000 steps, seed 0, float64; the
   same z and sd ratios from 1,000 draws of the fitted guide; timed from building the SVI object
   to the draws (compilation included). Posteriors without a translation read "n/a".

Then the check lines: every posterior has max |z| <= 0.5 or a warning; the median over posteriors
of max |z| is <= 0.2; no fit with max |z| > 3 says it converged without a warning; every default
ELBO is within 0.1 nat of the long run. Nothing is cached: every number comes from this run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

import frameworks as fw  # noqa: E402  (beside this script)
import ppl

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT.parent / "shared" / "posteriordb"
LONG_STEPS, LONG_SEED = 50_000, 1
NUMPYRO_STEPS, NUMPYRO_LR, NUMPYRO_DRAWS = 2000, 0.01, 1000
MAX_Z_OR_WARNING, MEDIAN_MAX_Z, SILENT_MAX_Z, ELBO_GAP = 0.5, 0.2, 3.0, -0.1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------------- inputs

FAITHFUL = ROOT / "bench" / "posteriordb"


def posteriors(folder, faithful=True):
    """[(name, model path, data path, folder's data path, reference dict)] for every NAME.ppl with
    its two companions; with `faithful`, the translation of the Stan program in bench/posteriordb
    (and its data, where the folder's was preprocessed) in place of the folder's own."""
    out = []
    for model in sorted(Path(folder).glob("*.ppl")):
        name = model.name[:-len(".ppl")]
        data, ref = model.with_name(name + ".data.json"), model.with_name(name + ".reference.json")
        if not (data.exists() and ref.exists()):
            log(f"skipped {name}: no {data.name} or {ref.name}")
            continue
        given = data
        if faithful and (FAITHFUL / model.name).exists():
            model = FAITHFUL / model.name
            data = model.with_name(data.name) if model.with_name(data.name).exists() else data
        out.append((name, model, data, given, json.loads(ref.read_text())["params"]))
    return out


def load_data(path):
    """A JSON data file as {name: int or float64 array}."""
    raw = json.loads(Path(path).read_text())
    return {k: (v if isinstance(v, int) else np.asarray(v, dtype=float)) for k, v in raw.items()}


def element(param):
    """"beta[1]" -> ("beta", (1,)); "X[1,2]" -> ("X", (1, 2)); "sigma" -> ("sigma", ())."""
    m = re.fullmatch(r"\s*([^\[\]\s]+)\s*(?:\[([\d,\s]+)\])?\s*", param)
    if m is None:
        raise ValueError(f"cannot read the parameter name {param!r}")
    index = tuple(int(i) for i in m.group(2).split(",")) if m.group(2) else ()
    return m.group(1), index


# ---------------------------------------------------------------------------------- comparison

def compare(reference, summaries):
    """{param: {"z", "sd_ratio"}} for every reference parameter, from summaries {name: {"mean", "sd"}}."""
    out = {}
    for param, ref in reference.items():
        name, index = element(param)
        mean = float(np.asarray(summaries[name]["mean"])[index])
        sd = float(np.asarray(summaries[name]["sd"])[index])
        out[param] = {"z": (mean - ref["mean"]) / ref["sd"], "sd_ratio": sd / ref["sd"]}
    return out


def stats(per_param):
    """max and median |z| (a z that is not finite counts as infinite), the parameter with the
    largest, and the range of sd ratios."""
    z = {p: abs(v["z"]) if np.isfinite(v["z"]) else np.inf for p, v in per_param.items()}
    worst = max(z, key=z.get)
    ratios = [v["sd_ratio"] for v in per_param.values()]
    return {"max_z": float(z[worst]), "median_z": float(np.median(list(z.values()))), "worst": worst,
            "min_sd_ratio": float(min(ratios)), "max_sd_ratio": float(max(ratios))}


def summaries_of(draws):
    """{name: {"mean", "sd"}} over the first axis of each array of draws."""
    return {k: {"mean": v.mean(axis=0), "sd": v.std(axis=0, ddof=1)} for k, v in draws.items()}


# ------------------------------------------------------------------------------------------ ppl

def fit_ppl(model_path, data_path, reference, seed):
    """ppl's default fit of one posterior, compared with the reference."""
    t0 = time.perf_counter()
    try:
        fit = ppl.load(model_path).fit(data_path, seed=seed)
        seconds = time.perf_counter() - t0
        params = compare(reference, fit.latents)
    except Exception as err:                                       # reported, not fixed
        return {"error": describe(err)}
    out = {"seconds": seconds, "elbo": fit.objective["value"], "steps": fit.steps,
           "converged": (fit.convergence or {}).get("converged"), "warnings": list(fit.warnings),
           "k_hat": None, "params": params, **stats(params), "psis": None}
    if fit.psis is not None:
        out["k_hat"] = fit.psis["k_hat"]
        if fit.psis.get("latents") is not None:
            weighted = compare(reference, fit.psis["latents"])
            out["psis"] = {"params": weighted, **stats(weighted)}
    return out


def describe(err):
    """An exception as one line: its type and the first line of its message."""
    text = str(err).splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def first_words(warning, n=6):
    """The opening words of a warning, after its "warning:"."""
    words = warning.split()
    return " ".join(words[1 if words and words[0] == "warning:" else 0:][:n])


# -------------------------------------------------------------------------------------- NumPyro

def numpyro_translations():
    """{posterior name: NumPyro model} from bench/numpyro_models.py, or None without NumPyro."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import numpyro_models                       # switches JAX to float64 first
    except ImportError as err:
        log(f"NumPyro columns skipped: {err}")
        return None
    return numpyro_models.MODELS


def fit_numpyro(model_fn, data_path, reference, seed):
    """AutoNormal + SVI(Trace_ELBO), Adam(0.01), 2,000 steps; 1,000 draws of the fitted guide.
    Deterministic sites the reference asks for are computed from the draws (Predictive)."""
    import functools

    import jax
    import numpyro
    from numpyro.infer import SVI, Predictive, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal

    model = functools.partial(model_fn, load_data(data_path))
    try:
        t0 = time.perf_counter()
        guide = AutoNormal(model)
        svi = SVI(model, guide, numpyro.optim.Adam(NUMPYRO_LR), Trace_ELBO())
        result = svi.run(jax.random.PRNGKey(seed), NUMPYRO_STEPS, progress_bar=False)
        key = jax.random.PRNGKey(seed + 1)
        draws = dict(guide.sample_posterior(key, result.params, sample_shape=(NUMPYRO_DRAWS,)))
        missing = sorted({element(p)[0] for p in reference} - set(draws))
        if missing:
            draws.update(Predictive(model, posterior_samples=draws, return_sites=missing)(key))
        draws = {k: np.asarray(v, dtype=float) for k, v in draws.items()}
        seconds = time.perf_counter() - t0
        params = compare(reference, summaries_of(draws))
    except Exception as err:
        return {"error": describe(err)}
    return {"seconds": seconds, "final_loss": float(result.losses[-1]), "params": params, **stats(params)}


# ------------------------------------------------------------------------------ bundled models

def vi_models():
    """The bundled models that fit by variational inference, with their data files."""
    out = []
    for path in sorted((ROOT / "models").glob("*.ppl")):
        data = path.with_suffix(".data.json")
        if ppl.load(path).mode == "vi" and data.exists():
            out.append((path.stem, path, data))
    return out


def elbo_gap(path, data, seed, long):
    """The default fit's ELBO and, with `long`, a 50,000-step Adam run's: each fit.objective
    (10,000 draws), the gap default - long and its standard error."""
    model = ppl.load(path)
    t0 = time.perf_counter()
    fit = model.fit(data, seed=seed)
    out = {"default": dict(fit.objective), "default_steps": fit.steps, "default_seconds": time.perf_counter() - t0,
           "default_warnings": list(fit.warnings)}
    if long:
        t0 = time.perf_counter()
        ref = model.fit(data, steps=LONG_STEPS, optimizer="adam", seed=LONG_SEED)
        out.update(long=dict(ref.objective), long_seconds=time.perf_counter() - t0,
                   gap=fit.objective["value"] - ref.objective["value"],
                   gap_stderr=float(np.hypot(fit.objective["stderr"], ref.objective["stderr"])))
        out["pass"] = out["gap"] >= ELBO_GAP
    return out


# ------------------------------------------------------------------------------------- output

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def num(x, fmt=".2f"):
    return "-" if x is None else format(x, fmt)


def ratios(r):
    return f"{r['min_sd_ratio']:.2f}-{r['max_sd_ratio']:.2f}"


def posterior_row(name, r, nr):
    if "error" in r:
        cells = [name, "error"] + [""] * 9
    else:
        cells = [name, f"{r['max_z']:.2f} ({r['worst']})", f"{r['median_z']:.2f}", ratios(r), num(r["k_hat"]),
                 {True: "yes", False: "no", None: "-"}[r["converged"]], str(len(r["warnings"])), str(r["steps"]),
                 f"{r['seconds']:.2f}", "-" if r["psis"] is None else f"{r['psis']['max_z']:.2f}",
                 "-" if r["psis"] is None else ratios(r["psis"])]
    if nr is None:
        return cells
    if nr == "n/a" or "error" in nr:
        return cells + (["n/a"] * 4 if nr == "n/a" else ["error", "", "", ""])
    return cells + [f"{nr['max_z']:.2f} ({nr['worst']})", f"{nr['median_z']:.2f}", ratios(nr), f"{nr['seconds']:.1f}"]


POSTERIOR_HEADER = ["posterior", "ppl max abs z (where)", "ppl median abs z", "ppl sd ratio", "k-hat", "converged",
                    "warnings", "steps", "ppl s", "PSIS max abs z", "PSIS sd ratio"]
NUMPYRO_HEADER = ["NumPyro max abs z (where)", "NumPyro median abs z", "NumPyro sd ratio", "NumPyro s"]


def print_posteriors(results, with_numpyro):
    header = POSTERIOR_HEADER + (NUMPYRO_HEADER if with_numpyro else [])
    rows = [posterior_row(name, r["ppl"], r.get("numpyro") if with_numpyro else None) for name, r in results.items()]
    print(table(header, rows) + "\n")
    for name, r in results.items():
        if "error" in r["ppl"]:
            print(f"- {name}: ppl raised {r['ppl']['error']}")
        for w in r["ppl"].get("warnings", []):
            print(f"- {name}: warning: {first_words(w)} ...")
        nr = r.get("numpyro")
        if isinstance(nr, dict) and "error" in nr:
            print(f"- {name}: NumPyro raised {nr['error']}")
    print()


def print_elbo(results, long):
    header = ["model", "default ELBO", "default steps", "default warnings", "default s", "long-run ELBO", "long s",
              "gap", "within 0.1"]
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, "error: " + r["error"]] + [""] * 7)
            continue
        d = r["default"]
        row = [name, f"{d['value']:.3f} ± {d['stderr']:.2g}", str(r["default_steps"]), str(len(r["default_warnings"])),
               f"{r['default_seconds']:.2f}"]
        if long:
            lr = r["long"]
            row += [f"{lr['value']:.3f} ± {lr['stderr']:.2g}", f"{r['long_seconds']:.1f}",
                    f"{r['gap']:+.3f} ± {r['gap_stderr']:.2g}", "PASS" if r["pass"] else "FAIL"]
        else:
            row += ["skipped (--no-long)", "", "", ""]
        rows.append(row)
    print(table(header, rows) + "\n")
    notes = [f"- {name}: warning: {first_words(w)} ..."
             for name, r in results.items() for w in r.get("default_warnings", [])]
    if notes:
        print("\n".join(notes) + "\n")


def checks(posterior_results, elbo_results, long):
    """[(text, passed)]: the check lines."""
    ok = {n: r["ppl"] for n, r in posterior_results.items() if "error" not in r["ppl"]}
    max_z = [r["max_z"] for r in ok.values()]
    median = float(np.median(max_z)) if max_z else float("nan")
    out = [("every posterior fitted without an exception from ppl", len(ok) == len(posterior_results)),
           (f"every posterior has max z <= {MAX_Z_OR_WARNING} or a warning",
            all(r["max_z"] <= MAX_Z_OR_WARNING or r["warnings"] for r in ok.values())),
           (f"median max z <= {MEDIAN_MAX_Z} (median {median:.2f})", median <= MEDIAN_MAX_Z),
           (f"no fit with max z > {SILENT_MAX_Z:g} reported converged without a warning",
            not any(r["max_z"] > SILENT_MAX_Z and r["converged"] and not r["warnings"] for r in ok.values()))]
    if long:
        out.append((f"every bundled default ELBO within {-ELBO_GAP:g} nat of the long run",
                    all(r.get("pass") for r in elbo_results.values())))
    return out


def medians_line(posterior_results, with_numpyro):
    def med(key):
        vals = [r[key]["max_z"] for r in posterior_results.values()
                if isinstance(r.get(key), dict) and "max_z" in r[key]]
        return f"{np.median(vals):.2f} over {len(vals)}" if vals else "-"
    text = f"median over posteriors of max |z|: ppl {med('ppl')}"
    psis = [r["ppl"]["psis"]["max_z"] for r in posterior_results.values() if r["ppl"].get("psis")]
    if psis:
        text += f"; ppl importance-weighted {np.median(psis):.2f} over {len(psis)}"
    if with_numpyro:
        text += f"; NumPyro AutoNormal {med('numpyro')}"
    return text


def environment(with_numpyro):
    parts = [fw.source_state(), f"Python {platform.python_version()}", f"numpy {np.__version__}",
             f"{os.cpu_count()} cores"]
    if with_numpyro:
        import jax
        import numpyro
        parts += [f"jax {jax.__version__}", f"numpyro {numpyro.__version__}"]
    return ", ".join(parts)


def jsonable(x):
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.generic, np.ndarray)):
        return x.tolist()
    return x


# --------------------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--posteriordb", default=str(DEFAULT_DB), help="folder of NAME.ppl/.data.json/.reference.json")
    ap.add_argument("--seed", type=int, default=0, help="seed of ppl's default fits")
    ap.add_argument("--no-long", action="store_true", help="skip the 50,000-step ELBO reference runs")
    ap.add_argument("--as-given", action="store_true",
                    help="fit the folder's own NAME.ppl, not the translation of the Stan program in bench/posteriordb")
    ap.add_argument("--no-numpyro", action="store_true", help="skip NumPyro even when it is installed")
    ap.add_argument("--json", metavar="FILE", help="write every number to FILE")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    translations = None if args.no_numpyro else numpyro_translations()
    with_numpyro = translations is not None
    print(environment(with_numpyro))
    print("command: PYTHONPATH=. python bench/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    if not with_numpyro:
        print("note: NumPyro is not installed (or --no-numpyro): its columns are skipped")
    print()

    results = {}
    for name, model, data, given, reference in posteriors(args.posteriordb, faithful=not args.as_given):
        log(f"ppl: {name}")
        results[name] = {"ppl": fit_ppl(model, data, reference, args.seed)}
        if with_numpyro:
            fn = translations.get(name)
            log(f"NumPyro: {name}" if fn else f"NumPyro: {name}: no translation")
            results[name]["numpyro"] = fit_numpyro(fn, given, reference, 0) if fn else "n/a"   # its own data
    title = f"## posteriordb ({args.posteriordb}): ppl's default fit (seed {args.seed})"
    if with_numpyro:
        title += f"; NumPyro AutoNormal, Adam({NUMPYRO_LR}), {NUMPYRO_STEPS} steps, {NUMPYRO_DRAWS} draws"
    print(title + "\n")
    print_posteriors(results, with_numpyro)
    print(medians_line(results, with_numpyro) + "\n")

    elbos = {}
    for name, path, data in vi_models():
        log(f"ELBO: {name}" + (f" (default and {LONG_STEPS} Adam steps)" if not args.no_long else ""))
        try:
            elbos[name] = elbo_gap(path, data, args.seed, not args.no_long)
        except Exception as err:
            elbos[name] = {"error": describe(err)}
    print(f"## bundled models: ELBO of the default fit (seed {args.seed}) against {LONG_STEPS} Adam steps "
          f"(seed {LONG_SEED}); fit.objective, 10,000 draws each\n")
    print_elbo(elbos, not args.no_long)

    print("## checks\n")
    lines = checks(results, elbos, not args.no_long)
    for text, passed in lines:
        print(f"{'PASS' if passed else 'FAIL'}: {text}")
    total = time.perf_counter() - start
    print(f"\ntotal: {total:.0f} s wall")

    if args.json:
        Path(args.json).write_text(json.dumps(jsonable({
            "environment": environment(with_numpyro), "seed": args.seed, "posteriordb": args.posteriordb,
            "posteriors": results, "elbo": elbos, "checks": [{"text": t, "pass": p} for t, p in lines],
            "seconds": total}), indent=1))


if __name__ == "__main__":
    main()
