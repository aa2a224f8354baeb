"""Helpers for the image tests: a model instance as a container holds it, and crafted files."""

from __future__ import annotations

import struct
import zlib

from models.image.generator import ImageGenerator


def placed_generator(preset: str) -> ImageGenerator:
    """An ImageGenerator for `preset`, loaded and on its device, as a Modal container's enter
    hooks leave it: for tests that drive its batches directly."""
    model = ImageGenerator()
    model.preset = preset
    model.load()
    model.to_device()
    return model


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims any size: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
