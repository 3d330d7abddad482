"""Loops: the time of one gradient of the ELBO (32 particles) through each way a loop can run,
side by side in one process, with a hand-written NumPy gradient of the same AR(K) ELBO.

    PYTHONPATH=. python bench/loops.py [--reps 7]

Models (bench/posteriordb and models/, with their data):
- arK: posteriordb's AR(5) as its Stan program reads, a loop over t holding a loop over k. Run
  at once (the outer iterations side by side, the inner loop in order: `build(fast=True)`), in
  order (the reference, `fast=False`), and as the same model written with slices (no loop).
- garch: a recurrence, sigma[t] from sigma[t-1]: in order with the array kept as cells (fast) or
  assigned whole at every iteration (the reference).
The NumPy gradient is the AR(K) ELBO's, written by hand for a mean-field Normal guide (the same
32 draws), the floor any of them could reach. Times are medians over the repetitions, each
repetition timing every variant once in turn (the machine is shared and noisy).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import ppl
from ppl.infer.baselines import Baselines
from ppl.kernels.streams import Streams

ROOT = Path(__file__).resolve().parent.parent
K = 32

ARK_SLICES = """
data K: int
data T: int
data y: real[T]
alpha ~ Normal(0, 10)
beta: real[K] ~ Normal(0, 10)
sigma: real<lower=0> ~ Cauchy(0, 2.5)
mu = alpha + beta[0] * y[4:T - 1] + beta[1] * y[3:T - 2] + beta[2] * y[2:T - 3] + beta[3] * y[1:T - 4] + beta[4] * y[0:T - 5]
y[5:T] ~ Normal(mu, sigma)
"""


def stepper(model, data, fast):
    """A function running one gradient of `model` on `data` (the fast or the reference build)."""
    program, _ = model.bind(data, 0, fast=fast)
    theta = program.space.flatten({})
    streams = Streams.seeded(np.random.default_rng(0), K)

    def step():
        program.gradient(theta, None, streams, K, Baselines("auto", n_sites=len(program.score_sites), particles=K))
    return step


def numpy_ark(data):
    """The AR(K) ELBO's gradient in NumPy: guide Normal(m, s) on (alpha, beta, log sigma)."""
    y, k = np.array(data["y"]), data["K"]
    lags = np.stack([y[k - j - 1:len(y) - j - 1] for j in range(k)], axis=1)     # (T - K, K)
    target = y[k:]
    rng = np.random.default_rng(0)
    m, s = rng.uniform(-2, 2, k + 2), np.full(k + 2, 0.1)

    def step():
        eps = rng.standard_normal((K, k + 2))
        z = m + s * eps
        alpha, beta, log_sigma = z[:, 0], z[:, 1:k + 1], z[:, k + 1]
        sigma = np.exp(log_sigma)
        r = target[None] - alpha[:, None] - beta @ lags.T                           # (K, T - K)
        # d log p / dz: likelihood, priors (Normal(0, 10) on alpha and beta; half-Cauchy on sigma, exp map)
        g = np.empty((K, k + 2))
        g[:, 0] = (r / sigma[:, None] ** 2).sum(1) - alpha / 100
        g[:, 1:k + 1] = (r / sigma[:, None] ** 2) @ lags - beta / 100
        n = r.shape[1]
        g[:, k + 1] = (r ** 2).sum(1) / sigma ** 2 - n - 2 * sigma ** 2 / (6.25 + sigma ** 2) + 1
        return (g.mean(0), (g * eps).mean(0) + 1 / s)          # d ELBO / dm, d ELBO / ds
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args(argv)
    ark_data = json.loads((ROOT / "bench/posteriordb/arK-arK.data.json").read_text())
    garch_data = json.loads((ROOT / "models/garch.data.json").read_text())
    ark = ppl.load(ROOT / "bench/posteriordb/arK-arK.ppl")
    garch = ppl.load(ROOT / "models/garch.ppl")
    variants = {
        "arK: loop run at once": stepper(ark, ark_data, True),
        "arK: loop in order (reference)": stepper(ark, ark_data, False),
        "arK: slices, no loop": stepper(ppl.compile(ARK_SLICES), ark_data, True),
        "arK: hand-written NumPy": numpy_ark(ark_data),
        "garch: recurrence, cells": stepper(garch, garch_data, True),
        "garch: recurrence, whole arrays (reference)": stepper(garch, garch_data, False),
    }
    times = {name: [] for name in variants}
    for _ in range(args.reps):
        for name, step in variants.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    floor = median["arK: hand-written NumPy"]
    print(f"one ELBO gradient, {K} particles; medians of {args.reps} interleaved repetitions\n")
    print("| variant | ms | x NumPy |")
    print("|---|---|---|")
    for name, t in median.items():
        print(f"| {name} | {1000 * t:.2f} | {t / floor:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
