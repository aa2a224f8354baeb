"""Random-weight twins of the image presets: SD 2.1 Turbo, SDXL Turbo, TAESD, SD3.5 Large
Turbo and FLUX.1 [schnell], each as `{component: factory}` and a builder (models/random_weights/twins.py
says what a twin is, and holds the real parameter counts these are checked against)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.random_weights.parts import SEED, byte_level_clip_vocab
from models.random_weights.twins import CLIP_VOCAB_SIZE, build_pipeline, made, t5_tokenizer, t5_xxl_encoder

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


    base = {t: i for t, i in byte_level_clip_vocab().items() if not t.startswith("<|")}
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
        "text_encoder_3": t5_xxl_encoder,
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
        "text_encoder_2": t5_xxl_encoder,
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


def _flow_vae(scaling_factor: float, shift_factor: float):
    """The 16-channel VAE of SD3 and FLUX: SD's layout, 16 latent channels, no quant convs, and a
    shift as well as a scale on the latents (the two models' VAEs differ in weights and these)."""
    return _sd_vae(scaling_factor, sample_size=1024, force_upcast=True, latent_channels=16,
                   shift_factor=shift_factor, use_quant_conv=False, use_post_quant_conv=False)


def build_sd_turbo_twin(out_dir: Path) -> None:
    build_pipeline(out_dir, "StableDiffusionPipeline", sd_turbo_components())


def build_sdxl_turbo_twin(out_dir: Path) -> None:
    build_pipeline(out_dir, "StableDiffusionXLPipeline", sdxl_turbo_components())


def build_sd35_large_turbo_twin(out_dir: Path) -> None:
    """About 14 B random parameters: the transformer alone is 33 GB in float32 while it is built,
    and 28 GB on disk in all. A job for a big machine, not a laptop or CI."""
    build_pipeline(out_dir, "StableDiffusion3Pipeline", sd35_large_turbo_components())


def build_flux_schnell_twin(out_dir: Path) -> None:
    """About 17 B random parameters: the transformer alone is 48 GB in float32 while it is built,
    and 34 GB on disk in all. A job for a big machine, not a laptop or CI."""
    build_pipeline(out_dir, "FluxPipeline", flux_schnell_components())


def build_taesd_twin(out_dir: Path) -> None:
    """A random-weight TAESD-shaped AutoencoderTiny, saved as a model folder (no pipeline)."""
    import torch

    torch.manual_seed(SEED)
    made(taesd_components()["vae"]).save_pretrained(out_dir)
