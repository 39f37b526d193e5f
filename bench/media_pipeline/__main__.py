"""All media-pipeline benchmarks in one run: `python -m bench.media_pipeline`."""

from __future__ import annotations

import json
import os
import platform
import time
import warnings

from bench.media_pipeline import faces, lanes, stream
from bench.media_pipeline.common import clip_720p
from media_pipeline import samples


def main() -> None:
    warnings.simplefilter("ignore")
    started = time.time()
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },  # fmt: skip
        "lanes": {
            "960x540 development clip": lanes.measure(samples.DEVELOPMENT_CLIP, repeats=5),
            "1280x720 (upscaled copy)": lanes.measure(clip_720p(), repeats=5),
        },
        "faces": {
            "matching": faces.matching(100_000, repeats=7),
            "per_image": faces.per_image(repeats=5),
        },
        "stream": stream.measure(f"file:{clip_720p()}", "lanes", seconds=10, cpu=0),
    }
    results["seconds"] = round(time.time() - started, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
