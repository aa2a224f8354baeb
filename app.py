"""Atelier on Modal: a web studio on one CPU container, models on autoscaled GPUs.

    modal deploy app.py      # deploy; prints the studio's URL
    modal serve app.py       # a temporary deployment that reloads as you edit
    modal run app.py::download_weights --presets sdxl-turbo,musicgen-small
    modal run app.py::add_lora --source owner/repo --preset sdxl-turbo   # a LoRA adapter into the library
    modal run app.py --prompt "a watercolor fox" --kind image
    modal run app.py --prompt "waves at dusk" --kind video --duration 5

This file only binds code to infrastructure: images, volumes, GPUs, scaling. What the
model classes do lives in models/, what the web container serves lives in ui/. Locally
(`atelier serve`) the very same classes run in-process through `.local()`.
"""


import asyncio
import contextlib
import os
from pathlib import Path

import modal

from models.image.generator import ImageGenerator
from models.music.generator import MusicGenerator
from models.presets import IMAGE_PRESETS, MODAL_DEFAULTS, image_class_name, music_class_name, video_class_name
from models.video.generator import VideoGenerator

APP_NAME = os.environ.get("ATELIER_APP_NAME", "atelier")
app = modal.App(APP_NAME)

# --- Images ----------------------------------------------------------------------------
# Pins match pyproject.toml; tests/test_app.py checks that they do and that they resolve.

PYTHON_VERSION = "3.11"
MODEL_PACKAGES = [
    "torch==2.13.0",
    "diffusers==0.42.1",
    "transformers==5.23.0",
    "accelerate==1.15.0",
    "safetensors==0.8.0",
    "peft==0.21.2",  # LoRA adapters: diffusers' load_lora_weights goes through PEFT
    "sentencepiece==0.2.3",
    "huggingface-hub==2.4.0",
    "lameenc==1.9.0",
    "av==18.1.0",  # MP4 encoding: its wheels carry FFmpeg with libx264 (models/video/encoding.py)
    "numpy==2.4.6",
    "pillow==12.3.0",
    "pydantic==2.14.3",
]
WEB_PACKAGES = [
    "fastapi==0.165.0",
    "uvicorn==0.54.0",
    "gradio==6.31.0",
    "python-fasthtml==0.14.14",
    "httpx==0.28.1",  # webhooks (ui/generation/webhooks.py)
    "fastapi-offline==1.7.7",  # Swagger UI and ReDoc's files, served at /docs and /redoc (ui/api/install.py)
    "pydantic==2.14.3",
    "numpy==2.4.6",
    "pillow==12.3.0",
]

# audiocraft (Meta's MusicGen/AudioGen library) gets an image of its own: it declares torch
# 2.1.0, xformers < 0.0.23 and av 11.0.0, which can't live beside torch 2.13. Python 3.11: the
# registry has cp311 wheels of torch 2.1.0, torchaudio 2.1.0, torchvision 0.16 and xformers
# 0.0.22.post7, and Modal 1.7 refuses images on Python 3.10. transformers and huggingface-hub are
# pinned to audiocraft's time (transformers 5 needs a newer torch), numpy below 2 (torch 2.1
# was built against numpy 1). audiocraft's other requirements resolve from these. The same
# list builds the local venv (`make audiocraft-env`), where the tiny presets' tests run.
AUDIOCRAFT_PYTHON_VERSION = "3.11"
AUDIOCRAFT_PACKAGES = [
    "audiocraft==1.3.0",
    "torch==2.1.0",
    "torchaudio==2.1.0",
    "torchvision==0.16.0",
    "torchtext==0.16.0",
    "xformers==0.0.22.post7",
    "av==11.0.0",
    "numpy==1.26.4",
    "transformers==4.41.2",
    "huggingface-hub==0.23.4",
    "pydantic==2.14.3",
    "lameenc==1.9.0",
    "pillow==10.4.0",  # the waveform previews (models/music/waveform.py); what torchvision 0.16 brings, pinned
]
# Where the registry has no av 11.0.0 wheel for the image's Python, pip builds it from source
# against Debian's FFmpeg 5.1 (checked: it builds and imports).
AUDIOCRAFT_APT_PACKAGES = [
    "gcc", "pkg-config", "libavformat-dev", "libavcodec-dev", "libavdevice-dev", "libavutil-dev",
    "libavfilter-dev", "libswscale-dev", "libswresample-dev",
]

CACHE_DIR = Path("/cache")  # the weights Volume: Hugging Face cache plus built (tiny) weights
RESULTS_DIR = Path("/results")
LOCAL_INDEX = Path("/tmp/atelier/index.db")  # the web container's working copy of the result index

model_image = (
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install(*MODEL_PACKAGES)
    .env(
        {
            "HF_HUB_CACHE": str(CACHE_DIR / "hf"),
            "ATELIER_HOME": str(CACHE_DIR / "atelier"),
            "ATELIER_DEVICE": "cuda",  # see models/common/device.py: snapshots load before a GPU is attached
            "ATELIER_GPU_SNAPSHOT": "1",  # ...except these classes' GPU snapshots (GPU_SNAPSHOT below)
        }
    )
    .add_local_python_source("models")
)

audiocraft_image = (
    modal.Image.debian_slim(python_version=AUDIOCRAFT_PYTHON_VERSION)
    .apt_install(*AUDIOCRAFT_APT_PACKAGES)
    .pip_install(*AUDIOCRAFT_PACKAGES)  # pip, as `make audiocraft-env` resolves them
    .env(
        {
            "HF_HUB_CACHE": str(CACHE_DIR / "hf"),  # also EnCodec 32 kHz and T5, which audiocraft fetches itself
            "TORCH_HOME": str(CACHE_DIR / "torch"),  # Demucs (melody presets), fetched through torch.hub
            "ATELIER_HOME": str(CACHE_DIR / "atelier"),
            "ATELIER_DEVICE": "cuda",
        }
    )
    .add_local_python_source("models")
)

web_image = (
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .uv_pip_install(*WEB_PACKAGES)
    # ATELIER_HOME on the weights Volume: the web container reads the LoRA library there.
    .env({"ATELIER_RESULTS": str(RESULTS_DIR), "ATELIER_HOME": str(CACHE_DIR / "atelier")})
    .add_local_python_source("models", "ui")
    .add_local_dir(Path(__file__).parent / "assets", "/root/assets")
)

weights_volume = modal.Volume.from_name("atelier-weights", create_if_missing=True)
results_volume = modal.Volume.from_name("atelier-results", create_if_missing=True)

# A Hugging Face token is only needed for gated presets (flux-schnell, sd3.5-large-turbo). Name
# the Secret that holds HF_TOKEN with ATELIER_HF_SECRET at deploy time; without it, none is attached.
hf_secrets = [modal.Secret.from_name(name)] if (name := os.environ.get("ATELIER_HF_SECRET")) else []
# API tokens, the webhook secret and other ATELIER_* settings (ui/settings.py) for the web
# container: name the Secret holding them with ATELIER_API_SECRET; without it the API is open.
api_secrets = [modal.Secret.from_name(name)] if (name := os.environ.get("ATELIER_API_SECRET")) else []

# --- GPU classes -----------------------------------------------------------------------
# Each preset gets its own pool of containers (`ImageModel(preset=...)`), each container
# loads its weights once (`@modal.enter`), and memory snapshots make cold starts cheap.

GPU_CLASS_OPTIONS = dict(
    image=model_image,
    volumes={CACHE_DIR: weights_volume},
    secrets=hf_secrets,
    enable_memory_snapshot=True,
    scaledown_window=5 * 60,  # keep a warm GPU for five minutes after the last request
    max_containers=10,  # the real concurrency limit of the whole studio
)
# GPU memory snapshots (a Modal alpha feature): the snapshot is taken with the GPU attached and the
# weights on it, compiled and warmed up (models/common/device.py), so a new container skips all of that.
# Not for the audiocraft class: its model lives in a worker process (models/music/engines/).
GPU_SNAPSHOT = {"experimental_options": {"enable_gpu_snapshot": True}}


# Several visitors' requests at once in one container: its batcher (models/common/batching.py) runs the
# compatible ones as one pipeline call, up to the preset's max_batch images. Not @modal.batched:
# its methods can't stream progress (see models/common/batching.py). Beyond max_inputs, or when the
# inputs in flight pass the autoscaler's target, Modal starts another container.
def image_max_inputs(gpu: str) -> int:
    return max(p.max_batch for p in IMAGE_PRESETS.values() if p.gpu == gpu)


# GPU memory in GB, for tests/test_app.py's check that each preset's weights and batch fit.
GPU_MEMORY_GB = {"L40S": 48, "H100": 80}


@app.cls(gpu="L40S", timeout=10 * 60, **GPU_CLASS_OPTIONS, **GPU_SNAPSHOT)
@modal.concurrent(max_inputs=image_max_inputs("L40S"))
class ImageModel(ImageGenerator):
    preset: str = modal.parameter(default=MODAL_DEFAULTS["image"])


@app.cls(gpu="H100", timeout=10 * 60, **GPU_CLASS_OPTIONS, **GPU_SNAPSHOT)
@modal.concurrent(max_inputs=image_max_inputs("H100"))
class LargeImageModel(ImageGenerator):
    """The same class on an 80 GB GPU: the presets whose weights and batch outgrow an L40S
    (flux-schnell, sd3.5-large-turbo: 28–34 GB of weights in bf16)."""

    preset: str = modal.parameter(default="sd3.5-large-turbo")


def image_model(preset: str = MODAL_DEFAULTS["image"]):
    """The image GPU class with memory for the preset, for that preset (as music_model)."""
    classes = {"ImageModel": ImageModel, "LargeImageModel": LargeImageModel}
    return classes[image_class_name(preset)](preset=preset)


@app.cls(gpu="L40S", timeout=30 * 60, **GPU_CLASS_OPTIONS, **GPU_SNAPSHOT)  # long clips take many windows
class MusicModel(MusicGenerator):
    preset: str = modal.parameter(default=MODAL_DEFAULTS["music"])


@app.cls(gpu="L40S", timeout=30 * 60, **{**GPU_CLASS_OPTIONS, "image": audiocraft_image})
class AudiocraftMusicModel(MusicGenerator):
    """The same class on audiocraft's image: the presets whose engine is audiocraft."""

    preset: str = modal.parameter(default="audiocraft-musicgen-medium")


def music_model(preset: str = MODAL_DEFAULTS["music"]):
    """The music GPU class whose image has the preset's engine, for that preset.
    The backends call it as they call a class: `music_model(preset=...)`."""
    classes = {"MusicModel": MusicModel, "AudiocraftMusicModel": AudiocraftMusicModel}
    return classes[music_class_name(preset)](preset=preset)


# Video: one clip at a time per container (no @modal.concurrent: a clip keeps a GPU busy on its own),
# a pool of its own, smaller than the image pool's (a clip holds a GPU for seconds to minutes).
VIDEO_CLASS_OPTIONS = {**GPU_CLASS_OPTIONS, "max_containers": 4}


@app.cls(gpu="L40S", timeout=20 * 60, **VIDEO_CLASS_OPTIONS, **GPU_SNAPSHOT)
class VideoModel(VideoGenerator):
    """ltx-video (and presets of its size): 7.9 B parameters, 16 GB in bf16, and a decode of at most
    129 frames at once fit 48 GB (tests/test_app.py does the arithmetic)."""

    preset: str = modal.parameter(default=MODAL_DEFAULTS["video"])


@app.cls(gpu="H100", timeout=30 * 60, **VIDEO_CLASS_OPTIONS, **GPU_SNAPSHOT)
class LargeVideoModel(VideoGenerator):
    """The same class on an 80 GB GPU: mochi-1 (15.1 B parameters, 30 GB in bf16; minutes per clip)."""

    preset: str = modal.parameter(default="mochi-1")


def video_model(preset: str = MODAL_DEFAULTS["video"]):
    """The video GPU class with memory for the preset, for that preset (as image_model)."""
    classes = {"VideoModel": VideoModel, "LargeVideoModel": LargeVideoModel}
    return classes[video_class_name(preset)](preset=preset)


@app.function(image=model_image, volumes={CACHE_DIR: weights_volume}, secrets=hf_secrets, timeout=60 * 60)
def download_weights(presets: str = ",".join(MODAL_DEFAULTS.values())) -> None:
    """Fill the weights Volume, so the first visitor doesn't wait for a download."""
    from models.common.weights import ensure_weights
    from models.presets import PRESETS, all_weights

    for name in presets.split(","):
        for kind, table in PRESETS.items():
            if name in table:
                for weights in all_weights(table[name]):
                    print(f"{kind} {name}: {ensure_weights(weights)}")
    weights_volume.commit()


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


def _throttled_reload(volume, every_s: float):
    """A Volume's reload at most once per `every_s`: a listing or request check then sees
    adapters that `add_lora` committed since, without a reload on every request."""
    import threading
    import time

    lock, last = threading.Lock(), [0.0]

    def reload() -> None:
        with lock:
            if time.monotonic() - last[0] < every_s:
                return
            last[0] = time.monotonic()
        try:
            volume.reload()
        except Exception as e:  # e.g. a file open on the Volume: the library as it was is still good
            print(f"weights Volume reload skipped: {type(e).__name__}: {e}")

    return reload


# In Modal's containers, web and GPU alike, the LoRA library is read off the weights Volume as it
# was when the container started: reload it (throttled) before reading, so an adapter `add_lora`
# committed since is listed, accepted and loaded without a restart. Locally it is a plain folder.
if not modal.is_local():
    from models.image import loras as _loras

    _loras.set_before_read(_throttled_reload(weights_volume, LORA_RELOAD_S))


# --- The web container -----------------------------------------------------------------
# Exactly one (Gradio's sessions are sticky to a process), serving many visitors at once:
# it holds no model and only awaits the GPU classes.


@app.function(
    image=web_image,
    # The weights Volume for the LoRA library only (models/image/loras.py reads info.json files, no weights).
    volumes={RESULTS_DIR: results_volume, CACHE_DIR: weights_volume},
    secrets=api_secrets,
    max_containers=1,
    timeout=60 * 60,
    # Async jobs run as tasks in this container, not as Modal inputs: stay up long enough
    # after the last request for a long music job to finish and deliver its webhook.
    scaledown_window=20 * 60,
)
# Each visitor holds a connection open while their job runs; the studio's own queue limits
# (ui/studio/page.py) then answer overload with a message instead of Modal queueing requests.
@modal.concurrent(max_inputs=1000)
@modal.asgi_app()
def web():
    # ui/ is imported inside the functions that use it: this file is also imported in the GPU
    # containers, whose images ship models/ only (no ui/, no web libraries).
    from ui.generation import ModalBackend
    from ui.store import ResultStore
    from ui.web import create_app

    backend = ModalBackend({"image": image_model, "music": music_model, "video": video_model}, defaults=MODAL_DEFAULTS,
                           where="modal")
    # The index's working copy on this container's local disk, restored from the Volume's
    # index.db at start, snapshotted back and committed at most once per
    # ATELIER_RESULTS_SYNC_INTERVAL seconds and at shutdown: SQLite on the Volume itself would
    # meet a filesystem without cross-container locks (ui/store/database.py says more).
    # Media files go straight to the Volume, written once.
    store = ResultStore(working_copy=LOCAL_INDEX, on_change=results_volume.commit)
    app = create_app(backend, store)
    # At shutdown (scale-down, redeploy) write the last snapshot and commit: wrapped around
    # whatever lifespan the app has (the studio's and the API's).
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_):
        async with outer(app_) as state:
            try:
                yield state
            finally:
                await asyncio.to_thread(store.close)

    app.router.lifespan_context = lifespan
    return app


# --- `modal run app.py`: generate from the command line on Modal's GPUs -----------------


@app.local_entrypoint()
def main(prompt: str, kind: str = "image", preset: str = "", seed: int = -1, duration: float = 10.0, output: str = "."):
    from ui.generation import ModalBackend, generate_and_save  # inside: see web()

    fields = {"prompt": prompt, "preset": preset or None, "seed": None if seed < 0 else seed}
    if kind in ("music", "video"):
        fields["duration"] = duration
    backend = ModalBackend({"image": image_model, "music": music_model, "video": video_model}, defaults=MODAL_DEFAULTS,
                           where="modal")
    generate_and_save(backend, kind, fields, Path(output))
