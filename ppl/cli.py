"""The `ppl` command: a thin layer over the Python API."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .middle import ir
from . import __version__, load
from .front.errors import PPLError, Source
from .io.datafiles import load_json
from .io.output import draws_csv, gradcheck_table, summary_table, table, trace_csv, write_atomic, write_json
from .infer.options import BASELINES, MAX_PARTICLES, MAX_STARTS, MAX_STEPS, OPTIMIZERS, FitOptions
from .middle.options import ESTIMATORS, GRANULARITIES, GUIDES, CompileOptions
from .infer.results import checked, named_file
from .io.locks import claimed, identity
from .io.progress import reporter
from .io.wording import command_line
from .infer.result import EVAL_DRAWS, summarize_draws
from .model import MAX_DRAWS
from .infer.compare import compare, table as compare_table

KINDS = {ir.Let: "deterministic", ir.Sample: "latent", ir.Observe: "observed"}

MODEL = "the model file (.ppl)"
DATA = ("data file: JSON (Stan's layout), CSV (each column a vector) or .npy (one array, named by the file, "
        "memory-mapped); may be given more than once; default: MODEL.data.json if present")
SEED = "the random seed: the same seed gives the same numbers here and through the Python API (default %(default)s)"
# every choice, said once: the help of each option lists its own
ESTIMATOR_WORDS = {
    "auto": "pathwise where the distribution or the guide has a transform, a discrete latent with at most 64 "
            "values and element-wise influence summed out, else the score function (default)",
    "pathwise": "reparameterization, y = f(eps; params): an error where no transform exists",
    "score": "the score function (REINFORCE) with Rao-Blackwellization and a baseline",
    "enumerate": "a discrete latent summed out of the model exactly, over its finite support",
    "expect": "a discrete latent keeps its guide q(z), and the ELBO's expectation over z is computed exactly"}
BASELINE_WORDS = {
    "auto": "leave-one-out shrunk towards the decaying average with 2 or more particles, else the decaying "
            "average (default)",
    "loo": "the mean of the other particles' costs", "average": "a decaying average of the costs (as Pyro's)",
    "none": "no baseline"}
GUIDE_WORDS = {"meanfield": "an independent Normal per unconstrained coordinate (default)",
               "fullrank": "one multivariate Normal over all continuous latents, started from the mean-field optimum"}
GRANULARITY_WORDS = {"element": "the costs each element influences, element by element (default)",
                     "statement": "the costs of the statements it influences", "none": "every cost (plain REINFORCE)"}


def _choices(words, head):
    return f"{head}: " + "; ".join(f"{k}: {v}" for k, v in words.items())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 model/data error, 2 usage)."""
    try:
        args = _parser().parse_args(argv)
        with command_line():            # messages name options (--steps), not arguments (steps=)
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
    p.add_argument("--version", action="version", version=f"ppl {__version__} (the ppl-lang distribution)",
                   help="print the version and exit")
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    _fit_parser(sub)
    _other_parsers(sub)
    _output_parsers(sub)
    return p


def _fit_parser(sub):
    f = sub.add_parser("fit", help="fit a model (variational inference, maximum likelihood or optimization)")
    f.add_argument("model", help=MODEL)
    f.add_argument("--data", action="append", metavar="FILE", help=DATA)
    f.add_argument("--init", metavar="FILE",
                   help="a JSON object of starting values: a param starts there, and a continuous latent's guide "
                        "is centred there, in every starting point")
    f.add_argument("--optimizer", choices=OPTIMIZERS, default=FitOptions.optimizer,
                   help="lbfgs: fixed quasi-Monte Carlo draws and L-BFGS to machine precision, the draws doubled "
                        "until the optimum stops moving; adam: stochastic gradient steps on fresh draws; "
                        "auto (default): lbfgs wherever it applies (every draw a standard normal, no subsampling)")
    f.add_argument("--starts", type=_at_most(MAX_STARTS), default=FitOptions.starts,
                   help="lbfgs: starting points, each converged on the first draws; the best goes on, and "
                        "different optima are reported (default %(default)s; 1 to skip)")
    f.add_argument("--steps", type=_at_most(MAX_STEPS), default=FitOptions.steps,
                   help="the most steps: L-BFGS iterations, or Adam's steps (all of which run unless --tol; "
                        "default %(default)s)")
    f.add_argument("--lr", type=_tolerance, default=FitOptions.lr, help="Adam's learning rate (default %(default)s)")
    f.add_argument("--particles", type=_at_most(MAX_PARTICLES),
                   help="draws per gradient estimate: Adam's (default 1), or L-BFGS's first fixed draws (default 32)")
    f.add_argument("--chunk", type=_positive, metavar="K",
                   help="compute at most K particles in one vectorized pass, to bound memory "
                        "(the result does not depend on it)")
    f.add_argument("--batch-size", type=_positive, metavar="B",
                   help="subsample: each step sees B of the observations (and their local latents), "
                        "its log-likelihood scaled up to the whole data set")
    f.add_argument("--seed", type=_seed, default=FitOptions.seed, help=SEED)
    _compile_options(f)
    f.add_argument("--baseline", choices=BASELINES, default=FitOptions.baseline,
                   help=_choices(BASELINE_WORDS, "a score-function site's baseline"))
    f.add_argument("--stl", action="store_true", help="sticking the landing: no direct gradient through log q")
    f.add_argument("--tol", type=_tolerance, metavar="TOL",
                   help="stop early once the smoothed objective's relative change is below TOL "
                        "(Stan's tol_rel_obj; without it the fit runs every step and is judged at 0.01)")
    f.add_argument("--out", metavar="FILE", help="write the result as JSON to this file")
    f.add_argument("--draws", metavar="FILE", help="write the draws behind the summary as CSV: a column per element")
    f.add_argument("--num-draws", type=_at_most(MAX_DRAWS), default=EVAL_DRAWS, metavar="N",
                   help="draws of the fitted guide behind the summary table and --draws (default %(default)s)")
    f.add_argument("--trace", metavar="FILE", help="write the objective per step as CSV (step, objective)")
    f.add_argument("--plot", metavar="FILE", help="plot the objective per step, each latent's and deterministic's "
                   "posterior and a posterior-predictive check per observation (.png, .pdf, .svg)")
    f.add_argument("--vars", type=_names, metavar="NAME,...",
                   help="the latents, deterministics and observations --plot shows (default: all)")
    f.add_argument("--quiet", action="store_true", help="no progress; the summary still goes to stdout")
    f.add_argument("--checkpoint", metavar="FILE",
                   help="write the fit's whole state to FILE every --checkpoint-every steps (and when stopped)")
    f.add_argument("--checkpoint-every", type=_positive, default=FitOptions.checkpoint_every, metavar="N",
                   help="steps between checkpoints (default %(default)s)")
    f.add_argument("--resume", metavar="FILE", help="continue the fit saved in FILE (same model, data and options)")
    f.set_defaults(run=_fit)


def _compile_options(parser, guide=True):
    """The options of how a model is compiled: --estimator, --rao-blackwell and --guide."""
    parser.add_argument("--estimator", type=_estimator, default=CompileOptions.estimator,
                        help=_choices(ESTIMATOR_WORDS, "how each latent's gradient is obtained, one choice for every "
                                                       "latent or NAME=HOW,NAME=HOW per latent"))
    parser.add_argument("--rao-blackwell", choices=GRANULARITIES, default=CompileOptions.rao_blackwell,
                        help=_choices(GRANULARITY_WORDS, "the costs a score-function site's score multiplies"))
    if guide:
        parser.add_argument("--guide", choices=GUIDES, default=CompileOptions.guide,
                            help=_choices(GUIDE_WORDS, "the variational family of the continuous latents"))


def _other_parsers(sub):
    c = sub.add_parser("check", help="check a model (and its data) without fitting")
    c.add_argument("model", help=MODEL)
    c.add_argument("--data", action="append", metavar="FILE", help=DATA)
    c.set_defaults(run=_check)
    g = sub.add_parser("gradcheck", help="many gradient estimates at fixed parameters, against the exact gradient")
    g.add_argument("model", help=MODEL)
    g.add_argument("--data", action="append", metavar="FILE", help=DATA)
    g.add_argument("--params", help="a result JSON (from fit --out) whose params and guide to check at")
    g.add_argument("--draws", type=_at_most(10 ** 6), default=1000, help="gradient estimates to draw (default %(default)s)")
    g.add_argument("--particles", type=_at_most(MAX_PARTICLES), default=1,
                   help="particles per estimate (default %(default)s)")
    g.add_argument("--seed", type=_seed, default=0, help=SEED)
    g.add_argument("--baseline", choices=BASELINES, default=FitOptions.baseline,
                   help=_choices(BASELINE_WORDS, "a score-function site's baseline"))
    _compile_options(g, guide=False)
    g.set_defaults(run=_gradcheck)
    k = sub.add_parser("compile", help="print a compiler pass's result")
    k.add_argument("model", help=MODEL)
    k.add_argument("--explain", action="store_true", help="per statement: guide, estimator and why")
    k.add_argument("--pass", dest="stage", choices=("parse", "check", "lower", "guide", "rewrite"),
                   default="lower", help="which pass's result to print: parse (the syntax tree), check (the checked "
                                         "tree), lower (the IR, default), guide (with its guide), rewrite (each "
                                         "statement's estimator)")
    k.add_argument("--data", action="append", metavar="FILE",
                   help="check the data too and build the program on it: --explain and --pass rewrite then show "
                        "the estimators a fit on these data uses (a discrete latent whose support the data make "
                        "too large to sum out gets the score function)")
    _compile_options(k)
    k.set_defaults(run=_compile)


def _output_parsers(sub):
    s = sub.add_parser("sample", help="draw from the prior predictive, or with --fit from the posterior predictive")
    s.add_argument("model", help=MODEL)
    s.add_argument("--data", action="append", metavar="FILE", help=DATA)
    s.add_argument("--fit", metavar="RESULT", help="a result JSON (from fit --out): draw from its posterior predictive")
    s.add_argument("-n", "--num-draws", dest="n", type=_at_most(10 ** 7), default=1000, help="number of draws (default 1000)")
    s.add_argument("--seed", type=_seed, default=0, help=SEED)
    s.add_argument("--draws", metavar="FILE", help="write the draws as CSV: a column per element")
    s.set_defaults(run=_sample)
    pl = sub.add_parser("plot", help="plot a fit: its objective per step, posteriors and predictive checks")
    pl.add_argument("result", help="a result JSON (from fit --out)")
    pl.add_argument("--model", help="the model file (default: the one the result names)")
    pl.add_argument("--data", action="append", metavar="FILE",
                    help="data file (JSON, CSV or .npy; default: the data files the result names)")
    pl.add_argument("--out", metavar="FILE", help="the image (.png, .pdf, .svg; default: RESULT with .png)")
    pl.add_argument("--vars", type=_names, metavar="NAME,...",
                    help="the latents, deterministics and observations to show (default: all)")
    pl.set_defaults(run=_plot)
    cmp = sub.add_parser("compare", help="compare fits of several models to the same data: PSIS-LOO, or the ELBO")
    cmp.add_argument("results", nargs="+", metavar="RESULT", help="result JSON files (from fit --out), two or more")
    cmp.set_defaults(run=_compare, parser=cmp)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _at_most(most):
    """A positive integer of at most `most`, for argparse."""
    def parse(text):
        value = _positive(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:,}")
        return value
    return parse


def _names(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give one or more names, separated by commas")
    return names


def _seed(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a non-negative integer")
    return value


def _tolerance(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number, such as 0.01")
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
    model = load(args.model, estimator=args.estimator, rao_blackwell=args.rao_blackwell, guide=args.guide)
    saving = args.checkpoint or f"{Path(args.model).stem}.checkpoint.npz"
    data_files = args.data or ([str(model.data_path)] if model.data_path and Path(model.data_path).exists() else [])
    inputs = {"the model": args.model, **{f"the data file {f}": f for f in data_files}}
    _check_outputs({"--out": args.out, "--draws": args.draws, "--trace": args.trace, "--plot": args.plot},
                   {**inputs, **({"the checkpoint to resume": args.resume} if args.resume else {})}, plot=args.plot)
    _check_outputs({"--checkpoint": saving}, inputs)      # it may be the one resumed
    if args.vars:
        _check_vars(model, args.vars)
    estimators = {s.name: s.estimator for s in model.rewritten.sites}
    report = None if args.quiet or model.mode == "prior" else \
        reporter(args.steps, model.objective()[0], estimators=estimators)
    # Ctrl-C or SIGTERM ends the fit after the current step; its state is saved to resume from
    outputs = {"--out": args.out, "--draws": args.draws, "--trace": args.trace, "--plot": args.plot,
               "--checkpoint": args.checkpoint}      # (the default one is written only when interrupted)
    with claimed(outputs), StopOnSignal() as stop:
        try:
            fit = model.fit(_data(args.data), steps=args.steps, lr=args.lr, particles=args.particles,
                            seed=args.seed, stl=args.stl, baseline=args.baseline, report=report,
                            tol=args.tol, checkpoint=saving,
                            checkpoint_every=args.checkpoint_every if args.checkpoint else 2 ** 62,
                            resume=args.resume, stop=stop, batch_size=args.batch_size, chunk=args.chunk,
                            optimizer=args.optimizer, starts=args.starts, num_draws=args.num_draws, init=args.init)
        finally:
            if report is not None:
                report.close()
        _write_outputs(fit, args)
    print(table(fit))
    for line in fit.warnings:
        print(line, file=sys.stderr)
    if fit.interrupted:
        print(f"interrupted after step {len(fit.trace)}: the fit's state is in {saving}; continue it with "
              f"the same command and --resume {saving}", file=sys.stderr)
        return 130
    return 0


class StopOnSignal:
    """While active, SIGINT and SIGTERM only set a flag, which the fit reads after each step."""

    def __init__(self):
        self.signalled = False

    def __call__(self):
        return self.signalled

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.signalled:        # a second signal: stop now
            raise KeyboardInterrupt
        self.signalled = True

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def _gradcheck(args):
    model = load(args.model, estimator=args.estimator, rao_blackwell=args.rao_blackwell)
    params = None
    if args.params:
        result = checked(load_json(args.params, "result"), args.params)
        params = {**result.get("params", {}), **result.get("guide", {})}
    check = model.gradcheck(params, _data(args.data), draws=args.draws, particles=args.particles, seed=args.seed,
                            baseline=args.baseline)
    print(gradcheck_table(check, args.draws, args.particles))
    fast = model.check_fast_path(params, _data(args.data), draws=min(args.draws, 100), seed=args.seed)
    print(f"fast path (mean-field block, fused densities) against the reference program: largest difference "
          f"{fast['max_abs']:.2g} ({fast['max_rel']:.2g} of the largest gradient element) over "
          f"{fast['estimates']} estimates")
    return 0


def _data(files):
    """--data given once is one file, given more often a list to merge, not given None."""
    return None if not files else files[0] if len(files) == 1 else files


def _check_outputs(outputs: dict, inputs: dict, plot=None):
    """Before a long fit: every output's folder exists, no output is an input ({what: path}) or
    another output (the same file, by device and inode, or the same path), and a plot can be
    drawn. A character device or a pipe (`/dev/null`) may take several outputs."""
    seen = {}
    for option, path in outputs.items():
        if not path:
            continue
        folder = Path(path).parent
        if not folder.is_dir():
            raise PPLError(f"cannot write {path}: the folder {folder} does not exist", hint="create it first",
                           source=Source("", str(path)))
        key = identity(path)
        if key is None:
            continue
        for what, given in inputs.items():
            if identity(given) == key:
                raise PPLError(f"{option} {path} is {what}: the fit would overwrite it",
                               hint=f"give {option} another file", source=Source("", str(path)))
        if key in seen:
            raise PPLError(f"{option} {path} is the file {seen[key]} writes too", hint=f"give {option} another file",
                           source=Source("", str(path)))
        seen[key] = option
    if plot:
        from .io import plots
        plots.check(plot)


def _check_vars(model, names):
    """Before a fit: every name --vars gives is a variable the plot can show."""
    from .io import plots
    observed = [s.name for s in model.ir.body if isinstance(s, ir.Observe)]
    values = [s.name for s in model.ir.body if isinstance(s, (ir.Sample, ir.Let)) and s.name not in observed]
    plots.choose(names, list(dict.fromkeys(values)), observed)


def _write_outputs(fit, args):
    if args.out:
        write_json(args.out, fit.to_json())
    if args.draws:
        write_atomic(args.draws, draws_csv(fit.draws))
    if args.trace:
        write_atomic(args.trace, trace_csv(fit.trace))
    if args.plot:
        from .io import plots
        plots.save(plots.plot_fit(fit, args.vars), args.plot)


def _sample(args):
    model = load(args.model)
    if args.fit:
        draws = model.restore(args.fit, _data(args.data)).predictive(args.n, seed=args.seed)
        head = f"posterior predictive of {args.fit}: {args.n} draws, seed {args.seed}"
    else:
        draws = model.sample(args.n, _data(args.data), seed=args.seed)
        head = f"prior predictive: {args.n} draws, seed {args.seed}"
    if args.draws:
        write_atomic(args.draws, draws_csv(draws))
    labels = {s.name: KINDS[type(s)] for s in model.ir.body if type(s) in KINDS}
    print(head)
    print(summary_table({k: summarize_draws(v) for k, v in draws.items()}, labels, label_head="kind"))
    return 0


def _plot(args):
    from .io import plots
    out = args.out or str(Path(args.result).with_suffix(".png"))
    plots.check(out)
    result = checked(load_json(args.result, "result"), args.result)
    model_file = args.model or _named(result.get("model"), args.result, "model")
    data = _data(args.data)
    if data is None and result.get("data") is not None:
        files = result["data"] if isinstance(result["data"], list) else [result["data"]]
        data = _data([_named(f, args.result, "data") for f in files])
    fit = load(model_file).restore(result, data)
    plots.save(plots.plot_fit(fit, args.vars), out)
    print(f"wrote {out}")
    return 0


def _compare(args):
    if len(args.results) < 2:
        args.parser.error("give two or more results to compare")
    twice = next((path for i, path in enumerate(args.results) if path in args.results[:i]), None)
    if twice is not None:
        raise PPLError(f"{twice} is given twice", hint="give each result once", source=Source("", twice))
    results = {path: checked(load_json(path), path) for path in args.results}
    comparison = compare(results)
    print(compare_table(comparison))
    for line in comparison["warnings"]:
        print(line, file=sys.stderr)
    return 0


def _named(path, result, what):
    """A file a result names (`named_file`), which it must name."""
    if path is None:
        raise PPLError(f"it does not name its {what}", hint=f"pass --{what} FILE", source=Source("", str(result)))
    return named_file(path, result, what)


def _check(args):
    model = load(args.model)
    if model.mode != "prior":
        model.bind(_data(args.data))
    latents = sum(1 for s in model.rewritten.sites)
    print(f"{args.model}: ok ({model.mode}; {latents} stochastic statement{'s' * (latents != 1)})")
    return 0


def _compile(args):
    model = load(args.model, estimator=args.estimator, rao_blackwell=args.rao_blackwell, guide=args.guide)
    rewritten = model.rewritten
    if args.data and model.mode != "prior":      # built on the data: the estimators a fit uses
        rewritten = model.bind(_data(args.data))[0].rewritten
    elif args.data:
        model.sample(1, _data(args.data))         # checked against the declarations
    if args.explain:
        print(rewritten)
        return 0
    stage = {"parse": model.ast, "check": model.checked, "lower": model.ir, "guide": model.guided,
             "rewrite": rewritten}[args.stage]
    print(stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
