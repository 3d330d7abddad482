"""Initial values given to a fit (`Model.fit(init=...)`, `ppl fit --init init.json`), as Stan's
`init`: a `param` starts at its given value instead of its declared one, and a continuous latent's
guide is centred on its given value (its location, in the unconstrained space, is the value's
image; its scale stays). Every starting point of an L-BFGS fit keeps them; the rest of each start
is drawn as usual (`ppl.infer.deterministic.restart_point`).

A discrete latent's guide starts at its prior and a deterministic is computed, so neither takes a
value; nor does a full-rank guide directly: it starts from the mean-field optimum, which starts
from the given values.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as onp

from ..front.errors import OptionError, did_you_mean

if TYPE_CHECKING:
    from ..back.program import Program


def initial_point(built: Program, init: dict) -> tuple[onp.ndarray, tuple[str, ...]]:
    """(theta, held): the fit's first parameters with `init`'s values ({name: value}, a value
    of the name's shape or one that broadcasts to it), and the parameters every start keeps."""
    if not isinstance(init, dict) or not all(isinstance(k, str) for k in init):
        raise OptionError("init must map names to values, such as {\"mu\": 0.5, \"tau\": 1}")
    space = built.space
    params = {d.name for d in built.rewritten.module.decls if d.kind == "param"}
    values, held = {}, []
    for name, given in init.items():
        if name in params:
            p = space.params[space.index[name]]
            values[name] = _shaped(name, given, p.shape)
            if not onp.all(p.constraint.check(values[name])):
                raise OptionError(f"init: '{name}' = {given!r} is outside its support ({p.constraint.name})",
                                  hint=f"give '{name}' a value inside it")
            held.append(name)
        elif f"{name}.loc" in space.slices:
            shape, prior = built.shapes[name]
            x = _shaped(name, given, shape)
            with onp.errstate(all="ignore"):
                u = onp.asarray(prior.support.to_unconstrained(x), dtype=float)
            if not (onp.all(prior.support.check(x)) and onp.isfinite(u).all()):
                raise OptionError(f"init: '{name}' = {given!r} is outside its support ({prior.support.name}), or on "
                                  "its edge", hint=f"give '{name}' a value inside it")
            values[f"{name}.loc"] = u
            held.append(f"{name}.loc")
        else:
            known = name in built.shapes or name in {d.name for d in built.rewritten.module.decls}
            raise OptionError(_why_not(name, built, params),
                              hint=None if known else did_you_mean(name, list(params) + list(built.shapes)))
    return space.flatten(values), tuple(held)


def _shaped(name, given, shape):
    try:
        x = onp.asarray(given, dtype=float)
        return onp.broadcast_to(x, shape).copy()
    except (TypeError, ValueError):
        raise OptionError(f"init: '{name}' is {given!r}, which is not a number or an array of shape "
                          f"{tuple(shape)}") from None


def _why_not(name, built, params):
    kinds = {d.name: d.kind for d in built.rewritten.module.decls}
    if kinds.get(name) == "data":
        return f"init: '{name}' is data: it is given, not started"
    if name in built.shapes and built.shapes[name][1] is None:
        return f"init: '{name}' is a deterministic: it is computed from the latents, not started"
    if name in built.shapes:
        return f"init: '{name}' has no guide location to start (a discrete latent's guide starts at its prior)"
    named = sorted(params) + sorted(n for n in built.shapes if f"{n}.loc" in built.space.slices)
    return f"init: no param or continuous latent is named '{name}' (they are {', '.join(named) or 'none'})"
