"""Absurd sizes get a clear, positioned error before memory or the stack runs out.

The limits (README, "Limits"): a model file of at most MAX_SOURCE_CHARS characters and
MAX_STATEMENTS statements; names and numbers of at most MAX_NAME_LENGTH characters; integers
up to 2^63 - 1; brackets and expressions nested at most MAX_DEPTH deep; no value (a declared
shape, the result of ones(...), of broadcasting, of a matrix product, of indexing) of more than
MAX_ELEMENTS elements.

The xfail tests at the end reproduce crashes found by the fuzzers in files outside the front
end's; each says what should happen instead.
"""
import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as onp
import pytest

import ppl
from ppl.front.functions import MAX_ELEMENTS
from ppl.front.parse import MAX_DEPTH, MAX_NAME_LENGTH, MAX_SOURCE_CHARS, MAX_STATEMENTS


def error_of(text, data=None, kind=ppl.PPLError):
    with pytest.raises(kind) as info:
        ppl.compile(text).bind(data or {})
    assert info.value.span is not None
    return info.value


# -- the text ---------------------------------------------------------------------------------

def test_ten_thousand_parentheses():
    err = error_of("x = " + "(" * 10_000 + "1" + ")" * 10_000, kind=ppl.PPLSyntaxError)
    assert f"nested more than {MAX_DEPTH} deep" in err.message
    assert err.span.col == 5 + MAX_DEPTH


@pytest.mark.parametrize("make", [
    lambda n: " + ".join(["a"] * n),          # a long sum nests to the left
    lambda n: "-" * n + "a",
    lambda n: "^".join(["a"] * n),            # a tower of powers nests to the right
    lambda n: "exp(" * n + "a" + ")" * n,
    lambda n: "sum(" + "[" * n + "a" + "]" * n + ")",
], ids=["sum", "negation", "power", "calls", "arrays"])
def test_deep_expressions(make):
    head = "param a: real = 0.1\nminimize "
    err = error_of(head + make(10 * MAX_DEPTH), kind=ppl.PPLSyntaxError)
    assert "nested more than" in err.message and err.span.line == 2


def test_nesting_at_the_limit_compiles_and_fits():
    text = "param a: real = 0.1\nminimize " + " + ".join(["a"] * MAX_DEPTH)
    fit = ppl.compile(text).fit(steps=3)
    assert set(fit.params) == {"a"}


def test_long_program():
    text = "param a: real = 0\n" + "# padding\n" * (MAX_SOURCE_CHARS // 10) + "minimize a^2\n"
    err = error_of(text, kind=ppl.PPLSyntaxError)
    assert f"longer than {MAX_SOURCE_CHARS:,} characters" in err.message


def test_many_statements():
    text = "\n".join(f"x{i} = {i}" for i in range(MAX_STATEMENTS + 1))
    err = error_of(text, kind=ppl.PPLSyntaxError)
    assert err.span.line == MAX_STATEMENTS + 1


@pytest.mark.slow
def test_program_at_the_limits_compiles_in_seconds():
    """The largest chain of statements the limits allow (the worst case of the rewrite's
    dependence analysis, which is quadratic) still compiles in seconds, not minutes."""
    terms = 10
    lines = ["param a0: real = 0"] + [f"a{i} ~ Normal({' + '.join([f'a{i - 1}'] * terms)}, 1)"
                                      for i in range(1, MAX_STATEMENTS - 1)] + ["minimize a1"]
    text = "\n".join(lines)
    assert len(text) <= MAX_SOURCE_CHARS
    start = time.perf_counter()
    ppl.compile(text)
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("text, words", [
    ("x = " + "a" * (MAX_NAME_LENGTH + 1), "a name of"),
    ("a" * 10**6 + " = 1", "longer than"),
    ("x = " + "1" * (MAX_NAME_LENGTH + 1), "a number of"),
    ("x = 9223372036854775808", "too large; the largest is 9223372036854775807"),
    ("x = 1e999", "too large to represent"),
])
def test_long_names_and_numbers(text, words):
    err = error_of(text, kind=ppl.PPLSyntaxError)
    assert words in err.message
    assert len(str(err)) < 1000


def test_largest_integer_is_accepted():
    ppl.compile("x = 9223372036854775807\ny = 1e308")


def test_long_line_is_shown_as_a_window():
    text = "param a: real = 0\nminimize a + " + " + ".join(["a"] * 40) + " + nope + " + " + ".join(["a"] * 40)
    err = error_of(text, kind=ppl.SemanticError)
    excerpt = str(err).splitlines()[1:3]
    assert excerpt[0].startswith("  2 | ...") and excerpt[0].endswith("...")
    assert excerpt[1].index("^") == excerpt[0].index("nope")


# -- sizes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, data", [
    ("z: real[1000000000000] ~ Normal(0, 1)", {}),
    ("param w: real[100000, 100000]", {}),
    ("data N: int\nparam w: real[N, N]\nminimize sum(w)", {"N": 10**6}),
    ("data N: int\nz: real[N] ~ Normal(0, 1)\nminimize sum(z)", {"N": 10**12}),
    ("data N: int\ndata y: real[N]\nparam m: real = 0\ny ~ Normal(m, 1)", {"N": 10**12, "y": [1.0]}),
    ("data N: int\nparam p: simplex[N]\nminimize sum(p)", {"N": 10**9}),
])
def test_declared_shape_over_the_limit(text, data):
    err = error_of(text, data, kind=ppl.SemanticError)
    assert f"the limit is {MAX_ELEMENTS:,}" in err.message


@pytest.mark.parametrize("expr", [
    "ones(1000000000000)",
    "zeros(100000, 100000, 100000)",
    "ones(100000, 1) + ones(1, 100000)",
    "ones(8000, 0) @ ones(0, 8000)",
    "[ones(30000000), ones(30000000)]",
    "ones(10, 10)[i, j]",       # index arrays of shapes (8000, 1) and (1, 8000)
])
def test_computed_value_over_the_limit(expr):
    head = "data i: int[8000, 1] = zeros(8000, 1)\ndata j: int[1, 8000] = zeros(1, 8000)\nparam a: real = 0\n"
    text = f"{head}minimize a + sum({expr})"
    err = error_of(text, kind=ppl.SemanticError)
    assert "elements; the limit is" in err.message
    assert err.span.line == text.count("\n") + 1


def test_sizes_cannot_be_negative_or_zero_for_a_simplex():
    assert "cannot be negative" in error_of("x = ones(-1)").message
    negative = error_of("data N: int\nparam w: real[N - 5]\nminimize sum(w)", {"N": 3})
    assert "sizes cannot be negative" in negative.message
    assert "at least one" in error_of("data K: int\nparam p: simplex[K]\nminimize sum(p)", {"K": 0}).message
    assert "at least 1" in error_of("param p: simplex[0]\nminimize sum(p)").message
    assert "at least 1" in error_of("param p: simplex\nminimize p").message


def test_numpy_axis_limit():
    err = error_of("param a: real = 0\nminimize a + sum(" + "[" * 40 + "a" + "]" * 40 + ")")
    assert "axes" in err.message


# -- crashes in files outside the front end's (found by the fuzzers) ----------------------------

def _bind(text, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ppl.compile(text).bind(data)


N_MODEL = "data N: int\ndata y: real[N]\nparam mu: real = 0\ny ~ Normal(mu, 1)"


def test_int_datum_beyond_int64():
    with pytest.raises(ppl.DataError):
        _bind(N_MODEL, {"N": 2**63, "y": [1.0]})


def test_huge_integer_datum():
    with pytest.raises(ppl.DataError):
        _bind(N_MODEL, {"N": 10**30, "y": [1.0]})


def test_list_of_nothing_as_data():
    with pytest.raises(ppl.DataError):
        _bind(N_MODEL, [None])


def test_data_keys_that_are_not_names():
    with pytest.raises(ppl.DataError):
        _bind(N_MODEL, {1: 2})


def test_object_array_of_numbers():
    import numpy as onp
    _bind(N_MODEL, {"N": 3, "y": onp.array([1, 2, 3], dtype=object)})


def test_vector_bound_on_a_param():
    with pytest.raises(ppl.PPLError):
        _bind("data x: real[3]\nparam b: real<lower=x> = 5\nminimize b", {"x": [1, 2, 3]})


def test_bind_a_model_with_nothing_to_fit():
    """Found by the fuzzers (an assertion in build.py), since fixed there."""
    _bind("mu ~ Normal(0, 1)", {})


def test_latent_broadcast_over_the_limit():
    with pytest.raises(ppl.SemanticError):
        _bind("z ~ Normal(ones(9999999, 1), ones(1, 9999999))\nminimize sum(z)", {})


def test_dry_run_prints_no_numpy_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ppl.compile("param a: real = 0\nt = log(a)\nminimize a^2").bind({})
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


HUGE_FILE = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))   # a 10 GB read fails at once
path = Path(sys.argv[1])
with open(path, "wb") as f:
    f.truncate(10 * 2**30)                                        # sparse: no disk space used
import ppl
from ppl.io.datafiles import load_data
try:
    {call}
except ppl.PPLError as err:
    print("PPLError", err.message)
"""


def _huge_file(tmp_path, name, call):
    script = textwrap.dedent(HUGE_FILE).format(call=call)
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], capture_output=True, text=True,
                         timeout=120)
    (tmp_path / name).unlink(missing_ok=True)
    return run


@pytest.mark.skipif(sys.platform != "linux", reason="needs a sparse file and an address-space limit")
def test_ten_gigabyte_data_file(tmp_path):
    run = _huge_file(tmp_path, "big.data.json", "load_data(path)")
    assert run.stdout.startswith("PPLError"), run.stderr[-500:]


@pytest.mark.skipif(sys.platform != "linux", reason="needs a sparse file and an address-space limit")
def test_ten_gigabyte_model_file(tmp_path):
    run = _huge_file(tmp_path, "big.ppl", "ppl.load(path)")
    assert run.stdout.startswith("PPLError"), run.stderr[-500:]


@pytest.mark.parametrize("option, value, most", [("--particles", 10 ** 7, "100,000"), ("--steps", 10 ** 10, "100,000,000"),
                                                 ("--starts", 10 ** 6, "1,024")])
def test_fit_sizes_are_bounded_before_anything_is_allocated(capsys, option, value, most):
    from conftest import MODELS, run_main
    status, out, err = run_main(capsys, "fit", MODELS / "eight_schools.ppl", option, value)
    assert status == 2 and f"argument {option}: must be at most {most}" in err and "Traceback" not in err
    with pytest.raises(ppl.OptionError, match=f"more than the {most} a fit can take"):
        ppl.load(MODELS / "eight_schools.ppl").fit(**{option[2:]: value})


# -- files: whatever a path turns out to be --------------------------------------------------

def _feed_forever(fifo, line):
    """A writer that fills the named pipe `fifo` with `line` until its reader goes away."""
    import threading

    def write():
        try:
            with open(fifo, "wb") as f:
                while True:
                    f.write(line * 4096)
        except (BrokenPipeError, OSError):
            pass
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def _cli(capsys, *argv):
    from conftest import run_main
    status, out, err = run_main(capsys, *argv)
    assert "Traceback" not in err
    return status, err


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_endless_device_is_refused_at_its_first_chunk(capsys, device):
    """A device's size is 0, so no size check stops it: its first chunk holds a NUL byte (every
    chunk of /dev/urandom does, all but surely), which no text file does."""
    from conftest import MODELS
    from ppl.io.datafiles import load_data
    with pytest.raises(ppl.PPLError, match="holds a NUL byte, so it is not text"):
        ppl.load(device)
    with pytest.raises(ppl.DataError, match="holds a NUL byte") as err:
        load_data(device)
    assert str(err.value).startswith(f"{device}:")
    status, err = _cli(capsys, "check", device)
    assert status == 1 and f"{device}:" in err and "the model file holds a NUL byte" in err
    status, err = _cli(capsys, "check", MODELS / "eight_schools.ppl", "--data", device)
    assert status == 1 and "the data file holds a NUL byte" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_an_endless_pipe_is_read_up_to_the_limit_and_no_further(capsys, tmp_path, monkeypatch):
    from conftest import MODELS
    from ppl.io import datafiles
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)
    _feed_forever(fifo, b"x = 1\n")
    with pytest.raises(ppl.PPLError, match=f"holds more than {4 * MAX_SOURCE_CHARS:,} bytes, the limit"):
        ppl.load(fifo)
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 10**6)            # the 2 GiB bound, made small
    _feed_forever(fifo, b"1,")
    status, err = _cli(capsys, "check", MODELS / "eight_schools.ppl", "--data", fifo)
    assert status == 1 and f"{fifo}: data error: the data file holds more than 1,000,000 bytes" in err


@pytest.mark.parametrize("name, raw, where", [
    ("m.ppl", b"param a: real = 0\nminimize a\xff^2\n", "m.ppl:2:11: error: the model file is not UTF-8 text: "
                                                         "byte 0xff at offset 28 (invalid start byte)"),
    ("d.json", b'{"N": 3,\n "y": "\xe2\x82"}', "d.json:2:8: data error: the data file is not UTF-8 text: "
                                                  "byte 0xe2 at offset 16 (invalid continuation byte)"),
    ("d.csv", b"y\n1\n\xc0\xaf\n", "d.csv:3:1: data error: the data file is not UTF-8 text: byte 0xc0 at offset 4"),
    ("r.json", b'{"mode": "vi",\n"seed": \xff}', "r.json:2:9: error: the result file is not UTF-8 text: "
                                                 "byte 0xff at offset 23"),
])
def test_a_file_that_is_not_utf8_is_refused_with_the_byte_and_its_place(capsys, tmp_path, name, raw, where):
    from conftest import MODELS
    path = tmp_path / name
    path.write_bytes(raw)
    model = MODELS / "eight_schools.ppl"
    argv = {"m.ppl": ["check", path], "d.json": ["check", model, "--data", path],
            "d.csv": ["check", model, "--data", path], "r.json": ["sample", model, "--fit", path]}[name]
    status, err = _cli(capsys, *argv)
    assert status == 1 and f"{tmp_path}/{where}" in err and "save it as UTF-8 text" in err
    assert "^" in err                                                  # the line, and a caret under the byte


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_json_nested_a_thousand_deep_is_refused_without_a_recursion_error(capsys, tmp_path, depth):
    from conftest import MODELS
    nested = "[" * depth + "]" * depth
    (tmp_path / "d.json").write_text('{"J": 1, "y": ' + nested + "}")
    (tmp_path / "r.json").write_text('{"mode": "vi", "guide": {"mu.loc": ' + nested + "}}")
    model = MODELS / "eight_schools.ppl"
    for argv in (["check", model, "--data", tmp_path / "d.json"], ["plot", tmp_path / "r.json"],
                 ["gradcheck", model, "--params", tmp_path / "r.json"]):
        status, err = _cli(capsys, *argv)
        assert status == 1 and "the JSON is nested too deeply to read (more than 500 levels here)" in err
        assert ":1:" in err and "RecursionError" not in err


def test_a_number_of_thousands_of_digits_in_json_is_refused(tmp_path):
    from ppl.io.datafiles import load_data
    (tmp_path / "d.json").write_text('{"N":\n ' + "1" * 5000 + "}")
    with pytest.raises(ppl.DataError, match="integer string conversion") as err:
        load_data(tmp_path / "d.json")
    assert err.value.span.line == 2


@pytest.mark.parametrize("header, words", [
    ("y[99999999999999999999999]", "the column 'y[99999999999999999999999]' has an index of 23 digits"),
    ("y[" + "9" * 5000 + "]", "has an index of 5,000 digits, and this file has 1 column"),
    ('"y[0,99999999999]"', "there is no column y[0, 0]"),
    ("y.99999999999999999999999", "'y.99999999999999999999999' is not a column name ppl can use"),
    ('"y[' + ",".join(["0"] * 40) + ']"', "has 40 indices; an array of data has at most 30 besides its rows"),
    ("y[0],y[1],y[000001]", "the column 'y[000001]' appears twice"),
    ("y\n" + "1" * 200_000, "not a CSV file ppl can read: field larger than field limit"),
])
def test_a_csv_header_with_an_absurd_index_is_refused_before_anything_is_allocated(tmp_path, header, words):
    from ppl.io.datafiles import load_data
    (tmp_path / "d.csv").write_text(header + "\n1\n")
    start = time.perf_counter()
    with pytest.raises(ppl.DataError) as err:
        load_data(tmp_path / "d.csv")
    assert words in err.value.message and len(str(err.value)) < 1000
    assert time.perf_counter() - start < 5


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_checkpoint_that_is_a_device_is_refused_before_it_is_read(capsys):
    from conftest import MODELS
    status, err = _cli(capsys, "fit", MODELS / "eight_schools.ppl", "--resume", "/dev/zero", "--quiet")
    assert status == 1 and "/dev/zero: error: the checkpoint file is not a regular file" in err


@pytest.mark.skipif(not hasattr(os, "seteuid"), reason="needs POSIX users")
def test_an_unreadable_file_is_named_with_why(tmp_path):
    """As a user who may not read the file (nobody, for the moment, when the tests run as root)."""
    from ppl.io.datafiles import load_data
    (tmp_path / "m.ppl").write_text("param a: real = 0\nminimize a^2\n")
    (tmp_path / "m.ppl").chmod(0)
    root = os.geteuid() == 0
    if root:
        os.seteuid(65534)
    try:
        with pytest.raises(ppl.PPLError) as model_err:
            ppl.load(tmp_path / "m.ppl")
        with pytest.raises(ppl.DataError) as data_err:
            load_data(tmp_path / "m.ppl")
    finally:
        if root:
            os.seteuid(0)
    assert str(model_err.value) == f"{tmp_path}/m.ppl: error: cannot read model file: Permission denied"
    assert str(data_err.value) == f"{tmp_path}/m.ppl: data error: cannot read data file: Permission denied"


# -- integers, supports and literals in the compiled program ---------------------------------------

@pytest.mark.parametrize("text", ["x = 4294967296 * 4294967296 + 3",
                                  "data n: int = 4294967296\nx = n * n + 3",
                                  "x = -9223372036854775807 - 9"])
def test_integer_arithmetic_that_would_wrap_is_refused(text):
    err = error_of(text + "\nparam a: real = 0\nminimize (a - x)^2\n")
    assert "overflow" in err.message and "2^63 - 1" in err.message
    assert err.hint and "real numbers" in err.hint


def test_integer_arithmetic_within_range_stays_exact():
    fit = ppl.compile("x = 3037000499 * 3037000499\nparam a: real = 0\nminimize (a - 1)^2 + 0 * x\n").fit(seed=0)
    assert fit.convergence["converged"]


@pytest.mark.parametrize("high", ["2^63 - 1", "9223372036854775807"])
def test_a_range_past_the_integers_names_the_bound(high):
    err = error_of(f"data y: real[3]\ns ~ DiscreteUniform(0, {high})\ny ~ Normal(s, 1)\n", {"y": [1.0, 2.0, 3.0]})
    assert "high is 9.223e+18" in err.message and "2^63" in err.message
    assert "<= 0" not in err.message


def test_a_huge_support_is_counted_without_being_made():
    """Binomial(1e9): how many values it takes is known without an array of them."""
    from ppl.distributions import Binomial, DiscreteUniform
    assert Binomial(total_count=10**9, probs=0.5).support_size() == 10**9 + 1
    assert DiscreteUniform(low=0, high=10**15).support_size() == 10**15 + 1


def test_a_global_latent_of_too_many_values_is_refused_with_its_count():
    err = error_of("data y: real[3]\ns ~ DiscreteUniform(0, 1000000000)\ny ~ Normal(s, 1)\n", {"y": [1.0, 2.0, 3.0]})
    assert "1,000,000,001 values" in err.message and "1,000" in err.message


def test_a_categorical_scores_many_draws_without_a_table_per_draw():
    """10,000 draws of a 10^6-category Categorical: log p gathers one number per draw (a table
    broadcast to every draw would be 80 GB)."""
    from ppl.distributions import Categorical
    probs = onp.full(10**6, 1e-6)
    x = onp.arange(10_000) * 97
    lp = Categorical(probs=probs[None]).log_prob(x[:, None])
    assert lp.shape == (10_000, 1) and onp.allclose(lp, onp.log(1e-6))


def test_a_long_array_literal_of_latents_compiles_and_differentiates():
    """An array literal of 5,000 latent-dependent items is one node (`lined.stack`), its gradient
    one column per item."""
    text = "data y: real[3]\nmu ~ Normal(0, 1)\nw = [" + ", ".join(["mu"] * 5000) + "]\ny ~ Normal(mu + mean(w) - mu, 1)\n"
    model = ppl.compile(text)
    value, grads = model.grad(data={"y": [0.1, 0.2, 0.3]}, seed=0)
    assert onp.isfinite(value) and onp.isfinite(grads["mu.loc"])
