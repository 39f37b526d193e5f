"""Runs one local workload process and records its exit status in a file.

`python -m clusters.runtimes.local_launcher EXIT_FILE -- ARGV...`. The panel starts this as the
leader of a new process group, so a restarted panel can still tell how the process ended (the
exit file) even though it is no longer the parent, and cancel reaches the whole group. No Django.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    exit_file, separator, *command = argv
    if separator != "--" or not command:
        sys.stderr.write("usage: local_launcher EXIT_FILE -- ARGV...\n")
        return 2
    child = subprocess.Popen(command)
    # SIGTERM to the group reaches the child too; the launcher stays to record how it ended.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    code = child.wait()
    if code < 0:  # killed by a signal: report it the way a container runtime would
        code = 128 - code
    temporary = f"{exit_file}.tmp"
    with open(temporary, "w") as handle:
        handle.write(str(code))
    os.replace(temporary, exit_file)  # atomic: readers never see a half-written status
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
