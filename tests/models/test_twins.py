"""Random-weight twins: the real models' size, counted on the meta device (nothing is built
or allocated here), and labelled as twins wherever presets are listed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from models.common.weights import BuiltWeights
from models.presets import LOCAL_DEFAULTS, MODAL_DEFAULTS, PRESETS
from models.random_weights.twins import (
    CLIP_VOCAB_SIZE,
    REAL_PARAMS,
    T5_EMBEDDING_ROWS,
    T5_TOKENIZER_SIZE,
    meta_parameter_counts,
)

TWINS = {
    "sd-turbo-twin": "image",
    "sdxl-turbo-twin": "image",
    "sd3.5-large-turbo-twin": "image",
    "flux-schnell-twin": "image",
    "musicgen-small-twin": "music",
    "ltx-video-twin": "video",
}


@pytest.mark.parametrize("twin", TWINS)
def test_twin_has_the_real_models_parameter_count_within_one_percent(twin):
    counts = meta_parameter_counts(twin)
    real = REAL_PARAMS[twin]
    assert set(counts) == set(real)
    for part, n in counts.items():
        assert n == pytest.approx(real[part], rel=0.01), (twin, part, n, real[part])


def test_twin_tokenizers_have_the_real_vocabulary_sizes():
    from models.random_weights.image_twins import sd_turbo_components, sdxl_turbo_components
    from models.random_weights.music_twins import musicgen_small_config
    from models.random_weights.twins import t5_tokenizer

    clip = sd_turbo_components()["tokenizer"]()
    assert len(clip) == CLIP_VOCAB_SIZE and clip.pad_token == "!"
    assert clip("a red fox").input_ids[0] == CLIP_VOCAB_SIZE - 2  # <|startoftext|>
    xl = sdxl_turbo_components()
    assert len(xl["tokenizer"]()) == len(xl["tokenizer_2"]()) == CLIP_VOCAB_SIZE
    t5 = t5_tokenizer()
    assert len(t5) == T5_TOKENIZER_SIZE
    ids = t5("lofi hip hop, 90 bpm!").input_ids
    assert ids[-1] == t5.eos_token_id and t5.unk_token_id not in ids  # every ASCII prompt encodes
    assert musicgen_small_config().text_encoder.vocab_size == T5_EMBEDDING_ROWS


@pytest.mark.parametrize("twin,pipeline", [
    ("sd-turbo-twin", "StableDiffusionPipeline"),
    ("sdxl-turbo-twin", "StableDiffusionXLPipeline"),
    ("sd3.5-large-turbo-twin", "StableDiffusion3Pipeline"),
    ("flux-schnell-twin", "FluxPipeline"),
])
def test_image_twins_have_every_component_their_pipeline_needs(twin, pipeline):
    import inspect

    import diffusers

    from models.random_weights.twins import twin_components

    parameters = inspect.signature(getattr(diffusers, pipeline).__init__).parameters.values()
    required = {p.name for p in parameters if p.name != "self" and p.default is inspect.Parameter.empty}
    assert required - {"safety_checker", "feature_extractor"} == set(twin_components(twin))


def test_flow_twins_encode_prompts_with_t5s_vocabulary():
    from models.random_weights.image_twins import flux_schnell_components, sd35_large_turbo_components

    for components, t5 in ((sd35_large_turbo_components(), "3"), (flux_schnell_components(), "2")):
        assert len(components[f"tokenizer_{t5}"]()) == T5_TOKENIZER_SIZE
        assert len(components["tokenizer"]()) == CLIP_VOCAB_SIZE


@pytest.mark.parametrize("name,kind", TWINS.items())
def test_twins_are_labelled_as_twins_and_never_defaults(name, kind):
    preset = PRESETS[kind][name]
    assert preset.twin_of in PRESETS[kind]
    assert preset.summary.startswith(f"random-weight twin of {preset.twin_of}")
    assert isinstance(preset.weights, BuiltWeights) and "random weights" in preset.weights.describe()
    assert name not in LOCAL_DEFAULTS.values() and name not in MODAL_DEFAULTS.values()
    assert not preset.local


def test_only_twins_are_called_twins():
    for table in PRESETS.values():
        for name, preset in table.items():
            assert (preset.twin_of is not None) == ("twin" in preset.summary) == (name in TWINS), name


def test_twin_defaults_follow_the_real_preset():
    for name, kind in TWINS.items():
        table = PRESETS[kind]
        twin, real = table[name], table[table[name].twin_of]
        if kind == "image":
            assert (twin.size, twin.steps, twin.guidance, twin.max_size) == (real.size, real.steps, real.guidance, real.max_size)
        elif kind == "video":
            assert twin == replace(real, name=twin.name, twin_of=twin.twin_of, weights=twin.weights, summary=twin.summary,
                                   checkpoint=None, checkpoint_file="")
        else:
            assert (twin.window_s, twin.guidance, twin.top_k) == (real.window_s, real.guidance, real.top_k)


def _small_flow_models(twin: str) -> dict:
    """The twin's big models swapped for small ones of the same classes and wiring (the
    tokenizers and scheduler stay the twin's own): what a build on this machine can afford."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    def clip(cls):
        return lambda: cls(CLIPTextConfig(
            vocab_size=CLIP_VOCAB_SIZE, hidden_size=32, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=1, projection_dim=32, bos_token_id=CLIP_VOCAB_SIZE - 2,
            eos_token_id=CLIP_VOCAB_SIZE - 1, pad_token_id=1,
        ))

    def t5():
        return T5EncoderModel(T5Config(vocab_size=T5_EMBEDDING_ROWS, d_model=64, d_ff=37, d_kv=8, num_layers=1,
                                       num_heads=4, feed_forward_proj="gated-gelu"))

    def vae():
        return AutoencoderKL(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=16, shift_factor=0.06,
                             use_quant_conv=False, use_post_quant_conv=False)

    if twin == "sd3.5-large-turbo-twin":
        return {
            "transformer": lambda: SD3Transformer2DModel(
                sample_size=32, num_layers=1, attention_head_dim=8, num_attention_heads=4, joint_attention_dim=64,
                caption_projection_dim=32, pooled_projection_dim=64, pos_embed_max_size=64,
            ),
            "text_encoder": clip(CLIPTextModelWithProjection), "text_encoder_2": clip(CLIPTextModelWithProjection),
            "text_encoder_3": t5, "vae": vae,
        }
    return {
        "transformer": lambda: FluxTransformer2DModel(
            in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=64, pooled_projection_dim=32, axes_dims_rope=(4, 6, 6),
        ),
        "text_encoder": clip(CLIPTextModel), "text_encoder_2": t5, "vae": vae,
    }


@pytest.mark.parametrize("twin,pipeline", [
    ("sd3.5-large-turbo-twin", "StableDiffusion3Pipeline"),
    ("flux-schnell-twin", "FluxPipeline"),
])
def test_flow_twin_builds_assemble_a_pipeline_that_loads_and_runs(twin, pipeline, tmp_path):
    """The real twins are too big to build here; their assembly (tokenizers, scheduler,
    model_index.json) is checked with small models in the big ones' places."""
    import torch
    from diffusers import AutoPipelineForText2Image

    from models.random_weights.twins import build_pipeline, twin_components

    build_pipeline(tmp_path, pipeline, twin_components(twin) | _small_flow_models(twin))
    pipe = AutoPipelineForText2Image.from_pretrained(tmp_path)
    assert type(pipe).__name__ == pipeline
    image = pipe(prompt="a fox", width=64, height=64, num_inference_steps=2, guidance_scale=0.0,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_the_ltx_video_twin_assembles_a_pipeline_that_loads_and_makes_a_clip(tmp_path):
    """The twin's tokenizer, scheduler and model_index.json, with the tiny-video models in the big
    ones' places (the twin itself is 16 GB) and a T5 of the tiny transformer's width."""
    import torch
    from diffusers import LTXPipeline
    from transformers import T5Config, T5EncoderModel

    from models.random_weights.tiny_video import tiny_ltx_transformer, tiny_ltx_vae
    from models.random_weights.twins import build_pipeline, twin_components

    def t5():
        return T5EncoderModel(T5Config(vocab_size=T5_EMBEDDING_ROWS, d_model=32, d_ff=37, d_kv=8, num_layers=1,
                                       num_heads=4, feed_forward_proj="gated-gelu"))

    small = {"transformer": tiny_ltx_transformer, "vae": tiny_ltx_vae, "text_encoder": t5}
    build_pipeline(tmp_path, "LTXPipeline", twin_components("ltx-video-twin") | small, dtype="bfloat16")
    from safetensors import safe_open

    with safe_open(tmp_path / "transformer" / "diffusion_pytorch_model.safetensors", "pt") as saved:
        assert saved.get_tensor(next(iter(saved.keys()))).dtype == torch.bfloat16  # drawn and saved in bf16
    pipe = LTXPipeline.from_pretrained(tmp_path, dtype=torch.float32)
    assert len(pipe.tokenizer) == T5_TOKENIZER_SIZE
    video = pipe(prompt="waves at dusk", width=64, height=32, num_frames=9, num_inference_steps=2, guidance_scale=1.0,
                 generator=torch.Generator().manual_seed(0), output_type="np").frames
    assert video.shape == (1, 9, 32, 64, 3)


@pytest.mark.parametrize("name", sorted(__import__("models.image.guides", fromlist=["PARAMS"]).PARAMS))
def test_guide_models_have_the_counts_the_gpu_arithmetic_uses_within_one_percent(name):
    """guides.PARAMS (what ui/doctor.py adds for the guides a preset holds) against each architecture
    counted on the meta device, as the twins' REAL_PARAMS are."""
    from models.image.guides import GUIDE_SETS, PARAMS
    from models.random_weights.guide_twins import meta_count

    assert meta_count(name) == pytest.approx(PARAMS[name], rel=0.01)
    named = {s for g in GUIDE_SETS.values() for s in [n.size for n in g.controls]
             + ([g.references.size, g.references.encoder_size] if g.references else [])}
    assert name in named or name in ("depth-anything-v2-small", "vitpose-base", "hed")  # no stale entry
