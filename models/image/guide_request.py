"""What a request may say to guide an image: controls, reference images, vary and upscale.

    "controls":   [{"mode": "canny", "image": <bytes/base64>, "scale": 0.8, "start": 0, "end": 1,
                    "preprocess": true}]          up to 3 (fewer on some presets): a ControlNet each
                                                  (models/image/guides.py)
    "references": [{"image": <bytes/base64>, "scale": 0.6}]   pictures as a prompt (an IP-Adapter)

A control's or reference's picture may instead name a saved result, `"image_result": "<id>"`: the
web side swaps it for that result's first image (ui/generation/inputs.py), as it does for a
request's own `image_result`; the model side, which has no result store, refuses it.
    "vary":       "subtle" | "strong"              image-to-image from `image` at a set strength
    "upscale":    true                              `image` at twice its size, redrawn in tiles
    "parent":     "<result id>"                     what a vary or upscale started from (the record's lineage)

Pictures are checked as uploads are (models/image/uploads.py). The checks that need the preset
(which modes its family has, whether it takes references) and the output size (a control picture
must have the image's shape) are in `check`, called by ImageRequest.resolve. Web side too: no torch.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from models.common.errors import RequestError
from models.common.fields import Strict
from models.common.messages import explain
from models.image import guides, uploads
from models.image.guides import Mode
from models.image.uploads import ImageFile

MAX_CONTROLS = 3
MAX_REFERENCES = 4
CONTROL_SCALE = (0.0, 2.0)
REFERENCE_SCALE = (0.0, 1.5)
# Vary: image-to-image from a result, same prompt, new seed. Subtle keeps its composition and most of
# its details; strong keeps its layout and colours and redraws the rest.
VARY_STRENGTHS = {"subtle": 0.35, "strong": 0.7}
UPSCALE_FACTOR = 2
UPSCALE_STRENGTH = 0.35  # redraws detail at the new size; the picture's content stays
MAX_UPSCALED_SIDE = 2048
MIN_UPSCALED_SIDE = 64  # the smallest side an image job has (ImageJob): a smaller picture's double is refused
ASPECT_TOLERANCE = 0.02  # a control picture within 2% of the image's aspect ratio is stretched, not refused


ResultId = Annotated[str | None, Field(max_length=64, description="A saved result's id: its first image is the "
                                        "picture (instead of image; the web API looks it up).")]


class Picture(Strict):
    """A guide's picture: sent, or named by a saved result's id."""

    image: ImageFile | None = None
    image_result: ResultId = None

    @model_validator(mode="after")
    def _one_picture(self):
        if (self.image is None) == (self.image_result is None):
            raise PydanticCustomError("picture", "needs its picture: send image or image_result, one of them.")
        return self

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.image or b"").hexdigest()


class Control(Picture):
    """A picture whose layout the image follows (edges, depth, a pose...), through the mode's ControlNet."""

    mode: Mode = Field(description=f"What the picture shows: {', '.join(guides.MODES)} (the preset's family "
                       "decides which it has: GET /api/v1/controlnets).")
    scale: float = Field(1.0, ge=CONTROL_SCALE[0], le=CONTROL_SCALE[1],
                         description="How strongly the image follows it (0: not at all).")
    start: float = Field(0.0, ge=0, le=1, description="When, as a fraction of the steps, it starts to act.")
    end: float = Field(1.0, ge=0, le=1, description="When it stops acting.")
    preprocess: bool = Field(True, description="Make the control picture from `image` with the mode's annotator "
                             "(false: `image` is the control picture already).")

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> Control:  # runs after _one_picture
        if self.start >= self.end:
            raise ValueError(f"a control must start before it ends (start {self.start:g}, end {self.end:g})")
        return self

    def summary(self) -> dict:
        """What records and recipes keep: the settings and the picture's hash, never the picture."""
        return self.model_dump(exclude={"image", "image_result"}) | {"image_sha256": self.sha256}


class Reference(Picture):
    """A picture used as a prompt (its style, subject, colours), through the family's IP-Adapter."""

    scale: float = Field(0.6, ge=REFERENCE_SCALE[0], le=REFERENCE_SCALE[1],
                         description="How much it weighs against the text prompt.")

    def summary(self) -> dict:
        return {"scale": self.scale, "image_sha256": self.sha256}


Controls = Annotated[list[Control], Field(max_length=MAX_CONTROLS, description=f"Up to {MAX_CONTROLS} controls.")]
References = Annotated[list[Reference], Field(max_length=MAX_REFERENCES,
                                              description=f"Up to {MAX_REFERENCES} reference images.")]
Vary = Annotated[Literal["subtle", "strong"] | None, Field(
    description=f"Vary `image`: image-to-image at strength {VARY_STRENGTHS['subtle']:g} (subtle) or "
                f"{VARY_STRENGTHS['strong']:g} (strong); send a new seed (or none) and the same prompt.")]
Upscale = Annotated[bool, Field(
    description=f"Upscale `image` {UPSCALE_FACTOR}×: resized, then redrawn in tiles at strength "
                f"{UPSCALE_STRENGTH:g} (with the family's tile or blur control where it has one).")]
Parent = Annotated[str | None, Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                     description="The saved result a vary or upscale started from (kept in the record).")]


def checked_picture(data: bytes) -> bytes:
    """A picture for the annotate method, checked as an upload is: RGB PNG bytes, or a RequestError."""
    try:
        return TypeAdapter(ImageFile).validate_python(data)
    except ValidationError as e:
        raise RequestError(explain(e).replace("Request", "The picture", 1)) from None


def check_pictures(controls: list[Control], references: list[Reference]) -> None:
    """Every guide's picture is here: a result id is the web side's to swap (ui/generation/inputs.py)."""
    for kind, items in (("Control", controls), ("Reference", references)):
        for number, item in enumerate(items, start=1):
            if item.image is None:
                raise RequestError(f"{kind} {number}'s image_result can only be used through the web API, which "
                                   "looks results up: send the picture itself.")


def action(vary: str | None, upscale: bool) -> str | None:
    """What the lineage calls the job: "vary-subtle", "vary-strong", "upscale"; None for a plain one."""
    return "upscale" if upscale else (f"vary-{vary}" if vary else None)


def upscaled_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """Twice the picture's size on the grid of 8, or a RequestError if that is too big or too small."""
    width, height = (round(side * UPSCALE_FACTOR / 8) * 8 for side in image_size)
    if max(width, height) > MAX_UPSCALED_SIDE:
        raise RequestError(f"The image is {image_size[0]}×{image_size[1]}: upscaled {UPSCALE_FACTOR}× it would pass "
                           f"{MAX_UPSCALED_SIDE} px; upscale pictures up to {MAX_UPSCALED_SIDE // UPSCALE_FACTOR} px a side.")
    if min(width, height) < MIN_UPSCALED_SIDE:
        raise RequestError(f"The image is {image_size[0]}×{image_size[1]}: upscaled {UPSCALE_FACTOR}× it would still be "
                           f"under {MIN_UPSCALED_SIDE} px, the smallest side the models make; upscale pictures at least "
                           f"{-(-MIN_UPSCALED_SIDE // UPSCALE_FACTOR)} px a side.")
    return width, height


def check(preset: str, controls: list[Control], references: list[Reference], size: tuple[int, int],
          has_image: bool, has_mask: bool) -> None:
    """The checks that need the preset and the output size; RequestError with one sentence."""
    guides.check_control_count(len(controls), preset)
    for control in controls:
        guides.check_mode(control.mode, preset, control.preprocess)
    if controls and (has_image or has_mask) and not guides.guide_set(preset).controls_with_inputs:
        raise RequestError(f"{preset}'s controls work from text alone: diffusers has no ControlNet pipeline for "
                           "its family's image-to-image or inpainting.")
    guides.check_references(len(references), preset)
    width, height = size
    for number, control in enumerate(controls, start=1):
        w, h = uploads.size_of(control.image)
        if abs(w / h - width / height) > ASPECT_TOLERANCE * width / height:
            raise RequestError(f"Control {number}'s picture is {w}×{h} but the image is {width}×{height}: "
                               "send a control picture of the image's shape.")


def guides_digest(controls: list[Control], references: list[Reference]) -> str | None:
    """The controls and references as one hash, for batching: None without any."""
    if not controls and not references:
        return None
    digest = hashlib.sha256()
    for item in [*controls, *references]:
        digest.update(repr(sorted(item.summary().items())).encode())
    return digest.hexdigest()
