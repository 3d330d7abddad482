"""Pass 4, guide: in inference mode, give every latent a variational family (mean-field).

A continuous latent gets a Normal in an unconstrained space, mapped onto the prior's support by
that support's bijection; a discrete one gets a free member of its prior's own family (the
argument named by the distribution's `guide_arg`: Bernoulli and Categorical logits, a Poisson rate).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import ir
from .ast import NOSPAN
from .constraints import positive, real
from .distributions import DISTRIBUTIONS, Distribution
from .errors import Span


@dataclass(frozen=True)
class GuideSite:
    name: str
    family: str                 # "Normal" (unconstrained) or the prior's family
    params: tuple               # ((parameter name, constraint), ...)
    discrete: bool
    bijection: str = "{u}"      # how the unconstrained draw reaches the support
    span: Span = field(default=NOSPAN, compare=False, repr=False)

    @property
    def text(self):
        if self.discrete:
            return f"{self.family}({self.params[0][0]}={self.name}.{self.params[0][0]})"
        return f"{self.family}({self.name}.loc, {self.name}.scale)"

    def pathwise_form(self):
        """The guide's draw as a transform of standard normal noise."""
        u = f"{self.name}.loc + {self.name}.scale * eps"
        return f"{self.name} = {self.bijection.format(u=u)}"

    def __str__(self):
        return f"guide {self.name} ~ {self.text}"


@dataclass(frozen=True)
class Guided:
    module: ir.Module
    sites: tuple                # GuideSite per latent, in program order (empty outside inference)

    def __str__(self):
        return "\n".join([str(self.module), *map(str, self.sites)])


def guide(module: ir.Module) -> Guided:
    """Add a mean-field guide for each latent when the mode is variational inference."""
    if module.mode != "vi":
        return Guided(module, ())
    return Guided(module, tuple(_site(s) for s in module.body if isinstance(s, ir.Sample)))


def _site(sample: ir.Sample) -> GuideSite:
    cls = DISTRIBUTIONS[sample.dist]
    if cls.discrete:
        arg = cls.guide_arg
        return GuideSite(sample.name, cls.__name__, ((arg, cls.arg_constraints[arg]),), True, sample.span)
    support = cls.__dict__.get("support", Distribution.support)
    family, bijection = _BY_SUPPORT.get(getattr(support, "name", None), ("Normal", "to_support({u})"))
    return GuideSite(sample.name, family, (("loc", real), ("scale", positive)), False, bijection, sample.span)


# guide family and bijection by support, for the printed form (a support that depends on the
# arguments is mapped at run time by its own bijection: "to_support")
_BY_SUPPORT = {"real": ("Normal", "{u}"), "positive": ("LogNormal", "exp({u})"),
               "unit_interval": ("LogitNormal", "sigmoid({u})"), "simplex": ("Normal", "stick_breaking({u})")}
