"""The video request schema: what a person may ask of a video model, and the checked job it becomes.

A request says how long (seconds, or frames), how fast (frames per second) and how big (a width
and height, one of them, or an aspect ratio) a clip should be; `resolve` fills the rest from the
preset and turns it into a job the model can make as it is. The rules the models set are checked
here, before any GPU work, each with one sentence naming the limit and the nearest value that
works: LTX-Video makes clips of 8k+1 frames on a grid of 32 px (Mochi 6k+1 on 16 px), and each
preset has a longest clip and a largest size. Sizes a person gave are checked as given; sizes
derived (from an aspect ratio, a start image, or one side) are put on the grid and fitted.

Web side too: no torch here.
"""

from __future__ import annotations

import hashlib
import math
from typing import ClassVar, Literal

from pydantic import Field

from models.common.errors import RequestError
from models.common.fields import MAX_PROMPT_CHARS, MAX_SEED, Prompt, Seed, Strict, seed_or_random
from models.image import uploads
from models.image.uploads import CHECKED, ImageFile
from models.presets import VIDEO_PRESETS, VideoPreset, get_preset

MAX_SECONDS = 600.0  # what the schema lets through; each preset's own, far shorter limit is checked in resolve
MAX_FRAMES = 4000
MAX_SIDE = 4096  # what the schema lets through; each preset's own, far smaller limit is checked in check_limits
FPS = (8, 60)
ASPECTS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "3:2": (3, 2), "2:3": (2, 3),
}
Aspect = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3"]


class VideoRequest(Strict):
    """Make a video clip from a text prompt, or animate a picture. Unset fields take the preset's defaults."""

    kind: ClassVar[str] = "video"

    prompt: Prompt
    negative_prompt: str = Field(
        "", max_length=MAX_PROMPT_CHARS, description="What to keep out of the clip (acts only with guidance above 1)."
    )
    preset: str | None = Field(None, description=f"One of: {', '.join(VIDEO_PRESETS)}.")
    duration: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="Seconds of video (rounded to a length the model makes); or frames."
    )
    frames: int | None = Field(None, ge=1, le=MAX_FRAMES, description="Frames, exactly (LTX-Video: 8k+1); or duration.")
    fps: int | None = Field(None, ge=FPS[0], le=FPS[1], description="Frames per second.")
    width: int | None = Field(None, ge=16, le=MAX_SIDE, description="Pixels, on the preset's grid (32 for LTX-Video).")
    height: int | None = Field(None, ge=16, le=MAX_SIDE, description="Pixels, on the preset's grid (32 for LTX-Video).")
    aspect: Aspect | None = Field(None, description="An aspect ratio at the preset's default size, instead of a width and height.")
    steps: int | None = Field(None, ge=1, le=200, description="Denoising steps.")
    guidance: float | None = Field(None, ge=0, le=30, description="Classifier-free guidance scale.")
    seed: Seed = None
    image: ImageFile | None = None
    image_result: str | None = Field(
        None, max_length=64, description="Start from a saved result's first image: its id (instead of image)."
    )

    def resolve(self, default_preset: str) -> VideoJob:
        preset = get_preset("video", self.preset or default_preset)
        self._refuse_conflicts(preset)
        fps = self.fps or preset.fps
        width, height = self._size(preset)
        guidance = preset.guidance if self.guidance is None else self.guidance
        job = VideoJob.model_validate(
            dict(
                prompt=self.prompt,
                # Without guidance the pipelines never read a negative prompt: the record says so.
                negative_prompt=self.negative_prompt if guidance > 1 else "",
                preset=preset.name,
                width=width,
                height=height,
                frames=self._frames(preset, fps),
                fps=fps,
                steps=self.steps or preset.steps,
                guidance=guidance,
                seed=seed_or_random(self.seed),
                image=self.image,
            ),
            context={CHECKED: True},  # the image was checked and converted with this request
        )
        check_limits(job, preset)
        return job

    def _refuse_conflicts(self, preset: VideoPreset) -> None:
        if self.duration is not None and self.frames is not None:
            raise RequestError("Send duration or frames, not both.")
        if self.aspect is not None and self.width is not None and self.height is not None:
            raise RequestError("Send an aspect or a width and height, not both.")
        if self.image_result is not None and self.image is not None:
            raise RequestError("Send image or image_result, not both.")
        if self.image_result is not None:
            # The web side swaps a result id for that result's image before resolving
            # (ui/generation/inputs.py); anything else has no result store to look in.
            raise RequestError("Image result can only be used through the web API, which looks results up: "
                               "send the image itself.")
        if self.image is not None and not preset.takes_image:
            takers = [p.name for p in VIDEO_PRESETS.values() if p.takes_image]
            raise RequestError(f"{preset.name} can't start from an image. Presets that can: {', '.join(takers)}.")

    def _frames(self, preset: VideoPreset, fps: int) -> int:
        """The frames asked for as they are (check_limits says if the model can't make them), or
        the length the model makes nearest to the duration asked for."""
        if self.frames is not None:
            return self.frames
        if self.duration is None:
            return preset.frames
        longest = preset.max_frames / fps
        if self.duration * fps > preset.max_frames + preset.frame_step / 2:
            raise RequestError(
                f"{self.duration:g} s is too long for {preset.name}: it makes at most {longest:.1f} s "
                f"({preset.max_frames} frames at {fps} fps)."
            )
        return nearest_frames(self.duration * fps, preset)

    def _size(self, preset: VideoPreset) -> tuple[int, int]:
        """Width and height as given; a missing one from the aspect ratio (an aspect, the start
        image's, or the preset's default); neither: the preset's default area at that ratio."""
        if self.width is not None and self.height is not None:
            return self.width, self.height
        if self.aspect is not None:
            ratio = ASPECTS[self.aspect][0] / ASPECTS[self.aspect][1]
        elif self.image is not None:
            w, h = uploads.size_of(self.image)
            ratio = w / h
        else:
            ratio = preset.width / preset.height
        # The other side, from one and a thin shape, can pass even the schema's limit: kept at it, so that
        # check_limits refuses the size with its sentence (and a size that fits) rather than the job's schema.
        if self.width is not None:
            return self.width, min(on_grid(self.width / ratio, preset), MAX_SIDE)
        if self.height is not None:
            return min(on_grid(self.height * ratio, preset), MAX_SIDE), self.height
        return size_at_ratio(ratio, preset)


class VideoJob(Strict):
    """A checked, complete video request: every field set, seed chosen."""

    kind: Literal["video"] = "video"
    prompt: Prompt
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS)
    preset: str
    width: int = Field(ge=16, le=MAX_SIDE)
    height: int = Field(ge=16, le=MAX_SIDE)
    frames: int = Field(ge=1, le=MAX_FRAMES)
    fps: int = Field(ge=FPS[0], le=FPS[1])
    steps: int = Field(ge=1, le=200)
    guidance: float = Field(ge=0, le=30)
    seed: int = Field(ge=0, le=MAX_SEED)
    image: ImageFile | None = None  # RGB PNG once checked: the first frame to animate

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def image_sha256(self) -> str | None:
        return hashlib.sha256(self.image).hexdigest() if self.image is not None else None


# --- the models' rules: one place for each ------------------------------------------------------


def check_limits(job: VideoJob, preset: VideoPreset) -> None:
    """What the preset's model can make, checked before any GPU work (by resolve, and again by
    the model for jobs that didn't come through a request). Raises RequestError."""
    if job.image is not None and not preset.takes_image:
        raise RequestError(f"{preset.name} can't start from an image.")
    step = preset.frame_step
    if job.frames > preset.max_frames:
        raise RequestError(
            f"{job.frames} frames is too long for {preset.name}: it makes at most {preset.max_frames} "
            f"({preset.max_frames / job.fps:.1f} s at {job.fps} fps)."
        )
    if job.frames < preset.min_frames or (job.frames - 1) % step:
        raise RequestError(
            f"{preset.name} makes clips of {step}k+1 frames, at least {preset.min_frames}: "
            f"use {nearest_frames(job.frames, preset)} instead of {job.frames}."
        )
    for side, pixels in (("width", job.width), ("height", job.height)):
        if pixels % preset.size_grid:
            raise RequestError(
                f"A {side} of {pixels} px is not on {preset.name}'s grid of {preset.size_grid} px: "
                f"use {on_grid(pixels, preset)}."
            )
    if max(job.width, job.height) > preset.max_side or job.width * job.height > preset.max_pixels:
        w, h = fit_size(job.width, job.height, preset)
        raise RequestError(
            f"{job.width}×{job.height} is too large for {preset.name}, which makes at most {preset.max_side} px a side "
            f"and {preset.max_pixels / 1e6:.2f} megapixels: try {w}×{h}, about the same shape."
        )
    if job.steps > preset.max_steps:
        raise RequestError(f"{job.steps} steps is too many for {preset.name}: use at most {preset.max_steps}.")


def nearest_frames(frames: float, preset: VideoPreset) -> int:
    """The frame count the preset makes nearest to `frames` (k × frame_step + 1, within its range)."""
    k = round((frames - 1) / preset.frame_step)
    return min(max(k * preset.frame_step + 1, preset.min_frames), preset.max_frames)


def on_grid(pixels: float, preset: VideoPreset) -> int:
    """The nearest width or height on the preset's grid."""
    return max(preset.size_grid, round(pixels / preset.size_grid) * preset.size_grid)


def size_at_ratio(ratio: float, preset: VideoPreset) -> tuple[int, int]:
    """The preset's default area at this width-to-height ratio, on its grid and within its limits."""
    area = preset.width * preset.height
    return fit_size(math.sqrt(area * ratio), math.sqrt(area / ratio), preset)


def fit_size(width: float, height: float, preset: VideoPreset) -> tuple[int, int]:
    """The size of this shape nearest to it on the preset's grid, within its largest side and area
    (scaled down if need be, and then rounded down so that it stays within them)."""
    scale = min(1.0, preset.max_side / max(width, height), math.sqrt(preset.max_pixels / (width * height)))
    w, h = on_grid(width * scale, preset), on_grid(height * scale, preset)
    if max(w, h) <= preset.max_side and w * h <= preset.max_pixels:
        return w, h
    grid = preset.size_grid
    return (max(grid, math.floor(width * scale / grid) * grid), max(grid, math.floor(height * scale / grid) * grid))
