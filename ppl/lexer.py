"""Syntax highlighting of model files (`.ppl`) with Pygments, for documentation and notebooks.

Pygments finds `PPLLexer` through the `pygments.lexers` entry point the package registers, so
`pygmentize model.ppl`, a Sphinx ```` ```ppl ```` block and a notebook's `Model` display all
highlight the language once the package is installed. Its words come from the compiler's own
tables and grammar (every distribution, function, constant, type and keyword), so a family or a
function added to the language is highlighted without touching this file.

Pygments itself is optional (`pip install 'ppl-lang[lexer]'`): the module imports without it
(the word lists are plain data, and `pkgutil`/`pydoc`/Sphinx walk every module of the package),
and the class is built on first use, `from ppl.lexer import PPLLexer`, which needs Pygments.

>>> from pygments import highlight
>>> from pygments.formatters import HtmlFormatter
>>> from ppl.lexer import PPLLexer
>>> '<span class="kd">data</span>' in highlight("data N: int", PPLLexer(), HtmlFormatter())
True
"""
from __future__ import annotations

import re
from functools import cache

from .distributions import DISTRIBUTIONS
from .front.functions import CONSTANTS, FUNCTIONS
from .front import check
from .front.tables import grammar_path

DISTRIBUTION_NAMES: tuple[str, ...] = tuple(sorted(DISTRIBUTIONS, key=lambda n: (-len(n), n)))
FUNCTION_NAMES: tuple[str, ...] = tuple(sorted(FUNCTIONS, key=lambda n: (-len(n), n)))
CONSTANT_NAMES: tuple[str, ...] = tuple(CONSTANTS)
TARGET = "target"      # `target += e`: a term of the log-density
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def keywords() -> tuple[str, ...]:
    """The grammar's keywords: every lowercase word it quotes (`data`, `param`, `minimize`, ...)."""
    return tuple(sorted(set(re.findall(r'"([a-z]+)"', grammar_path().read_text()))))


def types() -> tuple[str, ...]:
    """The type names declarations take (`int`, `real`, `positive`, ...)."""
    names = [getattr(check, n) for n in dir(check) if n.endswith("_TYPES") and isinstance(getattr(check, n), tuple)]
    return tuple(sorted({t for group in names for t in group if isinstance(t, str)}))


@cache
def _lexer_class():
    try:
        from pygments.lexer import RegexLexer, bygroups, words
        from pygments import token as t
    except ImportError:
        raise ImportError("ppl.lexer.PPLLexer needs Pygments: pip install 'ppl-lang[lexer]' "
                          "(or pip install pygments)") from None
    class PPLLexer(RegexLexer):
        """Pygments lexer for ppl model files."""
        name = "ppl"
        aliases = ["ppl"]
        filenames = ["*.ppl"]
        mimetypes = ["text/x-ppl"]
        url = "https://pypi.org/project/ppl-lang/"

        tokens = {"root": [
            (r"[ \t\f]+", t.Whitespace),
            (r"\\?\r?\n", t.Whitespace),
            (r"#[^\n]*", t.Comment.Single),
            (rf"\b(data|param)(\s+)({IDENT})", bygroups(t.Keyword.Declaration, t.Whitespace, t.Name.Variable)),
            (rf"\b(for)(\s+)({IDENT})", bygroups(t.Keyword, t.Whitespace, t.Name.Variable)),
            (words(keywords(), suffix=r"\b"), t.Keyword),
            (words(types(), prefix=r"\b", suffix=r"\b(?=\s*[<\[=~#]|\s*$)"), t.Keyword.Type),
            (r"\bT(?=\s*\[)", t.Keyword),
            (words((TARGET,), prefix=r"\b", suffix=r"\b(?=\s*\+=)"), t.Name.Builtin.Pseudo),
            (words(DISTRIBUTION_NAMES, prefix=r"\b", suffix=r"\b"), t.Name.Class),
            (words(FUNCTION_NAMES, prefix=r"\b", suffix=r"\b(?=\s*\()"), t.Name.Builtin),
            (words(CONSTANT_NAMES, prefix=r"\b", suffix=r"\b"), t.Name.Constant),
            (r"\b(lower|upper)(?=\s*=)", t.Name.Attribute),
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+", t.Number.Float),
            (r"[0-9]+", t.Number.Integer),
            (IDENT, t.Name),
            (r"\+=|==|!=|<=|>=|\*\*|[~=+\-*/@^<>]", t.Operator),
            (r"[()\[\]{},:.]", t.Punctuation),
        ]}

    return PPLLexer


def __getattr__(attribute):
    if attribute == "PPLLexer":
        return _lexer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
