"""Command line: `python -m media_pipeline {lanes,faces,faces-serve,stream,akri-broker,samples} ...`.

Exit codes: 0 success, 1 at least one input failed (each has an `error` event), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from media_pipeline import samples
from media_pipeline.akri import DEFAULT_PORT as AKRI_BROKER_PORT
from media_pipeline.events import EventWriter
from media_pipeline.face_cache import ENV_VAR as CACHE_ENV_VAR
from media_pipeline.face_cache import default_cache_dir
from media_pipeline.face_server import DEFAULT_LOG_EVERY, ServeOptions, parse_volume
from media_pipeline.face_server import DEFAULT_MAX_BYTES as FACE_SERVE_MAX_BYTES
from media_pipeline.face_server import DEFAULT_PORT as FACE_SERVE_PORT
from media_pipeline.faces import DEFAULT_TOLERANCE

DEFAULT_OUTPUT = Path("media-pipeline-output")


def _add_shard_options(command: argparse.ArgumentParser) -> None:
    # A Kubernetes Indexed Job runs the same command in N pods; each takes every N-th file of
    # the expanded, name-ordered input list, so every file is processed by exactly one pod.
    command.add_argument(
        "--shard-index",
        type=int,
        default=int(os.environ.get("JOB_COMPLETION_INDEX", "0")),
        help="this pod's share (default: $JOB_COMPLETION_INDEX or 0)",
    )
    command.add_argument("--shard-count", type=int, default=1, help="number of shares (default: 1)")


def _check_shards(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.shard_count < 1 or not 0 <= args.shard_index < args.shard_count:
        parser.error(f"--shard-index must be in 0..{args.shard_count - 1} and --shard-count >= 1")


def build_parser() -> argparse.ArgumentParser:
    return _parser()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m media_pipeline",
        description="Lane detection, face recognition and camera streaming. Events: JSON lines on stdout.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    lanes = commands.add_parser("lanes", help="detect lane lines in images, videos and folders")
    lanes.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="images, videos or folders (default: the bundled sample images and clip)",
    )
    lanes.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT / "lanes", help="output folder"
    )
    lanes.add_argument(
        "--no-video", action="store_true", help="analyse videos without writing them"
    )
    lanes.add_argument(
        "--preset",
        default="ultrafast",
        help="x264 preset of the annotated video (default: %(default)s)",
    )

    _add_shard_options(lanes)

    faces = commands.add_parser("faces", help="identify people in images against known faces")
    faces.add_argument(
        "--known",
        type=Path,
        default=samples.KNOWN_FACES,
        help="folder of known people: <person>_<N>.jpg or one sub-folder per person "
        "(default: bundled samples)",
    )
    faces.add_argument(
        "--images",
        nargs="+",
        default=[str(samples.UNKNOWN_FACES)],
        metavar="PATH",
        help="images or folders to identify (default: bundled samples)",
    )
    faces.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    faces.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"encoding cache folder (default: ${CACHE_ENV_VAR} or ~/.cache/media_pipeline)",
    )
    faces.add_argument("--no-cache", action="store_true", help="encode known faces every time")
    _add_shard_options(faces)

    stream = commands.add_parser("stream", help="serve a camera or test pattern as MJPEG")
    stream.add_argument(
        "--source",
        default="test:ball",
        help="file:PATH, rtsp://, http(s):// MJPEG, v4l2:/dev/videoN, akri://HOST:PORT, test:ball|carousel|clock",
    )
    stream.add_argument("--process", choices=("none", "lanes", "faces"), default="none")
    stream.add_argument("--port", type=int, default=8080)
    stream.add_argument("--host", default="0.0.0.0")  # noqa: S104 - it runs in a pod behind a Service
    stream.add_argument(
        "--fps", type=float, default=None, help="frame rate cap (0: as fast as possible)"
    )
    stream.add_argument("--width", type=int, default=None, help="resize frames to this width")
    stream.add_argument("--jpeg-quality", type=int, default=80)
    stream.add_argument(
        "--known", type=Path, default=samples.KNOWN_FACES, help="known faces for --process faces"
    )
    stream.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    stream.add_argument("--cache-dir", type=Path, default=None)
    stream.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    broker = commands.add_parser(
        "akri-broker", help="serve a camera or test pattern as an Akri broker (gRPC camera.proto)"
    )
    broker.add_argument(
        "--source", default="test:ball", help="any `stream` source (default: %(default)s)"
    )
    broker.add_argument("--host", default="0.0.0.0")  # noqa: S104 - it runs in a pod behind a Service
    broker.add_argument("--port", type=int, default=AKRI_BROKER_PORT)
    broker.add_argument(
        "--fps", type=float, default=None, help="frame rate cap (0: as fast as possible)"
    )
    broker.add_argument("--width", type=int, default=None, help="resize frames to this width")
    broker.add_argument("--jpeg-quality", type=int, default=80)
    broker.add_argument("--camera", default="", help="the camera name GetFrame reports")
    broker.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    serve = commands.add_parser(
        "faces-serve", help="serve face detection and encoding over HTTP (the recognition back-end)"
    )
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - it runs in a pod behind a Service
    serve.add_argument("--port", type=int, default=FACE_SERVE_PORT)
    serve.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a folder POST /detect may read images from, by name (repeatable)",
    )
    serve.add_argument(
        "--max-bytes",
        type=int,
        default=FACE_SERVE_MAX_BYTES,
        help="largest image accepted, as a body or a file (default: %(default)s)",
    )
    serve.add_argument(
        "--log-every",
        type=float,
        default=DEFAULT_LOG_EVERY,
        metavar="SECONDS",
        help="answered requests: one summary line per this many seconds; 0: a line per request "
        "(failures are always a line each; default: %(default)s)",
    )

    commands.add_parser("samples", help="print the bundled sample paths as one JSON object")
    return parser


def _serve_volumes(parser: argparse.ArgumentParser, specs: list[str]) -> dict[str, Path]:
    volumes: dict[str, Path] = {}
    for spec in specs:
        try:
            name, directory = parse_volume(spec)
        except ValueError as error:
            parser.error(str(error))
        if name in volumes:
            parser.error(f"--volume {name!r} is given twice")
        volumes[name] = directory
    return volumes


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("lanes", "faces"):
        _check_shards(parser, args)
    events = EventWriter(args.command)
    if args.command == "lanes":
        from media_pipeline.lane_command import LaneOptions
        from media_pipeline.lane_command import run as run_lanes

        inputs = args.inputs or [str(samples.LANE_IMAGES), str(samples.LANE_VIDEOS)]
        options = LaneOptions(
            output=args.output,
            write_video=not args.no_video,
            preset=args.preset,
            shard=(args.shard_index, args.shard_count),
        )
        return run_lanes(inputs, options, events)
    if args.command == "faces":
        from media_pipeline.face_command import FaceOptions
        from media_pipeline.face_command import run as run_faces

        cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
        options = FaceOptions(
            known=args.known,
            images=args.images,
            tolerance=args.tolerance,
            cache_dir=cache_dir,
            shard=(args.shard_index, args.shard_count),
        )
        return run_faces(options, events)
    if args.command == "stream":
        from media_pipeline.stream_server import StreamOptions
        from media_pipeline.stream_server import run as run_stream

        return run_stream(
            StreamOptions(
                source=args.source,
                process=args.process,
                host=args.host,
                port=args.port,
                fps=args.fps,
                width=args.width,
                jpeg_quality=args.jpeg_quality,
                known=args.known,
                tolerance=args.tolerance,
                cache_dir=args.cache_dir or default_cache_dir(),
                duration=args.duration,
            ),
            events,
        )
    if args.command == "akri-broker":
        from media_pipeline.akri import BrokerOptions, run_broker

        return run_broker(
            BrokerOptions(
                source=args.source, host=args.host, port=args.port, fps=args.fps,
                width=args.width, jpeg_quality=args.jpeg_quality, duration=args.duration,
                camera=args.camera,
            ),
            events,
        )  # fmt: skip
    if args.command == "faces-serve":
        if args.max_bytes < 1:
            parser.error("--max-bytes must be at least 1")
        if not 0 <= args.log_every <= 86400:
            parser.error("--log-every must be between 0 and 86400 seconds")
        from media_pipeline.face_server import run as run_server

        options = ServeOptions(
            host=args.host,
            port=args.port,
            volumes=_serve_volumes(parser, args.volume),
            max_bytes=args.max_bytes,
            log_every=args.log_every,
        )
        return run_server(options, events)
    if args.command == "samples":
        paths = {
            "root": samples.ROOT,
            "lane_images": samples.LANE_IMAGES,
            "lane_videos": samples.LANE_VIDEOS,
            "development_clip": samples.DEVELOPMENT_CLIP,
            "known_faces": samples.KNOWN_FACES,
            "unknown_faces": samples.UNKNOWN_FACES,
        }
        sys.stdout.write(json.dumps({k: str(v) for k, v in paths.items()}) + "\n")
        return 0
    return 2  # argparse rejects unknown commands before this
