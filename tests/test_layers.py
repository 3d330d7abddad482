"""The package's layout is its pipeline: every module imports only from its own layer or from the
layers below it, and no module reaches for another module's private names.

    kernels < distributions < front < io < middle < back < infer < (the API: model, cli)

`io` (data files, outputs, plots, progress) sits below the compiler's passes: it knows files and
terminals, not models, and every later stage reads or writes through it.
"""
import ast
from pathlib import Path

import pytest

import ppl

PACKAGE = Path(ppl.__file__).resolve().parent
LAYERS = ["kernels", "distributions", "front", "io", "middle", "back", "infer", "api"]


def layer(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "api"
    return LAYERS.index(name if name in LAYERS else "api")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[:-1] if parts[-1] == "__init__" else parts[:-1]
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), package, ast.parse(path.read_text())


def imports(package, tree):
    """(imported module, names, line) for every import of a ppl module in `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "ppl":
                target = node.module
            else:
                continue
            names = [a.name for a in node.names]
            if node.module is None:          # from . import a, b: each name is a module
                for name in names:
                    yield f"{target}.{name}", [], node.lineno
            else:
                yield target, names, node.lineno


def test_every_module_has_a_layer():
    for module, _, _ in modules():
        assert module == "ppl" or module.split(".")[1] in LAYERS or \
            module in ("ppl.model", "ppl.cli", "ppl.__main__", "ppl.lexer"), module


def test_no_module_imports_from_a_later_layer():
    upward = [f"{module}:{line} imports {target}"
              for module, package, tree in modules() for target, _, line in imports(package, tree)
              if layer(target) > layer(module)]
    assert not upward, "\n".join(upward)


def test_no_module_imports_another_modules_private_names():
    private = [f"{module}:{line} imports {target}.{name}"
               for module, package, tree in modules() for target, names, line in imports(package, tree)
               for name in names if name.startswith("_") and name != "__future__" and target != module]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("layer_name", LAYERS[:-1])
def test_each_layer_says_what_it_holds(layer_name):
    init = PACKAGE / layer_name / "__init__.py"
    assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), layer_name


def _defined(tree) -> set:
    """Every function, method, class and attribute name a module defines itself."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _foreign(tree) -> set:
    """Names bound to modules or objects from outside ppl (os, numpy, lark, ...)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if not a.name.startswith("ppl")}
        elif isinstance(node, ast.ImportFrom) and not node.level and not (node.module or "").startswith("ppl"):
            names |= {a.asname or a.name for a in node.names}
    return names


def test_no_module_uses_another_modules_private_attributes():
    """`x._name` only where `_name` is the module's own (its class's method on another
    instance, say), or belongs to a library outside ppl."""
    found = []
    for module, _, tree in modules():
        own, foreign = _defined(tree), _foreign(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value.id if isinstance(node.value, ast.Name) else None
                if base not in ("self", "cls") and base not in foreign and node.attr not in own:
                    found.append(f"{module}:{node.lineno} uses {ast.unparse(node)}")
    assert not found, "\n".join(found)
