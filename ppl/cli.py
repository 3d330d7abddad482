"""The `ppl` command: a thin layer over the Python API."""
from __future__ import annotations

import argparse
import os
import sys
import time

from . import load
from .errors import PPLError
from .data import load_json
from .output import gradcheck_table, table, write_json
from .guide import GUIDES
from .rewrite import ESTIMATORS, RAO_BLACKWELL

BASELINES = ("auto", "average", "loo", "none")


def main(argv=None) -> int:
    """Run the command line; return the exit status (0 ok, 1 model/data error, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except PPLError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:      # the reader went away (`ppl fit ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser():
    p = argparse.ArgumentParser(prog="ppl", description="Compile and fit probabilistic programs.")
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    f = sub.add_parser("fit", help="fit a model (variational inference, maximum likelihood or optimization)")
    f.add_argument("model")
    f.add_argument("--data", help="data file (JSON, Stan's layout); default: MODEL.data.json if present")
    f.add_argument("--steps", type=_positive, default=2000)
    f.add_argument("--lr", type=float, default=0.05, help="Adam's learning rate (default 0.05)")
    f.add_argument("--particles", type=_positive, default=1, help="draws per gradient estimate")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--estimator", type=_estimator, default="auto",
                   help="auto, pathwise or score, for every latent or as NAME=HOW,NAME=HOW")
    f.add_argument("--baseline", choices=BASELINES, default="auto",
                   help="score-function baseline (auto: leave-one-out with 2+ particles, else decaying average)")
    f.add_argument("--guide", choices=GUIDES, default="meanfield",
                   help="variational family of the continuous latents (default meanfield)")
    f.add_argument("--stl", action="store_true", help="sticking the landing: no direct gradient through log q")
    f.add_argument("--rao-blackwell", choices=RAO_BLACKWELL, default="element",
                   help="costs a score-function site multiplies: those it influences per element (default), "
                        "per statement, or all (none)")
    f.add_argument("--out", help="write the result as JSON to this file")
    f.add_argument("--quiet", action="store_true", help="no progress lines, only the result")
    f.set_defaults(run=_fit)
    c = sub.add_parser("check", help="check a model (and its data) without fitting")
    c.add_argument("model")
    c.add_argument("--data")
    c.set_defaults(run=_check)
    g = sub.add_parser("gradcheck", help="many gradient estimates at fixed parameters, against the exact gradient")
    g.add_argument("model")
    g.add_argument("--data")
    g.add_argument("--params", help="a result JSON (from fit --out) whose params and guide to check at")
    g.add_argument("--draws", type=_positive, default=1000)
    g.add_argument("--particles", type=_positive, default=1)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--estimator", type=_estimator, default="auto")
    g.add_argument("--baseline", choices=BASELINES, default="auto")
    g.add_argument("--rao-blackwell", choices=RAO_BLACKWELL, default="element")
    g.set_defaults(run=_gradcheck)
    k = sub.add_parser("compile", help="print a compiler pass's result")
    k.add_argument("model")
    k.add_argument("--explain", action="store_true", help="per statement: guide, estimator and why")
    k.add_argument("--pass", dest="stage", choices=("parse", "check", "lower", "guide", "rewrite"),
                   default="lower", help="which pass's result to print (default: lower)")
    k.add_argument("--estimator", type=_estimator, default="auto")
    k.set_defaults(run=_compile)
    return p


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _estimator(text):
    if "=" not in text:
        if text not in ESTIMATORS:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(ESTIMATORS)}, or NAME=HOW")
        return text
    pairs = dict(part.split("=", 1) for part in text.split(","))
    for how in pairs.values():
        if how not in ESTIMATORS:
            raise argparse.ArgumentTypeError(f"'{how}' is not one of {', '.join(ESTIMATORS)}")
    return pairs


def _fit(args):
    model = load(args.model, estimator=args.estimator, rao_blackwell=args.rao_blackwell)
    report = None if args.quiet else _progress(args.steps, model)
    fit = model.fit(args.data, steps=args.steps, lr=args.lr, particles=args.particles, seed=args.seed,
                    guide=args.guide, stl=args.stl,
                    baseline=args.baseline, report=report)
    if args.out:
        write_json(args.out, fit.to_json())
    print(table(fit))
    for line in fit.warnings:
        print(line, file=sys.stderr)
    return 0


def _gradcheck(args):
    model = load(args.model, estimator=args.estimator, rao_blackwell=args.rao_blackwell)
    params = None
    if args.params:
        result = load_json(args.params)
        params = {**result.get("params", {}), **result.get("guide", {})}
    check = model.gradcheck(params, args.data, draws=args.draws, particles=args.particles, seed=args.seed,
                            baseline=args.baseline)
    print(gradcheck_table(check, args.draws, args.particles))
    return 0


def _progress(steps, model):
    every, start = max(1, steps // 10), time.perf_counter()
    name = model._objective()[0]

    def report(t, value):
        if (t + 1) % every == 0 or t + 1 == steps:
            rate = (t + 1) / max(time.perf_counter() - start, 1e-9)
            print(f"step {t + 1}/{steps}  {name} {value:.6g}  ({rate:.0f} steps/s)", file=sys.stderr)
    return report


def _check(args):
    model = load(args.model)
    if model.mode != "prior":
        model.bind(args.data)
    latents = sum(1 for s in model.rewritten.sites)
    print(f"{args.model}: ok ({model.mode}; {latents} stochastic statement{'s' * (latents != 1)})")
    return 0


def _compile(args):
    model = load(args.model, estimator=args.estimator)
    if args.explain:
        print(model.explain())
        return 0
    stage = {"parse": model.ast, "check": model.checked, "lower": model.ir, "guide": model.guided,
             "rewrite": model.rewritten}[args.stage]
    print(stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
