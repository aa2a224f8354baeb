"""Uploaded images: recognising, checking and normalising an input image or an inpainting mask.

A person starts from an image of their own (image-to-image) and may paint a mask over it
(inpainting: white is repainted, black kept). This module holds the mechanics, and at its end
the request fields (`ImageFile`, `MaskFile`) with the limits and the messages a person sees:

- `sniff` tells the file type from its first bytes, never from a name or a claimed MIME type:
  PNG, JPEG and WebP are read, everything else (GIF, SVG, PDF, a renamed text file) is refused;
- `open_image` reads the header first and refuses too many pixels before a pixel is decoded
  (a 50 000 × 50 000 PNG is a few hundred bytes: a decompression bomb), then decodes it fully,
  so a truncated or corrupt file is refused here and not halfway through a generation;
- `to_rgb` / `to_mask` turn any mode Pillow reads (RGBA, P, L, CMYK, 16-bit) into the one form
  jobs carry, after applying the camera's EXIF orientation;
- `png` writes that form (lossless, so checking a job twice changes nothing).

Web side too: Pillow and numpy, no torch here. Pillow is imported inside the functions: the
request schemas import this module, and the audiocraft worker's venv (models/engines) reads
music jobs with them but has no Pillow.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, ValidationInfo
from pydantic_core import PydanticCustomError

from models.common import signatures
from models.common.errors import UploadError
from models.common.fields import base64_json, from_base64, too_many_bytes

if TYPE_CHECKING:
    from PIL import Image

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}  # ours → Pillow's name for its decoder


def sniff(data: bytes) -> str | None:
    """The image format of a file from its magic bytes, or None if it is not one we read."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def describe_unknown(data: bytes) -> str:
    """A few common files that are not PNG, JPEG or WebP, named, so the message helps."""
    return signatures.describe(data, unknown="not an image we recognise")


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """A fully decoded image, its pixel count checked from the header before decoding. Raises UploadError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    fmt = sniff(data)
    if fmt is None:
        raise UploadError(f"must be a PNG, JPEG or WebP image; this is {describe_unknown(data)}.")
    try:
        # formats=: decode with the sniffed format's reader only, whatever else the bytes resemble.
        image = Image.open(io.BytesIO(data), formats=[FORMATS[fmt]])
    except Image.DecompressionBombError:  # Pillow's own ceiling, far above ours: its header says billions
        raise UploadError(f"has far too many pixels; the limit is {max_pixels / 1e6:g} megapixels.") from None
    except UnidentifiedImageError:  # its message names a Python object, no help to a person
        raise UploadError(f"starts like a {fmt.upper()} file but is not one Pillow can read.") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UploadError(f"is not a readable {fmt.upper()} file ({_first_line(e)}).") from None
    width, height = image.size
    if width * height > max_pixels:
        raise UploadError(
            f"is {width}×{height} ({width * height / 1e6:.1f} megapixels); the limit is {max_pixels / 1e6:g} megapixels."
        )
    try:
        image.load()  # all of it now: a truncated file fails here, with a message, not in the model
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UploadError(f"is truncated or corrupt ({_first_line(e)}).") from None
    try:
        return ImageOps.exif_transpose(image)  # a phone's portrait photo is stored sideways plus a tag
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        return image  # a broken EXIF block: the pixels themselves are fine


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: transparency laid over white, 16-bit scaled down, palettes and CMYK converted."""
    from PIL import Image

    image = _eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def to_mask(image: Image.Image) -> Image.Image:
    """8-bit grey: 255 repaints, 0 keeps. An image with transparency is a painted layer, so its
    alpha is the mask (where it is painted, whatever the colour); else its brightness is."""
    image = _eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = image.convert("RGBA").getchannel("A")
        if alpha.getextrema()[0] < 255:  # some of it is see-through: the painting is the mask
            return alpha
    return image.convert("L")


def is_empty(mask: Image.Image) -> bool:
    """Nothing painted: every pixel says "keep"."""
    return mask.getextrema()[1] == 0


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # fast: these bytes only travel to the model
    return buf.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    """Width and height of an image already checked, from its header alone."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def load(data: bytes) -> Image.Image:
    """An image already checked (PNG bytes from `png`), decoded."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit greys (Pillow's I;16 and I modes) as 8-bit L, scaled, not clipped at 255."""
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(values / 257.0, 0, 255).round().astype(np.uint8), "L")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(values * 255.0, 0, 255).round().astype(np.uint8), "L")
    return image


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:120]


# --- as request fields: the limits a person meets, checked by the request schema ---------------

# An input image (image-to-image) and its mask (inpainting). Image and mask together fit in
# the same request body as the largest melody (ui/settings.py): a mask is mostly flat colour.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_MASK_BYTES = 2 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_000_000  # checked from the header, before a pixel is decoded (a 12 MP photo fits)


def _upload_from_base64(value: object, limit: int) -> object:
    return from_base64(value, limit, "upload", "must be a base64-encoded PNG, JPEG or WebP file.")


# Validation context from `ImageRequest.resolve`: the image and mask it hands the job were checked
# and converted by the request a moment ago, so decoding them again would only cost time. (The
# model side validates jobs without it: direct callers get every check.)
CHECKED = "uploads_checked"


def _checked_image(data: bytes, info: ValidationInfo) -> bytes:
    """A real PNG, JPEG or WebP image within the limits, as RGB PNG bytes."""
    if info.context and info.context.get(CHECKED):
        return data
    return png(to_rgb(_opened(data, MAX_IMAGE_BYTES)))


def _checked_mask(data: bytes, info: ValidationInfo) -> bytes:
    """A mask within the limits with something painted on it, as 8-bit grey PNG bytes."""
    if info.context and info.context.get(CHECKED):
        return data
    mask = to_mask(_opened(data, MAX_MASK_BYTES))
    if is_empty(mask):
        raise PydanticCustomError(
            "upload", "is all black, so nothing would be repainted: paint (white) over what should change."
        )
    return png(mask)


def _opened(data: bytes, limit: int):
    if len(data) > limit:
        raise PydanticCustomError("upload", too_many_bytes(len(data), limit))
    try:
        return open_image(data, MAX_IMAGE_PIXELS)
    except UploadError as e:
        raise PydanticCustomError("upload", str(e)) from None


ImageFile = Annotated[
    bytes,
    BeforeValidator(lambda value: _upload_from_base64(value, MAX_IMAGE_BYTES)),
    AfterValidator(_checked_image),
    PlainSerializer(base64_json, return_type=str, when_used="json"),
    Field(description=f"An image to start from (PNG, JPEG or WebP; at most {MAX_IMAGE_BYTES // 2**20} MB and "
          f"{MAX_IMAGE_PIXELS / 1e6:g} megapixels): bytes, or base64 in JSON (a data: URL is fine)."),
]
MaskFile = Annotated[
    bytes,
    BeforeValidator(lambda value: _upload_from_base64(value, MAX_MASK_BYTES)),
    AfterValidator(_checked_mask),
    PlainSerializer(base64_json, return_type=str, when_used="json"),
    Field(description=f"Inpainting: what to repaint, white on black, the size of the image (PNG, JPEG or WebP, "
          f"at most {MAX_MASK_BYTES // 2**20} MB); in an image with transparency, whatever is painted. "
          "Only with an image."),
]
