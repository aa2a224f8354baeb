"""What a preset needs of its GPU, by arithmetic: its weights from the real parameter counts, the
guides an image model may hold, and its largest call (a batch of images, or a clip's decode in parts).
`atelier doctor` holds each GPU class to it (ui/doctor.py); no GPU is needed to read it."""

from __future__ import annotations

# Beyond its weights, what one image costs a GPU, per megapixel, in 16-bit: the VAE's decode
# dominates (a few full-resolution 256-channel activations, 0.5 GB each per megapixel); a UNet's or
# an MMDiT's activations at inference are a fraction of that. An estimate, consistent with Modal's
# SD3.5 Large Turbo example batching 16 images of 1024² on an 80 GB H100 (28 + 16 × 3 GB).
GB_PER_MEGAPIXEL = 3.0
CUDA_CONTEXT_GB = 2.0  # CUDA context, cuBLAS workspaces, allocator slack
GPU_MEMORY_GB = {"L40S": 48, "H100": 80}  # the GPUs app.py's classes ask for
# A clip's cost beyond its weights: the VAE's decode of one part (models/video/families.py), per megapixel-
# frame in bf16 (live tensors above the real decoders' weights, float32 halved: bench/results/decode-memory-
# cpu.md), and the denoiser's and text encoder's activations, generously (room for cuDNN's workspaces too).
DECODE_GB_PER_MEGAPIXEL_FRAME, DENOISE_GB = {"ltx": 0.23, "mochi": 2.15}, 6.0
# Mochi 1, which has no twin: a "10 billion parameter" AsymmDiT (model card), its VAE (diffusers'), T5-XXL.
PUBLISHED_PARAMS = {"mochi-1": 10_000_000_000 + 459_748_611 + 4_762_310_656}


def weights_gb(preset) -> float | None:
    """A preset's weights in 16-bit, from the real parameter counts (models/random_weights/twins.py);
    None for presets of unknown size (the tiny ones: kilobytes)."""
    from models.random_weights.twins import REAL_PARAMS

    twin = preset.name if preset.twin_of else f"{preset.name}-twin"
    if twin in REAL_PARAMS:
        return 2 * sum(REAL_PARAMS[twin].values()) / 1e9
    return 2 * PUBLISHED_PARAMS[preset.name] / 1e9 if preset.name in PUBLISHED_PARAMS else None


def memory_needed_gb(preset, decode_whole: bool = False) -> float | None:
    """A preset's weights in 16-bit plus its largest call; None for presets of unknown size (tiny) and
    for music (a few GB at most). Told apart by table, not class: a test may have reloaded the presets."""
    from models.presets import IMAGE_PRESETS, VIDEO_PRESETS

    if (weights := weights_gb(preset)) is None:
        return None
    if preset.name in VIDEO_PRESETS:
        return weights + video_call_gb(preset, decode_whole) + CUDA_CONTEXT_GB
    return image_needs_gb(preset, weights) if preset.name in IMAGE_PRESETS else None


def video_call_gb(preset, decode_whole: bool) -> float:
    """The longest clip at the largest size: denoising, and the decode in parts as the model does it
    (or whole, to show that the parts are what make it fit)."""
    from models.video.families import decoded_at_once

    width, height, frames = preset.max_side, preset.max_pixels // preset.max_side, preset.max_frames
    at_once = width * height * frames / 1e6 if decode_whole else decoded_at_once(preset, width, height, frames)
    return DENOISE_GB + DECODE_GB_PER_MEGAPIXEL_FRAME[preset.family] * at_once


def image_needs_gb(preset, weights: float) -> float | None:
    """An image preset's weights, the guides it may hold at once (its largest ControlNets, as many as a
    request may name, its IP-Adapter and image encoder, the annotators: models/image/guides.py), and
    the most images one pipeline call makes (a full batch, or one request's MAX_IMAGES) at its
    max_size. An upscale draws one tile of the preset's size at a time: a 2048² result needs no more."""
    from models.image.guides import resident_params
    from models.image.request import MAX_IMAGES

    if (guides := resident_params(preset.name)) is None:
        return None
    images_gb = max(preset.max_batch, MAX_IMAGES) * GB_PER_MEGAPIXEL * preset.max_size**2 / 1e6
    return weights + 2 * guides / 1e9 + images_gb + CUDA_CONTEXT_GB
