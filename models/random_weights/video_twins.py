"""Random-weight twin of the ltx-video preset: LTX-Video 2B's transformer, VAE and T5-XXL encoder
as `{component: factory}` and a builder (models/random_weights/twins.py says what a twin is, and
holds the real parameter counts these are checked against)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.random_weights.twins import build_pipeline, t5_tokenizer, t5_xxl_encoder


def ltx_video_components() -> dict[str, Callable]:
    """LTX-Video 2B as diffusers' conversion script configures the 0.9.5 release: a 28-block
    transformer of 32 × 64 heads over 128 latent channels, the 0.9.5 VAE (32× in space, 8× in
    time, a decoder that takes a timestep), T5-XXL's encoder, and its flow-matching scheduler."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    return {
        "transformer": lambda: LTXVideoTransformer3DModel(
            in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
            attention_head_dim=64, cross_attention_dim=2048, num_layers=28, activation_fn="gelu-approximate",
            qk_norm="rms_norm_across_heads", norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096,
            attention_bias=True, attention_out_bias=True,
        ),
        "vae": lambda: AutoencoderKLLTXVideo(
            in_channels=3, out_channels=3, latent_channels=128,
            block_out_channels=(128, 256, 512, 1024, 2048),
            down_block_types=("LTXVideo095DownBlock3D",) * 4,
            downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
            layers_per_block=(4, 6, 6, 2, 2),
            spatio_temporal_scaling=(True, True, True, True),
            decoder_block_out_channels=(256, 512, 1024),
            decoder_layers_per_block=(5, 5, 5, 5),
            decoder_spatio_temporal_scaling=(True, True, True),
            decoder_inject_noise=(False, False, False, False),
            upsample_residual=(True, True, True),
            upsample_factor=(2, 2, 2),
            timestep_conditioning=True,
            patch_size=4, patch_size_t=1, resnet_norm_eps=1e-6, scaling_factor=1.0,
            encoder_causal=True, decoder_causal=False,
            spatial_compression_ratio=32, temporal_compression_ratio=8,
        ),
        "text_encoder": t5_xxl_encoder,
        "tokenizer": t5_tokenizer,
        "scheduler": lambda: FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False),
    }


def build_ltx_video_twin(out_dir: Path) -> None:
    """About 7.9 B random parameters, drawn and saved in bfloat16 (16 GB on disk; the T5-XXL encoder,
    the largest part, holds 9.5 GB while it is drawn): float32 would need 32 GB."""
    build_pipeline(out_dir, "LTXPipeline", ltx_video_components(), dtype="bfloat16")


def ltx_video_small_text_components() -> dict[str, Callable]:
    """The twin with a one-layer T5 of T5-XXL's width (4096) in place of the 4.8 B-parameter
    encoder: for benchmarks of what follows the prompt's encoding (the transformer and the VAE, at
    their real size) on a machine without room for T5-XXL's 19 GB in float32."""
    from transformers import T5Config, T5EncoderModel

    from models.random_weights.twins import T5_EMBEDDING_ROWS

    def small_t5():
        return T5EncoderModel(T5Config(vocab_size=T5_EMBEDDING_ROWS, d_model=4096, d_ff=256, d_kv=64, num_layers=1,
                                       num_heads=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1))

    return ltx_video_components() | {"text_encoder": small_t5}


def build_ltx_video_twin_small_text(out_dir: Path) -> None:
    """The twin's transformer and VAE with a one-layer T5 (6.9 GB on disk, bfloat16)."""
    build_pipeline(out_dir, "LTXPipeline", ltx_video_small_text_components(), dtype="bfloat16")
