"""The front end never crashes: whatever text is given as a model and whatever data is bound to
it, the result is a compiled model or a `ppl.PPLError` with a position; never another exception.

The generators below take a `random.Random`, so the same code drives the property-based tests
here (hypothesis supplies the Random and shrinks what it draws) and the long run in
`bench/fuzz.py` (a seeded Random, 100,000 cases). The families of input:

- mutated programs: the bundled models and the golden error cases with tokens deleted,
  duplicated, swapped, replaced or inserted, or lines deleted, duplicated or swapped;
- random token streams: the grammar's terminals (and a few characters outside it) in any order;
- generated programs: well-formed statements over random expressions (every operator, function,
  index and slice form), with data of the declared shapes, to reach the dry run's checks;
- random data documents: nested lists of numbers, strings, nulls, bools and objects, of right and
  wrong shapes, bound to the bundled models' data declarations, as a dict or as JSON/CSV files
  (now and then with bytes no text file holds: invalid UTF-8, a NUL; absurd column indices);
- model files: mutated programs written to a file, with such bytes now and then;
- result files: a short fit's `--out` document with fields dropped, replaced, perturbed or made
  extreme, or its JSON broken, given to `ppl sample --fit`, `ppl gradcheck --params` and `ppl plot`;
- checkpoints: a short fit's archive with its JSON part or its arrays changed (a value, a key, a
  shape, a type, NaN), or its zip structure damaged, resumed.

`run_case` compiles, then binds (data validation and the build's dry run) with numpy warnings
raised as errors. (For result files and checkpoints, a warning raised by the numerics at valid
but extreme values, such as a parameter of 1e308, is an outcome of its own, not a crash.) It returns an outcome label, and raises `Crash` for anything other than a
PPLError with a position (a position may be missing only where none exists: data that is not a
dict, a program with nothing to fit).
"""
import contextlib
import functools
import io
import json
import random
import re
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as onp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ppl
from ppl import cli
from ppl.io.datafiles import load_data
from ppl.distributions import DISTRIBUTIONS
from ppl.front.functions import CONSTANTS, FUNCTIONS
from ppl.front.parse import _parser

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "models").glob("*.ppl")) + sorted((ROOT / "tests" / "errors").glob("*.ppl"))

pytestmark = pytest.mark.slow      # thousands of generated inputs


def _data_beside(path):
    data = path.with_suffix(".data.json")
    try:
        return json.loads(data.read_text()) if data.exists() else None
    except ValueError:
        return None


def _compiles(text):
    try:
        return any(d.kind == "data" for d in ppl.compile(text).ir.decls)
    except ppl.PPLError:
        return False


SEEDS = [(p.name, p.read_text(), _data_beside(p)) for p in SOURCES]
# the programs that compile and declare data, with their data (or none) as the base document
MODELS = [(name, text, data if isinstance(data, dict) else {}) for name, text, data in SEEDS if _compiles(text)]

# -- token-level vocabulary ------------------------------------------------------------------

_TOKEN = re.compile(r"#[^\n]*|\n|[A-Za-z_][A-Za-z0-9_]*|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?\.?|\*\*|\S")
NAMES = sorted({t for _, text, _ in SEEDS for t in re.findall(r"[A-Za-z_]\w*", text)} | set(FUNCTIONS)
               | set(DISTRIBUTIONS) | set(CONSTANTS)
               | {"int", "real", "positive", "unit", "simplex", "lower", "upper", "loc", "scale", "probs",
                  "logits", "rate", "low", "high", "x", "y", "N", "K", "os", "eval", "__import__", "__class__",
                  "_", "a" * 300})
NUMBERS = ["0", "1", "2", "3", "5", "0.5", "1e3", "2.5e-3", ".5", "1.", "100", "1e6", "10000000", "1e308",
           "99999999999", "9223372036854775808", "1e400"]
STRANGERS = ["$", ".", '"os"', "'", "`", ";", "{", "}", "!", "&", "|", "\t", "\r", "\x00", "\u00a0", "é",
             "\u0430", "\u041d", "\uff11", "\u0663", "\\\n", "# comment"]


def _terminal_samples():
    """One or more texts for every terminal of the grammar, and a few characters outside it."""
    out = []
    for term in _parser().terminals:
        if term.pattern.type == "str":
            out.append(term.pattern.value)
    return sorted(set(out)) + ["\n"] * 4 + ["**"] + STRANGERS


TERMINALS = _terminal_samples()


def tokens(text):
    return [t for t in _TOKEN.findall(text) if not t.startswith("#")]


def render(toks):
    return " ".join(toks).replace(" \n ", "\n")


def _sample(rnd):
    roll = rnd.random()
    if roll < 0.4:
        return rnd.choice(NAMES)
    if roll < 0.6:
        return rnd.choice(NUMBERS)
    return rnd.choice(TERMINALS)


# tokens of one class, for edits that keep a program well-formed more often than not
KINDRED = [sorted(DISTRIBUTIONS), sorted(FUNCTIONS), ["+", "-", "*", "/", "^", "@", "**"], ["(", "["], [")", "]"],
           ["data", "param"], ["minimize", "maximize"], ["int", "real", "positive", "unit", "simplex"], ["~", "="]]
SMALL = ["0", "1", "2", "3", "4", "0.5", "-1", "10"]


def mutate(rnd, text):
    """`text` with one to four edits: tokens deleted, duplicated, swapped, replaced or inserted;
    a token replaced by one of its kind (a name, a number, an operator, a distribution); lines
    deleted, duplicated or swapped."""
    toks = tokens(text) or [""]
    gentle = rnd.random() < 0.5   # only edits that often keep the program well-formed
    for _ in range(rnd.randint(1, 4)):
        i, j = rnd.randrange(len(toks)), rnd.randrange(len(toks))
        edit = rnd.randrange(5, 9) if gentle else rnd.randrange(9)
        if edit == 0 and len(toks) > 1:
            del toks[i]
        elif edit == 1:
            toks.insert(i, toks[i])
        elif edit == 2:
            toks[i], toks[j] = toks[j], toks[i]
        elif edit == 3:
            toks[i] = _sample(rnd)
        elif edit == 4:
            toks.insert(i, _sample(rnd))
        elif edit == 5:
            toks[i] = _kindred(rnd, toks[i])
        else:
            toks = _edit_lines(rnd, toks, edit)
    return render(toks)


def _kindred(rnd, tok):
    if re.match(r"[0-9.]", tok):
        return rnd.choice(SMALL if rnd.random() < 0.7 else NUMBERS)
    for kind in KINDRED:
        if tok in kind:
            return rnd.choice(kind)
    if re.match(r"[A-Za-z_]", tok):
        return rnd.choice(NAMES)
    return tok


def _edit_lines(rnd, toks, edit):
    lines = render(toks).split("\n")
    i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
    if edit == 6 and len(lines) > 1:
        del lines[i]
    elif edit == 7:
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return tokens("\n".join(lines)) or [""]


STARTS = ["", "x = ", "param a: real = ", "data N: int\n", "y ~ Normal(", "minimize ", "z: real[3] ~ "]


def token_stream(rnd, length=30):
    """A random sequence of terminals, sometimes after the start of a statement."""
    return rnd.choice(STARTS) + render([_sample(rnd) for _ in range(rnd.randint(0, length))])


# -- generated programs: well-formed text, to reach the dry run's checks -----------------------

PARAMS = ["param a: real = 0.5", "param v: real[K] = 0", "param M: real[N, K] = 0.1", "param u: unit"]
DISTS = ["Normal({e}, s)", "HalfNormal(s)", "LogNormal({e}, 1)", "Exponential(s)", "Uniform(-1, {e})",
         "Laplace({e}, 2)", "Cauchy({e}, s)", "HalfCauchy(5)", "Normal({e}, {e})"]
DISCRETE = ["Bernoulli(sigmoid({e}))", "Bernoulli(logits={e})", "Categorical(p)", "Categorical(logits={e})",
            "Poisson(exp({e}))", "Poisson({e})", "Bernoulli({e})"]
OPERATORS = ["+", "-", "*", "/", "^", "@"]
INDICES = ["0", "1", "k", "-1", "K - 1", "0:2", ":", "1:", "N", "[0, 1]", "k[0]", "z"]


def expression(rnd, names, depth=0):
    """A random expression over `names` (value names) and the int data N, K and k."""
    roll = rnd.random() if depth < 4 else rnd.random() * 0.35
    if roll < 0.15:
        return rnd.choice(SMALL[:6])
    if roll < 0.35:
        return rnd.choice(names)
    if roll < 0.45:
        return f"-{expression(rnd, names, depth + 1)}"
    if roll < 0.65:
        return f"({expression(rnd, names, depth + 1)} {rnd.choice(OPERATORS)} {expression(rnd, names, depth + 1)})"
    if roll < 0.8:
        fn = rnd.choice(sorted(FUNCTIONS))
        low, high = FUNCTIONS[fn].arity
        if FUNCTIONS[fn].static:
            return f"{fn}({', '.join(rnd.choice(['N', 'K', '2', '0']) for _ in range(rnd.randint(low, high)))})"
        return f"{fn}({', '.join(expression(rnd, names, depth + 1) for _ in range(low))})"
    if roll < 0.92:
        index = [rnd.choice(INDICES).replace("z", rnd.choice(names)) for _ in range(rnd.randint(1, 2))]
        return f"{rnd.choice(names)}[{', '.join(index)}]"
    return f"[{', '.join(expression(rnd, names, depth + 1) for _ in range(rnd.randint(1, 3)))}]"


def program(rnd):
    """(text, data): int data N, K and k, data x and X, a few params, then random statements
    (deterministics, latents with or without a shape), and usually an observation of x or an
    objective. The data have the declared shapes, except now and then."""
    n, K = rnd.randint(1, 4), rnd.randint(1, 3)
    lines = ["data N: int", "data K: int", "data k: int[N]", "data x: real[N]", "data X: real[N, K]",
             "param s: positive = 1", "param p: simplex[K]"]
    lines += rnd.sample(PARAMS, rnd.randint(0, len(PARAMS)))
    names = [line.split()[1].rstrip(":") for line in lines]
    for i in range(rnd.randint(1, 5)):
        if rnd.random() < 0.4:
            lines.append(f"t{i} = {expression(rnd, names)}")
        else:
            discrete = rnd.random() < 0.3
            dist = rnd.choice(DISCRETE if discrete else DISTS).format(e=expression(rnd, names))
            shape = rnd.choice(["", "", "[K]", "[N]", "[N, K]", "[2]"])
            annotation = f": {'int' if discrete else 'real'}{shape}" if shape or rnd.random() < 0.2 else ""
            lines.append(f"z{i}{annotation} ~ {dist}")
        names.append(lines[-1].split()[0].rstrip(":"))
    roll = rnd.random()
    if roll < 0.4:
        lines.append(f"x ~ {rnd.choice(DISTS).format(e=expression(rnd, names))}")
    elif roll < 0.8:
        lines.append(f"{rnd.choice(['minimize', 'maximize'])} {expression(rnd, names)}")
    data = {"N": n, "K": K, "k": [rnd.randrange(K + (rnd.random() < 0.05)) for _ in range(n)],
            "x": regular(rnd, [n]), "X": regular(rnd, [n, K])}
    if rnd.random() < 0.1:
        data = data_document(rnd, [("N", 0), ("K", 0), ("k", 1), ("x", 1), ("X", 2)], data)
    return "\n".join(lines) + "\n", data


# -- data documents --------------------------------------------------------------------------

LEAVES = [0, 1, 2, 3, -1, -3, 0.5, -2.5, 1e308, -1e308, 5e-324, 10**12, 2**63, 10**30, True, False, None, "3",
          "abc", "", "nan", float("nan"), float("inf"), {}, {"a": 1}, [], [[]]]


def leaf(rnd):
    return rnd.choice(LEAVES) if rnd.random() < 0.5 else rnd.choice([rnd.randint(-5, 5), rnd.gauss(0, 3)])


def regular(rnd, shape, make=None):
    """Nested lists of the given shape, of numbers (or of `make(rnd)`)."""
    if not shape:
        return make(rnd) if make else rnd.choice([rnd.randint(0, 3), rnd.gauss(0, 2)])
    return [regular(rnd, shape[1:], make) for _ in range(shape[0])]


def value(rnd, depth=0):
    """Any JSON-like value: a leaf, a ragged or regular nested list, or an object."""
    roll = rnd.random()
    if roll < 0.35 or depth > 3:
        return leaf(rnd)
    if roll < 0.7:
        shape = [rnd.randint(0, 4) for _ in range(rnd.randint(1, 3))]
        return regular(rnd, shape, leaf if rnd.random() < 0.2 else None)
    if roll < 0.9:
        return [value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    return {rnd.choice(NAMES): value(rnd, depth + 1) for _ in range(rnd.randint(0, 2))}


def data_document(rnd, decls, base=None, python=True):
    """A data dict for declarations [(name, rank)], from `base` (a valid document) or nothing:
    each name kept, dropped, given a value of its rank with random sizes, or anything at all;
    with `python`, now and then what only the Python API can pass (other keys, numpy arrays)."""
    if rnd.random() < 0.05:
        return rnd.choice([None, [], "data", 3, [base]])
    doc = dict(base or {})
    changed = decls if not base or rnd.random() < 0.3 else rnd.sample(decls, min(len(decls), rnd.randint(0, 2)))
    for name, rank in changed:
        roll = rnd.random()
        if roll < 0.15:
            doc.pop(name, None)
        elif roll < 0.45:
            doc[name] = regular(rnd, [rnd.randint(0, 4) for _ in range(rank)])
        elif roll < 0.6:
            doc[name] = value(rnd)
        elif roll < 0.7 and rank == 0:
            doc[name] = rnd.choice([0, 1, -1, 10**12, 2**63, 1.5, True, "2"])
        elif roll < 0.85 and name in doc:
            doc[name] = _perturb(rnd, doc[name])
    if rnd.random() < 0.2:
        doc[rnd.choice(NAMES)] = value(rnd)
    if python and rnd.random() < 0.05:
        doc[rnd.choice([1, None, (1, 2), b"N"])] = 1
    if python and rnd.random() < 0.05 and decls:
        name, rank = rnd.choice(decls)
        try:
            doc[name] = onp.asarray(regular(rnd, [rnd.randint(0, 3) for _ in range(rank)]),
                                    dtype=rnd.choice([float, int, object, bool, complex, "U3"]))
        except (OverflowError, ValueError):   # a huge number drawn, which no int can hold
            pass
    return doc


def _perturb(rnd, x):
    """`x` with one leaf, row or wrapping changed."""
    if isinstance(x, list) and x and rnd.random() < 0.7:
        x = list(x)
        i = rnd.randrange(len(x))
        roll = rnd.random()
        if roll < 0.5:
            x[i] = _perturb(rnd, x[i])
        elif roll < 0.7:
            del x[i]
        else:
            x.append(x[i])
        return x
    return rnd.choice([leaf(rnd), [x], x if not isinstance(x, list) else x[:1]])


def declarations(model):
    return [(d.name, len(d.shape)) for d in model.ir.decls if d.kind == "data"]


def json_text(rnd, doc):
    """A data document as JSON text, sometimes with an edit that may break it."""
    text = json.dumps(doc)
    if rnd.random() < 0.3 and text:
        i = rnd.randrange(len(text) + 1)
        text = text[:i] + rnd.choice(["", ",", "]", "[", "}", '"', "NaN", "-", "1e999", "\x00", "1" * 5000,
                                      "[" * 1000 + "]" * 1000, "[" * 50]) + text[i + rnd.randint(0, 3):]
    return text


ODD_COLUMNS = ["X[0]", "X[1]", "y[0,0]", "a b", "", "1x", "y", "X[99999999999999999999999]", "X[" + "9" * 5000 + "]",
               "y[100000000]", '"y[0,99999999999]"', '"y[' + ",".join(["0"] * 40) + ']"', "y[00]", "y[-1]",
               "y." + "9" * 30, "x" * 200_000]


def csv_text(rnd, decls):
    """A CSV data file: a header of the declared names (or others), then rows of cells."""
    names = [n if rnd.random() < 0.8 else rnd.choice(ODD_COLUMNS) for n, _ in decls] or ["y"]
    rows = [",".join(names)]
    width = len(names)
    for _ in range(rnd.randint(0, 5)):
        cells = [rnd.choice(["1", "2", "0.5", "-1", "", "NA", "abc", "1e400", "3"]) for _ in range(width)]
        if rnd.random() < 0.1:
            cells = cells[:-1]
        rows.append(",".join(cells))
    return "\n".join(rows) + rnd.choice(["", "\n", "\n\n", "\r\n"])


# -- running a case --------------------------------------------------------------------------

class Crash(Exception):
    """The front end raised something other than a positioned PPLError; `where` is the deepest
    frame of the package (file:function), `signature` what groups crashes of one cause."""

    def __init__(self, message, err=None):
        super().__init__(message)
        self.where = _deepest_frame(err)
        self.signature = f"{type(err).__name__} in {self.where}" if err is not None else message


def _deepest_frame(err):
    package = Path(ppl.__file__).parent
    where = "?"
    for frame in traceback.extract_tb(err.__traceback__) if err is not None else ():
        if Path(frame.filename).parent == package:
            where = f"{Path(frame.filename).name}:{frame.name}"
    return where


# Crashes whose cause is in a file outside the front end's (see the xfail tests in
# test_limits.py, which reproduce each): reported as "known bug: ..." rather than raised, so that
# the fuzzers go on looking for new ones. Remove an entry once its xfail test passes.
KNOWN_BUGS = {
    "RuntimeWarning in data.py:_as_array": "an int datum beyond int64 (2**63, 1e308) is cast with a warning",
    "StopIteration in data.py:_not_numbers": "an object array of numbers (10**30, numpy dtype=object)",
    "TypeError in data.py:load_data": "a list given as data holding something not a path or dict ([None])",
    "TypeError in data.py:_missing_hint": "a data dict whose keys are not all strings ({1: 2})",
}


def run_case(text, data=None, bind=True):
    """'compiled', 'bound', or 'NAME at PHASE' for a PPLError; raises `Crash` otherwise."""
    phase = "compile"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")    # a numpy warning is a bug too
            model = ppl.compile(text)
            if not bind:
                return "compiled"
            phase = "bind"
            model.bind(data)
            return "bound"
    except ppl.PPLError as err:
        rendered = str(err)                   # rendering must not fail either
        if err.span is None and (phase == "compile" and not _whole_program(err)):
            raise Crash(f"{type(err).__name__} without a position: {rendered}") from err
        return f"{type(err).__name__} at {phase}"
    except Exception as err:
        return _known(Crash(f"{type(err).__name__} at {phase}: {err}", err), err)


def _known(crash, err):
    if crash.signature in KNOWN_BUGS:
        return f"known bug: {crash.signature}"
    raise crash from err


def _whole_program(err):
    """Errors about the program as a whole (no line to point at)."""
    return err.message.startswith("nothing to fit")


ODD_BYTES = [b"\xff", b"\x00", b"\xe2\x82", b"\xef\xbb\xbf", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\r",
             b"\xe2\x80\xae", b"\xf4\x90\x80\x80"]


def byte_edit(rnd, text):
    """`text` as UTF-8 bytes, now and then with bytes no text file holds (an invalid, overlong or
    cut-short UTF-8 sequence, a NUL, a surrogate, a code point past U+10FFFF) or cut short."""
    raw = text.encode("utf-8", "surrogatepass")
    roll = rnd.random()
    if roll < 0.7:
        return raw
    i = rnd.randrange(len(raw) + 1)
    if roll < 0.9:
        return raw[:i] + rnd.choice(ODD_BYTES) + raw[i:]
    return raw[:i]


def run_file(text, suffix, model):
    """Bind `model` to data read from a file holding `text` (or bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                model.bind(load_data(path))
            return "bound"
        except ppl.PPLError as err:
            str(err)
            return f"{type(err).__name__} at load"
        except Exception as err:
            return _known(Crash(f"{type(err).__name__} reading {suffix}: {err}", err), err)


_COMPILED = {}


def compiled(name, text):
    if name not in _COMPILED:
        _COMPILED[name] = ppl.compile(text)
    return _COMPILED[name]


def run_model_file(raw):
    """Load a model file holding the bytes `raw` (as `ppl.load` and every command read one)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.ppl"
        path.write_bytes(raw)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                ppl.load(path)
            return "loaded"
        except ppl.PPLError as err:
            str(err)
            return f"{type(err).__name__} at load"
        except Exception as err:
            return _known(Crash(f"{type(err).__name__} reading a model file: {err}", err), err)


# -- result documents and checkpoints: files a fit wrote, given back changed -------------------

RESULT_FITS = [("eight_schools", {}), ("eight_schools", {"optimizer": "adam"}), ("linear_regression", {}),
               ("logistic_regression", {"optimizer": "adam"}), ("normal_mle", {}), ("bits", {}),
               ("reparam_demo", {})]
ODD_COUNTS = [0, 1, -1, 2**63, 10**30, 1.5, True, "3", None, [], {}, float("nan"), 1e308]
ODD_FILES = ["/etc/passwd", "missing.ppl", "x.json", "a.csv", "../m.ppl", 3, None, [], ["x.npy"], "", "m.ppl\x00",
             "/dev/zero", "/dev/zero.json", ".", "..", "a" * 300 + ".json"]
ODD_OPTIONS = ["estimator", "guide", "rao_blackwell", "eval", "auto", "score", "pathwise", "mean-field", "fullrank",
               "element", "none", "magic", 1, None, {"mu": "score"}, {"mu": "magic"}, [], {"x": {"y": 1}}]
ODD_NUMBERS = [1e308, -1e308, 5e-324, 0.0, -0.0, 1e20, -1e20, 2**63, -(2**63), 10**30, 700.0, -745.0]


@functools.lru_cache(maxsize=None)
def results():
    """[(model path, result document)]: short fits of bundled models, once per process."""
    out = []
    for name, options in RESULT_FITS:
        path = ROOT / "models" / f"{name}.ppl"
        fit = ppl.load(path).fit(steps=20, **options)
        out.append((str(path), json.loads(json.dumps(fit.to_json()))))
    return out


def result_document(rnd, base):
    """`base` (a result) with one to three of its fields dropped, replaced by anything, or changed
    a little: a parameter's value perturbed, renamed, dropped or made extreme; counters that are
    not counts; the files it names elsewhere; a mode or options of another fit."""
    doc = json.loads(json.dumps(base))
    for _ in range(rnd.randint(1, 3)):
        field = rnd.choice(sorted(doc) + ["params", "guide", "extra"])
        roll = rnd.random()
        if roll < 0.1:
            doc.pop(field, None)
        elif roll < 0.25:
            doc[field] = value(rnd)
        elif field in ("params", "guide") and isinstance(doc.get(field), dict):
            doc[field] = _values(rnd, doc[field])
        elif field in ("seed", "steps", "skipped_steps", "particles", "batch_size"):
            doc[field] = rnd.choice(ODD_COUNTS + [rnd.randint(0, 100)])
        elif field in ("model", "data"):
            doc[field] = rnd.choice(ODD_FILES + [doc.get(field)])
        elif field == "mode":
            doc[field] = rnd.choice(["vi", "mle", "optimize", "prior", "map", 1, None])
        elif field == "options":
            doc[field] = {rnd.choice(ODD_OPTIONS[:4]): rnd.choice(ODD_OPTIONS) for _ in range(rnd.randint(0, 2))}
        else:
            doc[field] = _perturb(rnd, doc.get(field))
    return doc


def _values(rnd, values):
    """{name: value} with one entry perturbed, made extreme, renamed, dropped or added."""
    values = dict(values)
    name = rnd.choice(sorted(values) or ["mu"])
    roll = rnd.random()
    if roll < 0.3 and name in values:
        values[name] = _perturb(rnd, values[name])
    elif roll < 0.55 and name in values:
        extreme = rnd.choice(ODD_NUMBERS)
        try:
            values[name] = regular(rnd, list(onp.shape(values[name])), lambda r: extreme)
        except ValueError:         # a ragged value: no shape to keep
            values[name] = extreme
    elif roll < 0.7 and name in values:
        values[rnd.choice(NAMES[:20] + sorted(values))] = values.pop(name)
    elif roll < 0.85:
        values.pop(name, None)
    else:
        values[rnd.choice(NAMES[:20])] = value(rnd)
    return values


def result_bytes(rnd, doc):
    """A result document as a file's bytes: JSON (sometimes with an edit that may break it, or
    bytes no text file holds), or now and then nested far too deep."""
    if rnd.random() < 0.03:
        n = rnd.choice([100, 1000, 100_000])
        return json.dumps({**doc, "params": {"mu": 0}}).replace('"mu": 0', '"mu": ' + "[" * n + "]" * n).encode()
    return byte_edit(rnd, json_text(rnd, doc))


def run_result(raw, model, command):
    """`ppl plot`, `ppl sample --fit` or `ppl gradcheck --params` of a result file holding `raw`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_bytes(raw)
        argv = {"plot": ["plot", path, "--out", Path(tmp) / "p.png"],
                "sample": ["sample", model, "--fit", path, "-n", 3],
                "gradcheck": ["gradcheck", model, "--params", path, "--draws", 2]}[command]
        return run_cli(argv)


def _warned(err):
    """A warning raised (as an error) by numerics at extreme values that a file may hold but that
    are valid (a parameter of 1e308, a scale of 1e-300): an outcome of its own, not a crash."""
    return f"warning: {type(err).__name__} in {_deepest_frame(err)}"


def run_cli(argv):
    """'ppl COMMAND: exit N' for the command line run in-process (output discarded, warnings
    raised and reported as such); raises `Crash` for any exception that escapes it."""
    out = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            warnings.simplefilter("error")
            status = cli.main([str(a) for a in argv])
    except Warning as err:
        return _warned(err)
    except Exception as err:
        return _known(Crash(f"{type(err).__name__} in ppl {argv[0]}: {err}", err), err)
    if "Traceback" in out.getvalue():
        raise Crash(f"a traceback printed by ppl {argv[0]}: {out.getvalue()[-300:]}")
    return f"ppl {argv[0]}: exit {status}"


CHECKPOINT_FITS = [("eight_schools", "adam"), ("eight_schools", "lbfgs"), ("normal_mle", "adam"),
                   ("normal_mle", "lbfgs"), ("bits", "adam"), ("linear_regression", "adam")]
CHECKPOINT_STEPS = 40


@functools.lru_cache(maxsize=None)
def checkpoints():
    """[(model, optimizer, archive bytes)]: short fits of bundled models stopped part way, once per process."""
    out = []
    for name, optimizer in CHECKPOINT_FITS:
        model = ppl.load(ROOT / "models" / f"{name}.ppl")
        calls = iter(range(10**6))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.npz"
            model.fit(optimizer=optimizer, steps=CHECKPOINT_STEPS, checkpoint=path, stop=lambda: next(calls) == 12)
            out.append((model, optimizer, path.read_bytes()))
    return out


def checkpoint_archive(rnd, raw):
    """A checkpoint (`raw`, an .npz archive) changed: one to three places of its JSON part or of
    its arrays (a value, a key, an array's shape, type or values, an array renamed, dropped or
    added), or its JSON part broken, or the archive's own bytes changed."""
    if rnd.random() < 0.1:
        return _archive_bytes(rnd, raw)
    with onp.load(io.BytesIO(raw)) as archive:
        stored = {k: archive[k] for k in archive.files}
    meta = json.loads(stored.pop("__meta__").tobytes())
    for _ in range(rnd.randint(1, 3)):
        if rnd.random() < 0.5:
            _change_tree(rnd, meta)
        else:
            _change_arrays(rnd, stored)
    text = json.dumps(meta)
    described = byte_edit(rnd, json_text(rnd, meta)) if rnd.random() < 0.1 else text.encode()
    buffer = io.BytesIO()
    onp.savez(buffer, __meta__=onp.frombuffer(described, dtype=onp.uint8), **stored)
    return buffer.getvalue()


def _archive_bytes(rnd, raw):
    raw = bytearray(raw)
    roll = rnd.random()
    if roll < 0.3:
        return bytes(raw[:rnd.randrange(len(raw) + 1)])
    if roll < 0.6:
        for _ in range(rnd.randint(1, 8)):
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        return bytes(raw)
    if roll < 0.8:               # a size field of a zip header: the local one, or the central directory's
        at = raw.rfind(b"PK\x01\x02") if rnd.random() < 0.5 else raw.find(b"PK\x03\x04")
        offset = at + rnd.choice([18, 22, 24]) if at >= 0 else 0
        raw[offset:offset + 4] = rnd.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f"])
        return bytes(raw)
    return rnd.choice([b"", b"PK\x05\x06" + bytes(18), b"not a zip", bytes(1000), b"\x93NUMPY"]) + bytes(raw[:100])


def _change_tree(rnd, tree):
    """Change one place of a JSON tree, in place: a value replaced or perturbed, a key dropped or added."""
    node, key = tree, None
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = rnd.choice(keys)
        if isinstance(node[key], (dict, list)) and node[key] and rnd.random() < 0.75:
            node = node[key]
            continue
        break
    roll = rnd.random()
    if key is None or (roll < 0.15 and isinstance(node, dict)):
        if isinstance(node, dict):
            node[rnd.choice(NAMES[:20])] = value(rnd)
        else:
            node.append(leaf(rnd))
    elif roll < 0.3:
        del node[key]
    elif roll < 0.55:
        node[key] = rnd.choice(ODD_COUNTS + ODD_NUMBERS)
    elif roll < 0.7:
        node[key] = value(rnd)
    else:
        node[key] = _perturb(rnd, node[key])


ODD_DTYPES = [int, bool, complex, onp.float32, onp.int8, onp.uint64, "U3", object, "datetime64[s]"]


def _change_arrays(rnd, arrays):
    """Change one array of a checkpoint, in place: its shape, type or values; renamed, dropped or added."""
    name = rnd.choice(sorted(arrays) or ["loop.theta"])
    a = arrays.get(name, onp.zeros(3))
    roll = rnd.random()
    if roll < 0.15:
        arrays.pop(name, None)
    elif roll < 0.25:
        arrays[rnd.choice([name + ".0", name.split(".")[0] + ".extra", "extra", name + "x"])] = arrays.pop(name, a)
    elif roll < 0.5:
        arrays[name] = rnd.choice([a.ravel()[:max(0, a.size - 1)], onp.concatenate([a.ravel(), a.ravel()]),
                                   a.reshape(1, -1), onp.float64(3.0), onp.zeros((0,)), onp.zeros((2, 2, 2))])
    elif roll < 0.7:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arrays[name] = a.astype(rnd.choice(ODD_DTYPES))
        except (TypeError, ValueError, OverflowError):
            pass
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b = onp.array(a, dtype=float)
        except (TypeError, ValueError):        # text, or a date: numbers in its shape instead
            b = onp.zeros(onp.shape(a))
        b.flat[rnd.randrange(b.size) if b.size else slice(None)] = rnd.choice(
            [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 0.0, -1.0, 1e-320])
        arrays[name] = b


def run_checkpoint(model, optimizer, raw):
    """Resume the fit of `model` from a checkpoint holding `raw` (as `ppl fit --resume` does)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.npz"
        path.write_bytes(raw)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                model.fit(optimizer=optimizer, steps=CHECKPOINT_STEPS, resume=path)
            return "resumed"
        except ppl.PPLError as err:
            str(err)
            return f"{type(err).__name__} at resume"
        except Warning as err:
            return _warned(err)
        except Exception as err:
            return _known(Crash(f"{type(err).__name__} resuming a checkpoint: {err}", err), err)


# -- the property-based tests (each bounded; the whole module runs in well under a minute) -----

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
seeds = st.sampled_from(SEEDS)
models = st.sampled_from(MODELS)


@settings(FAST, max_examples=1500)
@given(seeds, st.randoms(use_true_random=False))
def test_mutated_programs(seed, rnd):
    _, text, data = seed
    run_case(mutate(rnd, text), data)


@settings(FAST, max_examples=1000)
@given(st.lists(st.sampled_from(NAMES[:40] + NUMBERS + TERMINALS), max_size=40), st.sampled_from(STARTS))
def test_token_streams(toks, start):
    run_case(start + render(toks))


@settings(FAST, max_examples=1000)
@given(models, st.randoms(use_true_random=False))
def test_data_documents(model, rnd):
    name, text, base = model
    m = compiled(name, text)
    run_case(text, data_document(rnd, declarations(m), base if rnd.random() < 0.7 else None))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner,
                                                                                       max_size=2),
                           max_leaves=12)


@settings(FAST, max_examples=300)
@given(models, st.dictionaries(st.sampled_from(["N", "J", "K", "D", "x", "y", "X", "sigma", "z"]), json_values))
def test_data_values(model, doc):
    name, text, base = model
    run_case(text, {**base, **doc})


@settings(FAST, max_examples=300)
@given(models, st.randoms(use_true_random=False))
def test_json_files(model, rnd):
    name, text, base = model
    m = compiled(name, text)
    run_file(json_text(rnd, data_document(rnd, declarations(m), base, python=False)), ".json", m)


@settings(FAST, max_examples=300)
@given(models, st.randoms(use_true_random=False))
def test_csv_files(model, rnd):
    name, text, _ = model
    m = compiled(name, text)
    run_file(csv_text(rnd, declarations(m)), ".csv", m)


@pytest.mark.parametrize("name, text, data", SEEDS, ids=[s[0] for s in SEEDS])
def test_seeds_run_clean(name, text, data):
    """The seeds themselves: every bundled model binds, every golden case fails cleanly."""
    run_case(text, data)


def test_generators_reach_every_outcome():
    """The generators are not stuck in one corner: they give compiles, binds, and each kind of error."""
    rnd = random.Random(0)
    seen = {run_case(mutate(rnd, rnd.choice(SEEDS)[1]), None) for _ in range(300)}
    name, text, base = MODELS[0]
    seen |= {run_case(text, data_document(rnd, declarations(compiled(name, text)), base)) for _ in range(100)}
    assert {"bound", "PPLSyntaxError at compile", "SemanticError at compile", "DataError at bind"} <= seen


@settings(FAST, max_examples=800)
@given(st.randoms(use_true_random=False))
def test_generated_programs(rnd):
    text, data = program(rnd)
    run_case(text, data)


@settings(FAST, max_examples=200)
@given(seeds, st.randoms(use_true_random=False))
def test_model_files(seed, rnd):
    """A mutated program in a file, now and then with bytes no text file holds."""
    run_model_file(byte_edit(rnd, mutate(rnd, seed[1])))


@settings(FAST, max_examples=60)
@given(st.randoms(use_true_random=False), st.sampled_from(["sample", "gradcheck"]))
def test_result_files(rnd, command):
    """A short fit's result, changed, given to ppl sample --fit or ppl gradcheck --params."""
    model, base = rnd.choice(results())
    run_result(result_bytes(rnd, result_document(rnd, base)), model, command)


@settings(FAST, max_examples=60)
@given(st.randoms(use_true_random=False))
def test_checkpoints(rnd):
    """A short fit's checkpoint, changed, resumed."""
    model, optimizer, archive = rnd.choice(checkpoints())
    run_checkpoint(model, optimizer, checkpoint_archive(rnd, archive))


def test_unchanged_results_and_checkpoints_are_accepted():
    """The generators' starting points are good files: every result restores, every checkpoint resumes."""
    assert {run_result(json.dumps(base).encode(), model, "sample") for model, base in results()} == \
        {"ppl sample: exit 0"}
    assert {run_checkpoint(model, optimizer, archive) for model, optimizer, archive in checkpoints()} == {"resumed"}
