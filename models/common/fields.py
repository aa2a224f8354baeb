"""What every request schema shares: a strict base, the prompt and seed fields, reading an
upload (an image, a mask, a melody) that JSON carries as base64, and checking a job again
where a model receives it.

Each kind's own schema lives with its kind (models/image/request.py, models/music/request.py);
models/requests.py is the table of them. Web side too: no torch here.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1

Prompt = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="What to make, in words."),
]
Seed = Annotated[
    int | None,
    Field(ge=0, le=MAX_SEED, description="Same seed + same parameters = same result. Random when absent."),
]


class Strict(BaseModel):
    """Unknown fields are refused (a misspelt one is an error, not ignored); text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Checked = TypeVar("Checked", bound=Strict)


def checked_again(schema: type[Checked], job: Checked | dict) -> Checked:
    """`job` validated afresh as `schema`, whoever made it: what a model does with the job it is
    handed. A job object is checked from its fields (pydantic would take an instance as it is,
    and one built with `model_construct` skipped every check); a dict, from a caller that sends
    one, is checked as it is."""
    fields = job.model_dump(warnings=False) if isinstance(job, BaseModel) else job
    return schema.model_validate(fields)


def seed_or_random(seed: int | None) -> int:
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


def from_base64(value: object, limit: int, error: str, not_base64: str) -> object:
    """JSON carries an upload (an image, a mask, a melody) as base64, a data: URL prefix being
    fine; Python callers pass bytes. A string too long for `limit` bytes is refused before it is
    decoded; `error` is the PydanticCustomError type, `not_base64` the message for bad base64."""
    if not isinstance(value, str):
        return value
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    if len(text) > (limit + 2) // 3 * 4 + 4:
        raise PydanticCustomError(error, too_many_bytes(len(text) * 3 // 4, limit))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError(error, not_base64) from None


def too_many_bytes(size: int, limit: int) -> str:
    return f"file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB."


def base64_json(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

