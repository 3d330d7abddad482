"""The primitives of ppl.kernels.lined agree with autograd's own operations on explicitly lined-up
operands, in value and gradient, and a matrix-vector product does not depend on how many
particles share the call."""
import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad
from autograd.test_util import check_grads

from ppl.kernels import lined

rng = onp.random.default_rng(0)
K, N, M, D = 5, 4, 3, 6

OPS = {"add": anp.add, "subtract": anp.subtract, "multiply": anp.multiply,
       "true_divide": anp.true_divide, "power": anp.power}

# (shape of a, shape of b); () is a plain Python number
SHAPES = [((K,), (K, N)), ((K, N), (1,)), ((1, N), (K,)), ((K,), (K, N, M)),
          ((), (K, N)), ((K, N), ()), ((K, 1), (K, N))]


def operand(shape, positive):
    """Random values of `shape` (a float for ()), in (0.5, 1.5) if `positive` (a base, a divisor)."""
    x = 0.5 + rng.uniform(size=shape) if positive else rng.normal(size=shape)
    return float(x) if shape == () else x


CASES = [(op, operand(sa, op == "power"), operand(sb, op == "true_divide")) for op in OPS for sa, sb in SHAPES]
IDS = [f"{op}-{onp.shape(a)}-{onp.shape(b)}" for op, a, b in CASES]


def line_up(x, rank):
    """x with size-1 axes inserted after its first up to `rank` axes (a plain number as it is), traced."""
    if onp.ndim(x) in (0, rank):
        return x
    return anp.reshape(x, x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])


def reference(op, a, b):
    rank = max(onp.ndim(a), onp.ndim(b))
    return OPS[op](line_up(a, rank), line_up(b, rank))


def assert_gradients_match(op, a, b):
    """The gradient of sum(w * op(a, b)) in each operand, in that operand's shape, to 1e-10."""
    w = rng.normal(size=onp.shape(reference(op, a, b)))
    for argnum, x in enumerate((a, b)):
        mine = grad(lambda a, b: anp.sum(w * getattr(lined, op)(a, b)), argnum)(a, b)
        theirs = grad(lambda a, b: anp.sum(w * reference(op, a, b)), argnum)(a, b)
        assert onp.shape(mine) == onp.shape(x)
        assert onp.isfinite(mine).all()
        onp.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op, a, b", CASES, ids=IDS)
def test_value_matches_the_lined_up_operation(op, a, b):
    out, expected = getattr(lined, op)(a, b), reference(op, a, b)
    assert out.shape == expected.shape
    onp.testing.assert_allclose(out, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("op, a, b", CASES, ids=IDS)
def test_gradients_match_the_lined_up_operation(op, a, b):
    assert_gradients_match(op, a, b)


@pytest.mark.parametrize("op, a, b", CASES, ids=IDS)
def test_gradients_match_finite_differences(op, a, b):
    f = getattr(lined, op)
    if onp.ndim(a):
        check_grads(lambda x: f(x, b), modes=["rev"], order=1)(a)
    if onp.ndim(b):
        check_grads(lambda x: f(a, x), modes=["rev"], order=1)(b)


@pytest.mark.parametrize("exponent", [onp.array([1.0, 2.0, 3.0, 1.0, 2.0]), 2.0, 1.0], ids=["(K,)", "2.0", "1.0"])
def test_power_of_a_base_with_zeros_has_finite_gradients(exponent):
    """0 ** y for integer y >= 1: d/dx is y * 0 ** (y - 1) (1 for y = 1), d/dy is 0, never nan."""
    base = 0.5 + rng.uniform(size=(K, N))
    base[:, 1] = 0.0
    base[2, :] = 0.0
    assert_gradients_match("power", base, exponent)
    check_grads(lambda x: lined.power(x, exponent), modes=["rev"], order=1)(base)


# -- matrix-vector products ----------------------------------------------------------------------

def broadcast_particles(x, k):
    """x (1 or k, ...) as (k, ...), traced."""
    return anp.broadcast_to(x, (k,) + x.shape[1:])


def matvec_reference(m, v):
    k = max(len(m), len(v))
    return anp.einsum("knd,kd->kn", broadcast_particles(m, k), broadcast_particles(v, k))


def vecmat_reference(v, m):
    k = max(len(m), len(v))
    return anp.einsum("kd,kdn->kn", broadcast_particles(v, k), broadcast_particles(m, k))


PRODUCTS = [(lined.matvec, matvec_reference, rng.normal(size=(km, N, D)), rng.normal(size=(kv, D)))
            for km, kv in ((1, K), (K, K), (1, 1), (K, 1))] \
    + [(lined.vecmat, vecmat_reference, rng.normal(size=(kv, D)), rng.normal(size=(km, D, N)))
       for km, kv in ((1, K), (K, K), (1, 1), (K, 1))]
PRODUCT_IDS = [f"{f.__name__}-{a.shape}-{b.shape}" for f, _, a, b in PRODUCTS]


@pytest.mark.parametrize("f, reference, a, b", PRODUCTS, ids=PRODUCT_IDS)
def test_product_matches_einsum(f, reference, a, b):
    out, expected = f(a, b), reference(a, b)
    assert out.shape == expected.shape == (max(len(a), len(b)), N)
    onp.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    w = rng.normal(size=out.shape)
    for argnum, x in enumerate((a, b)):
        mine = grad(lambda a, b: anp.sum(w * f(a, b)), argnum)(a, b)
        theirs = grad(lambda a, b: anp.sum(w * reference(a, b)), argnum)(a, b)
        assert mine.shape == x.shape
        onp.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    check_grads(lambda x: f(x, b), modes=["rev"], order=1)(a)
    check_grads(lambda x: f(a, x), modes=["rev"], order=1)(b)


def particles_in_groups(f, cuts):
    """f of the particle-indexed rows (an array (K, ...)) computed group by group, split at `cuts`."""
    return lambda x: onp.concatenate([f(part) for part in onp.split(x, cuts)])


@pytest.mark.parametrize("cuts", [[3], list(range(1, 7))], ids=["two-groups", "one-by-one"])
@pytest.mark.parametrize("product", ["matvec", "vecmat"])
def test_product_per_particle_is_independent_of_the_particles_sharing_the_call(product, cuts):
    """Each particle's value and vector gradient, bit for bit, whatever other particles share a pass."""
    k, n, d = 7, 37, 11
    v, g = rng.normal(size=(k, d)), rng.normal(size=(k, n))
    if product == "matvec":
        m = rng.normal(size=(1, n, d))
        value = lambda v: lined.matvec(m, v)            # noqa: E731
    else:
        m = rng.normal(size=(1, d, n))
        value = lambda v: lined.vecmat(v, m)            # noqa: E731
    rows = onp.arange(k)
    v_grad = lambda rows: grad(lambda v: anp.sum(g[rows] * value(v)))(v[rows])    # noqa: E731
    assert onp.array_equal(value(v), particles_in_groups(value, cuts)(v))
    assert onp.array_equal(v_grad(rows), particles_in_groups(v_grad, cuts)(rows))


# -- a whole fit: the step's shortcuts change nothing beyond rounding -------------------------

def _traced(op):
    """The operation as before its lined-up primitive: reshapes on the tape, then autograd's own."""
    from ppl.kernels.fused import align

    def apply(a, b):
        return op(*align((a, b))) if onp.ndim(a) != onp.ndim(b) else op(a, b)
    return apply


def _traced_matvec(m, v):
    r = anp.matmul(m, anp.reshape(v, onp.shape(v) + (1,)))
    return anp.reshape(r, onp.shape(r)[:-1])


def _traced_vecmat(v, m):
    r = anp.matmul(anp.reshape(v, onp.shape(v)[:1] + (1,) + onp.shape(v)[1:]), m)
    return anp.reshape(r, onp.shape(r)[:1] + onp.shape(r)[2:])


@pytest.mark.parametrize("name, particles", [("logistic_regression", 1), ("logistic_regression", 4),
                                             ("eight_schools", 10), ("poisson_regression", 1),
                                             ("linear_regression", 3)])
def test_shortcuts_change_no_fit_beyond_rounding(monkeypatch, name, particles):
    """200 Adam steps with the lined-up arithmetic, the one-node matrix-vector products and the
    observations' one-call fused densities, against the same fit through reshapes, autograd's
    operations and a Distribution per observation: the same guide to 1e-9."""
    import ppl
    from conftest import MODELS
    from ppl.back import expr
    from ppl.distributions import DISTRIBUTIONS
    short = ppl.load(MODELS / f"{name}.ppl").fit(steps=200, particles=particles, seed=5, optimizer="adam").guide
    with monkeypatch.context() as m:
        for symbol, op in (("+", anp.add), ("-", anp.subtract), ("*", anp.multiply), ("/", anp.true_divide)):
            m.setitem(expr._BINARY, symbol, _traced(op))
        m.setattr(lined, "matvec", _traced_matvec)
        m.setattr(lined, "vecmat", _traced_vecmat)
        for cls in set(DISTRIBUTIONS.values()):
            m.setattr(cls, "fused_density", classmethod(lambda cls, names: None))
        plain = ppl.load(MODELS / f"{name}.ppl").fit(steps=200, particles=particles, seed=5, optimizer="adam").guide
    assert short.keys() == plain.keys()
    for k in short:
        onp.testing.assert_allclose(short[k], plain[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shapes", [[(K,), (K,), (K,)], [(1,), (K,), (1,)], [(K, N), (1,), (K,)], [(1, N), (K, N)]],
                         ids=str)
def test_stack_agrees_with_autograd(shapes):
    """An array literal's items, of different ranks and particle counts, side by side: the same
    values and gradients as lining them up and broadcasting them with autograd's own operations."""
    items = [rng.normal(size=s) for s in shapes]
    rank = max(len(s) for s in shapes)
    weights = rng.normal(size=(max(s[0] for s in shapes), len(shapes)) + onp.broadcast_shapes(
        *(s[1:] for s in shapes)))

    def ours(*xs):
        return anp.sum(lined.stack(*xs) * weights)

    def theirs(*xs):
        full = weights.shape[:1] + weights.shape[2:]
        return anp.sum(anp.stack([line_up(x, rank) + anp.zeros(full) for x in xs], axis=1) * weights)

    onp.testing.assert_allclose(ours(*items), theirs(*items))
    for i in range(len(items)):
        onp.testing.assert_allclose(grad(ours, i)(*items), grad(theirs, i)(*items))
