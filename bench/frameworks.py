"""The benchmark's models in each framework: ppl, Pyro, NumPyro, and a hand-written NumPy gradient.

Every framework fits the same model with a mean-field Normal guide (ppl's automatic guide, Pyro's
and NumPyro's AutoNormal; hand-written guides where a discrete latent rules AutoNormal out) and
Adam at lr 0.05, in float64 everywhere (ppl computes in float64). ppl's Adam decays its learning
rate geometrically to a tenth over the run; Pyro and NumPyro keep it constant; the hand-written
NumPy baseline copies ppl's Adam exactly.

A "stepper" is one fit in progress: `run(n)` takes n more steps (gradient + Adam update) and
returns when they are done. ppl is timed through its public loop instead (see `PPL`).

Only numpy and the standard library are imported at module level, so that the end-to-end runner
(`e2e_runner.py`) charges each framework's imports to that framework alone.
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODEL_FILES = {
    "normal_mean": BENCH / "models" / "normal_mean.ppl",
    "logistic": BENCH / "models" / "logistic_regression.ppl",
    "eight_schools": ROOT / "models" / "eight_schools.ppl",
    "mixture": ROOT / "models" / "mixture.ppl",
}
LR = 0.05
SEED = 0
INIT_RADIUS = 2.0      # guide locations start uniform in (-2, 2) everywhere, as in ppl
INIT_SCALE = 0.1       # guide scales start at 0.1 everywhere


def load_data(path) -> dict:
    """A JSON data file as {name: int or float64/int64 array}."""
    raw = json.loads(Path(path).read_text())
    return {k: (v if isinstance(v, int) else np.asarray(v)) for k, v in raw.items()}


def save_data(data, path):
    Path(path).write_text(json.dumps({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                      for k, v in data.items()}))


def source_state():
    """The commit of the working tree, and whether ppl/ differs from it (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "ppl"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return f"ppl at {head}" + (" with uncommitted changes in ppl/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "ppl (not a git checkout)"


# --------------------------------------------------------------------------------------------- ppl

class PPL:
    """ppl, timed two ways: `fit(n)` is `model.fit(steps=n)` (bind, loop, summary); `loop(n)` is
    `ppl.infer.fit.run`, the loop `model.fit` runs, on a program bound once."""

    def __init__(self, model, data, particles, variant="auto", batch_size=None):
        import ppl
        self.ppl = ppl
        self.model = ppl.load(MODEL_FILES[model], estimator=variant)
        self.data, self.K, self.B = data, particles, batch_size
        self._bound = None

    def fit(self, n):
        return self.model.fit(self.data, steps=n, lr=LR, particles=self.K, seed=SEED, batch_size=self.B)

    def loop(self, n, report=None):
        from ppl.infer import fit as fitting
        if self._bound is None:
            self._bound = self.model.bind(self.data, SEED, batch_size=self.B)
        built, rng = self._bound
        _, sign = fitting.objective_sign(self.model.mode, None)
        return fitting.run(built, rng, steps=n, lr=LR, particles=self.K, baseline="auto", sign=sign, report=report)


# --------------------------------------------------------------------------------------- NumPy hand

class AdamAsPPL:
    """ppl's Adam (ppl/infer/optim.py), written out again: lr decays geometrically to lr / 10."""

    def __init__(self, size, steps, lr=LR, final=0.1, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.steps, self.final, self.b1, self.b2, self.eps = lr, steps, final, b1, b2, eps
        self.t, self.m, self.v = 0, np.zeros(size), np.zeros(size)

    def step(self, theta, g):
        rate = self.lr * self.final ** (self.t / max(1, self.steps - 1))
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mhat = self.m / (1 - self.b1 ** self.t)
        vhat = self.v / (1 - self.b2 ** self.t)
        return theta - rate * mhat / (np.sqrt(vhat) + self.eps)


HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class HandNormalMean:
    """mu ~ Normal(0, 10); y ~ Normal(mu, 1); guide mu ~ Normal(loc, exp(rho)).

    theta = (loc, rho). The reparameterized loss per particle, mu = loc + exp(rho) * eps:
      L = -sum_n log N(y_n; mu, 1) - log N(mu; 0, 10) + log N(mu; loc, s)
    with log N(mu; loc, s) = -eps^2/2 - rho - log(2 pi)/2, so
      dL/dmu = sum_n (mu - y_n) + mu / 100,   dL/dloc = dL/dmu,   dL/drho = dL/dmu * s * eps - 1.
    The gradient is averaged over K particles; the loss value is computed too (ppl reports it).
    """
    PRIOR = 10.0

    def __init__(self, data, particles, steps, seed=SEED):
        self.y = np.asarray(data["y"], dtype=float)
        self.K = particles
        self.rng = np.random.default_rng(seed)
        self.theta = np.array([self.rng.uniform(-INIT_RADIUS, INIT_RADIUS), math.log(INIT_SCALE)])
        self.adam = AdamAsPPL(2, steps)

    def loss_and_grad(self, theta, eps):
        loc, rho = theta
        s = math.exp(rho)
        mu = loc + s * eps                                   # (K,)
        r = self.y[None, :] - mu[:, None]                    # (K, N)
        n = self.y.shape[0]
        loss = (0.5 * np.sum(r * r, axis=1) + n * HALF_LOG_2PI
                + 0.5 * (mu / self.PRIOR) ** 2 + math.log(self.PRIOR) + HALF_LOG_2PI
                - 0.5 * eps * eps - rho - HALF_LOG_2PI)
        dmu = -np.sum(r, axis=1) + mu / self.PRIOR ** 2
        g = np.array([dmu.mean(), (dmu * s * eps).mean() - 1.0])
        return loss.mean(), g

    def run(self, n):
        for _ in range(n):
            eps = self.rng.standard_normal(self.K)
            value, g = self.loss_and_grad(self.theta, eps)
            self.theta = self.adam.step(self.theta, g)
        return value


class HandLogistic:
    """alpha ~ Normal(0, 5); beta[D] ~ Normal(0, 2); y ~ Bernoulli(logits = alpha + X beta);
    guide z = (alpha, beta) ~ Normal(loc, exp(rho)), mean-field.

    With z = loc + s * eps and l = alpha + X beta (per particle):
      L = sum_n (softplus(l_n) - y_n l_n) + alpha^2 / 50 + |beta|^2 / 8 + consts - |eps|^2 / 2 - sum rho
      dL/dl = sigmoid(l) - y,  dL/dalpha = sum_n dL/dl_n + alpha / 25,  dL/dbeta = X^T dL/dl + beta / 4,
      dL/dloc = dL/dz,  dL/drho = dL/dz * s * eps - 1.
    `batch_size` subsamples rows (with replacement) and scales the likelihood by N / B.
    """
    PRIOR = (5.0, 2.0)

    def __init__(self, data, particles, steps, seed=SEED, batch_size=None):
        self.X = np.asarray(data["X"], dtype=float)
        self.y = np.asarray(data["y"], dtype=float)
        self.N, self.D = self.X.shape
        self.K, self.B = particles, batch_size
        self.rng = np.random.default_rng(seed)
        self.prior_var = np.array([self.PRIOR[0] ** 2] + [self.PRIOR[1] ** 2] * self.D)
        self.prior_const = (math.log(self.PRIOR[0]) + self.D * math.log(self.PRIOR[1]) + (self.D + 1) * HALF_LOG_2PI)
        P = self.D + 1
        self.theta = np.concatenate([self.rng.uniform(-INIT_RADIUS, INIT_RADIUS, P), np.full(P, math.log(INIT_SCALE))])
        self.adam = AdamAsPPL(2 * P, steps)

    def loss_and_grad(self, theta, eps, rows=None):
        P = self.D + 1
        loc, rho = theta[:P], theta[P:]
        s = np.exp(rho)
        z = loc + s * eps                                    # (K, D + 1)
        X, y, scale = self.X, self.y, 1.0
        if rows is not None:
            X, y, scale = X[rows], y[rows], self.N / len(rows)
        logits = z[:, :1] + z[:, 1:] @ X.T                   # (K, N)
        nll = np.sum(np.logaddexp(0.0, logits) - y * logits, axis=1)
        r = 1.0 / (1.0 + np.exp(-logits)) - y                # sigmoid(l) - y
        dz = np.empty_like(z)
        dz[:, 0] = scale * r.sum(axis=1)
        dz[:, 1:] = scale * (r @ X)
        dz += z / self.prior_var
        loss = (scale * nll + 0.5 * np.sum(z * z / self.prior_var, axis=1) + self.prior_const
                - 0.5 * np.sum(eps * eps, axis=1) - rho.sum() - P * HALF_LOG_2PI)
        g = np.concatenate([dz.mean(axis=0), (dz * s * eps).mean(axis=0) - 1.0])
        return loss.mean(), g

    def run(self, n):
        P = self.D + 1
        for _ in range(n):
            eps = self.rng.standard_normal((self.K, P))
            rows = None if self.B is None else self.rng.integers(0, self.N, self.B)
            value, g = self.loss_and_grad(self.theta, eps, rows)
            self.theta = self.adam.step(self.theta, g)
        return value


HAND = {"normal_mean": HandNormalMean, "logistic": HandLogistic}


# -------------------------------------------------------------------------------------------- Pyro

def _pyro_setup():
    import pyro
    import torch
    torch.set_default_dtype(torch.float64)
    pyro.enable_validation(False)     # off for speed (ppl checks data once, before the fit)
    pyro.set_rng_seed(SEED)
    pyro.clear_param_store()
    return pyro, torch


def _pyro_program(model, data, particles, variant, batch_size=None):
    """(model, guide, loss, args) for Pyro."""
    pyro, torch = _pyro_setup()
    import pyro.distributions as dist
    from pyro.infer import Trace_ELBO, TraceEnum_ELBO, TraceGraph_ELBO, config_enumerate
    from pyro.infer.autoguide import AutoNormal
    from pyro.infer.autoguide.initialization import init_to_uniform
    from pyro.ops.indexing import Vindex

    t = lambda a: torch.as_tensor(np.asarray(a, dtype=float))  # noqa: E731
    K = particles
    elbo = {"trace": Trace_ELBO, "graph": TraceGraph_ELBO, "enum": TraceEnum_ELBO}[variant]
    loss = elbo(num_particles=K, vectorize_particles=K > 1, max_plate_nesting=1)
    auto = lambda m: AutoNormal(m, init_loc_fn=init_to_uniform(radius=INIT_RADIUS), init_scale=INIT_SCALE)  # noqa: E731

    if model == "normal_mean":
        def normal_mean(y):
            mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
            with pyro.plate("N", y.shape[0]):
                pyro.sample("y", dist.Normal(mu, 1.0), obs=y)
        return normal_mean, auto(normal_mean), loss, (t(data["y"]),)

    if model == "logistic":
        N, D = np.shape(data["X"])

        def logistic(X, y):
            alpha = pyro.sample("alpha", dist.Normal(0.0, 5.0))
            beta = pyro.sample("beta", dist.Normal(0.0, 2.0).expand([D]).to_event(1))
            with pyro.plate("N", N, subsample_size=batch_size) as idx:
                Xb = X if batch_size is None else X[idx]
                yb = y if batch_size is None else y[idx]
                lin = torch.matmul(beta, Xb.T)                    # (particles, 1, N) or (N,)
                lin = lin.reshape(beta.shape[:-2] + lin.shape[-1:]) if beta.dim() > 1 else lin
                pyro.sample("y", dist.Bernoulli(logits=alpha + lin), obs=yb)
        return logistic, auto(logistic), loss, (t(data["X"]), t(data["y"]))

    if model == "eight_schools":
        def eight_schools(sigma, y):
            mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
            tau = pyro.sample("tau", dist.HalfCauchy(5.0))
            with pyro.plate("J", y.shape[0]):
                theta_raw = pyro.sample("theta_raw", dist.Normal(0.0, 1.0))
                pyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)
        return eight_schools, auto(eight_schools), loss, (t(data["sigma"]), t(data["y"]))

    if model == "mixture":
        Kc = int(data.get("K", 3))
        N = len(data["x"])

        def mixture(x):
            mu = pyro.sample("mu", dist.Normal(0.0, 10.0).expand([Kc]).to_event(1))
            with pyro.plate("N", N):
                z = pyro.sample("z", dist.Categorical(torch.ones(Kc) / Kc))
                pyro.sample("x", dist.Normal(Vindex(mu)[..., z], 1.0), obs=x)

        def mu_guide():
            loc = pyro.param("mu_loc", torch.as_tensor(np.random.default_rng(SEED).uniform(-INIT_RADIUS, INIT_RADIUS, Kc)))
            scale = pyro.param("mu_scale", torch.full((Kc,), INIT_SCALE), constraint=dist.constraints.positive)
            pyro.sample("mu", dist.Normal(loc, scale).to_event(1))

        if variant == "enum":
            return config_enumerate(mixture, "parallel"), lambda x: mu_guide(), loss, (t(data["x"]),)

        def guide(x):                      # mu as AutoNormal would; z a free Categorical per point
            mu_guide()
            logits = pyro.param("z_logits", torch.zeros(N, Kc))
            with pyro.plate("N", N):
                pyro.sample("z", dist.Categorical(logits=logits),
                            infer={"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}})
        return mixture, guide, loss, (t(data["x"]),)
    raise KeyError(model)


class Pyro:
    def __init__(self, model, data, particles, steps, variant="trace", batch_size=None):
        pyro, _ = _pyro_setup()
        from pyro.infer import SVI
        fn, guide, loss, self.args = _pyro_program(model, data, particles, variant, batch_size)
        self.svi = SVI(fn, guide, pyro.optim.Adam({"lr": LR}), loss)

    def run(self, n):
        for _ in range(n):
            value = self.svi.step(*self.args)
        return value


# ----------------------------------------------------------------------------------------- NumPyro

def _numpyro_setup():
    import numpyro
    numpyro.enable_x64()
    import jax
    return numpyro, jax


def _numpyro_program(model, data, particles, variant, batch_size=None):
    """(model, guide, loss, args) for NumPyro; sizes come from array shapes (static under jit)."""
    numpyro, jax = _numpyro_setup()
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.ops.indexing import Vindex
    from numpyro.infer import Trace_ELBO, TraceEnum_ELBO, TraceGraph_ELBO
    from numpyro.infer.autoguide import AutoNormal
    from numpyro.infer.initialization import init_to_uniform

    K = particles
    if variant == "enum":
        loss = TraceEnum_ELBO(num_particles=K, max_plate_nesting=1)
    else:
        loss = {"trace": Trace_ELBO, "graph": TraceGraph_ELBO}[variant](num_particles=K)
    auto = lambda m: AutoNormal(m, init_loc_fn=init_to_uniform(radius=INIT_RADIUS), init_scale=INIT_SCALE)  # noqa: E731
    a = lambda x: jnp.asarray(np.asarray(x, dtype=float))  # noqa: E731

    if model == "normal_mean":
        def normal_mean(y):
            mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
            with numpyro.plate("N", y.shape[0]):
                numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
        return normal_mean, auto(normal_mean), loss, (a(data["y"]),)

    if model == "logistic":
        def logistic(X, y):
            alpha = numpyro.sample("alpha", dist.Normal(0.0, 5.0))
            beta = numpyro.sample("beta", dist.Normal(0.0, 2.0).expand([X.shape[1]]).to_event(1))
            with numpyro.plate("N", X.shape[0], subsample_size=batch_size) as idx:
                Xb = X if batch_size is None else X[idx]
                yb = y if batch_size is None else y[idx]
                numpyro.sample("y", dist.Bernoulli(logits=alpha + Xb @ beta), obs=yb)
        return logistic, auto(logistic), loss, (a(data["X"]), a(data["y"]))

    if model == "eight_schools":
        def eight_schools(sigma, y):
            mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
            tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
            with numpyro.plate("J", y.shape[0]):
                theta_raw = numpyro.sample("theta_raw", dist.Normal(0.0, 1.0))
                numpyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)
        return eight_schools, auto(eight_schools), loss, (a(data["sigma"]), a(data["y"]))

    if model == "mixture":
        Kc = int(data.get("K", 3))

        def mixture(x):
            mu = numpyro.sample("mu", dist.Normal(0.0, 10.0).expand([Kc]).to_event(1))
            with numpyro.plate("N", x.shape[0]):
                z = numpyro.sample("z", dist.Categorical(jnp.ones(Kc) / Kc),
                                   infer={"enumerate": "parallel"} if variant == "enum" else {})
                numpyro.sample("x", dist.Normal(Vindex(mu)[..., z], 1.0), obs=x)

        def guide(x):
            loc = numpyro.param("mu_loc", jnp.asarray(np.random.default_rng(SEED).uniform(-INIT_RADIUS, INIT_RADIUS, Kc)))
            scale = numpyro.param("mu_scale", jnp.full((Kc,), INIT_SCALE), constraint=dist.constraints.positive)
            numpyro.sample("mu", dist.Normal(loc, scale).to_event(1))
            if variant != "enum":
                logits = numpyro.param("z_logits", jnp.zeros((x.shape[0], Kc)))
                with numpyro.plate("N", x.shape[0]):
                    numpyro.sample("z", dist.Categorical(logits=logits))
        return mixture, guide, loss, (a(data["x"]),)
    raise KeyError(model)


class NumPyro:
    """`run(n)`: n calls of the jitted `svi.update` (one step each); `fit(n)`: `svi.run`, which
    compiles the whole loop (what the end-to-end runs use)."""

    def __init__(self, model, data, particles, steps, variant="trace", batch_size=None):
        numpyro, jax = _numpyro_setup()
        from numpyro.infer import SVI
        fn, guide, loss, self.args = _numpyro_program(model, data, particles, variant, batch_size)
        self.jax = jax
        self.svi = SVI(fn, guide, numpyro.optim.Adam(LR), loss)
        self.state = self.svi.init(jax.random.PRNGKey(SEED), *self.args)
        self.update = jax.jit(self.svi.update)

    def run(self, n):
        state = self.state
        for _ in range(n):
            state, value = self.update(state, *self.args)
        value.block_until_ready()
        self.state = state
        return float(value)

    def fit(self, n):
        result = self.svi.run(self.jax.random.PRNGKey(SEED), n, *self.args, progress_bar=False)
        result.losses.block_until_ready()
        return result


# ---------------------------------------------------------------------------------------- registry

def make(framework, model, data, particles, steps, variant, batch_size=None):
    if framework == "ppl":
        return PPL(model, data, particles, variant, batch_size)
    if framework == "pyro":
        return Pyro(model, data, particles, steps, variant, batch_size)
    if framework == "numpyro":
        return NumPyro(model, data, particles, steps, variant, batch_size)
    if framework == "numpy":
        if model == "logistic":
            return HandLogistic(data, particles, steps, batch_size=batch_size)
        return HAND[model](data, particles, steps)
    raise KeyError(framework)


def end_to_end(framework, model, data_path, steps, variant):
    """A complete fit as a user would write it: load the data, build, fit `steps` steps with one
    particle. Run in a fresh process by e2e_runner.py."""
    if framework == "ppl":
        import ppl
        return ppl.load(MODEL_FILES[model], estimator=variant).fit(str(data_path), steps=steps, lr=LR, seed=SEED)
    data = load_data(data_path)
    if framework == "numpyro":
        numpyro, jax = _numpyro_setup()
        from numpyro.infer import SVI
        fn, guide, loss, args = _numpyro_program(model, data, 1, variant)
        result = SVI(fn, guide, numpyro.optim.Adam(LR), loss).run(jax.random.PRNGKey(SEED), steps, *args,
                                                                  progress_bar=False)
        return result.losses.block_until_ready()
    return make(framework, model, data, 1, steps, variant).run(steps)


def clock():
    return time.perf_counter()
