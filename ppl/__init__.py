"""ppl: a probabilistic programming language whose gradients you can read.

>>> import ppl
>>> model = ppl.compile('''
... param mu: real = 0
... param log_sigma: real = 0
... y ~ Normal(mu, exp(log_sigma))
... minimize (y - 3)^2 + exp(log_sigma)
... ''')
>>> print(model.explain().splitlines()[1].split()[0])
y
"""
from .front.errors import DataError, FitError, OptionError, PPLError, PPLSyntaxError, SemanticError
from .model import Model, compile, load
from .infer.result import Fit

__all__ = ["compile", "load", "Model", "Fit", "PPLError", "PPLSyntaxError", "SemanticError", "DataError",
           "FitError", "OptionError"]
__version__ = "0.1.0"
