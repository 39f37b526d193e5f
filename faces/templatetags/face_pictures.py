"""Pictures of the face pages, drawn by the browser: an inline SVG whose viewBox is the original
image's size, the stored thumbnail stretched over it, and each face's box and name on top. The
boxes stay in the original image's pixels, so nothing is drawn on the server and one thumbnail
serves every size."""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.urls import reverse

from faces.choices import ImageStatus

register = template.Library()

# Names are drawn at this fraction of the image's longer side: about 13 px on a thumbnail 200 px
# wide, and 25 px on the image's own page.
LABEL_SIZE = {"thumb": 0.065, "large": 0.035}
# An avatar shows the face and this much of its size around it, as a square.
AVATAR_ZOOM = 1.7


@dataclass(frozen=True)
class Box:
    face_id: int | None
    x: int
    y: int
    width: int
    height: int
    label: str
    title: str
    kind: str  # "known", "unknown" or "reference"
    label_x: int
    label_y: int
    label_anchor: str


def _box(box, *, face_id, label, title, kind, image: tuple[int, int], font: int) -> Box | None:
    """A face box [top, right, bottom, left] as an SVG rect with its label above it (below it
    when the face touches the top of the image, ending at its right edge near the image's)."""
    try:
        top, right, bottom, left = (int(v) for v in box)
    except (TypeError, ValueError):
        return None
    if right <= left or bottom <= top:
        return None
    width, height = image
    label_y = top - font // 4 if top - font >= 0 else min(bottom + font, height)
    # About 0.7 em a bold character: enough to tell whether the name would run off the picture.
    ends_right = left + 0.7 * font * len(label) > width
    return Box(
        face_id=face_id, x=left, y=top, width=right - left, height=bottom - top, label=label,
        title=title, kind=kind, label_x=right if ends_right else left, label_y=label_y,
        label_anchor="end" if ends_right else "start",
    )  # fmt: skip


def _placeholder(text: str, css: str) -> dict:
    return {"placeholder": text, "css": css}


def _frame(url: str, width: int, height: int, css: str, alt: str, boxes: list[Box]) -> dict:
    return {
        "url": url, "width": width, "height": height, "css": css, "alt": alt, "boxes": boxes,
        "view_box": f"0 0 {width} {height}", "aspect": "xMidYMid meet",
        "font": max(1, round(max(width, height) * LABEL_SIZE.get(css, 0.05))),
    }  # fmt: skip


@register.inclusion_tag("faces/_picture.html")
def image_picture(image, css: str = "thumb") -> dict:
    """A submitted image with every face found: known ones named, unknown ones marked."""
    if not (image.thumbnail and image.width and image.height):
        if image.status in (ImageStatus.PENDING, ImageStatus.PROCESSING):
            return _placeholder(f"{image.status}…", css)
        return _placeholder("failed" if image.status == ImageStatus.FAILED else "no picture", css)
    frame = _frame(
        reverse("face-image-thumbnail", args=[image.pk]), image.width, image.height, css,
        f"{image.label}: {len(image.faces.all())} face(s)", [],
    )  # fmt: skip
    for face in image.faces.all():
        person = face.person.name if face.person_id else ""
        distance = "" if face.distance is None else f" (distance {face.distance:.3f})"
        drawn = _box(
            face.box, face_id=face.pk, label=person or "unknown",
            title=(person or "unknown face") + distance,
            kind="known" if person else "unknown", image=(image.width, image.height),
            font=frame["font"],
        )  # fmt: skip
        if drawn:
            frame["boxes"].append(drawn)
    return frame


@register.inclusion_tag("faces/_picture.html")
def known_picture(known, css: str = "thumb") -> dict:
    """A reference photo with the one face it was accepted for."""
    if not (known.thumbnail and known.width and known.height):
        return _placeholder("no picture", css)
    frame = _frame(
        reverse("known-face-thumbnail", args=[known.pk]), known.width, known.height, css,
        f"Known image of {known.person}", [],
    )  # fmt: skip
    drawn = _box(
        known.box, face_id=None, label="", title=str(known.person), kind="reference",
        image=(known.width, known.height), font=frame["font"],
    )  # fmt: skip
    if drawn:
        frame["boxes"].append(drawn)
    return frame


@register.inclusion_tag("faces/_picture.html")
def person_avatar(person, css: str = "avatar") -> dict:
    """The person's first known face, cropped to a square around the face box."""
    known = person.first_known_face()
    if known is None:
        return _placeholder("no image", css)
    frame = known_picture(known, css)
    face = frame.get("boxes") and frame["boxes"][0]
    if not face:
        return frame
    side = round(max(face.width, face.height) * AVATAR_ZOOM)
    x = face.x + face.width // 2 - side // 2
    y = face.y + face.height // 2 - side // 2
    return {
        **frame, "boxes": [], "view_box": f"{x} {y} {side} {side}",
        "aspect": "xMidYMid slice", "alt": str(person),
    }  # fmt: skip
