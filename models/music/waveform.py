"""A picture of a clip's waveform: the music preview while a long clip is made window by window.

A music model has no audio to show until a window is done (its tokens are decoded at the
end), so the preview comes between windows: the clip so far, drawn where it sits in the whole
clip, the rest left as a thin line still to fill. Drawing it costs about a millisecond, nothing
beside a window's seconds of work.

Web side too: numpy and Pillow only.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

MIME = "image/png"
WIDTH, HEIGHT = 600, 96
INK = (99, 102, 241, 255)  # the studio theme's primary hue (assets/studio_theme.json)
LINE = (148, 163, 184, 255)  # what is still to come
QUIET = 0.05  # peaks below this are drawn at this scale, so near-silence doesn't fill the picture


def waveform_png(audio: np.ndarray, duration: float, sample_rate: int) -> bytes:
    """`audio` (the clip so far, mono float) as a PNG of its min/max envelope, at its share of
    the width that `duration` seconds (the whole clip) would take."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    made = min(len(audio) / sample_rate / duration, 1.0) if duration > 0 else 1.0
    columns = max(1, round(WIDTH * made)) if audio.size else 0
    picture = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    middle = HEIGHT // 2
    draw.line([(columns, middle), (WIDTH - 1, middle)], fill=LINE, width=1)
    if columns:
        scale = (HEIGHT / 2 - 2) / max(float(np.max(np.abs(audio))), QUIET)
        for x, chunk in enumerate(np.array_split(audio, columns)):
            if chunk.size:
                low, high = float(chunk.min()), float(chunk.max())
                draw.line([(x, middle - high * scale), (x, middle - low * scale)], fill=INK, width=1)
    buf = io.BytesIO()
    picture.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
