"""The request schemas: one per modality, shared by the studio, the REST API and the CLI.

Every bound and every message a person sees for bad input lives here. A request comes in
with optional fields; `resolve` fills them from the chosen preset, checks the limits that
depend on it and picks a seed, giving a job: the complete, checked description of one
generation, which is what the model classes accept. Bad input never reaches a model.

Web side too: no torch here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models import loras as adapters
from models import melody as melodies
from models import uploads
from models.errors import RequestError
from models.presets import IMAGE_PRESETS, MUSIC_PRESETS, MusicPreset, get_preset

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_IMAGES = 4
MAX_MUSIC_SECONDS = 300.0
GREEDY_BELOW = 0.01  # a temperature under this takes the likeliest token (models/engines/base.py)

Prompt = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="What to make, in words."),
]
Seed = Annotated[
    int | None,
    Field(ge=0, le=MAX_SEED, description="Same seed + same parameters = same result. Random when absent."),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- LoRA adapters (models/loras.py holds the library) ----------------------------------------

MAX_LORAS = 4
LORA_SCALE = (-2.0, 2.0)  # negative scales push away from what the adapter learned, as A1111 allows


class LoraChoice(_Strict):
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


# --- image -------------------------------------------------------------------------------

# An input image (image-to-image) and its mask (inpainting). Image and mask together fit in
# the same request body as the largest melody (ui/settings.py): a mask is mostly flat colour.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_MASK_BYTES = 2 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_000_000  # checked from the header, before a pixel is decoded (a 12 MP photo fits)
DEFAULT_STRENGTH = 0.6  # image-to-image: keep the picture's layout, redraw its details
DEFAULT_INPAINT_STRENGTH = 1.0  # inpainting: the masked part is drawn anew
MAX_SCHEDULE = 1000  # the schedulers' training timesteps: a schedule can't be longer (see schedule_length)


def _from_base64(value: object, limit: int, error: str, not_base64: str) -> object:
    """JSON carries an upload (an image, a mask, a melody) as base64, a data: URL prefix being
    fine; Python callers pass bytes. A string too long for `limit` bytes is refused before it is
    decoded; `error` is the PydanticCustomError type, `not_base64` the message for bad base64."""
    if not isinstance(value, str):
        return value
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    if len(text) > (limit + 2) // 3 * 4 + 4:
        raise PydanticCustomError(error, _too_many_bytes(len(text) * 3 // 4, limit))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError(error, not_base64) from None


def _upload_from_base64(value: object, limit: int) -> object:
    return _from_base64(value, limit, "upload", "must be a base64-encoded PNG, JPEG or WebP file.")


# Validation context from `ImageRequest.resolve`: the image and mask it hands the job were checked
# and converted by the request a moment ago, so decoding them again would only cost time. (The
# model side validates jobs without it: direct callers get every check.)
CHECKED = "uploads_checked"


def _checked_image(data: bytes, info: ValidationInfo) -> bytes:
    """A real PNG, JPEG or WebP image within the limits, as RGB PNG bytes."""
    if info.context and info.context.get(CHECKED):
        return data
    return uploads.png(uploads.to_rgb(_opened(data, MAX_IMAGE_BYTES)))


def _checked_mask(data: bytes, info: ValidationInfo) -> bytes:
    """A mask within the limits with something painted on it, as 8-bit grey PNG bytes."""
    if info.context and info.context.get(CHECKED):
        return data
    mask = uploads.to_mask(_opened(data, MAX_MASK_BYTES))
    if uploads.is_empty(mask):
        raise PydanticCustomError(
            "upload", "is all black, so nothing would be repainted: paint (white) over what should change."
        )
    return uploads.png(mask)


def _opened(data: bytes, limit: int):
    if len(data) > limit:
        raise PydanticCustomError("upload", _too_many_bytes(len(data), limit))
    try:
        return uploads.open_image(data, MAX_IMAGE_PIXELS)
    except uploads.UploadError as e:
        raise PydanticCustomError("upload", str(e)) from None


def _too_many_bytes(size: int, limit: int) -> str:
    return f"file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB."


def _base64_json(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


ImageFile = Annotated[
    bytes,
    BeforeValidator(lambda value: _upload_from_base64(value, MAX_IMAGE_BYTES)),
    AfterValidator(_checked_image),
    PlainSerializer(_base64_json, return_type=str, when_used="json"),
    Field(description=f"An image to start from (PNG, JPEG or WebP; at most {MAX_IMAGE_BYTES // 2**20} MB and "
          f"{MAX_IMAGE_PIXELS / 1e6:g} megapixels): bytes, or base64 in JSON (a data: URL is fine)."),
]
MaskFile = Annotated[
    bytes,
    BeforeValidator(lambda value: _upload_from_base64(value, MAX_MASK_BYTES)),
    AfterValidator(_checked_mask),
    PlainSerializer(_base64_json, return_type=str, when_used="json"),
    Field(description=f"Inpainting: what to repaint, white on black, the size of the image (PNG, JPEG or WebP, "
          f"at most {MAX_MASK_BYTES // 2**20} MB); in an image with transparency, whatever is painted. "
          "Only with an image."),
]
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


class ImageRequest(_Strict):
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

    def resolve(self, default_preset: str) -> ImageJob:
        preset = get_preset("image", self.preset or default_preset)
        fields = dict(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt if preset.negative_prompt else "",
            preset=preset.name,
            width=self.width or preset.size,
            height=self.height or preset.size,
            steps=self.steps or preset.steps,
            guidance=preset.guidance if self.guidance is None else self.guidance,
            seed=_seed_or_random(self.seed),
            num_images=self.num_images,
            loras=self.loras,
        )
        # An input image may set the size; its bytes were checked when this request was.
        job = ImageJob.model_validate(fields | self._input_fields(preset), context={CHECKED: True})
        for choice in job.loras:  # unknown, or made for another family: refused before it reaches a model
            adapters.check_choice(choice.id, preset.name)
        if max(job.width, job.height) > preset.max_size:
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
            return {}
        image_size = uploads.size_of(self.image)
        if self.mask is not None and (mask_size := uploads.size_of(self.mask)) != image_size:
            raise RequestError(
                f"The mask is {mask_size[0]}×{mask_size[1]} but the image is {image_size[0]}×{image_size[1]}: "
                "paint the mask at the image's size."
            )
        width, height = input_size(image_size, preset.max_size, self.width, self.height)
        default = DEFAULT_INPAINT_STRENGTH if self.mask is not None else DEFAULT_STRENGTH
        return {
            "image": self.image,
            "mask": self.mask,
            "strength": default if self.strength is None else self.strength,
            "width": width,
            "height": height,
        }


class ImageJob(_Strict):
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

    @model_validator(mode="after")
    def _inputs_agree(self) -> ImageJob:
        if self.mask is not None and self.image is None:
            raise ValueError("a mask needs an image")
        if (self.image is None) != (self.strength is None):
            raise ValueError("strength goes with an image, and an image with a strength")
        return self

    @property
    def input_digest(self) -> str | None:
        """What the job starts from, as one hash (image, mask and strength); None without an image."""
        if self.image is None:
            return None
        digest = hashlib.sha256(self.image)
        digest.update(self.mask or b"")
        digest.update(repr(self.strength).encode())
        return digest.hexdigest()


# --- music -------------------------------------------------------------------------------

# A melody upload: refused if it is too big to read, too long to follow, silent or not audio.
MAX_MELODY_BYTES = 10 * 1024 * 1024
MAX_MELODY_SECONDS = 30.0  # MusicGen Melody reads up to one 30 s window of chroma
MIN_MELODY_SECONDS = 1.0
SILENT_BELOW_DBFS = -60.0  # quieter than this on average is silence (or a near-empty recording)
MELODY_RATES = (8000, 192000)


def _melody_from_base64(value: object) -> object:
    return _from_base64(value, MAX_MELODY_BYTES, "melody", "must be base64-encoded audio file bytes.")


def _checked_melody(data: bytes) -> bytes:
    """Check an uploaded melody against the limits above; return it as mono 16-bit WAV."""
    if len(data) > MAX_MELODY_BYTES:
        raise PydanticCustomError("melody", _too_many_bytes(len(data), MAX_MELODY_BYTES))
    try:
        info = melodies.read_info(data)
        if info.seconds > MAX_MELODY_SECONDS:
            raise melodies.MelodyError(f"is {info.seconds:.1f} s long; the limit is {MAX_MELODY_SECONDS:g} s.")
        if not MELODY_RATES[0] <= info.sample_rate <= MELODY_RATES[1]:
            raise melodies.MelodyError(
                f"has a sample rate of {info.sample_rate} Hz; use {MELODY_RATES[0]}–{MELODY_RATES[1]} Hz."
            )
        decoded = melodies.decode(data)
    except melodies.MelodyError as e:
        raise PydanticCustomError("melody", str(e)) from None
    if decoded.seconds < MIN_MELODY_SECONDS:
        raise PydanticCustomError(
            "melody", f"is {decoded.seconds:.2f} s long; it must be at least {MIN_MELODY_SECONDS:g} s."
        )
    if (level := decoded.rms_dbfs()) < SILENT_BELOW_DBFS:
        heard = "completely silent" if level == float("-inf") else f"silent ({level:.0f} dBFS on average)"
        raise PydanticCustomError("melody", f"is {heard}: record or choose a file where the tune can be heard.")
    return melodies.to_wav(decoded)


MelodyFile = Annotated[
    bytes,
    BeforeValidator(_melody_from_base64),
    AfterValidator(_checked_melody),
    PlainSerializer(_base64_json, return_type=str, when_used="json"),
    Field(description=f"A tune to follow (WAV; FLAC or MP3 where the server can decode them), "
          f"{MIN_MELODY_SECONDS:g}–{MAX_MELODY_SECONDS:g} s, at most {MAX_MELODY_BYTES // 2**20} MB: "
          "bytes, or base64 in JSON. Melody presets only."),
]


class MusicRequest(_Strict):
    """Make music from a text prompt. Clips longer than the model's window are continued."""

    kind: ClassVar[str] = "music"

    prompt: Prompt
    preset: str | None = Field(None, description=f"One of: {', '.join(MUSIC_PRESETS)}.")
    duration: float = Field(10.0, ge=1, le=MAX_MUSIC_SECONDS, description="Seconds of audio.")
    format: Literal["wav", "mp3"] = Field("wav", description="Audio file format.")
    seed: Seed = None
    temperature: float | None = Field(
        None, gt=0, le=2, description=f"Sampling temperature; below {GREEDY_BELOW:g}, always the likeliest token."
    )
    top_k: int | None = Field(None, ge=1, le=2048, description="Sample from the k likeliest tokens.")
    guidance: float | None = Field(None, ge=0, le=15, description="Classifier-free guidance scale.")
    overlap: float | None = Field(
        None, ge=0.5, le=10, description="Seconds of context carried into each continuation window."
    )
    melody: MelodyFile | None = None
    diffusion_decoder: bool = Field(
        False, description="Decode with MultiBand Diffusion instead of EnCodec (audiocraft presets that have it): "
        "cleaner audio, several times slower."
    )

    def resolve(self, default_preset: str) -> MusicJob:
        preset = get_preset("music", self.preset or default_preset)
        check_music_features(self, preset)
        # A sixth of the window keeps most of each pass for new music (5 s of 30 s, as in audiocraft).
        overlap = self.overlap if self.overlap is not None else round(preset.window_s / 6, 2)
        if overlap > preset.window_s / 2:
            raise RequestError(
                f"An overlap of {overlap:g} s is too long for {preset.name}, whose window is "
                f"{preset.window_s:g} s: use at most {preset.window_s / 2:g} s."
            )
        return MusicJob(
            prompt=self.prompt,
            preset=preset.name,
            duration=self.duration,
            format=self.format,
            seed=_seed_or_random(self.seed),
            temperature=preset.temperature if self.temperature is None else self.temperature,
            top_k=self.top_k or preset.top_k,
            guidance=preset.guidance if self.guidance is None else self.guidance,
            window=preset.window_s,
            overlap=overlap,
            melody=self.melody,
            diffusion_decoder=self.diffusion_decoder,
        )


def check_music_features(request: "MusicRequest | MusicJob", preset: MusicPreset) -> None:
    """A melody or a diffusion decoder only where the preset's model has one."""
    if request.melody is not None and not preset.takes_melody:
        takers = [p.name for p in MUSIC_PRESETS.values() if p.takes_melody]
        raise RequestError(f"{preset.name} can't follow a melody. Presets that can: {', '.join(takers)}.")
    if request.diffusion_decoder and preset.diffusion_decoder is None:
        havers = [p.name for p in MUSIC_PRESETS.values() if p.diffusion_decoder is not None]
        raise RequestError(
            f"{preset.name} has no MultiBand Diffusion decoder (it runs on the {preset.engine} engine). "
            f"Presets that have one: {', '.join(havers)}."
        )


class MusicJob(_Strict):
    """A checked, complete music request."""

    kind: Literal["music"] = "music"
    prompt: Prompt
    preset: str
    duration: float = Field(ge=1, le=MAX_MUSIC_SECONDS)
    format: Literal["wav", "mp3"]
    seed: int = Field(ge=0, le=MAX_SEED)
    temperature: float = Field(gt=0, le=2)
    top_k: int = Field(ge=1, le=2048)
    guidance: float = Field(ge=0, le=15)
    window: float = Field(gt=0)
    overlap: float = Field(ge=0)
    melody: MelodyFile | None = None  # mono 16-bit WAV once checked
    diffusion_decoder: bool = False


Request = ImageRequest | MusicRequest
Job = ImageJob | MusicJob
REQUESTS: dict[str, type[ImageRequest] | type[MusicRequest]] = {"image": ImageRequest, "music": MusicRequest}
JOBS: dict[str, type[ImageJob] | type[MusicJob]] = {"image": ImageJob, "music": MusicJob}


def _seed_or_random(seed: int | None) -> int:
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


# --- messages ----------------------------------------------------------------------------


def explain(error: ValidationError) -> str:
    """One readable sentence per problem, e.g. "Prompt must not be empty." """
    return " ".join(_explain_one(e) for e in error.errors())


def _explain_one(e: dict) -> str:
    field = " → ".join(str(p) for p in e["loc"]) or "request"
    label = field.replace("_", " ").capitalize()
    if e["loc"][:1] == ("loras",):  # "LoRA adapters", "LoRA adapter 2 scale" rather than "Loras → 1 → scale"
        label = "LoRA adapters" if len(e["loc"]) == 1 else f"LoRA adapter {e['loc'][1] + 1} " + " ".join(map(str, e["loc"][2:]))
    ctx = e.get("ctx", {})
    match e["type"]:
        case "missing":
            return f"{label} is required."
        case "extra_forbidden":
            return f"Unknown field '{field}'."
        case "string_too_short":
            return f"{label} must not be empty."
        case "string_too_long":
            return f"{label} is too long ({len(e['input'])} characters; the limit is {ctx['max_length']})."
        case "multiple_of":
            return f"{label} must be a multiple of {ctx['multiple_of']} (got {e['input']})."
        case "greater_than_equal" | "greater_than" | "less_than_equal" | "less_than":
            return f"{label} {e['msg'].removeprefix('Input ').rstrip('.')} (got {e['input']})."
        case "too_long":
            return f"{label} may hold at most {ctx['max_length']} items (got {ctx.get('actual_length', 'more')})."
        case "string_pattern_mismatch" if e["loc"][:1] == ("loras",):
            return f"{label} '{e['input']}' is not an adapter id: ids are lowercase letters, digits and hyphens."
        case "melody" | "upload" | "loras":  # our own messages continue the label: "Melody is silent: ..."
            return f"{label} {e['msg']}"
        case _:
            return f"{label}: {e['msg'].removeprefix('Input ')}."


def parse(kind: str, data: dict) -> Request:
    """Validate raw input (a form, JSON, CLI flags) into a request, or raise RequestError."""
    try:
        return REQUESTS[kind].model_validate(data)
    except ValidationError as e:
        raise RequestError(explain(e)) from None
