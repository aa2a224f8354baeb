"""GET /api/v1/loras: the LoRA adapters a request may name (models/image/loras.py holds the library)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from models.image import loras
from models.presets import IMAGE_PRESETS, get_preset
from ui.api.schemas import ERRORS, LoraList, LoraView

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["loras"])


@router.get("/loras")
async def list_loras(
    preset: Annotated[str | None, Query(max_length=64, description="Only adapters that fit this image preset.")] = None,
) -> LoraList:
    """The adapters in the library, by id. Name them in an image request as
    `"loras": [{"id": ..., "scale": 0.8}]`, with a preset of the adapter's family."""
    family = get_preset("image", preset).family if preset else None  # unknown preset → 422
    found = await asyncio.to_thread(loras.list_adapters, family)  # files: maybe a Volume's
    return LoraList(loras=[LoraView(**vars(a), presets=_presets(a.family)) for a in found])


def _presets(family: str) -> list[str]:
    return [p.name for p in IMAGE_PRESETS.values() if p.family == family]
