"""What the random-weight builders share: the seed, and tokenizers that need no download.

Every builder seeds torch with SEED before drawing, so a folder built twice holds the same
weights. The tokenizers are made on the spot: a byte-level CLIP vocabulary (every byte a token,
so any prompt encodes) and a T5 sentencepiece model trained on a few sentences.
"""

from __future__ import annotations

from pathlib import Path

SEED = 0


def tiny_clip_config(**widths):
    """A 2-layer CLIP text encoder over the byte-level vocabulary (`byte_level_clip_vocab`)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=BYTE_VOCAB_SIZE,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=BYTE_VOCAB_SIZE - 2,
        eos_token_id=BYTE_VOCAB_SIZE - 1,
        pad_token_id=BYTE_VOCAB_SIZE - 1,
        **widths,
    )


# 256 byte symbols, each also as a word end, plus start and end tokens.
BYTE_VOCAB_SIZE = 256 * 2 + 2


def byte_level_clip_vocab() -> dict[str, int]:
    """A CLIP BPE vocabulary for use with no merges: every byte is a token, so any prompt encodes."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": i + 256 for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = BYTE_VOCAB_SIZE - 2
    vocab["<|endoftext|>"] = BYTE_VOCAB_SIZE - 1
    return vocab


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


def train_t5_tokenizer(folder: Path):
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
