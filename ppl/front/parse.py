"""Pass 1, parse: source text to a syntax tree (`ast.Program`)."""
from __future__ import annotations

import functools
import unicodedata

import lark
from lark import Lark, Token, Transformer, v_args

from . import ast, tables
from .errors import PPLSyntaxError, Source, Span

# Limits: a model file describes a model in a few lines; anything far beyond these is refused with
# an error before the parser, the passes (which recurse over expressions) or memory give out.
MAX_SOURCE_CHARS = 50_000      # characters in a model file
MAX_STATEMENTS = 500           # statements in a program
MAX_NAME_LENGTH = 255          # characters in a name or a number
MAX_DEPTH = 100                # brackets open at once, and nesting of expressions
MAX_INT = 2**63 - 1            # largest integer literal (int64)

_OPEN, _CLOSE = {"LPAR": ")", "LSQB": "]"}, {"RPAR", "RSQB"}
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "_NL": "a line break", "$END": "end of input",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "EQUAL": "'='", "TILDE": "'~'", "LESSTHAN": "'<'", "MORETHAN": "'>'", "MINIMIZE": "minimize", "MAXIMIZE": "maximize", "DATA": "data", "PARAM": "param",
    "FOR": "for", "IN": "in", "LBRACE": "'{'", "RBRACE": "'}'", "DOT": "'.'", "EQEQ": "'=='", "NOTEQ": "'!='", "LESSEQUAL": "'<='",
    "MOREEQUAL": "'>='",
    "PLUSEQUAL": "'+='", "T": "T[...]",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "AT": "'@'", "POW": "'^'",
}
_PAIRS = {"(": ")", "[": "]"}
_EXPRESSION_STARTS = {"NAME", "NUMBER", "LPAR", "LSQB", "MINUS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW", "LSQB"}


class _Brackets:
    """Post-lexer: inside brackets a newline is only whitespace; an unclosed bracket is an error;
    tokens and bracket nesting are held to the limits above."""
    always_accept = ("_NL",)

    def process(self, stream):
        opened = []
        for tok in stream:
            if tok.type in _OPEN:
                opened.append(tok)
                if len(opened) > MAX_DEPTH:
                    raise PPLSyntaxError(f"brackets are nested more than {MAX_DEPTH} deep", _token_span(tok),
                                         hint="name the inner parts in statements of their own")
            elif tok.type in _CLOSE and opened:
                opened.pop()
            elif tok.type in ("NAME", "NUMBER"):
                _check_token(tok)
            if tok.type == "_NL" and opened:
                continue
            yield tok
        if opened:
            tok = opened[-1]
            raise PPLSyntaxError(f"'{tok.value}' is never closed", _token_span(tok),
                                 hint=f"add the matching '{_OPEN[tok.type]}'")


def _check_token(tok):
    what = "a name" if tok.type == "NAME" else "a number"
    if len(tok.value) > MAX_NAME_LENGTH:
        raise PPLSyntaxError(f"{what} of {len(tok.value):,} characters; the limit is {MAX_NAME_LENGTH}",
                             _token_span(tok), hint=f"use a shorter {what[2:]}")
    if tok.type == "NUMBER" and tok.value.isdigit() and int(tok.value) > MAX_INT:
        raise PPLSyntaxError(f"the integer {tok.value} is too large; the largest is {MAX_INT}", _token_span(tok),
                             hint=f"write it as a real number, such as {float(tok.value):.6g}")
    if tok.type == "NUMBER" and float(tok.value) == float("inf"):
        raise PPLSyntaxError(f"the number {tok.value} is too large to represent", _token_span(tok),
                             hint="numbers must be below about 1.8e308")


@functools.cache
def _parser() -> Lark:
    return tables.parser(_Brackets())


class Keyword(str):
    """An argument name (the `scale` of `scale=1`) that remembers its span, for error messages."""
    span: Span = ast.NOSPAN

    @classmethod
    def of(cls, tok: Token) -> "Keyword":
        word = cls(tok)
        word.span = _token_span(tok)
        return word


def _token_span(tok: Token) -> Span:
    end_line = tok.end_line or tok.line
    end_col = tok.end_column or tok.column + max(1, len(tok.value))
    return Span(tok.line, tok.column, end_line, end_col)


def _span(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _binary(op):
    """The transformer method of a binary operator's rule (a grammar alias such as `add`)."""
    def method(self, meta, left, right):
        return ast.Binary(op, left, right, span=_span(meta))
    return method


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    def start(self, meta, *stmts):
        return ast.Program(tuple(s for s in stmts if s is not None), span=_span(meta) if not meta.empty else ast.NOSPAN)

    def data_decl(self, meta, name, type_, default):
        return ast.DataDecl(str(name), type_, default, span=_span(meta))

    def param_decl(self, meta, name, type_, init):
        return ast.ParamDecl(str(name), type_, init, span=_span(meta))

    def latent_decl(self, meta, name, type_):
        return ast.LatentDecl(str(name), type_, span=_span(meta))

    def sample(self, meta, name, type_, call, truncate):
        return ast.SampleStmt(str(name), type_, call, truncate=truncate, span=_span(meta))

    def sample_at(self, meta, name, *rest):
        *indices, call, truncate = rest
        return ast.SampleStmt(str(name), None, call, tuple(indices), truncate, span=_span(meta))

    def truncate(self, meta, lower, upper):
        return (lower, upper)

    def assign(self, meta, name, expr):
        return ast.Assign(str(name), expr, span=_span(meta))

    def assign_at(self, meta, name, *rest):
        *indices, expr = rest
        return ast.Assign(str(name), expr, tuple(indices), span=_span(meta))

    def increment(self, meta, name, expr):
        return ast.Increment(str(name), expr, span=_span(meta))

    def loop(self, meta, var, start, stop, *body):
        return ast.Loop(str(var), start, stop, tuple(s for s in body if s is not None), span=_span(meta))

    def method(self, meta, call, name, *args):
        return ast.Method(call, str(name), tuple(a for a in args if a is not None), span=_span(meta))

    def objective(self, meta, sense, expr):
        return ast.ObjectiveStmt(sense, expr, span=_span(meta))

    def sense(self, meta, tok):
        return str(tok)

    def type(self, meta, name, bounds, shape):
        return ast.Type(str(name), bounds or (), shape or (), span=_span(meta))

    def bounds(self, meta, *items):
        return tuple(items)

    def bound(self, meta, name, expr):
        return (str(name), expr)

    def shape(self, meta, *dims):
        return tuple(dims)

    def number(self, meta, tok):
        text = str(tok)
        value = int(text) if text.isdigit() else float(text)
        return ast.Num(value, span=_span(meta))

    def name(self, meta, tok):
        return ast.Name(str(tok), span=_span(meta))

    def array(self, meta, *items):
        return ast.Array(tuple(i for i in items if i is not None), span=_span(meta))

    def call(self, meta, name, *args):
        args = [a for a in args if a is not None]
        pos = tuple(a for a in args if not isinstance(a, tuple))
        kw = tuple(a for a in args if isinstance(a, tuple))
        return ast.Call(str(name), pos, kw, span=_span(meta))

    def kwarg(self, meta, name, expr):
        return (Keyword.of(name), expr)

    def index(self, meta, target, *indices):
        return ast.Index(target, tuple(indices), span=_span(meta))

    def slice(self, meta, start, stop):
        return ast.Slice(start, stop, span=_span(meta))

    def neg(self, meta, operand):
        return ast.Unary("-", operand, span=_span(meta))

    def pow(self, meta, left, _op, right):
        return ast.Binary("^", left, right, span=_span(meta))

    add, sub, mul, div, matmul = _binary("+"), _binary("-"), _binary("*"), _binary("/"), _binary("@")
    eq, ne, lt, le, gt, ge = _binary("=="), _binary("!="), _binary("<"), _binary("<="), _binary(">"), _binary(">=")


def parse(text: str, filename: str = "<model>") -> ast.Program:
    """Parse model text into a syntax tree; raise `PPLSyntaxError` with a position on bad input."""
    source = Source(text, filename)
    try:
        _check_length(text)
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
        _check_tree(tree)
    except PPLSyntaxError as err:
        raise err.at(source) from None
    except lark.exceptions.UnexpectedInput as err:
        raise (_bracket_error(text, err) or _syntax_error(err, text)).at(source) from None
    return _ToAst().transform(tree)


def _check_length(text):
    if len(text) > MAX_SOURCE_CHARS:
        line = text.count("\n", 0, MAX_SOURCE_CHARS) + 1
        col = MAX_SOURCE_CHARS - text.rfind("\n", 0, MAX_SOURCE_CHARS)
        raise PPLSyntaxError(f"the program is longer than {MAX_SOURCE_CHARS:,} characters",
                             Span(line, col, line, col + 1),
                             hint="a model file describes a model; put data in a data file")


def _check_tree(tree):
    """At most MAX_STATEMENTS statements, and no expression nested more than MAX_DEPTH deep
    (every later pass walks expressions recursively). Walks the tree without recursion."""
    if len(tree.children) > MAX_STATEMENTS:
        raise PPLSyntaxError(f"the program has more than {MAX_STATEMENTS:,} statements",
                             _span(tree.children[MAX_STATEMENTS].meta), hint="split the model, or use arrays")
    stack = [(stmt, 0, stmt) for stmt in tree.children]
    while stack:
        node, depth, stmt = stack.pop()
        if depth > MAX_DEPTH:
            raise PPLSyntaxError(f"this statement is nested more than {MAX_DEPTH} levels deep", _span(stmt.meta),
                                 hint="name the inner parts in statements of their own; "
                                      "write a long sum as sum([...])")
        stack.extend((child, depth + 1, stmt) for child in node.children if isinstance(child, lark.Tree))


def _bracket_error(text, err) -> PPLSyntaxError | None:
    """An unmatched bracket, when that is what the parser stumbled on. A bracket left open on an
    earlier line swallows the line breaks after it, so the parser only fails at the start of a
    later statement: report the bracket, not that statement."""
    tok = getattr(err, "token", None)
    if tok is None or tok.type in ("$END", "_NL"):
        return None
    opened = _open_brackets(text, tok.line, tok.column)
    if tok.type in _CLOSE and not opened:
        return PPLSyntaxError(f"'{tok.value}' has no matching opening bracket", _token_span(tok),
                              hint="remove it, or add the bracket it closes")
    if not opened or opened[-1][0] == tok.line or text.splitlines()[tok.line - 1][:tok.column - 1].strip():
        return None
    line, col, char = opened[-1]
    return PPLSyntaxError(f"'{char}' is never closed", Span(line, col, line, col + 1),
                          hint=f"add the matching '{_PAIRS[char]}'; until it is closed, line {tok.line} is read "
                               "as a continuation of this statement")


def _open_brackets(text, line, col):
    """The brackets still open just before (line, col): [(line, col, char), ...], innermost last."""
    opened = []
    for n, row in enumerate(text.splitlines()[:line], start=1):
        for c, char in enumerate(row[:col - 1] if n == line else row, start=1):
            if char == "#":
                break
            if char in "([":
                opened.append((n, c, char))
            elif char in ")]" and opened:
                opened.pop()
    return opened


def _syntax_error(err, text) -> PPLSyntaxError:
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        return _character_error(err, text)
    tok = err.token
    if tok.type == "$END":
        return PPLSyntaxError("unexpected end of input", _end_span(text), hint=_expected(_acceptable(err)))
    what = "end of line" if tok.type == "_NL" else f"'{tok.value}'"
    span = _token_span(tok)
    if tok.type == "_NL":
        span = Span(tok.line, tok.column, tok.line, tok.column + 1)
    if tok.type == "DOT":
        return PPLSyntaxError("unexpected '.': a model has no attribute access", span,
                              hint="names are letters, digits and _; functions are called by name alone, as exp(x); "
                                   "a '.' follows only a distribution, as in Normal(0, 1).log_prob(x)")
    if _previous(err) == "TILDE":
        return PPLSyntaxError(f"unexpected {what} after '~'", span,
                              hint="expected a distribution, such as Normal(0, 1)")
    return PPLSyntaxError(f"unexpected {what}", span, hint=_expected(_acceptable(err)))


_QUOTES = {'"': "quotation mark", "'": "apostrophe", "`": "backtick"}


def _end_span(text):
    """Just after the last character of the text that is not a space or a line break."""
    rows = text.rstrip(" \t\f\r\n").split("\n")
    return Span(len(rows), len(rows[-1]) + 1, len(rows), len(rows[-1]) + 2)


def _character_error(err, text):
    char, span = err.char, Span(err.line, err.column, err.line, err.column + 1)
    if text.startswith("__", err.pos_in_stream):
        return PPLSyntaxError("a name cannot begin with '__'", span, hint="such names are reserved; rename it")
    if char.isalnum() and not char.isascii():
        return PPLSyntaxError(f"unexpected character '{char}' ({_unicode_name(char)})", span,
                              hint="names use only the ASCII letters A-Z and a-z, the digits 0-9 and _; "
                                   "retype it on an ASCII keyboard")
    if char == "." and text[err.pos_in_stream - 1:err.pos_in_stream].isidentifier():
        return PPLSyntaxError("unexpected '.': a model has no attribute access", span,
                              hint="names are letters, digits and _; functions are called by name alone, as exp(x)")
    if char in _QUOTES:
        return PPLSyntaxError(f"unexpected {_QUOTES[char]}: a model has no strings", span,
                              hint="a value is a number, a name, an array [...] or an expression of these")
    if not char.isprintable():   # a control, format or direction character: name it, never show it
        return PPLSyntaxError(f"unexpected character {_unicode_name(char)}", span,
                              hint="remove it: it is invisible, or changes how the line is displayed")
    return PPLSyntaxError(f"unexpected character '{char}'", span,
                          hint="remove it; the language uses letters, digits, _ and + - * / ^ @ ( ) [ ] , : = ~ < >")


def _unicode_name(char):
    return f"U+{ord(char):04X} {unicodedata.name(char, '(a control character)')}"


def _previous(err):
    """The type of the last token the parser accepted before the error, if known."""
    try:
        stack = err.interactive_parser.parser_state.value_stack
    except AttributeError:
        return None
    return getattr(stack[-1], "type", None) if stack else None


def _acceptable(err):
    try:
        return err.interactive_parser.accepts()
    except Exception:  # the parser state is only a better guess; fall back to Lark's own
        return err.expected


def _expected(names) -> str | None:
    names = set(names or ())
    words = []
    if {"NAME", "NUMBER"} <= names:
        words.append("an expression")
        names -= _EXPRESSION_STARTS | {"PLUS"}
    if names & {"STAR", "SLASH", "AT", "POW"}:
        words.append("an operator")
        names -= _OPERATORS
    if "_NL" in names:
        names.discard("_NL")
        words.append("the end of the line")
    words += sorted(_WORDS.get(n, n.lower()) for n in names if not n.startswith("__"))
    if not words:
        return None
    return "expected " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0])
