"""Writes of the face-recognition service: the gallery, the receiver, the processor, recovery.

Views, tasks and beat call these. The row is the truth: a queue message only carries an image
id, a processor claims the row with a conditional update before it works on it, and anything
that can lose a message (a killed worker, a restarted broker, an open circuit) leaves the row
`pending` or `processing` for `images_requeue_stale` to find.
"""

from __future__ import annotations

import logging
import random
import shutil
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pybreaker
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from clusters.models import Cluster
from clusters.selectors import cluster_get_by_ref
from core.choices import AuditAction
from core.services import Actor, audit_record
from faces import backend
from faces.backend import BackendError, Detection, Endpoint, ImageRejected
from faces.breaker import Breaker, breaker_for
from faces.choices import (
    KNOWN_MARGIN,
    NAME_MAX_CHARS,
    PATH_MAX_CHARS,
    PATHS_PER_REQUEST,
    ImageSource,
    ImageStatus,
)
from faces.gallery import identify
from faces.models import Face, FaceImage, KnownFace, Person, encoding_array, encoding_bytes

logger = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """No back-end can take a call now (none running, or every circuit open). Safe to show."""


class RetryLater(Exception):  # noqa: N818 - a signal to the task, not an error
    def __init__(self, countdown: float):
        super().__init__(f"retry in {countdown:.1f} s")
        self.countdown = countdown


# -- checks -----------------------------------------------------------------------------------


def faces_cluster() -> Cluster | None:
    return cluster_get_by_ref(settings.FACES_CLUSTER)


def _check_volume(volume: object) -> str:
    if not isinstance(volume, str) or not volume.strip():
        raise ValidationError({"volume": "Name the volume the image is on."})
    cluster = faces_cluster()
    names = sorted(cluster.volumes.values_list("name", flat=True)) if cluster else []
    if volume not in names:
        where = f"cluster {cluster.name!r}" if cluster else "the face service's cluster"
        known = ", ".join(names) or "none"
        raise ValidationError({"volume": f"No volume {volume!r} on {where} (volumes: {known})."})
    return volume


def _check_path(field: str, path: object) -> str:
    if not isinstance(path, str) or not path.strip():
        raise ValidationError({field: "Give a path relative to the volume's root."})
    if len(path) > PATH_MAX_CHARS:
        raise ValidationError({field: f"At most {PATH_MAX_CHARS} characters."})
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "\x00" in path or "\\" in path:
        raise ValidationError(
            {field: f"{path[:200]!r} must be a path inside the volume (no leading /, .. or \\)."}
        )
    return path


def _check_upload(field: str, upload: UploadedFile) -> str:
    """The upload is an image Pillow recognises (the back-end decodes it for real); returns
    the extension to store it under."""
    if upload.size > settings.FACES_UPLOAD_MAX_BYTES:
        limit = settings.FACES_UPLOAD_MAX_BYTES // (1024 * 1024)
        raise ValidationError({field: f"The image is larger than {limit} MB."})
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            kind = (image.format or "").lower()
    except Image.DecompressionBombError:
        # A few bytes declaring a canvas of gigapixels (Pillow's check, before any decoding).
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ValidationError({field: f"The image is too large: over {limit:,} pixels."}) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValidationError({field: "Not an image file (JPEG, PNG, WebP, BMP...)."}) from None
    finally:
        upload.seek(0)
    return {"jpeg": "jpg"}.get(kind, kind or "img")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "Give the person a name."})
    name = " ".join(name.split())
    if len(name) > NAME_MAX_CHARS or "\x00" in name:
        raise ValidationError({"name": f"At most {NAME_MAX_CHARS} characters, no NUL."})
    return name


# -- the back-end, through the breakers -------------------------------------------------------


def _usable_with_breakers() -> tuple[list[Endpoint], list[Endpoint], dict[str, Breaker]]:
    """(every back-end address, those whose circuit is closed, each one's breaker by name, for
    the call that follows)."""
    found = backend.endpoints()
    breakers = {endpoint.name: breaker_for(endpoint) for endpoint in found}
    return found, [e for e in found if breakers[e.name].allows_calls()], breakers


def usable_endpoints() -> tuple[list[Endpoint], list[Endpoint]]:
    """(every back-end address, those whose circuit is closed)."""
    found, usable, _breakers = _usable_with_breakers()
    return found, usable


def _detect_now(**request) -> tuple[Endpoint, Detection]:
    """One call for a person of the gallery, answered while they wait."""
    found, usable, breakers = _usable_with_breakers()
    if not found:
        raise ServiceUnavailable(
            "No face-recognition back-end is running: start the face-recognition-service "
            f"template on cluster {settings.FACES_CLUSTER!r}."
        )
    if not usable:
        raise ServiceUnavailable(
            "The face-recognition back-end is failing (circuit open); try again in a minute."
        )
    endpoint = random.choice(usable)
    try:
        return endpoint, breakers[endpoint.name].call(backend.detect, endpoint, **request)
    except (BackendError, pybreaker.CircuitBreakerError) as exc:
        raise ServiceUnavailable(f"The face-recognition back-end did not answer: {exc}") from None


def _thumbnail_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}.jpg"


# -- people and known faces -------------------------------------------------------------------


def _on_gallery_change() -> None:
    from faces.tasks import gallery_publish_task

    transaction.on_commit(gallery_publish_task.delay)


@transaction.atomic
def person_create(*, actor: Actor, name: object) -> Person:
    name = _check_name(name)
    try:
        with transaction.atomic():
            person = Person.objects.create(name=name)
    except IntegrityError:
        raise ValidationError({"name": f"A person named {name!r} exists already."}) from None
    audit_record(actor=actor, action=AuditAction.CREATE, obj=person)
    return person


@transaction.atomic
def person_rename(*, actor: Actor, person: Person, name: object) -> Person:
    name = _check_name(name)
    if name == person.name:
        return person
    old = person.name
    person.name = name
    try:
        with transaction.atomic():
            person.save(update_fields=["name", "updated_at"])
    except IntegrityError:
        raise ValidationError({"name": f"A person named {name!r} exists already."}) from None
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=person, changes={"name": [old, name]})
    return person


def _delete_files(*fields) -> None:
    for file in fields:
        if file:
            transaction.on_commit(lambda f=file: f.storage.delete(f.name))


@transaction.atomic
def person_delete(*, actor: Actor, person: Person) -> None:
    """Faces are personal data: the person's known images and encodings go with them; faces
    they were recognised in become unknown."""
    for known in person.known_faces.all():
        _delete_files(known.file, known.thumbnail)
    audit_record(
        actor=actor, action=AuditAction.DELETE, obj=person,
        changes={"known_faces": person.known_faces.count()},
    )  # fmt: skip
    person.delete()
    _on_gallery_change()


def _one_face(detection: Detection, field: str):
    if not detection.faces:
        raise ValidationError({field: "No face found in this image."})
    if len(detection.faces) > 1:
        raise ValidationError({field: f"{len(detection.faces)} faces: crop to one."})
    return detection.faces[0]


def known_face_add(
    *,
    actor: Actor,
    person: Person,
    volume: str = "",
    path: str = "",
    upload: UploadedFile | None = None,
) -> KnownFace:
    """A reference photo: it must show exactly one face, whose encoding the back-end computes.
    The back-end is called before the transaction: a circuit this call opens is audited even
    when the image is refused, and no transaction stays open while the back-end works."""
    if upload is not None:
        extension = _check_upload("image", upload)
        data = upload.read()
        field, request = "image", {"data": data}
    else:
        volume, path = _check_volume(volume), _check_path("path", path)
        field, request = "path", {"volume": volume, "path": path}
    try:
        _, detection = _detect_now(margin=KNOWN_MARGIN, **request)
    except ImageRejected as exc:
        raise ValidationError({field: str(exc)}) from None
    face = _one_face(detection, field)
    known = KnownFace(
        person=person, source=ImageSource.UPLOAD if upload is not None else ImageSource.VOLUME,
        volume=volume, path=path if upload is None else (upload.name or "")[:PATH_MAX_CHARS],
        width=detection.width, height=detection.height, box=face.box,
        encoding=encoding_bytes(face.encoding), created_by=actor.user,
    )  # fmt: skip
    with transaction.atomic():
        if upload is not None:
            known.file.save(f"{uuid.uuid4().hex}.{extension}", ContentFile(data), save=False)
        if detection.thumbnail:
            thumbnail = ContentFile(detection.thumbnail)
            known.thumbnail.save(_thumbnail_name("known"), thumbnail, save=False)
        known.save()
        audit_record(
            actor=actor, action=AuditAction.CREATE, obj=known, object_type="knownface",
            changes={"person": person.name, "image": known.path},
        )  # fmt: skip
        _on_gallery_change()
    return known


@transaction.atomic
def known_face_remove(*, actor: Actor, known: KnownFace) -> None:
    audit_record(
        actor=actor, action=AuditAction.DELETE, obj=known, object_type="knownface",
        changes={"person": known.person.name},
    )  # fmt: skip
    _delete_files(known.file, known.thumbnail)
    known.delete()
    _on_gallery_change()


@transaction.atomic
def face_name(*, actor: Actor, face: Face, name: object) -> KnownFace:
    """One click on an unknown face: it becomes a known face of that person (new or existing),
    and every unknown face is matched again against the grown gallery."""
    name = _check_name(name)
    person = Person.objects.filter(name__iexact=name).first() or person_create(
        actor=actor, name=name
    )
    image = face.image
    known = KnownFace(
        person=person, source=image.source, volume=image.volume, path=image.path,
        width=image.width, height=image.height, box=face.box, encoding=face.encoding,
        from_face=face, created_by=actor.user,
    )  # fmt: skip
    for field in ("file", "thumbnail"):
        source = getattr(image, field)
        if not source:
            continue
        try:
            with source.open("rb") as handle:
                data = handle.read()
        except OSError:
            continue  # the picture is gone; the encoding is what matching needs
        name = _thumbnail_name("named") if field == "thumbnail" else source.name.rsplit("/", 1)[-1]
        getattr(known, field).save(name, ContentFile(data), save=False)
    known.save()
    face.person, face.distance = person, 0.0
    face.save(update_fields=["person", "distance"])
    audit_record(
        actor=actor, action=AuditAction.CREATE, obj=known, object_type="knownface",
        changes={"person": person.name, "from_image": image.pk},
    )  # fmt: skip
    from faces.tasks import gallery_publish_task

    transaction.on_commit(lambda: gallery_publish_task.delay(reidentify=True))
    return known


# -- the gallery as a folder for the batch template ---------------------------------------------


def _local_volume_dir(cluster: Cluster, name: str) -> Path:
    volume = cluster.volumes.filter(name=name).first()
    if volume is None:
        names = ", ".join(sorted(cluster.volumes.values_list("name", flat=True))) or "none"
        raise ValidationError(
            {"volume": f"No volume {name!r} on {cluster.name} (volumes: {names})."}
        )
    path = Path(volume.local_path or volume.name)
    return path if path.is_absolute() else Path(settings.LOCAL_DATA_ROOT) / path


def _folder_name(name: str) -> str:
    """A person's name as one path component, kept readable (the batch reads it back as the
    person's label)."""
    cleaned = name.replace("/", "-").replace("\\", "-").strip()
    return cleaned if cleaned not in ("", ".", "..") else f"person-{abs(hash(name))}"


def gallery_export(*, actor: Actor, volume: str, folder: object = "known-faces") -> dict:
    """Write the gallery as a known-faces folder (`<folder>/<person>/<n>.<ext>`) on a volume of
    the local cluster, for the face-identification batch template's `known` parameter. The
    folder is replaced whole; known images whose picture the panel cannot read (on a
    Kubernetes volume) are listed as skipped."""
    from clusters.selectors import cluster_get_by_ref

    cluster = cluster_get_by_ref("local")
    if cluster is None:
        raise ValidationError({"volume": "There is no local cluster to export to."})
    folder = _check_path("folder", folder).strip("/")
    root = _local_volume_dir(cluster, volume).resolve()
    target = (root / folder).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ValidationError({"folder": "Name a folder inside the volume."})
    if target.exists() and not _is_export(target):
        raise ValidationError({"folder": (
            f"{folder!r} exists on {volume} and is not a gallery export: it would be replaced "
            "whole. Name a new folder, or one an earlier export wrote."
        )})  # fmt: skip
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    written, skipped = 0, []
    counts: dict[int, int] = {}
    sources = {v.name: v for v in faces_cluster().volumes.all()} if faces_cluster() else {}
    try:
        for known in KnownFace.objects.select_related("person").order_by("person__name", "pk"):
            data = _known_face_bytes(known, sources)
            if data is None:
                skipped.append(known.pk)
                continue
            counts[known.person_id] = counts.get(known.person_id, 0) + 1
            suffix = Path(known.file.name or known.path).suffix.lower() or ".jpg"
            destination = (
                staging / _folder_name(known.person.name) / f"{counts[known.person_id]}{suffix}"
            )
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            written += 1
        staging.mkdir(parents=True, exist_ok=True)
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="gallery-export",
        object_repr=f"{volume}:{folder}", changes={"images": written, "people": len(counts)},
    )  # fmt: skip
    return {"volume": volume, "folder": folder, "images": written, "people": len(counts),
            "skipped": skipped}  # fmt: skip


def _is_export(folder: Path) -> bool:
    """Only what an export writes: folders of people holding numbered images (or nothing)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    for person in folder.iterdir():
        if not person.is_dir() or person.is_symlink():
            return False
        if any(not (image.is_file() and image.stem.isdigit()) for image in person.iterdir()):
            return False
    return True


def _known_face_bytes(known: KnownFace, volumes: dict) -> bytes | None:
    try:
        if known.file:
            with known.file.open("rb") as handle:
                return handle.read()
        volume = volumes.get(known.volume)
        cluster = faces_cluster()
        if volume is None or cluster is None or not cluster.is_local:
            return None
        root = _local_volume_dir(cluster, volume.name).resolve()
        path = (root / known.path).resolve()
        return path.read_bytes() if path.is_relative_to(root) else None
    except OSError:
        return None


# -- the receiver -----------------------------------------------------------------------------


def _enqueue(ids: Iterable[int]) -> None:
    from faces.tasks import image_process_task

    ids = list(ids)

    def send() -> None:
        for image_id in ids:
            image_process_task.apply_async((image_id,), queue=settings.FACES_QUEUE)

    transaction.on_commit(send)


@transaction.atomic
def images_submit(
    *,
    actor: Actor,
    volume: object = "",
    paths: list | None = None,
    upload: UploadedFile | None = None,
) -> list[FaceImage]:
    """The receiver: rows are stored `pending` and their ids queued once they commit. Every
    check runs first, so a rejected request stores nothing."""
    now = timezone.now()
    if upload is not None:
        extension = _check_upload("image", upload)
        image = FaceImage(
            source=ImageSource.UPLOAD, path=(upload.name or "")[:PATH_MAX_CHARS],
            submitted_by=actor.user, queued_at=now,
        )  # fmt: skip
        image.file.save(f"{uuid.uuid4().hex}.{extension}", upload, save=False)
        image.save()
        images = [image]
    else:
        volume = _check_volume(volume)
        if not isinstance(paths, list) or not paths:
            raise ValidationError({"paths": "Give at least one path."})
        if len(paths) > PATHS_PER_REQUEST:
            raise ValidationError({"paths": f"At most {PATHS_PER_REQUEST} paths per request."})
        checked = [_check_path("paths" if len(paths) > 1 else "path", p) for p in paths]
        images = FaceImage.objects.bulk_create(
            FaceImage(
                source=ImageSource.VOLUME,
                volume=volume,
                path=path,
                submitted_by=actor.user,
                queued_at=now,
            )  # fmt: skip
            for path in checked
        )
    _enqueue(image.pk for image in images)
    return images


@transaction.atomic
def image_delete(*, actor: Actor, image: FaceImage) -> None:
    _delete_files(image.file, image.thumbnail)
    image.delete()


@transaction.atomic
def images_retry(*, actor: Actor, images: QuerySet[FaceImage]) -> int:
    """Failed images chosen by a filter go back to the queue, with their attempts reset."""
    ids = list(images.filter(status=ImageStatus.FAILED).values_list("pk", flat=True)[:100_000])
    FaceImage.objects.filter(pk__in=ids, status=ImageStatus.FAILED).update(
        status=ImageStatus.PENDING, error="", attempts=0, claim="", queued_at=timezone.now(),
        started_at=None, finished_at=None,
    )  # fmt: skip
    if ids:
        audit_record(
            actor=actor, action=AuditAction.UPDATE, object_type="faceimage",
            object_repr=f"{len(ids)} failed image(s)", changes={"status": ["failed", "pending"]},
        )  # fmt: skip
    _enqueue(ids)
    return len(ids)


# -- the processor ----------------------------------------------------------------------------


def _release(image_id: int, claim: str, *, count_attempt: bool, error: str = "") -> None:
    """Back to `pending`, for a later message (a retry, the probe that closes the circuit, or
    beat). `queued_at` cleared: no message is on its way for it."""
    FaceImage.objects.filter(pk=image_id, status=ImageStatus.PROCESSING, claim=claim).update(
        status=ImageStatus.PENDING, claim="", queued_at=None, error=error,
        attempts=F("attempts") if count_attempt else F("attempts") - 1,
    )  # fmt: skip


def _fail(image_id: int, claim: str, error: str) -> None:
    FaceImage.objects.filter(pk=image_id, status=ImageStatus.PROCESSING, claim=claim).update(
        status=ImageStatus.FAILED, claim="", error=error[:2000], finished_at=timezone.now()
    )


def _backoff(attempt: int) -> float:
    delay = min(settings.FACES_RETRY_MAX_DELAY, settings.FACES_RETRY_DELAY * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.5)


def image_process(*, image_id: int) -> str:
    """Claim one pending image, have a back-end find its faces, match them, store the result.
    Raises RetryLater for a transient failure with attempts left."""
    claim = uuid.uuid4().hex
    claimed = FaceImage.objects.filter(pk=image_id, status=ImageStatus.PENDING).update(
        status=ImageStatus.PROCESSING, claim=claim, started_at=timezone.now(),
        attempts=F("attempts") + 1,
    )  # fmt: skip
    if not claimed:
        return "not pending"
    try:
        return _process_claimed(image_id, claim)
    except RetryLater:
        raise
    except Exception as exc:
        # Redis gone mid-image, a bug: the row must not wait in `processing` for beat's
        # stale sweep. Back to pending with no message on its way, so beat sends it again.
        logger.exception("face image %s: processing failed, released for a later try", image_id)
        _release(image_id, claim, count_attempt=True, error=f"{type(exc).__name__}: {exc}"[:500])
        raise


def _process_claimed(image_id: int, claim: str) -> str:
    image = FaceImage.objects.get(pk=image_id)
    found, usable, breakers = _usable_with_breakers()
    if not usable:
        _release(image_id, claim, count_attempt=False)
        return "no back-end" if not found else "circuit open"
    if image.source == ImageSource.UPLOAD:
        try:
            with image.file.open("rb") as handle:
                request = {"data": handle.read()}
        except (OSError, ValueError) as exc:
            # The reason without the path: where the panel keeps files is not the viewers'.
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            _fail(image_id, claim, f"the uploaded file cannot be read: {reason}")
            return "failed"
    else:
        request = {"volume": image.volume, "path": image.path}
    try:
        with backend.least_busy(usable) as endpoint:
            detection = breakers[endpoint.name].call(backend.detect, endpoint, **request)
    except ImageRejected as exc:
        _fail(image_id, claim, str(exc))
        return "failed"
    except pybreaker.CircuitBreakerError:
        _release(image_id, claim, count_attempt=False)
        return "circuit open"
    except BackendError as exc:
        if image.attempts >= settings.FACES_MAX_ATTEMPTS:
            _fail(image_id, claim, f"gave up after {image.attempts} attempts: {exc}")
            return "failed"
        _release(image_id, claim, count_attempt=True, error=str(exc)[:2000])
        FaceImage.objects.filter(pk=image_id, status=ImageStatus.PENDING).update(
            queued_at=timezone.now()
        )
        raise RetryLater(_backoff(image.attempts)) from None
    return _store_result(image, claim, endpoint, detection)


def _store_result(image: FaceImage, claim: str, endpoint: Endpoint, detection: Detection) -> str:
    encodings = np.array([f.encoding for f in detection.faces]).reshape(-1, 128)
    matches = identify(encodings)
    thumbnail = None
    if detection.thumbnail:
        thumbnail = image.thumbnail.storage.save(
            f"faces/thumbs/{_thumbnail_name(f'image-{image.pk}')}",
            ContentFile(detection.thumbnail),
        )
    with transaction.atomic():
        done = FaceImage.objects.filter(
            pk=image.pk, status=ImageStatus.PROCESSING, claim=claim
        ).update(
            status=ImageStatus.PROCESSED, claim="", error="", finished_at=timezone.now(),
            width=detection.width, height=detection.height, backend=endpoint.name,
            thumbnail=thumbnail or "",
        )  # fmt: skip
        if not done:  # beat gave the row to another processor meanwhile: its result counts
            transaction.on_commit(lambda: thumbnail and image.thumbnail.storage.delete(thumbnail))
            return "claim lost"
        Face.objects.bulk_create(
            Face(
                image_id=image.pk,
                box=face.box,
                encoding=encoding_bytes(face.encoding),
                person_id=person,
                distance=distance,
            )  # fmt: skip
            for face, (person, distance) in zip(detection.faces, matches, strict=True)
        )
    return "processed"


def faces_reidentify(*, batch: int = 2000) -> int:
    """Match every unknown face again (the gallery grew); returns how many became known."""
    found, last = 0, 0
    while True:
        rows = list(
            Face.objects.filter(person__isnull=True, pk__gt=last)
            .order_by("pk")
            .values_list("pk", "encoding")[:batch]
        )
        if not rows:
            return found
        last = rows[-1][0]
        matches = identify(np.vstack([encoding_array(data) for _, data in rows]))
        for (pk, _), (person, distance) in zip(rows, matches, strict=True):
            if person is not None:
                found += Face.objects.filter(pk=pk, person__isnull=True).update(
                    person_id=person, distance=distance
                )


# -- recovery ---------------------------------------------------------------------------------


def _queue_length() -> int:
    from faces.breaker import _redis

    try:
        return int(_redis().llen(settings.FACES_QUEUE))
    except Exception:  # noqa: BLE001 - unknown: assume messages are waiting, do not duplicate
        return 1


def images_requeue_stale(*, older_than: float | None = None, limit: int | None = None) -> dict:
    """Beat: rows the queue lost. `processing` rows whose processor died, and `pending` rows
    with no message on its way (released while the circuit was open, or queued before a broker
    restart that lost its queue). Not while no back-end can take them."""
    found, usable = usable_endpoints()
    if not usable:
        return {"skipped": "no back-end" if not found else "circuit open"}
    age = timedelta(seconds=settings.FACES_REQUEUE_AFTER if older_than is None else older_than)
    limit = limit or settings.FACES_REQUEUE_BATCH
    cutoff = timezone.now() - age
    stuck = list(
        FaceImage.objects.filter(status=ImageStatus.PROCESSING, started_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    FaceImage.objects.filter(pk__in=stuck, status=ImageStatus.PROCESSING).update(
        status=ImageStatus.PENDING, claim="", queued_at=timezone.now()
    )
    waiting = FaceImage.objects.filter(status=ImageStatus.PENDING).filter(
        Q(queued_at__isnull=True) | Q(queued_at__lt=cutoff)
    )
    if _queue_length() > 0:  # messages are still waiting: only rows known to have none
        waiting = waiting.filter(queued_at__isnull=True)
    pending = list(
        waiting.order_by("pk").values_list("pk", flat=True)[: max(0, limit - len(stuck))]
    )
    FaceImage.objects.filter(pk__in=pending, status=ImageStatus.PENDING).update(
        queued_at=timezone.now()
    )
    if stuck or pending:
        logger.warning(
            "faces: re-queued %s image(s) stuck in processing and %s pending without a message",
            len(stuck), len(pending),
        )  # fmt: skip
    _enqueue([*stuck, *pending])
    return {"processing": len(stuck), "pending": len(pending)}


def backends_probe() -> dict[str, bool | None]:
    """Beat: one probe per open circuit whose wait is over; waiting images go back to the
    queue when one closes."""
    from faces.breaker import probe

    results = {endpoint.name: probe(endpoint) for endpoint in backend.endpoints()}
    if any(results.values()):
        images_requeue_waiting()
    return results


def images_requeue_waiting(*, limit: int | None = None) -> int:
    """Images released while no back-end could take them (no message on its way) go back to
    the queue, oldest first, a batch at a time; beat sends the rest later."""
    waiting = list(
        FaceImage.objects.filter(status=ImageStatus.PENDING, queued_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[: limit or settings.FACES_REQUEUE_BATCH]
    )
    FaceImage.objects.filter(pk__in=waiting, queued_at__isnull=True).update(
        queued_at=timezone.now()
    )
    _enqueue(waiting)
    return len(waiting)
