"""Subsampling: which data are cut into minibatches, which latents go with them, which costs scale.

With `batch_size=B`, every step draws B of the N observations (without replacement) along their
first axis: every data array declared with the same leading size as the observed data is cut to
those rows, and so is every latent with one value per observation (a local latent: declared with
that leading size, or drawn from arguments that have it). The log-density terms of those
statements, summed over the B rows, are scaled by N / B, so the loss and its gradient are
unbiased for the full-data ones (Pyro's `plate(subsample_size=...)`, Hoffman et al.'s SVI).

That holds only while each row of the program depends on its own rows alone, so the compiler
proves it: elementwise operations, a matrix product with the rows on the left, and indexing by a
row-valued index keep the rows apart; a reduction over them (sum, mean, a product on the other
side) does not, and is an error naming the expression. The subsampled size itself (`N`) may
appear only in declared shapes, since within a step there are B rows, not N.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as onp

from ..front import ast
from . import ir
from .dependence import rank, ranks
from ..front.errors import SemanticError
from ..front.functions import FUNCTIONS

NONE, ROWS = 0, 1
SPARSE = 20             # B below N / SPARSE: draw rows with replacement, then redraw repeats
ELEMENTWISE_OPS = set("+-*/^")


@dataclass(frozen=True)
class Batch:
    """A subsampling plan: B of N rows per step."""
    size: int                  # B
    total: int                 # N
    dim: str                   # the leading size as written (`N`)
    data: tuple                # data arrays cut along their first axis
    local: frozenset           # latents with one value per row
    scaled: frozenset          # statements whose log-density terms are scaled by N / B
    rowwise: frozenset = frozenset()   # every latent and deterministic with one value per row

    @property
    def scale(self) -> float:
        return self.total / self.size

    def rows(self, rng: onp.random.Generator) -> onp.ndarray:
        """B distinct rows, uniformly among all sets of B, sorted (a memory-mapped array is then
        read in order). For B far below N, draws with replacement and redraws the few repeats:
        the same distribution (the procedure treats every row alike and always ends with B
        distinct rows) at a fraction of the cost of `choice(replace=False)` on a large N."""
        if self.size * SPARSE > self.total:
            return onp.sort(rng.choice(self.total, self.size, replace=False))
        rows = _distinct(rng.integers(0, self.total, self.size))
        while len(rows) < self.size:
            rows = _distinct(onp.concatenate([rows, rng.integers(0, self.total, self.size - len(rows))]))
        return rows


def _distinct(rows):
    """Sorted distinct values (numpy's unique hashes, which is slower here than a sort)."""
    rows.sort()
    return rows[onp.concatenate(([True], rows[1:] != rows[:-1]))]


def plan(module: ir.Module, data: dict, batch_size: int) -> Batch:
    """The subsampling plan for `module` against validated `data`, or a `SemanticError`."""
    if module.mode not in ("vi", "mle"):
        objective = next((s for s in module.body if isinstance(s, ir.Objective)), None)
        raise SemanticError("subsampling (batch size) needs observed data; this model has an objective instead",
                            objective.span if objective else None, hint="drop --batch-size")
    term = next((s for s in module.body if isinstance(s, (ir.Factor, ir.Loop))), None)
    if term is not None:
        raise SemanticError("cannot subsample a model with loops or log-density terms (target +=, ~ on part of a "
                            "value)", term.span, hint="drop --batch-size")
    observed = [s for s in module.body if isinstance(s, ir.Observe)]
    decls = {d.name: d for d in module.decls}
    leading = {}
    for s in observed:
        if not s.family.elementwise:
            raise SemanticError(f"cannot subsample '{s.name}': under {s.dist} its elements are not independent",
                                s.span, hint="drop --batch-size")
        shape = decls[s.name].shape
        if not shape:
            raise SemanticError(f"cannot subsample '{s.name}': it is a single value, not one per observation",
                                s.span, hint="drop --batch-size, or declare the data with a leading size")
        leading[s.name] = str(shape[0])
    dims = sorted(set(leading.values()))
    if len(dims) > 1:
        raise SemanticError(f"cannot subsample: the observed data have different leading sizes ({', '.join(dims)})",
                            observed[0].span, hint="subsampling cuts one axis shared by every observation")
    dim = dims[0]
    total = int(onp.shape(data[observed[0].name])[0])
    size = int(batch_size)
    if not 1 <= size <= total:
        raise SemanticError(f"the batch size must be between 1 and {total} (the {dim} observations), not {batch_size}",
                            observed[0].span, hint=f"pass --batch-size between 1 and {total}")
    batched = tuple(d.name for d in module.decls
                    if d.kind == "data" and d.shape and str(d.shape[0]) == dim)
    _size_only_in_shapes(module, dim)
    rows = set(batched)
    local, scaled = _propagate(module, rows, dim)
    values = {s.name for s in module.body if isinstance(s, (ir.Let, ir.Sample))}
    return Batch(size, total, dim, batched, frozenset(local), frozenset(scaled), frozenset(rows & values))


def _size_only_in_shapes(module, dim):
    for stmt in module.body:
        for expr in _expressions(stmt):
            for node in ast.names(expr):
                if node.id == dim:
                    raise SemanticError(f"'{dim}' is the subsampled size, so it can appear only in declared shapes",
                                        node.span, hint=f"within a step there are batch-size rows, not {dim}; "
                                                         "drop --batch-size to use it here")


def _expressions(stmt):
    if isinstance(stmt, ir.Let):
        return [stmt.expr]
    if isinstance(stmt, (ir.Sample, ir.Observe)):
        return [e for _, e in stmt.args]
    if isinstance(stmt, ir.Objective):
        return [e for _, e in stmt.terms]
    return []


def _propagate(module, rows, dim):
    """Follow the rows through the program: (local latents, statements whose costs scale)."""
    known = ranks(module)
    local, scaled = set(), set()
    for stmt in module.body:
        if isinstance(stmt, ir.Let):
            if _rows(stmt.expr, rows, known) == ROWS:
                rows.add(stmt.name)
        elif isinstance(stmt, (ir.Sample, ir.Observe)):
            args = max([_rows(e, rows, known) for _, e in stmt.args], default=NONE)
            if isinstance(stmt, ir.Observe):
                own = stmt.name in rows
            else:                  # a declared shape says; else the shape follows the arguments
                own = str(stmt.shape[0]) == dim if stmt.shape else args == ROWS
            if args == ROWS and not own:
                raise SemanticError(f"'{stmt.name}' does not have one value per observation ({dim}), but its "
                                    "arguments do", stmt.span,
                                    hint=f"declare '{stmt.name}' with the leading size {dim}, or drop --batch-size")
            if own:
                rows.add(stmt.name)
                scaled.add(stmt.name)
                if isinstance(stmt, ir.Sample):
                    local.add(stmt.name)
    return local, scaled


def _rows(expr, rows, known) -> int:
    """ROWS when element i of `expr`'s first axis depends on row i alone, NONE when it depends on
    no row; anything else is an error at the expression."""
    if isinstance(expr, ast.Name):
        return ROWS if expr.id in rows else NONE
    if isinstance(expr, ast.Num):
        return NONE
    parts = [_rows(c, rows, known) for c in ast.children(expr)]
    if max(parts, default=NONE) == NONE:
        return NONE
    if isinstance(expr, ast.Unary):
        return ROWS
    if isinstance(expr, ast.Binary):
        a, b = rank(expr.left, known), rank(expr.right, known)
        if expr.op in ELEMENTWISE_OPS:
            lead = [r for r, p in ((a, parts[0]), (b, parts[1])) if p == ROWS]
            if all(r == lead[0] for r in lead) and max(a, b) == lead[0]:
                return ROWS                      # the rows stay the first axis of the result
        elif expr.op == "@" and parts == [ROWS, NONE] and a >= 2:
            return ROWS
    elif isinstance(expr, ast.Call):
        kind = FUNCTIONS[expr.func].kind
        if kind == "elementwise" or (kind == "vector" and rank(expr.args[0], known) >= 2):
            return ROWS
    elif isinstance(expr, ast.Index):
        first, rest = expr.indices[0], expr.indices[1:]
        if parts[0] == ROWS and isinstance(first, ast.Slice) and first.start is None and first.stop is None \
                and not any(parts[1:]):
            return ROWS                          # x[:, j]: every row, some columns
        if parts[0] == NONE and parts[1] == ROWS and not any(parts[2:]) and \
                all(isinstance(i, (ast.Slice, ast.Num)) for i in rest):
            return ROWS                          # mu[z]: one row of the result per row of z
    raise SemanticError(f"'{expr}' mixes the subsampled rows (it reduces over them or lines them up "
                        "with something else), so a minibatch cannot stand for the whole data",
                        expr.span, hint="drop --batch-size, or keep each row's computation to its own row")


