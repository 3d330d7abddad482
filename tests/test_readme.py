"""The README cannot drift: its language reference is what `tools/reference.py` generates from the
compiler's tables, every distribution and function is in it, every example runs (with the output
shown), and every option its usage lines name exists. When one fails after a change to the
language or to the output, run `python tools/reference.py` and review the diff."""
import argparse
import difflib
import re
import shlex
import subprocess
import sys

import pytest

from ppl import cli as ppl_cli
from ppl.distributions import DISTRIBUTIONS
from ppl.front.functions import CONSTANTS, FUNCTIONS
from conftest import ROOT, _env

if not (ROOT / "tools" / "reference.py").is_file():
    pytest.skip("no tools/reference.py: the tests are not running from the source tree", allow_module_level=True)
sys.path.insert(0, str(ROOT / "tools"))
import reference  # noqa: E402  (the README's generator, a tool beside the package)

README = ROOT / "README.md"
FIX = "run `python tools/reference.py` to regenerate it"


@pytest.fixture(scope="module")
def text():
    if not README.is_file():
        pytest.skip("no README.md: the tests are not running from the source tree")
    return README.read_text()


def section(text):
    return text.split(reference.BEGIN, 1)[1].split(reference.END, 1)[0]


def test_reference_is_current(text):
    assert reference.BEGIN in text and reference.END in text, "the README lost its reference markers"
    fresh = reference.update(text)
    if fresh != text:
        diff = "\n".join(difflib.unified_diff(section(text).splitlines(), section(fresh).splitlines(), lineterm=""))
        pytest.fail(f"the README's language reference is stale; {FIX}:\n{diff}")


def test_every_distribution_and_function_is_documented(text):
    ref = section(text)
    missing = [name for name in DISTRIBUTIONS if f"\n| {name} |" not in ref]
    missing += [name for name in FUNCTIONS if f"`{name}(" not in ref]
    missing += [name for name in CONSTANTS if f"`{name}`" not in ref]
    assert not missing, f"not in the README's reference: {', '.join(missing)}; {FIX}"


def test_every_statement_and_type_is_described():
    from ppl.front.check import DATA_TYPES, LATENT_TYPES, PARAM_TYPES
    assert set(reference.grammar_statements()) == set(reference.STATEMENTS)
    assert set(DATA_TYPES + PARAM_TYPES + LATENT_TYPES) == set(reference.TYPES)


def test_reference_lists_each_distribution_once(text):
    rows = [line.split("|")[1].strip() for line in section(text).splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in DISTRIBUTIONS]
    assert rows == list(DISTRIBUTIONS)


def quickstart(text, cwd):
    """The quickstart's `ppl ...` command (after `pip install . &&`), started in the background."""
    for kind, match in reference.blocks(text):
        for line in match.group(2).splitlines() if kind == "other" else []:
            command = line.split("&&")[-1].strip()
            if line.startswith("pip install") and command.startswith("ppl "):
                return command, subprocess.Popen([sys.executable, "-m", "ppl.cli", *shlex.split(command)[1:]],
                                                 cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 text=True)
    pytest.fail("the README has no quickstart command `pip install ... && ppl ...`")


@pytest.mark.slow
def test_every_example_runs(text, tmp_path, monkeypatch):
    """In order, in one scratch folder (with `models/` linked): every `$ ppl ...` line prints the
    output shown under it, every Python block runs, and the quickstart's `ppl` command succeeds."""
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    quick, proc = quickstart(text, tmp_path)
    counts = {"example": 0, "python": 0}
    for kind, match in reference.blocks(text):
        body = match.group(2)
        if kind == "example":
            for command, shown in reference.commands(body):
                got = reference.run(command, tmp_path)
                if got != shown:
                    diff = "\n".join(difflib.unified_diff(shown.splitlines(), got.splitlines(), "README", "now",
                                                          lineterm=""))
                    pytest.fail(f"`{command}` no longer prints what the README shows; {FIX}:\n{diff}")
                counts["example"] += 1
        elif kind == "python":
            exec(compile(body, f"{README}:{text[:match.start()].count(chr(10)) + 2}", "exec"), {"__name__": "readme"})
            counts["python"] += 1
    assert counts["example"] >= 5 and counts["python"] >= 2, counts
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"the quickstart's `{quick}` failed:\n{err}"


def subcommands():
    action = next(a for a in ppl_cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_usage_lines_name_real_options(text):
    """Every option in the README's `ppl COMMAND ...` usage lines is one the command accepts."""
    commands = subcommands()
    checked = 0
    for kind, match in reference.blocks(text):
        if kind != "other":
            continue
        name = None
        for line in match.group(2).splitlines():
            words = line.split()
            if words[:1] == ["ppl"] and len(words) > 1 and words[1] in commands:
                name = words[1]
            elif not line.startswith(" "):         # an indented line continues the command above
                name = None
            if name is None:
                continue
            known = commands[name]._option_string_actions
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", line.split("#")[0]):
                assert option in known, f"the README's usage of `ppl {name}` names {option}, which it lacks"
                checked += 1
    assert checked > 20


def test_every_subcommand_is_in_the_usage(text):
    for name in subcommands():
        assert re.search(rf"^ppl {name}\b", text, re.M), f"`ppl {name}` is missing from the README's usage"
