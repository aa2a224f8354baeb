"""Tiny SDXL and FLUX pipelines, built in memory for the training tests.

No preset serves them (the `tiny` and `tiny-sd3` presets cover SD2's and SD3's architectures):
they exist so the SDXL and FLUX training code — the pipelines' own prompt encoders, SDXL's
added size conditioning, FLUX's packed latents and positions, and the adapter files each
family's LoRA loader reads — runs offline on the real classes, in miniature.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from models.random_weights.parts import SEED, byte_level_clip_vocab, tiny_clip_config, train_t5_tokenizer


def _vae(latent_channels: int, **latents):
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         latent_channels=latent_channels, sample_size=64, **latents)


def _tokenizer(pad_token: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=byte_level_clip_vocab(), merges=[], model_max_length=77, pad_token=pad_token)


def tiny_sdxl_pipeline():
    """SDXL's layout: two CLIP text encoders (the second with a projection, whose pooled output and
    the six size numbers condition the UNet through its `text_time` embedding)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64)
    return StableDiffusionXLPipeline(
        vae=_vae(4), unet=unet,
        text_encoder=CLIPTextModel(tiny_clip_config(hidden_size=32)), tokenizer=_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(tiny_clip_config(hidden_size=32, projection_dim=32)),
        tokenizer_2=_tokenizer("!"),
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         timestep_spacing="trailing", steps_offset=1))


def tiny_flux_pipeline():
    """FLUX's layout: CLIP's pooled output and T5's sequence condition a transformer of double- and
    single-stream blocks over 2×2-packed latents, schnell-like (no guidance embedder)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(SEED)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, guidance_embeds=False, axes_dims_rope=(4, 4, 8))
    with tempfile.TemporaryDirectory() as folder:
        tokenizer_2 = train_t5_tokenizer(Path(folder))
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=tokenizer_2.vocab_size, d_model=32, d_ff=37, d_kv=8,
                                             num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
                                             pad_token_id=0, eos_token_id=1))
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
        vae=_vae(4, shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=CLIPTextModel(tiny_clip_config(hidden_size=32)), tokenizer=_tokenizer(),
        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)
