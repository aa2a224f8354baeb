"""The `tiny-video` preset: LTX-Video's architecture in miniature, random weights, built offline.

What makes it LTX-Video for the code around it is kept: the pipeline class (LTXPipeline, and
LTXImageToVideoPipeline made from it), 128 latent channels (so the latent-to-RGB preview is the
real one), and a VAE with the 0.9.5 release's layout that compresses 32× in space and 8× in time
and takes a decode timestep, so the frame and size rules, the chunked decode and the decode noise
are exercised as for the real model. Widths are a few channels: the folder is under 2 MB and a
17-frame clip takes a fraction of a second on a CPU. Deterministic (parts.SEED).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from models.random_weights.parts import SEED, train_t5_tokenizer

LATENT_CHANNELS = 128  # LTX-Video's, for the real latent-to-RGB preview
_TEXT_WIDTH = 32


def tiny_ltx_transformer():
    """LTX-Video's transformer (patch 1, RMS norm across heads) with one block of 2 × 8 heads."""
    from diffusers import LTXVideoTransformer3DModel

    return LTXVideoTransformer3DModel(
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, patch_size=1, patch_size_t=1,
        num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16, num_layers=1,
        caption_channels=_TEXT_WIDTH, qk_norm="rms_norm_across_heads", norm_elementwise_affine=False,
        attention_bias=True, attention_out_bias=True,
    )


def tiny_ltx_vae():
    """The 0.9.5 VAE's layout (spatial, temporal and spatio-temporal downsampling; a decoder that
    upsamples with residuals and takes a timestep) with a few channels per level."""
    from diffusers import AutoencoderKLLTXVideo

    return AutoencoderKLLTXVideo(
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8, 8),
        down_block_types=("LTXVideo095DownBlock3D",) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        # Upsampling halves the channels each level, as in the real decoder (1024 → 512 → 256).
        decoder_block_out_channels=(8, 16, 32),
        decoder_layers_per_block=(1, 1, 1, 1),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )


def build_tiny_video_pipeline(out_dir: Path) -> None:
    """An LTXPipeline with the tiny transformer and VAE and a 1-layer T5 encoder."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXPipeline
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tok_dir:
        tokenizer = train_t5_tokenizer(Path(tok_dir))
        text_encoder = T5EncoderModel(
            T5Config(vocab_size=tokenizer.vocab_size, d_model=_TEXT_WIDTH, d_ff=37, d_kv=8, num_layers=1, num_heads=4,
                     feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1)
        )
        pipe = LTXPipeline(
            transformer=tiny_ltx_transformer(),
            vae=tiny_ltx_vae(),
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False),  # as LTX-Video 0.9.5's
        )
        pipe.save_pretrained(out_dir)


# LTX-Video's own names for the transformer's parts, where diffusers renamed them (diffusers'
# convert_ltx_transformer_checkpoint_to_diffusers maps these back).
_ORIGINAL_NAMES = {"proj_in": "patchify_proj", "time_embed": "adaln_single", "norm_q": "q_norm", "norm_k": "k_norm"}
TINY_CHECKPOINT_FILE = "tiny-ltx-video.safetensors"


def build_tiny_video_checkpoint(out_dir: Path) -> None:
    """A single-file checkpoint as LTX-Video publishes its distilled models: the tiny transformer
    (weights drawn from another seed than tiny-video's) under LTX-Video's own key names, for the
    tests of loading a preset's `checkpoint` over its folder."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(SEED + 1)
    weights = {}
    for key, tensor in tiny_ltx_transformer().state_dict().items():
        for ours, theirs in _ORIGINAL_NAMES.items():
            key = key.replace(ours, theirs)
        weights[f"model.diffusion_model.{key}"] = tensor.contiguous()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(weights, out_dir / TINY_CHECKPOINT_FILE)
