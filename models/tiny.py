"""Tiny random-weight models, built offline from configs.

They exist so tests, CI and offline laptops can run the real code paths without the
Hugging Face hub: each builder writes a folder with `save_pretrained`, and the model
classes load it with the same `from_pretrained` calls they use for real weights.
They make noise, fast, on a CPU. Building is deterministic (fixed seed), so a folder
built twice holds the same weights.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

# Small enough to build in a second or two on a CPU, big enough to exercise every layer.
_SEED = 0


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

    torch.manual_seed(_SEED)
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
        tokenizer=CLIPTokenizer(vocab=_byte_level_clip_vocab(), merges=[], model_max_length=77),
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
    """The tiny SD3 pipeline's adaptable model, as models/twins.py gives a twin's."""
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

    torch.manual_seed(_SEED)
    clip_width, t5_width = _SD3_CLIP_WIDTH, _SD3_T5_WIDTH

    def clip(pad_token: str):
        encoder = CLIPTextModelWithProjection(_tiny_clip_config(hidden_size=clip_width, projection_dim=clip_width))
        tokenizer = CLIPTokenizer(vocab=_byte_level_clip_vocab(), merges=[], model_max_length=77, pad_token=pad_token)
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
        tokenizer_3 = _train_t5_tokenizer(Path(tok_dir))
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
# family are checked against their shapes and built on them (models/loras.py, models/tiny_lora.py).
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
    """The tiny image pipeline's adaptable models by component name, as models/twins.py gives a twin's."""
    return {"unet": tiny_unet, "text_encoder": tiny_text_encoder}


def tiny_text_encoder():
    from transformers import CLIPTextModel

    return CLIPTextModel(_tiny_clip_config(hidden_size=32))


def _tiny_clip_config(**widths):
    """A 2-layer CLIP text encoder over the byte-level vocabulary (`_byte_level_clip_vocab`)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=_BYTE_VOCAB_SIZE,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=_BYTE_VOCAB_SIZE - 2,
        eos_token_id=_BYTE_VOCAB_SIZE - 1,
        pad_token_id=_BYTE_VOCAB_SIZE - 1,
        **widths,
    )


# 256 byte symbols, each also as a word end, plus start and end tokens.
_BYTE_VOCAB_SIZE = 256 * 2 + 2


def _byte_level_clip_vocab() -> dict[str, int]:
    """A CLIP BPE vocabulary for use with no merges: every byte is a token, so any prompt encodes."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": i + 256 for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = _BYTE_VOCAB_SIZE - 2
    vocab["<|endoftext|>"] = _BYTE_VOCAB_SIZE - 1
    return vocab


def build_tiny_musicgen(out_dir: Path) -> None:
    """A MusicgenForConditionalGeneration (tiny T5 + EnCodec + decoder) and its processor."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
    )

    torch.manual_seed(_SEED)
    with tempfile.TemporaryDirectory() as tok_dir:
        tokenizer = _train_t5_tokenizer(Path(tok_dir))
        text_config = T5Config(
            vocab_size=tokenizer.vocab_size,
            d_model=32,
            d_ff=37,
            d_kv=8,
            num_layers=2,
            num_heads=4,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=1,
        )
        sampling_rate = 32000
        audio_config = EncodecConfig(
            sampling_rate=sampling_rate,
            audio_channels=1,
            num_filters=4,
            codebook_size=64,
            codebook_dim=16,
            hidden_size=16,
            upsampling_ratios=[8, 5, 4, 4],  # hop 640 → 50 frames a second, as in MusicGen
            target_bandwidths=[1.2],  # 4 codebooks × 6 bits × 50 frames a second
            num_lstm_layers=1,
            compress=2,
        )
        decoder_config = MusicgenDecoderConfig(
            vocab_size=audio_config.codebook_size,
            hidden_size=32,
            ffn_dim=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_codebooks=4,
            max_position_embeddings=4096,
            pad_token_id=audio_config.codebook_size,
            bos_token_id=audio_config.codebook_size,
            decoder_start_token_id=audio_config.codebook_size,
        )
        config = MusicgenConfig(
            text_encoder=text_config.to_dict(),
            audio_encoder=audio_config.to_dict(),
            decoder=decoder_config.to_dict(),
        )
        model = MusicgenForConditionalGeneration(config)
        # EnCodec's codebooks are buffers that start as zeros (training fills them), which
        # would make every code decode to the same sound: give them random vectors.
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.inited.fill_(1)
        model.generation_config.update(
            do_sample=True,
            guidance_scale=3.0,
            max_length=1500,
            pad_token_id=decoder_config.pad_token_id,
            decoder_start_token_id=decoder_config.decoder_start_token_id,
        )
        processor = MusicgenProcessor(
            feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=sampling_rate),
            tokenizer=tokenizer,
        )
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)


_TOKENIZER_SENTENCES = [
    "lofi hip hop beat with warm piano chords and vinyl crackle",
    "epic orchestral soundtrack with drums and brass",
    "an upbeat electronic dance track with a heavy bass drop",
    "calm ambient pads, slow evolving texture, rain in the background",
    "acoustic guitar folk song, gentle and bright",
    "jazz trio with double bass, brushed drums and a walking piano line",
    "80s synthwave with arpeggiated synths and gated reverb snare",
    "a cat, an astronaut, a watercolor landscape, 0123456789",
]


def _train_t5_tokenizer(folder: Path):
    """Train a sentencepiece unigram model on a few sentences and wrap it as a T5Tokenizer."""
    import io

    import sentencepiece as spm
    from transformers import T5Tokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_TOKENIZER_SENTENCES),
        model_writer=model,
        vocab_size=96,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    spm_file = folder / "spiece.model"
    spm_file.write_bytes(model.getvalue())
    return T5Tokenizer(vocab_file=str(spm_file), extra_ids=0, legacy=False)
