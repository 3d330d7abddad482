"""The score-function baselines: each particle's baseline ignores its own cost, and the default
leans on the past average exactly when that average has been predicting the costs well."""
import numpy as np
import pytest

from ppl.infer.baselines import DECAY, WARMUP, Baselines


def _warm(state, draw, steps):
    for t in range(steps):
        state.update([draw(t)])


@pytest.mark.parametrize("how", ["loo", "average", "auto", "none"])
def test_a_particles_baseline_does_not_depend_on_its_own_cost(how):
    rng = np.random.default_rng(0)
    state = Baselines(how, n_sites=1, particles=4)
    _warm(state, lambda t: rng.normal(2.0, 1.0, size=(4, 3)), 50)
    C = rng.normal(2.0, 1.0, size=(4, 3))
    b = np.broadcast_to(state(0, C), C.shape)
    for k in range(4):
        changed = C.copy()
        changed[k] += 100.0
        np.testing.assert_allclose(np.broadcast_to(state(0, changed), C.shape)[k], b[k], rtol=1e-12, atol=1e-12)


def test_leave_one_out_is_the_mean_of_the_others():
    state = Baselines("loo", n_sites=1, particles=3)
    np.testing.assert_allclose(state(0, np.array([1.0, 2.0, 6.0])), [4.0, 3.5, 1.5])


def test_default_is_leave_one_out_until_the_average_has_warmed_up():
    rng = np.random.default_rng(1)
    state = Baselines("auto", n_sites=1, particles=4)
    C = rng.normal(size=4)
    np.testing.assert_allclose(state(0, C), (C.sum() - C) / 3)
    _warm(state, lambda t: rng.normal(size=4), WARMUP - 1)
    np.testing.assert_allclose(state(0, C), (C.sum() - C) / 3)


def test_default_trusts_a_settled_average_and_not_a_lagging_one():
    rng = np.random.default_rng(2)

    def weights(draw):
        state, out = Baselines("auto", n_sites=1, particles=4), []
        for t in range(400):
            state.update([draw(t)])
            out.append(state.weight(0))
        return np.array(out[100:])

    settled = weights(lambda t: rng.normal(5.0, 1.0, size=(4, 20)))
    # at fixed costs the average's error is what averaging ~(1+d)/(1-d) steps of K particles
    # leaves, far below the leave-one-out mean's: lam = 1 / (1 + (K-1)(1-d)/((1+d)K)) = 0.96
    assert np.all(settled <= 1 / (1 + 3 * (1 - DECAY) / ((1 + DECAY) * 4)) + 1e-12)
    assert settled.mean() > 0.85, settled.mean()
    moving = weights(lambda t: rng.normal(0.5 * t, 1.0, size=(4, 20)))      # costs drift each step
    assert moving.max() < 0.2, moving.max()


def test_default_baseline_has_lower_variance_than_leave_one_out_at_fixed_costs():
    """The point of the shrinkage: with settled costs, C - b varies less than with pure LOO."""
    rng = np.random.default_rng(3)
    states = {how: Baselines(how, n_sites=1, particles=4) for how in ("loo", "auto")}
    spread = {how: [] for how in states}
    for t in range(3000):
        C = rng.normal(1.0, 2.0, size=(4, 5))
        for how, state in states.items():
            if t >= 200:
                spread[how].append(C - state(0, C))
            state.update([C])
    var = {how: np.var(spread[how]) for how in states}
    assert var["auto"] < 0.85 * var["loo"], var          # LOO: 4/3 sigma^2; settled average ~1.01


def test_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="baseline must be one of"):
        Baselines("mean", n_sites=1, particles=2)
