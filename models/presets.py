"""Model presets: which weights each name means, and the defaults that suit them.

This module is imported by the web side too, so it must stay free of torch and friends.
A preset's weights come from one of two sources, both ending in a local folder that the
model classes load with `from_pretrained`:

- `HubWeights`: a Hugging Face repo at a pinned revision, downloaded into HF_HUB_CACHE.
- `BuiltWeights`: a folder built on this machine by a function (the `tiny` presets).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from models.common.errors import RequestError
from models.common.speed import NO_SPEEDUPS, SpeedOptions
from models.common.weights import BuiltWeights, HubWeights, Weights

Kind = Literal["image", "music"]


# The options that act on one kind's models only: image ones on a diffusion pipeline's modules,
# music ones on MusicGen's decoder. A preset of the other kind refuses them, so a record never
# claims an option that did nothing.
ONE_KIND_OPTIONS = {"image": ("fast_decoder", "channels_last", "fuse_qkv"), "music": ("static_cache", "cpu_int8")}


def refuse_other_kinds_options(preset: str, kind: str, speed: SpeedOptions) -> None:
    for other, names in ONE_KIND_OPTIONS.items():
        found = [name for name in names if other != kind and getattr(speed, name)]
        if found:
            raise ValueError(f"{preset}: {', '.join(found)} apply to {other} presets only")


# Modal GPUs for image presets: an L40S (48 GB) for most; an H100 (80 GB) for the big flow
# transformers, whose bf16 weights with T5-XXL are 28–34 GB before a single image.
ImageGpu = Literal["L40S", "H100"]


@dataclass(frozen=True)
class ImagePreset:
    name: str
    weights: Weights
    summary: str
    steps: int
    guidance: float
    size: int  # default width and height
    max_size: int
    max_steps: int = 50
    negative_prompt: bool = True  # whether the pipeline uses a negative prompt at all
    gpu_dtype: Literal["float16", "bfloat16"] = "float16"
    local: bool = False  # small enough to be a sensible default on a CPU laptop
    # Most images one pipeline call makes for several requests at once (models/common/batching.py):
    # what fits the GPU's memory at the default size. 1 = never batch.
    max_batch: int = 1
    speed: SpeedOptions = NO_SPEEDUPS
    twin_of: str | None = None  # a random-weight twin (models/random_weights/twins.py) of this preset: never a default
    # The architecture its weights share with others: a LoRA adapter made for one preset of a
    # family fits every preset of it (sd-turbo and a fine-tune of SD 2.1 both take "sd2" adapters).
    family: str = ""
    # The Modal GPU that serves it (app.py has a class for each): one whose memory holds its
    # weights and its largest batch at max_size (tests/test_app.py does the arithmetic).
    gpu: ImageGpu = "L40S"
    # The ControlNets, IP-Adapter and annotators it may use (models/image/guides.py): its family's,
    # unless it needs others (a twin's random-weight ControlNet).
    guides: str = ""
    # Most controls one request may name, and so most ControlNets a model keeps loaded (the ones a batch
    # doesn't use are unloaded past it): what its GPU holds beside its weights and a full batch
    # (ui/doctor.py adds up models/image/guides.py's sizes).
    max_controls: int = 3

    def __post_init__(self) -> None:
        refuse_other_kinds_options(self.name, "image", self.speed)

    @property
    def guide_set(self) -> str:
        return self.guides or self.family


MusicEngine = Literal["transformers", "audiocraft"]
# What a preset's model makes: music from text, music that follows a melody, or sound effects.
MusicModelType = Literal["musicgen", "musicgen-melody", "audiogen"]


@dataclass(frozen=True)
class MusicPreset:
    name: str
    weights: Weights
    summary: str
    window_s: float = 30.0  # the longest clip the model makes in one pass
    guidance: float = 3.0
    temperature: float = 1.0
    top_k: int = 250
    local: bool = False
    # Which library runs it: Hugging Face transformers (the main environment) or Meta's
    # audiocraft (its own image on Modal, its own venv locally: see models/music/engines/).
    engine: MusicEngine = "transformers"
    model: MusicModelType = "musicgen"
    # MultiBand Diffusion weights, for presets that can decode with it instead of EnCodec.
    diffusion_decoder: Weights | None = None
    # cpu_bf16, cpu_int8, threads, static_cache and compile apply to music; the transformers engine applies them
    speed: SpeedOptions = NO_SPEEDUPS
    twin_of: str | None = None  # a random-weight twin (models/random_weights/twins.py) of this preset: never a default

    def __post_init__(self) -> None:
        refuse_other_kinds_options(self.name, "music", self.speed)
        if self.engine == "audiocraft" and self.speed != NO_SPEEDUPS:  # its worker process applies none
            raise ValueError(f"{self.name}: the audiocraft engine applies no speed options")
        if self.speed.cpu_int8 and self.speed.cpu_bf16:  # int8 weights are made from float32 ones
            raise ValueError(f"{self.name}: cpu_int8 and cpu_bf16 exclude each other")

    @property
    def takes_melody(self) -> bool:
        return self.model == "musicgen-melody"

    @property
    def sound_effects(self) -> bool:
        return self.model == "audiogen"


# TAESD, the tiny autoencoder for SD 1.x/2.x latents (madebyollin/taesd); the revision is the
# snapshot several public projects pin in their Hugging Face cache paths.
_TAESD = HubWeights("madebyollin/taesd", "614f76814bbe30edbe2e627ace1c2234c81a2c0e")

IMAGE_PRESETS: dict[str, ImagePreset] = {
    p.name: p
    for p in [
        ImagePreset(
            name="sd-turbo",
            family="sd2",
            weights=HubWeights("stabilityai/sd-turbo", "b261bac6fd2cf515557d5d0707481eafa0485ec2"),
            # On a laptop CPU the full VAE takes two thirds of an image's time; TAESD decodes it in
            # a fraction of a second and bf16 halves the UNet's time where the CPU has it
            # (bench/results/models-2026-11-28-sd-turbo-ablation.md, on the twin: 0.14× the plain call).
            speed=SpeedOptions(fast_decoder=_TAESD, cpu_bf16=True),
            summary="Stable Diffusion 2.1 Turbo, 512 px in 1–4 steps; runs on a laptop CPU",
            steps=2,
            guidance=0.0,
            size=512,
            max_size=768,
            max_steps=10,
            negative_prompt=False,
            local=True,
            max_batch=4,  # four 512² latents: a few GB more on a laptop, fine on any GPU
        ),
        ImagePreset(
            name="sdxl-turbo",
            family="sdxl",
            weights=HubWeights("stabilityai/sdxl-turbo", "71153311d3dbb46851df1931d3ca6e939de83304"),
            summary="SDXL Turbo, 512 px in 1–4 steps; the Modal default",
            steps=2,
            guidance=0.0,
            size=512,
            max_size=1024,
            max_steps=10,
            negative_prompt=False,
            max_batch=8,  # eight 512² images at once on an L40S (48 GB) with room to spare
        ),
        ImagePreset(
            name="flux-schnell",
            family="flux",
            weights=HubWeights("black-forest-labs/FLUX.1-schnell", "741f7c3ce8b383c54771c7003378a50191e9efe9", gated=True),
            summary="FLUX.1 [schnell], 1024 px in 4 steps; needs a GPU with 24 GB+ and a Hugging Face token",
            steps=4,
            guidance=0.0,
            size=1024,
            max_size=1440,
            max_steps=16,
            negative_prompt=False,
            gpu_dtype="bfloat16",
            max_batch=2,
            # 12 B transformer + T5-XXL + CLIP-L + VAE: 16.9 B parameters, 34 GB in bf16. An L40S
            # (48 GB) would have 12 GB left, not enough for one request's 4 images at 1440².
            gpu="H100",
        ),
        ImagePreset(
            name="sd3.5-large-turbo",
            family="sd3",
            # Revision: the snapshot folder of this repo in public Hugging Face cache paths
            # (models--stabilityai--stable-diffusion-3.5-large-turbo/snapshots/ec07796f…), found in
            # several unrelated public projects, one of which pins it beside the SD3.5 Large and
            # Medium revisions. Not checked against the hub from here (no network).
            weights=HubWeights(
                "stabilityai/stable-diffusion-3.5-large-turbo", "ec07796fc06b096cc56de9762974a28f4c632eda", gated=True
            ),
            summary="Stable Diffusion 3.5 Large Turbo, 1024 px in 4 steps; an H100 preset that needs a Hugging Face token",
            # The model card's settings: 4 steps, no classifier-free guidance (so no negative prompt).
            steps=4,
            guidance=0.0,
            size=1024,
            max_size=1440,
            max_steps=16,
            negative_prompt=False,
            gpu_dtype="bfloat16",
            # Memory, bf16: MMDiT 8.1 B + T5-XXL encoder 4.8 B + CLIP-G 0.7 B + CLIP-L 0.1 B + VAE
            # 0.1 B = 13.8 B parameters = 27.6 GB of weights. An image costs ~3 GB more per megapixel
            # (the VAE decode dominates): 4 at 1440² ≈ 25 GB. On an H100 (80 GB): 27.6 + 25 + 2 GB
            # of CUDA context ≈ 55 GB. On an L40S (48 GB) one 4-image request at 1440² won't fit.
            # Past 4, batching buys little: one 1024² image already keeps an H100 busy.
            max_batch=4,
            gpu="H100",
            # Each of its ControlNets (canny, depth, blur) is 4.2 B parameters, 8.4 GB: with all three,
            # the IP-Adapter and SigLIP loaded beside a full batch at 1440² it would need ~82 GB of 80.
            # Two at once (the third unloaded until asked for) leave ~6 GB spare.
            max_controls=2,
        ),
        ImagePreset(
            name="tiny",
            family="tiny",
            weights=BuiltWeights("models.random_weights.tiny_image:build_tiny_image_pipeline", "tiny-image"),
            summary="random weights, 64 px noise in a fraction of a second; for tests and offline runs",
            steps=2,
            guidance=0.0,
            size=64,
            max_size=256,
            max_steps=10,
            local=True,
            max_batch=8,
        ),
        ImagePreset(
            name="tiny-sd3",
            family="tiny-sd3",  # its own shapes: SD3.5 adapters would not fit it
            weights=BuiltWeights("models.random_weights.tiny_image:build_tiny_sd3_pipeline", "tiny-sd3"),
            summary="random weights in SD3's architecture (MMDiT, three text encoders), 64 px noise; for tests",
            steps=2,
            guidance=0.0,
            size=64,
            max_size=256,
            max_steps=10,
            negative_prompt=False,
            local=True,
            max_batch=8,
        ),
    ]
}

# Random-weight twins of real presets (models/random_weights/twins.py): the real preset's settings, the real
# architecture and size, built offline, for benchmarks and memory budgets without the hub.
# Noise only, and never a default (local=False). Their speed options are what bench_models
# showed to help on a CPU.
_TAESD_TWIN = BuiltWeights("models.random_weights.image_twins:build_taesd_twin", "taesd-twin")
IMAGE_PRESETS |= {
    twin.name: twin
    for twin in (
        replace(
            IMAGE_PRESETS["sd-turbo"], name="sd-turbo-twin", local=False, twin_of="sd-turbo",
            weights=BuiltWeights("models.random_weights.image_twins:build_sd_turbo_twin", "sd-turbo-twin"),
            summary="random-weight twin of sd-turbo: real size and speed, noise images; for benchmarks",
            speed=SpeedOptions(fast_decoder=_TAESD_TWIN, cpu_bf16=True),
            guides="sd2-twin",  # an SD 2.1-sized ControlNet and annotators with random weights
        ),
        replace(
            IMAGE_PRESETS["sdxl-turbo"], name="sdxl-turbo-twin", local=False, twin_of="sdxl-turbo",
            weights=BuiltWeights("models.random_weights.image_twins:build_sdxl_turbo_twin", "sdxl-turbo-twin"),
            summary="random-weight twin of sdxl-turbo: real size and speed, noise images; for benchmarks (14 GB on disk)",
            speed=SpeedOptions(fast_decoder=_TAESD_TWIN, cpu_bf16=True),
        ),
        # Too big to build on a laptop or in CI (tens of GB in float32 while built): for a machine
        # with the memory, e.g. `modal run app.py::download_weights --presets sd3.5-large-turbo-twin`.
        replace(
            IMAGE_PRESETS["sd3.5-large-turbo"], name="sd3.5-large-turbo-twin", local=False, twin_of="sd3.5-large-turbo",
            weights=BuiltWeights("models.random_weights.image_twins:build_sd35_large_turbo_twin", "sd3.5-large-turbo-twin"),
            summary="random-weight twin of sd3.5-large-turbo: real size and speed, noise images; "
            "for GPU benchmarks (28 GB on disk; build on a big machine)",
        ),
        replace(
            IMAGE_PRESETS["flux-schnell"], name="flux-schnell-twin", local=False, twin_of="flux-schnell",
            weights=BuiltWeights("models.random_weights.image_twins:build_flux_schnell_twin", "flux-schnell-twin"),
            summary="random-weight twin of flux-schnell: real size and speed, noise images; "
            "for GPU benchmarks (34 GB on disk; build on a big machine)",
        ),
    )
}

# MultiBand Diffusion for MusicGen's 32 kHz EnCodec tokens (audiocraft only). Snapshot revision.
_MBD = HubWeights("facebook/multiband-diffusion", "62daf9743d37c54e13366e396241a476908ecad7")

MUSIC_PRESETS: dict[str, MusicPreset] = {
    p.name: p
    for p in [
        MusicPreset(
            name="musicgen-small",
            weights=HubWeights("facebook/musicgen-small", "4c8334b02c6ec4e8664a91979669a501ec497792"),
            summary="MusicGen 300M; runs on a laptop CPU, slower than real time",
            local=True,
            # int8 decoder layers on a CPU: a 10 s clip of its twin in 41 s instead of 54 s on a
            # 2-core Xeon (bench/results/models-2026-11-28-musicgen-int8-cpu.md).
            speed=SpeedOptions(cpu_int8=True),
        ),
        MusicPreset(
            name="musicgen-medium",
            weights=HubWeights("facebook/musicgen-medium", "d3bd7b00761b78ad7a8a05145ee31e7832e9916c"),
            summary="MusicGen 1.5B; a GPU preset",
        ),
        MusicPreset(
            name="musicgen-large",
            weights=HubWeights("facebook/musicgen-large", "15ccdc92099879e47b6da12c350cdb71d4eab3ca"),
            summary="MusicGen 3.3B; a GPU preset with 16 GB+",
        ),
        MusicPreset(
            name="tiny",
            weights=BuiltWeights("models.random_weights.tiny_music:build_tiny_musicgen", "tiny-music"),
            summary="random weights, noise at 32 kHz; for tests and offline runs",
            window_s=4.0,  # short windows so tests cross a window boundary cheaply
            local=True,
        ),
        MusicPreset(
            name="musicgen-small-twin",
            weights=BuiltWeights("models.random_weights.music_twins:build_musicgen_small_twin", "musicgen-small-twin"),
            summary="random-weight twin of musicgen-small: real size and speed, noise at 32 kHz; for benchmarks",
            # musicgen-small's options. CPU bf16 made a 10 s clip slower, not faster (bench/results/).
            speed=SpeedOptions(cpu_int8=True),
            twin_of="musicgen-small",
        ),
        # transformers' MusicGen Melody: the same weights repo as audiocraft's, in both formats.
        # Revisions marked "snapshot" were read off public hub cache paths, not checked from here.
        MusicPreset(
            name="musicgen-melody",
            weights=HubWeights("facebook/musicgen-melody", "51e18546f12df76256cdf55199560a82366389fe"),  # snapshot
            summary="MusicGen Melody 1.5B: follows the tune of an uploaded melody; a GPU preset",
            model="musicgen-melody",
        ),
        MusicPreset(
            name="tiny-melody",
            weights=BuiltWeights("models.random_weights.tiny_music:build_tiny_musicgen_melody", "tiny-music-melody"),
            summary="random weights, melody-conditioned noise at 32 kHz; for tests and offline runs",
            window_s=4.0,
            model="musicgen-melody",
            local=True,
        ),
        # --- audiocraft: Meta's reference library (its own image and venv: see models/music/engines/) ---
        MusicPreset(
            name="audiocraft-musicgen-medium",
            weights=HubWeights("facebook/musicgen-medium", "d3bd7b00761b78ad7a8a05145ee31e7832e9916c"),
            summary="MusicGen 1.5B as in Meta's audiocraft; can decode with MultiBand Diffusion; a GPU preset",
            engine="audiocraft",
            diffusion_decoder=_MBD,
        ),
        MusicPreset(
            name="audiocraft-musicgen-melody",
            weights=HubWeights("facebook/musicgen-melody", "51e18546f12df76256cdf55199560a82366389fe"),  # snapshot
            summary="MusicGen Melody 1.5B as in audiocraft (melody separated from drums and bass with Demucs)",
            engine="audiocraft",
            model="musicgen-melody",
            diffusion_decoder=_MBD,
        ),
        MusicPreset(
            name="audiogen-medium",
            weights=HubWeights("facebook/audiogen-medium", "1277dd7dfd8fa57a205a70acc5de0ee90804502f"),  # snapshot
            summary="AudioGen 1.5B: sound effects from a description (16 kHz); a GPU preset",
            window_s=10.0,  # AudioGen is trained on 10 s clips
            engine="audiocraft",
            model="audiogen",
        ),
        MusicPreset(
            name="tiny-audiocraft",
            weights=BuiltWeights("models.random_weights.tiny_audiocraft:build_tiny_musicgen", "tiny-audiocraft-music"),
            summary="random weights in audiocraft, noise at 32 kHz, with a tiny MultiBand Diffusion decoder; for tests",
            window_s=4.0,
            engine="audiocraft",
            diffusion_decoder=BuiltWeights("models.random_weights.tiny_audiocraft:build_tiny_mbd", "tiny-audiocraft-mbd"),
            local=True,
        ),
        MusicPreset(
            name="tiny-audiogen",
            weights=BuiltWeights("models.random_weights.tiny_audiocraft:build_tiny_audiogen", "tiny-audiocraft-audiogen"),
            summary="random weights in audiocraft's AudioGen, noise at 16 kHz; for tests and offline runs",
            window_s=4.0,
            engine="audiocraft",
            model="audiogen",
            local=True,
        ),
    ]
}

PRESETS: dict[Kind, dict] = {"image": IMAGE_PRESETS, "music": MUSIC_PRESETS}

# Defaults: a laptop runs the small models, Modal GPUs the better ones.
LOCAL_DEFAULTS: dict[Kind, str] = {"image": "sd-turbo", "music": "musicgen-small"}
MODAL_DEFAULTS: dict[Kind, str] = {"image": "sdxl-turbo", "music": "musicgen-small"}


def choose_defaults(name: str | None, defaults: dict[Kind, str]) -> dict[Kind, str]:
    """The preset each modality uses when a request names none.

    `name` (from --preset or ATELIER_PRESET) picks that preset for every modality that has it,
    so `tiny` switches both image and music to their tiny models.
    """
    if name is None:
        return dict(defaults)
    if not any(name in PRESETS[kind] for kind in PRESETS):
        known = sorted(set(IMAGE_PRESETS) | set(MUSIC_PRESETS))
        raise RequestError(f"Unknown preset '{name}'. Known presets: {', '.join(known)}.")
    return {kind: name if name in PRESETS[kind] else defaults[kind] for kind in PRESETS}


# The Modal class that serves each music engine: its image carries that engine's libraries.
# app.py defines the classes; hybrid mode looks them up by these names in a deployed app.
MUSIC_CLASS_BY_ENGINE = {"transformers": "MusicModel", "audiocraft": "AudiocraftMusicModel"}


def music_class_name(preset: str) -> str:
    return MUSIC_CLASS_BY_ENGINE[get_preset("music", preset).engine]


# The Modal class that serves each image GPU (app.py); hybrid mode looks them up by these names.
IMAGE_CLASS_BY_GPU = {"L40S": "ImageModel", "H100": "LargeImageModel"}


def image_class_name(preset: str) -> str:
    return IMAGE_CLASS_BY_GPU[get_preset("image", preset).gpu]


def all_weights(preset: ImagePreset | MusicPreset) -> list[Weights]:
    """Every set of weights a preset may load: its model's, then its decoders'."""
    decoders = [getattr(preset, "diffusion_decoder", None), preset.speed.fast_decoder]
    return [preset.weights, *(w for w in decoders if w is not None)]


def presets_named(names: str) -> list[ImagePreset | MusicPreset]:
    """The presets a comma-separated list names, of every kind that has the name (`tiny` is an
    image and a music preset); `all` means every preset whose weights come from the hub, the
    tiny ones and the twins being built wherever they run. An unknown name is a RequestError."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if wanted == ["all"]:
        return [p for table in PRESETS.values() for p in table.values() if isinstance(p.weights, HubWeights)]
    unknown = [name for name in wanted if not any(name in table for table in PRESETS.values())]
    if unknown or not wanted:
        known = ", ".join(sorted(set(IMAGE_PRESETS) | set(MUSIC_PRESETS)))
        raise RequestError(f"Unknown preset {', '.join(map(repr, unknown)) or '(none named)'}: name presets "
                           f"separated by commas, or `all`. Known presets: {known}.")
    return [table[name] for name in wanted for table in PRESETS.values() if name in table]


def get_preset(kind: Kind, name: str) -> ImagePreset | MusicPreset:
    try:
        return PRESETS[kind][name]
    except KeyError:
        raise RequestError(f"Unknown {kind} preset '{name}'. Choose one of: {', '.join(PRESETS[kind])}.") from None
