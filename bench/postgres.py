"""A throwaway PostgreSQL server on loopback for the test homeserver (``bench/launch.py
--synapse-db postgres``): Synapse's documentation asks for PostgreSQL in production, and on SQLite
it runs every database transaction on one connection. Needs PostgreSQL's server programs
(``initdb``, ``pg_ctl``; Debian's ``postgresql`` package) and installs ``psycopg2-binary`` into the
homeserver's venv. PostgreSQL refuses to run as root: as root, the server runs as the
``postgres`` system user, in a directory of its own under the system's temporary directory
(the benchmark's work directory is private to root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.ops.localserver import free_port, synapse_python

DATABASE = "synapse"


def _find(program: str) -> str:
    found = shutil.which(program) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {program} is not installed (Debian: apt-get install postgresql)")
    return found


@dataclass
class LocalPostgres:
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="organizer-postgres-")))
    port: int = field(default_factory=free_port)

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True)

    def start(self) -> LocalPostgres:
        data = self.directory / "pgdata"
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if os.geteuid() == 0:
            ids = pwd.getpwnam("postgres")
            os.chown(self.directory, ids.pw_uid, ids.pw_gid)
        self._run(_find("initdb"), "-D", str(data), "-U", "synapse", "--auth=trust", "--encoding=UTF8",
                  "--locale=C")
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.directory} -c fsync=on"
        self._run(_find("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "postgres.log"),
                  "-w", "start")
        self._run(_find("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "synapse",
                  "--template=template0", "--locale=C", "--encoding=UTF8", DATABASE)
        python = synapse_python()
        if subprocess.run([str(python), "-c", "import psycopg2"], capture_output=True).returncode != 0:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "psycopg2-binary"], check=True)
        return self

    def synapse_database(self) -> dict[str, Any]:
        """The ``database`` section of homeserver.yaml."""
        return {"name": "psycopg2", "args": {"user": "synapse", "database": DATABASE, "host": "127.0.0.1",
                                             "port": self.port, "cp_min": 5, "cp_max": 10}}

    def stop(self) -> None:
        data = self.directory / "pgdata"
        if data.exists():
            self._run(_find("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
