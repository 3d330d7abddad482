"""Every function that one module of the package calls from another says what it takes and what it
gives back: an annotation on each parameter (but self and cls; *args and **kwargs may stay bare) and
on its return.

A function counts when another module imports it (`from .x import f`, `from ..layer.x import f`, also
through a package's re-export) or calls it through its module (`from . import x`, then `x.f(...)`);
an imported class counts with its public methods.
"""
import ast
from functools import cache
from pathlib import Path

import ppl

PACKAGE = Path(ppl.__file__).resolve().parent

# Being rewritten by someone else right now: the functions defined in these modules (and in every
# module of a package named here) get their hints with that rewrite, and then leave this set.
NOT_YET: set = set()


def source(module: str) -> Path | None:
    """The file of a module of the package (ppl.front.ast -> .../ppl/front/ast.py), or None."""
    path = PACKAGE.parent.joinpath(*module.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(source(module).read_text())


def absolute(module: str, node: ast.ImportFrom) -> str:
    """The module that `from .x import ...` (or `from ..layer.x`, `from . import`) in `module` names."""
    parts = module.split(".")
    package = parts if source(module).name == "__init__.py" else parts[:-1]
    return ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))


def definition(module: str, name: str) -> tuple[str, ast.AST] | None:
    """(module, node) of the top-level function or class that `name` in `module` is, following
    re-exports such as `from .base import Distribution`; None for a constant or anything else."""
    for node in tree(module).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return module, node
        if isinstance(node, ast.ImportFrom) and node.level:
            target = absolute(module, node)
            for alias in node.names:
                if (alias.asname or alias.name) == name and not source(f"{target}.{alias.name}"):
                    return definition(target, alias.name)
    return None


def taken() -> set[tuple[str, str]]:
    """(module, name) for every name one module of the package imports from, or calls in, another."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        as_modules = {}                                  # local name -> module, for x.f(...)
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = absolute(module, node)
                for alias in node.names:
                    if source(f"{target}.{alias.name}"):
                        as_modules[alias.asname or alias.name] = f"{target}.{alias.name}"
                    else:
                        found.add((target, alias.name))
        for node in ast.walk(tree(module)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in as_modules):
                found.add((as_modules[node.func.value.id], node.func.attr))
    return found


def functions(module: str, node: ast.AST):
    """(module.function, node, is a method) for a function, or for each public method of a class."""
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                yield f"{module}.{node.name}.{item.name}", item, True
    else:
        yield f"{module}.{node.name}", node, False


def hinted(function: ast.FunctionDef, method: bool) -> bool:
    """Every parameter annotated (a method's self or cls aside; *args and **kwargs may stay bare),
    and the return."""
    args = function.args
    named = args.posonlyargs + args.args + args.kwonlyargs
    if method:
        named = [a for a in named if a.arg not in ("self", "cls")]
    return function.returns is not None and all(a.annotation is not None for a in named)


def being_rewritten(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in NOT_YET)


def called_elsewhere() -> dict[str, tuple[ast.FunctionDef, bool]]:
    """module.function -> (its node, whether it is a method), for every function one module calls
    from another, but those defined in NOT_YET."""
    found = (definition(module, name) for module, name in taken() if source(module))
    return {name: (function, method) for where in found if where and not being_rewritten(where[0])
            for name, function, method in functions(*where)}


def test_the_check_sees_imports_re_exports_and_module_calls():
    names = called_elsewhere()
    assert "ppl.front.parse.parse" in names                   # from .front.parse import parse
    assert "ppl.distributions.base.Distribution.log_prob" in names   # from ..distributions import Distribution
    assert "ppl.infer.checkpoint.save" in names               # from . import checkpoint as saved; saved.save(...)


def test_every_function_another_module_calls_has_type_hints():
    missing = sorted(name for name, (function, method) in called_elsewhere().items() if not hinted(function, method))
    assert not missing, "these need an annotation on every parameter and on the return:\n" + "\n".join(missing)
