"""Data from `.npy` files: memory-mapped, checked block by block, never copied whole; a subsampled
fit of mapped data reads only its minibatches."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ppl
from ppl.back import data as data_module
from ppl import model as model_module
from ppl.infer.checkpoint import fingerprint
from ppl.io.datafiles import load_data
from conftest import ROOT

LOGISTIC = """
data N: int
data D: int
data X: real[N, D]
data y: int[N]
beta: real[D] ~ Normal(0, 5)
y ~ Bernoulli(logits=X @ beta)
"""


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3))
    y = (rng.random(3000) < 1 / (1 + np.exp(-X @ np.array([1.0, -1.0, 0.5])))).astype(np.int64)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, X, y


def test_npy_files_are_memory_mapped_and_named_by_the_file(files):
    path, X, y = files
    data = load_data([path / "X.npy", path / "y.npy", {"N": 3000, "D": 3}])
    assert isinstance(data["X"], np.memmap) and isinstance(data["y"], np.memmap)
    np.testing.assert_array_equal(data["X"], X)
    fit = ppl.compile(LOGISTIC).fit(data, steps=300, seed=0)        # a full-data fit reads them too
    assert fit.summary(as_dict=True)["beta"]["mean"].shape == (3,)


def test_mapped_data_are_checked_block_by_block_with_the_right_index(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "BLOCK", 10)                # many blocks for a small file
    values = np.zeros(100)
    values[57] = np.nan
    np.save(tmp_path / "y.npy", values)
    model = ppl.compile("data N: int\ndata y: real[N]\nmu ~ Normal(0, 1)\ny ~ Normal(mu, 1)")
    with pytest.raises(ppl.DataError, match=r"y\[57\] is nan") as err:
        model.fit(load_data([tmp_path / "y.npy", {"N": 100}]), steps=5)
    assert str(err.value).startswith("<model>:2:1:")              # the declaration's position
    values[57] = 2.5
    np.save(tmp_path / "y.npy", values)
    ints = ppl.compile("data N: int\ndata y: int[N]\nmu ~ Normal(0, 1)\ny ~ Poisson(exp(mu))")
    with pytest.raises(ppl.DataError, match=r"declared int, but y\[57\] = 2.5"):
        ints.fit(load_data([tmp_path / "y.npy", {"N": 100}]), steps=5)
    bounded = ppl.compile("data N: int\ndata y: real<upper=1>[N]\nmu ~ Normal(0, 1)\ny ~ Normal(mu, 1)")
    with pytest.raises(ppl.DataError, match=r"y\[57\] = 2.5 is above its upper bound"):
        bounded.fit(load_data([tmp_path / "y.npy", {"N": 100}]), steps=5)


def test_bad_npy_files_get_clear_errors(tmp_path):
    np.save(tmp_path / "bad-name.npy", np.zeros(3))
    with pytest.raises(ppl.DataError, match="cannot name a data value"):
        load_data(tmp_path / "bad-name.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ppl.DataError, match="not a .npy array of numbers"):    # no pickle, no code
        load_data(tmp_path / "objects.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ppl.DataError, match="not a .npy array of numbers"):
        load_data(tmp_path / "junk.npy")


def test_fingerprint_names_a_mapped_file_and_sees_it_change(files):
    path, X, _ = files
    before = fingerprint("model", load_data([path / "X.npy", {"N": 3000}]), {})
    assert fingerprint("model", load_data([path / "X.npy", {"N": 3000}]), {}) == before
    np.save(path / "X.npy", X[:100])                 # another file under the same name
    assert fingerprint("model", load_data([path / "X.npy", {"N": 3000}]), {}) != before


def test_subsampled_fit_of_mapped_data_too_large_to_summarize(files, monkeypatch):
    path, _, _ = files
    monkeypatch.setattr(model_module, "FULL_SUMMARY_ELEMENTS", 1000)
    data = load_data([path / "X.npy", path / "y.npy", {"N": 3000, "D": 3}])
    fit = ppl.compile(LOGISTIC.replace("beta: real[D] ~ Normal(0, 5)", "beta: real[D] ~ Normal(0, 5)\n"
                                       "eta = X @ beta")).fit(data, steps=1500, seed=0, batch_size=100)
    np.testing.assert_allclose(fit.summary(as_dict=True)["beta"]["mean"], [1.0, -1.0, 0.5], atol=0.25)
    assert "eta" not in fit.summary(as_dict=True)                       # one value per row: not summarized
    assert any("too large to summarize whole" in w and "'eta'" in w for w in fit.warnings)


def test_cli_reads_npy_data(files, tmp_path):
    path, _, _ = files
    (tmp_path / "m.ppl").write_text(LOGISTIC)
    (tmp_path / "sizes.json").write_text(json.dumps({"N": 3000, "D": 3}))
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(tmp_path / "m.ppl"), "--data", str(path / "X.npy"),
                        "--data", str(path / "y.npy"), "--data", str(tmp_path / "sizes.json"), "--batch-size", "200",
                        "--steps", "1000", "--quiet", "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    beta = json.loads(out.read_text())["latents"]["beta"]["mean"]
    np.testing.assert_allclose(beta, [1.0, -1.0, 0.5], atol=0.3)


@pytest.mark.parametrize("file, content, message", [
    ("junk.npy", b"not numpy", "junk.npy: data error: cannot read data file: it is not a .npy array of numbers\n"),
    ("bad-name.npy", None, "bad-name.npy: data error: 'bad-name.npy' cannot name a data value: the file's name must "
                           "be the value's name\n"),
])
def test_bad_npy_files_on_the_command_line(tmp_path, file, content, message):
    if content is None:
        np.save(tmp_path / file, np.zeros(3))
    else:
        (tmp_path / file).write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "ppl.cli", "fit", str(ROOT / "models" / "eight_schools.ppl"),
                        "--data", file, "--quiet"], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(message), r.stderr
