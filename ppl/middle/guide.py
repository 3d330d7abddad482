"""Pass 4, guide: in inference mode, give every latent a variational family.

A continuous latent gets a Normal in an unconstrained space, mapped onto the prior's support by
that support's bijection: one independent Normal per latent ("meanfield", the default), or one
block of a joint Normal with a full covariance ("fullrank", see fullrank.py). A discrete latent
gets a free member of its prior's own family (the argument named by the distribution's
`guide_arg`: Bernoulli and Categorical logits, a Poisson rate).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import ir
from ..front.ast import NOSPAN
from ..distributions.constraints import positive, real
from ..front.errors import Span
from .options import GUIDES, one_of


@dataclass(frozen=True)
class GuideSite:
    name: str
    family: str                 # "Normal" (unconstrained) or the prior's family
    params: tuple               # ((parameter name, constraint), ...)
    discrete: bool
    bijection: str = "{u}"      # how the unconstrained draw reaches the support
    span: Span = field(default=NOSPAN, compare=False, repr=False)
    joint: bool = False         # a block of the full-rank joint Normal

    @property
    def text(self) -> str:
        if self.discrete:
            return f"{self.family}({self.params[0][0]}={self.name}.{self.params[0][0]})"
        if self.joint:
            return f"{self.bijection.format(u=f'u[{self.name}]')}, u ~ Normal(guide.loc, guide.scale_tril)"
        return f"{self.family}({self.name}.loc, {self.name}.scale)"

    def pathwise_form(self) -> str:
        """The guide's draw as a transform of standard normal noise."""
        u = f"{self.name}.loc + {self.name}.scale * eps"
        if self.joint:
            u = f"(guide.loc + guide.scale_tril @ eps)[{self.name}]"
        return f"{self.name} = {self.bijection.format(u=u)}"

    def __str__(self):
        return f"guide {self.name} ~ {self.text}"


@dataclass(frozen=True)
class Guided:
    module: ir.Module
    sites: tuple                # GuideSite per latent, in program order (empty outside inference)
    family: str = "meanfield"   # meanfield | fullrank

    def __str__(self):
        return "\n".join([str(self.module), f"# guide: {self.family}", *map(str, self.sites)])




def guide(module: ir.Module, family: str = "meanfield") -> Guided:
    """Add a guide for each latent when the mode is variational inference (a discrete family
    with nothing to learn, `guide_arg = None`, gets none: it must be summed out)."""
    one_of("guide", family, GUIDES)
    if module.mode != "vi":
        return Guided(module, (), family)
    sites = tuple(_site(s, family == "fullrank") for s in module.body if isinstance(s, ir.Sample)
                  and not (s.family.discrete and s.family.guide_arg is None))
    return Guided(module, sites, family)


def _site(sample: ir.Sample, joint: bool) -> GuideSite:
    cls = sample.family
    if cls.discrete:
        arg = cls.guide_arg
        return GuideSite(sample.name, cls.__name__, ((arg, cls.arg_constraints[arg]),), True, span=sample.span)
    name = None if cls.moving_support else cls.support.name
    family, bijection = _BY_SUPPORT.get(name, ("Normal", "to_support({u})"))
    return GuideSite(sample.name, family, (("loc", real), ("scale", positive)), False, bijection, sample.span, joint)


# guide family and bijection by support, for the printed form (a support that depends on the
# arguments is mapped at run time by its own bijection: "to_support")
_BY_SUPPORT = {"real": ("Normal", "{u}"), "positive": ("LogNormal", "exp({u})"),
               "unit_interval": ("LogitNormal", "sigmoid({u})"), "simplex": ("Normal", "stick_breaking({u})"),
               "circular": ("Normal", "-pi + 2 * pi * sigmoid({u})"), "real_vector": ("Normal", "{u}"),
               "ordered": ("Normal", "ordered({u})"), "positive_ordered": ("Normal", "positive_ordered({u})"), "corr_cholesky": ("Normal", "corr_cholesky({u})")}
