"""The request schemas: one per modality, shared by the studio, the REST API and the CLI.

Every bound and every message a person sees for bad input lives here. A request comes in
with optional fields; `resolve` fills them from the chosen preset, checks the limits that
depend on it and picks a seed, giving a job: the complete, checked description of one
generation, which is what the model classes accept. Bad input never reaches a model.

Web side too: no torch here.
"""

from __future__ import annotations

import secrets
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.errors import RequestError
from models.presets import IMAGE_PRESETS, MUSIC_PRESETS, get_preset

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_IMAGES = 4
MAX_MUSIC_SECONDS = 300.0

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


# --- image -------------------------------------------------------------------------------


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

    def resolve(self, default_preset: str) -> ImageJob:
        preset = get_preset("image", self.preset or default_preset)
        job = ImageJob(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt if preset.negative_prompt else "",
            preset=preset.name,
            width=self.width or preset.size,
            height=self.height or preset.size,
            steps=self.steps or preset.steps,
            guidance=preset.guidance if self.guidance is None else self.guidance,
            seed=_seed_or_random(self.seed),
            num_images=self.num_images,
        )
        if max(job.width, job.height) > preset.max_size:
            raise RequestError(
                f"{job.width}×{job.height} is too large for {preset.name}: "
                f"the largest side it supports is {preset.max_size} px."
            )
        if job.steps > preset.max_steps:
            raise RequestError(f"{job.steps} steps is too many for {preset.name}: use at most {preset.max_steps}.")
        return job


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


# --- music -------------------------------------------------------------------------------


class MusicRequest(_Strict):
    """Make music from a text prompt. Clips longer than the model's window are continued."""

    kind: ClassVar[str] = "music"

    prompt: Prompt
    preset: str | None = Field(None, description=f"One of: {', '.join(MUSIC_PRESETS)}.")
    duration: float = Field(10.0, ge=1, le=MAX_MUSIC_SECONDS, description="Seconds of audio.")
    format: Literal["wav", "mp3"] = Field("wav", description="Audio file format.")
    seed: Seed = None
    temperature: float | None = Field(None, gt=0, le=2, description="Sampling temperature.")
    top_k: int | None = Field(None, ge=1, le=2048, description="Sample from the k likeliest tokens.")
    guidance: float | None = Field(None, ge=0, le=15, description="Classifier-free guidance scale.")
    overlap: float | None = Field(
        None, ge=0.5, le=10, description="Seconds of context carried into each continuation window."
    )

    def resolve(self, default_preset: str) -> MusicJob:
        preset = get_preset("music", self.preset or default_preset)
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
        case _:
            return f"{label}: {e['msg'].removeprefix('Input ')}."


def parse(kind: str, data: dict) -> Request:
    """Validate raw input (a form, JSON, CLI flags) into a request, or raise RequestError."""
    try:
        return REQUESTS[kind].model_validate(data)
    except ValidationError as e:
        raise RequestError(explain(e)) from None
