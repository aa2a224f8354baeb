"""The random-weight twin of musicgen-small: MusicGen's decoder (24 × 1024, 4 codebooks), T5-base
and EnCodec 32 kHz, with a T5 tokenizer of the real vocabulary size (models/random_weights/twins.py
says what a twin is)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

from models.random_weights.parts import SEED
from models.random_weights.twins import T5_EMBEDDING_ROWS, made, t5_tokenizer

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


def build_musicgen_small_twin(out_dir: Path) -> None:
    import torch
    from transformers import EncodecFeatureExtractor, MusicgenProcessor

    torch.manual_seed(SEED)
    model = made(musicgen_small_components()["model"])
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
