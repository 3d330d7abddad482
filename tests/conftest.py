"""Shared helpers: where the repository's models are, and how to run the `ppl` command.

The command runs in a subprocess as `python -m ppl.cli`, importing the same `ppl` package as the
test process (from the source tree or from an installed copy), so the suite works either way.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ppl
from ppl import cli as ppl_cli

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
PKG_PARENT = Path(ppl.__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PKG_PARENT), *filter(None, [env.get("PYTHONPATH")])])
    return env


class CLI:
    """Runs `ppl ARGS...`; `many` runs several commands at once (the machine has spare cores)."""

    def __init__(self, cwd):
        self.cwd = cwd

    def __call__(self, *args, timeout=120):
        return self.many([args], timeout=timeout)[0]

    def many(self, commands, timeout=120):
        procs = [subprocess.Popen([sys.executable, "-m", "ppl.cli", *map(str, args)], cwd=self.cwd, env=_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in commands]
        results = []
        for args, p in zip(commands, procs):
            out, err = p.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess([str(a) for a in args], p.returncode, out, err))
        return results


@pytest.fixture
def cli(tmp_path):
    """`cli("fit", MODEL, ...)` -> CompletedProcess, run in a fresh temporary directory."""
    return CLI(tmp_path)


@pytest.fixture(scope="module")
def module_cli(tmp_path_factory):
    return CLI(tmp_path_factory.mktemp("cli"))


def read_json(path):
    with open(path) as f:
        return json.load(f)


def run_main(capsys, *argv):
    """(status, stdout, stderr) of `ppl ARGV` in-process; argparse's SystemExit becomes a status."""
    try:
        status = ppl_cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err
