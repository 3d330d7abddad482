"""Constraints on values, and bijections onto them from unconstrained reals.

`check` is plain numpy (it decides support membership and is never
differentiated); the bijections use autograd.numpy so that inference can
optimise or sample in unconstrained space and differentiate through the map.
NaN fails every check; so do infinities, unless an interval bound is infinite.
"""
import numpy as onp
import autograd.numpy as np
from autograd.scipy.special import expit, logit
from autograd.tracer import getval

__all__ = [
    "Constraint", "real", "positive", "unit_interval", "interval", "greater_than", "less_than",
    "simplex", "nonnegative_integer", "boolean", "integer_interval",
]


def _plain(x):
    return onp.asarray(getval(x))


def _short(value):
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
        return np.zeros(np.shape(u))


class _GreaterThan(Constraint):
    """(low, inf), x = low + exp(u)."""

    def __init__(self, low, name=None):
        self.low = low
        self.name = name or f"greater_than({_short(low)})"

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
        return u + np.zeros(np.shape(self.low))


class _LessThan(Constraint):
    """(-inf, high), x = high - exp(u)."""

    def __init__(self, high):
        self.high = high
        self.name = f"less_than({_short(high)})"

    def check(self, x):
        x = _plain(x)
        return (x < _plain(self.high)) & onp.isfinite(x)

    def to_constrained(self, u):
        return self.high - np.exp(u)

    def to_unconstrained(self, x):
        return np.log(self.high - x)

    def log_abs_det_jacobian(self, u):
        return u + np.zeros(np.shape(self.high))


class _Interval(Constraint):
    """[low, high], x = low + (high - low) * sigmoid(u)."""

    def __init__(self, low, high, name=None):
        self.low, self.high = low, high
        self.name = name or f"interval({_short(low)}, {_short(high)})"

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
        x = u - self._offset(np.shape(u)[-1])
        zero = np.zeros(np.shape(u)[:-1] + (1,))
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
        return np.log(y[..., :-1]) - np.log(tail[..., 1:]) + self._offset(np.shape(y)[-1] - 1)

    def log_abs_det_jacobian(self, u):
        # The Jacobian of the first K-1 outputs is triangular, with diagonal
        # sigmoid(x_k) * sigmoid(-x_k) * (stick left before break k).
        x, _, log_rest = self._log_pieces(u)
        return np.sum(_log_sigmoid(x) + _log_sigmoid(-x) + log_rest[..., :-1], axis=-1)

    def unconstrained_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class _IntegerInterval(Constraint):
    """Integers in [low, high]."""

    discrete = True

    def __init__(self, low, high, name=None):
        self.low, self.high = low, high
        self.name = name or f"integer_interval({_short(low)}, {_short(high)})"

    def check(self, x):
        x = _plain(x)
        integral = onp.isfinite(x) & (x == onp.floor(x))
        return integral & (x >= _plain(self.low)) & (x <= _plain(self.high))


real = _Real()
positive = _GreaterThan(0.0, name="positive")
unit_interval = _Interval(0.0, 1.0, name="unit_interval")
simplex = _Simplex()
nonnegative_integer = _IntegerInterval(0, onp.inf, name="nonnegative_integer")
boolean = _IntegerInterval(0, 1, name="boolean")


def interval(low, high):
    return _Interval(low, high)


def greater_than(low):
    return _GreaterThan(low)


def less_than(high):
    return _LessThan(high)


def integer_interval(low, high):
    return _IntegerInterval(low, high)
