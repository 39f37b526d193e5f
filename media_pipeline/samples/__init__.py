"""Sample footage and photos bundled with the package (sources and licences: README.md here).

They are what `python -m media_pipeline lanes` and `faces` process when given no inputs, so the
panel's presets work in the image and on a local cluster without any volume:

    media_pipeline.samples.path("lanes")            # images/ and videos/
    media_pipeline.samples.path("lanes", "videos", "solidWhiteRight.mp4")
    media_pipeline.samples.path("faces", "known")   # one photo per person, <person>_<N>.jpg
    media_pipeline.samples.path("faces", "unknown")
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent

LANE_IMAGES = ROOT / "lanes" / "images"
LANE_VIDEOS = ROOT / "lanes" / "videos"
DEVELOPMENT_CLIP = LANE_VIDEOS / "solidWhiteRight.mp4"
KNOWN_FACES = ROOT / "faces" / "known"
UNKNOWN_FACES = ROOT / "faces" / "unknown"


def path(*parts: str) -> Path:
    """Absolute path of a bundled sample file or folder; raises if it does not exist."""
    target = ROOT.joinpath(*parts)
    if not target.exists():
        raise FileNotFoundError(f"no bundled sample {'/'.join(parts)!r} under {ROOT}")
    return target
