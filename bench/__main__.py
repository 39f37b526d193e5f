"""Run every benchmark in turn: `python -m bench` (or `make bench`).

Each one prints its own results; docs/BENCHMARKS.md records them with the commands.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "bench.media_pipeline",
    "bench.faces.gallery_bench",
    "bench.live.camera_bench --viewers 1 --viewers 10 --browser-tabs 1 --seconds 20",
    "bench.live.log_bench --rate 5000 --seconds 20",
    "bench.live.log_bench --rate 5000 --seconds 20 --browser",
    "bench.load",
    "bench.faces.service_bench --backends 1 --backends 2 --copies 20",
    "bench.explorer",
]


def main() -> int:
    failed = 0
    for line in BENCHMARKS:
        module, *args = line.split()
        print(f"\n=== python -m {module} {' '.join(args)}", flush=True)
        failed += subprocess.call([sys.executable, "-m", module, *args]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
