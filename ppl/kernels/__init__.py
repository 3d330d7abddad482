"""Numerical kernels with no knowledge of the language: special functions, fused log-densities
and their hand-written derivatives, the step's graph nodes, and the random sources of a run
(per-particle streams, fixed draws)."""
