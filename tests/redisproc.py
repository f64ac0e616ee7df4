"""A throwaway redis-server's command line: loopback only, nothing kept on disk (no RDB
snapshot, no AOF), its files in a directory of the caller's. For the tests and scripts
that must stop, kill or restart a Redis of their own (the shared one on 6379 is not
theirs to kill)."""

from __future__ import annotations

from pathlib import Path


def server_argv(directory: str | Path, *options: str) -> list[str]:
    """`redis-server` with `options` after the defaults (e.g. "--port", "6390")."""
    return [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        *options,
    ]
