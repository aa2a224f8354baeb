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

Kind = Literal["image", "music", "video"]


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
        if self.speed.static_cache and self.model != "musicgen":  # transformers 5.23's Melody fails to build one
            raise ValueError(f"{self.name}: static_cache applies to MusicGen presets only")
        if self.speed.cpu_int8 and self.speed.cpu_bf16:  # int8 weights are made from float32 ones
            raise ValueError(f"{self.name}: cpu_int8 and cpu_bf16 exclude each other")

    @property
    def takes_melody(self) -> bool:
        return self.model == "musicgen-melody"

    @property
    def sound_effects(self) -> bool:
        return self.model == "audiogen"


# Modal GPUs for video presets, as for images: an L40S (48 GB) where the weights and the decode of the
# longest clip fit it, an H100 (80 GB) beyond (tests/test_app.py does the arithmetic).
VideoGpu = Literal["L40S", "H100"]
# A video model's architecture: which diffusers pipelines run it, the layout of its latents and the
# rules its VAE sets on frames and sizes (models/video/families.py). Room for "wan" and "svd".
VideoFamily = Literal["ltx", "mochi"]


@dataclass(frozen=True)
class VideoPreset:
    name: str
    weights: Weights  # a diffusers pipeline folder
    summary: str
    family: VideoFamily
    steps: int
    guidance: float
    width: int  # the default size
    height: int
    fps: int  # the default frame rate
    frames: int  # the default length
    max_side: int  # the largest width or height
    max_pixels: int  # the largest width × height
    max_frames: int
    max_steps: int = 50
    # The VAE compresses time frame_step to one: a clip has frame_step × k + 1 frames (LTX 8, Mochi 6).
    frame_step: int = 8
    # Widths and heights on this grid: the VAE's spatial compression times the transformer's patch.
    size_grid: int = 32
    takes_image: bool = False  # can start from a picture (image-to-video)
    # A single-file checkpoint whose components (checkpoint_parts) replace the folder's, for
    # releases published only as one .safetensors file (LTX-Video's distilled 2B models).
    checkpoint: Weights | None = None
    checkpoint_file: str = ""
    checkpoint_parts: tuple[str, ...] = ("transformer", "vae")
    # How much an LTX VAE decodes at once, in megapixel-frames (width × height × frames / 10⁶): the
    # decode of a long clip is most of a video model's memory, so clips larger than this decode in
    # chunks of frames that are not (models/video/families.py). None: the whole clip at once.
    decode_megapixel_frames: float | None = None
    gpu_dtype: Literal["float16", "bfloat16"] = "bfloat16"
    local: bool = False
    speed: SpeedOptions = NO_SPEEDUPS  # cpu_bf16, threads and compile apply to video
    twin_of: str | None = None  # a random-weight twin (models/random_weights/twins.py) of this preset: never a default
    gpu: VideoGpu = "L40S"

    def __post_init__(self) -> None:
        refuse_other_kinds_options(self.name, "video", self.speed)
        if (self.frames - 1) % self.frame_step or (self.max_frames - 1) % self.frame_step:
            raise ValueError(f"{self.name}: frame counts are {self.frame_step}k+1")
        if self.width % self.size_grid or self.height % self.size_grid:
            raise ValueError(f"{self.name}: the default size is not on the grid of {self.size_grid}")

    @property
    def min_frames(self) -> int:
        return self.frame_step + 1


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

# LTX-Video's distilled 2B model (0.9.8) is published as one file holding its transformer and VAE;
# the rest of the pipeline (T5-XXL, tokenizer, scheduler, the configs the file is read with) comes
# from the diffusers-format 0.9.5 release, the same 2B architecture. Revisions from public sources,
# not checked against the hub from here (no network): Lightricks/LTX-Video-0.9.5 at the snapshot
# folder of its public Hugging Face cache path in an unrelated project (snapshots/e58e28c3…);
# Lightricks/LTX-Video at the revision a public script pins for this very file (8984fa25…,
# "ltxv-2b-0.9.8-distilled.safetensors", which it loads with diffusers' from_single_file).
_LTX_095 = HubWeights(
    "Lightricks/LTX-Video-0.9.5", "e58e28c39631af4d1468ee57a853764e11c1d37e",
    # Its own transformer and VAE weights are replaced by the distilled file's: not downloaded.
    files=("model_index.json", "scheduler/*", "text_encoder/*", "tokenizer/*", "transformer/config.json",
           "vae/config.json"),
)
_LTX_DISTILLED_FILE = "ltxv-2b-0.9.8-distilled.safetensors"
_LTX_DISTILLED = HubWeights("Lightricks/LTX-Video", "8984fa25007f376c1a299016d0957a37a2f797bb",
                            files=(_LTX_DISTILLED_FILE,))

VIDEO_PRESETS: dict[str, VideoPreset] = {
    p.name: p
    for p in [
        VideoPreset(
            name="ltx-video",
            family="ltx",
            weights=_LTX_095,
            checkpoint=_LTX_DISTILLED,
            checkpoint_file=_LTX_DISTILLED_FILE,
            summary="LTX-Video 2B distilled: 5 s of 768×512 in 8 steps, text or a picture to video; the default",
            # Distilled for 8 steps without classifier-free guidance (LTX-Video's configs: guidance 1),
            # so a negative prompt only acts with guidance above 1. diffusers' LTXPipeline runs its own
            # 8-step schedule, not the distilled release's hand-picked timesteps.
            steps=8,
            guidance=1.0,
            width=768,
            height=512,
            fps=24,
            frames=121,
            max_side=1280,
            max_pixels=1280 * 720,
            max_frames=257,  # LTX-Video's limit: 257 frames, 10.7 s at 24 fps
            max_steps=30,
            takes_image=True,
            # 60 megapixel-frames, ~13.5 GB in bf16 (tests/test_app.py): the default 5 s at 768×512
            # (48) decodes whole; 10.7 s at 1280×720 (237) in five overlapping chunks of 64 frames.
            decode_megapixel_frames=60,
            speed=SpeedOptions(cpu_bf16=True),  # float32 would need 32 GB of RAM for its weights
        ),
        VideoPreset(
            name="mochi-1",
            family="mochi",
            # Revision: the one Modal's Mochi example downloads (its download_model default);
            # not checked against the hub from here.
            weights=HubWeights("genmo/mochi-1-preview", "83359d26a7e2bbe200ecbfda8ebff850fd03b545"),
            summary="Genmo Mochi 1 (10B): high quality, minutes per clip on an H100; text to video",
            steps=64,  # diffusers' MochiPipeline defaults: 64 steps, guidance 4.5
            guidance=4.5,
            width=848,
            height=480,
            fps=30,  # Mochi makes 30 fps motion
            frames=85,
            max_side=848,
            max_pixels=848 * 480,
            max_frames=163,  # 5.4 s at 30 fps, Mochi 1's longest
            max_steps=100,
            frame_step=6,
            size_grid=16,
            # Decoded in spatial tiles of 256 px with every frame (models/video/families.py): 163
            # frames are ~23 GB in bf16 a tile, where the whole clip at once would be ~140 GB
            # (tests/test_app.py).
            # 10 B transformer + T5-XXL + VAE: 15.1 B parameters, 30 GB in bf16.
            gpu="H100",
        ),
        VideoPreset(
            name="tiny-video",
            family="ltx",
            weights=BuiltWeights("models.random_weights.tiny_video:build_tiny_video_pipeline", "tiny-video"),
            summary="random weights in LTX-Video's architecture, noise clips in a fraction of a second; for tests",
            steps=2,
            guidance=1.0,
            width=96,
            height=64,
            fps=8,
            frames=17,
            max_side=256,
            max_pixels=256 * 256,
            max_frames=33,
            max_steps=10,
            takes_image=True,
            # Chunks of 16 frames at 96×64: a 17-frame clip decodes in three overlapping chunks, so
            # the tests cross chunk seams.
            decode_megapixel_frames=0.1,
            local=True,
        ),
    ]
}
VIDEO_PRESETS["ltx-video-twin"] = replace(
    VIDEO_PRESETS["ltx-video"], name="ltx-video-twin", twin_of="ltx-video", checkpoint=None, checkpoint_file="",
    weights=BuiltWeights("models.random_weights.video_twins:build_ltx_video_twin", "ltx-video-twin"),
    summary="random-weight twin of ltx-video: real size and speed, noise clips; for benchmarks (16 GB on disk)",
)

PRESETS: dict[Kind, dict] = {"image": IMAGE_PRESETS, "music": MUSIC_PRESETS, "video": VIDEO_PRESETS}

# Defaults: a laptop runs the small models, Modal GPUs the better ones. No video model is small:
# ltx-video is the fastest there is, on a laptop too (minutes per clip).
LOCAL_DEFAULTS: dict[Kind, str] = {"image": "sd-turbo", "music": "musicgen-small", "video": "ltx-video"}
MODAL_DEFAULTS: dict[Kind, str] = {"image": "sdxl-turbo", "music": "musicgen-small", "video": "ltx-video"}


def choose_defaults(name: str | None, defaults: dict[Kind, str]) -> dict[Kind, str]:
    """The preset each modality uses when a request names none.

    `name` (from --preset or ATELIER_PRESET) picks that preset for every modality that has it,
    or has it with the modality's name after it, so `tiny` switches image and music to their
    `tiny` models and video to `tiny-video`.
    """
    if name is None:
        return dict(defaults)
    chosen = {kind: next((n for n in (name, f"{name}-{kind}") if n in PRESETS[kind]), None) for kind in PRESETS}
    if not any(chosen.values()):
        known = sorted(set().union(*PRESETS.values()))
        raise RequestError(f"Unknown preset '{name}'. Known presets: {', '.join(known)}.")
    return {kind: chosen[kind] or defaults[kind] for kind in PRESETS}


# The Modal class that serves each music engine: its image carries that engine's libraries.
# app.py defines the classes; hybrid mode looks them up by these names in a deployed app.
MUSIC_CLASS_BY_ENGINE = {"transformers": "MusicModel", "audiocraft": "AudiocraftMusicModel"}


def music_class_name(preset: str) -> str:
    return MUSIC_CLASS_BY_ENGINE[get_preset("music", preset).engine]


# The Modal class that serves each image GPU (app.py); hybrid mode looks them up by these names.
IMAGE_CLASS_BY_GPU = {"L40S": "ImageModel", "H100": "LargeImageModel"}


def image_class_name(preset: str) -> str:
    return IMAGE_CLASS_BY_GPU[get_preset("image", preset).gpu]


# The Modal class that serves each video GPU (app.py), as for images.
VIDEO_CLASS_BY_GPU = {"L40S": "VideoModel", "H100": "LargeVideoModel"}


def video_class_name(preset: str) -> str:
    return VIDEO_CLASS_BY_GPU[get_preset("video", preset).gpu]


def all_weights(preset: ImagePreset | MusicPreset | VideoPreset) -> list[Weights]:
    """Every set of weights a preset may load: its model's, its checkpoint's, then its decoders'."""
    extra = [getattr(preset, "checkpoint", None), getattr(preset, "diffusion_decoder", None), preset.speed.fast_decoder]
    return [preset.weights, *(w for w in extra if w is not None)]


def presets_named(names: str) -> list[ImagePreset | MusicPreset | VideoPreset]:
    """The presets a comma-separated list names, of every kind that has the name (`tiny` is an
    image and a music preset); `all` means every preset whose weights come from the hub, the
    tiny ones and the twins being built wherever they run. An unknown name is a RequestError."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if wanted == ["all"]:
        return [p for table in PRESETS.values() for p in table.values() if isinstance(p.weights, HubWeights)]
    unknown = [name for name in wanted if not any(name in table for table in PRESETS.values())]
    if unknown or not wanted:
        known = ", ".join(sorted(set().union(*PRESETS.values())))
        raise RequestError(f"Unknown preset {', '.join(map(repr, unknown)) or '(none named)'}: name presets "
                           f"separated by commas, or `all`. Known presets: {known}.")
    return [table[name] for name in wanted for table in PRESETS.values() if name in table]


def get_preset(kind: Kind, name: str) -> ImagePreset | MusicPreset | VideoPreset:
    try:
        return PRESETS[kind][name]
    except KeyError:
        raise RequestError(f"Unknown {kind} preset '{name}'. Choose one of: {', '.join(PRESETS[kind])}.") from None
