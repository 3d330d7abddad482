"""Inference: the fitting loops (`fit` for Adam, `deterministic` for L-BFGS on fixed draws), their
optimizers, convergence verdicts, score-function baselines, gradient diagnostics, checkpoints,
minibatches, and the fitted result with its importance-weighting check (`result`, `importance`)."""
