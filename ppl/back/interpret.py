"""One interpreter of the lowered program, with what happens at each statement left to a handler
(as minipyro's messengers do): the build's dry run (`build.DryRun`), and the prior and posterior
predictive (`predictive.Forward`).

The interpreter walks the statements in order over a list of slots, one value per name with
draws as the leading axis, and hands each statement to its handler as a `Site`, which compiles
the statement's arguments and finds a latent's shape the one way the compiled step does too
(`arg_codes`, `latent_shape`). The compiled step itself (`build`'s closures, `ops`) is the same
walk, unrolled once into closures for speed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as onp

from ..front import ast
from ..front.errors import SemanticError
from ..middle import ir
from ..middle.dependence import flat
from .expr import compile_expr, evaluate
from .expr import make_dist, value

if TYPE_CHECKING:
    from ..distributions.base import Value


def arg_codes(stmt: ir.Sample | ir.Observe, scope: dict) -> list:
    """[(argument name, compiled code), ...] of a sample or observe statement."""
    return [(name, compile_expr(expr, scope)) for name, expr in stmt.args]


def latent_shape(stmt, prior, scope: dict) -> tuple:
    """A latent's shape: its annotation (`z: real[N] ~ ...`), which the arguments must broadcast
    to, or else the arguments' batch and event shape (`prior` drawn at rank 0, particles first)."""
    batch = tuple(prior.batch_shape[1:]) + tuple(prior.event_shape)
    if stmt.shape is None:
        return batch
    shape = tuple(int(value(compile_expr(d, scope), None)[0]) for d in stmt.shape)
    if not broadcasts_to(batch, shape):
        raise SemanticError(f"the arguments have shape {batch}, which does not fit the declared "
                            f"shape {shape}", stmt.span)
    return shape


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    try:
        return onp.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


@dataclass
class Site:
    """A statement as its handler sees it, with the values of the statements before it."""
    stmt: object
    env: list
    scope: dict
    codes: list = field(default=None)

    def __post_init__(self):
        if isinstance(self.stmt, (ir.Sample, ir.Observe)):
            self.codes = arg_codes(self.stmt, self.scope)

    def dist(self, rank: int = 0):
        """The statement's distribution, its arguments lined up for a value of `rank` axes."""
        return make_dist(self.stmt.family, self.codes, self.env, rank)

    def shape(self, prior) -> tuple:
        return latent_shape(self.stmt, prior, self.scope)

    def evaluate(self, expr):
        """An expression's value here, draws first."""
        return value(compile_expr(expr, self.scope), self.env)

    def data(self):
        """An observed name's value (its data, or its slot)."""
        return self.evaluate(ast.Name(self.stmt.name))


class Handler:
    """What a walk does at each kind of statement; each method returns the statement's value for
    its slot (None: nothing to store). `failure` begins the message of an evaluation error."""
    failure = "cannot evaluate this statement"

    def let(self, site: Site) -> Value:
        return site.evaluate(site.stmt.expr)

    def sample(self, site: Site) -> Value:
        raise NotImplementedError

    def observe(self, site: Site) -> Value | None:
        return None

    def objective(self, site: Site) -> None:
        return None

    def factor(self, site: Site) -> None:
        return None


def value_names(module: ir.Module) -> list[str]:
    """The names that take a slot, in order: every assigned or drawn name, loops' variables and
    the names of their bodies included."""
    out = {}
    for stmt in flat(module.body):
        if isinstance(stmt, ir.Loop):
            out.setdefault(stmt.var)
        elif isinstance(stmt, (ir.Let, ir.Sample)):
            out.setdefault(stmt.name)
    return list(out)


def reported_names(module: ir.Module) -> frozenset[str]:
    """The names a fit reports: those of statements outside loops (a loop's own are not)."""
    return frozenset(s.name for s in module.body if isinstance(s, (ir.Let, ir.Sample)))


def loop_range(loop: ir.Loop, scope: dict) -> range:
    """The values a loop variable takes (its bounds are known before the fit)."""
    start, stop = (int(onp.reshape(evaluate(e, scope), (-1,))[0]) for e in (loop.start, loop.stop))
    return range(start, max(start, stop))


def interpret(module: ir.Module, scope: dict, slots: dict, env: list, handler: Handler) -> None:
    """Walk `module`'s statements in order, `handler` deciding each one's value; values go to
    `env` at their `slots` (names without a slot are not stored). A loop's body is walked once
    per value of its variable."""
    _walk(module.body, scope, slots, env, handler)


def _walk(body, scope, slots, env, handler):
    visit = {ir.Let: handler.let, ir.Sample: handler.sample, ir.Observe: handler.observe,
             ir.Objective: handler.objective, ir.Factor: handler.factor}
    for stmt in body:
        if isinstance(stmt, ir.Loop):
            for t in loop_range(stmt, scope):
                env[slots[stmt.var]] = onp.asarray([t])
                _walk(stmt.body, scope, slots, env, handler)
            continue
        try:
            with onp.errstate(all="ignore"):      # a non-finite value is for the fit to judge
                x = visit[type(stmt)](Site(stmt, env, scope))
        except (ValueError, IndexError, TypeError) as err:
            raise SemanticError(f"{handler.failure}: {err}", stmt.span) from None
        name = getattr(stmt, "name", None)
        if x is not None and name in slots:
            env[slots[name]] = x
