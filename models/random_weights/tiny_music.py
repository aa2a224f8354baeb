"""Tiny random-weight MusicGen models for transformers, built offline from configs: the `tiny`
music preset (MusicGen) and `tiny-melody` (MusicGen Melody).

Each is a tiny T5 text encoder, a tiny EnCodec at MusicGen's 32 kHz and 50 frames a second,
and a 2-layer decoder over 4 codebooks, written with `save_pretrained` and loaded by the
engine with the same `from_pretrained` calls as facebook/musicgen-small and -melody. They make
noise, fast, on a CPU; building is deterministic (parts.SEED).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from models.random_weights.parts import SEED, train_t5_tokenizer

SAMPLING_RATE = 32000


def build_tiny_musicgen(out_dir: Path) -> None:
    """A MusicgenForConditionalGeneration (tiny T5 + EnCodec + decoder) and its processor."""
    import torch
    from transformers import (
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
    )

    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tok_dir:
        tokenizer = train_t5_tokenizer(Path(tok_dir))
        text_config, audio_config = _text_and_audio_configs(tokenizer)
        decoder_config = MusicgenDecoderConfig(
            **_decoder_sizes(audio_config.codebook_size), decoder_start_token_id=audio_config.codebook_size,
        )
        config = MusicgenConfig(
            text_encoder=text_config.to_dict(), audio_encoder=audio_config.to_dict(), decoder=decoder_config.to_dict(),
        )
        model = MusicgenForConditionalGeneration(config)
        _randomize_codebooks(model)
        model.generation_config.update(
            do_sample=True, guidance_scale=3.0, max_length=1500,
            pad_token_id=decoder_config.pad_token_id, decoder_start_token_id=decoder_config.decoder_start_token_id,
        )
        processor = MusicgenProcessor(
            feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE),
            tokenizer=tokenizer,
        )
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)


def build_tiny_musicgen_melody(out_dir: Path) -> None:
    """A MusicgenMelodyForConditionalGeneration (tiny T5 + EnCodec + decoder) and its processor."""
    import torch
    from transformers import MusicgenMelodyConfig, MusicgenMelodyDecoderConfig, MusicgenMelodyForConditionalGeneration

    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tok_dir:
        tokenizer = train_t5_tokenizer(Path(tok_dir))
        text_config, audio_config = _text_and_audio_configs(tokenizer)
        decoder_config = MusicgenMelodyDecoderConfig(**_decoder_sizes(audio_config.codebook_size))
        config = MusicgenMelodyConfig(
            text_encoder=text_config.to_dict(), audio_encoder=audio_config.to_dict(), decoder=decoder_config.to_dict(),
            num_chroma=12,
        )
        model = MusicgenMelodyForConditionalGeneration(config)
        _randomize_codebooks(model)
        # The chroma projection starts near zero (std 0.02), too faint for a tune to change a
        # tiny random model's samples at all; at unit scale different melodies make different clips.
        torch.nn.init.normal_(model.audio_enc_to_dec_proj.weight, std=1.0)
        model.generation_config.update(
            do_sample=True, guidance_scale=3.0, max_length=1500,
            pad_token_id=decoder_config.pad_token_id, decoder_start_token_id=decoder_config.bos_token_id,
        )
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        _write_melody_feature_extractor(out_dir)


def _text_and_audio_configs(tokenizer) -> tuple:
    """A 2-layer T5 over the tokenizer, and an EnCodec with MusicGen's framing."""
    from transformers import EncodecConfig, T5Config

    text_config = T5Config(
        vocab_size=tokenizer.vocab_size, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    audio_config = EncodecConfig(
        sampling_rate=SAMPLING_RATE, audio_channels=1, num_filters=4, codebook_size=64, codebook_dim=16,
        hidden_size=16,
        upsampling_ratios=[8, 5, 4, 4],  # hop 640 → 50 frames a second, as in MusicGen
        target_bandwidths=[1.2],  # 4 codebooks × 6 bits × 50 frames a second
        num_lstm_layers=1, compress=2,
    )
    return text_config, audio_config


def _decoder_sizes(codebook_size: int) -> dict:
    """The decoder's shape: 2 layers of 32 over 4 codebooks; the codebook size is its pad/bos token."""
    return dict(
        vocab_size=codebook_size, hidden_size=32, ffn_dim=37, num_hidden_layers=2, num_attention_heads=4,
        num_codebooks=4, max_position_embeddings=4096, pad_token_id=codebook_size, bos_token_id=codebook_size,
    )


def _randomize_codebooks(model) -> None:
    """EnCodec's codebooks are buffers that start as zeros (training fills them), which would make
    every code decode to the same sound: give them random vectors."""
    for layer in model.audio_encoder.quantizer.layers:
        layer.codebook.embed.normal_()
        layer.codebook.inited.fill_(1)


def _write_melody_feature_extractor(out_dir: Path) -> None:
    """The processor's feature extractor can't be constructed without torchaudio (see
    models/music/engines/transformers_musicgen.py), so its config is written as
    MusicgenMelodyFeatureExtractor.to_dict() would, with its defaults (those of facebook/musicgen-melody)."""
    feature_extractor = {
        "feature_extractor_type": "MusicgenMelodyFeatureExtractor",
        "processor_class": "MusicgenMelodyProcessor",
        "feature_size": 12,
        "sampling_rate": SAMPLING_RATE,
        "hop_length": 4096,
        "chunk_length": 30,
        "n_fft": 16384,
        "num_chroma": 12,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
        "stem_indices": [3, 2],
    }
    (out_dir / "preprocessor_config.json").write_text(json.dumps(feature_extractor, indent=2))
