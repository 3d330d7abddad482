"""How a model is fitted: every option of `Model.fit` with its one default, checked once.

The command line takes its defaults from here, and a checkpoint's fingerprint hashes the options
that change the result (`result_options`).

>>> FitOptions().steps, FitOptions(optimizer="adam").particles_for(width=None)
(2000, 1)
>>> FitOptions(steps=0)
Traceback (most recent call last):
ppl.front.errors.OptionError: steps must be a positive integer, not 0
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field, fields
from typing import Literal, get_args

from ..front.errors import OptionError
from ..middle.options import one_of

Optimizer = Literal["auto", "lbfgs", "adam"]
Baseline = Literal["auto", "loo", "average", "none"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
BASELINES: tuple[str, ...] = get_args(Baseline)

MAX_STEPS = 10 ** 8          # a trace of 10^8 steps already takes gigabytes
MAX_PARTICLES = 10 ** 5      # each particle has a random stream of its own
MAX_STARTS = 1024
SAME_RESULT = {"same_result": True}     # an option that does not change the result, only how it is computed


@dataclass(frozen=True, kw_only=True)
class FitOptions:
    """The options of `Model.fit` (see there); `particles=None` is 1 for Adam and the first
    stage's fixed draws (32) for L-BFGS."""
    optimizer: Optimizer = "auto"
    steps: int = 2000
    particles: int | None = None
    seed: int = 0
    starts: int = 4
    lr: float = 0.05
    tol: float | None = None
    baseline: Baseline = "auto"
    stl: bool = False
    batch_size: int | None = None
    chunk: int | None = field(default=None, metadata=SAME_RESULT)
    checkpoint_every: int = field(default=100, metadata=SAME_RESULT)

    def __post_init__(self):
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        one_of("baseline", self.baseline, BASELINES)
        for name in ("steps", "starts", "checkpoint_every"):
            positive(name, getattr(self, name))
        for name in ("particles", "batch_size", "chunk"):
            if getattr(self, name) is not None:
                positive(name, getattr(self, name))
        for name, most in (("steps", MAX_STEPS), ("particles", MAX_PARTICLES), ("starts", MAX_STARTS)):
            if (getattr(self, name) or 0) > most:
                raise OptionError(f"{name} is {getattr(self, name):,}, more than the {most:,} a fit can take")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise OptionError(f"seed must be a non-negative integer, not {self.seed!r}")
        for name in ("lr", "tol"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                      or not 0 < value < float("inf")):
                raise OptionError(f"{name} must be a positive number, not {value!r}")
        if not isinstance(self.stl, bool):
            raise OptionError(f"stl must be True or False, not {self.stl!r}")

    def particles_for(self, width: int | None, joint: bool = False) -> int:
        """The particles of this fit: as given, else 1 for Adam (`width` None) and the first
        stage's fixed draws for L-BFGS over `width` standard normals."""
        from .deterministic import first_draws
        if self.particles is not None:
            return self.particles
        return 1 if width is None else first_draws(width, joint)

    def result_options(self) -> dict:
        """The options that change the result, for a checkpoint's fingerprint."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("same_result")}

    def as_dict(self) -> dict:
        return asdict(self)


def positive(name: str, value: object) -> int:
    """`value` if it is a positive integer, else an `OptionError` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise OptionError(f"{name} must be a positive integer, not {value!r}")
    return int(value)
