"""The distribution's name is one of its own on the package index (`ppl` there is an unrelated
progress-bar library), every install hint uses it, and the license pyproject.toml claims is there."""
import re
from importlib.metadata import PackageNotFoundError, metadata

import pytest

import ppl
from conftest import PKG_PARENT, ROOT

NAME = "ppl-lang"


def sources():
    """Every text a user reads an install hint in: the package's modules, and the README."""
    files = sorted((PKG_PARENT / "ppl").rglob("*.py"))
    return {str(f): f.read_text() for f in files + [ROOT / "README.md"] if f.is_file()}


def test_the_distribution_is_not_named_ppl():
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not running from the source tree")
    assert re.search(r'^name = "([^"]+)"', pyproject.read_text(), re.M).group(1) == NAME
    try:
        assert metadata(NAME)["Name"] == NAME          # what is installed is this project
    except PackageNotFoundError:
        pytest.skip(f"{NAME} is not installed (run from a source tree)")


def test_every_install_hint_names_the_distribution():
    wrong, right = [], 0
    for path, text in sources().items():
        for match in re.finditer(r"pip install\s+['\"]?(ppl[\w.-]*)(\[|['\"\s]|$)", text, re.M):
            if match.group(1) != NAME:
                wrong.append(f"{path}: {match.group(0)}")
            else:
                right += 1
    assert not wrong, "install hints that would install another project:\n" + "\n".join(wrong)
    assert right >= 3


def test_the_missing_extras_say_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    from ppl.io import plots
    with pytest.raises(ppl.PPLError, match=r"pip install 'ppl-lang\[plot\]'"):
        plots.check("fit.png")


def test_the_license_pyproject_claims_is_there():
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not running from the source tree")
    assert re.search(r'^license = "MIT"$', pyproject.read_text(), re.M)
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
