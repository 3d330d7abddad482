"""Hints for the mistakes a modeller coming from Stan or PyMC makes first, added to the error the
mistake causes:

- a Stan-style declaration (`data int N;`, `vector[N] y;`, `real<lower=0> sigma;`) is a syntax
  error here; the hint writes it in this language (`data N: int`);
- a latent drawn from a distribution on the whole real line (`sigma ~ Normal(0, 5)`) and used
  where a positive number is needed (a scale) goes negative during the fit; the hint names a
  distribution on (0, inf) (`sigma ~ HalfNormal(5)`).

>>> stan_declaration("data vector<lower=0>[N] y;")
'data y: real<lower=0>[N]'
>>> stan_declaration("mu ~ Normal(0, 1)") is None
True
"""
from __future__ import annotations

import re

from ..distributions import constraints
from ..front.errors import PPLError, PPLSyntaxError
from ..middle import ir

STAN_TYPES = {"int": "int", "real": "real", "vector": "real", "row_vector": "real", "matrix": "real",
              "simplex": "simplex", "ordered": "ordered", "positive_ordered": "positive_ordered"}
DECLARATION = re.compile(
    r"^\s*(?P<kind>data|param|parameter)?\s*(?:array\s*\[(?P<array>[^\]]*)\]\s*)?(?P<type>" + "|".join(STAN_TYPES) +
    r")\s*(?P<bounds><[^>]*>)?\s*(?:\[(?P<dims>[^\]]*)\])?\s+(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<old>[^\]]*)\])?"
    r"\s*(?P<rest>=[^;]*)?;?\s*(#.*)?$")
POSITIVE_FAMILIES = {"Normal": "HalfNormal", "Cauchy": "HalfCauchy", "StudentT": "HalfNormal"}


def stan_declaration(line: str) -> str | None:
    """The declaration on `line`, written as this language writes it, if `line` is one in Stan's
    style (type first, then the name, maybe a semicolon); else None."""
    m = DECLARATION.match(line)
    if m is None:
        return None
    sizes = [s.strip() for part in (m["array"], m["dims"], m["old"]) if part for s in part.split(",")]
    shape = f"[{', '.join(sizes)}]" if sizes else ""
    kind = {"parameter": "param"}.get(m["kind"], m["kind"])
    head = f"{kind} " if kind else ""
    default = f" {m['rest'].strip()}" if m["rest"] else ""
    return f"{head}{m['name']}: {STAN_TYPES[m['type']]}{m['bounds'] or ''}{shape}{default}"


def declaration_hint(err: PPLError, source: str) -> PPLError:
    """A syntax error on a Stan-style declaration, with the declaration as this language has it."""
    if isinstance(err, PPLSyntaxError) and err.span is not None:
        lines = source.splitlines()
        line = lines[err.span.line - 1] if 0 < err.span.line <= len(lines) else ""
        written = stan_declaration(line)
        if written is not None:
            err.hint = (f"declare it as `{written}`: the name first, then a colon and its type (a latent's "
                        "prior follows a ~)")
    return err


SCALE = re.compile(r"argument '(\w+)' must be (positive|greater_than\([^)]*\)), but '([A-Za-z_]\w*)'(\[[^\]]*\])? is")


def scale_hint(err: PPLError, module: ir.Module) -> PPLError:
    """An argument that must be positive but went negative, when it is a latent drawn from a
    distribution on the whole real line: the hint names one on (0, inf)."""
    m = SCALE.search(err.message)
    if m is None:
        return err
    arg, name = m.group(1), m.group(3)
    drawn = next((s for s in module.body if isinstance(s, ir.Sample) and s.name == name), None)
    if drawn is None or getattr(drawn, "support", None) or _support(drawn) is not constraints.real:
        return err
    family = POSITIVE_FAMILIES.get(drawn.dist, "HalfNormal")
    scale = dict(drawn.args).get("scale")
    suggestion = f"{name} ~ {family}({scale if scale is not None else 1})"
    advice = (f"'{name}' is drawn from {drawn.dist}, whose values can be negative, and '{arg}' must be positive: "
              f"draw it from a distribution on (0, inf), {suggestion} (or Exponential, LogNormal, HalfCauchy)")
    err.hint = advice + (f"\n  {err.hint}" if err.hint and not err.hint.startswith("check the expression") else "")
    return err


def _support(stmt):
    family = getattr(stmt, "family", None)
    return getattr(family, "support", None)
