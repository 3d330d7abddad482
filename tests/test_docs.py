"""Every example in the package's docstrings runs and shows what it says."""
import doctest
import importlib
import pkgutil

import pytest

import ppl

MODULES = sorted(m.name for m in pkgutil.walk_packages(ppl.__path__, "ppl."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0, f"{failed} docstring example(s) of {name} failed (run pytest --doctest-modules {name})"
