"""Probability distributions, named as in Pyro (positional order as in Stan where they differ).

Log densities use autograd.numpy, so they can be differentiated with respect to the parameters
(and the value, for continuous families); parameters may be autograd boxes and carry any leading
batch axes. A family is reparameterizable exactly when it defines `transform`, which maps
parameter-free `noise` to a draw differentiably in the parameters: explicitly (location-scale maps,
closed-form inverse CDFs: `continuous`) or implicitly (numerical inverse CDFs whose gradients come
from the implicit function theorem: `implicit_families`, built on `ppl.kernels.implicit`).
"""
from .base import Distribution
from .continuous import (Cauchy, Exponential, Gumbel, HalfCauchy, HalfNormal, Laplace, Logistic, LogNormal, Normal,
                         Pareto, Uniform, Weibull)
from .discrete import (Bernoulli, BetaBinomial, Binomial, Categorical, DiscreteUniform, Geometric, NegativeBinomial,
                       Poisson)
from .implicit_families import Beta, Chi2, Gamma, InverseGamma, StudentT, VonMises
from .multivariate import Dirichlet, LKJCholesky, Multinomial, MultivariateNormal
from .processes import GaussianRandomWalk, HalfStudentT

_FAMILIES = (
    Normal, HalfNormal, LogNormal, Exponential, Gamma, InverseGamma, Beta, Uniform, Laplace, Logistic, Gumbel,
    Cauchy, HalfCauchy, StudentT, HalfStudentT, Weibull, Pareto, Chi2, VonMises, Dirichlet, MultivariateNormal,
    LKJCholesky, GaussianRandomWalk,
    Bernoulli, Binomial, Categorical, Poisson, Geometric, NegativeBinomial, BetaBinomial, DiscreteUniform, Multinomial)

DISTRIBUTIONS = {cls.__name__: cls for cls in _FAMILIES}

__all__ = ["Distribution", "DISTRIBUTIONS", *DISTRIBUTIONS]
