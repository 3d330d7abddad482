"""The fused log-density primitives agree with the traced forms, in value and gradient."""
import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad
from autograd.test_util import check_grads

from ppl import distributions as D

rng = onp.random.default_rng(0)
K, N = 3, 4

CASES = [
    (D.Normal, {"loc": rng.normal(size=(K, N)), "scale": rng.uniform(0.5, 2, size=(1, N))}, rng.normal(size=(1, N))),
    (D.Normal, {"loc": rng.normal(size=(K, 1)), "scale": onp.array([1.3])}, rng.normal(size=(K, N))),
    (D.HalfNormal, {"scale": rng.uniform(0.5, 2, size=(K, 1))}, rng.uniform(0.1, 3, size=(1, N))),
    (D.Exponential, {"rate": rng.uniform(0.5, 2, size=(K, N))}, rng.uniform(0.1, 3, size=(1, N))),
    (D.Cauchy, {"loc": rng.normal(size=(K, N)), "scale": rng.uniform(0.5, 2, size=(1, 1))}, rng.normal(size=(1, N))),
    (D.HalfCauchy, {"scale": rng.uniform(0.5, 2, size=(K,))}, rng.uniform(0.1, 3, size=(K,))),
    (D.Bernoulli, {"logits": rng.normal(size=(K, N))}, rng.integers(0, 2, size=(1, N))),
    (D.Poisson, {"rate": rng.uniform(0.5, 4, size=(K, N))}, rng.integers(0, 6, size=(1, N))),
    (D.Categorical, {"logits": rng.normal(size=(K, 1, 5))}, rng.integers(0, 5, size=(1, N))),
    (D.Categorical, {"logits": rng.normal(size=(1, N, 5))}, rng.integers(0, 5, size=(K, N))),
    (D.Gamma, {"concentration": rng.uniform(0.5, 3, size=(K, N)), "rate": rng.uniform(0.5, 2, size=(1, 1))},
     rng.uniform(0.1, 3, size=(1, N))),
    (D.Chi2, {"df": rng.uniform(0.5, 5, size=(K, 1))}, rng.uniform(0.1, 3, size=(1, N))),
    (D.Beta, {"concentration1": rng.uniform(0.5, 3, size=(K, N)), "concentration0": rng.uniform(0.5, 3, size=(K, 1))},
     rng.uniform(0.05, 0.95, size=(1, N))),
    (D.Binomial, {"total_count": rng.integers(5, 9, size=(1, N)).astype(float), "logits": rng.normal(size=(K, N))},
     rng.integers(0, 6, size=(1, N))),
    (D.Binomial, {"total_count": onp.array([[4.0, 6.0, 5.0, 7.0]]), "probs": rng.uniform(0.1, 0.9, size=(K, 1))},
     onp.array([[0, 6, 3, 7]])),
    (D.StudentT, {"df": rng.uniform(1, 8, size=(K, 1)), "loc": rng.normal(size=(K, N)),
                  "scale": rng.uniform(0.5, 2, size=(1, N))}, rng.normal(size=(1, N))),
]


def traced(cls, args, x):
    lp = cls(**args).log_prob_unchecked(x)
    return anp.sum(lp, axis=tuple(range(1, anp.ndim(lp)))) if anp.ndim(lp) > 1 else lp


@pytest.mark.parametrize("cls, args, x", CASES, ids=[c[0].__name__ for c in CASES])
def test_value_matches_traced_form(cls, args, x):
    onp.testing.assert_allclose(cls(**args).log_prob_sum(x), traced(cls, args, x), rtol=1e-12)


@pytest.mark.parametrize("cls, args, x", CASES, ids=[c[0].__name__ for c in CASES])
def test_gradients_match_traced_form_and_finite_differences(cls, args, x):
    weights = onp.arange(1.0, 1.0 + max(len(cls(**args).log_prob_sum(x)), 1))
    for name in args:
        def fused_f(a, name=name):
            return anp.dot(weights, cls(**{**args, name: a}).log_prob_sum(x))

        def traced_f(a, name=name):
            return anp.dot(weights, traced(cls, {**args, name: a}, x))
        onp.testing.assert_allclose(grad(fused_f)(args[name]), grad(traced_f)(args[name]), rtol=1e-9, atol=1e-12)
        check_grads(fused_f, modes=["rev"], order=1)(args[name])
    if not cls.discrete:
        f = lambda v: anp.dot(weights, cls(**args).log_prob_sum(v))  # noqa: E731
        check_grads(f, modes=["rev"], order=1)(x.astype(float))


CONTINUOUS = [c for c in CASES if c[2].dtype.kind == "f"]


@pytest.mark.parametrize("cls, args, x", CONTINUOUS, ids=[c[0].__name__ for c in CONTINUOUS])
def test_gradients_in_the_value_and_in_all_arguments_at_once(cls, args, x):
    """A latent's own value, and several inputs differentiated together (one backward pass)."""
    weights = onp.arange(1.0, 1.0 + max(len(cls(**args).log_prob_sum(x)), 1))
    names = list(args)

    def f(inputs, log_prob):
        *values, y = inputs
        return anp.dot(weights, log_prob(dict(zip(names, values)), y))

    fused_f = lambda inputs: f(inputs, lambda a, y: cls(**a).log_prob_sum(y))  # noqa: E731
    traced_f = lambda inputs: f(inputs, lambda a, y: traced(cls, a, y))        # noqa: E731
    inputs = [args[k] for k in names] + [x]
    for a, b in zip(grad(fused_f)(inputs), grad(traced_f)(inputs)):
        onp.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- the mean-field block ----------------------------------------------------------------------

def _block_case():
    from ppl.kernels import fused
    theta = rng.normal(size=9)
    # column 0 scored by a constant Normal(0.5, 2) prior, column 1 (positive) by HalfCauchy(2.5)
    priors = ((0, 1, fused.normal, (onp.array([0.5]), onp.array([2.0]))),
              (1, 2, fused.half_cauchy, (onp.array([2.5]),)))
    layout = (onp.array([0, 2, 4, 6]), onp.array([1, 3, 5, 7]), onp.array([False, True, False, True]), priors)
    return theta, rng.normal(size=(K, 4)), layout


def _block_traced(theta, eps, layout):
    loc, rho, pos, priors = layout
    u = theta[loc] + anp.exp(theta[rho]) * eps
    x = anp.where(pos, anp.exp(u), u)
    logq = -anp.sum(0.5 * eps * eps + 0.5 * anp.log(2 * anp.pi), axis=1) - anp.sum(theta[rho]) \
        - anp.sum(anp.where(pos, u, 0.0), axis=1)
    logq = logq - traced(D.Normal, {"loc": 0.5, "scale": 2.0}, x[:, 0:1]) \
        - traced(D.HalfCauchy, {"scale": 2.5}, x[:, 1:2])
    return anp.concatenate([x, logq[:, None]], axis=1)


def test_meanfield_block_matches_the_traced_form_to_1e_10():
    from ppl.kernels.nodes import meanfield
    theta, eps, layout = _block_case()
    onp.testing.assert_allclose(meanfield(theta, eps, layout), _block_traced(theta, eps, layout), rtol=1e-10, atol=1e-10)
    weights = rng.normal(size=(K, 5))
    fused_grad = grad(lambda t: anp.sum(weights * meanfield(t, eps, layout)))(theta)
    traced_grad = grad(lambda t: anp.sum(weights * _block_traced(t, eps, layout)))(theta)
    onp.testing.assert_allclose(fused_grad, traced_grad, rtol=1e-10, atol=1e-10)
    assert fused_grad[8] == 0.0                         # a parameter outside the block
    check_grads(lambda t: meanfield(t, eps, layout), modes=["rev"], order=1)(theta)


def test_meanfield_block_changes_no_fit_beyond_rounding(monkeypatch):
    import ppl
    from ppl.back import build
    from conftest import MODELS
    for name, particles in (("eight_schools", 1), ("eight_schools", 10), ("mixture", 4)):
        model = ppl.load(MODELS / f"{name}.ppl")
        # Adam's 200 steps: a trajectory long enough to carry any difference the block makes
        blocked = model.fit(steps=200, particles=particles, seed=3, optimizer="adam").guide
        with monkeypatch.context() as m:
            m.setattr(build, "_meanfield_members", lambda *args: [])
            plain = model.fit(steps=200, particles=particles, seed=3, optimizer="adam").guide
        for k in blocked:
            onp.testing.assert_allclose(blocked[k], plain[k], rtol=1e-9, atol=1e-12)


def test_objective_matches_the_chain_it_replaces():
    """scale * sum_k [sum_i w_i t_i + sum_s sum_rest(coef_s * score_s)], with terms per particle or
    shared, and scores per particle or per element, against the traced chain to 1e-12."""
    from ppl.kernels.nodes import objective
    a, b, c = rng.normal(size=K), rng.normal(size=1), rng.normal(size=K)
    s1, s2 = rng.normal(size=K), rng.normal(size=(K, N))
    coefs = (rng.normal(size=K), rng.normal(size=(K, N)))
    weights, scale = (1.0, -1.0, -2.5), 1 / 7

    def chain(ts):
        total = ts[0] - ts[1] - 2.5 * ts[2] + coefs[0] * ts[3] + anp.sum(coefs[1] * ts[4], axis=1)
        return anp.sum(total) * scale

    inputs = [a, b, c, s1, s2]
    onp.testing.assert_allclose(objective(weights, coefs, scale, *inputs), chain(inputs), rtol=1e-13)
    fused_grads = grad(lambda ts: objective(weights, coefs, scale, *ts))(inputs)
    for x, y in zip(fused_grads, grad(chain)(inputs)):
        onp.testing.assert_allclose(x, y, rtol=1e-12)
    check_grads(lambda t: objective(weights, coefs, scale, t, b, c, s1, s2), modes=["rev"], order=1)(a)
    check_grads(lambda t: objective(weights, coefs, scale, a, b, c, s1, t), modes=["rev"], order=1)(s2)
    check_grads(lambda t: objective((), coefs[1:], scale, t), modes=["rev"], order=1)(s2)


# -- fused densities line up their own inputs -----------------------------------------------------

# the tests below draw from a generator of their own: the data of those above stay as they were
rng2 = onp.random.default_rng(1)


def line_up(x, rank):
    """x with size-1 axes inserted after its first up to `rank` axes (a plain number as it is), traced."""
    if onp.ndim(x) in (0, rank):
        return x
    return anp.reshape(x, x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])


def lined_up(inputs):
    rank = max(onp.ndim(a) for a in inputs)
    return [line_up(a, rank) for a in inputs]


def sum_all_but_first(a):
    return a.sum(axis=tuple(range(1, a.ndim)))


def _scipy_logpdf(name, x, *args):
    from scipy import special, stats
    if name == "normal":
        return stats.norm.logpdf(x, *args)
    if name == "bernoulli_logits":
        return stats.bernoulli.logpmf(x, special.expit(args[0]))
    return stats.poisson.logpmf(x, *args)


UNALIGNED = [   # (density, (x, *args)): the inputs of different ranks, as a caller passes them
    ("normal", (rng2.normal(size=(1, N)), rng2.normal(size=K), 1.3)),
    ("normal", (rng2.normal(size=(K, 2, N)), rng2.normal(size=(K, N)), rng2.uniform(0.5, 2, size=(1, N)))),
    ("normal", (rng2.normal(size=(K, N)), rng2.normal(size=K), rng2.uniform(0.5, 2, size=K))),
    ("bernoulli_logits", (rng2.integers(0, 2, size=(1, N)), rng2.normal(size=K))),
    ("bernoulli_logits", (rng2.integers(0, 2, size=(1, 2, N)), rng2.normal(size=(K, N)))),
    ("poisson", (rng2.integers(0, 6, size=(1, N)), rng2.uniform(0.5, 4, size=K))),
    ("poisson", (rng2.integers(0, 6, size=(K, 2, N)), rng2.uniform(0.5, 4, size=(1, N)))),
    ("poisson", (rng2.integers(0, 6, size=(K, N)), 2.5)),
]
UNALIGNED_IDS = [f"{name}-" + "-".join(str(onp.shape(a)) for a in inputs) for name, inputs in UNALIGNED]
POINTWISE = [c for c in UNALIGNED if c[0] == "normal"]
POINTWISE_IDS = [i for i, c in zip(UNALIGNED_IDS, UNALIGNED) if c[0] == "normal"]


def _density(name, pointwise):
    from ppl.kernels import fused
    f = getattr(fused, name)
    return f.pointwise if pointwise else f


def _differentiable(inputs):
    """The indices of the float inputs (counts carry no gradient)."""
    return [i for i, a in enumerate(inputs) if onp.asarray(a).dtype.kind == "f"]


def _check_unaligned(name, inputs, pointwise):
    f = _density(name, pointwise)
    lined = lined_up(inputs)
    value = f(*inputs)
    onp.testing.assert_allclose(value, f(*lined), rtol=1e-12, atol=0)
    expected = _scipy_logpdf(name, *lined)
    onp.testing.assert_allclose(value, expected if pointwise else sum_all_but_first(expected), rtol=1e-10)
    w = rng2.normal(size=onp.shape(value))
    for i in _differentiable(inputs):
        def with_input(a, line, i=i):
            return anp.sum(w * f(*line(inputs[:i] + (a,) + inputs[i + 1:])))
        mine = grad(lambda a: with_input(a, lambda xs: xs))(inputs[i])
        theirs = grad(lambda a: with_input(a, lined_up))(inputs[i])
        assert onp.shape(mine) == onp.shape(inputs[i])
        onp.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)
        if onp.ndim(inputs[i]):
            check_grads(lambda a: with_input(a, lambda xs: xs), modes=["rev"], order=1)(inputs[i])


@pytest.mark.parametrize("name, inputs", UNALIGNED, ids=UNALIGNED_IDS)
def test_fused_density_lines_up_its_inputs(name, inputs):
    """Inputs of different ranks give the value and gradients of the same call with the inputs
    explicitly lined up, and scipy.stats' log-density; each gradient in its input's own shape."""
    _check_unaligned(name, inputs, pointwise=False)


@pytest.mark.parametrize("name, inputs", POINTWISE, ids=POINTWISE_IDS)
def test_pointwise_density_lines_up_its_inputs(name, inputs):
    _check_unaligned(name, inputs, pointwise=True)


# -- an enumerated latent summed out ------------------------------------------------------------

# the tests below draw from a generator of their own: the data of those above stay as they were
rng2 = onp.random.default_rng(1)


def _marginal_traced(rank, base, *terms):
    """sum over axes 1.. of logsumexp(base + each term summed over its extra axes, axis=1)."""
    from autograd.scipy.special import logsumexp
    L = base
    for t in terms:
        while anp.ndim(t) > rank + 2:
            t = anp.sum(t, axis=2)
        L = L + t
    return sum_all_but_first(logsumexp(L, axis=1))


def _marginal_case(rank):
    """base and terms (particles, 3 values, extra..., `rank` element axes), some extra axes, some shared."""
    elements = (N,) if rank == 1 else (N, 2)
    base = onp.zeros((1, 1) + elements)
    terms = [rng2.normal(size=(K, 3) + elements), rng2.normal(size=(1, 3) + elements),
             rng2.normal(size=(K, 3, 2) + elements), rng2.normal(size=(K, 3) + (1,) * rank)]
    return base, terms


def _marginal_fused(rank, base, *terms):
    """The node as the program uses it: L and its log-sum-exp first, in NumPy, then the node."""
    from autograd.tracer import getval
    from ppl.kernels.nodes import marginal, marginal_parts
    L, lse = marginal_parts(base, [getval(t) for t in terms], rank)
    return marginal(rank, L, lse, *terms)


def _check_marginal(rank, base, terms):
    marginal = _marginal_fused
    value = marginal(rank, base, *terms)
    assert onp.isfinite(value).all()
    onp.testing.assert_allclose(value, _marginal_traced(rank, base, *terms), rtol=1e-12)
    w = rng2.normal(size=K)
    for i, t in enumerate(terms):
        def with_term(a, f, i=i):
            return anp.dot(w, f(rank, base, *terms[:i], a, *terms[i + 1:]))
        mine = grad(lambda a: with_term(a, marginal))(t)
        assert mine.shape == t.shape and onp.isfinite(mine).all()
        onp.testing.assert_allclose(mine, grad(lambda a: with_term(a, _marginal_traced))(t), rtol=1e-10, atol=1e-14)
        check_grads(lambda a: with_term(a, marginal), modes=["rev"], order=1)(t)


@pytest.mark.parametrize("rank", [1, 2])
def test_marginal_matches_the_traced_log_sum_exp(rank):
    _check_marginal(rank, *_marginal_case(rank))


def test_marginal_with_a_value_impossible_for_some_elements():
    """-inf in one term for one value at some elements: that value gets no weight there, the
    result and every gradient stay finite."""
    base, terms = _marginal_case(1)
    terms[0][:, 1, :2] = -onp.inf
    _check_marginal(1, base, terms)


# -- a cost term given as a block: its last column; columns reshaped --------------------------

def test_objective_reads_the_last_column_of_a_two_dimensional_cost_term():
    from ppl.kernels.nodes import objective
    block, b, s = rng2.normal(size=(K, 5)), rng2.normal(size=1), rng2.normal(size=(K, N))
    weights, coefs, scale = (-1.0, 2.0), (rng2.normal(size=(K, N)),), 1 / 7
    f = lambda t: objective(weights, coefs, scale, t, b, s)     # noqa: E731
    onp.testing.assert_allclose(f(block), f(block[:, -1]), rtol=1e-13)
    block_grad, column_grad = grad(f)(block), grad(f)(block[:, -1].copy())
    assert block_grad.shape == block.shape
    assert (block_grad[:, :-1] == 0).all()
    onp.testing.assert_allclose(block_grad[:, -1], column_grad, rtol=1e-13)
    check_grads(f, modes=["rev"], order=1)(block)


def test_columns_reshaped():
    from ppl.kernels.nodes import columns
    a, lo, hi, shape = rng2.normal(size=(K, 9)), 2, 8, (K, 2, 3)
    onp.testing.assert_array_equal(columns(a, lo, hi, shape), a[:, lo:hi].reshape(shape))
    w = rng2.normal(size=shape)
    mine = grad(lambda x: anp.sum(w * columns(x, lo, hi, shape)))(a)
    onp.testing.assert_array_equal(mine, grad(lambda x: anp.sum(w * anp.reshape(x[:, lo:hi], shape)))(a))
    check_grads(lambda x: columns(x, lo, hi, shape), modes=["rev"], order=1)(a)


@pytest.mark.parametrize("name, options", [("eight_schools", {}), ("mixture", {}), ("linear_regression", {}),
                                           ("logistic_regression", {}), ("poisson_regression", {}),
                                           ("eight_schools", {"guide": "fullrank"}),
                                           ("mixture", {"estimator": {"z": "score"}})])
def test_fast_path_gives_the_reference_programs_gradients(name, options):
    """The build's optimizations (the mean-field block, fused one-call densities) change no
    gradient beyond rounding: the fit's own path (the flat parameter vector), same draws."""
    import ppl
    from conftest import MODELS
    model = ppl.load(MODELS / f"{name}.ppl", **options)
    fast, _ = model.bind()
    reference, _ = model.bind(fast=False)
    blocks = lambda program: [op for op in program.ops if op.__qualname__.startswith("meanfield_op")]
    assert not blocks(reference)    # the reference really is another program: no mean-field block
    if not options:
        assert len(blocks(fast)) == 1
    check = model.check_fast_path(draws=20)
    assert check["estimates"] == 20 and check["max_rel"] < 1e-13, check


def test_gradcheck_on_the_command_line_covers_the_fast_path(capsys):
    from conftest import MODELS, run_main
    status, out, err = run_main(capsys, "gradcheck", MODELS / "eight_schools.ppl", "--draws", 30)
    assert status == 0, err
    last = out.splitlines()[-1]
    assert last.startswith("fast path (mean-field block, fused densities) against the reference program")
    assert float(last.split("(")[2].split()[0]) < 1e-13 and last.endswith("over 30 estimates")
