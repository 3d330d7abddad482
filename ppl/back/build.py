"""Pass 6, build: a rewritten program and its data compiled once into closures (a `Program`).

Before anything runs, one particle is drawn from the prior (the dry run): it finds every latent's
shape, and reports shape errors and data outside a support with the statement's position.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp

from ..front import ast
from . import enumeration, fullrank, ops
from ..middle import ir
from ..distributions.constraints import positive, real
from ..middle.dependence import ranks
from ..front.errors import SemanticError
from ..front.functions import TooLarge, check_size
from .expr import Const, compile_expr, constant
from .interpret import Handler, arg_codes, broadcasts_to, interpret, reported_names, value_names
from .loops import factor_op, loop_op
from .expr import make_dist
from .params import Param, ParamSpace
from .program import Program, ScoreSite
from .runtime_checks import check_args, check_observed

if TYPE_CHECKING:
    from ..middle.rewrite import Rewritten
    from ..middle.subsample import Batch

INIT_RADIUS = 2.0        # guide locations start uniform in (-2, 2), unconstrained, as in Stan
INIT_SCALE = 0.1         # guide scales start small, as in Pyro's AutoNormal
ENUMERATE_MAX = 64       # largest support summed out automatically, of a latent with one value per element
GLOBAL_ENUMERATE_MAX = 1000   # and of a latent that is a single value (a change point)


def build(rewritten: Rewritten, data: dict, rng: onp.random.Generator, param_init: dict, stl: bool = False,
          batch: Batch | None = None, fast: bool = True) -> Program:
    """Compile `rewritten` against validated `data` ({name: array}); `param_init` gives the
    user params' initial constrained values, `rng` draws the guide's initial locations; `stl`
    ("sticking the landing") drops the guide parameters' direct gradient through log q; `batch`
    (a `subsample.Batch`) cuts the observations into minibatches, drawn anew at every step.

    `fast=False` builds the reference program: every latent drawn on its own and every
    observation scored through its Distribution. `fast` (the default) then optimizes it: the
    mean-field latents drawn in one block (`nodes.meanfield`, scoring their constant priors
    too) and an observation's log-density in one fused call where it can. Both take the same
    draws and give the same values and gradients, up to rounding (`Model.check_fast_path`)."""
    module = rewritten.module
    batched = batch.data if batch else ()
    scope = {name: Const(constant(value)) for name, value in data.items() if name not in batched}
    names = [d.name for d in module.decls if d.kind == "param"]
    names += value_names(module) + list(batched)
    slots = {}
    for name in names:
        slots[name] = scope[name] = len(slots)
    rows = {}
    if batch:
        scope[batch.dim] = Const(constant(batch.size))      # within a step, shapes have B rows
        rows = {slots[name]: constant(data[name][:batch.size]) for name in batched}   # the dry run's
    shapes = _dry_run(module, scope, slots, param_init, rng, rows)
    rewritten = _limit_enumeration(rewritten, shapes)
    full = {k: ((batch.total,) + v[0][1:], v[1]) if batch and k in batch.local else v for k, v in shapes.items()}
    space = ParamSpace(_user_params(param_init) + _guide_params(rewritten, full, rng))
    plan, score_sites = _plan(rewritten, shapes, data, stl, batch, space, scope, fast)
    program_ops, finals, enumerated, signs = _compile_ops(rewritten, scope, slots, shapes, plan, batch)
    feed = tuple((slots[name], data[name]) for name in batched)
    widest = max([onp.size(data[s.name]) for s in module.body if isinstance(s, ir.Observe)] + [0])
    widest *= enumerated_width(rewritten, shapes)
    return Program(rewritten=rewritten, space=space, ops=program_ops, finals=finals, slots=slots, shapes=shapes,
                   signs=signs, score_sites=score_sites, enumerated=enumerated, batch=batch, feed=feed,
                   widest=widest * batch.size // batch.total if batch else widest)


def _dry_run(module, scope, slots, param_init, rng, rows):
    """One particle from the prior (`DryRun`): finds every latent's shape (and the prior that
    drew it), and reports shape errors and data outside a support before any fitting. `rows`
    fills the slots of subsampled data (with the first batch)."""
    env = [None] * len(slots)
    for slot, x in rows.items():
        env[slot] = x
    for name, (_, x) in param_init.items():
        env[slots[name]] = constant(x)
    dry = DryRun(rng, reported_names(module))
    interpret(module, scope, slots, env, dry)
    return dry.shapes


class DryRun(Handler):
    """The build's walk: each latent drawn once from its prior, its shape and prior kept in
    `shapes`; every argument, shape and observation checked on the way."""

    def __init__(self, rng, reported):
        self.rng, self.shapes, self.reported = rng, {}, reported

    def let(self, site):
        x = super().let(site)
        if site.stmt.name in self.reported:
            self.shapes[site.stmt.name] = (onp.shape(x)[1:], None)
        return x

    def factor(self, site):
        x = site.evaluate(site.stmt.expr)
        if getattr(x, "dtype", onp.dtype(float)).kind not in "fiub":
            raise SemanticError("a log-density term must be a number or an array of numbers", site.stmt.span)

    def sample(self, site):
        stmt, first = site.stmt, site.dist()
        check_args(stmt, first)
        shape = site.shape(first)
        try:
            check_size(shape)
        except TooLarge as err:
            raise SemanticError(f"'{stmt.name}' {err}", stmt.span, hint=err.hint) from None
        prior = site.dist(1 + len(shape))
        self.shapes[stmt.name] = (shape, prior)
        return prior.sample(self.rng, (1,) + shape)

    def observe(self, site):
        stmt, y = site.stmt, site.data()
        dist = site.dist(onp.ndim(y))
        check_args(stmt, dist)
        full = tuple(dist.batch_shape) + tuple(dist.event_shape)
        if not broadcasts_to(full, onp.shape(y)):
            raise SemanticError(f"the distribution has shape {full[1:]} but the data "
                                f"'{stmt.name}' has shape {onp.shape(y)[1:]}", stmt.span,
                                hint="the arguments must broadcast to the shape of the data")
        check_observed(stmt, dist, y)

    def objective(self, site):
        for _, expr in site.stmt.terms:
            x = site.evaluate(expr)
            if onp.ndim(x) != 1:
                raise SemanticError(f"an objective must be a single number, but '{expr}' has shape "
                                    f"{onp.shape(x)[1:]}", expr.span, hint=f"write sum({expr}) or mean({expr})")


def _user_params(param_init):
    return [Param(name, onp.shape(value), c, onp.asarray(c.to_unconstrained(value), dtype=float))
            for name, (c, value) in param_init.items()]


def _guide_params(rewritten, shapes, rng):
    params = []
    blocks = joint_blocks(rewritten, shapes)
    if blocks:
        dim = max(hi for lo, hi in blocks.values())
        loc, tril = fullrank.initial(dim, rng, INIT_RADIUS, INIT_SCALE)
        params += [Param(fullrank.LOC, (dim,), real, loc),
                   Param(fullrank.SCALE, (dim, dim), fullrank.LowerCholesky(dim), tril)]
    for name, site in rewritten.guide.items():
        shape, prior = shapes[name]
        if name in blocks:
            continue
        if site.discrete:
            (arg, constraint), = site.params
            event = onp.shape(getattr(prior, arg))[len(prior.batch_shape):]
            batch = shape[:len(shape) - type(prior).event_dim]
            init = onp.asarray(getattr(prior, arg)[0])
            try:
                value = onp.broadcast_to(init, batch + tuple(event))
            except ValueError:     # a prior with one value per observation, seen for one batch
                value = onp.broadcast_to(init.mean(axis=0), batch + tuple(event))
            params.append(Param(f"{name}.{arg}", onp.shape(value), constraint,
                                onp.asarray(constraint.to_unconstrained(onp.asarray(value, dtype=float)))))
        else:
            ushape = prior.support.unconstrained_shape(shape)
            params.append(Param(f"{name}.loc", ushape, real, rng.uniform(-INIT_RADIUS, INIT_RADIUS, ushape)))
            params.append(Param(f"{name}.scale", ushape, positive, onp.full(ushape, onp.log(INIT_SCALE))))
    return params




def joint_blocks(rewritten, shapes) -> dict:
    """Full-rank guide: each continuous latent's (start, stop) in the joint unconstrained vector."""
    if rewritten.family != "fullrank":
        return {}
    blocks, start = {}, 0
    for name, site in rewritten.guide.items():
        if not site.discrete:
            shape, prior = shapes[name]
            size = int(onp.prod(prior.support.unconstrained_shape(shape), dtype=int))
            blocks[name], start = (start, start + size), start + size
    return blocks


class TooManyValues(Exception):
    """A latent chosen for enumeration has more values than ENUMERATE_MAX (known only with data)."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name


def _limit_enumeration(rewritten, shapes):
    """Enumeration was chosen before the sizes were known; a support too large to sum out is
    sent back (the model then compiles that latent with the score function), or, for a family
    with nothing a guide could learn, refused."""
    for s in rewritten.sites:
        if s.estimator not in ("enumerate", "expect"):
            continue
        shape, prior = shapes[s.name]
        limit = GLOBAL_ENUMERATE_MAX if shape == () else ENUMERATE_MAX
        count = prior.support_size()
        if count <= limit:
            continue
        if type(prior).guide_arg is None:
            raise SemanticError(f"'{s.name}' takes {count:,} values, more than the {limit:,} that can be summed out "
                                f"{'for a single value' if shape == () else 'per element'}", s.span,
                                hint="use fewer values, or a Categorical (whose guide can be learned, with the "
                                     "score function)")
        raise TooManyValues(s.name)
    return rewritten


def enumerated_width(rewritten, shapes) -> int:
    """The most values any summed-out latent takes (each widens the costs it influences)."""
    return max([shapes[s.name][1].support_size() for s in rewritten.sites
                if s.estimator in ("enumerate", "expect")] + [1])


def _plan(rewritten, shapes, data, stl, batch, space, scope, fast):
    enum_of = {i: s.name for s in rewritten.sites if s.estimator in ("enumerate", "expect") for i, _ in s.costs}
    marginal = frozenset(s.name for s in rewritten.sites
                         if s.estimator == "enumerate" and rewritten.module.mode == "vi")
    score_sites, elem_needed, elementwise = [], set(), set()
    for s in rewritten.sites:
        if s.estimator != "score":
            continue
        shape, prior = shapes[s.name]
        event = getattr(prior.support, "event_dim", 0)
        per_element = len(shape) > 0 and event == 0 and any(g == "element" for _, g in s.costs)
        if per_element:
            elementwise.add(s.name)
            elem_needed.update(i for i, g in s.costs if g == "element")
        score_sites.append(ScoreSite(s.name, s.costs, len(shape), per_element))
    ranks_ = list(ranks(rewritten.module).values()) + [onp.ndim(v) for v in data.values()]
    blocks = joint_blocks(rewritten, shapes)
    local = batch.local if batch else frozenset()
    if local & set(blocks):
        name = sorted(local & set(blocks))[0]
        span = next(s.span for s in rewritten.module.body if isinstance(s, ir.Sample) and s.name == name)
        raise SemanticError(f"'{name}' has one value per observation, which the full-rank guide cannot subsample",
                            span, hint="use the mean-field guide (--guide meanfield) with --batch-size")
    members = _meanfield_members(rewritten, shapes, blocks, local, stl, elem_needed) if fast else []
    priors = _constant_priors(rewritten, members, shapes, scope, set(enum_of) | set(elem_needed))
    columns, layout = _meanfield_layout(members, shapes, space, priors)
    plan = ops.Plan(enum_of=enum_of, marginal=marginal, elem_needed=frozenset(elem_needed),
                    elementwise=frozenset(elementwise), enum_rank=max(ranks_ + [0]) + 1, blocks=blocks, stl=stl,
                    local=local, columns=columns, layout=layout, folded=frozenset(priors), fast=fast)
    return plan, score_sites


def _constant_priors(rewritten, members, shapes, scope, kept):
    """{latent: (fused density, arguments)} for block latents whose prior has constant arguments
    and a fused `density`: the block adds their log-density itself (one node fewer each)."""
    logp = {c.source: i for i, c in enumerate(rewritten.costs) if c.part == "logp"}
    samples = {s.name: s for s in rewritten.module.body if isinstance(s, ir.Sample)}
    out = {}
    for name in members:
        shape, prior = shapes[name]
        density = type(prior).density
        codes = arg_codes(samples[name], scope)
        if density is None or len(shape) > 1 or logp.get(name) in kept or \
                not all(isinstance(code, Const) for _, code in codes):
            continue
        dist = make_dist(samples[name].family, codes, None, 1 + len(shape))
        args = [onp.asarray(dist.args[k], dtype=float) for k in density[1]]
        size = int(onp.prod(shape, dtype=int))
        if all(broadcasts_to(a.shape, (1, size)) for a in args):
            out[name] = (density[0], tuple(a.reshape((1, -1)) if a.ndim > 1 else a for a in args))
    return out



def _meanfield_members(rewritten, shapes, blocks, local, stl, elem_needed):
    """The latents the mean-field guide draws in one block (`nodes.meanfield`): pathwise, with a
    fixed real or positive support, not subsampled, and with no per-element use of their log q."""
    if stl or rewritten.family != "meanfield":
        return []
    sites = {s.name: s for s in rewritten.sites}
    logq = {c.source: i for i, c in enumerate(rewritten.costs) if c.part == "logq"}

    def fits(name):
        guide, prior = rewritten.guide[name], shapes[name][1]
        fixed = not type(prior).moving_support
        return (not guide.discrete and sites[name].estimator == "pathwise" and name not in blocks
                and name not in local and fixed and (prior.support is real or prior.support is positive)
                and logq.get(name) not in elem_needed)

    # one run of such latents with no other draw between them, so the block draws the very
    # numbers the latents would draw one by one (the same fit, up to rounding)
    out = []
    for stmt in rewritten.module.body:
        if not isinstance(stmt, ir.Sample) or stmt.name not in rewritten.guide:
            continue
        if fits(stmt.name):
            out.append(stmt.name)
        elif out and sites[stmt.name].estimator not in ("enumerate", "expect"):
            break                              # it draws: the block ends before it
    return out


def _meanfield_layout(members, shapes, space, priors):
    """({latent: (start, stop)} in the block's columns, (loc index, log-scale index, positive,
    constant priors))."""
    columns, loc, rho, pos, start, folded = {}, [], [], [], 0, []
    for name in members:
        size = int(onp.prod(shapes[name][0], dtype=int))
        columns[name], start = (start, start + size), start + size
        if name in priors:
            folded.append((start - size, start) + priors[name])
        loc.append(onp.arange(*space.slices[f"{name}.loc"]))
        rho.append(onp.arange(*space.slices[f"{name}.scale"]))
        pos.append(onp.full(size, shapes[name][1].support is positive))
    if not members:
        return {}, None
    pos = onp.concatenate(pos)
    return columns, (_slice(onp.concatenate(loc)), _slice(onp.concatenate(rho)), pos if pos.any() else None,
                     _merged(folded))


def _merged(folded):
    """Constant priors of one family on adjacent columns as one entry, their arguments side by
    side: the block evaluates them in one call."""
    out = []
    for lo, hi, density, args in folded:
        if out and out[-1][1] == lo and out[-1][2] is density:
            plo, phi, _, pargs = out[-1]
            args = tuple(onp.concatenate([onp.broadcast_to(onp.reshape(a, (1, -1)), (1, phi - plo)),
                                          onp.broadcast_to(onp.reshape(b, (1, -1)), (1, hi - lo))], axis=1)
                         for a, b in zip(pargs, args))
            lo = plo
            out.pop()
        out.append((lo, hi, density, args))
    return tuple(out)


def _slice(index):
    """A run of consecutive indices as a slice (a view, not a copy, when it reads), else as it is."""
    if len(index) and onp.array_equal(index, onp.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


def _compile_ops(rewritten, scope, slots, shapes, plan, batch):
    """One closure per statement in program order, closures to run after them, the conditional
    distributions of enumerated latents, and the sign of each cost (loss = sum sign * term; a
    subsampled statement's terms are weighted by N / B)."""
    module, sites = rewritten.module, {s.name: s for s in rewritten.sites}
    index = {(c.source, c.part): i for i, c in enumerate(rewritten.costs)}
    known, reported = ranks(module), reported_names(module)
    program_ops, finals, enumerated, signs = [], [], {}, []
    if plan.blocks:
        program_ops.append(fullrank.joint_op(max(hi for _, hi in plan.blocks.values()), plan.stl))
    first = next(iter(plan.columns), None)
    for stmt in module.body:
        weight = batch.scale if batch and getattr(stmt, "name", None) in batch.scaled else 1.0
        if isinstance(stmt, ir.Let):
            program_ops.append(ops.let_op(stmt, compile_expr(stmt.expr, scope), slots[stmt.name]))
        elif isinstance(stmt, ir.Sample):
            site, codes, slot = sites.get(stmt.name), arg_codes(stmt, scope), slots[stmt.name]
            shape, prior = shapes[stmt.name]
            costs = ops.SiteCosts(index[stmt.name, "logp"], index[stmt.name, "logq"]) if module.mode == "vi" else None
            if site is not None and site.estimator in ("enumerate", "expect"):
                support, guide = prior.enumerate_support(), rewritten.guide.get(stmt.name)
                program_ops.append(enumeration.enumerated_op(stmt, codes, slot, shape, costs, plan, support,
                                                             module.mode, guide))
                enumerated[stmt.name] = enumeration.conditional(stmt.name, shape, stmt.name in plan.marginal)
                if stmt.name in plan.marginal:
                    finals.append(enumeration.marginal_final(stmt.name, shape, costs.logp))
            elif module.mode == "vi":
                guide = rewritten.guide[stmt.name]
                if stmt.name == first:
                    program_ops.append(ops.meanfield_op(plan.layout, [hi - lo for lo, hi in plan.columns.values()]))
                program_ops.append(ops.guided_op(stmt, codes, slot, shape, site, guide, costs, plan))
            else:
                program_ops.append(ops.sample_op(stmt, codes, slot, shape, site, plan))
            if module.mode == "vi":
                signs += [-weight, weight]      # - log p(z) + log q(z)
        elif isinstance(stmt, ir.Observe):
            y = compile_expr(ast.Name(stmt.name), scope)
            program_ops.append(ops.observe_op(stmt, arg_codes(stmt, scope), y, len(signs), plan))
            signs.append(-weight)               # - log p(y)
        elif isinstance(stmt, ir.Factor):
            program_ops.append(factor_op(stmt, compile_expr(stmt.expr, scope), len(signs), plan))
            signs.append(-weight)               # - the term
        elif isinstance(stmt, ir.Loop):
            has_terms = any(c.part == "factor" and c.expr is stmt for c in rewritten.costs)
            program_ops.append(loop_op(stmt, scope, slots, len(signs) if has_terms else None, known, plan.fast,
                                       reported))
            signs += [-weight] * has_terms
        else:
            sense = 1.0 if stmt.sense == "minimize" else -1.0
            for (s, expr), cost in zip(stmt.terms, [c for c in rewritten.costs if c.part == "term"]):
                code = compile_expr(cost.inner if cost.inner is not None else expr, scope)
                program_ops.append(ops.term_op(stmt, code, cost.reduce, len(signs), plan))
                signs.append(sense * s)
    assert len(signs) == len(rewritten.costs), "cost terms out of step with the rewrite"
    return program_ops, finals, enumerated, signs
