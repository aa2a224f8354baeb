"""Tiny random-weight audiocraft models, built offline from configs (the audiocraft engine's `tiny-*` presets).

Each builder writes the files audiocraft's own loaders read for a pretrained model, in the
format its export tools write (`{"xp.cfg": <yaml>, "best_state": <state dict>}`):

- `state_dict.bin`: the language model, rebuilt by `loaders.load_lm_model`;
- `compression_state_dict.bin`: the EnCodec model, rebuilt by `loaders.load_compression_model`;
- `mbd_musicgen_32khz.th`: MultiBand Diffusion bands, rebuilt by `loaders.load_diffusion_models`.

The engine then loads the folder with `MusicGen.get_pretrained(folder)` /
`AudioGen.get_pretrained(folder)`: the same calls, the same code, as for facebook/musicgen-*.
Sizes follow audiocraft's own test models (`builders.get_debug_compression_model` and
`get_debug_lm_model`), with one change: the text conditioner is a lookup table over the
whole description (`tokenizer: noop`, audiocraft's tokenizer for global attributes) instead
of the debug model's whitespace tokenizer, which loads a spaCy model from the network.

Runs only where audiocraft is installed (its Modal image, or `make audiocraft-env`).
"""

from __future__ import annotations

from pathlib import Path

_SEED = 0
CARD = 400  # codebook size, as in audiocraft's debug models
N_Q = 4
DIM = 16
MBD_FILE = "mbd_musicgen_32khz.th"  # the file name audiocraft's MultiBandDiffusion.get_mbd_musicgen reads


def build_tiny_musicgen(out_dir: Path) -> None:
    """A MusicGen: 32 kHz EnCodec (25 frames a second) and a two-layer LM with a text conditioner."""
    _build(out_dir, sample_rate=32000, ratios=[10, 8, 16], segment_s=30.0)


def build_tiny_audiogen(out_dir: Path) -> None:
    """An AudioGen: the same shape at 16 kHz, as audiocraft's AudioGen debug model."""
    _build(out_dir, sample_rate=16000, ratios=[10, 8, 8], segment_s=10.0)


def build_tiny_mbd(out_dir: Path) -> None:
    """MultiBand Diffusion for the tiny MusicGen's codes: two bands of a small diffusion U-Net."""
    import torch
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    torch.manual_seed(_SEED)
    pkg: dict = {"sample_rate": 32000, "n_bands": 2}
    for band in range(2):
        cfg = OmegaConf.create(
            {
                "channels": 1,
                "schedule": {
                    "num_steps": 1000,  # MBD samples 20 of 1000 steps (NoiseSchedule.generate_subsampled)
                    "beta_t0": 1e-5, "beta_t1": 2.5e-2, "beta_exp": 1, "repartition": "power",
                    "variance": "beta", "clip": 5.0, "rescale": 1.0, "n_bands": None, "noise_scale": 1.0,
                },
                "diffusion_unet": {
                    "hidden": 8, "depth": 2, "growth": 2.0, "max_channels": 32, "emb_all_layers": False,
                    "cross_attention": False, "bilstm": False, "transformer": False, "codec_dim": 32,
                },
                "processor": {"use": False, "name": "multi_band_processor"},
            }
        )
        model = builders.get_diffusion_model(cfg)
        processor = builders.get_processor(cfg.processor, sample_rate=32000)
        pkg[band] = {"cfg": cfg, "model_state": model.state_dict(), "processor_state": processor.state_dict()}
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(pkg, out_dir / MBD_FILE)


def _build(out_dir: Path, sample_rate: int, ratios: list[int], segment_s: float) -> None:
    import torch
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    torch.manual_seed(_SEED)
    compression_cfg = OmegaConf.create(
        {
            "device": "cpu",
            "compression_model": "encodec",
            "encodec": {
                "autoencoder": "seanet", "quantizer": "rvq", "sample_rate": sample_rate, "channels": 1,
                "causal": False, "renormalize": False,
            },
            "seanet": {
                "dimension": 32, "channels": 1, "n_filters": 4, "n_residual_layers": 1, "ratios": ratios,
                "encoder": {}, "decoder": {},
            },
            # Random (uniform) codebooks: k-means initialisation, what training starts with and
            # what the debug model runs, takes half a minute on a CPU and buys random weights nothing.
            "rvq": {"n_q": N_Q, "bins": CARD, "decay": 0.99, "kmeans_init": False},
        }
    )
    compression = builders.get_compression_model(compression_cfg).eval()

    lm_cfg = OmegaConf.create(
        {
            "device": "cpu",
            "dtype": "float32",
            "lm_model": "transformer_lm",
            # The training clip length, which audiocraft takes as the longest single pass (as the
            # real models: 30 s, 10 s for AudioGen). The preset's shorter window_s is what the
            # engine asks for, so tests still cross window boundaries.
            "dataset": {"segment_duration": segment_s},
            "transformer_lm": {
                "n_q": N_Q, "card": CARD, "dim": DIM, "num_heads": 4, "num_layers": 2, "hidden_scale": 4,
                "custom": True, "causal": True, "cross_attention": True,
            },
            "codebooks_pattern": {"modeling": "delay", "delay": {"delays": list(range(N_Q))}},
            "attribute_dropout": {},
            "classifier_free_guidance": {"training_dropout": 0.0, "inference_coef": 3.0},
            "fuser": {
                "cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
                "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": [],
            },
            "conditioners": {"description": {"model": "lut", "lut": {"n_bins": 128, "dim": DIM, "tokenizer": "noop"}}},
        }
    )
    lm = builders.get_lm_model(lm_cfg)

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"xp.cfg": OmegaConf.to_yaml(compression_cfg), "best_state": compression.state_dict()},
               out_dir / "compression_state_dict.bin")
    torch.save({"xp.cfg": OmegaConf.to_yaml(lm_cfg), "best_state": lm.state_dict()}, out_dir / "state_dict.bin")
