"""What the REST API takes and answers with, as pydantic models: its OpenAPI document is made
from these, and FastAPI checks our own answers against them.

The generation requests themselves are the shared schemas of models/requests.py and each kind's request module (the one
place for bounds and messages); what is here wraps them (jobs) or describes results.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated, Literal

from fastapi import Header
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from models.common.fields import Seed, Strict
from models.image.guide_request import VARY_STRENGTHS, Picture
from models.image.guides import Mode
from models.image.request import MAX_IMAGES
from models.requests import ImageRequest, MusicRequest, VideoRequest
from ui.urls import media_path, permalink_path


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str = Field(examples=["Prompt must not be empty."])


class ErrorBody(BaseModel):
    error: ErrorDetail


class MediaFile(BaseModel):
    name: str = Field(examples=["image-0.png"])
    mime: str = Field(examples=["image/png"])
    bytes: int
    url: str = Field(description="Where to download it.")


class Result(BaseModel):
    """A saved generation: its files, and the record of how it was made."""

    model_config = ConfigDict(extra="allow")  # the model's record: model, parameters, timings, ...

    id: str
    kind: Literal["image", "music", "video"]
    created_at: float = Field(description="Unix time.")
    published: bool = Field(description="Listed in the gallery. Unpublished results are unlisted, not secret.")
    seed: int | None = None
    parameters: dict = Field(default_factory=dict, description="The complete, resolved request.")
    files: list[MediaFile]
    permalink: str = Field(description="A page to share.")


class Created(BaseModel):
    result: Result
    owner_token: str = Field(
        description="Shown only this once: send it as X-Owner-Token to publish, unpublish or delete the result."
    )


class ResultList(BaseModel):
    results: list[Result]
    next: str | None = Field(None, description="Pass as `before` for the next page; absent on the last one.")


class Progress(BaseModel):
    done: int
    total: int
    stage: str


class WebhookState(BaseModel):
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None = None


class JobView(BaseModel):
    id: str
    kind: Literal["image", "music", "video"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] = Field(
        description="queued, then running, then one of succeeded, failed and cancelled, where it stays. "
                    "`cancelled`: someone holding the job's id cancelled it (POST /api/v1/jobs/{id}/cancel); "
                    "it is never set otherwise.")
    queue_position: int | None = Field(None, description="While queued: its place in line for a model (1: next).")
    position: int | None = Field(None, description="The same as queue_position, under the name older clients read.")
    progress: Progress | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: Result | None = None
    error: ErrorDetail | None = None
    webhook: WebhookState | None = None


class JobCreated(BaseModel):
    job: JobView
    owner_token: str = Field(description="Shown only this once: the owner token the job's result will have.")


class _Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callback_url: HttpUrl | None = Field(
        None, description="Called with a signed POST (X-Atelier-Signature) when the job succeeds, fails or is "
                          "cancelled (event job.succeeded, job.failed or job.cancelled)."
    )


class ImageJobSubmission(_Submission):
    kind: Literal["image"]
    request: ImageRequest


class MusicJobSubmission(_Submission):
    kind: Literal["music"]
    request: MusicRequest


class VideoJobSubmission(_Submission):
    kind: Literal["video"]
    request: VideoRequest


class LoraView(BaseModel):
    """A LoRA adapter in the library."""

    id: str = Field(examples=["film-grain"])
    family: str = Field(examples=["sdxl"], description="The model family it is made for.")
    presets: list[str] = Field(description="The image presets it fits.")
    rank: int
    size: int = Field(description="Bytes.")
    source: str = Field(description="Where it came from: a hub repo (and file) or a file name.")
    targets: int = Field(description="How many layers it adapts.")
    added_at: float = Field(description="Unix time.")


class LoraList(BaseModel):
    loras: list[LoraView]


class ControlMode(BaseModel):
    mode: str = Field(examples=["canny"])
    summary: str = Field(description="What its control picture shows.")
    annotator: bool = Field(description="Whether a picture can be annotated into one here (else send it ready-made).")
    installed: bool = Field(description="Whether its ControlNet and annotator are downloaded (else the first "
                            "request that uses it fetches them, locally; on Modal, `download_weights` does).")


class ReferenceInfo(BaseModel):
    max: int = Field(description="Reference images one request may send.")
    installed: bool


class GuideListing(BaseModel):
    """What one image preset can be guided with."""

    preset: str = Field(examples=["sdxl-turbo"])
    family: str = Field(examples=["sdxl"])
    max_controls: int = Field(description="Controls one request may send.")
    controls: list[ControlMode]
    references: ReferenceInfo | None = Field(description="Absent where the family has no IP-Adapter.")
    upscale_control: str | None = Field(description="The control an upscale redraws its tiles with, if any.")


class GuideList(BaseModel):
    presets: list[GuideListing]


class AnnotateRequest(Picture):
    """A picture to turn into a control picture: sent (base64) or a saved result's, by id."""

    mode: Mode = Field(description="The control's mode: GET /api/v1/controlnets lists each preset's.")
    preset: str | None = Field(None, max_length=64, description="The image preset whose annotator runs "
                               "(its model's); default the server's.")


class FollowUpRequest(Strict):
    seed: Seed = None
    image: int = Field(1, ge=1, le=MAX_IMAGES, description="Which of the result's images: 1 is the first.")


class VaryRequest(FollowUpRequest):
    vary: Literal["subtle", "strong"] = Field("subtle", description=(
        f"subtle: image-to-image at strength {VARY_STRENGTHS['subtle']:g}, keeping most of it; strong: at "
        f"{VARY_STRENGTHS['strong']:g}, keeping its layout and colours."))


JobSubmission = Annotated[ImageJobSubmission | MusicJobSubmission | VideoJobSubmission, Field(discriminator="kind")]

# Documented error answers, by route group (every answer is the one shape of ui/errors.py).
ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 413, 415, 422, 429)}
GENERATION_ERRORS = {status: {"model": ErrorBody} for status in (502, 503, 504)}
NOT_FOUND = {404: {"model": ErrorBody}}
OWNER_ERRORS = {403: {"model": ErrorBody}, 404: {"model": ErrorBody}}


# The owner's secret, as the owner-only routes take it.
OwnerToken = Annotated[
    str | None,
    Header(alias="X-Owner-Token", description="The owner_token from the response that created the result."),
]


def present(record: dict, base_url: str) -> dict:
    """A public record with its media URLs and its page."""
    return {
        **record,
        "files": [{**f, "url": base_url + media_path(record["id"], f["name"])} for f in record["files"]],
        "permalink": base_url + permalink_path(record["id"]),
    }
