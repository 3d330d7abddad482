"""The Python API: compile a model, fit it, take gradient estimates."""
from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as onp
from autograd.differential_operators import grad_and_aux

from .infer import deterministic
from .back import fullrank
from .middle import ir, subsample
from .infer import fit as fitting
from .infer.baselines import Baselines
from .kernels.streams import Streams
from .back.build import TooManyValues, build
from .front.check import check
from .infer.checkpoint import fingerprint
from .back.data import bind
from .io.bounded import read_text
from .io.datafiles import load_data, load_json
from .io import html
from .io.output import MODES
from .io.wording import in_callers_words as _in_callers_words
from .front.errors import OptionError, PPLError, SemanticError, Source
from .infer.options import Baseline, FitOptions, Optimizer, positive
from .middle.options import CompileOptions, Estimator, Granularity, Guide
from .middle.guide import guide as make_guide
from .middle.lower import lower
from .front.parse import MAX_SOURCE_CHARS, parse
from .infer.result import EVAL_DRAWS, Fit
from .infer.starts import initial_point
from .infer.advice import declaration_hint, scale_hint
from .infer.results import checked, named_file
from .middle.rewrite import rewrite

if TYPE_CHECKING:
    from collections.abc import Callable

    # a model's data: a dict, the path of a data file or a list of them (merged), or None for the
    # data file beside the model
    Data = dict | str | Path | list | tuple | None


class Model:
    """A compiled model: every pass's result is kept and printable.

    >>> import ppl
    >>> model = ppl.compile("param mu: real = 0\\ny ~ Normal(mu, 1)\\nminimize (y - 3)^2")
    >>> model.mode
    'optimize'
    >>> value, grads = model.grad(seed=0)
    >>> sorted(grads)
    ['mu']
    """

    def __init__(self, source: str, filename: str = "<model>", options: CompileOptions = CompileOptions(),
                 data_path=None):
        self.source = Source(source, filename)
        self.data_path = data_path
        self.options = options
        try:
            self.ast = parse(source, filename)
            self.checked = check(self.ast)
            self.ir = lower(self.checked)
            self.guided = make_guide(self.ir, options.guide)
            self.rewritten = rewrite(self.guided, options.estimator, options.rao_blackwell)
        except PPLError as err:
            raise declaration_hint(err, source).at(self.source) from None

    @property
    def mode(self) -> str:
        """"vi", "optimize", "mle", or "prior" (nothing to fit)."""
        return self.ir.mode

    def __repr__(self) -> str:
        """The model's file and mode, then its program (without its comments).

        >>> import ppl
        >>> ppl.compile("data y: real\\nmu ~ Normal(0, 1)  # a prior\\ny ~ Normal(mu, 1)")
        ppl.Model <model>: variational inference (mode 'vi')
          data y: real
          mu ~ Normal(0, 1)  # a prior
          y ~ Normal(mu, 1)
        """
        lines = [line.rstrip() for line in self.source.text.splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        more = [f"... {len(lines) - REPR_LINES} more lines"] if len(lines) > REPR_LINES else []
        return "\n".join([self._title(), *("  " + line for line in lines[:REPR_LINES] + more)])

    def _title(self):
        default = CompileOptions().as_dict()
        options = "".join(f", {k}={v!r}" for k, v in self.options.as_dict().items() if v != default[k])
        return f"ppl.Model {self.source.filename}: {MODES[self.mode]} (mode {self.mode!r}{options})"

    def _repr_html_(self) -> str:
        """The model as a notebook shows it: its file and mode, its program (highlighted when
        Pygments is installed), and, folded, how each gradient is obtained."""
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from .lexer import PPLLexer
            program = highlight(self.source.text, PPLLexer(), HtmlFormatter(noclasses=True, nobackground=True))
        except ImportError:
            program = html.code(self.source.text)
        return html.block(self._title(), [], [program, html.details("how each gradient is obtained", self.explain())])

    def explain(self) -> str:
        """Per statement: the rewritten form, the guide, and the estimator with its reason."""
        return str(self.rewritten)

    @_in_callers_words
    def bind(self, data: Data = None, seed: int = 0, stl: bool = False, batch_size: int | None = None,
             fast: bool = True) -> tuple:
        """(program, generator): the program built against `data` (a dict, a JSON path, or None
        for the bundled data), and the generator its draws come from; `batch_size` subsamples as
        `fit` does; `fast=False` builds the reference program, without the build's
        optimizations (`ppl.back.build.build`)."""
        rng = onp.random.default_rng(seed)
        return self._build(data, rng, stl, batch_size, fast), rng

    def _scored(self, name) -> "Model":
        choice = self.options.estimator
        if isinstance(choice, str):
            choice = {s.name: choice for s in self.ir.body if isinstance(s, ir.Sample)}
        return self.with_options(estimator={**choice, name: "score"})

    def with_options(self, **options) -> "Model":
        """The same model compiled with other options (`CompileOptions`: estimator, rao_blackwell,
        guide); itself when they are the same.

        >>> import ppl
        >>> ppl.compile("data y: real\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").with_options(guide="fullrank").options.guide
        'fullrank'
        """
        merged = replace(self.options, **{k: v for k, v in options.items() if v is not None})
        if merged == self.options:
            return self
        return Model(self.source.text, self.source.filename, merged, data_path=self.data_path)

    def _build(self, data, rng, stl=False, batch_size=None, fast=True):
        try:
            values, params = bind(self.ir, self.data_values(data))
            batch = None if batch_size is None else subsample.plan(self.rewritten.module, values, batch_size)
            state = rng.bit_generator.state
            try:
                return build(self.rewritten, values, rng, params, stl, batch, fast)
            except TooManyValues as many:            # too many values to sum out: the score function
                rng.bit_generator.state = state
                return self._scored(many.name)._build(data, rng, stl, batch_size, fast)
        except PPLError as err:
            raise scale_hint(err, self.ir).at(self.source) from None

    def data_values(self, data: Data) -> dict | None:
        """The data as a dict: `data` itself, read from a file or files, or (None) the data file
        beside the model."""
        if data is None and self.data_path is not None and Path(self.data_path).exists():
            return load_json(self.data_path)
        if isinstance(data, (str, Path, list, tuple)):
            return load_data(data)
        return data

    @_in_callers_words
    def fit(self, data: Data = None, *, optimizer: Optimizer = FitOptions.optimizer, steps: int = FitOptions.steps,
            particles: int | None = FitOptions.particles, seed: int = FitOptions.seed,
            starts: int = FitOptions.starts, lr: float = FitOptions.lr, tol: float | None = FitOptions.tol,
            baseline: Baseline = FitOptions.baseline, stl: bool = FitOptions.stl,
            batch_size: int | None = FitOptions.batch_size, chunk: int | None = FitOptions.chunk,
            checkpoint_every: int = FitOptions.checkpoint_every, checkpoint: str | Path | None = None,
            resume: str | Path | None = None, report: Callable[[int, float], object] | None = None,
            stop: Callable[[], bool] | None = None, guide: str | None = None,
            num_draws: int = EVAL_DRAWS, init: dict | str | Path | None = None) -> Fit:
        """Fit the model: variational inference, maximum likelihood or stochastic optimization,
        whichever its statements call for. `report(step, objective)` is called after each step.

        `optimizer` is "lbfgs", "adam" or "auto" (the default: "lbfgs" wherever it applies).
        "lbfgs" holds the draws fixed (quasi-Monte Carlo), minimizes the resulting deterministic
        objective with L-BFGS to machine precision, then doubles the draws until the optimum
        stops moving (`ppl.infer.deterministic`): no learning rate, and a fit that does not depend on
        the scaling of the model. It applies when every draw the fit takes is a standard normal
        (continuous latents, discrete ones summed out), without subsampling or `stl`; `steps`
        bounds its iterations and `particles` sets its first draws (default 32). It converges
        from `starts` starting points on the first draws and goes on from the best, warning
        when they reach different optima (a posterior with several modes). "adam" takes
        stochastic gradient steps on fresh draws: `steps` of them with `particles` draws each
        (default 1), the learning rate `lr` decaying to a tenth over the run; with `tol`, it
        stops early once its convergence rule holds at that tolerance (see
        `ppl.infer.fit.Convergence`); without it, the rule is judged at Stan's tol_rel_obj = 0.01.

        The options and their defaults are `ppl.infer.options.FitOptions`, checked before anything
        runs (a bad one raises `OptionError` naming it). The guide is the compiled model's
        (`CompileOptions.guide`): `guide`, if given, must be that one; a full-rank guide
        (`ppl.compile(..., guide="fullrank")` or `model.with_options(guide="fullrank")`) starts from
        the mean-field optimum. `stl=True` ("sticking the landing") drops the guide's direct
        gradient through log q, whose expectation is zero (Adam only).
        `checkpoint` (a path) receives the fit's whole state every `checkpoint_every` steps;
        `resume` (a path) continues from one, ending exactly where the uninterrupted fit ends.
        `stop()` is asked after every step; when true the fit ends there, marked interrupted.
        `num_draws` draws of the fitted guide make the summaries and `Fit.draws` (1,000; the
        importance-weighting check and `Fit.loo` take 10,000, or `num_draws` if more).
        `init` ({name: value}, or a JSON file of them) starts a `param` at its value, and a
        continuous latent's guide there (`ppl.infer.starts`), in every starting point.
        `batch_size` subsamples (Adam only): each step sees that many of the observations (and
        of the latents with one value per observation), their log-likelihood scaled up to the
        whole data set (see `ppl.middle.subsample`). The summaries after the fit use all of the data
        when it holds at most FULL_SUMMARY_ELEMENTS numbers; beyond that they come from
        minibatches too, and leave out the values with one element per observation (read their
        guide parameters). `chunk` bounds the particles computed in one vectorized pass (by
        default, as many as keep a pass's widest observation and per-particle gradient under
        `ppl.back.program.PASS_ELEMENTS` numbers); the result is the same bit for bit whatever it is,
        since each particle draws from a stream of its own and its gradient is added in
        particle order (`Program.gradient`).

        >>> import ppl
        >>> fit = ppl.compile("param mu: real = 0\\ny ~ Normal(mu, 1)\\nminimize (y - 3)^2").fit()
        >>> abs(float(fit.params["mu"]) - 3) < 0.01
        True
        """
        if guide is not None and guide != self.options.guide:
            raise OptionError(f"fit(guide={guide!r}): the model was compiled with guide {self.options.guide!r}, and "
                              "fit does not compile it again",
                              hint=f"fit model.with_options(guide={guide!r}), or compile with guide={guide!r}")
        o = FitOptions(optimizer=optimizer, steps=steps, particles=particles, seed=seed, starts=starts, lr=lr,
                       tol=tol, baseline=baseline, stl=stl, batch_size=batch_size, chunk=chunk,
                       checkpoint_every=checkpoint_every)
        _check_draws(num_draws)
        if self.mode == "prior":
            raise SemanticError("nothing to fit: the model has no observed data and no objective",
                                hint="to draw from its prior, use ppl sample MODEL; to fit it, observe a data name "
                                     "with ~, or add minimize/maximize").at(self.source)
        rng = onp.random.default_rng(o.seed)
        built = self._build(data, rng, o.stl, o.batch_size)
        if built.space.size == 0:
            raise SemanticError("nothing to fit: the model has no param and no latent",
                                hint="declare a param to optimize").at(self.source)
        name, sign = self.objective()
        try:
            path, particles = self._optimize(data, built, rng, sign, o, report=report, resume=resume,
                                             checkpoint=checkpoint, stop=stop,
                                             init=load_json(init) if isinstance(init, (str, Path)) else init)
        except PPLError as err:
            raise scale_hint(err, self.ir).at(self.source) from None
        if o.batch_size is not None and sum(onp.size(v) for _, v in built.feed) <= FULL_SUMMARY_ELEMENTS:
            built = self._build(data, onp.random.default_rng(o.seed), o.stl)    # the summaries see every row
        return Fit.of(built, path, mode=self.mode, seed=o.seed, particles=particles, objective_name=name, sign=sign,
                   baseline=o.baseline, rng=rng, model=self, data=data, batch_size=o.batch_size, draws=num_draws)

    def _optimize(self, data, built, rng, sign, o: FitOptions, resume=None, init=None, **run):
        """(trajectory, particles): the fit's optimization, by the method `o.optimizer` picks.
        A full-rank guide starts from the mean-field optimum (its locations, and its scales on
        the diagonal), found first with the same options; `init` gives starting values
        (`ppl.infer.starts`)."""
        width = self._fixed_width(built, o.optimizer, o.stl, o.batch_size)
        joint = self.options.guide == "fullrank"
        start, held, starts = None, (), o.starts
        if joint and resume is None and built.rewritten.guide:
            meanfield = self.with_options(guide="meanfield")
            mf_rng = onp.random.default_rng(o.seed)
            mf_built = meanfield._build(data, mf_rng, o.stl, o.batch_size)
            mf_path, _ = meanfield._optimize(data, mf_built, mf_rng, sign, replace(o, particles=None), init=init)
            start, starts = fullrank.from_meanfield(built, mf_built.space, mf_path.theta), 1
        elif init is not None:
            start, held = initial_point(built, init)
        method = "adam" if width is None else "lbfgs"
        common = dict(steps=o.steps, sign=sign, resume=resume, chunk=o.chunk, theta=start, every=o.checkpoint_every,
                      **run)
        if width is not None:
            state = rng.bit_generator.state
            particles = o.particles_for(width, joint)
            try:
                return deterministic.run(built, rng, width=width, draws=_power_of_two(particles), starts=starts,
                                         held=held, fingerprint=self._fingerprint(data, o, particles, method, init),
                                         **common), particles
            except deterministic.NotFinite as failed:
                # some fixed draw makes the objective not finite (a log of a negative draw, say):
                # "auto" takes Adam's stochastic steps instead, which skip such draws
                if o.optimizer == "lbfgs":
                    raise failed.error from None
                rng.bit_generator.state = state
                method = "adam"
        particles = o.particles_for(None)
        return fitting.run(built, rng, lr=o.lr, particles=particles, baseline=o.baseline, tol=o.tol,
                           fingerprint=self._fingerprint(data, o, particles, method, init), **common), particles

    def _fingerprint(self, data, o, particles, method, init=None):
        """What a checkpoint may only be resumed with: the model, its data, and every option that
        changes the result."""
        options = {**self.options.as_dict(), **o.result_options(), "particles": particles, "optimizer": method}
        if init is not None:
            options["init"] = {k: onp.asarray(v).tolist() for k, v in init.items()}
        return fingerprint(self.source.text, self.data_values(data), options)

    def _fixed_width(self, built, optimizer, stl, batch_size):
        """The standard normals per particle a deterministic fit would fix, or None for Adam."""
        if optimizer == "adam":
            return None
        width = None if stl or batch_size is not None else built.noise_width(built.space.initial())
        joint = self.options.guide == "fullrank"
        if width is not None and deterministic.feasible(width, deterministic.first_draws(width, joint)):
            return width
        if optimizer == "lbfgs":
            why = ("stl" if stl else "subsampling" if batch_size is not None else
                   "some latent is drawn from a discrete guide or the program's own sampler" if width is None else
                   f"a joint guide over {width} coordinates needs too many fixed draws")
            raise SemanticError(f"the lbfgs optimizer needs fixed standard-normal draws, which this fit cannot "
                                f"have: {why}", hint="use optimizer 'adam' (or 'auto')").at(self.source)
        return None

    @_in_callers_words
    def sample(self, n: int = 1000, data: Data = None, *, seed: int = 0, params: dict | None = None) -> dict:
        """`n` draws from the prior predictive: every latent from its prior, every deterministic,
        and every observation drawn given them, {name: array (n, ...)}. Observed data need not be
        given (their sizes must); `param`s take their initial values unless given in `params`.

        >>> import ppl
        >>> draws = ppl.compile("data N: int\\ndata y: real[N]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)").sample(5, {"N": 3})
        >>> draws["y"].shape, draws["mu"].shape
        ((5, 3), (5,))
        """
        from .back.predictive import prior
        return prior(self, data, n, seed, params)

    @_in_callers_words
    def restore(self, result: dict | str | Path, data: Data = None, num_draws: int = EVAL_DRAWS) -> Fit:
        """The `Fit` a result holds (a dict from `Fit.to_json`, or the path of `ppl fit --out`):
        its params and guide, trace and convergence; summaries are drawn anew with its seed
        (`num_draws` of them). `data` defaults to the data files the result names, else the
        model's own."""
        _check_draws(num_draws)
        path = None
        if not isinstance(result, dict):
            path, result = str(result), load_json(result, "result")
        result = checked(result, path)
        options = result.get("options") or {}
        if options and {**self.options.as_dict(), **options} != self.options.as_dict():   # fitted with --guide...
            return self.with_options(**options).restore(result, data, num_draws)
        try:
            if result.get("mode") != self.mode:
                raise SemanticError(f"the result is of a {result.get('mode')} fit, but this model fits by {self.mode}",
                                    hint="give the model the result was fitted with")
            if data is None and result.get("data") is not None:     # beside the result, when it is a file
                named = result["data"] if isinstance(result["data"], list) else [result["data"]]
                found = [named_file(f, path, "data") if path else f for f in named]
                data = found if isinstance(result["data"], list) else found[0]
            rng = onp.random.default_rng(result.get("seed", 0))
            built = self._build(data, rng)
            values = {**result.get("params", {}), **result.get("guide", {})}
            names = [p.name for p in built.space]
            if set(values) != set(names):
                odd = sorted(set(values) ^ set(names))[0]
                raise SemanticError(f"the result does not match the model: '{odd}' is a parameter of only one of them",
                                    hint="give the model (and --guide) the result was fitted with")
            trace = [float("nan") if v is None else v for v in result.get("trace", [])]
            steps = result.get("steps", len(trace))
            _same_shapes(built.space, values)
            theta = built.space.flatten(values)
        except PPLError as err:
            raise err.at(Source("", path) if path else self.source) from None
        name, sign = self.objective()
        traj = fitting.Trajectory(theta, trace, result.get("skipped_steps", 0), {}, result.get("convergence"),
                                  steps=steps)
        return Fit.of(built, traj, mode=self.mode, seed=result.get("seed", 0),
                   particles=result.get("particles", 1), objective_name=name, sign=sign, baseline="auto", rng=rng,
                   model=self, data=data, batch_size=result.get("batch_size"), draws=num_draws)

    def objective(self) -> tuple[str, float]:
        """(name, sign) of what a fit reports: ("elbo", -1.0), ("log_likelihood", -1.0), or
        ("objective", +1.0 or -1.0 for minimize or maximize); the objective is sign times the loss."""
        sense = next((s.sense for s in self.ir.body if hasattr(s, "sense")), None)
        return fitting.objective_sign(self.mode, sense)

    @_in_callers_words
    def grad(self, params: dict | None = None, data: Data = None, *, seed: int = 0, particles: int = 1,
             baseline: str = "auto", trace: bool = False, stl: bool = False,
             batch_size: int | None = None) -> tuple[float, dict] | tuple[float, dict, dict]:
        """One estimate of the objective and its gradient with respect to every parameter.

        Returns `(value, grads)` (and the sampled values when `trace=True`). `params` maps names to
        constrained values (user `param`s, and guide parameters such as "mu.loc"); missing ones
        take their initial values. The objective is the ELBO in inference mode, the log-likelihood
        in maximum likelihood, and E[J] for `minimize J`/`maximize J`. With `batch_size`, from a
        minibatch of the observations, as a subsampled fit takes its steps.
        """
        rng = onp.random.default_rng(seed)
        estimate = self._estimator(params, data, rng, particles, baseline, stl, batch_size=batch_size)
        record = {} if trace else None
        value, grads = estimate(record)
        return (value, grads, record) if trace else (value, grads)

    def _estimator(self, params, data, rng, particles, baseline, stl=False, carry=False, batch_size=None):
        """A function drawing one (value, grads) estimate per call, at fixed parameters. With
        `carry`, the baseline's running state goes from call to call, as from step to step in a fit."""
        built = self._build(data, rng, stl, batch_size)
        if carry:
            baseline = Baselines(baseline, n_sites=len(built.score_sites), particles=particles)
        try:
            _same_shapes(built.space, params or {})
        except PPLError as err:
            raise err.at(self.source) from None
        values = built.space.unflatten(built.space.flatten(params or {}))   # with a particle axis
        unknown = set(params or {}) - set(values)
        if unknown:
            raise SemanticError(f"no parameter named '{sorted(unknown)[0]}'",
                                hint=f"parameters: {', '.join(values) or 'none'}").at(self.source)
        _, sign = self.objective()

        summed = [s.name for s in self.rewritten.sites if s.estimator in ("enumerate", "expect")]

        def estimate(record=None):
            state = baseline if carry else Baselines(baseline, n_sites=len(built.score_sites), particles=particles)
            with warnings.catch_warnings():       # a model with nothing to differentiate is fine
                warnings.filterwarnings("ignore", "Output seems independent of input")
                grads, aux = grad_and_aux(lambda p: built.loss(p, rng, particles, state, record=record))(values)
            if carry:
                baseline.update(aux["downstream"])
            for name in summed if record is not None else ():
                record.pop(name, None)           # evaluated at every value, not drawn
            return float(sign * onp.mean(aux["total"])), {k: sign * onp.asarray(g)[0] for k, g in grads.items()}
        return estimate

    @_in_callers_words
    def gradcheck(self, params: dict | None = None, data: Data = None, *, draws: int = 1000, particles: int = 1,
                  seed: int = 0, baseline: str = "auto", stl: bool = False, batch_size: int | None = None) -> dict:
        """Many gradient estimates at fixed parameters: per parameter, their mean, its standard
        error, the exact gradient when every stochastic statement is discrete and can be
        enumerated (else None), and the bias z-score (mean - exact) / stderr. The baseline's
        running state (its decaying average) carries from draw to draw, as from step to step in a
        fit; each draw stays unbiased given the draws before it. With `batch_size`, every draw
        sees a minibatch, and the exact gradient is still the full data's.

        >>> import ppl
        >>> check = ppl.load("models/bits.ppl", estimator="score").gradcheck(draws=200)  # doctest: +SKIP
        >>> abs(check["theta"]["z"]).max() < 4                                             # doctest: +SKIP
        True
        """
        estimate = self._estimator(params, data, onp.random.default_rng(seed), particles, baseline, stl,
                                   carry=True, batch_size=batch_size)
        samples = [estimate()[1] for _ in range(draws)]
        exact = self._exact_gradient(params, data)
        out = {}
        for name in samples[0]:
            g = onp.stack([s[name] for s in samples])
            mean, stderr = g.mean(axis=0), g.std(axis=0, ddof=1) / onp.sqrt(draws)
            row = {"mean": mean, "stderr": stderr, "exact": None, "z": None}
            if exact is not None:
                row["exact"] = exact[name]
                with onp.errstate(divide="ignore", invalid="ignore"):
                    row["z"] = onp.where(stderr > 0, (mean - exact[name]) / stderr, 0.0)
            out[name] = row
        return out

    @_in_callers_words
    def check_fast_path(self, params: dict | None = None, data: Data = None, *, draws: int = 100,
                        particles: int = 2, seed: int = 0) -> dict:
        """The fast program a fit runs (the build's optimizations: the mean-field block, fused
        densities) against the reference program, on the same draws: `draws` gradient
        estimates of `particles` particles each at `params` (as in `grad`), through the
        flat parameter vector a fit differentiates. Returns {"estimates", "max_abs",
        "max_rel"}: the largest absolute difference of a gradient element, and that over the
        largest element (rounding: about 1e-15).

        >>> import ppl
        >>> check = ppl.load("models/eight_schools.ppl").check_fast_path(draws=5)  # doctest: +SKIP
        >>> check["max_rel"] < 1e-12                                               # doctest: +SKIP
        True
        """
        fast, _ = self.bind(data, seed)
        reference, _ = self.bind(data, seed, fast=False)
        theta = fast.space.flatten(params or {})
        streams = Streams.seeded(onp.random.default_rng(seed), particles)
        largest, difference = 0.0, 0.0
        for _ in range(draws):
            state = streams.state
            g_fast, _ = fast.gradient(theta, None, streams, particles,
                                      Baselines("auto", n_sites=len(fast.score_sites), particles=particles))
            streams.state = state
            g_reference, _ = reference.gradient(theta, None, streams, particles,
                                                Baselines("auto", n_sites=len(reference.score_sites),
                                                          particles=particles))
            largest = max(largest, float(onp.max(onp.abs(g_reference), initial=0.0)))
            difference = max(difference, float(onp.max(onp.abs(g_fast - g_reference), initial=0.0)))
        relative = difference / largest if largest else (math.inf if difference else 0.0)
        return {"estimates": draws, "max_abs": difference, "max_rel": relative}

    def _exact_gradient(self, params, data):
        """The gradient with every discrete statement summed over its values, or None."""
        sites = self.rewritten.sites
        if not sites or any(self._statement(s.name).family.discrete is False for s in sites):
            return None
        how = {s.name: "enumerate" if s.estimator == "enumerate" else "expect" for s in sites}
        try:
            twin = self.with_options(estimator=how)
        except PPLError:
            return None
        return twin.grad(params, data if data is not None else None)[1]

    def _statement(self, name):
        return next(s for s in self.ir.body if getattr(s, "name", None) == name and hasattr(s, "dist"))


def _same_shapes(space, values):
    """Every value given (a result's, or `grad`'s params) fits its parameter's shape."""
    for p in space:
        if p.name not in values:
            continue
        shape = onp.shape(values[p.name])
        try:
            onp.broadcast_to(onp.empty(shape), p.shape)
        except ValueError:
            raise SemanticError(f"the result's '{p.name}' has shape {shape}, but the model's has shape {p.shape}",
                                hint="give the model the result was fitted with") from None


FULL_SUMMARY_ELEMENTS = 10 ** 7    # subsampled data up to this size are summarized whole after a fit
MAX_DRAWS = 10 ** 6                # draws of a fitted guide summarized
REPR_LINES = 30                    # lines of a program its repr shows


def _check_draws(n):
    if positive("num_draws", n) > MAX_DRAWS:
        raise OptionError(f"num_draws is {n:,}, more than the {MAX_DRAWS:,} a summary can take")


def _power_of_two(n):
    """`n` rounded up to a power of two (the size at which a Sobol sequence is balanced)."""
    return 1 << (int(n) - 1).bit_length()


@_in_callers_words
def compile(source: str, filename: str = "<model>", estimator: Estimator | dict = CompileOptions.estimator,  # noqa: A001
            rao_blackwell: Granularity = CompileOptions.rao_blackwell, guide: Guide = CompileOptions.guide) -> Model:
    """Compile model text.

    `estimator` ("auto", "pathwise", "score", "enumerate", "expect", or a dict from latent name to
    one of those) chooses how gradients are obtained; `rao_blackwell` ("element", "statement",
    "none") how finely a score-function site's costs are restricted to those it influences.

    >>> import ppl
    >>> ppl.compile("mu ~ Normal(0, 1)").mode
    'prior'
    """
    options = CompileOptions(estimator=estimator, rao_blackwell=rao_blackwell, guide=guide)
    return Model(source, filename, options)


@_in_callers_words
def load(path: str | Path, estimator: Estimator | dict = CompileOptions.estimator,
         rao_blackwell: Granularity = CompileOptions.rao_blackwell, guide: Guide = CompileOptions.guide) -> Model:
    """Compile a model file; data beside it (`NAME.data.json`) is used when no data is given.

    >>> import ppl, pathlib
    >>> ppl.load(pathlib.Path(ppl.__file__).parent.parent / "models" / "eight_schools.ppl").mode  # doctest: +SKIP
    'vi'
    """
    path = Path(path)
    text = read_text(path, 4 * MAX_SOURCE_CHARS, "model",     # at most 4 bytes a character in UTF-8
                     hint=f"a model holds at most {MAX_SOURCE_CHARS:,} characters; put data in a data file")
    options = CompileOptions(estimator=estimator, rao_blackwell=rao_blackwell, guide=guide)
    return Model(text, str(path), options, data_path=path.with_suffix(".data.json"))
