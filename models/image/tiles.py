"""Upscaling in tiles: a picture twice its size, redrawn piece by piece at the model's own size.

The picture is first resized (Lanczos), then cut into overlapping tiles of the preset's default
size; each tile is redrawn by image-to-image (with the family's tile or blur control where it has
one, so the tile keeps its content), and the tiles are laid back with linear ramps over their
overlaps, so no seam shows where two meet. One tile at a time: a 2048² result costs the GPU no more
than one image at the preset's size. Plain numpy and Pillow: the pipeline call is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

OVERLAP = 0.25  # of a tile's side


def starts(length: int, tile: int, grid: int = 8) -> list[int]:
    """Where tiles of `tile` pixels start along a side of `length`: overlapping by about OVERLAP, the
    last one flush with the end, every start on the grid."""
    if length <= tile:
        return [0]
    step = max(grid, int(tile * (1 - OVERLAP)) // grid * grid)
    found = list(range(0, length - tile, step))
    return found + [length - tile]


def layout(size: tuple[int, int], tile: int) -> list[tuple[int, int, int, int]]:
    """The tiles (left, top, right, bottom) covering a picture of `size`."""
    width, height = size
    tw, th = min(tile, width), min(tile, height)
    return [(x, y, x + tw, y + th) for y in starts(height, th) for x in starts(width, tw)]


def _ramp(length: int, start: int, end: int, total: int) -> np.ndarray:
    """Weights along one side of a tile: rising over its first overlap, falling over its last (not at
    the picture's own edges, where nothing else covers it)."""
    weights = np.ones(length, np.float32)
    fade = max(1, int(length * OVERLAP))
    ramp = (np.arange(fade, dtype=np.float32) + 1) / (fade + 1)
    if start > 0:
        weights[:fade] = np.minimum(weights[:fade], ramp)
    if end < total:
        weights[-fade:] = np.minimum(weights[-fade:], ramp[::-1])
    return weights


def redraw(picture, tile: int, draw: Callable[[object, int], object]):
    """`picture` (PIL, already at the output size) redrawn tile by tile: `draw(tile_picture, index)`
    returns the redrawn tile (PIL, the same size). The blend of the tiles, as a PIL RGB image."""
    from PIL import Image

    width, height = picture.size
    total = np.zeros((height, width, 3), np.float32)
    weight = np.zeros((height, width, 1), np.float32)
    for index, (left, top, right, bottom) in enumerate(layout(picture.size, tile)):
        drawn = np.asarray(draw(picture.crop((left, top, right, bottom)), index).convert("RGB"), np.float32)
        mask = np.outer(_ramp(bottom - top, top, bottom, height), _ramp(right - left, left, right, width))[..., None]
        total[top:bottom, left:right] += drawn * mask
        weight[top:bottom, left:right] += mask
    return Image.fromarray((total / weight).round().clip(0, 255).astype(np.uint8))
