"""Real-size random-weight twins of the real presets, built offline from configs.

A twin has the published architecture of a real model (layer counts, widths, heads, text
encoders, VAE, tokenizer vocabulary sizes) and random weights. It makes noise, at the real
model's size and speed: what a benchmark or a memory budget needs when the hub is out of
reach. Like the tiny presets (models/random_weights/tiny_image.py, tiny_music.py), each builder writes a folder with
`save_pretrained`, and the model classes load it with the same `from_pretrained` calls
they use for real weights. Building writes GBs, once (models/common/weights.py caches it).

The configs below are the published ones (the `config.json` files of the hub repos named
in models/presets.py at their pinned revisions). Real parameter counts they must match
(tests/models/test_twins.py checks each within 1%, on the meta device):

- stabilityai/sd-turbo (SD 2.1 architecture), as diffusers/transformers count them:
  UNet 865,910,724; OpenCLIP ViT-H text encoder (CLIPTextModel, 23 layers) 340,387,840;
  SD VAE (AutoencoderKL) 83,653,863.
- stabilityai/sdxl-turbo (SDXL architecture): UNet 2,567,463,684; CLIP ViT-L text encoder
  123,060,480; OpenCLIP ViT-bigG text encoder with projection 694,659,840; SDXL VAE 83,653,863.
- stabilityai/stable-diffusion-3.5-large-turbo (SD3.5 Large's architecture): MMDiT "8.1 billion
  parameters" (the model card's rounded figure; the checkpoint holds 8,056,627,520 parameters plus
  the 192² × 2432 position table, 8,146,280,768 in all: 0.6% over); CLIP ViT-L text encoder with
  projection 123,650,304; OpenCLIP ViT-bigG with projection 694,659,840; T5-XXL encoder
  4,762,310,656; 16-channel VAE 83,819,683 (the same architecture and size as FLUX's, different
  weights). Counts as per-component memory profiles of StableDiffusion3Pipeline report them.
- black-forest-labs/FLUX.1-schnell: transformer 11,891,178,560 (FLUX.1-dev's 11,901,408,320 less
  the guidance embedder schnell doesn't have, 10,229,760); CLIP ViT-L text encoder 123,060,480;
  T5-XXL encoder 4,762,310,656; VAE 83,819,683.
  These two twins are too big to build on a laptop or in CI (tens of GB in float32): the tests
  count them on the meta device only, and building them is for a machine with the memory.
- facebook/musicgen-small: 591M, the hub's count of the tensors in its safetensors file
  ("591M params" on the model page; 593M is also quoted). That file holds the parameters
  (T5-base encoder 109.6M, EnCodec 32 kHz 56.9M, decoder 24 × 1024 with cross-attention
  419.6M, projection 0.8M), EnCodec's codebooks (buffers, 2.1M) and the decoder's sinusoidal
  position table (2048 × 1024 = 2.1M), which the transformers version that wrote the file
  saved as a frozen parameter and transformers 5 recomputes. The twin counts as the file
  would without that table: 589.0M, 0.35% under 591M.
- LTX-Video 2B (the architecture of the 0.9.5 release and of the distilled 0.9.8 2B file):
  transformer 1,923,385,472 and VAE 1,246,913,522 as diffusers' conversion configs
  (scripts/convert_ltx_to_diffusers.py, 0.9.5) build them, 3,170,298,994 together: 6.34 GB in
  bf16, the size the hub lists for ltx-video-2b-v0.9.5.safetensors (both in one file); T5-XXL's
  encoder 4,762,310,656. Drawn and saved in bfloat16 (16 GB; 32 GB would not fit a laptop).
- TAESD (madebyollin/taesd, taesdxl): diffusers' AutoencoderTiny defaults are its config
  (2,445,063 parameters; quoted as "2.4M"; no exact published count to check against here).

Each twin is described by a function returning `{component: factory}` (image_twins.py,
music_twins.py, video_twins.py); calling the factories under `torch.device("meta")` gives the modules without
allocating a byte, which is how the tests count parameters without building anything. This
module holds what they share: the real counts, and how a twin is drawn and saved.
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from models.random_weights.parts import SEED

# Real parameter counts, per component (see the module docstring for where they come from).
REAL_PARAMS: dict[str, dict[str, int]] = {
    "sd-turbo-twin": {"unet": 865_910_724, "text_encoder": 340_387_840, "vae": 83_653_863},
    "sdxl-turbo-twin": {
        "unet": 2_567_463_684,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
        "vae": 83_653_863,
    },
    "sd3.5-large-turbo-twin": {
        "transformer": 8_100_000_000,  # "8.1 billion parameters" (model card); pos_embed included
        "text_encoder": 123_650_304,
        "text_encoder_2": 694_659_840,
        "text_encoder_3": 4_762_310_656,
        "vae": 83_819_683,
    },
    "flux-schnell-twin": {
        "transformer": 11_891_178_560,
        "text_encoder": 123_060_480,
        "text_encoder_2": 4_762_310_656,
        "vae": 83_819_683,
    },
    "musicgen-small-twin": {"model": 591_000_000},  # the hub's rounded total, buffers included
    # LTX-Video 2B (0.9.5 architecture, that of the distilled 0.9.8 2B file ltx-video loads): the
    # transformer and VAE as diffusers' conversion configs make them; together 3,170,298,994
    # parameters = 6.34 GB in bf16, the size the hub lists for the single-file release
    # ltx-video-2b-v0.9.5.safetensors (transformer + VAE, bf16); T5-XXL's encoder as above.
    "ltx-video-twin": {"transformer": 1_923_385_472, "vae": 1_246_913_522, "text_encoder": 4_762_310_656},
}
# Tokenizer vocabulary sizes of the real models: CLIP BPE (both SD text encoders), T5 (32,000
# sentencepiece pieces + 100 sentinel ids; T5's embedding table is padded to 32,128).
CLIP_VOCAB_SIZE = 49408
T5_TOKENIZER_SIZE = 32100
T5_EMBEDDING_ROWS = 32128



def t5_tokenizer():
    """A T5 tokenizer with T5's 32,000 unigram pieces + 100 sentinels: every ASCII character is
    a piece (so any prompt encodes), the rest are placeholder pieces no prompt reaches."""
    import math

    from transformers import T5Tokenizer

    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    chars = [chr(c) for c in range(33, 127)]
    pieces = [("▁", -2.0)] + [("▁" + c, -3.0) for c in chars] + [(c, -4.0) for c in chars]
    filler = 32000 - len(specials) - len(pieces)
    # Private-use characters: real text never contains them, so these pieces are never chosen.
    pieces += [(chr(0xF0000 + i), -20.0 - math.log1p(i)) for i in range(filler)]
    return T5Tokenizer(vocab=specials + pieces, extra_ids=100)


def t5_xxl_encoder():
    """google/t5-v1_1-xxl's encoder: 24 layers × 4096, 64 heads, gated-GELU feed-forward of 10240
    (the third text encoder of SD3, the second of FLUX, LTX-Video's and Mochi's only one)."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=T5_EMBEDDING_ROWS, d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_heads=64,
            relative_attention_num_buckets=32, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
            pad_token_id=0, eos_token_id=1,
        )
    )


def build_where(dtype: str | None = None) -> tuple[str, str | None]:
    """Where a twin's random weights are drawn, and the dtype they are drawn and saved in:
    ATELIER_TWIN_BUILD="cuda:float16" (or bfloat16) draws them on a GPU, in seconds where a CPU
    takes minutes, and saves half the bytes: how a GPU benchmark builds the 17 B-parameter FLUX
    twin. Default: the CPU, in `dtype` (the twin's own choice), else float32. Random weights
    either way; only the precision differs."""
    device, _, chosen = os.environ.get("ATELIER_TWIN_BUILD", "cpu").partition(":")
    return device, chosen or dtype


def made(make: Callable, dtype: str | None = None):
    """One component, drawn where build_where() says, directly in its dtype: a build holds the
    model once, at its saved size (T5-XXL drawn in float32 to be saved in bfloat16 held 19 GB)."""
    import torch

    device, chosen = build_where(dtype)
    default = torch.get_default_dtype()
    if chosen:
        torch.set_default_dtype(getattr(torch, chosen))
    try:
        with torch.device(device):
            part = make()
    finally:
        torch.set_default_dtype(default)
    return part.to(getattr(torch, chosen)) if chosen else part


def build_pipeline(out_dir: Path, pipeline_class: str, components: dict[str, Callable], dtype: str | None = None) -> None:
    """Save each component to its subfolder, one at a time (so memory holds one model, not the
    whole pipeline: the SDXL UNet alone is 10 GB in float32), then write model_index.json from
    the same pipeline built on the meta device. The folder is what `pipe.save_pretrained` writes."""
    import diffusers
    import torch

    torch.manual_seed(SEED)
    for name, make in components.items():
        part = made(make, dtype) if is_model(name) else make()
        part.save_pretrained(out_dir / name)
        del part
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the next component's random draw needs the room
    modules = {}
    for name, make in components.items():
        if is_model(name):
            with torch.device("meta"):
                modules[name] = make()
        else:
            modules[name] = make()
    extra = {}
    if pipeline_class == "StableDiffusionPipeline":
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    getattr(diffusers, pipeline_class)(**modules, **extra).save_config(out_dir)


def is_model(component: str) -> bool:
    return not component.startswith(("tokenizer", "scheduler"))


# --- for tests and benchmarks ---------------------------------------------------------------

# Each twin's `{component: factory}` function, by name: imported only when asked for.
COMPONENTS: dict[str, str] = {
    "sd-turbo-twin": "models.random_weights.image_twins:sd_turbo_components",
    "sdxl-turbo-twin": "models.random_weights.image_twins:sdxl_turbo_components",
    "sd3.5-large-turbo-twin": "models.random_weights.image_twins:sd35_large_turbo_components",
    "flux-schnell-twin": "models.random_weights.image_twins:flux_schnell_components",
    "musicgen-small-twin": "models.random_weights.music_twins:musicgen_small_components",
    "taesd-twin": "models.random_weights.image_twins:taesd_components",
    "ltx-video-twin": "models.random_weights.video_twins:ltx_video_components",
}


def twin_components(twin: str) -> dict[str, Callable]:
    """A twin's `{component: factory}`."""
    module, _, function = COMPONENTS[twin].partition(":")
    return getattr(importlib.import_module(module), function)()


def meta_parameter_counts(twin: str) -> dict[str, int]:
    """Tensor elements a checkpoint of each of a twin's models holds (parameters, tied ones
    once, and persistent buffers), counted on the meta device: no memory, no build."""
    import torch

    counts = {}
    for name, make in twin_components(twin).items():
        if not is_model(name):
            continue
        with torch.device("meta"):
            module = make()
        buffers = sum(
            b.numel()
            for sub in module.modules()
            for key, b in sub._buffers.items()
            if b is not None and key not in sub._non_persistent_buffers_set
        )
        counts[name] = sum(p.numel() for p in module.parameters()) + buffers
    return counts
