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
import socket
import subprocess
import sys
import tempfile
import time


def _bin_dir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if not candidates:
        sys.exit(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: "
            "install them with `apt-get install postgresql`."
        )
    return candidates[0]


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


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    bindir = _bin_dir()
    tmp = tempfile.mkdtemp(prefix="controlpanel-pg-")
    data, sockets = os.path.join(tmp, "data"), os.path.join(tmp, "run")
    os.makedirs(sockets)
    who = _as_postgres_user()
    if who:
        for path in (tmp, sockets):
            os.chown(path, who["user"], who["group"])
    port = _free_port()
    subprocess.run(
        [
            f"{bindir}/initdb",
            "-D",
            data,
            "-U",
            "controlpanel",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        **who,
    )
    server = subprocess.Popen(
        [
            f"{bindir}/postgres",
            "-D",
            data,
            "-p",
            str(port),
            "-k",
            sockets,
            "-h",
            "127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(tmp, "postgres.log"), "w"),
        **who,
    )
    try:
        for _ in range(100):
            if (
                subprocess.run(
                    [f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
                    capture_output=True,
                ).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        else:
            sys.exit(f"PostgreSQL did not start; see {tmp}/postgres.log")
        # The database DATABASE_URL names (pytest makes test_controlpanel beside it; a
        # benchmark or `manage.py` migrates this one).
        subprocess.run(
            [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "controlpanel",
             "controlpanel"],
            check=True,
        )  # fmt: skip
        env = dict(
            os.environ, DATABASE_URL=f"postgres://controlpanel@127.0.0.1:{port}/controlpanel"
        )
        print(f"PostgreSQL {os.path.basename(os.path.dirname(bindir))} on port {port} (throwaway)")
        return subprocess.call(argv, env=env)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
