"""The bundled mixture model written in Pyro, for bench/variance.py (needs the `bench` extra).

Model:  mu ~ Normal(0, 10) in a plate of K components; z ~ Categorical(ones(K) / K) in the data
plate of N; x ~ Normal(mu[z], 1) observed. Guide (ppl's automatic mean-field guide, written out):
mu ~ Normal(mu_loc, mu_scale) in the components plate; z ~ Categorical(logits=z_logits) in the
data plate. The guide parameters are plain (unconstrained) tensors set to given values, so their
gradients are taken in the same (constrained) space as ppl's and nothing moves them.
"""
from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import TraceGraph_ELBO

torch.set_default_dtype(torch.float64)      # ppl computes in float64 too
torch.set_num_threads(1)                    # tiny tensors: threads only add overhead (ppl runs on one)

NAMES = {"mu.loc": "mu_loc", "mu.scale": "mu_scale", "z.logits": "z_logits"}   # ppl name -> Pyro name


def mixture(x, K: int, decaying_avg_baseline: bool):
    """(model, guide) for data `x` (N,) and K components."""
    x = torch.as_tensor(np.asarray(x, dtype=float))
    N = x.shape[0]
    baseline = {"baseline": {"use_decaying_avg_baseline": decaying_avg_baseline}}

    def model():
        with pyro.plate("components", K):
            mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        with pyro.plate("data", N):
            z = pyro.sample("z", dist.Categorical(torch.ones(K) / K))
            # gather works with and without a leading (vectorized) particle axis
            pyro.sample("x", dist.Normal(torch.gather(mu, -1, z), 1.0), obs=x)

    def guide():
        loc, scale, logits = (pyro.param(NAMES[k]) for k in ("mu.loc", "mu.scale", "z.logits"))
        with pyro.plate("components", K):
            pyro.sample("mu", dist.Normal(loc, scale))
        with pyro.plate("data", N):
            pyro.sample("z", dist.Categorical(logits=logits), infer=baseline)

    return model, guide


def sampler(x, K: int, params: dict, *, particles: int, decaying_avg_baseline: bool, seed: int):
    """A function drawing one ELBO-gradient estimate (TraceGraph_ELBO, `particles` vectorized
    particles) at the fixed `params` ({ppl name: array}); keyed by ppl's parameter names."""
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    tensors = {name: pyro.param(pyro_name, torch.tensor(np.asarray(params[name], dtype=float))).unconstrained()
               for name, pyro_name in NAMES.items()}
    model, guide = mixture(x, K, decaying_avg_baseline)
    elbo = TraceGraph_ELBO(num_particles=particles, vectorize_particles=True, max_plate_nesting=1)

    def draw():
        for t in tensors.values():
            t.grad = None
        elbo.loss_and_grads(model, guide)
        # loss_and_grads differentiates -ELBO; report the gradient of the ELBO, as ppl does
        return {name: -t.grad.detach().numpy().copy() for name, t in tensors.items()}

    return draw
