"""Tiny random-weight image pipelines, built offline from configs: the `tiny` (Stable
Diffusion) and `tiny-sd3` (SD3's MMDiT and three text encoders) presets.

They exist so tests, CI and offline laptops can run the real code paths without the
Hugging Face hub: each builder writes a folder with `save_pretrained`, and the image model
loads it with the same `from_pretrained` calls it uses for real weights. They make noise,
fast, on a CPU. Building is deterministic (parts.SEED), so a folder built twice holds the
same weights.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from models.random_weights.parts import SEED, byte_level_clip_vocab, tiny_clip_config, train_t5_tokenizer


def _tiny_vae(latent_channels: int, **latents):
    """SD's VAE layout at two small levels: 64 px images, 4 (SD) or 16 (SD3) latent channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=latent_channels,
        sample_size=64,
        **latents,
    )



def build_tiny_image_pipeline(out_dir: Path) -> None:
    """A StableDiffusionPipeline with a 32/64-channel UNet and a tiny CLIP text encoder."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    torch.manual_seed(SEED)
    unet = tiny_unet()
    vae = _tiny_vae(latent_channels=4)
    text_encoder = tiny_text_encoder()
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer(vocab=byte_level_clip_vocab(), merges=[], model_max_length=77),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out_dir)


_SD3_CLIP_WIDTH, _SD3_T5_WIDTH = 32, 64  # the two CLIPs' hidden states (2 × 32) fill T5's width exactly


def tiny_sd3_transformer():
    """The tiny SD3 pipeline's MMDiT: 2 blocks over 16 latent channels."""
    from diffusers import SD3Transformer2DModel

    return SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=_SD3_T5_WIDTH,
        caption_projection_dim=32,
        pooled_projection_dim=2 * _SD3_CLIP_WIDTH,
        pos_embed_max_size=64,
        qk_norm="rms_norm",
    )


def tiny_sd3_components() -> dict:
    """The tiny SD3 pipeline's adaptable model, as models/random_weights/twins.py gives a twin's."""
    return {"transformer": tiny_sd3_transformer}


def build_tiny_sd3_pipeline(out_dir: Path) -> None:
    """A StableDiffusion3Pipeline in miniature: a 2-block MMDiT over 16 latent channels, a
    16-channel VAE, two tiny CLIP text encoders with projections and a tiny T5 encoder, wired as
    SD3 wires them (CLIP hidden states side by side, padded to T5's width; pooled projections
    side by side)."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer, T5Config, T5EncoderModel

    torch.manual_seed(SEED)
    clip_width, t5_width = _SD3_CLIP_WIDTH, _SD3_T5_WIDTH

    def clip(pad_token: str):
        encoder = CLIPTextModelWithProjection(tiny_clip_config(hidden_size=clip_width, projection_dim=clip_width))
        tokenizer = CLIPTokenizer(vocab=byte_level_clip_vocab(), merges=[], model_max_length=77, pad_token=pad_token)
        return encoder, tokenizer

    text_encoder, tokenizer = clip("<|endoftext|>")
    text_encoder_2, tokenizer_2 = clip("<|endoftext|>")
    transformer = tiny_sd3_transformer()
    vae = _tiny_vae(
        latent_channels=16,
        shift_factor=0.0609,  # SD3's latent normalisation: the pipeline applies both
        scaling_factor=1.5305,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    with tempfile.TemporaryDirectory() as tok_dir:
        tokenizer_3 = train_t5_tokenizer(Path(tok_dir))
        text_encoder_3 = T5EncoderModel(
            T5Config(
                vocab_size=tokenizer_3.vocab_size,
                d_model=t5_width,
                d_ff=37,
                d_kv=8,
                num_layers=2,
                num_heads=4,
                feed_forward_proj="gated-gelu",  # T5 v1.1, as SD3's T5-XXL
                pad_token_id=0,
                eos_token_id=1,
            )
        )
        pipe = StableDiffusion3Pipeline(
            transformer=transformer,
            scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
            text_encoder_3=text_encoder_3,
            tokenizer_3=tokenizer_3,
        )
        pipe.save_pretrained(out_dir)

# The tiny pipeline's two trained parts, built on their own too: LoRA adapters for the `tiny`
# family are checked against their shapes and built on them (models/image/loras.py, models/random_weights/tiny_lora.py).
def tiny_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )


def tiny_image_components() -> dict:
    """The tiny image pipeline's adaptable models by component name, as models/random_weights/twins.py gives a twin's."""
    return {"unet": tiny_unet, "text_encoder": tiny_text_encoder}


def tiny_text_encoder():
    from transformers import CLIPTextModel

    return CLIPTextModel(tiny_clip_config(hidden_size=32))
