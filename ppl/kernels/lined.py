"""Arithmetic on values of different ranks, and matrix-vector products, each one autograd node.

Values carry the particle axis first, so a (particles,) scalar meets a (particles, n) vector only
after an axis is inserted behind the particles (`fused.align`). Done with `np.reshape` that is a
node of its own on the tape for every operand; here the operands are lined up inside the
primitive and the gradient is summed back to each operand's own shape. A matrix times a vector
is one node, not a product with a one-column matrix between two reshapes. Checked against autograd's own operations in
tests/test_lined.py.

>>> import numpy as onp
>>> add(onp.array([1.0, 2.0]), onp.array([[10.0, 20.0], [30.0, 40.0]])).tolist()
[[11.0, 21.0], [32.0, 42.0]]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp
from autograd.extend import defvjp, defvjp_argnums, primitive

from .fused import align, unalign

if TYPE_CHECKING:
    from autograd.tracer import Box


def _binary(name, forward, da, db):
    """A primitive f(a, b) = forward(A, B) on the lined-up operands; da and db give the gradient
    of each from (g, ans, A, B), before it is summed back."""
    @primitive
    def f(a, b):
        return forward(*align((a, b)))

    def make(argnums, ans, args, kwargs):
        (a, b), (A, B) = args, align(args)

        def vjp(g):
            return [unalign(da(g, ans, A, B), a, A) if i == 0 else unalign(db(g, ans, A, B), b, B) for i in argnums]
        return vjp

    defvjp_argnums(f, make)
    f.__name__ = name
    return f


def _power_da(g, ans, A, B):
    return g * B * A ** onp.where(B, B - 1, 1.0)


def _power_db(g, ans, A, B):
    return g * onp.log(onp.where(A, A, 1.0)) * ans


add = _binary("add", onp.add, lambda g, ans, A, B: g, lambda g, ans, A, B: g)
subtract = _binary("subtract", onp.subtract, lambda g, ans, A, B: g, lambda g, ans, A, B: -g)
multiply = _binary("multiply", onp.multiply, lambda g, ans, A, B: g * B, lambda g, ans, A, B: g * A)
true_divide = _binary("true_divide", onp.true_divide, lambda g, ans, A, B: g / B, lambda g, ans, A, B: -g * ans / B)
power = _binary("power", onp.power, _power_da, _power_db)


# Products go particle by particle (a batched matmul), never as one matrix product over all
# particles: BLAS may round a product of k rows differently for another k, and a fit must not
# depend on how many particles share a pass (`program.passes`).

@primitive
def _product(m, v, transposed):
    """m @ v per particle (m^T @ v if `transposed`): m (1 or particles, n, d), or (.., d, n)
    transposed; v (1 or particles, d) -> (particles, n)."""
    return ((onp.swapaxes(m, 1, 2) if transposed else m) @ v[:, :, None])[:, :, 0]


def _rows(d, like):
    """A gradient (particles, ...) summed to one row where `like` has one row for all particles."""
    return d.sum(axis=0, keepdims=True) if like.shape[0] == 1 and len(d) > 1 else d


def _product_m(ans, m, v, transposed):
    def vjp(g):
        d = g[:, :, None] * v[:, None, :]                 # (particles, n, d)
        return _rows(onp.swapaxes(d, 1, 2) if transposed else d, m)
    return vjp


def _product_v(ans, m, v, transposed):
    def vjp(g):
        return _rows(((m if transposed else onp.swapaxes(m, 1, 2)) @ g[:, :, None])[:, :, 0], v)
    return vjp


defvjp(_product, _product_m, _product_v)


def matvec(m: onp.ndarray | Box, v: onp.ndarray | Box) -> onp.ndarray | Box:
    """m @ v per particle: m (1 or particles, n, d), v (1 or particles, d) -> (particles, n)."""
    return _product(m, v, False)


def vecmat(v: onp.ndarray | Box, m: onp.ndarray | Box) -> onp.ndarray | Box:
    """v @ m per particle: v (1 or particles, d), m (1 or particles, d, n) -> (particles, n)."""
    return _product(m, v, True)


@primitive
def stack(*items: onp.ndarray) -> onp.ndarray:
    """The items (each particles first, lined up and broadcast against each other) side by side
    on a new axis after the particles: an array literal. One node; the gradient of each item is
    its own column, so an n-item literal costs O(n), not autograd's O(n^2) for concatenate."""
    lined = align(items)
    return onp.stack(onp.broadcast_arrays(*lined), axis=1)


def _stack_vjp(argnums, ans, args, kwargs):
    lined = align(args)

    def vjp(g):
        return [unalign(g[:, i], args[i], lined[i]) for i in argnums]
    return vjp


defvjp_argnums(stack, _stack_vjp)
