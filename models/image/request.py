"""The image request schema: what a person may ask of an image model, and the checked job it becomes.

A request comes in with optional fields; `resolve` fills them from the chosen preset, checks the
limits that depend on it and picks a seed, giving a job: the complete, checked description of
one generation, which is what the image model accepts. Bad input never reaches a model.

Web side too: no torch here.
"""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from models.common.errors import RequestError
from models.common.fields import MAX_PROMPT_CHARS, MAX_SEED, Prompt, Seed, Strict, seed_or_random
from models.image import guide_request, uploads
from models.image import loras as adapters
from models.image.guide_request import Controls, Parent, References, Upscale, Vary
from models.image.uploads import CHECKED, ImageFile, MaskFile
from models.presets import IMAGE_PRESETS, get_preset

MAX_IMAGES = 4

# --- LoRA adapters (models/image/loras.py holds the library) ----------------------------------------

MAX_LORAS = 4
LORA_SCALE = (-2.0, 2.0)  # negative scales push away from what the adapter learned, as A1111 allows


class LoraChoice(Strict):
    """One adapter from the library, applied at a scale (1 = as trained, 0 = not at all)."""

    id: str = Field(pattern=adapters.ID_PATTERN, description="An adapter id from GET /api/v1/loras.")
    scale: float = Field(1.0, ge=LORA_SCALE[0], le=LORA_SCALE[1], description="How strongly to apply it.")


def _no_repeats(choices: list[LoraChoice]) -> list[LoraChoice]:
    ids = [c.id for c in choices]
    if repeated := sorted({i for i in ids if ids.count(i) > 1}):
        raise PydanticCustomError("loras", f"must name each adapter once ({', '.join(repeated)} appears more than once).")
    return choices


def loras_from_text(value: object) -> object:
    """Adapters as text, "id:scale,id" (scale 1 when left out), for links, forms and the CLI."""
    if not isinstance(value, str):
        return value
    choices = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        adapter_id, _, scale = part.partition(":")
        choices.append({"id": adapter_id.strip(), "scale": scale.strip() or 1.0})
    return choices


Loras = Annotated[
    list[LoraChoice],
    BeforeValidator(loras_from_text),
    AfterValidator(_no_repeats),
    Field(max_length=MAX_LORAS, description=f"Up to {MAX_LORAS} LoRA adapters made for the preset's model family, "
          f"each with a scale from {LORA_SCALE[0]:g} to {LORA_SCALE[1]:g}; "
          "or as text, \"id:scale,id:scale\"."),
]



DEFAULT_STRENGTH = 0.6  # image-to-image: keep the picture's layout, redraw its details
DEFAULT_INPAINT_STRENGTH = 1.0  # inpainting: the masked part is drawn anew
MAX_SCHEDULE = 1000  # the schedulers' training timesteps: a schedule can't be longer (see schedule_length)


Strength = Annotated[
    float | None,
    Field(ge=0, le=1, description=f"How much of the input image is redrawn: 0 keeps it, 1 draws anew. "
          f"Default {DEFAULT_STRENGTH:g}, or {DEFAULT_INPAINT_STRENGTH:g} with a mask. Ignored without an image "
          "(so a result's settings stay usable as a recipe)."),
]


def input_size(image_size: tuple[int, int], max_side: int, width: int | None, height: int | None,
               grid: int = 8, min_side: int = 64) -> tuple[int, int]:
    """The output size for an input image: the width and height asked for; a missing one from the
    image's aspect ratio; with neither, the image's own size, scaled to fit the preset's largest
    side (or the smallest the models take) if it must, on the grid of 8 the models need."""
    w, h = image_size
    if width and height:
        return width, height
    if width:
        return width, _fit(width * h / w, grid, min_side, max_side)
    if height:
        return _fit(height * w / h, grid, min_side, max_side), height
    # Down to the preset's largest side, or up to the schema's smallest; the aspect ratio kept.
    scale = min(1.0, max_side / max(w, h)) if max(w, h) > max_side else max(1.0, min_side / min(w, h))
    return _fit(w * scale, grid, min_side, max_side), _fit(h * scale, grid, min_side, max_side)


def _fit(pixels: float, grid: int, low: int, high: int) -> int:
    return min(max(round(pixels / grid) * grid, low), high // grid * grid)


def schedule_length(steps: int, strength: float, rounds_up: bool = False) -> int:
    """The schedule to ask diffusers for so that `steps` denoising steps actually run.

    Image-to-image and inpainting pipelines skip the first part of the schedule and run only
    its last `schedule * strength` steps, rounded down (Stable Diffusion 1/2, SDXL) or up
    (`rounds_up`: SD3 and FLUX). A request's steps are the steps that run (what the progress
    bar counts and what the model costs), so sd-turbo's 2 steps at strength 0.5 ask for a
    schedule of 4, as its model card does."""
    if rounds_up:  # SD3/FLUX: t_start = int(n - n * strength), so n - t_start steps run
        length = max(math.floor(steps / strength), steps)
        while length - int(max(length - length * strength, 0)) > steps:  # float rounding
            length -= 1
        while length - int(max(length - length * strength, 0)) < steps:
            length += 1
        return length
    length = math.ceil(steps / strength)
    while min(int(length * strength), length) < steps:  # float rounding: 3 / 0.1 * 0.1 < 3
        length += 1
    return length


class ImageRequest(Strict):
    """Make images from a text prompt. Unset fields take the preset's defaults."""

    kind: ClassVar[str] = "image"

    prompt: Prompt
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="What to keep out of the image.")
    preset: str | None = Field(None, description=f"One of: {', '.join(IMAGE_PRESETS)}.")
    width: int | None = Field(None, ge=64, le=2048, multiple_of=8, description="Pixels, a multiple of 8.")
    height: int | None = Field(None, ge=64, le=2048, multiple_of=8, description="Pixels, a multiple of 8.")
    steps: int | None = Field(None, ge=1, le=100, description="Denoising steps.")
    guidance: float | None = Field(None, ge=0, le=30, description="Classifier-free guidance scale.")
    seed: Seed = None
    num_images: int = Field(1, ge=1, le=MAX_IMAGES, description="Images to make at once.")
    image: ImageFile | None = None
    image_result: str | None = Field(
        None, max_length=64, description="Start from a saved result's first image: its id (instead of image)."
    )
    mask: MaskFile | None = None
    strength: Strength = None
    loras: Loras = []
    controls: Controls = []
    references: References = []
    vary: Vary = None
    upscale: Upscale = False
    parent: Parent = None

    def resolve(self, default_preset: str) -> ImageJob:
        preset = get_preset("image", self.preset or default_preset)
        guide_request.check_pictures(self.controls, self.references)
        fields = dict(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt if preset.negative_prompt else "",
            preset=preset.name,
            width=self.width or preset.size,
            height=self.height or preset.size,
            steps=self.steps or preset.steps,
            guidance=preset.guidance if self.guidance is None else self.guidance,
            seed=seed_or_random(self.seed),
            num_images=self.num_images,
            loras=self.loras,
            controls=self.controls,
            references=self.references,
            vary=self.vary,
            upscale=self.upscale,
            parent=self.parent,
        )
        # An input image (or else the first control's picture) may set the size; the bytes were
        # checked when this request was.
        job = ImageJob.model_validate(fields | self._input_fields(preset) | self._upscale_fields(),
                                      context={CHECKED: True})
        for choice in job.loras:  # unknown, or made for another family: refused before it reaches a model
            adapters.check_choice(choice.id, preset.name)
        guide_request.check(preset.name, job.controls, job.references, (job.width, job.height),
                            has_image=job.image is not None, has_mask=job.mask is not None)
        # An upscale passes the preset's largest side: it is drawn in tiles of the preset's size.
        if max(job.width, job.height) > preset.max_size and not job.upscale:
            raise RequestError(
                f"{job.width}×{job.height} is too large for {preset.name}: "
                f"the largest side it supports is {preset.max_size} px."
            )
        if job.steps > preset.max_steps:
            raise RequestError(f"{job.steps} steps is too many for {preset.name}: use at most {preset.max_steps}.")
        if job.strength and (job.steps / job.strength > MAX_SCHEDULE  # first: a tiny strength makes it infinite
                             or schedule_length(job.steps, job.strength) > MAX_SCHEDULE):
            raise RequestError(
                f"A strength of {job.strength:g} is too low for {job.steps} steps: use at least "
                f"{math.ceil(job.steps / MAX_SCHEDULE * 1000) / 1000:g}, or 0 to keep the image as it is."
            )
        return job

    def _input_fields(self, preset) -> dict:
        """An input image's fields for the job: the image, its mask, the strength, and the size
        (the image's own unless width or height say otherwise). Nothing without an image."""
        if self.image_result is not None and self.image is not None:
            raise RequestError("Send image or image_result, not both.")
        if self.image_result is not None:
            # The web side swaps a result id for that result's image before resolving
            # (ui/generation/inputs.py); anything else has no result store to look in.
            raise RequestError("Image result can only be used through the web API, which looks results up: "
                               "send the image itself.")
        if self.image is None:
            if self.mask is not None:
                raise RequestError("A mask needs an image to paint on: send image (or image_result) too.")
            if self.vary or self.upscale:
                raise RequestError(f"{'Vary' if self.vary else 'Upscale'} needs the image to start from: "
                                   "send image (or image_result) too.")
            if self.controls:  # the first control's picture sets the size, as an input image would
                width, height = input_size(uploads.size_of(self.controls[0].image), preset.max_size,
                                           self.width, self.height)
                return {"width": width, "height": height}
            return {}
        image_size = uploads.size_of(self.image)
        if self.mask is not None and (mask_size := uploads.size_of(self.mask)) != image_size:
            raise RequestError(
                f"The mask is {mask_size[0]}×{mask_size[1]} but the image is {image_size[0]}×{image_size[1]}: "
                "paint the mask at the image's size."
            )
        width, height = input_size(image_size, preset.max_size, self.width, self.height)
        default = DEFAULT_INPAINT_STRENGTH if self.mask is not None else DEFAULT_STRENGTH
        if self.vary and self.strength is not None:
            raise RequestError("Send vary or strength, not both: vary sets the strength.")
        strength = guide_request.VARY_STRENGTHS[self.vary] if self.vary else self.strength
        return {
            "image": self.image,
            "mask": self.mask,
            "strength": default if strength is None else strength,
            "width": width,
            "height": height,
        }

    def _upscale_fields(self) -> dict:
        """An upscale's size (twice the picture's) and strength; nothing for other requests."""
        if not self.upscale:
            return {}
        if self.mask is not None or self.vary or self.width or self.height or self.controls:
            raise RequestError("Upscale takes the image alone: leave out mask, vary, controls, width and height "
                               f"(the result is {guide_request.UPSCALE_FACTOR}× the image's size).")
        width, height = guide_request.upscaled_size(uploads.size_of(self.image))
        strength = guide_request.UPSCALE_STRENGTH if self.strength is None else self.strength
        return {"width": width, "height": height, "strength": strength}


class ImageJob(Strict):
    """A checked, complete image request: every field set, seed chosen."""

    kind: Literal["image"] = "image"
    prompt: Prompt
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS)
    preset: str
    width: int = Field(ge=64, le=2048, multiple_of=8)
    height: int = Field(ge=64, le=2048, multiple_of=8)
    steps: int = Field(ge=1, le=100)
    guidance: float = Field(ge=0, le=30)
    seed: int = Field(ge=0, le=MAX_SEED)
    num_images: int = Field(ge=1, le=MAX_IMAGES)
    image: ImageFile | None = None  # RGB PNG once checked
    mask: MaskFile | None = None  # 8-bit grey PNG, the image's size
    strength: float | None = Field(None, ge=0, le=1)  # set exactly when there is an image
    loras: Loras = []
    controls: Controls = []
    references: References = []
    vary: Vary = None  # strength is already set from it: kept for the record's lineage
    upscale: Upscale = False  # width and height are already twice the image's
    parent: Parent = None

    @model_validator(mode="after")
    def _inputs_agree(self) -> ImageJob:
        if self.mask is not None and self.image is None:
            raise ValueError("a mask needs an image")
        if (self.image is None) != (self.strength is None):
            raise ValueError("strength goes with an image, and an image with a strength")
        if (self.vary or self.upscale) and self.image is None:
            raise ValueError("vary and upscale start from an image")
        if self.upscale and (self.mask is not None or self.vary):
            raise ValueError("an upscale takes the image alone")
        if any(guide.image is None for guide in [*self.controls, *self.references]):
            raise ValueError("a job's controls and references carry their pictures, not result ids")
        return self

    @property
    def guides_digest(self) -> str | None:
        """The controls and references as one hash (None without any)."""
        return guide_request.guides_digest(self.controls, self.references)

    @property
    def input_digest(self) -> str | None:
        """What the job starts from, as one hash (image, mask and strength); None without an image."""
        if self.image is None:
            return None
        digest = hashlib.sha256(self.image)
        digest.update(self.mask or b"")
        digest.update(repr((self.strength, self.upscale)).encode())
        return digest.hexdigest()


