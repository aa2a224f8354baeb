"""Preview pictures for share links: the card chat apps unfurl, and the gallery's thumbnails.

- Images: the first image, whole, on a blurred and darkened enlargement of itself. Chat apps
  crop a large preview to about 1.91:1, so a square picture placed as-is would lose its top
  and bottom; this way nothing is cut and the card still fills the frame.
- Music: the waveform of the WAV, read with the stdlib `wave` module (the web container
  ships numpy and Pillow, no audio libraries). An MP3 would need a decoder we don't ship,
  so it gets a drawn cover instead: a record, not a made-up waveform.

A picture is drawn once per result and kept in a small in-memory cache: a result's media
never change, and ids are random and never reused, so a cached picture can't go stale (a
deleted result is turned away before the cache is asked). Anything unreadable falls back
to the drawn cover: a preview must never turn a page into an error.
"""

from __future__ import annotations

import io
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

COVER_SIZE = (1200, 630)  # what OpenGraph and Twitter's large card expect
THUMB_SIZE = (480, 480)  # a gallery card, sharp at twice its CSS size
THUMB_SMALL = (240, 240)  # the same card on a phone or a low-density screen (srcset picks)

# The pages' palette (assets/pages.css), so a preview looks like the site it links to.
BACKGROUND_TOP = (34, 26, 56)
BACKGROUND_BOTTOM = (13, 12, 18)
CORAL = np.array((255, 138, 91))
VIOLET = np.array((139, 123, 255))
TEXT = (236, 233, 243)
MUTED = (163, 159, 178)


def render(path: Path, mime: str, size: tuple[int, int], label: str = "", fmt: str = "PNG") -> bytes:
    """The preview of one media file, encoded as `fmt` (PNG for covers, WEBP for thumbnails)."""
    return _render(path, mime, size, label, fmt)


@lru_cache(maxsize=256)  # ~256 × 30–900 kB at most; paths are unique per result
def _render(path: Path, mime: str, size: tuple[int, int], label: str, fmt: str) -> bytes:
    try:
        if mime.startswith("image/"):
            picture = _image_cover(path, size)
        elif mime in ("audio/wav", "audio/x-wav", "audio/wave"):
            picture = _waveform_cover(path, size, label)
        else:
            picture = _record_cover(size, label)
    except (OSError, EOFError, ValueError, wave.Error, Image.DecompressionBombError):
        picture = _record_cover(size, label)
    buf = io.BytesIO()
    picture.save(buf, format=fmt, **({"quality": 82} if fmt == "WEBP" else {"optimize": True}))
    return buf.getvalue()


# --- images --------------------------------------------------------------------------------


def _image_cover(path: Path, size: tuple[int, int]) -> Image.Image:
    with Image.open(path) as opened:
        picture = opened.convert("RGB")
    if size[0] == size[1]:  # a thumbnail: the middle of the picture, filling the square
        return ImageOps.fit(picture, size, Image.Resampling.LANCZOS)
    backdrop = ImageOps.fit(picture, size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(size[0] // 30))
    backdrop = ImageEnhance.Brightness(backdrop).enhance(0.45)
    margin = size[1] // 14
    whole = ImageOps.contain(picture, (size[0] - 2 * margin, size[1] - 2 * margin), Image.Resampling.LANCZOS)
    backdrop.paste(whole, ((size[0] - whole.width) // 2, (size[1] - whole.height) // 2))
    return backdrop


# --- music ---------------------------------------------------------------------------------


def _waveform_cover(path: Path, size: tuple[int, int], label: str) -> Image.Image:
    width, height = size
    margin = width // 15
    bar, gap = max(3, width // 200), max(2, width // 400)
    bars = (width - 2 * margin) // (bar + gap)
    peaks, loudness = wav_envelope(path, bars)
    picture = _background(size)
    draw = ImageDraw.Draw(picture)
    middle, reach = height // 2, height * 0.3
    for i, (peak, loud) in enumerate(zip(peaks, loudness)):
        x = margin + i * (bar + gap)
        colour = _blend(i / max(1, bars - 1))
        half = max(bar / 2, peak * reach)
        draw.rounded_rectangle((x, middle - half, x + bar, middle + half), radius=bar // 2, fill=_dim(colour, 0.45))
        half = max(bar / 2, loud * reach)
        draw.rounded_rectangle((x, middle - half, x + bar, middle + half), radius=bar // 2, fill=colour)
    _caption(draw, size, label)
    return picture


def wav_envelope(path: Path, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the peak and the RMS loudness, both scaled so the loudest column is 1.

    Reads the file a column at a time, so a five-minute stereo WAV never sits in memory whole.
    """
    with wave.open(str(path), "rb") as w:
        frames, channels, width = w.getnframes(), w.getnchannels(), w.getsampwidth()
        dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}.get(width)
        if dtype is None:
            raise ValueError(f"{width * 8}-bit WAV is not drawn")
        per_column = max(1, frames // columns)
        peaks, loudness = np.zeros(columns), np.zeros(columns)
        for i in range(columns):
            chunk = w.readframes(per_column)
            if not chunk:
                break
            samples = np.frombuffer(chunk, dtype).astype(np.float64)
            if width == 1:
                samples -= 128  # 8-bit WAV is unsigned
            level = np.abs(samples).reshape(-1, channels).max(axis=1)  # the louder channel
            peaks[i] = level.max()
            loudness[i] = np.sqrt(np.mean(level**2))
    top = peaks.max()
    if top == 0:  # silence: a flat line
        return peaks, loudness
    return peaks / top, np.minimum(loudness / top * 1.6, 1.0)  # RMS sits well below peaks; lift it to show


def _record_cover(size: tuple[int, int], label: str) -> Image.Image:
    """A drawn cover, for music we can't read: a record, grooves in the site's colours."""
    width, height = size
    picture = _background(size)
    draw = ImageDraw.Draw(picture)
    centre = (width // 2, height // 2)
    outer = int(min(width, height) * 0.36)
    draw.ellipse(_circle(centre, outer), fill=(22, 20, 30))
    for k, r in enumerate(range(outer - 6, outer // 3, -max(4, outer // 18))):
        draw.ellipse(_circle(centre, r), outline=_dim(_blend(k / 12 % 1), 0.5), width=2)
    draw.ellipse(_circle(centre, outer // 3), fill=tuple(int(c) for c in CORAL))
    draw.ellipse(_circle(centre, max(3, outer // 20)), fill=BACKGROUND_BOTTOM)
    _caption(draw, size, label)
    return picture


# --- the studio's own card ------------------------------------------------------------------


@lru_cache(maxsize=1)
def studio_card() -> bytes:
    """The studio link's preview (1200×630 PNG) while nothing is published: the brand mark, the
    name and what it does, in the pages' palette."""
    width, height = COVER_SIZE
    picture = _background(COVER_SIZE)
    draw = ImageDraw.Draw(picture)
    margin, side = width // 12, height // 4
    top = (height - side) // 2 - height // 14
    ramp = np.linspace(0, 1, side)
    tile = np.clip((ramp[None, :, None] + ramp[:, None, None]) / 2, 0, 1)
    tile = ((1 - tile) * CORAL + tile * VIOLET).astype(np.uint8)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, side - 1, side - 1), radius=side // 3, fill=255)
    picture.paste(Image.fromarray(tile, "RGB"), (margin, top), mask)
    draw.ellipse(_circle((margin + side // 2, top + side // 2), side // 4), fill=BACKGROUND_BOTTOM)
    left = margin + side + width // 24
    draw.text((left, top - height // 40), "Atelier", font=_font(height // 6), fill=TEXT)
    draw.text((left, top + side - height // 14), "Images and music from a few words", font=_font(height // 17), fill=MUTED)
    draw.text((margin, height - height // 6), "diffusers · MusicGen · share with a link", font=_font(height // 24), fill=MUTED)
    buf = io.BytesIO()
    picture.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# --- drawing helpers -------------------------------------------------------------------------


def _background(size: tuple[int, int]) -> Image.Image:
    width, height = size
    t = np.linspace(0, 1, height)[:, None, None]
    rows = (1 - t) * np.array(BACKGROUND_TOP) + t * np.array(BACKGROUND_BOTTOM)
    return Image.fromarray(np.broadcast_to(rows, (height, width, 3)).astype(np.uint8), "RGB")


def _caption(draw: ImageDraw.ImageDraw, size: tuple[int, int], label: str) -> None:
    """The wordmark and a line of facts, on covers only: a thumbnail sits beside its own text."""
    width, height = size
    if width == height:
        return
    margin = width // 15
    draw.text((margin, height // 12), "ATELIER", font=_font(height // 22), fill=MUTED)
    if label:
        draw.text((margin, height - height // 12 - height // 16), label, font=_font(height // 18), fill=TEXT)


@lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)  # Pillow's bundled font: no system fonts needed


def _blend(t: float) -> tuple[int, int, int]:
    return tuple(int(c) for c in (1 - t) * CORAL + t * VIOLET)


def _dim(colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    return tuple(int(c * amount + b * (1 - amount)) for c, b in zip(colour, BACKGROUND_BOTTOM))


def _circle(centre: tuple[int, int], r: int) -> tuple[int, int, int, int]:
    return (centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r)
