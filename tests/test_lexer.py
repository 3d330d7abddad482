"""The Pygments lexer (`ppl.lexer`): every bundled model highlighted without an error token, every
word of the language in its class, found by Pygments through the package's entry point, and the
module importable without Pygments."""
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from conftest import MODELS, _env
from ppl.distributions import DISTRIBUTIONS
from ppl.front.functions import FUNCTIONS
from ppl.lexer import keywords, types

pygments = pytest.importorskip("pygments")
from pygments import lex, token  # noqa: E402
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # noqa: E402

from ppl.lexer import PPLLexer  # noqa: E402

BUNDLED = sorted(MODELS.glob("*.ppl"))


def tokens(text):
    return list(lex(text, PPLLexer()))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_bundled_model_is_highlighted_whole(path):
    text = path.read_text()
    found = tokens(text)
    assert "".join(v for _, v in found) == text if text.endswith("\n") else text + "\n"
    errors = [v for t, v in found if t in token.Error]
    assert not errors, f"{path.name}: not highlighted: {errors}"
    kinds = {t for t, _ in found}
    assert token.Comment.Single in kinds and token.Operator in kinds
    used = {v for t, v in found if t is token.Name.Class}
    assert used and used <= set(DISTRIBUTIONS)


def test_each_kind_of_word_has_its_class():
    text = ("data N: int\ndata y: real<lower=0>[N]\nparam s: positive = 1\nmu ~ Normal(0, 2.5e-1)\n"
            "theta = exp(mu) * pi\nfor i in 0:N {\n  target += log(s)\n}\nz ~ Normal(mu, s) T[0, ]\nminimize mu^2\n")
    kinds = {v: t for t, v in tokens(text) if v.strip()}
    assert kinds["data"] is token.Keyword.Declaration and kinds["N"] in (token.Name.Variable, token.Name)
    assert kinds["int"] is token.Keyword.Type and kinds["positive"] is token.Keyword.Type
    assert kinds["Normal"] is token.Name.Class and kinds["exp"] is token.Name.Builtin
    assert kinds["pi"] is token.Name.Constant and kinds["2.5e-1"] is token.Number.Float
    assert kinds["for"] is token.Keyword and kinds["minimize"] is token.Keyword
    assert kinds["target"] is token.Name.Builtin.Pseudo and kinds["T"] is token.Keyword
    assert kinds["lower"] is token.Name.Attribute and kinds["~"] is token.Operator


def test_the_words_come_from_the_compiler():
    assert {"data", "param", "minimize", "maximize"} <= set(keywords())
    assert {"int", "real", "positive", "unit", "simplex"} <= set(types())
    text = "\n".join(f"x = {name}(1)" for name in FUNCTIONS) + "\n" + \
        "\n".join(f"x ~ {name}(1)" for name in DISTRIBUTIONS) + "\n"
    found = {v: t for t, v in tokens(text)}
    assert all(found[name] is token.Name.Builtin for name in FUNCTIONS)
    assert all(found[name] is token.Name.Class for name in DISTRIBUTIONS)


def test_pygments_finds_the_lexer_through_the_entry_point():
    registered = {e.name: e.value for e in entry_points(group="pygments.lexers")}
    assert registered.get("ppl") == "ppl.lexer:PPLLexer"
    assert type(get_lexer_by_name("ppl")).__name__ == "PPLLexer"
    assert type(get_lexer_for_filename("model.ppl")).__name__ == "PPLLexer"


def test_the_module_imports_without_pygments():
    script = ("import sys; sys.modules['pygments'] = None\n"
              "import ppl.lexer\n"
              "assert 'data' in ppl.lexer.keywords()\n"
              "try:\n    ppl.lexer.PPLLexer\nexcept ImportError as err:\n    print(err)\n")
    r = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "pip install 'ppl-lang[lexer]'" in r.stdout
