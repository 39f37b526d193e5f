"""Forms of the face pages. They check shapes and sizes; the services check everything else and
their ValidationError({field: message}) lands on the same field (`add_service_errors`)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from faces import selectors
from faces.choices import NAME_MAX_CHARS, PATH_MAX_CHARS, PATHS_PER_REQUEST


def _check_size(upload) -> None:
    if upload is not None and upload.size > settings.FACES_UPLOAD_MAX_BYTES:
        limit = filesizeformat(settings.FACES_UPLOAD_MAX_BYTES)
        raise ValidationError(f"The image is larger than {limit}.")


class ServiceErrorsMixin:
    # A service's field name -> the form's, where they differ.
    service_fields: dict[str, str] = {}

    def add_service_errors(self, exc: ValidationError) -> None:
        """A service's {field: messages} on the form's fields (other keys: form-wide)."""
        errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for field, messages in errors.items():
            field = self.service_fields.get(field, field)
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message)


class VolumesMixin:
    """`volume` chooses among the face service's cluster's volumes (the back-end mounts them),
    read when the form is made, not when the module is imported."""

    def set_volume_choices(self) -> None:
        names = selectors.service_volumes()
        self.fields["volume"].choices = [("", "—"), *((name, name) for name in names)]


class PersonForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=NAME_MAX_CHARS)


class NameFaceForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_CHARS, help_text="Someone in the gallery (any case) or a new person."
    )


class KnownFaceForm(ServiceErrorsMixin, VolumesMixin, forms.Form):
    """A reference photo of one face: an upload, or a path on one of the service's volumes."""

    # A FileField, not an ImageField: the service identifies the file (and the back-end
    # decodes it), so the page and the API refuse the same files with the same words.
    image = forms.FileField(
        required=False, help_text="A photo showing exactly one face.",
        widget=forms.FileInput(attrs={"accept": "image/*"}),
    )  # fmt: skip
    volume = forms.ChoiceField(required=False, help_text="Or a volume the back-end mounts...")
    path = forms.CharField(
        required=False, max_length=PATH_MAX_CHARS, strip=False,
        help_text="...and a path inside it, e.g. known/ada_1.jpg.",
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.set_volume_choices()

    def clean_image(self):
        upload = self.cleaned_data.get("image")
        _check_size(upload)
        return upload

    def clean(self):
        data = super().clean()
        upload, volume, path = data.get("image"), data.get("volume"), data.get("path")
        if upload and (volume or path):
            raise ValidationError("Upload a photo or name a path on a volume, not both.")
        if not upload and not (volume and path) and not self.errors:
            raise ValidationError("Upload a photo, or choose a volume and give a path.")
        return data


class SubmitForm(ServiceErrorsMixin, VolumesMixin, forms.Form):
    """Images for the receiver: paths on one volume (one a line), or one upload."""

    service_fields = {"path": "paths"}  # the service names a single path `path`

    volume = forms.ChoiceField(required=False, help_text="The volume the images are on.")
    paths = forms.CharField(
        required=False, strip=False,
        max_length=PATHS_PER_REQUEST * (PATH_MAX_CHARS + 2),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "unknown/obama2.jpg"}),
        help_text=f"Paths inside the volume, one a line (up to {PATHS_PER_REQUEST:,}).",
    )  # fmt: skip
    image = forms.FileField(
        required=False, help_text="Or upload one image.",
        widget=forms.FileInput(attrs={"accept": "image/*"}),
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.set_volume_choices()

    def clean_paths(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data.get("paths", "").splitlines()]
        lines = [line for line in lines if line]
        if len(lines) > PATHS_PER_REQUEST:
            raise ValidationError(f"At most {PATHS_PER_REQUEST:,} paths at once ({len(lines):,}).")
        return lines

    def clean_image(self):
        upload = self.cleaned_data.get("image")
        _check_size(upload)
        return upload

    def clean(self):
        data = super().clean()
        upload, paths, volume = data.get("image"), data.get("paths"), data.get("volume")
        if self.errors:
            return data
        if upload and (paths or volume):
            raise ValidationError("Upload an image or give paths on a volume, not both.")
        if not upload and not paths:
            raise ValidationError("Give paths on a volume, one a line, or upload an image.")
        if paths and not volume:
            self.add_error("volume", "Choose the volume the images are on.")
        return data
