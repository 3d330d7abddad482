"""The `ppl` command: check, compile (--explain, --pass), exit statuses, --estimator.

Behaviour that needs a real process (exit status, streams, no traceback) runs `python -m ppl.cli`
in a subprocess; the many-cases tables call `ppl.cli.main(argv)` in-process, which is the same code
minus the interpreter start-up.
"""
import json
import re

import pytest

import ppl
from conftest import MODELS, read_json, run_main

MODEL_FILES = sorted(MODELS.glob("*.ppl"))




def rows(explain_text):
    """Explain output -> {statement name: row text}; the first line is the '# mode:' header."""
    lines = explain_text.strip().splitlines()
    assert lines[0].startswith("# mode: ")
    table = {}
    for line in lines[1:]:
        name = re.match(r"(\w+)", line).group(1)
        table[name] = line
    return table


# ------------------------------------------------------------------ check

def test_check_subprocess(cli):
    r = cli("check", MODELS / "eight_schools.ppl")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert re.fullmatch(r".*eight_schools.ppl: ok \(vi; 3 stochastic statements\)\n", r.stdout), r.stdout


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_check_every_model(capsys, model_file):
    status, out, err = run_main(capsys, "check", model_file)
    assert status == 0, err
    assert f": ok ({ppl.load(model_file).mode};" in out


def test_check_rejects_bad_data(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"J": 8, "y": [1, 2, 3], "sigma": [1] * 8}))      # y has 3 entries, not J
    r = cli("check", MODELS / "eight_schools.ppl", "--data", bad)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "Traceback" not in r.stderr and "error" in r.stderr and "y" in r.stderr


def test_model_error_exits_1_without_traceback(cli, tmp_path):
    broken = tmp_path / "broken.ppl"
    broken.write_text("mu ~ Normal(0, 1)\ny ~ Normal(muu, 1)\nminimize y\n")
    r = cli("check", broken)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert "broken.ppl:2:" in r.stderr and "muu" in r.stderr


def test_missing_model_file_exits_1(capsys, tmp_path):
    status, out, err = run_main(capsys, "fit", tmp_path / "missing.ppl")
    assert status == 1
    assert "missing.ppl" in err and out == ""


# ------------------------------------------------------------------ compile --explain

def test_explain_eight_schools_subprocess(cli):
    r = cli("compile", MODELS / "eight_schools.ppl", "--explain")
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert r.stdout.startswith("# mode: vi\n")
    assert set(table) == {"mu", "tau", "theta_raw", "theta", "y"}
    for name in ("mu", "tau", "theta_raw"):
        assert re.search(r"\bpathwise\b", table[name]), table[name]
        assert "score" not in table[name]
        assert f"{name} = " in table[name]                       # the pathwise form is printed
    assert "exp(" in table["tau"]                                   # positive support: log-normal guide
    assert "deterministic" in table["theta"]
    assert "observed" in table["y"]


def test_explain_bits(cli, capsys):
    """By default the bits are summed out (enumerate); forced, they get the score function."""
    auto = cli("compile", MODELS / "bits.ppl", "--explain")
    status, score, _ = run_main(capsys, "compile", MODELS / "bits.ppl", "--explain", "--estimator", "score")
    assert auto.returncode == 0 and status == 0, auto.stderr
    for out in (auto.stdout, score):
        assert out.startswith("# mode: optimize\n")
        assert "minimize" in rows(out)
    z = rows(auto.stdout)["z"]
    assert re.search(r"\benumerate\b", z) and "score" not in z and "pathwise" not in z
    z = rows(score)["z"]
    assert re.search(r"\bscore\b", z) and "pathwise" not in z and "enumerate" not in z
    assert "log p(z)" in z
    assert "C = sum((z - 0.45) ^ 2)" in z


def test_explain_mixture_mixes_estimators(capsys):
    status, out, _ = run_main(capsys, "compile", MODELS / "mixture.ppl", "--explain")
    assert status == 0
    table = rows(out)
    assert "pathwise" in table["mu"] and "score" not in table["mu"]
    assert re.search(r"\benumerate\b", table["z"]) and "pathwise" not in table["z"]
    status, out, _ = run_main(capsys, "compile", MODELS / "mixture.ppl", "--explain", "--estimator", "z=score")
    assert status == 0
    table = rows(out)
    assert re.search(r"\bscore\b", table["z"]) and "log q(z)" in table["z"]
    assert "pathwise" in table["mu"]


def test_explain_estimator_override(capsys):
    status, out, _ = run_main(capsys, "compile", MODELS / "eight_schools.ppl", "--explain", "--estimator", "tau=score")
    assert status == 0
    table = rows(out)
    assert re.search(r"\bscore\b", table["tau"])
    # Rao-Blackwellization: tau's score is multiplied by its own terms and y's, not mu's or theta_raw's
    cost = table["tau"].split("C = ")[1]
    assert "p(y)" in cost and "p(mu)" not in cost and "p(theta_raw)" not in cost
    assert "pathwise" in table["mu"] and "pathwise" in table["theta_raw"]


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_explain_matches_api(capsys, model_file):
    status, out, _ = run_main(capsys, "compile", model_file, "--explain")
    assert status == 0
    assert out == ppl.load(model_file).explain() + "\n"


# ------------------------------------------------------------------ compile --pass

DECL = r"(data|param) \w+: .+"
STMT = (r"(observe )?\w+(\[[^\]]*\])?(: \w+)? ~ [A-Z]\w*\(.*\)( truncated)?|\w+ = .+|(minimize|maximize) .+"
        r"|target \+= .+|for \w+ in \S+:\S+ \{|  .+|\}")


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_pass_parse_round_trips(capsys, model_file):
    """The parse pass prints source text: it compiles again, to the same program."""
    status, out, _ = run_main(capsys, "compile", model_file, "--pass", "parse")
    assert status == 0
    again = ppl.compile(out)
    assert str(again.ast) + "\n" == out
    original = ppl.load(model_file)
    assert again.mode == original.mode
    assert str(again.ir) == str(original.ir)


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_pass_check_lists_names_with_lines(capsys, model_file):
    status, out, _ = run_main(capsys, "compile", model_file, "--pass", "check")
    assert status == 0
    lines = out.strip().splitlines()
    model = ppl.load(model_file)
    assert lines[0] == f"# mode: {model.mode}"
    source = model_file.read_text().splitlines()
    names = set()
    for line in lines[1:]:
        m = re.fullmatch(r"(\w+): (data|param|latent|deterministic)( \w+)? \(line (\d+)\)", line)
        assert m, line
        name, lineno = m.group(1), int(m.group(4))
        # the line number points at the statement that defines the name
        assert re.match(rf"\s*((data|param)\s+)?{name}\b", source[lineno - 1]), (line, source[lineno - 1])
        names.add(name)
    assert len(names) == len(lines) - 1


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_pass_lower_and_guide_are_statement_lines(capsys, model_file):
    _, lower, _ = run_main(capsys, "compile", model_file, "--pass", "lower")
    status, guided, _ = run_main(capsys, "compile", model_file, "--pass", "guide")
    assert status == 0
    model = ppl.load(model_file)
    low = lower.strip().splitlines()
    assert low[0] == f"# mode: {model.mode}"
    for line in low[1:]:
        assert re.fullmatch(f"{DECL}|{STMT}", line), line
    # the guide pass is the lowered program plus one guide line per latent (inference mode only)
    g = guided.strip().splitlines()
    assert g[:len(low)] == low
    extra = g[len(low):]
    if extra and extra[0].startswith("# guide: "):           # the guide family, e.g. meanfield
        extra = extra[1:]
    # every latent in inference mode (the rewrite pass, later, drops the guides of latents it sums out)
    # (a discrete latent with nothing a guide could learn, such as DiscreteUniform, gets none)
    statements = {s.name: s for s in model.ir.body if hasattr(s, "name")}
    latents = [s.name for s in model.rewritten.sites
               if not (statements[s.name].family.discrete and statements[s.name].family.guide_arg is None)] \
        if model.mode == "vi" else []
    guided_names = []
    for line in extra:
        m = re.fullmatch(r"guide (\w+) ~ [A-Z]\w*\(.+\)", line)
        assert m, line
        guided_names.append(m.group(1))
    assert guided_names == latents


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda p: p.stem)
def test_pass_rewrite_is_explain(capsys, model_file):
    status, out, _ = run_main(capsys, "compile", model_file, "--pass", "rewrite")
    assert status == 0
    _, explained, _ = run_main(capsys, "compile", model_file, "--explain")
    assert out == explained


def test_pass_subprocess(cli):
    r = cli("compile", MODELS / "mixture.ppl", "--pass", "parse")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("data N: int\n")
    assert str(ppl.compile(r.stdout).ast) + "\n" == r.stdout


# ------------------------------------------------------------------ usage errors

USAGE_ERRORS = [
    (),
    ("fit",),
    ("frobnicate", "models/bits.ppl"),
    ("fit", "MODEL", "--steps", "0"),
    ("fit", "MODEL", "--steps", "ten"),
    ("fit", "MODEL", "--particles", "0"),
    ("fit", "MODEL", "--estimator", "magic"),
    ("fit", "MODEL", "--estimator", "tau=magic"),
    ("fit", "MODEL", "--baseline", "median"),
    ("compile", "MODEL", "--pass", "optimize"),
    ("check", "MODEL", "--no-such-flag"),
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda a: " ".join(a) or "nothing")
def test_usage_errors_exit_2(capsys, argv):
    argv = [str(MODELS / "bits.ppl") if a == "MODEL" else a for a in argv]
    status, out, err = run_main(capsys, *argv)
    assert status == 2
    assert "usage:" in err and out == ""


def test_usage_error_subprocess(cli):
    r = cli("fit", MODELS / "bits.ppl", "--steps", "0")
    assert r.returncode == 2
    assert "usage:" in r.stderr and "Traceback" not in r.stderr and r.stdout == ""


# ------------------------------------------------------------------ fit --estimator

def test_estimator_flag_changes_json(cli, tmp_path):
    """(The default, all pathwise, is checked on the JSON of every bundled model in test_fit.py.)"""
    outs = [tmp_path / f"{k}.json" for k in ("score", "tau")]
    runs = cli.many([
        ("fit", MODELS / "eight_schools.ppl", "--steps", 30, "--quiet", "--estimator", "score", "--out", outs[0]),
        ("fit", MODELS / "eight_schools.ppl", "--steps", 30, "--quiet", "--estimator", "tau=score", "--out", outs[1]),
    ])
    for r in runs:
        assert r.returncode == 0, r.stderr
    score, tau = (read_json(o)["estimators"] for o in outs)
    assert score == {"mu": "score", "tau": "score", "theta_raw": "score"}
    assert tau == {"mu": "pathwise", "tau": "score", "theta_raw": "pathwise"}
    # the table printed to stdout names the estimator of each latent too
    assert re.search(r"^tau .*\bscore$", runs[0].stdout, re.M)
    assert re.search(r"^mu .*\bpathwise$", runs[1].stdout, re.M)


def test_estimator_unknown_latent_is_a_model_error(capsys):
    status, out, err = run_main(capsys, "fit", MODELS / "eight_schools.ppl", "--steps", 5, "--estimator", "nope=score")
    assert status == 1
    assert "nope" in err
