"""The training request schema: what a person gives to train a LoRA adapter, and the checked job it becomes.

A request holds 3–30 pictures (PNG, JPEG or WebP bytes; base64 in JSON), a trigger phrase (the
words that call the subject or style up later: "a photo of qwerty the dog", "in ink-wash style"),
optionally a caption per picture, the image preset whose family to train, and the recipe:
steps, rank, learning rate and resolution default to what suits the goal (a subject or a style).
`resolve` fills the recipe, checks what depends on the preset, and prepares each picture as the
trainer will see it — upright, RGB, centre-cropped to a square, at the training resolution — so a
job is small (a 512² PNG per picture) and its hashes say exactly what was trained on.

The same pictures, prompts and recipe always make the same job and so the same `run_id`: the
folder an interrupted training resumes from (models/training/run.py).

Web side too: Pillow, no torch here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.common.errors import RequestError, UploadError
from models.common.fields import MAX_SEED, Strict, base64_json, from_base64, too_many_bytes
from models.image import loras, uploads
from models.training.families import trainable_presets, trainer_for

MIN_PICTURES, MAX_PICTURES = 3, 30
MAX_PICTURE_BYTES = uploads.MAX_IMAGE_BYTES  # 8 MB each, as an input image
MAX_TRIGGER_CHARS = 100  # CLIP reads 77 tokens: a trigger is a few words, leaving room for the rest of a prompt
MAX_CAPTION_CHARS = 300
MAX_STEPS = 5000
MAX_RANK = 128
MAX_RESOLUTION = 1024
TRAINER_VERSION = 1  # part of every run id: a change to the training loop's numbers starts runs afresh
# The names a request's pictures may come under: `images`, the documented one (issue 24's API), and
# `pictures`, Atelier's first name for them, still accepted. Every way in (JSON, a form's fields, the
# result ids swapped for their pictures) reads them from here.
PICTURE_FIELDS = ("images", "pictures")


# --- what a goal's defaults are ---------------------------------------------------------------


Goal = Literal["subject", "style"]
# A subject (one dog, one face, one object) is learnt fast and overfits soon; the Modal example's
# DreamBooth settings are a fair start. A style spreads over everything in a picture: more steps,
# a higher rank, a gentler rate. Starting points, not settings this project has judged by eye
# (the offline models have random weights).
RECIPES: dict[str, dict] = {
    "subject": {"steps": 500, "rank": 16, "learning_rate": 4e-4},
    "style": {"steps": 1000, "rank": 32, "learning_rate": 1e-4},
}
DEFAULT_RESOLUTION = 512  # the Modal example's; lower where a preset's own images are smaller (tiny: 64)
DEFAULT_PRIOR_IMAGES = 10
CHECKPOINT_EVERY_AT_MOST = 100  # steps between checkpoints, by default: a restart loses at most this many


# --- the pictures -----------------------------------------------------------------------------


def _picture_bytes(value: object) -> object:
    return from_base64(value, MAX_PICTURE_BYTES, "upload", "must be a base64-encoded PNG, JPEG or WebP file.")


def _picture_kind(data: bytes) -> bytes:
    """The cheap checks, before any decoding: its size, and that it is a PNG, JPEG or WebP at all."""
    if len(data) > MAX_PICTURE_BYTES:
        raise PydanticCustomError("upload", too_many_bytes(len(data), MAX_PICTURE_BYTES))
    if uploads.sniff(data) is None:
        raise PydanticCustomError("upload", f"must be a PNG, JPEG or WebP image; this is {uploads.describe_unknown(data)}.")
    return data


def _picture_count(value: object) -> object:
    """Counted before a single picture is looked at: 300 pictures are refused, not decoded."""
    if isinstance(value, list) and not MIN_PICTURES <= len(value) <= MAX_PICTURES:
        raise PydanticCustomError(
            "sentence", f"Training needs {MIN_PICTURES} to {MAX_PICTURES} pictures; this request has {len(value)}.")
    return value


Picture = Annotated[
    bytes,
    BeforeValidator(_picture_bytes),
    AfterValidator(_picture_kind),
    PlainSerializer(base64_json, return_type=str, when_used="json"),
]
Pictures = Annotated[
    list[Picture],
    BeforeValidator(_picture_count),
    Field(description=f"{MIN_PICTURES} to {MAX_PICTURES} pictures of the subject or in the style (PNG, JPEG or WebP; "
          f"at most {MAX_PICTURE_BYTES // 2**20} MB and {uploads.MAX_IMAGE_PIXELS / 1e6:g} megapixels each): "
          "bytes, or base64 in JSON. `pictures` is accepted as another name for this field.", json_schema_extra={"minItems": MIN_PICTURES, "maxItems": MAX_PICTURES}),
]


def prepare_picture(data: bytes, resolution: int) -> bytes:
    """A picture as the trainer sees it: upright, RGB, the centre square, `resolution` px, as PNG.
    Raises UploadError for a picture that can't be decoded or is too small to train on."""
    from PIL import Image

    image = uploads.to_rgb(uploads.open_image(data, uploads.MAX_IMAGE_PIXELS))
    width, height = image.size
    if min(width, height) < resolution // 2:  # upscaled more than 2×, it teaches blur
        raise UploadError(f"is {width}×{height}; training at {resolution} px needs pictures at least "
                          f"{resolution // 2} px on their shorter side.")
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    return uploads.png(square)


def prompt_for(trigger: str, caption: str) -> str:
    """What a picture is trained under: its caption, holding the trigger (added in front if missing)."""
    if not caption:
        return trigger
    return caption if trigger.lower() in caption.lower() else f"{trigger}, {caption}"


# --- the request --------------------------------------------------------------------------------


class TrainingRequest(Strict):
    """Train a LoRA adapter on a few pictures. Unset recipe fields take the goal's defaults."""

    kind: ClassVar[str] = "training"

    pictures: Pictures = Field(validation_alias=AliasChoices(*PICTURE_FIELDS))
    trigger: str = Field(min_length=1, max_length=MAX_TRIGGER_CHARS,
                         description="The words that call the subject or style up: 'a photo of qwerty the dog'.")
    captions: list[Annotated[str, Field(max_length=MAX_CAPTION_CHARS)]] = Field(
        [], max_length=MAX_PICTURES,
        description="One caption per picture, in the pictures' order, or none (each is then trained as the trigger).")
    preset: str | None = Field(None, description=f"The image preset whose family to train: {', '.join(trainable_presets())}.")
    goal: Goal = Field("subject", description="What the pictures share: a subject (one dog, one face) or a style.")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="Training steps.")
    rank: int | None = Field(None, ge=1, le=MAX_RANK, description="The adapter's rank: its capacity, and its size.")
    learning_rate: float | None = Field(None, gt=0, le=1e-2, description="AdamW's learning rate.")
    resolution: int | None = Field(None, ge=64, le=MAX_RESOLUTION, multiple_of=64,
                                   description="Side of the square the pictures are trained at, in pixels.")
    batch_size: int = Field(1, ge=1, le=4, description="Pictures per step.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Same seed + same pictures and recipe = the same adapter.")
    class_prompt: str | None = Field(
        None, min_length=1, max_length=MAX_TRIGGER_CHARS,
        description="Prior preservation: what the subject is an instance of ('a photo of a dog'). The base model "
        "draws pictures of it, trained on beside yours, so the adapter keeps the class as it was.")
    prior_images: int = Field(DEFAULT_PRIOR_IMAGES, ge=1, le=50, description="Pictures drawn for prior preservation.")
    prior_weight: float = Field(1.0, gt=0, le=10, description="How much prior preservation counts in the loss.")
    adapter_id: str | None = Field(None, pattern=loras.ID_PATTERN,
                                   description="The id the adapter gets in the library; made from the trigger if unset.")
    preview_every: int | None = Field(None, ge=0, le=MAX_STEPS,
                                      description="Steps between sample pictures (0: none). A fifth of the steps by default.")
    checkpoint_every: int | None = Field(None, ge=1, le=MAX_STEPS,
                                         description="Steps between checkpoints a restarted training resumes from.")

    @model_validator(mode="before")
    @classmethod
    def _pictures_under_one_name(cls, data: object) -> object:
        if isinstance(data, dict) and all(name in data for name in PICTURE_FIELDS):
            raise PydanticCustomError("sentence", "Send the pictures as `images` or as `pictures` (its other name), "
                                      "not both.")
        return data

    @model_validator(mode="after")
    def _one_caption_each(self) -> TrainingRequest:
        if self.captions and len(self.captions) != len(self.pictures):
            raise PydanticCustomError("sentence", f"Send one caption per picture ({len(self.pictures)} pictures, "
                                      f"{len(self.captions)} caption{'s' if len(self.captions) > 1 else ''}), or none.")
        return self

    def resolve(self, default_preset: str) -> TrainingJob:
        preset, _ = trainer_for(self.preset or default_preset)
        recipe = RECIPES[self.goal]
        steps = self.steps or recipe["steps"]
        resolution = self.resolution or min(DEFAULT_RESOLUTION, preset.size)
        if resolution > preset.max_size:
            raise RequestError(f"A resolution of {resolution} px is too large for {preset.name}: "
                               f"its largest side is {preset.max_size} px.")
        pictures = []
        for number, data in enumerate(self.pictures, start=1):
            try:
                pictures.append(prepare_picture(data, resolution))
            except UploadError as e:
                raise RequestError(f"Picture {number} {e}") from None
        captions = self.captions or [""] * len(pictures)
        fields = dict(
            preset=preset.name, trigger=self.trigger, goal=self.goal, pictures=pictures,
            picture_sha256=[hashlib.sha256(data).hexdigest() for data in self.pictures],
            prompts=[prompt_for(self.trigger, caption) for caption in captions],
            steps=steps, rank=self.rank or recipe["rank"],
            learning_rate=self.learning_rate or recipe["learning_rate"], resolution=resolution,
            batch_size=self.batch_size, seed=self.seed, class_prompt=self.class_prompt,
            prior_images=self.prior_images, prior_weight=self.prior_weight,
            preview_every=max(steps // 5, 1) if self.preview_every is None else self.preview_every,
            checkpoint_every=self.checkpoint_every or max(min(CHECKPOINT_EVERY_AT_MOST, steps // 5), 1),
        )
        fields["adapter_id"] = self.adapter_id or default_adapter_id(self.trigger, run_id_of(fields))
        job = TrainingJob.model_validate(fields, context={uploads.CHECKED: True})
        check_adapter_id_free(job)
        return job


def default_adapter_id(trigger: str, run_id: str) -> str:
    """The trigger as a slug, then the run id's start: two trainings of one trigger get two ids."""
    return f"{loras.slug(trigger)[:40].rstrip('-')}-{run_id[:8]}"


def check_adapter_id_free(job: TrainingJob) -> None:
    if job.adapter_id in {a.id for a in loras.list_adapters()}:
        raise RequestError(f"An adapter with id '{job.adapter_id}' is already in the library: choose another "
                           "adapter_id, or remove that one first (with these same pictures and recipe, it is "
                           "what this training would make).")


# --- the job ------------------------------------------------------------------------------------

# What a training learns from (the pictures as prepared, their prompts, the recipe); the adapter's
# id, the trigger and goal (already in the prompts and recipe) and how often to sample or
# checkpoint change nothing learnt.
_LEARNT = ("preset", "prompts", "steps", "rank", "learning_rate", "resolution", "batch_size", "seed",
           "class_prompt", "prior_images", "prior_weight")


def run_id_of(fields: dict) -> str:
    """A job's run id from its fields, as one hash: the same inputs give the same run (and resume it)."""
    learnt = {name: fields[name] for name in _LEARNT}
    learnt["pictures"] = [hashlib.sha256(data).hexdigest() for data in fields["pictures"]]
    learnt["version"] = TRAINER_VERSION
    return hashlib.sha256(json.dumps(learnt, sort_keys=True).encode()).hexdigest()[:16]



def _trained_picture(data: bytes, info: ValidationInfo) -> bytes:
    """A prepared picture (prepare_picture's PNG); direct callers' pictures are decoded and checked."""
    if info.context and info.context.get(uploads.CHECKED):
        return data
    if uploads.sniff(data) != "png":
        raise PydanticCustomError("upload", "must be a PNG prepared for training (a square RGB picture).")
    try:
        image = uploads.open_image(data, uploads.MAX_IMAGE_PIXELS)
    except UploadError as e:
        raise PydanticCustomError("upload", str(e)) from None
    if image.mode != "RGB" or image.width != image.height:
        raise PydanticCustomError("upload", f"must be a square RGB picture (it is {image.width}×{image.height} {image.mode}).")
    return data


TrainedPicture = Annotated[
    bytes,
    BeforeValidator(_picture_bytes),
    AfterValidator(_trained_picture),
    PlainSerializer(base64_json, return_type=str, when_used="json"),
]


class TrainingJob(Strict):
    """A checked, complete training: pictures prepared, every recipe field set."""

    kind: Literal["training"] = "training"
    preset: str
    trigger: str = Field(min_length=1, max_length=MAX_TRIGGER_CHARS)
    goal: Goal
    pictures: Annotated[list[TrainedPicture], Field(min_length=MIN_PICTURES, max_length=MAX_PICTURES)]
    picture_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]]  # of the pictures as sent
    prompts: list[Annotated[str, Field(min_length=1, max_length=MAX_TRIGGER_CHARS + MAX_CAPTION_CHARS + 2)]]
    steps: int = Field(ge=1, le=MAX_STEPS)
    rank: int = Field(ge=1, le=MAX_RANK)
    learning_rate: float = Field(gt=0, le=1e-2)
    resolution: int = Field(ge=64, le=MAX_RESOLUTION, multiple_of=64)
    batch_size: int = Field(ge=1, le=4)
    seed: int = Field(ge=0, le=MAX_SEED)
    class_prompt: str | None = Field(None, min_length=1, max_length=MAX_TRIGGER_CHARS)
    prior_images: int = Field(ge=1, le=50)
    prior_weight: float = Field(gt=0, le=10)
    adapter_id: str = Field(pattern=loras.ID_PATTERN)
    preview_every: int = Field(ge=0, le=MAX_STEPS)
    checkpoint_every: int = Field(ge=1, le=MAX_STEPS)

    @model_validator(mode="after")
    def _consistent(self) -> TrainingJob:
        if not len(self.pictures) == len(self.prompts) == len(self.picture_sha256):
            raise ValueError("pictures, prompts and picture_sha256 must be as many")
        trainer_for(self.preset)  # a RequestError for a preset that doesn't train
        return self

    @property
    def run_id(self) -> str:
        return run_id_of(self.model_dump())

    @property
    def recipe(self) -> dict:
        """The settings that made the adapter, for its entry in the library (no pictures, no captions)."""
        return self.model_dump(include={"preset", "goal", "steps", "rank", "learning_rate", "resolution",
                                        "batch_size", "seed", "class_prompt", "prior_images", "prior_weight"})
