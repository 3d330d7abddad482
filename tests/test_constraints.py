"""Constraints: membership checks and the bijections from unconstrained reals."""
import numpy as onp
import pytest
import autograd.numpy as np
from autograd import jacobian
from autograd.test_util import check_grads

from ppl.distributions import constraints as C

A = onp.array
LOW, HIGH = A([-1.0, 0.0, 2.5]), A([1.0, 0.5, 10.0])

# (constraint, constrained shape): array bounds broadcast over the last axis.
BIJECTIONS = {
    "real": (C.real, (5,)),
    "positive": (C.positive, (5,)),
    "greater_than": (C.greater_than(LOW), (2, 3)),
    "less_than": (C.less_than(HIGH), (2, 3)),
    "unit_interval": (C.unit_interval, (5,)),
    "interval": (C.interval(LOW, HIGH), (2, 3)),
    "circular": (C.circular, (5,)),
    "simplex": (C.simplex, (3, 4)),
    "real_vector": (C.real_vector, (3, 2)),
    "ordered": (C.ordered, (3, 4)),
    "corr_cholesky": (C.corr_cholesky, (3, 4, 4)),
}
# The coordinates a density on the constrained set lives on (the rest are determined by them).
FREE = {
    "simplex": lambda x: x[:-1],
    "real_vector": lambda x: x,
    "ordered": lambda x: x,
    "corr_cholesky": lambda x: x[onp.tril_indices(x.shape[-1], -1)],
}
NAMES = list(BIJECTIONS)


def draw_u(name, seed=0):
    constraint, shape = BIJECTIONS[name]
    return 2.0 * onp.random.default_rng(seed).standard_normal(constraint.unconstrained_shape(shape))


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_lands_in_support(name):
    constraint, shape = BIJECTIONS[name]
    u = draw_u(name)
    x = constraint.to_constrained(u)
    assert x.shape == shape
    assert constraint.check(x).all()
    onp.testing.assert_allclose(constraint.to_unconstrained(x), u, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in NAMES if BIJECTIONS[n][0].event_dim == 0])
def test_elementwise_log_abs_det_jacobian(name):
    constraint, shape = BIJECTIONS[name]
    u = draw_u(name, seed=1)
    jac = jacobian(lambda v: constraint.to_constrained(v.reshape(shape)).ravel())(u.ravel())
    # An elementwise map has a diagonal Jacobian.
    onp.testing.assert_array_equal(jac - onp.diag(onp.diag(jac)), 0.0)
    ladj = constraint.log_abs_det_jacobian(u)
    assert ladj.shape == shape
    onp.testing.assert_allclose(ladj.ravel(), onp.log(onp.abs(onp.diag(jac))), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(FREE))
def test_event_log_abs_det_jacobian(name):
    constraint, shape = BIJECTIONS[name]
    u = draw_u(name, seed=1)
    ladj = constraint.log_abs_det_jacobian(u)
    assert onp.shape(ladj) == (3,)
    for row, expected in zip(u, ladj):
        jac = jacobian(lambda v: FREE[name](constraint.to_constrained(v)))(row)
        sign, logdet = onp.linalg.slogdet(jac)
        assert sign != 0
        onp.testing.assert_allclose(expected, logdet, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Output seems independent of input")  # real's zero log-Jacobian
@pytest.mark.parametrize("name", NAMES)
def test_bijection_gradients(name):
    constraint, _ = BIJECTIONS[name]
    u = draw_u(name, seed=2)
    check_grads(constraint.to_constrained, modes=["rev"], order=1)(u)
    check_grads(constraint.log_abs_det_jacobian, modes=["rev"], order=1)(u)


def test_zero_maps_to_uniform_simplex():
    for k in (1, 2, 5):
        onp.testing.assert_allclose(C.simplex.to_constrained(np.zeros(k - 1)), onp.full(k, 1 / k), rtol=1e-12)


def test_extreme_unconstrained_values_stay_finite():
    u = A([-800.0, 800.0])
    onp.testing.assert_allclose(C.unit_interval.log_abs_det_jacobian(u), [-800.0, -800.0])
    onp.testing.assert_allclose(C.interval(0.0, 2.0).log_abs_det_jacobian(u), onp.log(2.0) - 800.0)
    x = C.simplex.to_constrained(A([800.0, -800.0, 0.0]))
    assert onp.isfinite(x).all() and abs(x.sum() - 1) < 1e-12
    assert onp.isfinite(C.simplex.log_abs_det_jacobian(A([800.0, -800.0, 0.0])))


def test_unconstrained_shape():
    assert C.simplex.unconstrained_shape((2, 4)) == (2, 3)
    assert C.positive.unconstrained_shape((2, 4)) == (2, 4)
    assert C.ordered.unconstrained_shape((2, 4)) == (2, 4)
    assert C.corr_cholesky.unconstrained_shape((2, 4, 4)) == (2, 6)
    assert C.corr_cholesky.unconstrained_shape((3, 3)) == (3,)


def test_corr_cholesky_extremes_stay_finite():
    L = C.corr_cholesky.to_constrained(A([40.0, -40.0, 0.0]))
    assert C.corr_cholesky.check(L) and onp.isfinite(L).all()
    assert onp.isfinite(C.corr_cholesky.log_abs_det_jacobian(A([40.0, -40.0, 0.0])))
    onp.testing.assert_allclose(C.corr_cholesky.to_constrained(onp.zeros(3)), onp.eye(3), atol=1e-15)


def test_checks():
    nan, inf = onp.nan, onp.inf
    x = A([-2.0, 0.0, 0.5, 1.0, 3.0, nan, inf, -inf])
    expected = {
        C.real: [1, 1, 1, 1, 1, 0, 0, 0],
        C.positive: [0, 0, 1, 1, 1, 0, 0, 0],
        C.greater_than(0.5): [0, 0, 0, 1, 1, 0, 0, 0],
        C.less_than(0.5): [1, 1, 0, 0, 0, 0, 0, 0],
        C.unit_interval: [0, 1, 1, 1, 0, 0, 0, 0],
        C.interval(-2.0, 0.5): [1, 1, 1, 0, 0, 0, 0, 0],
        C.nonnegative_integer: [0, 1, 0, 1, 1, 0, 0, 0],
        C.boolean: [0, 1, 0, 1, 0, 0, 0, 0],
        C.integer_interval(-2, 1): [1, 1, 0, 1, 0, 0, 0, 0],
    }
    for constraint, want in expected.items():
        onp.testing.assert_array_equal(constraint.check(x), A(want, dtype=bool), err_msg=constraint.name)
    # Array bounds broadcast against the value.
    onp.testing.assert_array_equal(C.interval(LOW, HIGH).check(A([0.0, 0.0, 0.0])), [True, True, False])
    simplex_x = A([[0.2, 0.8], [0.5, 0.6], [-0.1, 1.1], [nan, 1.0]])
    onp.testing.assert_array_equal(C.simplex.check(simplex_x), [True, False, False, False])
    onp.testing.assert_array_equal(C.circular.check(A([-3.2, -3.1, 3.1, 3.2, nan])), [0, 1, 1, 0, 0])
    onp.testing.assert_array_equal(C.integer.check(A([-7.0, 0.5, 3.0, inf, nan])), [1, 0, 1, 0, 0])
    vectors = A([[1.0, 2.0], [2.0, 2.0], [2.0, 1.0], [nan, 3.0]])
    onp.testing.assert_array_equal(C.ordered.check(vectors), [True, False, False, False])
    onp.testing.assert_array_equal(C.real_vector.check(vectors), [True, True, True, False])
    counts = A([[1, 2], [3, 0], [1.5, 1.5], [-1, 4], [nan, 3]])
    onp.testing.assert_array_equal(C.multinomial(3).check(counts), [True, True, False, False, False])
    onp.testing.assert_array_equal(C.multinomial(A([3, 4])).check(counts[:2]), [True, False])
    r = 0.6
    good, skew = A([[1.0, 0.0], [r, 0.8]]), A([[1.0, 0.2], [r, 0.8]])
    matrices = A([good, skew, [[1.0, 0.0], [r, -0.8]], [[1.0, 0.0], [r, 0.5]]])
    onp.testing.assert_array_equal(C.corr_cholesky.check(matrices), [True, False, False, False])
    onp.testing.assert_array_equal(C.lower_cholesky.check(matrices), [True, False, False, True])
    cov = A([good @ good.T, [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.5], [0.4, 1.0]], [[nan, 0], [0, 1]]])
    onp.testing.assert_array_equal(C.positive_definite.check(cov), [True, False, False, False])


def test_names_and_flags():
    assert repr(C.real) == "real" and C.positive.name == "positive"
    assert repr(C.interval(0, 1)) == "interval(0, 1)"
    assert repr(C.greater_than(LOW)) == "greater_than(float64[3])"
    assert repr(C.less_than(-1.5)) == "less_than(-1.5)"
    assert repr(C.integer_interval(0, 3)) == "integer_interval(0, 3)"
    assert [c.discrete for c in (C.real, C.unit_interval, C.simplex, C.boolean, C.nonnegative_integer)] \
        == [False, False, False, True, True]
    assert C.simplex.event_dim == 1 and C.real.event_dim == 0 and C.boolean.event_dim == 0
    assert (C.ordered.event_dim, C.real_vector.event_dim, C.corr_cholesky.event_dim) == (1, 1, 2)
    assert C.multinomial(3).discrete and C.multinomial(3).event_dim == 1 and repr(C.multinomial(3)) == "multinomial(3)"
    assert repr(C.circular) == "circular" and repr(C.ordered) == "ordered"
    with pytest.raises(NotImplementedError):
        C.nonnegative_integer.to_constrained(A([0.0]))
