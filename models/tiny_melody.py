"""A tiny random-weight MusicGen Melody for transformers, built offline from configs.

Like models/tiny.py's builders: written with `save_pretrained`, loaded by the engine with
the same `from_pretrained` calls as facebook/musicgen-melody. It makes melody-conditioned
noise, fast, on a CPU.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from models.tiny import _SEED, _train_t5_tokenizer


def build_tiny_musicgen_melody(out_dir: Path) -> None:
    """A MusicgenMelodyForConditionalGeneration (tiny T5 + EnCodec + decoder) and its processor."""
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
        T5Config,
    )

    torch.manual_seed(_SEED)
    with tempfile.TemporaryDirectory() as tok_dir:
        tokenizer = _train_t5_tokenizer(Path(tok_dir))
        text_config = T5Config(
            vocab_size=tokenizer.vocab_size, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
        )
        sampling_rate = 32000
        audio_config = EncodecConfig(
            sampling_rate=sampling_rate, audio_channels=1, num_filters=4, codebook_size=64, codebook_dim=16,
            hidden_size=16,
            upsampling_ratios=[8, 5, 4, 4],  # hop 640 → 50 frames a second, as in MusicGen
            target_bandwidths=[1.2],  # 4 codebooks
            num_lstm_layers=1, compress=2,
        )
        decoder_config = MusicgenMelodyDecoderConfig(
            vocab_size=audio_config.codebook_size, hidden_size=32, ffn_dim=37, num_hidden_layers=2,
            num_attention_heads=4, num_codebooks=4, max_position_embeddings=4096,
            pad_token_id=audio_config.codebook_size, bos_token_id=audio_config.codebook_size,
        )
        config = MusicgenMelodyConfig(
            text_encoder=text_config.to_dict(),
            audio_encoder=audio_config.to_dict(),
            decoder=decoder_config.to_dict(),
            num_chroma=12,
        )
        model = MusicgenMelodyForConditionalGeneration(config)
        # As in models/tiny.py: EnCodec's codebooks start as zeros; random vectors make codes differ.
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.inited.fill_(1)
        # The chroma projection starts near zero (std 0.02), too faint for a tune to change a
        # tiny random model's samples at all; at unit scale different melodies make different clips.
        torch.nn.init.normal_(model.audio_enc_to_dec_proj.weight, std=1.0)
        model.generation_config.update(
            do_sample=True, guidance_scale=3.0, max_length=1500,
            pad_token_id=decoder_config.pad_token_id, decoder_start_token_id=decoder_config.bos_token_id,
        )
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        # The processor's feature extractor can't be constructed without torchaudio (see
        # models/engines/transformers_musicgen.py), so its config is written as
        # MusicgenMelodyFeatureExtractor.to_dict() would, with its defaults (those of facebook/musicgen-melody).
        feature_extractor = {
            "feature_extractor_type": "MusicgenMelodyFeatureExtractor",
            "processor_class": "MusicgenMelodyProcessor",
            "feature_size": 12,
            "sampling_rate": sampling_rate,
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
