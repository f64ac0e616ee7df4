"""How a send worker process is started: the Procfile's worker line, as an argv.

The tests, the benchmarks, the fault script and the dev server start their workers through
`command()`, so what they measure and check is what production runs.

`-OO` drops docstrings and asserts from every module the worker loads. Their code objects are
most of a worker's memory (SQLAlchemy, redis-py and RQ alone are ~14 MiB of bytecode); without
docstrings a worker holds ~5 MiB less: 58.4–59.2 MiB at the peak of a send instead of
62.7–63.5 (issue 16, `bench/send.py`). Nothing a worker runs reads a docstring, and the
project's asserts only narrow types. `scripts/setup` writes the `-OO` bytecode (`.opt-2.pyc`)
beforehand: where it is missing and cannot be written (PYTHONDONTWRITEBYTECODE, a read-only
tree) every start compiles those modules again, which costs time and memory.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PYTHON_FLAGS = ("-OO",)
MODULE = "newsletter.worker"


def command(*args: str, python: Sequence[str] = ()) -> list[str]:
    """The argv of a worker run by this interpreter; `python`: more interpreter options after
    ours (a profiler: `-m cProfile -o FILE`)."""
    return [sys.executable, *PYTHON_FLAGS, *python, "-m", MODULE, *args]


def procfile_line() -> str:
    """The Procfile's worker line this module describes."""
    return f"worker: python {' '.join(PYTHON_FLAGS)} -m {MODULE}"
