"""Nothing executes: a model file can only describe a model.

Model text never reaches Python: there is no eval or exec of it, no attribute access, no
imports, and a call can only name a function of the fixed table (or a distribution). Each attempt
below is rejected as a syntax error or a name error, with a position.
"""
import ast as pyast
import functools
import inspect
from pathlib import Path

import lark
import pytest

import ppl
from ppl import distributions
from ppl.front import ast, check, functions, parse
from ppl.back import expr

PACKAGE = Path(ppl.__file__).resolve().parent

ATTEMPTS = {
    "import call": 'x = __import__("os")',
    "import call, no string": "x = __import__(os)",
    "dunder name": "x = __class__",
    "dunder definition": "__class__ = 1",
    "dunder latent": "__builtins__ ~ Normal(0, 1)",
    "dunder argument name": "x ~ Normal(__loc__=0, scale=1)",
    "attribute": "x = os.system",
    "attribute call": 'x = os.system("ls")',
    "attribute on a number": "x = (1).__class__",
    "method on a name": "mu ~ Normal(0, 1)\nx = mu.real",
    "string": 'x = "rm -rf /"',
    "single-quoted string": "x = 'a'",
    "backticks": "x = `ls`",
    "eval": 'x = eval("1")',
    "exec": "x = exec(1)",
    "open": "x = open(1)",
    "getattr": "x = getattr(x, 1)",
    "lambda": "x = lambda: 1",
    "import statement": "import os",
    "from import": "from os import system",
    "semicolon": "x = 1; y = 2",
    "subscript of a call to an unknown function": "x = globals()[0]",
    "keyword of python": "x = None",
    "comprehension": "x = [i for i in 1]",
    "dict literal": "x = {1: 2}",
    "format string": 'x = f"{1}"',
    "cyrillic o in a distribution": "mu ~ N\u043ermal(0, 1)",
    "cyrillic a in a name": "\u0430 = 1",
    "greek omicron": "mu ~ N\u03bfrmal(0, 1)",
    "fullwidth digit": "x = \uff11",
    "arabic-indic digit": "x = \u0663",
    "fullwidth letters": "x = \uff45\uff58\uff50(1)",
    "non-breaking space": "x =\u00a01",
    "zero-width space": "x = 1\u200b",
    "right-to-left override in a comment": "x = 1 # \u202e } \u2066",
    "right-to-left override": "x = \u202e1",
    "null byte": "x = 1\x00",
    "long identifier": "x = " + "a" * 10**6,
    "long identifier, defined": "a" * 10**6 + " = 1",
    "long number": "x = " + "9" * 10**6,
}


@pytest.mark.parametrize("text", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_attempt_is_rejected_with_a_position(text):
    with pytest.raises((ppl.PPLSyntaxError, ppl.SemanticError)) as info:
        ppl.compile(text)
    err = info.value
    assert err.span is not None and err.span.line >= 1
    message = str(err)
    assert len(message) < 2000    # a million-character line is not echoed back


def test_a_comment_may_hold_anything_but_direction_controls():
    """Comments are skipped whole, whatever they hold, except the characters that reorder how a
    line is displayed (as in the "Trojan Source" attack): those could hide code in a comment."""
    model = ppl.compile('# __import__("os").system("ls") `x` \u0430\nparam a: real = 0\nminimize a^2')
    assert model.mode == "optimize"
    with pytest.raises(ppl.PPLSyntaxError, match="RIGHT-TO-LEFT OVERRIDE"):
        ppl.compile("param a: real = 0 # \u202e\nminimize a^2")


def test_lookalike_letter_is_named():
    with pytest.raises(ppl.PPLSyntaxError) as info:
        ppl.compile("mu ~ N\u043ermal(0, 1)")
    assert info.value.span.col == 7
    assert "CYRILLIC SMALL LETTER O" in str(info.value)


def test_dunder_name_is_reserved_by_the_grammar():
    with pytest.raises(ppl.PPLSyntaxError, match="cannot begin with '__'"):
        ppl.compile('x = __import__("os")')


def test_function_table_is_a_plain_dict_of_known_functions():
    """Calls resolve through one dict, fixed when the package loads, holding only numpy/autograd
    functions, the table's own helpers and ppl's kernels: nothing a name in a model can widen or reach past."""
    assert type(functions.FUNCTIONS) is dict and type(functions.CONSTANTS) is dict
    assert type(distributions.DISTRIBUTIONS) is dict
    for name, fn in functions.FUNCTIONS.items():
        assert name.isidentifier() and not name.startswith("_")
        module = getattr(fn.impl, "__module__", "") or ""
        assert module.startswith(("autograd", "numpy", "ppl.front.functions", "ppl.kernels.special")), (name, module)
    for name, cls in distributions.DISTRIBUTIONS.items():
        assert issubclass(cls, distributions.Distribution) and cls.__name__ == name


def test_unknown_function_is_a_name_error():
    for name in ["eval", "exec", "open", "getattr", "print", "compile", "globals", "vars", "breakpoint", "input"]:
        with pytest.raises(ppl.SemanticError, match=f"unknown function '{name}'"):
            ppl.compile(f"x = {name}(1)")


def test_transformer_builds_only_syntax_tree_nodes():
    """Every method of the parse Transformer builds an `ast` node (or a tuple/str of them): no
    call that could reach anything else. Checked on the source of each method."""
    tree_nodes = {n for n, v in vars(ast).items() if isinstance(v, type) and issubclass(v, ast.Node)}
    allowed = tree_nodes | {"tuple", "str", "int", "float", "_span", "Keyword", "isinstance", "isdigit", "of"}
    for name, method in vars(parse._ToAst).items():
        if name.startswith("__") or not callable(method):
            continue
        source = inspect.getsource(method)
        tree = pyast.parse(source.strip())
        for node in pyast.walk(tree):
            if isinstance(node, pyast.Call):
                func = node.func
                called = func.attr if isinstance(func, pyast.Attribute) else getattr(func, "id", "?")
                assert called in allowed, f"_ToAst.{name} calls {called}"


def test_parser_is_lark_lalr_without_python_callbacks():
    parser = parse._parser()
    assert isinstance(parser, lark.Lark) and parser.options.parser == "lalr"
    assert parser.options.transformer is None       # the tree is built, then transformed by _ToAst


FORBIDDEN = {"pickle", "marshal", "subprocess", "ctypes", "code", "codeop", "runpy", "shelve"}
FORBIDDEN_METHODS = {"import_module", "system", "popen", "spawn", "load_module", "exec_module"}


# tools that run commands on purpose (the README generator); model text never reaches them
TOOLS = {"reference.py"}


def test_package_never_evaluates_text():
    """No eval/exec/compile/__import__ anywhere in the package, getattr only with names the
    package itself chooses (never a model's: those only index the fixed tables), and no module
    that could run a command or load code, outside the tools."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = pyast.parse(path.read_text(), filename=str(path))
        for node in pyast.walk(tree):
            if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Name):
                name = node.func.id
                assert name not in {"eval", "exec", "__import__", "compile"} or path.name == "model.py" and \
                    name == "compile", f"{path.name}:{node.lineno} calls {name}"
                if name in {"getattr", "setattr"}:
                    assert _constant_name(node.args[1]), f"{path.name}:{node.lineno}: {name} with a computed name"
            if path.name in TOOLS:
                continue
            if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Attribute):
                assert node.func.attr not in FORBIDDEN_METHODS, f"{path.name}:{node.lineno} calls {node.func.attr}"
            if isinstance(node, pyast.Import):
                modules = {a.name for a in node.names}
            elif isinstance(node, pyast.ImportFrom):
                modules = {node.module or ""}
            else:
                continue
            assert not FORBIDDEN & modules, f"{path.name}:{node.lineno} imports {modules}"


def _constant_name(arg):
    """A getattr name that does not come from model text: a literal, or a name the package fixes."""
    return isinstance(arg, pyast.Constant) or isinstance(arg, (pyast.Name, pyast.JoinedStr, pyast.Attribute))


def test_expression_compiler_dispatches_on_node_classes_only():
    """`compile_expr` looks up the node's class in a fixed table; names in a model only index
    the scope and the function table, both plain dicts."""
    assert set(expr._COMPILERS) <= {ast.Num, ast.Name, ast.Binary, ast.Unary, ast.Call, ast.Array, ast.Index,
                                    ast.Method, ast.Update, expr.Size, expr.Cell}
    assert check.FUNCTIONS is functions.FUNCTIONS


# ------------------------------------------------------------------ outputs never destroy anything

def _eight_fit(capsys, *options):
    from conftest import MODELS, run_main
    return run_main(capsys, "fit", MODELS / "eight_schools.ppl", "--steps", 5, "--quiet", *options)


def test_an_output_onto_a_device_writes_through_it(capsys):
    import os
    import stat
    status, out, err = _eight_fit(capsys, "--draws", "/dev/null", "--out", "/dev/null")
    assert status == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)              # still the device, not a file


def test_an_output_onto_a_fifo_writes_into_it(capsys, tmp_path):
    import os
    import stat
    import threading
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    status, _, err = _eight_fit(capsys, "--out", fifo)
    reader.join(timeout=60)
    assert status == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and got and got[0].startswith("{")


def test_an_output_through_a_symbolic_link_replaces_its_target(capsys, tmp_path):
    import json
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    status, _, err = _eight_fit(capsys, "--out", link)
    assert status == 0, err
    assert link.is_symlink() and json.loads(target.read_text())["mode"] == "vi"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere" / "x.json")
    status, _, err = _eight_fit(capsys, "--out", dangling)
    assert status == 1 and "is a symbolic link to" in err and "Traceback" not in err
    assert not (tmp_path / "nowhere").exists()


# ------------------------------------------------------------------ checkpoints are untrusted input

def _checkpoint(tmp_path, optimizer):
    """A fit of eight schools stopped after a few steps, its checkpoint, and a resume of it."""
    from conftest import MODELS
    model = ppl.load(MODELS / "eight_schools.ppl")
    calls = iter(range(10 ** 6))
    path = tmp_path / "c.npz"
    model.fit(optimizer=optimizer, steps=200, checkpoint=path, stop=lambda: next(calls) == 30)
    return path, lambda p: model.fit(optimizer=optimizer, steps=200, resume=p)


def _rewrite(path, out, meta=None, arrays=None):
    """The checkpoint at `path` written to `out` with its JSON changed by `meta(dict)` and its
    arrays by `arrays(dict)`."""
    import json
    import numpy as np
    with np.load(path) as archive:
        stored = {k: archive[k] for k in archive.files}
    document = json.loads(stored.pop("__meta__").tobytes())
    if meta:
        meta(document)
    if arrays:
        arrays(stored)
    np.savez(out, __meta__=np.frombuffer(json.dumps(document).encode(), dtype=np.uint8), **stored)
    return out


TAMPERED = {
    "a negative step": (lambda m: m["loop"].update(t=-1000), None, "'loop.t' is -1000, not a count"),
    "a step past the end": (lambda m: m["loop"].update(t=10 ** 6), None, "counters do not agree"),
    "a trace of another length": (lambda m: m["loop"].update(trace=[1.0]), None, "counters do not agree"),
    "a text for a number": (lambda m: m["adam"].update(t="3"), None, "'adam.t' is '3', not a count"),
    "a field the fit lacks": (lambda m: m["adam"].update(extra=1), None, "a field 'adam.extra'"),
    "a field missing": (lambda m: m["adam"].pop("t"), None, "no value for 'adam.t'"),
    "a part missing": (lambda m: m.pop("tail"), None, "no state for 'tail'"),
    "a generator state of nothing": (lambda m: m.update(rng={"state": 3}), None, "random generator's state"),
    "streams of another fit": (lambda m: m["streams"].update(states=[1, 2, 3]), None,
                               "'streams.states' is not a random generator's state"),
    "parameters of another shape": (None, lambda a: a.update({"loop.theta": a["loop.theta"][:3]}),
                                    "'loop.theta' has shape (3,)"),
    "NaN parameters": (None, lambda a: a["loop.theta"].fill(float("nan")), "'loop.theta' holds NaN"),
    "an array no part has": (None, lambda a: a.update({"loop.extra": a["loop.theta"]}), "an array 'loop.extra'"),
    "a moment of integers": (None, lambda a: a.update({"adam.m": a["adam.m"].astype(int)}),
                             "'adam.m' is not an array of float64 numbers"),
    "an infinite moment": (None, lambda a: a["adam.v"].fill(float("inf")), "'adam.v' holds NaN or an infinity"),
    "a window mean of another length": (None, lambda a: a.update({"convergence.means.0": a["loop.theta"][1:]}),
                                        "'convergence.means' has shape (19,), not (20,)"),
    "a setting of another fit": (lambda m: m["adam"].update(b1=1e308), None, "'adam.b1' is 1e+308, but this fit's is 0.9"),
    "a sum before its first step": (lambda m: m["tail"].update(sum={"a": 1}), None, "counters do not agree"),
    "a window of text": (lambda m: m["convergence"]["changes"].update(deque=["a"]), None,
                         "'convergence.changes' holds something that is not a number"),
    "a window's noise of nulls": (lambda m: m["convergence"].update(noise=[None] * len(m["convergence"]["noise"])),
                                  None, "'convergence.noise' holds something that is not a number"),
    "a history of truth values": (lambda m: m["monitor"].update(history={k: True for k in m["monitor"]["history"]}),
                                  None, "is bool, not list"),
    "a generator of another kind": (lambda m: m.update(rng=__import__("numpy").random.PCG64DXSM(0).state), None,
                                    "'rng' is not a random generator's state (state must be for a PCG64 RNG)"),
    "windows that do not line up": (lambda m: m["convergence"].update(smoothed=m["convergence"]["smoothed"] + [1.0]),
                                    None, "'convergence' holds"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_adam_checkpoint_is_refused(tmp_path, case):
    path, resume = _checkpoint(tmp_path, "adam")
    meta, arrays, message = TAMPERED[case]
    with pytest.raises(ppl.PPLError, match="is not one this fit wrote") as err:
        resume(_rewrite(path, tmp_path / "t.npz", meta, arrays))
    assert message in str(err.value)


TAMPERED_LBFGS = {
    "draws": (lambda m: m["stages"].update(draws=[32, 10 ** 9]), None, "counters do not agree"),
    "starts": (lambda m: m["stages"].update(starts=10 ** 6), None, "'stages.starts' is 1000000, but this fit's is"),
    "memory": (lambda m: m["lbfgs"].update(memory=0), None, "'lbfgs.memory' is 0, but this fit's is 10"),
    "a curvature pair L-BFGS never keeps": (None, lambda a: a.update({"lbfgs.y.0": -a["lbfgs.s.0"]}),
                                            "counters do not agree"),
    "a negative diagonal": (None, lambda a: a["stages.diagonal"].fill(-1.0), "counters do not agree"),
    "a point moved": (None, lambda a: a.update({"lbfgs.x": a["lbfgs.x"] + 1}),
                      "its point's objective is not the one it holds"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_LBFGS))
def test_a_tampered_lbfgs_checkpoint_is_refused(tmp_path, case):
    path, resume = _checkpoint(tmp_path, "lbfgs")
    meta, arrays, message = TAMPERED_LBFGS[case]
    with pytest.raises(ppl.PPLError, match="is not one this fit wrote") as err:
        resume(_rewrite(path, tmp_path / "t.npz", meta, arrays))
    assert message in str(err.value)


def test_a_checkpoint_that_would_expand_far_is_refused_before_it_is(tmp_path):
    """A small archive whose array declares 800 MB: refused from the sizes the archive declares,
    before anything is decompressed (and the fingerprint is checked before the arrays are read)."""
    import numpy as np
    path, resume = _checkpoint(tmp_path, "adam")
    bomb = _rewrite(path, tmp_path / "bomb.npz", arrays=lambda a: a.update({"loop.theta": np.zeros(10 ** 8)}))
    import zipfile
    with zipfile.ZipFile(tmp_path / "small.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with zipfile.ZipFile(bomb) as original:
            for info in original.infolist():
                z.writestr(info.filename, original.read(info.filename))
    assert (tmp_path / "small.npz").stat().st_size < 2_000_000
    with pytest.raises(ppl.PPLError, match="would expand to 800,000,128 bytes"):
        resume(tmp_path / "small.npz")


def test_a_checkpoint_that_is_not_an_archive_is_refused(tmp_path):
    path, resume = _checkpoint(tmp_path, "adam")
    for text in (b"not a zip", b"PK\x03\x04" + bytes(100)):
        (tmp_path / "bad.npz").write_bytes(text)
        with pytest.raises(ppl.PPLError, match="cannot read checkpoint"):
            resume(tmp_path / "bad.npz")


@pytest.mark.parametrize("options, message", [
    (["--out", "{model}"], "--out {model} is the model: the fit would overwrite it"),
    (["--trace", "{data}"], "--trace {data} is the data file {data}"),
    (["--draws", "{data}", "--data", "{data}"], "--draws {data} is the data file {data}"),
    (["--out", "{dir}/r.json", "--draws", "{dir}/r.json"], "--draws {dir}/r.json is the file --out writes too"),
    (["--checkpoint", "{model}"], "--checkpoint {model} is the model"),
    (["--checkpoint", "{dir}/missing/c.npz"], "the folder {dir}/missing does not exist"),
])
def test_outputs_never_overwrite_inputs_or_each_other(capsys, tmp_path, options, message):
    import shutil
    from conftest import MODELS, run_main
    model, data = tmp_path / "m.ppl", tmp_path / "m.data.json"
    shutil.copy(MODELS / "eight_schools.ppl", model)
    shutil.copy(MODELS / "eight_schools.data.json", data)
    before = model.read_text(), data.read_text()
    values = {"model": model, "data": data, "dir": tmp_path}
    status, out, err = run_main(capsys, "fit", model, "--steps", 5, "--quiet", *[o.format(**values) for o in options])
    assert status == 1 and out == "" and message.format(**values) in err
    assert (model.read_text(), data.read_text()) == before            # refused before the fit: nothing written
    assert not (tmp_path / "r.json").exists()


def test_two_fits_writing_one_output_at_once_the_second_says_so(capsys, tmp_path):
    from conftest import MODELS, run_main
    from ppl.io.locks import claimed
    out = tmp_path / "r.json"
    with claimed({"--out": out}):                 # another fit, writing r.json now
        status, _, err = run_main(capsys, "fit", MODELS / "eight_schools.ppl", "--steps", 5, "--quiet", "--out", out)
    assert status == 1 and "--out" in err and "is being written by another fit now (process" in err
    assert not out.exists()
    status, _, err = run_main(capsys, "fit", MODELS / "eight_schools.ppl", "--steps", 5, "--quiet", "--out", out)
    assert status == 0, err                       # once it is done, the file is free again
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]          # no lock file left behind


# ------------------------------------------------------------------ results are untrusted input

MALFORMED = {
    "not an object": [1, 2],
    "a mode of nothing": {"mode": "magic"},
    "a negative seed": {"seed": -1},
    "a seed that is text": {"seed": "0"},
    "steps that are true": {"steps": True},
    "params that are a list": {"params": [1]},
    "a guide value that is text": {"guide": {"mu.loc": "1"}},
    "a guide value nested too deep": {"guide": {"mu.loc": functools.reduce(lambda x, _: [x], range(40), 1)}},
    "a trace of text": {"trace": ["a"]},
    "options of another compiler": {"options": {"estimator": "magic"}},
    "an option that is not one": {"options": {"eval": "x"}},
    "convergence that is a list": {"convergence": [1]},
    "a model that is not a model file": {"model": "/etc/passwd"},
    "data that are not data files": {"data": ["/etc/passwd"]},
    "a guide value of another shape": {"guide": {"mu.loc": [1, 2, 3]}},
    "a guide value that is ragged": {"guide": {"mu.loc": [[1, 2], [3]]}},
    "convergence without its fields": {"convergence": {"method": "adam", "converged": False}},
    "convergence of the wrong kinds": {"convergence": {"method": "lbfgs", "converged": False, "draws": []}},
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    import json
    from conftest import MODELS
    folder = tmp_path_factory.mktemp("result")
    result = ppl.load(MODELS / "eight_schools.ppl").fit(steps=5).to_json()
    (folder / "good.json").write_text(json.dumps(result))
    return folder, result


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("command", ["plot", "sample", "gradcheck"])
def test_a_malformed_result_is_refused_without_a_traceback(capsys, fitted, case, command):
    import json
    from conftest import MODELS, run_main
    folder, good = fitted
    change = MALFORMED[case]
    document = change if not isinstance(change, dict) else {**good, **change}
    path = folder / f"{case.replace(' ', '_')}.json"
    path.write_text(json.dumps(document))
    model = str(MODELS / "eight_schools.ppl")
    argv = {"plot": ["plot", path, "--out", folder / "p.png"], "sample": ["sample", model, "--fit", path, "-n", 5],
            "gradcheck": ["gradcheck", model, "--params", path, "--draws", 2]}[command]
    status, out, err = run_main(capsys, *argv)
    assert status == 1, (out, err)
    assert "Traceback" not in err and "root:" not in err          # nothing of /etc/passwd is quoted
    if command == "gradcheck" and case in ("a model that is not a model file", "data that are not data files"):
        return                                                    # gradcheck reads only the values
    assert "result" in err


@pytest.mark.parametrize("value", [-1.0, 0.0, float("inf")], ids=["negative", "zero", "infinite"])
@pytest.mark.parametrize("command", ["sample", "gradcheck"])
def test_a_result_value_outside_its_support_is_refused(capsys, fitted, tmp_path, value, command):
    import json
    from conftest import MODELS, run_main
    _, good = fitted
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**good, "guide": {**good["guide"], "tau.scale": value}}))
    model = MODELS / "eight_schools.ppl"
    argv = {"sample": ["sample", model, "--fit", path, "-n", 5], "gradcheck": ["gradcheck", model, "--params", path,
                                                                                "--draws", 2]}[command]
    status, out, err = run_main(capsys, *argv)
    assert status == 1 and "'tau.scale' is outside its support (positive), or on its edge" in err, err
    assert "Traceback" not in err and "Warning" not in err


def test_a_result_finds_its_files_beside_it_not_elsewhere(capsys, fitted, tmp_path):
    import json
    import shutil
    from conftest import MODELS, run_main
    _, good = fitted
    shutil.copy(MODELS / "eight_schools.ppl", tmp_path / "m.ppl")
    shutil.copy(MODELS / "eight_schools.data.json", tmp_path / "d.json")
    (tmp_path / "r.json").write_text(json.dumps({**good, "model": "m.ppl", "data": "d.json"}))
    status, out, err = run_main(capsys, "plot", tmp_path / "r.json", "--out", tmp_path / "p.png")
    assert status == 0, err
    (tmp_path / "r.json").write_text(json.dumps({**good, "model": "missing.ppl", "data": "d.json"}))
    status, out, err = run_main(capsys, "plot", tmp_path / "r.json", "--out", tmp_path / "q.png")
    assert status == 1 and "cannot find the model file missing.ppl it names" in err
    (tmp_path / "r.json").write_text(json.dumps({**good, "model": "m.ppl", "data": "d" * 5000 + ".json"}))
    status, out, err = run_main(capsys, "plot", tmp_path / "r.json", "--out", tmp_path / "q.png")
    assert status == 1 and "cannot find the data file ddd" in err and "Traceback" not in err     # too long a name
