"""Frames to files: an MP4 that plays in every browser, with its recipe inside, and a poster frame.

The MP4 is H.264 (x264) in yuv420p, BT.709 and tagged so, with its index (`moov`) ahead of the
frames (`faststart`), so a browser starts playing before the whole file has arrived. Its metadata
holds the recipe (models/common/recipes.py `mp4_tags`): `ffprobe -show_format` lists the prompt,
the A1111-style recipe and the request as JSON. Encoded in-process with PyAV, whose wheels carry
FFmpeg with libx264: no ffmpeg program needed where the model runs. x264 is deterministic, so the
same frames make the same bytes.
"""

from __future__ import annotations

import io
import os
import tempfile

CRF = 18  # x264's constant quality: visually lossless for most clips, a few MB per 5 s at 768×512
X264_PRESET = "fast"  # against "medium": a little larger, about twice as fast to encode
POSTER_QUALITY = 85


def mp4_bytes(frames, fps: int, tags: dict[str, str]) -> bytes:
    """`frames` (a uint8 array of frames × height × width × RGB) as MP4 bytes with `tags` as metadata."""
    import av

    count, height, width, _ = frames.shape
    # The muxer rewrites the file's start to move the index there (faststart): it needs a real file.
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="atelier-")
    os.close(fd)
    try:
        # use_metadata_tags: keys of our own (`atelier`) as well as title and comment.
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart+use_metadata_tags"}) as out:
            out.metadata.update(tags)
            stream = out.add_stream("libx264", rate=fps, options={"crf": str(CRF), "preset": X264_PRESET})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            # BT.709, limited range: what browsers assume for video, converted so and tagged so.
            codec = stream.codec_context
            codec.colorspace = codec.color_primaries = codec.color_trc = 1  # ITU-R BT.709
            codec.color_range = 1  # limited ("tv")
            for i in range(count):
                frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
                frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
                out.mux(stream.encode(frame))
            out.mux(stream.encode())  # what the encoder still holds
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def poster_webp(frame) -> bytes:
    """One frame (height × width × RGB, uint8) as a WebP picture: the still a player shows first."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame, "RGB").save(buf, format="WEBP", quality=POSTER_QUALITY)
    return buf.getvalue()
