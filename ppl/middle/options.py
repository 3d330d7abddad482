"""How a model is compiled: the options the passes take, with their vocabularies.

>>> CompileOptions(guide="fullrank").estimator
'auto'
>>> CompileOptions(guide="full")
Traceback (most recent call last):
ppl.front.errors.OptionError: guide must be one of 'meanfield', 'fullrank', not 'full'
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, get_args

from ..front.errors import OptionError

Estimator = Literal["auto", "pathwise", "score", "enumerate", "expect"]
Granularity = Literal["element", "statement", "none"]       # how finely costs are kept per score site
Guide = Literal["meanfield", "fullrank"]
Mode = Literal["vi", "optimize", "mle", "prior"]             # inference, optimization, likelihood, nothing to fit
CostPart = Literal["logp", "logq", "term", "factor"]   # a latent's log p or log q, an objective's term, target +=

ESTIMATORS: tuple[str, ...] = get_args(Estimator)
GRANULARITIES: tuple[str, ...] = get_args(Granularity)
GUIDES: tuple[str, ...] = get_args(Guide)


@dataclass(frozen=True, kw_only=True)
class CompileOptions:
    """`estimator`: one of ESTIMATORS for every latent, or {latent: estimator};
    `rao_blackwell`: how finely a score-function site's costs are restricted to those it
    influences (GRANULARITIES); `guide`: the variational family of the continuous latents."""
    estimator: Estimator | dict = "auto"
    rao_blackwell: Granularity = "element"
    guide: Guide = "meanfield"

    def __post_init__(self):
        choices = self.estimator.values() if isinstance(self.estimator, dict) else [self.estimator]
        for how in choices:
            one_of("estimator", how, ESTIMATORS)
        one_of("rao_blackwell", self.rao_blackwell, GRANULARITIES)
        one_of("guide", self.guide, GUIDES)

    def as_dict(self) -> dict:
        return asdict(self)


def one_of(name: str, value: object, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`, else an `OptionError` naming the argument."""
    if not isinstance(value, str) or value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value
