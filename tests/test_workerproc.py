"""The worker's start: the Procfile's line is workerproc's, and the worker runs under -OO."""

from __future__ import annotations

import subprocess
import sys

from newsletter import workerproc
from tests.conftest import ROOT


def test_the_procfile_starts_the_worker_as_workerproc_describes():
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert workerproc.procfile_line() in lines
    assert workerproc.procfile_line() == "worker: python -OO -m newsletter.worker"


def test_the_worker_starts_under_dash_OO():
    # Without docstrings its --help still works (it once read __doc__.splitlines()).
    done = subprocess.run(
        workerproc.command("--help"), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--burst" in done.stdout


def test_more_interpreter_options_go_after_ours():
    argv = workerproc.command("--burst", python=["-m", "cProfile", "-o", "w.prof"])
    assert argv == [
        sys.executable,
        "-OO",
        "-m",
        "cProfile",
        "-o",
        "w.prof",
        "-m",
        "newsletter.worker",
        "--burst",
    ]
