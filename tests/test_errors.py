"""Golden error messages, as stanc3 keeps them: every `tests/errors/NAME.ppl` (with its data in
`NAME.data.json`, if any) fails with exactly the text in `NAME.err`, and never with a traceback.

Every case runs in-process through the API: `ppl.load("NAME.ppl").fit(steps=20)` must raise a
`ppl.PPLError` whose `str()` is the golden text, and emit no warning. A handful also run through
the command line in a subprocess (starting one costs about a second): exit status 1, no traceback,
stderr equal to the golden text. Both run with tests/errors as the working directory, so messages
begin with `NAME.ppl:`.

Cases named `subsample_*` fit with a batch size of 2 (`--batch-size 2`), and `subsample_fullrank_*`
with the full-rank guide too.

To regenerate the golden files: `PPL_REGOLD=1 python -m pytest tests/test_errors.py`, then read
every changed message: each must say where (file:line:col and a caret), what is wrong, and what
to do. Cases marked xfail are not rewritten: their `.err` holds the message we want.
"""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import ppl
from ppl.io.wording import as_arguments

ERRORS = Path(__file__).resolve().parent / "errors"
CASES = sorted(p.stem for p in ERRORS.glob("*.ppl"))
REGOLD = os.environ.get("PPL_REGOLD") == "1"
STEPS = "20"

# Bugs outside the files that produce the messages (build.py, expr.py, runtime_checks.py, fit.py).
XFAIL = {}   # case -> reason, for a message known to be wrong

# Run through the command line as well: one per kind of error, and the xfail that only a
# subprocess sees (a warning printed on stderr).
CLI_CASES = ["syntax_unclosed_paren", "unknown_name", "missing_data", "data_invalid_json", "data_null",
             "fit_nonfinite", "nothing_to_fit", "fit_nonfinite_warning", "subsample_mixes_rows"]
BATCH = 2      # the batch size of the subsample_* cases


def _options(name):
    return {"batch_size": BATCH} if name.startswith("subsample_") else {}


def _compiled(name):
    return {"guide": "fullrank"} if name.startswith("subsample_fullrank_") else {}


def _flags(name):
    return [f"--{k.replace('_', '-')}={v}" for k, v in {**_options(name), **_compiled(name)}.items()]


def _cases(names):
    return [pytest.param(name, marks=pytest.mark.xfail(reason=XFAIL[name])) if name in XFAIL else name
            for name in names]


def _golden(name):
    path = ERRORS / f"{name}.err"
    return path.read_text() if path.exists() else None


@pytest.mark.parametrize("name", _cases(CASES))
def test_message(name, monkeypatch):
    monkeypatch.chdir(ERRORS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ppl.PPLError) as info:
            ppl.load(f"{name}.ppl", **_compiled(name)).fit(steps=int(STEPS), **_options(name))
    message = str(info.value) + "\n"
    if REGOLD and name not in XFAIL and message == as_arguments(message):   # names no option: both say it so
        (ERRORS / f"{name}.err").write_text(message)
    assert message == as_arguments(_golden(name))     # the golden text is the command line's; the API names arguments
    hidden = (DeprecationWarning, PendingDeprecationWarning)   # not shown by default, so never on stderr
    assert not [str(w.message) for w in caught if not issubclass(w.category, hidden)]


@pytest.fixture(scope="module")
def cli_runs():
    """Start every command-line case at once (they are independent), then collect them."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(ppl.__file__).resolve().parents[1]),
                                                      env.get("PYTHONPATH")]))
    procs = {name: subprocess.Popen([sys.executable, "-m", "ppl.cli", "fit", f"{name}.ppl", "--steps", STEPS,
                                     "--quiet", *_flags(name)], cwd=ERRORS, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name in CLI_CASES}
    return {name: (p.communicate(timeout=120), p.returncode) for name, p in procs.items()}


@pytest.mark.parametrize("name", _cases(CLI_CASES))
def test_command_line(name, cli_runs):
    (out, err), status = cli_runs[name]
    assert "Traceback" not in err
    assert status == 1
    assert err == _golden(name)
    assert out == ""
