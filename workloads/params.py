"""Parameters of each template kind: defaults, and validation that names the bad field.

Validation happens before anything is saved or sent, so bad input never half-creates a run.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError

from workloads.choices import CameraProcessing, TemplateKind

DEFAULT_PIPELINE_IMAGE = "ghcr.io/controlpanel/media-pipeline:latest"
MAX_PARALLELISM = 32
MAX_REPLICAS = 16
MAX_MANIFEST_CHARS = 256 * 1024
MAX_BACKOFF_LIMIT = 20
MAX_METRICS = 10
# Size limits, far past what anyone types or a real job needs: parameters are stored with the
# run, copied into every pod it starts and sent back in each answer about it, so a request must
# not be able to make them megabytes. Checked before anything else, so no error echoes a
# megabyte back either.
MAX_PATH_CHARS = 1024  # a path inside a volume; real dataset layouts are a few dozen characters
MAX_PATHS = 1000  # paths per list; more files than this are given as their folder
MAX_NAME_CHARS = 63  # a volume (a DNS-1123 label, as the Volume model stores it) or metric
MAX_VOLUMES = 100  # volumes a face service serves; a cluster has a handful
MAX_SOURCE_CHARS = 2048  # a camera URL: what browsers and HTTP servers commonly accept
# A container's command or args in all: a long shell one-liner is a few hundred characters;
# more belongs in the image or a raw manifest.
MAX_COMMAND_CHARS = 16 * 1024
MAX_COMMAND_ITEMS = 1000
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _./-]{0,39}$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Docker reference grammar, simplified: [registry[:port]/]path[:tag][@digest]
IMAGE_REFERENCE = re.compile(
    r"^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)

# kind -> {param: default}. The no-parameter lane and face presets process the bundled samples.
DEFAULTS: dict[str, dict[str, Any]] = {
    TemplateKind.LANE_DETECTION: {
        "image": DEFAULT_PIPELINE_IMAGE, "volume": "", "inputs": [], "output": "output/lanes",
        "parallelism": 1,
    },
    TemplateKind.FACE_IDENTIFICATION: {
        "image": DEFAULT_PIPELINE_IMAGE, "volume": "", "known": "", "images": [],
    },
    TemplateKind.CAMERA_STREAM: {
        "image": DEFAULT_PIPELINE_IMAGE, "volume": "", "source": "test:ball", "processing": "none",
        "fps": 10.0, "width": 640,
    },
    # volumes None: every volume of the run's cluster, decided when the run is created.
    TemplateKind.FACE_RECOGNITION_SERVICE: {
        "image": DEFAULT_PIPELINE_IMAGE, "replicas": 1, "volumes": None,
    },
    # nvidia_volume: mount the nodes' /usr/local/nvidia read-only; auto = on AKS N-series pools.
    # metrics: names of numbers the log prints as "<name> ... <value>" (charted on the run page).
    TemplateKind.GPU_JOB: {
        "image": "", "command": [], "args": [], "gpus": 1, "restart_policy": "OnFailure",
        "backoff_limit": 3, "nvidia_volume": "auto", "metrics": [],
    },
    TemplateKind.RAW_MANIFEST: {"manifest": "", "metrics": []},
}  # fmt: skip


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and bool(DNS1123_LABEL.match(value))


def _no_nul(field: str, value: str) -> str:
    # A NUL cannot reach a command line, a path or PostgreSQL: refused here, not at start.
    if "\x00" in value:
        raise ValidationError({field: "Must not contain NUL characters."})
    return value


def _string(field: str, value: Any, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ValidationError({field: "Must be a string."})
    if len(value) > max_chars:
        raise ValidationError({field: f"At most {max_chars:,} characters ({len(value):,} given)."})
    return _no_nul(field, value).strip()


def _string_list(field: str, value: Any, max_chars: int, max_items: int) -> list[str]:
    """A list, or one item per line / comma-separated; each item at most `max_chars`."""
    if isinstance(value, str):
        if len(value) > max_items * (max_chars + 1):
            raise ValidationError(
                {field: f"At most {max_items:,} entries of {max_chars:,} characters."}
            )
        value = [item for item in re.split(r"[\n,]", value) if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError({field: "Must be a list of strings."})
    if len(value) > max_items:
        raise ValidationError({field: f"At most {max_items:,} entries ({len(value):,} given)."})
    for number, item in enumerate(value, start=1):
        if len(item) > max_chars:
            raise ValidationError(
                {field: f"Entry {number}: at most {max_chars:,} characters ({len(item):,} given)."}
            )
    return [_no_nul(field, item).strip() for item in value if item.strip()]


def _relative_path(field: str, value: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or ".." in parts or "\x00" in value:
        raise ValidationError(
            {field: f"{value!r} must be a path inside the volume (no leading / or ..)."}
        )
    return value


def _integer(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError({field: "Must be an integer."})
    try:
        number = int(value)
    except ValueError:
        raise ValidationError({field: "Must be an integer."}) from None
    if not low <= number <= high:
        raise ValidationError({field: f"Must be between {low} and {high}."})
    return number


def _number(field: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "Must be a number."}) from None
    if not low <= number <= high:
        raise ValidationError({field: f"Must be between {low:g} and {high:g}."})
    return number


def _image(field: str, value: Any) -> str:
    image = _string(field, value, 255)
    if not image or len(image) > 255 or not IMAGE_REFERENCE.match(image):
        raise ValidationError({field: f"{image!r} is not a valid image reference."})
    return image


def _clean_one(kind: str, name: str, value: Any, volumes: set[str]) -> Any:
    if name == "image":
        return _image(name, value)
    if name == "volume":
        volume = volume_name(name, value)
        if volume and volume not in volumes:
            raise ValidationError(
                {name: f"No volume '{volume}' on this cluster ({_has(volumes)})."}
            )
        return volume
    if name in ("inputs", "images"):
        paths = _string_list(name, value, MAX_PATH_CHARS, MAX_PATHS)
        return [_relative_path(name, item) for item in paths]
    if name in ("output", "known"):
        path = _string(name, value, MAX_PATH_CHARS)
        return _relative_path(name, path) if path else path
    if name == "parallelism":
        return _integer(name, value, 1, MAX_PARALLELISM)
    if name == "replicas":
        return _integer(name, value, 1, MAX_REPLICAS)
    if name == "volumes":
        return _served_volumes(name, value, volumes)
    if name == "gpus":
        return _integer(name, value, 0, 16)
    if name == "fps":
        return _number(name, value, 0.1, 60)
    if name == "width":
        if value in (0, "0"):
            return 0  # keep the source's size
        return _integer(name, value, 32, 3840)
    if name == "processing":
        if value not in CameraProcessing.values:
            raise ValidationError({name: f"Must be one of {', '.join(CameraProcessing.values)}."})
        return value
    if name == "source":
        return _source(name, value)
    if name in ("command", "args"):
        return _command(name, value)
    if name == "backoff_limit":
        return _integer(name, value, 0, MAX_BACKOFF_LIMIT)
    if name == "nvidia_volume":
        return _choice_of_three(name, value)
    if name == "metrics":
        return _metric_names(name, value)
    if name == "restart_policy":
        if value not in ("Never", "OnFailure"):
            raise ValidationError({name: "Must be Never or OnFailure."})
        return value
    if name == "manifest":
        if isinstance(value, str) and len(value) > MAX_MANIFEST_CHARS:
            raise ValidationError({name: f"At most {MAX_MANIFEST_CHARS // 1024} KiB of YAML."})
        return _string(name, value, MAX_MANIFEST_CHARS)
    raise ValidationError({name: "Unknown parameter."})


def _choice_of_three(field: str, value: Any) -> str:
    """auto, yes or no (booleans and their usual spellings accepted)."""
    text = str(value).strip().lower() if value is not None else "auto"
    spelled = {"true": "yes", "on": "yes", "1": "yes", "false": "no", "off": "no", "0": "no",
               "": "auto"}  # fmt: skip
    text = spelled.get(text, text)
    if text not in ("auto", "yes", "no"):
        raise ValidationError({field: "Must be auto, yes or no."})
    return text


def _metric_names(field: str, value: Any) -> list[str]:
    names = _string_list(field, value, MAX_NAME_CHARS, MAX_PATHS)
    if len(names) > MAX_METRICS:
        raise ValidationError({field: f"At most {MAX_METRICS} metrics."})
    odd = [name for name in names if not METRIC_NAME.match(name)]
    if odd:
        raise ValidationError(
            {field: f"{odd[0]!r}: a metric name is a word as the log prints it (letters, digits, "
             "space, _ . / -; up to 40 characters), e.g. Accuracy."}
        )  # fmt: skip
    return names


def _has(volumes: set[str]) -> str:
    if not volumes:
        return "it has no volumes: add one on the cluster's page"
    return "it has " + ", ".join(sorted(volumes))


def unknown_parameter(name: str, known) -> str:
    """'Unknown parameter; did you mean parallelism?' for a near miss, else the list."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"Unknown parameter; did you mean {close[0]}?"
    return f"Unknown parameter; this template takes {', '.join(known)}."


def volume_name(field: str, value: Any) -> str:
    """The name of one volume (checked against the cluster's volumes by the caller)."""
    return _string(field, value, MAX_NAME_CHARS)


def volume_names(field: str, value: Any) -> list[str] | None:
    """Volume names as given (a list, or one per line / comma-separated); None when none are
    named (null or blank), which means every volume of the cluster."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    names: list[str] = []
    for name in _string_list(field, value, MAX_NAME_CHARS, MAX_VOLUMES):
        if name not in names:
            names.append(name)
    return names


def _served_volumes(field: str, value: Any, volumes: set[str]) -> list[str]:
    names = volume_names(field, value)
    if names is None:
        names = sorted(volumes)
    unknown = [name for name in names if name not in volumes]
    if unknown:
        named = ", ".join(f"'{name}'" for name in unknown)
        raise ValidationError({field: f"No volume {named} on this cluster ({_has(volumes)})."})
    # The back-end takes NAME=DIR and each volume is mounted at /volumes/<name>.
    odd = [name for name in names if not is_dns1123_label(name)]
    if odd:
        raise ValidationError(
            {field: f"{', '.join(map(repr, odd))} cannot be served: a volume name must be "
             "lower-case letters, digits and '-'."}
        )  # fmt: skip
    return names


SOURCE_SCHEMES = ("test:", "rtsp://", "http://", "https://", "file:", "v4l2:", "akri://")
# akri://HOST:PORT, an Akri broker serving camera.proto (a DNS name or an address, and a port).
AKRI_SOURCE = re.compile(
    r"^akri://(?P<host>[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?):(?P<port>[0-9]{1,5})$"
)


def _source(field: str, value: Any) -> str:
    """What a camera stream reads. Sources run as the panel's own user on the local cluster,
    so a file must lie on one of the cluster's volumes (a relative path, checked with the
    volume) and a device is one an admin allowed (CAMERA_DEVICES)."""
    source = _string(field, value, MAX_SOURCE_CHARS)
    if not source:
        raise ValidationError({field: "A source is required (test:, rtsp://, http(s)://, file:)."})
    scheme = next((s for s in SOURCE_SCHEMES if source.lower().startswith(s)), None)
    if scheme is None:
        raise ValidationError({field: f"Use one of {', '.join(SOURCE_SCHEMES)}."})
    # One spelling, so every later check of the scheme (`file:` needs a volume) sees it.
    source = scheme + source[len(scheme) :]
    if scheme == "file:":
        path = source[len(scheme) :].partition("?")[0]
        if not path:
            raise ValidationError({field: "Name the file: file:<path on the volume>."})
        _relative_path(field, path)
    if scheme == "akri://":
        match = AKRI_SOURCE.match(source)
        if match is None or not 0 < int(match["port"]) < 65536:
            raise ValidationError({field: "An Akri broker is akri://HOST:PORT."})
    if scheme == "v4l2:":
        device = source[len(scheme) :]
        if device not in settings.CAMERA_DEVICES:
            allowed = ", ".join(settings.CAMERA_DEVICES) or "none"
            raise ValidationError(
                {field: f"Device {device!r} is not allowed (CAMERA_DEVICES: {allowed})."}
            )
    return source


def _command(field: str, value: Any) -> list[str]:
    """A list of arguments, or a line split as a shell would (quotes kept together)."""
    import shlex

    if isinstance(value, list):
        items = _string_list(field, value, MAX_COMMAND_CHARS, MAX_COMMAND_ITEMS)
        if sum(len(item) for item in items) > MAX_COMMAND_CHARS:
            raise ValidationError({field: f"At most {MAX_COMMAND_CHARS:,} characters in all."})
        return items
    try:
        items = shlex.split(_string(field, value, MAX_COMMAND_CHARS))
    except ValueError as exc:
        raise ValidationError({field: f"Cannot split into arguments: {exc}"}) from None
    if len(items) > MAX_COMMAND_ITEMS:
        raise ValidationError({field: f"At most {MAX_COMMAND_ITEMS:,} arguments."})
    return items


def clean_params(
    kind: str, params: Any, *, defaults: dict | None = None, volumes: set[str] = frozenset()
) -> dict:
    """Merge template defaults with the given params and validate every field.

    Raises ValidationError({field: message}) for unknown, missing or malformed parameters."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": "Must be an object of parameter names to values."})
    allowed = DEFAULTS[kind]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValidationError({name: unknown_parameter(name, allowed) for name in unknown})
    merged = {**allowed, **(defaults or {}), **params}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name in allowed:
        try:
            cleaned[name] = _clean_one(kind, name, merged[name], volumes)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not errors:
        try:
            _check_together(kind, cleaned)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _check_together(kind: str, params: dict) -> None:
    if kind in (TemplateKind.LANE_DETECTION, TemplateKind.FACE_IDENTIFICATION):
        uses_volume = params.get("inputs") or params.get("images") or params.get("known")
        if uses_volume and not params["volume"]:
            raise ValidationError({"volume": "Choose the volume the input paths are on."})
    if kind == TemplateKind.LANE_DETECTION and params["parallelism"] > 1:
        if len(params["inputs"]) < params["parallelism"] and not params["volume"]:
            raise ValidationError(
                {"parallelism": "Parallel batches need at least as many inputs as pods."}
            )
    if kind == TemplateKind.CAMERA_STREAM and params["source"].startswith("file:"):
        if not params["volume"]:
            raise ValidationError({"volume": "Choose the volume the file: source is on."})
    if kind == TemplateKind.GPU_JOB and not params["image"]:
        raise ValidationError({"image": "An image is required."})
    if kind == TemplateKind.RAW_MANIFEST:
        from workloads.manifests import parse_manifests

        parse_manifests(params["manifest"])


def yaml_load_all(text: str) -> list:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
