"""Atelier on Modal: a web studio on one CPU container, models on autoscaled GPUs.

    modal deploy app.py      # deploy; prints the studio's URL
    modal serve app.py       # a temporary deployment that reloads as you edit
    modal run app.py::download_weights --presets sdxl-turbo,musicgen-small   # or --presets all
    modal run app.py::add_lora --source owner/repo --preset sdxl-turbo   # a LoRA adapter into the library
    modal run app.py --prompt "a watercolor fox" --kind image
    modal run app.py --prompt "waves at dusk" --kind video --duration 5
    atelier doctor           # what `modal deploy` would create, checked offline (ui/doctor.py)

This file only binds code to infrastructure: images, volumes, GPUs, scaling. What the
model classes do lives in models/, what the web container serves lives in ui/. Locally
(`atelier serve`) the very same classes run in-process through `.local()`.
"""


import os
import tomllib
from pathlib import Path

import modal

from models.common.cancel import flags_name, use_flags
from models.common.deploy import DEFAULT_APP_NAME, deploy_choices, volume_name
from models.image.generator import ImageGenerator
from models.music.generator import MusicGenerator
from models.presets import IMAGE_PRESETS, MODAL_DEFAULTS, image_class_name, music_class_name, video_class_name
from models.training.trainer import TrainingGenerator
from models.video.generator import VideoGenerator

# --- What a deploy chooses -------------------------------------------------------------
# The app's name and the Secrets to attach come from the deploying shell. Modal imports this file
# again in every container with only its image's environment, and refuses to start one whose
# function has other Modal objects than the deploy sent ("Function has N dependencies but container
# got M object ids", modal/_container_entrypoint.py). So each choice is written into every image's
# environment too (`**DEPLOY` below): the container's import defines the same objects (rather than
# fixed Secret names, which every deploy would need). Cost: a new Secret name is a new image layer.
# A Secret must not hold these settings itself: its variables reach the container after the image's.
# The names are checked against Modal's rule first (models/common/deploy.py).
DEPLOY = deploy_choices(os.environ)
APP_NAME = DEPLOY.get("ATELIER_APP_NAME", DEFAULT_APP_NAME)
app = modal.App(APP_NAME)

# --- Images ----------------------------------------------------------------------------
# Every pin lives in pyproject.toml, one group per image. The file travels with every image
# (PROJECT_FILE below), so a container's import of this file reads the pins the deploy read.

ROOT = Path(__file__).parent
PROJECT_FILE = "pyproject.toml"
PINS = tomllib.loads((ROOT / PROJECT_FILE).read_text())["project"]["optional-dependencies"]
PYTHON_VERSION = AUDIOCRAFT_PYTHON_VERSION = "3.11"  # audiocraft's: see its group in pyproject.toml
MODEL_PACKAGES, WEB_PACKAGES, AUDIOCRAFT_PACKAGES = PINS["model"], PINS["web"], PINS["audiocraft"]
TRAINER_PACKAGES = [*MODEL_PACKAGES, *PINS["trainer"]]
# Where the registry has no av 11.0.0 wheel for the image's Python, pip builds it from source
# against Debian's FFmpeg 5.1 (checked: it builds and imports).
AUDIOCRAFT_APT_PACKAGES = [
    "gcc", "pkg-config", "libavformat-dev", "libavcodec-dev", "libavdevice-dev", "libavutil-dev",
    "libavfilter-dev", "libswscale-dev", "libswresample-dev",
]

CACHE_DIR = Path("/cache")  # the weights Volume: Hugging Face cache plus built (tiny) weights
RESULTS_DIR = Path("/results")
LOCAL_INDEX = Path("/tmp/atelier/index.db")  # the web container's working copy of the result index

# Each image's environment: all a container's import of this file sees (with the deploy's choices).
GPU_ENV = {
    "HF_HUB_CACHE": str(CACHE_DIR / "hf"),
    "ATELIER_HOME": str(CACHE_DIR / "atelier"),
    "ATELIER_DEVICE": "cuda",  # see models/common/device.py: snapshots load before a GPU is attached
    # Weights come from the Volume (`download_weights`): a container missing them stops at once saying
    # so (models/common/weights.py), not download 28-34 GB in its startup hook, racing its siblings.
    "ATELIER_FETCH_WEIGHTS": "0",
}
MODEL_ENV = {
    **GPU_ENV,
    "ATELIER_GPU_SNAPSHOT": "1",  # these classes take GPU snapshots (GPU_SNAPSHOT below)
    # torch.compile under a snapshot fails for some models unless inductor compiles in one thread
    # (Modal's memory-snapshot guide): set for every class whose presets may turn compile on.
    "TORCHINDUCTOR_COMPILE_THREADS": "1",
    **DEPLOY,
}
AUDIOCRAFT_ENV = {
    **GPU_ENV,  # its HF_HUB_CACHE also holds EnCodec 32 kHz and T5, which audiocraft fetches itself
    "TORCH_HOME": str(CACHE_DIR / "torch"),  # Demucs (melody presets), fetched through torch.hub
    **DEPLOY,
}
# ATELIER_HOME on the weights Volume: the web container reads the LoRA library there.
WEB_ENV = {
    "ATELIER_RESULTS": str(RESULTS_DIR),
    "ATELIER_HOME": str(CACHE_DIR / "atelier"),
    # Modal ends a plain HTTP request to an asgi_app at 150 s with a 303 no client expects: a synchronous
    # generation still running near it is answered with 202 and its job (ui/api/generate.py).
    "ATELIER_REQUEST_LIMIT": "150",
    # A deployment's URL is public and its GPU time paid for: each visitor gets a GPU budget, unless
    # the API Secret (whose variables come after the image's) sets another (0 turns it off).
    "ATELIER_VISITOR_GPU_SECONDS": "300",
    **DEPLOY,
}

GPU_SOURCES, WEB_SOURCES = ("models",), ("models", "ui")  # the local packages each image ships


def with_local_code(image: modal.Image, sources: tuple[str, ...]) -> modal.Image:
    """The image with the local code its containers import: the packages, and pyproject.toml, whose pins
    this file reads at import (so every container reads the deploy's)."""
    return image.add_local_python_source(*sources).add_local_file(ROOT / PROJECT_FILE, f"/root/{PROJECT_FILE}")


model_image = with_local_code(
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install(*MODEL_PACKAGES)
    .env(MODEL_ENV),
    GPU_SOURCES,
)

# The trainer's: the model image's packages plus bitsandbytes (no GPU snapshots).
TRAINER_ENV = {**GPU_ENV, **DEPLOY}
trainer_image = with_local_code(
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install(*TRAINER_PACKAGES)
    .env(TRAINER_ENV),
    GPU_SOURCES,
)

audiocraft_image = with_local_code(
    modal.Image.debian_slim(python_version=AUDIOCRAFT_PYTHON_VERSION)
    .apt_install(*AUDIOCRAFT_APT_PACKAGES)
    .pip_install(*AUDIOCRAFT_PACKAGES)  # pip, as `make audiocraft-env` resolves them
    .env(AUDIOCRAFT_ENV),
    GPU_SOURCES,
)

web_image = with_local_code(
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install(*WEB_PACKAGES)
    .env(WEB_ENV)
    .add_local_dir(ROOT / "assets", "/root/assets"),
    WEB_SOURCES,
)

# What a container of each image has (ui/doctor.py imports this file again with just that, as Modal does).
IMAGES = {
    "model": dict(image=model_image, python=PYTHON_VERSION, env=MODEL_ENV, sources=GPU_SOURCES),
    "trainer": dict(image=trainer_image, python=PYTHON_VERSION, env=TRAINER_ENV, sources=GPU_SOURCES),
    "audiocraft": dict(image=audiocraft_image, python=AUDIOCRAFT_PYTHON_VERSION, env=AUDIOCRAFT_ENV, sources=GPU_SOURCES),
    "web": dict(image=web_image, python=PYTHON_VERSION, env=WEB_ENV, sources=WEB_SOURCES),
}

# Each deployment has its own Volumes (volume_name): a second one never writes the first's index.db.
weights_volume = modal.Volume.from_name(volume_name(APP_NAME, "weights"), create_if_missing=True)
results_volume = modal.Volume.from_name(volume_name(APP_NAME, "results"), create_if_missing=True)

# Gated presets (flux-schnell, sd3.5-large-turbo) need the Secret holding HF_TOKEN, named by ATELIER_HF_SECRET.
hf_secrets = [modal.Secret.from_name(name)] if (name := DEPLOY.get("ATELIER_HF_SECRET")) else []
# API tokens, the webhook secret and other ATELIER_* settings (ui/settings.py) for the web
# container: name the Secret holding them with ATELIER_API_SECRET; without it the API is open.
api_secrets = [modal.Secret.from_name(name)] if (name := DEPLOY.get("ATELIER_API_SECRET")) else []
# Stop flags (models/common/cancel.py): written by the web container, read by GPU containers. No function's dependency.
stop_flags = modal.Dict.from_name(flags_name(APP_NAME), create_if_missing=True)

# --- GPU classes -----------------------------------------------------------------------
# Each preset gets its own pool of containers (`ImageModel(preset=...)`), each container
# loads its weights once (`@modal.enter`), and memory snapshots make cold starts cheap.

GPU_STARTUP_TIMEOUT = 10 * 60  # weights from the Volume onto the GPU, compiled and warmed up; never a download
IMAGE_TIMEOUT, MUSIC_TIMEOUT = 10 * 60, 30 * 60  # long clips take many windows
# A warm GPU is kept five minutes after the last request; max_containers is per preset (a parameter
# value is a pool of its own).
GPU_CLASS_OPTIONS = dict(volumes={CACHE_DIR: weights_volume}, secrets=hf_secrets, enable_memory_snapshot=True,
                         startup_timeout=GPU_STARTUP_TIMEOUT, scaledown_window=5 * 60, max_containers=10)
# GPU memory snapshots (a Modal alpha feature): the snapshot is taken with the GPU attached and the
# weights on it, compiled and warmed up (models/common/device.py), so a new container skips all of that.
# Not for the audiocraft class: its torch 2.1 and xformers have not been run under GPU snapshots; with
# CPU ones it builds its model on the GPU after the restore (models/music/engines/audiocraft_engine.py).
GPU_SNAPSHOT = {"experimental_options": {"enable_gpu_snapshot": True}}


# Several visitors' requests at once in one container: its batcher (models/common/batching.py) runs the
# compatible ones as one pipeline call, up to the preset's max_batch images (not @modal.batched: its methods
# can't stream progress). Beyond max_inputs, or past the autoscaler's target, Modal starts another container.
def image_max_inputs(gpu: str) -> int:
    return max(p.max_batch for p in IMAGE_PRESETS.values() if p.gpu == gpu)


@app.cls(gpu="L40S", image=model_image, timeout=IMAGE_TIMEOUT, **GPU_CLASS_OPTIONS, **GPU_SNAPSHOT)
@modal.concurrent(max_inputs=image_max_inputs("L40S"))
class ImageModel(ImageGenerator):
    preset: str = modal.parameter(default=MODAL_DEFAULTS["image"])


@app.cls(gpu="H100", image=model_image, timeout=IMAGE_TIMEOUT, **GPU_CLASS_OPTIONS, **GPU_SNAPSHOT)
@modal.concurrent(max_inputs=image_max_inputs("H100"))
class LargeImageModel(ImageGenerator):
    """The same class on an 80 GB GPU: the presets whose weights and batch outgrow an L40S
    (flux-schnell, sd3.5-large-turbo: 28–34 GB of weights in bf16)."""

    preset: str = modal.parameter(default="sd3.5-large-turbo")


def image_model(preset: str = MODAL_DEFAULTS["image"]):
    """The image GPU class with memory for the preset, for that preset (as music_model)."""
    classes = {"ImageModel": ImageModel, "LargeImageModel": LargeImageModel}
    return classes[image_class_name(preset)](preset=preset)


@app.cls(gpu="L40S", image=model_image, timeout=MUSIC_TIMEOUT, **GPU_CLASS_OPTIONS, **GPU_SNAPSHOT)
class MusicModel(MusicGenerator):
    preset: str = modal.parameter(default=MODAL_DEFAULTS["music"])


@app.cls(gpu="L40S", image=audiocraft_image, timeout=MUSIC_TIMEOUT, **GPU_CLASS_OPTIONS)
class AudiocraftMusicModel(MusicGenerator):
    """The same class on audiocraft's image: the presets whose engine is audiocraft."""

    preset: str = modal.parameter(default="audiocraft-musicgen-medium")


def music_model(preset: str = MODAL_DEFAULTS["music"]):
    """The music GPU class whose image has the preset's engine, for that preset.
    The backends call it as they call a class: `music_model(preset=...)`."""
    classes = {"MusicModel": MusicModel, "AudiocraftMusicModel": AudiocraftMusicModel}
    return classes[music_class_name(preset)](preset=preset)


# Video: one clip at a time per container (no @modal.concurrent: a clip keeps a GPU busy on its own), in
# pools of their own, smaller than the image pool's. ui/doctor.py does their GPU memory arithmetic.
VIDEO_TIMEOUT, LARGE_VIDEO_TIMEOUT = 20 * 60, 30 * 60
VIDEO_CLASS_OPTIONS = {**GPU_CLASS_OPTIONS, "max_containers": 4, "image": model_image, **GPU_SNAPSHOT}


@app.cls(gpu="L40S", timeout=VIDEO_TIMEOUT, **VIDEO_CLASS_OPTIONS)
class VideoModel(VideoGenerator):
    preset: str = modal.parameter(default=MODAL_DEFAULTS["video"])


@app.cls(gpu="H100", timeout=LARGE_VIDEO_TIMEOUT, **VIDEO_CLASS_OPTIONS)
class LargeVideoModel(VideoGenerator):
    preset: str = modal.parameter(default="mochi-1")  # minutes per clip


def video_model(preset: str = MODAL_DEFAULTS["video"]):
    """The video GPU class with memory for the preset, for that preset (as image_model)."""
    return {"VideoModel": VideoModel, "LargeVideoModel": LargeVideoModel}[video_class_name(preset)](preset=preset)


# What the backends call for each kind, as a class: `MODEL_CLASSES["video"](preset=...)`.
MODEL_CLASSES = {"image": image_model, "music": music_model, "video": video_model}


# --- Training LoRA adapters -----------------------------------------------------------
# A training holds its GPU for minutes: its own small pool, one training per container, on an H100
# (FLUX's 12 B transformer in bf16 plus activations under gradient checkpointing). Timeout: Modal's LoRA
# examples' 30 minutes, so the web container, which drives a training as any job, outlives it; a longer one
# resumes from its last checkpoint when the same request comes again. Modal's FLUX example: "about ten
# minutes" for 250 steps at batch 3 on an A100-80GB; the longest default (style, prior preservation) is
# ~2,000 picture-steps, ≈ 27 min at that pace. Not a measurement: no GPU was at hand.
TRAINER_TIMEOUT_S = 30 * 60
TRAINER_MAX_CONTAINERS = 2  # trainings at once, studio-wide: each holds an H100 for up to the timeout


@app.cls(gpu="H100", image=trainer_image, volumes={CACHE_DIR: weights_volume}, secrets=hf_secrets,
         startup_timeout=GPU_STARTUP_TIMEOUT, timeout=TRAINER_TIMEOUT_S, max_containers=TRAINER_MAX_CONTAINERS,
         scaledown_window=2 * 60)
class Trainer(TrainingGenerator):
    """Trains a LoRA adapter for one preset's family (models/training/); the adapter lands in the
    library on the weights Volume, which every image container reloads when a request names it."""

    preset: str = modal.parameter(default=MODAL_DEFAULTS["image"])


@app.function(image=model_image, volumes={CACHE_DIR: weights_volume}, secrets=hf_secrets, timeout=4 * 60 * 60)
def download_weights(presets: str = ",".join(MODAL_DEFAULTS.values()), guides: bool = True) -> None:
    """Fill the weights Volume with the presets named (`all`: every preset from the hub); GPU containers
    don't download. With each image preset come its guides (ControlNets, IP-Adapter, annotators) unless
    --no-guides. Each preset is committed when done, so a run cut short keeps what it finished; one
    that fails (a gated model without ATELIER_HF_SECRET) is named, and the others still filled."""
    from models.common.errors import WeightsUnavailable
    from models.common.weights import ensure_weights
    from models.image.guides import guide_weights
    from models.image.safety import checker_weights
    from models.presets import ImagePreset, all_weights, presets_named

    failed = []
    for preset in presets_named(presets):
        image = isinstance(preset, ImagePreset)  # with its guides, and the safety checker
        extra = (guide_weights(preset.name) if guides else []) + [checker_weights(preset)] if image else []
        try:
            for weights in all_weights(preset) + extra:
                print(f"{preset.name}: {ensure_weights(weights)}")
        except WeightsUnavailable as e:
            failed.append(f"{preset.name}: {e}")
            print(failed[-1])
        weights_volume.commit()
    if failed:
        raise WeightsUnavailable(f"Not filled: {' '.join(failed)}")


@app.function(image=model_image, volumes={CACHE_DIR: weights_volume}, secrets=hf_secrets, timeout=30 * 60)
def add_lora(source: str, preset: str, id: str = "", weight_name: str = "") -> None:
    """Add a LoRA adapter (a hub repo id, or a file already on the Volume) to the library on the
    weights Volume, after the same checks as `atelier loras add`. The web container sees it
    within LORA_RELOAD_S; GPU containers reload the Volume (throttled) when a request names it."""
    from models.image import loras

    info = loras.add(source, preset, id, weight_name or None)
    weights_volume.commit()
    print(f"added {info.describe()}")


@app.function(image=web_image, volumes={CACHE_DIR: weights_volume})
def list_loras() -> list[dict]:
    """The LoRA library on the weights Volume, for a studio in hybrid mode (ui/generation/remote.py)."""
    from dataclasses import asdict

    from models.image import loras

    return [asdict(info) for info in loras.list_adapters()]


LORA_RELOAD_S = 30.0  # how often a container looks for adapters added since (a Volume reload)


# In Modal's containers the weights Volume is as it was when the container started: the LoRA library reloads
# it (throttled) before reading, so an adapter committed since is listed and loaded without a restart.
if not modal.is_local():
    from models.image import loras as _loras
    from models.training import cancel as _cancel
    from models.training import run as _runs

    _loras.set_before_read(_loras.throttled_reload(weights_volume, LORA_RELOAD_S))
    # Stop flags by call id; a training's cancel flags by run id (models/training/cancel.py): one Dict.
    use_flags(stop_flags)
    _cancel.use_store(stop_flags)
    # A training's checkpoints, cached encodings and adapter outlive its container: committed once written.
    _runs.set_after_write(weights_volume.commit)


# --- The web container -----------------------------------------------------------------
# Exactly one (Gradio's sessions are sticky to a process), serving many visitors at once:
# it holds no model and only awaits the GPU classes.

# Async jobs run as tasks here, not as Modal inputs, so nothing holds the container up once a job's
# last request has returned: idle, it stays up for the longest job (a GPU container's start plus its
# timeout) and its webhook (ui/doctor.py checks it). Weighed: min_containers=1, paid around the clock.
WEBHOOK_DELIVERY_S = 2 * 60
WEB_SCALEDOWN_S = GPU_STARTUP_TIMEOUT + max(IMAGE_TIMEOUT, MUSIC_TIMEOUT, LARGE_VIDEO_TIMEOUT, TRAINER_TIMEOUT_S) + WEBHOOK_DELIVERY_S


@app.function(
    image=web_image,
    # The weights Volume for the LoRA library only (models/image/loras.py reads info.json files, no weights).
    volumes={RESULTS_DIR: results_volume, CACHE_DIR: weights_volume},
    secrets=api_secrets,
    max_containers=1,
    timeout=60 * 60,
    scaledown_window=WEB_SCALEDOWN_S,
)
# Each visitor holds a connection open while their job runs; the studio's own queue limits
# (ui/studio/page.py) then answer overload with a message instead of Modal queueing requests.
@modal.concurrent(max_inputs=1000)
@modal.asgi_app()
def web():
    # ui/ is imported here: the GPU containers import this file too, and their images ship models/ only.
    from ui.generation import ModalBackend
    from ui.store import ResultStore
    from ui.web import create_app

    backend = ModalBackend(MODEL_CLASSES, defaults=MODAL_DEFAULTS, where="modal", flags=stop_flags)
    # The index's working copy on this container's local disk, restored from the Volume's
    # index.db at start, snapshotted back and committed at most once per
    # ATELIER_RESULTS_SYNC_INTERVAL seconds and at shutdown: SQLite on the Volume itself would
    # meet a filesystem without cross-container locks (ui/store/database.py says more).
    # Media files go straight to the Volume, written once.
    store = ResultStore(working_copy=LOCAL_INDEX, on_change=results_volume.commit)
    # At shutdown (scale-down, redeploy) the store writes its last snapshot and commits.
    return create_app(backend, store, close_store_at_shutdown=True)


# --- `modal run app.py`: generate from the command line on Modal's GPUs -----------------


@app.local_entrypoint()
def main(prompt: str, kind: str = "image", preset: str = "", seed: int = -1, duration: float = 10.0, output: str = "."):
    from ui.generation import ModalBackend, generate_and_save  # inside: see web()

    fields = {"prompt": prompt, "preset": preset or None, "seed": None if seed < 0 else seed}
    if kind in ("music", "video"):
        fields["duration"] = duration
    backend = ModalBackend(MODEL_CLASSES, defaults=MODAL_DEFAULTS, where="modal", flags=stop_flags)
    generate_and_save(backend, kind, fields, Path(output))
