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

import numpy as onp
from autograd.extend import defvjp, primitive

from .fused import _unbroadcast, align


def _back(d, x, lined):
    """The gradient `d` (the result's shape) summed back to the shape of the operand `x`, which
    was lined up as `lined`."""
    if onp.ndim(x) == 0:
        return onp.sum(d)
    d = _unbroadcast(d, onp.shape(lined))
    return d if d.shape == onp.shape(x) else d.reshape(onp.shape(x))


def _binary(name, forward, da, db):
    """A primitive f(a, b) = forward(A, B) on the lined-up operands; da and db give the gradient
    of each from (g, ans, A, B), before it is summed back."""
    @primitive
    def f(a, b):
        return forward(*align((a, b)))

    def vjp_a(ans, a, b):
        A, B = align((a, b))
        return lambda g: _back(da(g, ans, A, B), a, A)

    def vjp_b(ans, a, b):
        A, B = align((a, b))
        return lambda g: _back(db(g, ans, A, B), b, B)

    defvjp(f, vjp_a, vjp_b)
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
def matvec(m, v):
    """m @ v per particle: m (1 or particles, n, d), v (1 or particles, d) -> (particles, n)."""
    return (m @ v[:, :, None])[:, :, 0]


def _matvec_m(ans, m, v):
    def vjp(g):
        d = g[:, :, None] * v[:, None, :]                 # (particles, n, d)
        return d.sum(axis=0, keepdims=True) if m.shape[0] == 1 and len(d) > 1 else d
    return vjp


def _matvec_v(ans, m, v):
    def vjp(g):
        d = (onp.swapaxes(m, 1, 2) @ g[:, :, None])[:, :, 0]
        return d.sum(axis=0, keepdims=True) if v.shape[0] == 1 and len(d) > 1 else d
    return vjp


defvjp(matvec, _matvec_m, _matvec_v)


@primitive
def vecmat(v, m):
    """v @ m per particle: v (1 or particles, d), m (1 or particles, d, n) -> (particles, n)."""
    return (v[:, None, :] @ m)[:, 0, :]


def _vecmat_v(ans, v, m):
    def vjp(g):
        d = (m @ g[:, :, None])[:, :, 0]
        return d.sum(axis=0, keepdims=True) if v.shape[0] == 1 and len(d) > 1 else d
    return vjp


def _vecmat_m(ans, v, m):
    def vjp(g):
        d = v[:, :, None] * g[:, None, :]                 # (particles, d, n)
        return d.sum(axis=0, keepdims=True) if m.shape[0] == 1 and len(d) > 1 else d
    return vjp


defvjp(vecmat, _vecmat_v, _vecmat_m)
