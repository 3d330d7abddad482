"""The LALR parser of `grammar/ppl.lark`, its tables kept precomputed in `parser_tables.json`.

Building the parser analyses the grammar (about 80 ms, most of compiling a small model); loading
the tables it produced takes about 10 ms. The file records the SHA-256 of the grammar it was made
from and the Lark version that made it; when either differs, or the file is missing or unreadable,
the parser is built from the grammar as before. The tables are plain JSON (tuples and non-string
keys tagged), never pickle: reading them cannot run code.

After changing the grammar, write the tables again (tests/test_packaging.py checks they match):

    python -c "from ppl.front.tables import write; write()"
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lark
from lark import Lark

TABLES = Path(__file__).with_name("parser_tables.json")


def grammar_path() -> Path:
    """The grammar shipped inside the package, or the repository's copy when run from source."""
    shipped = Path(__file__).with_name("ppl.lark")
    return shipped if shipped.is_file() else Path(__file__).resolve().parents[2] / "grammar" / "ppl.lark"


def parser(postlex: object) -> Lark:
    """The parser, from the tables when they belong to this grammar and this Lark."""
    text = grammar_path().read_text()
    stored = _read(TABLES)
    if fresh(stored, text):
        try:
            return Lark._load_from_dict(stored["data"], stored["memo"], postlex=postlex)
        except Exception:            # tables this Lark cannot read: build instead  # noqa: BLE001
            pass
    return build(text, postlex)


def fresh(stored=None, text=None) -> bool:
    """Whether the stored tables were made from this grammar by this version of Lark."""
    stored = _read(TABLES) if stored is None else stored
    text = grammar_path().read_text() if text is None else text
    return stored is not None and stored.get("grammar") == _digest(text) and stored.get("lark") == lark.__version__


def build(text, postlex) -> Lark:
    return Lark(text, parser="lalr", propagate_positions=True, postlex=postlex, maybe_placeholders=True)


def write(path=TABLES):
    """Build the parser from the grammar and store its tables at `path`."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef
    text = grammar_path().read_text()
    data, memo = build(text, None).memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k != "postlex"}   # given on load
    document = {"grammar": _digest(text), "lark": lark.__version__, "data": data, "memo": memo}
    Path(path).write_text(json.dumps(_encode(document), separators=(",", ":")) + "\n")


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path):
    try:
        return _decode(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def _encode(x):
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x):
            return {k: _encode(v) for k, v in x.items()}
        return {"#items": [[_encode(k), _encode(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"#tuple": [_encode(v) for v in x]}
    if isinstance(x, list):
        return [_encode(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TypeError(f"cannot store a {type(x).__name__} in the parser tables")


def _decode(x):
    if isinstance(x, dict):
        if "#items" in x:
            return {_decode(k): _decode(v) for k, v in x["#items"]}
        if "#tuple" in x:
            return tuple(_decode(v) for v in x["#tuple"])
        return {k: _decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v) for v in x]
    return x
