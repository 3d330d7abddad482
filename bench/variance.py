"""Gradient variance at fixed parameters: ppl's estimators side by side (and Pyro's, if installed).

    PYTHONPATH=. python bench/variance.py [--draws 2000] [--warmup 100] [--particles 4] [--seed 0] [--no-pyro]

For each configuration, `--draws` independent gradient estimates are drawn at the same fixed
parameters, each averaging `--particles` particles (one vectorized pass of the program, so every
row costs the same number of program runs per estimate). The variance of every parameter element
across the draws is summed within a group (mixture: the assignment logits z.logits, the component
means mu.loc, the component scales mu.scale; bits: theta). `± x%` is the standard error of that
total. Rows whose baseline keeps a running state (the decaying average, and the default "auto":
leave-one-out shrunk towards that average) first draw `--warmup` estimates (discarded) so the
state has warmed up, as it has in a fit; the other rows need none.

Fixed parameters: the model's initial ones for `--seed` (guide locations uniform in (-2, 2),
scales 0.1, assignment logits at the prior), the same numbers for every row and for Pyro.

Columns: `runs/est.` program runs (particles) per estimate; `terms/est.` elementwise likelihood
(mixture) or objective (bits) terms evaluated per estimate, which enumeration and exact expectation
multiply by the size of the support; `CPU ms/est.` CPU time per estimate (the process's, so other jobs on the machine do not
inflate it); `plain / this` the variance ratio to the first row (how many
times lower); `max bias z` the largest |difference of mean gradients| / standard error over every
element, against the exact-expectation row (mixture: same ELBO) or the exact gradient (bits).

"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from autograd.differential_operators import grad_and_aux

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))          # bench/_pyro_models.py
try:
    import ppl
except ImportError:                    # run from a checkout without PYTHONPATH
    sys.path.insert(0, str(ROOT))
    import ppl
from ppl.infer.baselines import Baselines    # the running baseline state fit() carries

MIXTURE, BITS = ROOT / "models" / "mixture.ppl", ROOT / "models" / "bits.ppl"
MIXTURE_GROUPS = (("z.logits", "assignment logits"), ("mu.loc", "component means"), ("mu.scale", "component scales"))
BITS_GROUPS = (("theta", "theta"),)


# --- configurations -------------------------------------------------------------------------------
# (label, estimator, rao_blackwell, baseline). The mixture's mu uses its pathwise (reparameterized)
# guide in every ppl row except the last; only the assignments z change estimator.
MIXTURE_ROWS = [
    ("plain REINFORCE", {"z": "score"}, "none", "none"),
    ("+ statement-level RB", {"z": "score"}, "statement", "none"),
    ("+ per-element RB", {"z": "score"}, "element", "none"),
    ("+ per-element RB + leave-one-out", {"z": "score"}, "element", "loo"),
    ("+ per-element RB + decaying average", {"z": "score"}, "element", "average"),
    ("+ per-element RB + default (leave-one-out shrunk to the average)", {"z": "score"}, "element", "auto"),
    ("+ per-element RB + default, mu with stl=True", {"z": "score"}, "element", "auto+stl"),
    ("z: exact expectation (expect)", {"z": "expect"}, "element", "auto"),
    ("z: enumerated (summed out)", {"z": "enumerate"}, "element", "auto"),
    ("REINFORCE on mu too (reference)", "score", "none", "none"),
]
BITS_ROWS = [
    ("plain REINFORCE", "score", "none", "none"),
    ("+ statement-level RB", "score", "statement", "none"),
    ("+ per-element RB", "score", "element", "none"),
    ("+ per-element RB + leave-one-out", "score", "element", "loo"),
    ("+ per-element RB + decaying average", "score", "element", "average"),
    ("+ per-element RB + default (leave-one-out shrunk to the average)", "score", "element", "auto"),
    ("z: enumerated", "enumerate", "element", "auto"),
]
STATEFUL = ("average", "auto", "auto+stl")       # baselines with a running state, warmed up first
PYRO_ROWS = [("Pyro TraceGraph_ELBO", False), ("Pyro TraceGraph_ELBO + decaying avg", True)]


def initial_params(model, seed):
    """The constrained initial value of every parameter (user params and guide parameters)."""
    built, _ = model.bind(None, seed=seed)
    return built.space.constrained(built.space.initial())


def ppl_sampler(model, params, *, particles, baseline, seed):
    baseline, _, stl = baseline.partition("+")     # "auto+stl": the guide's sticking-the-landing gradient
    """Draws one gradient estimate per call at fixed `params`, as `Model.grad` computes it, from
    one generator; the baseline's running state (decaying average, shrinkage weights) carries
    over from call to call
    (updated as `fit` updates it), which a single `Model.grad` call cannot show."""
    if baseline != "average":     # check: the first draw is exactly what the public API returns
        _, expected = model.grad(params, seed=seed, particles=particles, baseline=baseline, stl=bool(stl))
        first = _sampler(model, params, particles, baseline, seed, bool(stl))()
        assert set(first) == set(expected) and all(np.allclose(first[k], expected[k]) for k in first), \
            "bench estimator out of step with Model.grad"
    return _sampler(model, params, particles, baseline, seed, bool(stl))


def _sampler(model, params, particles, baseline, seed, stl):
    built, rng = model.bind(None, seed=seed, stl=stl)
    values = built.space.unflatten(built.space.flatten(params))
    sign = -1.0 if model.mode == "vi" else 1.0        # gradient of the ELBO / of E[J] (minimize)
    state = Baselines(baseline, n_sites=len(built.score_sites), particles=particles)
    step = grad_and_aux(lambda p: built.loss(p, rng, particles, state))

    def draw():
        g, aux = step(values)
        state.update(aux["downstream"])
        return {k: sign * np.asarray(v)[0] for k, v in g.items()}
    return draw


def measure(draw, draws, warmup, groups):
    for _ in range(warmup):
        draw()
    start = time.process_time()          # CPU time: robust to other jobs sharing the machine
    samples = [draw() for _ in range(draws)]
    seconds = (time.process_time() - start) / draws
    out = {"ms": 1000 * seconds, "groups": {}}
    for name, _ in groups:
        if name not in samples[0]:
            out["groups"][name] = None                  # no such parameter in this configuration
            continue
        G = np.stack([np.ravel(s[name]) for s in samples])
        dev = G - G.mean(axis=0)
        sq = (dev ** 2).sum(axis=1) * draws / (draws - 1)   # mean of sq = total variance (unbiased)
        out["groups"][name] = {"var": float(sq.mean()), "se": float(sq.std(ddof=1) / math.sqrt(draws)),
                               "mean": G.mean(axis=0), "se_mean": G.std(axis=0, ddof=1) / math.sqrt(draws)}
    return out


def bias_z(row, ref, groups):
    """Largest |difference of mean gradients| / its standard error, over every element of the
    groups both rows have (ref may be exact: se_mean 0)."""
    worst = 0.0
    for name, _ in groups:
        a, b = row["groups"].get(name), ref["groups"].get(name)
        if a is None or b is None:
            continue
        # a deterministic row's standard error is rounding: floor it at 1e-9 of the gradient's size
        se = np.sqrt(a["se_mean"] ** 2 + b["se_mean"] ** 2) + 1e-9 * np.abs(b["mean"]).max()
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, np.abs(a["mean"] - b["mean"]) / se, 0.0)
        worst = max(worst, float(z.max()))
    return worst


# --- the two benchmarks ----------------------------------------------------------------------------

def run_mixture(args):
    base = ppl.load(MIXTURE, estimator={"z": "score"})    # z keeps its guide (auto would sum it out)
    params = initial_params(base, args.seed)
    data = json.loads(MIXTURE.with_suffix(".data.json").read_text())
    N, K = len(data["x"]), params["mu.loc"].shape[0]
    results = []
    for label, estimator, rb, baseline in MIXTURE_ROWS:
        model = ppl.load(MIXTURE, estimator=estimator, rao_blackwell=rb)
        summed = all(s.estimator in ("enumerate", "expect") for s in model.rewritten.sites if s.name == "z")
        draw = ppl_sampler(model, {k: v for k, v in params.items() if k in _param_names(model, args.seed)},
                           particles=args.particles, baseline=baseline, seed=args.seed)
        warm = args.warmup if baseline in STATEFUL and not summed else 0
        r = measure(draw, args.draws, warm, MIXTURE_GROUPS)
        r.update(label=label, engine="ppl", z=_describe(model, "z"), mu=_describe(model, "mu"), rb=rb,
                 baseline=baseline if not summed else "-", warmup=warm,
                 lik=args.particles * N * (K if summed else 1))
        results.append(r)
        _progress(r)
    notes = []
    if args.no_pyro:
        notes.append("Pyro rows skipped (--no-pyro).")
    else:
        try:
            import _pyro_models
        except ImportError as err:
            notes.append(f"Pyro rows skipped: {err.name} is not installed (pip install '.[bench]').")
        else:
            for label, decaying in PYRO_ROWS:
                draw = _pyro_models.sampler(data["x"], K, params, particles=args.particles,
                                            decaying_avg_baseline=decaying, seed=args.seed)
                warm = args.warmup if decaying else 0
                r = measure(draw, args.draws, warm, MIXTURE_GROUPS)
                r.update(label=label, engine="pyro", z="score (plate)", mu="pathwise", rb="plate (provenance)",
                         baseline="decaying avg (0.9)" if decaying else "none", warmup=warm,
                         lik=args.particles * N)
                results.append(r)
                _progress(r)
            notes.append(f"Pyro {_pyro_models.pyro.__version__}, torch {_pyro_models.torch.__version__}: "
                         f"TraceGraph_ELBO(num_particles={args.particles}, vectorize_particles=True), "
                         "float64; z in a plate of N, mu in a plate of K.")
    ref = next(r for r in results if r["z"] == "expect")
    for r in results:
        r["bias"] = None if r["z"] == "enumerate" else bias_z(r, ref, MIXTURE_GROUPS)
    return results, notes, (N, K)


def run_bits(args):
    base = ppl.load(BITS)
    params = initial_params(base, args.seed)
    n = params["theta"].size
    results = []
    for label, estimator, rb, baseline in BITS_ROWS:
        model = ppl.load(BITS, estimator=estimator, rao_blackwell=rb)
        summed = model.rewritten.site("z").estimator != "score"
        draw = ppl_sampler(model, params, particles=args.particles, baseline=baseline, seed=args.seed)
        warm = args.warmup if baseline in STATEFUL and not summed else 0
        r = measure(draw, args.draws, warm, BITS_GROUPS)
        r.update(label=label, engine="ppl", z=_describe(model, "z"), mu="", rb=rb,
                 baseline=baseline if not summed else "-", warmup=warm, lik=args.particles * n * (2 if summed else 1))
        results.append(r)
        _progress(r)
    p = 1 / (1 + np.exp(-params["theta"]))
    exact = {"groups": {"theta": {"mean": p * (1 - p) * ((1 - 0.45) ** 2 - 0.45 ** 2), "se_mean": 0.0}}}
    for r in results:
        r["bias"] = bias_z(r, exact, BITS_GROUPS)
    notes = ["No Pyro rows: TraceGraph_ELBO differentiates an ELBO, E_q[log p(x, z) - log q(z)]; "
             "minimizing E[J] over the bits' own distribution has no ELBO that equals it with the "
             "same estimator (a model prior tied to the guide adds a zero-mean -grad log q(z) term "
             "the baseline does not remove), so the comparison would not be like for like."]
    return results, notes, n


def _param_names(model, seed):
    built, _ = model.bind(None, seed=seed)
    return {p.name for p in built.space}


def _describe(model, name):
    return model.rewritten.site(name).estimator


def _progress(r):
    print(f"  {r['engine']:7s} {r['label']:70s} {r['ms']:7.2f} ms/estimate", file=sys.stderr, flush=True)


# --- output ---------------------------------------------------------------------------------------

def _rounding(g):
    """True when a group's variance is floating-point rounding of a deterministic gradient."""
    return g["var"] <= 1e-20 * max(1.0, float(np.sum(g["mean"] ** 2)))


def _fmt_var(g):
    if g is None:
        return "0 (no such parameter)"
    if _rounding(g):
        return f"0 (rounding: {g['var']:.1g})"
    return f"{g['var']:.3g} ± {100 * g['se'] / g['var']:.2g}%"


def _fmt_ratio(plain, g):
    if g is None or plain is None:
        return "-"
    if _rounding(g):
        return "∞"
    return f"{plain['var'] / g['var']:.3g}x"


def table(results, groups, *, mixture):
    plain = results[0]
    head = ["configuration", "z estimator"] + (["mu estimator"] if mixture else []) + \
           ["RB", "baseline", "runs/est.", "terms/est."]
    for name, what in groups:
        head.append(f"var {name} ({what})")
    for name, _ in groups:
        head.append(f"{name}: plain / this")
    head += ["CPU ms/est.", "max bias z"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["label"] + (f" (warm-up {r['warmup']})" if r["warmup"] else ""), r["z"]] + \
                ([r["mu"]] if mixture else []) + [r["rb"], r["baseline"], str(r.get("runs", "")), str(r["lik"])]
        cells += [_fmt_var(r["groups"][name]) for name, _ in groups]
        cells += [_fmt_ratio(plain["groups"][name], r["groups"][name]) for name, _ in groups]
        cells += [f"{r['ms']:.2f}", "-" if r["bias"] is None else f"{r['bias']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def acceptance(results):
    by = {r["label"]: r for r in results}
    plain, loo = by["plain REINFORCE"], by["+ per-element RB + leave-one-out"]
    default = by["+ per-element RB + default (leave-one-out shrunk to the average)"]
    enum = by["z: enumerated (summed out)"]
    out = []
    for label, row in (("per-element RB + leave-one-out", loo), ("per-element RB + default baseline", default)):
        ratio = plain["groups"]["z.logits"]["var"] / row["groups"]["z.logits"]["var"]
        out.append(f"- z.logits variance, plain REINFORCE / ({label}): {ratio:.3g}x "
                   f"(needs >= 1000x): {'holds' if ratio >= 1000 else 'DOES NOT HOLD'}")
    pyro = by.get("Pyro TraceGraph_ELBO + decaying avg")
    if pyro is None:
        out.append("- versus Pyro TraceGraph_ELBO + decaying average: not measured (Pyro not run)")
    else:
        stl = by["+ per-element RB + default, mu with stl=True"]
        for label, row in (("default baseline", default), ("default baseline, stl=True", stl),
                           ("pure leave-one-out", loo)):
            for name in ("z.logits", "mu.loc", "mu.scale"):
                a, b = row["groups"][name], pyro["groups"][name]
                diff_se = (b["var"] - a["var"]) / math.hypot(a["se"], b["se"])
                verdict = "lower" if a["var"] < b["var"] else "NOT lower"
                out.append(f"- {name} variance, ppl per-element RB + {label} {a['var']:.4g} vs Pyro decaying avg "
                           f"{b['var']:.4g}: Pyro / ppl = {b['var'] / a['var']:.3g}x, ppl is {verdict} "
                           f"(Pyro - ppl = {diff_se:+.1f} standard errors"
                           + ("; not significant" if abs(diff_se) < 3 else "") + ")")
    g = enum["groups"]["z.logits"]
    out.append("- enumerated z: " + ("no assignment parameters remain (z is summed out of the model), so the "
                                     "assignment gradients have zero variance"
                                     if g is None else f"z.logits variance {g['var']:.3g}"))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=2000, help="gradient estimates per configuration")
    parser.add_argument("--warmup", type=int, default=100,
                        help="estimates discarded first by the decaying-average rows")
    parser.add_argument("--particles", type=int, default=4, help="particles per estimate (all rows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pyro", action="store_true", help="skip the Pyro rows")
    args = parser.parse_args(argv)
    if args.draws < 2:
        parser.error("--draws must be at least 2")
    start, cpu = time.perf_counter(), time.process_time()
    print("mixture", file=sys.stderr)
    mix, mix_notes, (N, K) = run_mixture(args)
    print("bits", file=sys.stderr)
    bits, bits_notes, n = run_bits(args)
    for r in mix + bits:
        r["runs"] = args.particles
    command = "PYTHONPATH=. python bench/variance.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"$ {command.strip()}")
    print(f"{args.draws} estimates per row, {args.particles} particles each, parameters fixed at their initial "
          f"values for seed {args.seed}; decaying-average rows warm up for {args.warmup} estimates first.\n")
    print(f"### Mixture (models/mixture.ppl: N = {N}, K = {K})\n")
    print(table(mix, MIXTURE_GROUPS, mixture=True))
    print()
    for note in mix_notes:
        print(f"- {note}")
    print("\nAcceptance:\n")
    print(acceptance(mix))
    print(f"\n### Bits (models/bits.ppl: {n} bits, minimize E[J])\n")
    print(table(bits, BITS_GROUPS, mixture=False))
    print()
    for note in bits_notes:
        print(f"- {note}")
    print(f"\ntotal: {time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
