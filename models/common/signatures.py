"""What a file that is not of an accepted kind is, from its first bytes, named for a person.

An upload checker (pictures in models/image/uploads.py, melodies in models/music/melody.py)
recognises its own formats first; whatever else arrives is named here, so the message says
"this is a PDF document" rather than "invalid file". One table for every checker.
"""

from __future__ import annotations

SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"RIFF": "a RIFF file (WAV, WebP or AVI)",
    b"ID3": "an MP3 file",
    b"OggS": "an Ogg file",
    b"fLaC": "a FLAC file",
}


def describe(data: bytes, unknown: str) -> str:
    """What `data` is ("a GIF image"), or `unknown` for bytes none of the signatures starts."""
    for magic, name in SIGNATURES.items():
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[4:8] == b"ftyp":  # the ISO base media family
        return "an MP4, M4A, HEIC or AVIF file"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        return "an SVG drawing"
    return unknown
