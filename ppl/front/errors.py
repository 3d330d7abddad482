"""One error hierarchy for the whole pipeline; every error carries a source span.

`str(err)` renders the way a compiler does:

    models/m.ppl:3:12: error: unknown name 'muu'
      3 | y ~ Normal(muu, 1)
        |            ^^^
      did you mean 'mu'?
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A region of source text: 1-based line and column, end exclusive."""
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self):
        return f"{self.line}:{self.col}"


@dataclass(frozen=True)
class Source:
    """The text of a model file and the name it is reported under."""
    text: str
    filename: str = "<model>"

    def line(self, n: int) -> str:
        lines = self.text.splitlines()
        return lines[n - 1] if 0 < n <= len(lines) else ""


class PPLError(Exception):
    """Base of every error the project reports to a user (CLI exit status 1)."""
    kind = "error"

    def __init__(self, message: str, span: Span | None = None, source: Source | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.message, self.span, self.source, self.hint = message, span, source, hint

    def at(self, source: Source) -> "PPLError":
        """Attach the source text if the error does not have it yet."""
        if self.source is None:
            self.source = source
        return self

    def __str__(self):
        where = self.source.filename if self.source else "<model>"
        if self.span is None:
            head = f"{where}: {self.kind}: {self.message}"
            return head + (f"\n  {self.hint}" if self.hint else "")
        head = f"{where}:{self.span.line}:{self.span.col}: {self.kind}: {self.message}"
        return "\n".join([head, *self._excerpt(), *([f"  {self.hint}"] if self.hint else [])])

    def _excerpt(self):
        if self.source is None:
            return []
        text = self.source.line(self.span.line).rstrip("\r").expandtabs(1)
        text = "".join(c if c.isprintable() else "?" for c in text)   # nothing that reorders the display
        if not text:
            return []
        number = str(self.span.line)
        end = self.span.end_col if self.span.end_line == self.span.line else len(text) + 1
        width = max(1, min(end, len(text) + 1) - self.span.col)
        text, col, width = _window(text, self.span.col, width)
        pad = " " * len(number)
        return [f"  {number} | {text}", f"  {pad} | {' ' * (col - 1)}{'^' * width}"]


EXCERPT_WIDTH = 100   # a longer source line is shown as a window around the caret


def _window(text, col, width):
    """At most EXCERPT_WIDTH characters of `text` around column `col`, elided with '...'."""
    if len(text) <= EXCERPT_WIDTH:
        return text, col, width
    start = max(0, min(col - 1 - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
    shown = text[start:start + EXCERPT_WIDTH]
    head, tail = ("..." if start else ""), ("..." if start + EXCERPT_WIDTH < len(text) else "")
    col = col - start + len(head)
    width = max(1, min(width, len(shown) + len(head) + 1 - col))
    return head + shown + tail, col, width


class PPLSyntaxError(PPLError):
    """The text is not a program of the language."""
    kind = "syntax error"


class SemanticError(PPLError):
    """The program parses but does not make sense (names, arity, kinds)."""


class DataError(PPLError):
    """The data given to a model do not match its `data` declarations."""
    kind = "data error"


class FitError(PPLError):
    """A run-time failure of a fit (non-finite values, arguments outside constraints)."""
    kind = "runtime error"


class OptionError(PPLError, ValueError):
    """An option given to the Python API (`compile`, `fit`, ...) that is not one it takes: the
    message names the argument. Also a ValueError, as Python's own bad arguments are. It belongs
    to a call, not to a place in a model file, so it prints as the message alone."""
    kind = "option error"

    def __str__(self):
        return self.message + (f"\n  {self.hint}" if self.hint else "")


def brief(node: object, width: int = 60) -> str:
    """An expression's text as a message quotes it: at most `width` characters."""
    text = str(node)
    return text if len(text) <= width else text[:width - 3] + "..."


def did_you_mean(name: str, candidates: Iterable[object]) -> str | None:
    """A hint naming the closest candidate, if any is close; case is ignored ('Y' for 'y')."""
    candidates = sorted({c for c in candidates if isinstance(c, str)} - {name})   # data keys may be anything
    same = [c for c in candidates if c.lower() == name.lower()]
    by_lower = {c.lower(): c for c in reversed(candidates)}
    close = same or [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, n=1, cutoff=0.6)]
    return f"did you mean '{close[0]}'?" if close else None
