"""What differs between the video architectures (a preset's `family`), on the model side.

    ltx     LTX-Video: LTXPipeline, and LTXImageToVideoPipeline on the same weights (from_pipe);
            latents packed as a sequence of (frame, row, column) tokens; a VAE that decodes long
            clips in overlapping chunks of frames and takes a decode timestep
    mochi   Mochi 1: MochiPipeline (text only); latents as (channels, frames, rows, columns); a
            VAE that decodes in spatial tiles

Wan 2.x and Stable Video Diffusion would be more entries here and in models/video/previews.py,
with their presets in models/presets.py. Libraries are imported inside the functions.
"""

from __future__ import annotations

import json
import math

from models.common.weights import ensure_weights
from models.presets import VideoPreset
from models.video.request import VideoJob

# (text-to-video pipeline, image-to-video pipeline or None), diffusers class names.
PIPELINES = {"ltx": ("LTXPipeline", "LTXImageToVideoPipeline"), "mochi": ("MochiPipeline", None)}
# Pixels per latent row or column: the VAE's spatial compression (LTX's patch is 1, Mochi's 2).
LATENT_SCALE = {"ltx": 32, "mochi": 8}
# LTX-Video 0.9.1 and later decode with a little noise at a small timestep (the LTX-Video
# repository's configs, and diffusers' notes on them); a VAE without timestep conditioning ignores it.
LTX_DECODE = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
# Mochi's decode tiles: diffusers' defaults (256 px, 192 apart), all frames of a tile at once.
MOCHI_TILE, MOCHI_TILE_STRIDE = 256, 192


def load_pipeline(spec: VideoPreset, dtype):
    """The preset's text-to-video pipeline on the CPU: its folder, with the components a
    single-file checkpoint holds read from that file (with the folder's configs)."""
    import diffusers

    folder = ensure_weights(spec.weights)
    parts = {}
    if spec.checkpoint is not None:
        checkpoint = ensure_weights(spec.checkpoint) / spec.checkpoint_file
        classes = json.loads((folder / "model_index.json").read_text())
        for name in spec.checkpoint_parts:
            model_class = getattr(diffusers, classes[name][1])
            parts[name] = model_class.from_single_file(checkpoint, config=str(folder), subfolder=name, dtype=dtype)
    text_to_video, _ = PIPELINES[spec.family]
    return getattr(diffusers, text_to_video).from_pretrained(folder, dtype=dtype, **parts)


def image_pipeline(spec: VideoPreset, pipe):
    """The image-to-video pipeline on the loaded pipeline's own modules (no second copy of the
    weights), or None where the family has none."""
    import diffusers

    _, image_to_video = PIPELINES[spec.family]
    if image_to_video is None:
        return None
    derived = getattr(diffusers, image_to_video).from_pipe(pipe)
    derived.set_progress_bar_config(disable=True)
    return derived


def call_arguments(spec: VideoPreset, job: VideoJob) -> dict:
    """Arguments the family's pipelines take beyond the common ones."""
    if spec.family == "ltx":
        return {"frame_rate": job.fps, **LTX_DECODE}  # LTX's positions in time depend on the rate
    return {}


def latent_shape(spec: VideoPreset, job: VideoJob) -> tuple[int, int, int]:
    """Latent frames, rows and columns of a job's clip."""
    scale = LATENT_SCALE[spec.family]
    return (job.frames - 1) // spec.frame_step + 1, job.height // scale, job.width // scale


def middle_frame(spec: VideoPreset, latents, job: VideoJob):
    """The middle latent frame of the first clip in a step's latents, as (channels, rows, columns)."""
    frames, rows, columns = latent_shape(spec, job)
    if spec.family == "ltx":  # (batch, frames × rows × columns, channels), patch size 1
        return latents[0].reshape(frames, rows, columns, -1)[frames // 2].permute(2, 0, 1)
    return latents[0, :, frames // 2]  # (batch, channels, frames, rows, columns)


def chunk_frames(spec: VideoPreset, width: int, height: int) -> int | None:
    """LTX: frames the VAE decodes at once for clips of this size, the preset's budget of
    megapixel-frames in whole latent frames (two at least: the chunks overlap by one). None: all."""
    if spec.decode_megapixel_frames is None:
        return None
    latent_frames = math.floor(spec.decode_megapixel_frames * 1e6 / (width * height) / spec.frame_step)
    return max(2, latent_frames) * spec.frame_step


def decoded_at_once(spec: VideoPreset, width: int, height: int, frames: int) -> float:
    """Megapixel-frames the VAE decodes at once for a clip: what its memory follows."""
    if spec.family == "mochi":
        side = min(MOCHI_TILE, width), min(MOCHI_TILE, height)
        return side[0] * side[1] * frames / 1e6
    chunk = chunk_frames(spec, width, height)
    return width * height * (frames if chunk is None else min(frames, chunk + 1)) / 1e6


def decode_in_chunks(spec: VideoPreset, vae, job: VideoJob) -> None:
    """Set the VAE to decode the job's clip a part at a time. LTX: overlapping chunks of frames
    (chunk_frames; a clip within one chunk decodes whole), blended over one latent frame's worth.
    Mochi: spatial tiles of every frame (diffusers' enable_tiling, as its Mochi docs do): its
    framewise decoding needs causal convolutions padded as diffusers 0.42 does not set them."""
    if spec.family == "mochi":
        vae.enable_tiling(tile_sample_min_height=MOCHI_TILE, tile_sample_min_width=MOCHI_TILE,
                          tile_sample_stride_height=MOCHI_TILE_STRIDE, tile_sample_stride_width=MOCHI_TILE_STRIDE)
        return
    frames = chunk_frames(spec, job.width, job.height)
    if frames is None:
        return
    vae.use_framewise_decoding = True
    vae.tile_sample_min_num_frames = frames
    vae.tile_sample_stride_num_frames = frames - spec.frame_step


def decoder_calls(spec: VideoPreset, vae, latent: tuple[int, int, int]) -> int:
    """How many times the VAE's decoder runs for a clip of `latent` (frames, rows, columns) with
    the parts decode_in_chunks set, as diffusers' AutoencoderKLLTXVideo and AutoencoderKLMochi
    count them."""
    frames, rows, columns = latent
    if spec.family == "mochi":
        shortest = vae.tile_sample_min_height // vae.spatial_compression_ratio
        if not vae.use_tiling or max(rows, columns) <= shortest:
            return 1
        stride = vae.tile_sample_stride_height // vae.spatial_compression_ratio
        return len(range(0, rows, stride)) * len(range(0, columns, stride))
    if not vae.use_framewise_decoding or frames <= vae.tile_sample_min_num_frames // vae.temporal_compression_ratio:
        return 1
    return len(range(0, frames, vae.tile_sample_stride_num_frames // vae.temporal_compression_ratio))
