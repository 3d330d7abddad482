"""Options: each default has one home (FitOptions, CompileOptions) which the command line reads,
every bad value is refused before anything runs with one error class naming the argument, and
fit never compiles the model again behind the caller's back."""
import dataclasses

import pytest

import ppl
from conftest import MODELS
from ppl import cli
from ppl.infer.options import FitOptions
from ppl.middle.options import CompileOptions

EIGHT = MODELS / "eight_schools.ppl"


@pytest.mark.parametrize("argument, value, message", [
    ("steps", -1, "steps must be a positive integer, not -1"),
    ("steps", 1.5, "steps must be a positive integer, not 1.5"),
    ("steps", True, "steps must be a positive integer, not True"),
    ("particles", 0, "particles must be a positive integer, not 0"),
    ("checkpoint_every", 0, "checkpoint_every must be a positive integer, not 0"),
    ("chunk", -1, "chunk must be a positive integer, not -1"),
    ("starts", 0, "starts must be a positive integer, not 0"),
    ("batch_size", 0, "batch_size must be a positive integer, not 0"),
    ("tol", -1, "tol must be a positive number, not -1"),
    ("lr", float("nan"), "lr must be a positive number, not nan"),
    ("seed", -1, "seed must be a non-negative integer, not -1"),
    ("optimizer", "newton", "optimizer must be one of 'auto', 'lbfgs', 'adam', not 'newton'"),
    ("baseline", "mean", "baseline must be one of 'auto', 'loo', 'average', 'none', not 'mean'"),
    ("stl", "yes", "stl must be True or False, not 'yes'"),
])
def test_fit_refuses_a_bad_option_naming_it(argument, value, message):
    model = ppl.load(EIGHT)
    with pytest.raises(ppl.OptionError) as err:
        model.fit(**{argument: value})
    assert err.value.message == message
    assert isinstance(err.value, ValueError) and isinstance(err.value, ppl.PPLError)


@pytest.mark.parametrize("argument, value", [("estimator", "reinforce"), ("estimator", {"mu": "exact"}),
                                             ("rao_blackwell", "row"), ("guide", "diagonal")])
def test_compile_refuses_a_bad_option_naming_it(argument, value):
    with pytest.raises(ppl.OptionError, match=f"^{argument}"):
        ppl.load(EIGHT, **{argument: value})


def test_fit_never_compiles_again():
    model = ppl.load(EIGHT)
    with pytest.raises(ppl.OptionError, match="compiled with guide 'meanfield'") as err:
        model.fit(guide="fullrank")
    assert "with_options(guide='fullrank')" in err.value.hint
    assert model.fit(guide="meanfield", steps=5).convergence is not None     # the compiled one is fine
    assert model.with_options(guide="fullrank").options == CompileOptions(guide="fullrank")


def test_the_command_line_takes_its_defaults_from_the_options():
    args = cli._parser().parse_args(["fit", "m.ppl"])
    defaults = FitOptions()
    for field in dataclasses.fields(FitOptions):
        if hasattr(args, field.name):
            assert getattr(args, field.name) == getattr(defaults, field.name), field.name
    compiled = CompileOptions()
    assert (args.estimator, args.rao_blackwell, args.guide) == (compiled.estimator, compiled.rao_blackwell,
                                                               compiled.guide)


def test_the_fingerprint_hashes_what_changes_the_result(tmp_path):
    """A checkpoint resumes with another chunk (the result is the same bit for bit), but not with
    another learning rate."""
    model = ppl.load(EIGHT)
    calls = iter(range(10 ** 6))
    model.fit(optimizer="adam", steps=40, checkpoint=tmp_path / "c.npz", stop=lambda: next(calls) == 10)
    resumed = model.fit(optimizer="adam", steps=40, chunk=1, resume=tmp_path / "c.npz")
    assert resumed.to_json() == model.fit(optimizer="adam", steps=40).to_json()
    with pytest.raises(ppl.PPLError, match="belongs to another model"):
        model.fit(optimizer="adam", steps=40, lr=0.01, resume=tmp_path / "c.npz")
    assert "chunk" not in FitOptions().result_options() and "lr" in FitOptions().result_options()
