"""Messages in the words of whoever called: a command-line user is told of `--steps` and
`ppl sample MODEL`, a Python user of `steps=...` and `model.sample(1000)`.

Warnings and hints are written once, in the command line's words, wherever they arise; the
Python API passes them through `for_caller`, which rewrites every option and command into the
argument or method that does the same, unless the command line is running (`command_line`).

>>> as_arguments("run more steps (--steps), or try --guide fullrank; pass --data FILE")
"run more steps (steps=...), or try model.with_options(guide='fullrank'); pass data=..."
>>> with command_line():
...     for_caller("more --particles")
'more --particles'
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..front.errors import PPLError

_COMMAND_LINE: ContextVar[bool] = ContextVar("command_line", default=False)

# options that compile the model: the API changes them with `model.with_options`
COMPILE_OPTIONS = ("guide", "estimator", "rao_blackwell")
# an option's value, when the word after it is one
CHOICES = {"guide": {"meanfield", "fullrank"}, "optimizer": {"auto", "lbfgs", "adam"},
           "estimator": {"auto", "pathwise", "score", "enumerate", "expect"},
           "baseline": {"auto", "loo", "average", "none"}, "rao_blackwell": {"element", "statement", "none"}}
# commands, and the Python that does the same
COMMANDS = {"ppl sample --fit RESULT": "fit.predictive(1000)", "ppl sample --fit": "fit.predictive(1000)",
            "ppl sample MODEL": "model.sample(1000)", "ppl fit --out": "Fit.to_json()",
            "ppl compile --explain": "model.explain()", "ppl compile MODEL --explain": "model.explain()"}
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z-]*)(?:([ =])([A-Za-z0-9_.+-]+))?")


@contextmanager
def command_line() -> Iterator[None]:
    """While active, messages keep the command line's words."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def for_caller(text: str | None) -> str | None:
    """`text` as the caller should read it: unchanged on the command line, else `as_arguments`."""
    return text if text is None or _COMMAND_LINE.get() else as_arguments(text)


def in_callers_words(function: Callable) -> Callable:
    """`function`, whose errors (`PPLError`) give their message and hint `for_caller`."""
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except PPLError as err:
            err.message, err.hint = for_caller(err.message), for_caller(err.hint)
            raise
    return wrapped


def as_arguments(text: str) -> str:
    """Every command-line option in `text` as the Python argument (`--batch-size B` is
    `batch_size=...`), a compile option as `model.with_options(...)`, a command as its method."""
    for command, call in COMMANDS.items():
        text = text.replace(command, call)
    return FLAG.sub(_argument, text)


def _argument(match: re.Match) -> str:
    name, gap, word = match.group(1).replace("-", "_"), match.group(2), match.group(3)
    if word is not None and (word in CHOICES.get(name, ()) or _number(word)):
        value, rest = (word if _number(word) else repr(word)), ""
    else:
        placeholder = word is not None and word.isupper()
        value, rest = "...", "" if placeholder or word is None else f"{gap}{word}"
    call = f"{name}={value}"
    return (f"model.with_options({call})" if name in COMPILE_OPTIONS else call) + rest


def _number(word: str) -> bool:
    return re.fullmatch(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?", word) is not None
