"""Face matching and identification speed.

    python -m bench.media_pipeline.faces [--known 100000] [--repeats 7]

1. One face against N known encodings: media_pipeline's FaceMatcher against
   face_recognition.face_distance + argmin (what a plain script does).
2. Per image: `identify_image` (load, detect, encode, match) against bare face_recognition
   (load_image_file, face_locations, face_encodings, compare_faces) on the same photos.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np

from media_pipeline import samples
from media_pipeline.face_cache import EncodingCache
from media_pipeline.faces import FaceMatcher, identify_image, load_known


def best_ms(work, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time in ms."""
    return statistics.median(timings_ms(work, repeats))


def timings_ms(work, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def matching(known: int, repeats: int) -> dict[str, float]:
    import face_recognition

    rng = np.random.default_rng(1)
    encodings = rng.normal(0, 0.09, size=(known, 128))
    query = encodings[known // 2] + rng.normal(0, 0.01, 128)
    matcher = FaceMatcher(encodings, [str(i) for i in range(known)])
    ours = timings_ms(lambda: matcher.identify(query[None, :]), repeats * 5)
    plain = timings_ms(
        lambda: int(np.argmin(face_recognition.face_distance(encodings, query))), repeats
    )
    return {
        "known_encodings": known,
        "media_pipeline_ms_median": round(statistics.median(ours), 2),
        "media_pipeline_ms_min": round(min(ours), 2),
        "face_distance_ms_median": round(statistics.median(plain), 2),
        "face_distance_ms_min": round(min(plain), 2),
    }


def per_image(repeats: int) -> dict[str, object]:
    import face_recognition

    matcher = load_known(samples.KNOWN_FACES, EncodingCache(None), on_error=lambda p, r: None)
    known = matcher.encodings

    def bare(path: str) -> None:
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image)
        for encoding in face_recognition.face_encodings(image, boxes):
            face_recognition.compare_faces(known, encoding, tolerance=0.6)

    rows = {}
    for image in sorted(samples.UNKNOWN_FACES.iterdir()):
        # Interleaved, so load from other work on the machine hits both sides alike.
        ours, plain = [], []
        for _ in range(repeats):
            ours.append(best_ms(lambda image=image: identify_image(image, matcher), 1))
            plain.append(best_ms(lambda image=image: bare(str(image)), 1))
        mine, theirs = statistics.median(ours), statistics.median(plain)
        rows[image.name] = {
            "media_pipeline_ms": round(mine, 1),
            "bare_ms": round(theirs, 1),
            "ratio": round(mine / theirs, 3),
        }
    total_ours = sum(r["media_pipeline_ms"] for r in rows.values())
    total_bare = sum(r["bare_ms"] for r in rows.values())
    return {"images": rows, "total_ratio": round(total_ours / total_bare, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--known", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # face_recognition_models' pkg_resources deprecation
    print(
        json.dumps(
            {"matching": matching(args.known, args.repeats), "per_image": per_image(args.repeats)},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
