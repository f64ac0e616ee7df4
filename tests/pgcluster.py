"""A PostgreSQL cluster of one's own (initdb + pg_ctl as user postgres, its own port and
data directory under /tmp), for tests and scripts that stop and start the database."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

from sqlalchemy import create_engine, text

from newsletter.devsmtp import free_port

# Debian's server binaries (the newest installed version); not on PATH.
PG_BIN = max(
    glob.glob("/usr/lib/postgresql/*/bin"),
    default="/usr/lib/postgresql/15/bin",
    key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
)
AS_POSTGRES = ["runuser", "-u", "postgres", "--"]


class PgCluster:
    def __init__(self) -> None:
        self.base = tempfile.mkdtemp(prefix="nlpg-")
        shutil.chown(self.base, "postgres")
        self.data, self.port = os.path.join(self.base, "data"), free_port()
        subprocess.run(
            AS_POSTGRES + [f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "root"],
            check=True,
            capture_output=True,
        )
        self.start()
        admin = create_engine(
            f"postgresql+psycopg://root@127.0.0.1:{self.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE test"))
        admin.dispose()
        self.url = f"postgresql+psycopg://root@127.0.0.1:{self.port}/test"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            AS_POSTGRES
            + [
                f"{PG_BIN}/pg_ctl",
                "-D",
                self.data,
                "-o",
                opts,
                "-l",
                os.path.join(self.base, "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            AS_POSTGRES + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
            check=True,
            capture_output=True,
        )

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)
