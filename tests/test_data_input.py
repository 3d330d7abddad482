"""Data input: JSON in Stan's layout, CSV (columns become vectors, `X[j]` columns a matrix),
several --data files merged, defaults in the model, and errors that name the variable and the
line of its declaration (or the CSV file's line)."""
import json

import numpy as onp
import pytest

import ppl
from ppl.io.datafiles import load_csv, load_data
from conftest import MODELS, run_main

REGRESSION = """\
data N: int
data D: int = 2
data X: real[N, D]
data y: real[N]
data w: real[N] = ones(N)
alpha ~ Normal(0, 10)
beta: real[D] ~ Normal(0, 5)
y ~ Normal(alpha + X @ beta, 1)
"""




@pytest.fixture
def files(tmp_path):
    (tmp_path / "m.ppl").write_text(REGRESSION)
    (tmp_path / "sizes.json").write_text(json.dumps({"N": 4}))
    (tmp_path / "obs.csv").write_text("y,X[0],X[1]\n1.5,1,0\n2,0,1\n-0.5,1,1\n3,2,0.5\n")
    return tmp_path


def test_csv_columns_become_vectors_and_matrices(files):
    data = load_csv(files / "obs.csv")
    assert data == {"y": [1.5, 2, -0.5, 3], "X": [[1, 0], [0, 1], [1, 1], [2, 0.5]]}


def test_merge_and_bind(files):
    model = ppl.load(files / "m.ppl")
    values, _ = ppl.back.data.bind(model.ir, load_data([files / "sizes.json", files / "obs.csv"]))
    assert values["N"] == 4 and values["D"] == 2                       # D from its default
    onp.testing.assert_array_equal(values["X"], [[1, 0], [0, 1], [1, 1], [2, 0.5]])
    onp.testing.assert_array_equal(values["w"], onp.ones(4))            # a default computed from N


def test_cli_data_given_twice(cli, files):
    r = cli("fit", files / "m.ppl", "--data", files / "sizes.json", "--data", files / "obs.csv",
            "--steps", 50, "--quiet", "--out", files / "r.json")
    assert r.returncode == 0, r.stderr
    result = json.loads((files / "r.json").read_text())
    assert result["data"] == [str(files / "sizes.json"), str(files / "obs.csv")]
    # the same fit through the API, from the same two files
    api = ppl.load(files / "m.ppl").fit([str(files / "sizes.json"), str(files / "obs.csv")], steps=50)
    assert json.loads(json.dumps(api.to_json())) == result


def test_stan_json_layout(capsys, tmp_path):
    (tmp_path / "m.ppl").write_text("data N: int\ndata M: real[N, 2]\nmu ~ Normal(0, 1)\nM ~ Normal(mu, 1)\n")
    (tmp_path / "d.json").write_text('{"N": 2, "M": [[1, 2], [3, 4.5]]}')
    status, out, err = run_main(capsys, "check", tmp_path / "m.ppl", "--data", tmp_path / "d.json")
    assert status == 0, err
    assert out.endswith(": ok (vi; 1 stochastic statement)\n")


# ------------------------------------------------------------------ errors

def check_error(capsys, files, *data, expect):
    argv = ["check", files / "m.ppl"]
    for d in data:
        argv += ["--data", files / d]
    status, out, err = run_main(capsys, *argv)
    assert status == 1 and out == "", err
    assert "Traceback" not in err
    for text in expect:
        assert text in err, err
    return err


def test_missing_column_names_the_variable_and_its_line(capsys, files):
    (files / "xonly.csv").write_text("X[0],X[1]\n1,0\n0,1\n1,1\n2,0\n")
    err = check_error(capsys, files, "sizes.json", "xonly.csv",
                      expect=["m.ppl:4:1: data error: no data for 'y'", "4 | data y: real[N]"])
    assert "add 'y'" in err


def test_wrong_type_names_the_element(capsys, files):
    (files / "bad.csv").write_text("y,X[0],X[1]\n1.5,1,0\n2,0,1\nabc,1,1\n3,2,0.5\n")
    check_error(capsys, files, "sizes.json", "bad.csv",
                expect=["m.ppl:4:1: data error: y[2] is the text 'abc'; data must be numbers"])


def test_missing_cell_is_a_missing_value(capsys, files):
    (files / "gap.csv").write_text("y,X[0],X[1]\n1.5,1,0\n,0,1\n-0.5,1,1\n3,2,0.5\n")
    check_error(capsys, files, "sizes.json", "gap.csv", expect=["y[1] is nan", "missing values"])


def test_ragged_csv_row(capsys, files):
    (files / "ragged.csv").write_text("y,X[0],X[1]\n1.5,1,0\n2,0\n")
    check_error(capsys, files, "sizes.json", "ragged.csv",
                expect=["ragged.csv:3:1: data error: this row has 2 fields, but the header names 3 columns"])


def test_ragged_json_array(capsys, files):
    (files / "ragged.json").write_text('{"N": 4, "y": [1, 2, 3, 4], "X": [[1, 0], [0, 1], [1], [2, 0]]}')
    check_error(capsys, files, "ragged.json",
                expect=["m.ppl:3:1: data error: 'X' is a ragged array: X[2] has 1 element, but X[0] has 2 elements"])


def test_wrong_shape(capsys, files):
    (files / "short.json").write_text('{"N": 5}')
    check_error(capsys, files, "short.json", "obs.csv", expect=["'X' has shape (4, 2)", "since N = 5", "m.ppl:3:1"])


def test_name_in_two_files(capsys, files):
    (files / "more.json").write_text('{"N": 4, "y": [0, 0, 0, 0]}')
    check_error(capsys, files, "more.json", "obs.csv", expect=["'y' is given twice, in", "more.json", "obs.csv"])


@pytest.mark.parametrize("header, message", [
    ("y,y\n1,2\n", "the column 'y' appears twice"),
    ("y,2x\n1,2\n", "'2x' is not a column name"),
    ("X[0],X[2]\n1,2\n", "there is no column X[1]"),
    ("X,X[0]\n1,2\n", "mix different numbers of indices"),
    ("", "the CSV file is empty"),
])
def test_csv_header_errors(tmp_path, header, message):
    (tmp_path / "d.csv").write_text(header)
    with pytest.raises(ppl.DataError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        load_csv(tmp_path / "d.csv")
    assert str(info.value).startswith(str(tmp_path / "d.csv"))


def test_bundled_data_still_found():
    fit = ppl.load(MODELS / "eight_schools.ppl").fit(steps=5)
    assert fit.to_json()["data"] == str(MODELS / "eight_schools.data.json")
