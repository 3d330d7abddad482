"""The project builds into a wheel that works on its own: the package and its grammar are inside it.

The wheel is unpacked into a temporary directory and used from a subprocess whose working directory
and PYTHONPATH are that directory only, so nothing can come from the source tree.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pip_and_hatchling():
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    if pip.returncode != 0:
        return "pip is not available to this interpreter"
    try:
        import hatchling  # noqa: F401
    except ImportError:
        return "hatchling is not installed (it is in the 'test' extra: pip install '.[test]')"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip(f"no pyproject.toml at {ROOT}: the tests are not running from the source tree")
    missing = _pip_and_hatchling()
    if missing:
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                        "--no-cache-dir", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"building the wheel failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    wheels = list(out.glob("ppl_lang-*.whl"))        # the distribution is ppl-lang (`ppl` on PyPI is another)
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ppl/__init__.py" in names and "ppl/cli.py" in names
    assert "ppl/front/ppl.lark" in names                                # the grammar ships inside
    assert "ppl/front/parser_tables.json" in names                      # and its parser's tables
    assert {f"ppl/{layer}/__init__.py" for layer in ("front", "middle", "back", "kernels", "infer", "io")} <= names
    assert not any(n.startswith(("tests/", "models/", "grammar/", "tools/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "ppl = ppl.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "ppl = ppl.lexer:PPLLexer" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)      # the license it claims


SCRIPT = textwrap.dedent("""
    import json, sys
    import ppl, ppl.front.parse
    model = ppl.compile("param mu: real = 0\\ny ~ Normal(mu, 1)\\nminimize (y - 2)^2")
    fit = model.fit(steps=300, seed=0)
    print(json.dumps({"file": ppl.__file__, "grammar": str(ppl.front.tables.grammar_path()), "tables": ppl.front.tables.fresh(),
                      "mu": float(fit.params["mu"]), "mode": fit.mode,
                      "path": sys.path}))
""")


def test_unpacked_wheel_imports_and_fits(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=site, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert Path(info["file"]).resolve().is_relative_to(site.resolve()), info["file"]
    grammar = Path(info["grammar"]).resolve()
    assert grammar.is_relative_to(site.resolve()), grammar
    assert grammar.is_file()
    assert info["tables"] is True                                       # the parser loads, not rebuilds
    assert not any(Path(p).resolve() == ROOT for p in info["path"] if p)
    assert info["mode"] == "optimize"
    assert abs(info["mu"] - 2) < 0.1                                    # E[(y - 2)^2] is minimized at mu = 2


def test_unpacked_wheel_cli(wheel, tmp_path):
    """`python -m ppl.cli` from the unpacked wheel fits a model file written next to it."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    model = tmp_path / "m.ppl"
    model.write_text("param mu: real = 0\ny ~ Normal(mu, 1)\nminimize (y - 2)^2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(model), "--steps", "300", "--quiet",
                        "--out", str(tmp_path / "out.json")], cwd=site, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert abs(json.loads((tmp_path / "out.json").read_text())["params"]["mu"] - 2) < 0.1


def test_parser_tables_are_those_of_the_grammar():
    """The shipped tables were made from grammar/ppl.lark (else: python -c "from ppl.front.tables import
    write; write()"), and the parser loaded from them parses every model and error case exactly as
    one built from the grammar."""
    import lark

    from ppl import PPLError
    from ppl.front import parse, tables
    stored = tables._read(tables.TABLES)
    assert stored["grammar"] == tables._digest(tables.grammar_path().read_text()), \
        'the grammar changed: python -c "from ppl.front.tables import write; write()"'
    if stored["lark"] != lark.__version__:
        pytest.skip(f"tables made by Lark {stored['lark']}, this is {lark.__version__}: the parser is built")
    loaded, built = tables.parser(parse._Brackets()), tables.build(tables.grammar_path().read_text(), parse._Brackets())
    assert isinstance(loaded, lark.Lark)
    sources = sorted(ROOT.glob("models/*.ppl")) + sorted(ROOT.glob("tests/errors/*.ppl")) + sorted(ROOT.glob("bench/models/*.ppl"))
    assert len(sources) > 50
    for path in sources:
        outcome = []
        for p in (loaded, built):
            try:
                outcome.append(p.parse(path.read_text() + "\n"))
            except PPLError as err:
                outcome.append(str(err))
            except lark.exceptions.UnexpectedInput as err:      # expected tokens: a set, unordered
                outcome.append((type(err).__name__, err.line, err.column, sorted(getattr(err, "expected", ()))))
        assert outcome[0] == outcome[1], path.name
