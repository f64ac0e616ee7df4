"""Child processes of a benchmark that never outlive it.

Each child runs in a process group of its own (so a worker's RQ scheduler child goes with
it) and is stopped with SIGTERM to the group, then SIGKILL after a grace period: from
`stop()`, from atexit, and when the benchmark itself gets SIGTERM or SIGHUP (turned into
SystemExit so `finally` blocks and atexit run). A child's own signal dispositions are its
business (bench/sink.py resets them), but SIGKILL needs no cooperation.
"""

from __future__ import annotations

import atexit
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Exited:
    status: int
    cpu_s: float  # user + system CPU of the child and its reaped children
    maxrss_kib: int


class Children:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        atexit.register(self.stop_all)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _exit_on_signal)

    def start(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        if proc.poll() is None:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # The group may still hold grandchildren (RQ's scheduler) after the leader exited.
        _killpg(proc.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def wait_rusage(self, proc: subprocess.Popen, poll: float = 0.2, on_tick=None) -> Exited:
        """Wait for a child and return its CPU time and peak RSS (from wait4)."""
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                _killpg(proc.pid, signal.SIGKILL)
                if proc in self.procs:
                    self.procs.remove(proc)
                return Exited(proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
            if on_tick:
                on_tick()
            time.sleep(poll)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def self_cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
