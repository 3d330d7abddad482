"""Loops and log-density terms in the compiled program.

A loop's body holds assignments (a new value of a name defined before the loop, such as
`s[t] = ...` or `m = m + ...`, or a name of the body's own) and log-density terms, never draws;
its terms, summed over every iteration, are one cost. The reference program (`build(fast=False)`)
runs it in order, t = start, ..., stop - 1, the body's closures called once per value, assigning
whole arrays. The fast program (`build(fast=True)`, what a fit runs) either
- runs it at once, when no iteration reads what another wrote and every value that changes with
  t is a single number per iteration (`vectorizable`): t is then the vector [start, ..., stop - 1]
  and the body runs once, its values one per iteration side by side; or
- runs it in order, an array assigned element by element kept as `Cells` meanwhile.
Both give the reference's values and gradients (`Model.check_fast_path`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from ..front import ast
from ..kernels.special import sum_rest
from ..middle import ir
from ..middle.dependence import ELEMENT, NONE, WHOLE, dependence, flat, rank
from .expr import Const, compile_expr, constant
from .interpret import loop_range
from .ops import absorb, elem_values
from .runtime_checks import check_finite

if TYPE_CHECKING:
    from collections.abc import Callable

    from .ops import Plan


def factor_op(stmt: ir.Factor, code: Const | Callable, cost: int, plan: Plan) -> Callable[..., None]:
    """A log-density term (`target += e`): e summed into its cost slot; summed out with an
    enumerated latent it depends on, or weighted over its values, like an observation."""
    get = _getter(code)

    def op(env, run):
        x = get(env)
        if not absorb(run, plan, cost, lambda: x):
            run.costs[cost] = _summed(x)
        if cost in plan.elem_needed:
            run.elem[cost] = elem_values(run, plan, cost, x)
        if run.checking and cost not in run.carried:
            check_finite(stmt, run.costs[cost], "the log-density term")
    return op


def loop_op(loop: ir.Loop, scope: dict, slots: dict, cost: int | None, known: dict, fast: bool,
            reported: frozenset) -> Callable[..., None]:
    """A loop: its terms summed into `cost` (None: it has none); the names of `reported` it
    assigns are recorded once it is done."""
    together = fast and vectorizable(loop, known, reported)
    body = _body(loop, scope, slots, known, fast, together, reported)
    assigned = [(s.name, slots[s.name]) for s in flat(loop.body) if isinstance(s, ir.Let) and s.name in reported]

    def op(env, run):
        total = body(env)
        if cost is not None:
            run.costs[cost] = total
            if run.checking:
                check_finite(loop, total, "the log-density terms of the loop")
        if run.record is not None:
            for name, slot in assigned:
                run.record[name] = getval(env[slot])
    return op


class Cells:
    """An array assigned element by element in a loop, kept as the elements assigned so far over
    the array it started as: reading or writing one element is a lookup, not an indexing or a copy
    of the whole array (whose gradients would cost as much as the array at every iteration)."""

    def __init__(self, base):
        self.base, self.written = base, {}

    def _at(self, i):
        n = onp.shape(self.base)[1]
        i = onp.reshape(onp.asarray(getval(i)), (-1,))
        if len(i) != 1:
            raise ValueError("an element is read or assigned one at a time here")
        if not -n <= int(i[0]) < n:
            raise IndexError(f"index {int(i[0])} is out of bounds for axis 1 with size {n}")
        return int(i[0]) % n

    def get(self, i):
        i = self._at(i)
        return self.written[i] if i in self.written else self.base[:, i]

    def set(self, i, v):
        self.written[self._at(i)] = v

    def value(self):
        """The whole array: runs of assigned elements stacked, between slices of the original."""
        if not self.written:
            return self.base
        shape = onp.shape(self.base)
        lead = max([shape[0]] + [onp.shape(v)[0] for v in self.written.values()])
        full = (lead,) + shape[2:]
        pieces, run, start = [], [], 0
        for i in range(shape[1] + 1):
            if i < shape[1] and i in self.written:
                if not run and start < i:
                    pieces.append(_lead(self.base[:, start:i], lead))
                run.append(self.written[i])
                continue
            if run:
                pieces.append(np.stack([v if onp.shape(v) == full else v + np.zeros(full) for v in run], axis=1))
                run, start = [], i
        if start < shape[1]:
            pieces.append(_lead(self.base[:, start:], lead))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)


def _lead(x, lead):
    return x if onp.shape(x)[0] == lead else x + np.zeros((lead,) + onp.shape(x)[1:])


def cell_arrays(loop: ir.Loop) -> frozenset[str]:
    """The arrays the body assigns one element at a time (s[i] = ...) and reads only one element at
    a time (s[i]), with no nested loop touching them: they are kept as `Cells` while it runs."""
    inner = {n.id for s in loop.body if isinstance(s, ir.Loop) for x in flat(s.body) for n in _names_of(x)}
    updates = {s.name for s in loop.body if isinstance(s, ir.Let) and isinstance(s.expr, ast.Update)
               and len(s.expr.indices) == 1 and not isinstance(s.expr.indices[0], ast.Slice)}
    plain = {s.name for s in loop.body if isinstance(s, ir.Let) and not isinstance(s.expr, ast.Update)}
    out = set(updates - plain - inner)
    for stmt in loop.body:
        if not isinstance(stmt, ir.Loop):
            for expr in _read_exprs(stmt):
                out -= _whole_reads(expr)
    return frozenset(out)


def _names_of(stmt):
    exprs = _read_exprs(stmt) if not isinstance(stmt, ir.Loop) else ()
    return [n for e in exprs for n in ast.names(e)] + ([ast.Name(stmt.name)] if isinstance(stmt, ir.Let) else [])


def _read_exprs(stmt):
    if isinstance(stmt.expr, ast.Update):
        return stmt.expr.indices + (stmt.expr.value,)
    return (stmt.expr,)


def _whole_reads(expr) -> set[str]:
    """Names read other than as one element (x[i], a single index that is not a slice)."""
    if isinstance(expr, ast.Index) and isinstance(expr.target, ast.Name) and len(expr.indices) == 1 \
            and not isinstance(expr.indices[0], ast.Slice):
        return _whole_reads(expr.indices[0])
    if isinstance(expr, ast.Name):
        return {expr.id}
    return set().union(*(_whole_reads(c) for c in ast.children(expr)))


def _as_cells(expr, cells):
    """`expr` with every read s[i] of a cell array replaced by `ir.Cell`."""
    if isinstance(expr, ast.Index) and isinstance(expr.target, ast.Name) and expr.target.id in cells:
        return ir.Cell(expr.target.id, _as_cells(expr.indices[0], cells), span=expr.span)
    fields = {k: _as_cells(v, cells) if isinstance(v, ast.Node) else
              tuple(_as_cells(x, cells) if isinstance(x, ast.Node) else x for x in v) if isinstance(v, tuple) else v
              for k, v in vars(expr).items() if k != "span"}
    return type(expr)(**fields, span=expr.span) if fields else expr


def _body(loop, scope, slots, known, fast, together, visible):
    """env -> the sum of the loop's terms over its iterations (0 if none); `visible`: the names
    defined before the loop."""
    steps = loop_range(loop, scope)
    slot = slots[loop.var]
    cells = cell_arrays(loop) if fast and not together else frozenset()   # the reference assigns whole arrays
    parts, visible = [], set(visible)
    for stmt in loop.body:
        if isinstance(stmt, ir.Loop):         # inside a loop run at once, an inner one runs in order
            inner = fast and not together and vectorizable(stmt, known, frozenset(visible))
            parts.append((None, _body(stmt, scope, slots, known, fast, inner, frozenset(visible))))
            continue
        if isinstance(stmt, ir.Let):
            visible.add(stmt.name)
        if isinstance(stmt, ir.Let) and stmt.name in cells:
            update = stmt.expr
            parts.append((None, _setter(slots[stmt.name], compile_expr(_as_cells(update.indices[0], cells), scope),
                                        compile_expr(_as_cells(update.value, cells), scope))))
        elif isinstance(stmt, ir.Let):
            parts.append((slots[stmt.name], _getter(compile_expr(_as_cells(stmt.expr, cells), scope))))
        else:
            parts.append((None, _term(compile_expr(_as_cells(stmt.expr, cells), scope))))
    cell_slots = [slots[name] for name in sorted(cells)]

    def iteration(env):
        total = 0.0
        for target, f in parts:
            if target is None:
                total = total + f(env)
            else:
                env[target] = f(env)
        return total

    if together and len(steps):               # (no iterations: nothing to run at once; no cells either)
        every = constant(onp.arange(steps.start, steps.stop))

        def run_all(env):
            env[slot] = every
            return iteration(env)
        return run_all
    values = [onp.asarray([t]) for t in steps]

    def run_each(env):
        for s in cell_slots:
            env[s] = Cells(env[s])
        total = 0.0
        for t in values:
            env[slot] = t
            total = total + iteration(env)
        for s in cell_slots:
            env[s] = env[s].value()
        return total
    return run_each


def _setter(slot, index, value):
    get_index, get_value = _getter(index), _getter(value)

    def assign(env):
        env[slot].set(get_index(env), get_value(env))
        return 0.0
    return assign


def _getter(code):
    return (lambda env: code.value) if isinstance(code, Const) else code


def _summed(x):
    """A term's value summed over every axis but the particles'."""
    return sum_rest(x) if onp.ndim(x) > 1 else x


def _term(code):
    get = _getter(code)
    return lambda env: _summed(get(env))


def vectorizable(loop: ir.Loop, known: dict, outer: frozenset = frozenset()) -> bool:
    """Whether the loop can run all its iterations at once: no iteration reads a value another one
    assigned (an element s[t + c], c >= 0, of a vector it replaced is read only as s[t], after);
    no name from before the loop (`outer`) is assigned anew; everything that changes with the loop
    variable is one number per iteration, used elementwise; and a nested loop (which runs in order
    inside, for all the outer iterations at once) only updates names of the outer body's own,
    assigned before it. The body's own names are ranked as the body assigns them."""
    known = dict(known, **{loop.var: 0})
    deps, updated, assigned = {loop.var: ELEMENT}, set(), set()
    later = {s.name for s in flat(loop.body) if isinstance(s, ir.Let)}
    for stmt in loop.body:
        if isinstance(stmt, ir.Loop):
            if not _inner_fits(stmt, deps, known, assigned, updated):
                return False
            continue
        update = isinstance(stmt.expr, ast.Update)
        expr = stmt.expr.value if update else stmt.expr
        if update and not (_updatable(stmt.expr, loop.var) and known.get(stmt.name) == 1):
            return False                  # a vector's elements, one per iteration
        if not _reads_fit(expr, loop.var, updated, later - assigned) or not _per_iteration(expr, deps, known):
            return False
        if isinstance(stmt, ir.Let):
            if stmt.name in assigned or (stmt.name in outer and not update):
                return False              # assigned twice, or carried from before: iterations in turn
            assigned.add(stmt.name)
            if update:
                updated.add(stmt.name)
                continue
            known[stmt.name] = rank(expr, known)
            if dependence(expr, deps, known) != NONE:
                deps[stmt.name] = ELEMENT
    return True


def _inner_fits(inner, deps, known, assigned, updated) -> bool:
    """A nested loop inside a loop run at once: plain assignments and terms, per outer iteration
    one number each, assigning only its own names or the outer body's own assigned before it."""
    known = dict(known, **{inner.var: 0})
    own = set()
    for stmt in flat(inner.body):
        if isinstance(stmt, ir.Loop):
            known[stmt.var] = 0
            continue
        if isinstance(stmt.expr, ast.Update) or any(n.id in updated for n in ast.names(stmt.expr)):
            return False
        if not _per_iteration(stmt.expr, deps, known):
            return False
        if isinstance(stmt, ir.Let):
            if stmt.name not in assigned and stmt.name not in own and any(n.id == stmt.name for n in ast.names(stmt.expr)):
                return False              # it updates a value from before the outer loop
            own.add(stmt.name)
            known[stmt.name] = rank(stmt.expr, known)
            if dependence(stmt.expr, deps, known) != NONE:
                deps[stmt.name] = ELEMENT
    assigned |= own
    return True


def _updatable(update, var):
    """`s[t]` or `s[t + c]` = v (c a number, 0 or more: an element no earlier iteration has to
    have written), with v not reading s."""
    (idx,), target = update.indices, update.target.id
    shifted = isinstance(idx, ast.Binary) and idx.op == "+" and isinstance(idx.left, ast.Name) \
        and idx.left.id == var and isinstance(idx.right, ast.Num) and idx.right.value >= 0
    plain = shifted or (isinstance(idx, ast.Name) and idx.id == var)
    return plain and not any(n.id == target for n in ast.names(update.value))


def _reads_fit(expr, var, updated, unassigned) -> bool:
    """No read of a name the body assigns later (the previous iteration's value), and an updated
    array read only at the loop variable."""
    if isinstance(expr, ast.Index) and isinstance(expr.target, ast.Name) and expr.target.id in updated:
        return len(expr.indices) == 1 and isinstance(expr.indices[0], ast.Name) and expr.indices[0].id == var
    if isinstance(expr, ast.Name):
        return expr.id not in updated and expr.id not in unassigned
    return all(_reads_fit(c, var, updated, unassigned) for c in ast.children(expr))


def _per_iteration(expr, deps, known) -> bool:
    """Every subexpression that changes with the loop variable is a single number per iteration
    and reaches the rest elementwise."""
    d = dependence(expr, deps, known)
    if d == NONE:
        return True
    if d == WHOLE or rank(expr, known) != 0:
        return False
    return all(_per_iteration(c, deps, known) for c in ast.children(expr))
