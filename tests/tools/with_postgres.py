"""Run a command against a throwaway PostgreSQL server: initdb into a temp dir, start it on a
free port, export DATABASE_URL, run the command, stop and delete the server.

    python -m tests.tools.with_postgres -- pytest ...
    python -m tests.tools.with_postgres -- python -m bench.live.log_bench
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def missing_binaries() -> str:
    """Why no server can be started here, or "" when one can."""
    if not sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        return (
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: "
            "install them with `apt-get install postgresql`"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs a `postgres` system user (apt-get install postgresql)"
    return ""


def _bin_dir() -> str:
    problem = missing_binaries()
    if problem:
        sys.exit(problem + ".")
    return sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_user() -> dict:
    """initdb refuses to run as root: when root, run the server as the `postgres` user."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        sys.exit("Running as root needs a `postgres` system user (apt-get install postgresql).")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


class PostgresServer:
    """A throwaway PostgreSQL server: a fresh data directory, a free port on 127.0.0.1, trust
    authentication for the user `controlpanel`. Tests may stop and start it again."""

    def __init__(self) -> None:
        self.bindir = _bin_dir()
        self.tmp = tempfile.mkdtemp(prefix="controlpanel-pg-")
        self.data, self.sockets = os.path.join(self.tmp, "data"), os.path.join(self.tmp, "run")
        os.makedirs(self.sockets)
        self.who = _as_postgres_user()
        if self.who:
            for path in (self.tmp, self.sockets):
                os.chown(path, self.who["user"], self.who["group"])
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        subprocess.run(
            [f"{self.bindir}/initdb", "-D", self.data, "-U", "controlpanel", "--auth=trust",
             "-E", "UTF8", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, **self.who,
        )  # fmt: skip

    def url(self, database: str = "controlpanel") -> str:
        return f"postgres://controlpanel@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [f"{self.bindir}/postgres", "-D", self.data, "-p", str(self.port), "-k", self.sockets,
             "-h", "127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, "postgres.log"), "a"),
            **self.who,
        )  # fmt: skip
        for _ in range(100):
            ready = subprocess.run(
                [f"{self.bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        sys.exit(f"PostgreSQL did not start; see {self.tmp}/postgres.log")

    def stop(self, mode: str = "smart") -> None:
        """Shut down as `pg_ctl stop -m <mode>` does: smart waits for clients, fast
        disconnects them, immediate stops at once (recovery at the next start)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(
            {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        )
        self.process.wait(timeout=30)

    def run(self, program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """A client program (createdb, psql...) against this server."""
        return subprocess.run(
            [f"{self.bindir}/{program}", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "controlpanel", *args],
            check=True, **kwargs,
        )  # fmt: skip

    def remove(self) -> None:
        self.stop("fast")
        shutil.rmtree(self.tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    server = PostgresServer()
    server.start()
    try:
        # The database DATABASE_URL names (pytest makes test_controlpanel beside it; a
        # benchmark or `manage.py` migrates this one).
        server.run("createdb", "controlpanel")
        env = dict(os.environ, DATABASE_URL=server.url())
        version = os.path.basename(os.path.dirname(server.bindir))
        print(f"PostgreSQL {version} on port {server.port} (throwaway)")
        return subprocess.call(argv, env=env)
    finally:
        server.stop("smart")
        shutil.rmtree(server.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
