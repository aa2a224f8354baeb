"""Real-size random-weight twins of the real presets, built offline from configs.

A twin has the published architecture of a real model (layer counts, widths, heads, text
encoders, VAE, tokenizer vocabulary sizes) and random weights. It makes noise, at the real
model's size and speed: what a benchmark or a memory budget needs when the hub is out of
reach. Like the tiny presets (models/tiny.py), each builder writes a folder with
`save_pretrained`, and the model classes load it with the same `from_pretrained` calls
they use for real weights. Building writes GBs, once (models/weights.py caches it).

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
- TAESD (madebyollin/taesd, taesdxl): diffusers' AutoencoderTiny defaults are its config
  (2,445,063 parameters; quoted as "2.4M"; no exact published count to check against here).

Each twin is described by a function returning `{component: factory}`; calling the
factories under `torch.device("meta")` gives the modules without allocating a byte,
which is how the tests count parameters without building anything.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

_SEED = 0

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
}
# Tokenizer vocabulary sizes of the real models: CLIP BPE (both SD text encoders), T5 (32,000
# sentencepiece pieces + 100 sentinel ids; T5's embedding table is padded to 32,128).
CLIP_VOCAB_SIZE = 49408
T5_TOKENIZER_SIZE = 32100
T5_EMBEDDING_ROWS = 32128


# --- Stable Diffusion -----------------------------------------------------------------------


def sd_turbo_components() -> dict[str, Callable]:
    """SD 2.1's UNet, OpenCLIP ViT-H text encoder (penultimate layer: 23 of 24) and VAE."""
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    return {
        "unet": lambda: UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=1024,
            attention_head_dim=(5, 10, 20, 20),
            use_linear_projection=True,
            flip_sin_to_cos=True,
            freq_shift=0,
            norm_num_groups=32,
        ),
        "text_encoder": lambda: CLIPTextModel(
            CLIPTextConfig(
                vocab_size=CLIP_VOCAB_SIZE,
                hidden_size=1024,
                intermediate_size=4096,
                num_attention_heads=16,
                num_hidden_layers=23,
                max_position_embeddings=77,
                hidden_act="gelu",
                projection_dim=512,
                bos_token_id=CLIP_VOCAB_SIZE - 2,
                eos_token_id=CLIP_VOCAB_SIZE - 1,
                pad_token_id=1,
            )
        ),
        "vae": lambda: _sd_vae(scaling_factor=0.18215, sample_size=768, force_upcast=True),
        "tokenizer": lambda: _clip_tokenizer(pad_token="!"),
        "scheduler": lambda: EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            timestep_spacing="trailing", steps_offset=1,
        ),
    }


def sdxl_turbo_components() -> dict[str, Callable]:
    """SDXL's UNet, CLIP ViT-L and OpenCLIP ViT-bigG text encoders, and the SDXL VAE."""
    from diffusers import EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    return {
        "unet": lambda: UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10),
            cross_attention_dim=2048,
            attention_head_dim=(5, 10, 20),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
            flip_sin_to_cos=True,
            freq_shift=0,
            norm_num_groups=32,
        ),
        "text_encoder": lambda: CLIPTextModel(
            CLIPTextConfig(
                vocab_size=CLIP_VOCAB_SIZE, hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                num_hidden_layers=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
                bos_token_id=CLIP_VOCAB_SIZE - 2, eos_token_id=CLIP_VOCAB_SIZE - 1, pad_token_id=1,
            )
        ),
        "text_encoder_2": lambda: CLIPTextModelWithProjection(
            CLIPTextConfig(
                vocab_size=CLIP_VOCAB_SIZE, hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
                num_hidden_layers=32, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280,
                bos_token_id=CLIP_VOCAB_SIZE - 2, eos_token_id=CLIP_VOCAB_SIZE - 1, pad_token_id=1,
            )
        ),
        "vae": lambda: _sd_vae(scaling_factor=0.13025, sample_size=1024, force_upcast=True),
        "tokenizer": lambda: _clip_tokenizer(pad_token="<|endoftext|>"),
        "tokenizer_2": lambda: _clip_tokenizer(pad_token="!"),
        "scheduler": lambda: EulerAncestralDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            timestep_spacing="trailing", steps_offset=1,
        ),
    }


def taesd_components() -> dict[str, Callable]:
    """TAESD: a tiny distilled SD VAE (AutoencoderTiny's defaults are its config)."""
    from diffusers import AutoencoderTiny

    return {"vae": lambda: AutoencoderTiny()}


def _sd_vae(scaling_factor: float, sample_size: int, force_upcast: bool, latent_channels: int = 4, **latents):
    """Stable Diffusion's VAE layout (SD 2.1, SDXL; with 16 latent channels, SD3 and FLUX)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=latent_channels,
        norm_num_groups=32,
        sample_size=sample_size,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
        **latents,
    )


def _clip_tokenizer(pad_token: str):
    """A CLIP tokenizer with CLIP's 49,408-entry vocabulary: every byte is a token (no merges,
    so any prompt encodes), the rest of the ids are placeholder words that no prompt reaches."""
    from transformers import CLIPTokenizer

    from models.tiny import _byte_level_clip_vocab

    base = {t: i for t, i in _byte_level_clip_vocab().items() if not t.startswith("<|")}
    vocab = dict(base)
    vocab.update({f"twin{i}</w>": i for i in range(len(base), CLIP_VOCAB_SIZE - 2)})
    vocab["<|startoftext|>"] = CLIP_VOCAB_SIZE - 2
    vocab["<|endoftext|>"] = CLIP_VOCAB_SIZE - 1
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token=pad_token)


# --- Flow-matching transformers: SD3.5 Large, FLUX.1 ------------------------------------------


def sd35_large_turbo_components() -> dict[str, Callable]:
    """SD3.5 Large's MMDiT (38 joint blocks × 2432 wide, no dual-attention layers), CLIP ViT-L and
    OpenCLIP ViT-bigG text encoders with projections, T5-XXL's encoder and the 16-channel SD3 VAE.
    The turbo model shares stable-diffusion-3.5-large's transformer config byte for byte."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import CLIPTextModelWithProjection

    return {
        "transformer": lambda: SD3Transformer2DModel(
            sample_size=128,
            patch_size=2,
            in_channels=16,
            out_channels=16,
            num_layers=38,
            attention_head_dim=64,
            num_attention_heads=38,
            joint_attention_dim=4096,
            caption_projection_dim=2432,
            pooled_projection_dim=2048,
            pos_embed_max_size=192,
            dual_attention_layers=(),
            qk_norm="rms_norm",
        ),
        "text_encoder": lambda: CLIPTextModelWithProjection(_clip_l_config()),
        "text_encoder_2": lambda: CLIPTextModelWithProjection(_clip_g_config()),
        "text_encoder_3": _t5_xxl_encoder,
        "vae": lambda: _flow_vae(scaling_factor=1.5305, shift_factor=0.0609),
        "tokenizer": lambda: _clip_tokenizer(pad_token="<|endoftext|>"),
        "tokenizer_2": lambda: _clip_tokenizer(pad_token="!"),
        "tokenizer_3": t5_tokenizer,
        "scheduler": lambda: FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
    }


def flux_schnell_components() -> dict[str, Callable]:
    """FLUX.1's transformer (19 double-stream + 38 single-stream blocks, 24 heads × 128; schnell
    has no guidance embedder), CLIP ViT-L, T5-XXL's encoder and the 16-channel FLUX VAE."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextModel

    return {
        "transformer": lambda: FluxTransformer2DModel(
            patch_size=1,
            in_channels=64,
            num_layers=19,
            num_single_layers=38,
            attention_head_dim=128,
            num_attention_heads=24,
            joint_attention_dim=4096,
            pooled_projection_dim=768,
            guidance_embeds=False,
            axes_dims_rope=(16, 56, 56),
        ),
        "text_encoder": lambda: CLIPTextModel(_clip_l_config()),
        "text_encoder_2": _t5_xxl_encoder,
        "vae": lambda: _flow_vae(scaling_factor=0.3611, shift_factor=0.1159),
        "tokenizer": lambda: _clip_tokenizer(pad_token="<|endoftext|>"),
        "tokenizer_2": t5_tokenizer,
        "scheduler": lambda: FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False,
            base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
        ),
    }


def _clip_l_config():
    """CLIP ViT-L/14's text tower (SD3's text_encoder, FLUX's text_encoder, SDXL's first)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE, hidden_size=768, intermediate_size=3072, num_attention_heads=12,
        num_hidden_layers=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
        bos_token_id=CLIP_VOCAB_SIZE - 2, eos_token_id=CLIP_VOCAB_SIZE - 1, pad_token_id=1,
    )


def _clip_g_config():
    """OpenCLIP ViT-bigG/14's text tower (SD3's text_encoder_2, SDXL's second)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE, hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
        num_hidden_layers=32, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280,
        bos_token_id=CLIP_VOCAB_SIZE - 2, eos_token_id=CLIP_VOCAB_SIZE - 1, pad_token_id=1,
    )


def _t5_xxl_encoder():
    """google/t5-v1_1-xxl's encoder: 24 layers × 4096, 64 heads, gated-GELU feed-forward of 10240."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=T5_EMBEDDING_ROWS, d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_heads=64,
            relative_attention_num_buckets=32, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
            pad_token_id=0, eos_token_id=1,
        )
    )


def _flow_vae(scaling_factor: float, shift_factor: float):
    """The 16-channel VAE of SD3 and FLUX: SD's layout, 16 latent channels, no quant convs, and a
    shift as well as a scale on the latents (the two models' VAEs differ in weights and these)."""
    return _sd_vae(scaling_factor, sample_size=1024, force_upcast=True, latent_channels=16,
                   shift_factor=shift_factor, use_quant_conv=False, use_post_quant_conv=False)


def build_sd_turbo_twin(out_dir: Path) -> None:
    _build_pipeline(out_dir, "StableDiffusionPipeline", sd_turbo_components())


def build_sdxl_turbo_twin(out_dir: Path) -> None:
    _build_pipeline(out_dir, "StableDiffusionXLPipeline", sdxl_turbo_components())


def build_sd35_large_turbo_twin(out_dir: Path) -> None:
    """About 14 B random parameters: the transformer alone is 33 GB in float32 while it is built,
    and 28 GB on disk in all. A job for a big machine, not a laptop or CI."""
    _build_pipeline(out_dir, "StableDiffusion3Pipeline", sd35_large_turbo_components())


def build_flux_schnell_twin(out_dir: Path) -> None:
    """About 17 B random parameters: the transformer alone is 48 GB in float32 while it is built,
    and 34 GB on disk in all. A job for a big machine, not a laptop or CI."""
    _build_pipeline(out_dir, "FluxPipeline", flux_schnell_components())


def build_taesd_twin(out_dir: Path) -> None:
    """A random-weight TAESD-shaped AutoencoderTiny, saved as a model folder (no pipeline)."""
    import torch

    torch.manual_seed(_SEED)
    _made(taesd_components()["vae"]).save_pretrained(out_dir)


def build_where() -> tuple[str, str | None]:
    """Where a twin's random weights are drawn, and the dtype they are saved in:
    ATELIER_TWIN_BUILD="cuda:float16" (or bfloat16) draws them on a GPU, in seconds where a CPU
    takes minutes, and saves half the bytes: how a GPU benchmark builds the 17 B-parameter FLUX
    twin. Default: the CPU, float32. Random weights either way; only the precision differs."""
    device, _, dtype = os.environ.get("ATELIER_TWIN_BUILD", "cpu").partition(":")
    return device, dtype or None


def _made(make: Callable):
    """One component, built where build_where() says and cast to its dtype."""
    import torch

    device, dtype = build_where()
    with torch.device(device):
        part = make()
    return part.to(getattr(torch, dtype)) if dtype else part


def _build_pipeline(out_dir: Path, pipeline_class: str, components: dict[str, Callable]) -> None:
    """Save each component to its subfolder, one at a time (so memory holds one model, not the
    whole pipeline: the SDXL UNet alone is 10 GB in float32), then write model_index.json from
    the same pipeline built on the meta device. The folder is what `pipe.save_pretrained` writes."""
    import diffusers
    import torch

    torch.manual_seed(_SEED)
    for name, make in components.items():
        part = _made(make) if _is_model(name) else make()
        part.save_pretrained(out_dir / name)
        del part
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the next component's random draw needs the room
    modules = {}
    for name, make in components.items():
        if _is_model(name):
            with torch.device("meta"):
                modules[name] = make()
        else:
            modules[name] = make()
    extra = {}
    if pipeline_class == "StableDiffusionPipeline":
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    getattr(diffusers, pipeline_class)(**modules, **extra).save_config(out_dir)


def _is_model(component: str) -> bool:
    return not component.startswith(("tokenizer", "scheduler"))


# --- MusicGen -------------------------------------------------------------------------------


def musicgen_small_config():
    """facebook/musicgen-small: decoder 24 layers × 1024 (16 heads, 4 codebooks of 2048),
    T5-base text encoder, EnCodec 32 kHz (4 codebooks at 50 Hz)."""
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, T5Config

    text = T5Config(
        vocab_size=T5_EMBEDDING_ROWS, d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_decoder_layers=12,
        num_heads=12, relative_attention_num_buckets=32, feed_forward_proj="relu", dropout_rate=0.1,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    audio = EncodecConfig(
        sampling_rate=32000, audio_channels=1, num_filters=64, hidden_size=128, upsampling_ratios=[8, 5, 4, 4],
        codebook_size=2048, codebook_dim=128, num_residual_layers=1, num_lstm_layers=2, target_bandwidths=[2.2],
        normalize=False, norm_type="weight_norm", use_causal_conv=False, pad_mode="reflect", compress=2,
        residual_kernel_size=3, kernel_size=7, last_kernel_size=7, dilation_growth_rate=2, trim_right_ratio=1.0,
        use_conv_shortcut=False, chunk_length_s=None, overlap=None,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=2048, hidden_size=1024, ffn_dim=4096, num_hidden_layers=24, num_attention_heads=16,
        num_codebooks=4, max_position_embeddings=2048, activation_function="gelu", dropout=0.1,
        attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0, scale_embedding=False,
        tie_word_embeddings=False, audio_channels=1,
        pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048,
    )
    return MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict())


def musicgen_small_components() -> dict[str, Callable]:
    from transformers import MusicgenForConditionalGeneration

    return {"model": lambda: MusicgenForConditionalGeneration(musicgen_small_config())}


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


def build_musicgen_small_twin(out_dir: Path) -> None:
    import torch
    from transformers import EncodecFeatureExtractor, MusicgenProcessor

    torch.manual_seed(_SEED)
    model = _made(musicgen_small_components()["model"])
    # EnCodec's codebooks start as zeros (training fills them): give them random vectors, as
    # the tiny preset does, so codes decode to varied sound.
    for layer in model.audio_encoder.quantizer.layers:
        layer.codebook.embed.normal_()
        layer.codebook.inited.fill_(1)
    # facebook/musicgen-small's generation_config: sampling, top-k 250, guidance 3, 1500 tokens.
    model.generation_config.update(
        do_sample=True, top_k=250, guidance_scale=3.0, max_length=1500,
        pad_token_id=2048, decoder_start_token_id=2048, bos_token_id=2048,
    )
    model.save_pretrained(out_dir)
    del model
    gc.collect()
    processor = MusicgenProcessor(
        feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=32000, padding_value=0.0),
        tokenizer=t5_tokenizer(),
    )
    processor.save_pretrained(out_dir)


# --- for tests and benchmarks ---------------------------------------------------------------

COMPONENTS: dict[str, Callable[[], dict[str, Callable]]] = {
    "sd-turbo-twin": sd_turbo_components,
    "sdxl-turbo-twin": sdxl_turbo_components,
    "sd3.5-large-turbo-twin": sd35_large_turbo_components,
    "flux-schnell-twin": flux_schnell_components,
    "musicgen-small-twin": musicgen_small_components,
    "taesd-twin": taesd_components,
}


def meta_parameter_counts(twin: str) -> dict[str, int]:
    """Tensor elements a checkpoint of each of a twin's models holds (parameters, tied ones
    once, and persistent buffers), counted on the meta device: no memory, no build."""
    import torch

    counts = {}
    for name, make in COMPONENTS[twin]().items():
        if not _is_model(name):
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
