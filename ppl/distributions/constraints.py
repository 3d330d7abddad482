"""Constraints on values, and bijections onto them from unconstrained reals.

`check` is plain numpy (it decides support membership and is never
differentiated); the bijections use autograd.numpy so that inference can
optimise or sample in unconstrained space and differentiate through the map.
NaN fails every check; so do infinities, unless an interval bound is infinite.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as onp
import autograd.numpy as np
from ..kernels.special import expit, logit
from autograd.tracer import getval

if TYPE_CHECKING:
    from .base import Value

__all__ = [
    "Constraint", "real", "real_vector", "positive", "unit_interval", "interval", "greater_than",
    "less_than", "circular", "simplex", "ordered", "positive_ordered", "corr_cholesky", "lower_cholesky",
    "positive_definite", "nonnegative_integer", "integer", "boolean", "integer_interval", "multinomial",
]


def _plain(x):
    return onp.asarray(getval(x))


def short(value: Value) -> str:
    """Printable form of a bound: the number for scalars, dtype[shape] for arrays."""
    value = _plain(value)
    if value.ndim == 0:
        return f"{value.item():g}"
    return f"{value.dtype.name}[{','.join(map(str, value.shape))}]"


def _log_sigmoid(u):
    # -softplus(-u): exact for large |u| where log(expit(u)) underflows to -inf.
    return -np.logaddexp(0.0, -u)


class Constraint:
    """A set of admissible values; continuous ones also carry a bijection from R^n."""

    name = "constraint"
    discrete = False
    event_dim = 0

    def __repr__(self):
        return self.name

    def check(self, x):
        raise NotImplementedError

    def to_constrained(self, u):
        raise NotImplementedError(f"{self.name} has no bijection from the reals")

    def to_unconstrained(self, x):
        raise NotImplementedError(f"{self.name} has no bijection from the reals")

    def log_abs_det_jacobian(self, u):
        raise NotImplementedError(f"{self.name} has no bijection from the reals")

    def unconstrained_shape(self, shape):
        return tuple(shape)


class _Real(Constraint):
    """(-inf, inf), identity map."""

    name = "real"

    def check(self, x):
        return onp.isfinite(_plain(x))

    def to_constrained(self, u):
        return u

    def to_unconstrained(self, x):
        return x

    def log_abs_det_jacobian(self, u):
        return np.zeros(onp.shape(u))


class _RealVector(_Real):
    """Vectors of reals on the last axis (a multivariate normal's values), identity map."""

    name = "real_vector"
    event_dim = 1

    def check(self, x):
        return onp.all(onp.isfinite(_plain(x)), axis=-1)

    def log_abs_det_jacobian(self, u):
        return np.zeros(onp.shape(u)[:-1])


class _GreaterThan(Constraint):
    """(low, inf), x = low + exp(u)."""

    def __init__(self, low, name=None):
        self.low = low
        self.name = name or f"greater_than({short(low)})"

    def check(self, x):
        x = _plain(x)
        return (x > _plain(self.low)) & onp.isfinite(x)

    def to_constrained(self, u):
        if self is positive:
            return np.exp(u)
        return self.low + np.exp(u)

    def to_unconstrained(self, x):
        return np.log(x - self.low)

    def log_abs_det_jacobian(self, u):
        if self is positive:
            return u
        # Broadcast against low so the shape matches to_constrained's output.
        return u + np.zeros(onp.shape(self.low))


class _LessThan(Constraint):
    """(-inf, high), x = high - exp(u)."""

    def __init__(self, high):
        self.high = high
        self.name = f"less_than({short(high)})"

    def check(self, x):
        x = _plain(x)
        return (x < _plain(self.high)) & onp.isfinite(x)

    def to_constrained(self, u):
        return self.high - np.exp(u)

    def to_unconstrained(self, x):
        return np.log(self.high - x)

    def log_abs_det_jacobian(self, u):
        return u + np.zeros(onp.shape(self.high))


class _Interval(Constraint):
    """[low, high], x = low + (high - low) * sigmoid(u)."""

    def __init__(self, low, high, name=None):
        self.low, self.high = low, high
        self.name = name or f"interval({short(low)}, {short(high)})"

    def check(self, x):
        x = _plain(x)
        return (x >= _plain(self.low)) & (x <= _plain(self.high))

    def to_constrained(self, u):
        return self.low + (self.high - self.low) * expit(u)

    def to_unconstrained(self, x):
        return logit((x - self.low) / (self.high - self.low))

    def log_abs_det_jacobian(self, u):
        # d sigmoid/du = sigmoid(u) * sigmoid(-u), kept in log space.
        return np.log(self.high - self.low) + _log_sigmoid(u) + _log_sigmoid(-u)


class _Simplex(Constraint):
    """Nonnegative vectors summing to one over the last axis; stick-breaking map.

    u has K-1 entries for a K-simplex.  Entry k breaks off the fraction
    sigmoid(u_k - log(K-1-k)) of the remaining stick, so u = 0 gives the
    uniform simplex (as in Stan and NumPyro).
    """

    name = "simplex"
    event_dim = 1

    def check(self, x):
        x = _plain(x)
        return onp.all(x >= 0, axis=-1) & (onp.abs(x.sum(axis=-1) - 1) < 1e-6)

    @staticmethod
    def _offset(k_minus_1):
        return onp.log(onp.arange(k_minus_1, 0, -1, dtype=float))

    def _log_pieces(self, u):
        x = u - self._offset(onp.shape(u)[-1])
        zero = np.zeros(onp.shape(u)[:-1] + (1,))
        # Log of the stick left before each break; the last entry is what remains.
        log_rest = np.concatenate([zero, np.cumsum(_log_sigmoid(-x), axis=-1)], axis=-1)
        return x, zero, log_rest

    def to_constrained(self, u):
        x, zero, log_rest = self._log_pieces(u)
        return np.exp(np.concatenate([_log_sigmoid(x), zero], axis=-1) + log_rest)

    def to_unconstrained(self, y):
        # logit of each broken fraction = log(y_k) - log(sum_{j>k} y_j); the
        # tail sums avoid the cancellation in 1 - cumsum(y).
        tail = np.cumsum(y[..., ::-1], axis=-1)[..., ::-1]
        return np.log(y[..., :-1]) - np.log(tail[..., 1:]) + self._offset(onp.shape(y)[-1] - 1)

    def log_abs_det_jacobian(self, u):
        # The Jacobian of the first K-1 outputs is triangular, with diagonal
        # sigmoid(x_k) * sigmoid(-x_k) * (stick left before break k).
        x, _, log_rest = self._log_pieces(u)
        return np.sum(_log_sigmoid(x) + _log_sigmoid(-x) + log_rest[..., :-1], axis=-1)

    def unconstrained_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class _Ordered(Constraint):
    """Strictly increasing vectors on the last axis: x_0 = u_0, x_k = x_{k-1} + exp(u_k)."""

    name = "ordered"
    event_dim = 1

    def check(self, x):
        x = _plain(x)
        return onp.all(onp.isfinite(x), axis=-1) & onp.all(x[..., 1:] > x[..., :-1], axis=-1)

    def to_constrained(self, u):
        return np.cumsum(np.concatenate([u[..., :1], np.exp(u[..., 1:])], axis=-1), axis=-1)

    def to_unconstrained(self, x):
        return np.concatenate([x[..., :1], np.log(x[..., 1:] - x[..., :-1])], axis=-1)

    def log_abs_det_jacobian(self, u):
        return np.sum(u[..., 1:], axis=-1)


class _PositiveOrdered(_Ordered):
    """Strictly increasing positive vectors: x_k = sum_{j <= k} exp(u_j)."""

    name = "positive_ordered"

    def check(self, x):
        return super().check(x) & onp.all(_plain(x)[..., :1] > 0, axis=-1)

    def to_constrained(self, u):
        return np.cumsum(np.exp(u), axis=-1)

    def to_unconstrained(self, x):
        return np.log(np.concatenate([x[..., :1], x[..., 1:] - x[..., :-1]], axis=-1))

    def log_abs_det_jacobian(self, u):
        return np.sum(u, axis=-1)


def _log1m_tanh2(u):
    # log(1 - tanh(u)^2) = -2 log cosh(u), without the cancellation near |u| large.
    return 2 * (math.log(2) - np.logaddexp(u, -u))


class _CorrCholesky(Constraint):
    """Lower-triangular factors L of correlation matrices (last two axes): positive diagonal,
    rows of unit length. Stan's map: K(K-1)/2 reals -> canonical partial correlations
    z = tanh(u) -> L[i, j] = z_ij sqrt(1 - sum_{k<j} L[i, k]^2), the diagonal filling each row
    to unit length. Densities on it are with respect to L's strictly lower entries."""

    name = "corr_cholesky"
    event_dim = 2

    def check(self, x):
        x = _plain(x)
        lower = onp.all(onp.triu(x, 1) == 0, axis=(-2, -1))
        diagonal = onp.all(onp.diagonal(x, axis1=-2, axis2=-1) > 0, axis=-1)
        unit = onp.all(onp.abs(onp.sum(x**2, axis=-1) - 1) < 1e-6, axis=-1)
        return lower & diagonal & unit & onp.all(onp.isfinite(x), axis=(-2, -1))

    @staticmethod
    def dimension(m):
        k = int(round((1 + math.sqrt(1 + 8 * m)) / 2))
        if k * (k - 1) // 2 != m:
            raise ValueError(f"{m} unconstrained values do not make a correlation matrix")
        return k

    def _rows(self, u):
        """Per row i: its strictly lower entries and the log of the squared length left after
        each (its last is the squared diagonal), plus the log-Jacobian of the row."""
        k, batch = self.dimension(onp.shape(u)[-1]), onp.shape(u)[:-1]
        z, log1m = np.tanh(u), _log1m_tanh2(u)
        rows, pos = [], 0
        for i in range(k):
            entries, log_left, ladj = [], np.zeros(batch), np.zeros(batch)
            for _ in range(i):
                entries.append(z[..., pos] * np.exp(0.5 * log_left))
                ladj = ladj + log1m[..., pos] + 0.5 * log_left
                log_left = log_left + log1m[..., pos]
                pos += 1
            rows.append((entries, log_left, ladj))
        return k, batch, rows

    def to_constrained(self, u):
        k, batch, rows = self._rows(u)
        zero = np.zeros(batch)
        return np.stack([np.stack(entries + [np.exp(0.5 * log_left)] + [zero] * (k - 1 - i), axis=-1)
                         for i, (entries, log_left, _) in enumerate(rows)], axis=-2)

    def to_unconstrained(self, x):
        k, out = onp.shape(x)[-1], []
        for i in range(1, k):
            left = np.ones(onp.shape(x)[:-2])
            for j in range(i):
                z = x[..., i, j] / np.sqrt(left)
                out.append(np.arctanh(z))
                left = left - x[..., i, j] ** 2
        return np.stack(out, axis=-1)

    def log_abs_det_jacobian(self, u):
        _, batch, rows = self._rows(u)
        return sum((ladj for _, _, ladj in rows), np.zeros(batch))

    def unconstrained_shape(self, shape):
        k = shape[-1]
        return tuple(shape[:-2]) + (k * (k - 1) // 2,)


class _LowerCholesky(Constraint):
    """Lower-triangular matrices with a positive diagonal (a scale_tril argument)."""

    name = "lower_cholesky"
    event_dim = 2

    def check(self, x):
        x = _plain(x)
        lower = onp.all(onp.triu(x, 1) == 0, axis=(-2, -1))
        return lower & onp.all(onp.diagonal(x, axis1=-2, axis2=-1) > 0, axis=-1) \
            & onp.all(onp.isfinite(x), axis=(-2, -1))


class _PositiveDefinite(Constraint):
    """Symmetric positive-definite matrices (a covariance_matrix argument)."""

    name = "positive_definite"
    event_dim = 2

    def check(self, x):
        x = _plain(x)
        finite = onp.all(onp.isfinite(x), axis=(-2, -1))
        x = onp.where(finite[..., None, None], x, onp.eye(x.shape[-1]))
        symmetric = onp.all(onp.abs(x - onp.swapaxes(x, -1, -2)) <= 1e-10 * (1 + onp.abs(x)), axis=(-2, -1))
        return finite & symmetric & (onp.linalg.eigvalsh(x)[..., 0] > 0)


class _Multinomial(Constraint):
    """Count vectors on the last axis summing to a total."""

    discrete = True
    event_dim = 1

    def __init__(self, total):
        self.total = total
        self.name = f"multinomial({short(total)})"

    def check(self, x):
        x = _plain(x)
        counts = onp.all(onp.isfinite(x) & (x >= 0) & (x == onp.floor(x)), axis=-1)
        return counts & (x.sum(axis=-1) == _plain(self.total))


class _IntegerInterval(Constraint):
    """Integers in [low, high]."""

    discrete = True

    def __init__(self, low, high, name=None):
        self.low, self.high = low, high
        self.name = name or f"integer_interval({short(low)}, {short(high)})"

    def check(self, x):
        x = _plain(x)
        integral = onp.isfinite(x) & (x == onp.floor(x))
        return integral & (x >= _plain(self.low)) & (x <= _plain(self.high))


real = _Real()
real_vector = _RealVector()
positive = _GreaterThan(0.0, name="positive")
unit_interval = _Interval(0.0, 1.0, name="unit_interval")
circular = _Interval(-math.pi, math.pi, name="circular")
simplex = _Simplex()
ordered = _Ordered()
positive_ordered = _PositiveOrdered()
corr_cholesky = _CorrCholesky()
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
nonnegative_integer = _IntegerInterval(0, onp.inf, name="nonnegative_integer")
integer = _IntegerInterval(-onp.inf, onp.inf, name="integer")
boolean = _IntegerInterval(0, 1, name="boolean")


def interval(low: Value, high: Value) -> Constraint:
    return _Interval(low, high)


def greater_than(low: Value) -> Constraint:
    return _GreaterThan(low)


def less_than(high: Value) -> Constraint:
    return _LessThan(high)


def integer_interval(low: Value, high: Value) -> Constraint:
    return _IntegerInterval(low, high)


def multinomial(total: Value) -> Constraint:
    return _Multinomial(total)
