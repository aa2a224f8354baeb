"""The Modal app, checked as far as it can be without Modal: it imports offline, its
functions get the configuration the design requires, and its images' pins resolve.

The configuration is read by recording what app.py hands to Modal's public decorators
(App.function, App.cls, modal.concurrent, modal.enter) during a fresh import, with the doctor's
recorder (ui/doctor.py; tests/test_ui/doctor.py runs the doctor's own checks)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import modal
import pytest

from ui.doctor import recording

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "diffusers", "transformers", "audiocraft")


@pytest.fixture(scope="module")
def recorded():
    """Import app.py afresh with Modal's decorators wrapped to record their arguments."""
    saved = {name: mod for name, mod in sys.modules.items() if name == "app" or name.startswith("models.")}
    for name in saved:
        del sys.modules[name]
    try:
        with recording() as calls:
            module = importlib.import_module("app")
    finally:
        # Put back exactly the modules other tests hold: a second copy of models.common.weights
        # would make its WeightsUnavailable a different class from the one they catch.
        for name in [n for n in sys.modules if n == "app" or n.startswith("models.")]:
            del sys.modules[name]
        sys.modules.update(saved)
    return module, calls


def by_name(calls, kind, name):
    return next(kwargs for qualname, kwargs, _ in calls[kind] if qualname.split(".")[-1] == name)


def test_web_function_is_one_container_serving_many_visitors(recorded):
    app, calls = recorded
    web = by_name(calls, "function", "web")
    assert web["max_containers"] == 1  # Gradio's sessions are sticky to one process
    assert web["image"] is app.web_image
    assert by_name(calls, "concurrent", "web")["max_inputs"] >= 100
    assert app.RESULTS_DIR in web["volumes"]


def test_image_classes_take_as_many_inputs_at_once_as_their_presets_batch(recorded):
    app, calls = recorded
    for cls, gpu in (("ImageModel", "L40S"), ("LargeImageModel", "H100")):
        image = by_name(calls, "concurrent", cls)  # several visitors' requests, batched inside (models/common/batching.py)
        assert by_name(calls, "cls", cls)["gpu"] == gpu
        assert image["max_inputs"] == max(p.max_batch for p in app.IMAGE_PRESETS.values() if p.gpu == gpu) >= 2
    concurrent_classes = {qualname for qualname, _, _ in calls["concurrent"]}
    assert "MusicModel" not in concurrent_classes  # music is not batched: one clip per container at a time


def test_web_image_has_no_model_libraries(recorded):
    app, _ = recorded
    names = {p.split("==")[0] for p in app.WEB_PACKAGES}
    assert not names & set(HEAVY)


GPU_CLASSES = ("ImageModel", "LargeImageModel", "MusicModel", "VideoModel", "LargeVideoModel")


def test_gpu_classes_have_gpus_weights_volume_and_snapshots(recorded):
    app, calls = recorded
    for name in GPU_CLASSES:
        options = by_name(calls, "cls", name)
        assert options["gpu"], name
        assert options["image"] is not app.web_image
        assert app.CACHE_DIR in options["volumes"]
        assert options["enable_memory_snapshot"] is True
        assert options["scaledown_window"] > 0 and options["timeout"] > 0
        assert options["max_containers"] >= 1


def test_gpu_snapshots_where_the_model_lives_in_the_container(recorded):
    app, calls = recorded
    for name in GPU_CLASSES:
        assert by_name(calls, "cls", name)["experimental_options"] == {"enable_gpu_snapshot": True}, name
    # audiocraft's torch 2.1 and xformers have not been run under GPU snapshots: CPU ones only (app.py)
    assert "experimental_options" not in by_name(calls, "cls", "AudiocraftMusicModel")


def test_enter_hooks_are_split_for_memory_snapshots(recorded):
    app, calls = recorded
    snaps = {qualname: kwargs.get("snap", False) for qualname, kwargs, _ in calls["enter"]}
    for cls in (app.ImageGenerator, app.MusicGenerator, app.VideoGenerator):
        owners = {base.__name__ for base in cls.__mro__}
        mine = {q: s for q, s in snaps.items() if q.split(".")[0] in owners}
        assert set(mine.values()) == {True, False}, (cls.__name__, mine)


def test_every_image_preset_routes_to_a_class_on_its_gpu(recorded):
    from models.presets import image_class_name

    app, calls = recorded
    for name, preset in app.IMAGE_PRESETS.items():
        cls = image_class_name(name)
        assert isinstance(getattr(app, cls), modal.Cls) and by_name(calls, "cls", cls)["gpu"] == preset.gpu, name
    assert image_class_name("sd3.5-large-turbo") == "LargeImageModel" and image_class_name("tiny") == "ImageModel"


def test_every_video_preset_fits_its_gpu_with_its_longest_largest_clip():
    """ui/doctor.py's arithmetic (weights in bf16, one part of the longest clip at the largest size
    decoded, the denoiser's allowance, the CUDA context): it fits, and decoded whole it would not."""
    from models.presets import VIDEO_PRESETS
    from ui.doctor import GPU_MEMORY_GB, memory_needed_gb

    for name in ("ltx-video", "mochi-1"):
        preset = VIDEO_PRESETS[name]
        assert memory_needed_gb(preset) <= GPU_MEMORY_GB[preset.gpu], (name, round(memory_needed_gb(preset), 1))
        assert memory_needed_gb(preset, decode_whole=True) > GPU_MEMORY_GB[preset.gpu], name
    assert VIDEO_PRESETS["ltx-video"].gpu == "L40S" and VIDEO_PRESETS["mochi-1"].gpu == "H100"


def test_every_video_preset_routes_to_a_class_on_its_gpu_that_makes_one_clip_at_a_time(recorded):
    from models.presets import VIDEO_PRESETS, video_class_name

    app, calls = recorded
    for name, preset in VIDEO_PRESETS.items():
        cls = video_class_name(name)
        assert isinstance(getattr(app, cls), modal.Cls) and by_name(calls, "cls", cls)["gpu"] == preset.gpu, name
    concurrent_classes = {qualname for qualname, _, _ in calls["concurrent"]}
    assert not {"VideoModel", "LargeVideoModel"} & concurrent_classes
    image_pool = by_name(calls, "cls", "ImageModel")["max_containers"]
    assert 1 <= by_name(calls, "cls", "VideoModel")["max_containers"] < image_pool  # a pool of its own


def test_weights_download_fetches_the_video_presets_with_their_checkpoints(recorded, monkeypatch):
    """download_weights' own body, offline: which weights it asks for (a stand-in records them)."""
    from types import SimpleNamespace

    from models.presets import VIDEO_PRESETS

    app, calls = recorded
    # The module download_weights imports from (sys.modules): `recorded` re-imported models/, so the
    # package attributes may lead to the copy it made.
    weights_module = importlib.import_module("models.common.weights")
    fetched = []
    monkeypatch.setattr(weights_module, "ensure_weights", lambda w: fetched.append(w.describe()) or "/cache")
    monkeypatch.setattr(app, "weights_volume", SimpleNamespace(commit=lambda: None))
    target = next(t for qualname, _, t in calls["function"] if qualname == "download_weights")
    download = target._get_raw_f() if hasattr(target, "_get_raw_f") else target
    download()  # the default: the Modal defaults, ltx-video among them
    ltx = VIDEO_PRESETS["ltx-video"]
    assert ltx.weights.describe() in fetched and ltx.checkpoint.describe() in fetched
    fetched.clear()
    download(presets="mochi-1")
    assert fetched == [VIDEO_PRESETS["mochi-1"].weights.describe()]


def test_weights_download_function_uses_the_volume(recorded):
    app, calls = recorded
    options = by_name(calls, "function", "download_weights")
    assert app.CACHE_DIR in options["volumes"]


def test_the_web_container_never_imports_model_libraries():
    """Build the whole web app in a process where torch & co. cannot be imported at all."""
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError(f"{{name}} is not in the web image")
sys.meta_path.insert(0, Block())
import app
from models.presets import MODAL_DEFAULTS
from ui.generation import ModalBackend
from ui.web import create_app
create_app(ModalBackend({{"image": app.ImageModel, "music": app.MusicModel, "video": app.VideoModel}}, MODAL_DEFAULTS))
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize("image", ["MODEL_PACKAGES", "WEB_PACKAGES", "TRAINER_PACKAGES"])
def test_image_pins_resolve_together(recorded, tmp_path, image):
    """pip's resolver, against the package registry, in dry-run mode (this is Linux, CPython 3.11, as the images)."""
    app, _ = recorded
    packages = getattr(app, image)
    report = tmp_path / "report.json"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
         "--quiet", "--report", str(report), *packages],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    resolved = {_canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    for spec in packages:
        name, version = spec.split("==")
        assert resolved[_canonical(name)].split("+")[0] == version


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_every_music_preset_routes_to_a_class_the_app_defines():
    import app
    from models.presets import MUSIC_PRESETS, music_class_name

    for preset in MUSIC_PRESETS:
        assert isinstance(getattr(app, music_class_name(preset)), modal.Cls), preset


def test_hybrid_without_a_modal_token_says_what_to_do(monkeypatch, tmp_path):
    """No token, no modal.com: the first call fails at once with a sentence, not a traceback."""
    import asyncio

    from models.presets import MODAL_DEFAULTS
    from models.requests import ImageRequest
    from ui.errors import ModelUnavailable
    from ui.generation import ModalBackend

    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    from ui.generation import remote

    # Hybrid points the process's LoRA library at the deployed app: undone after. (remote.py's own
    # reference: `recorded` above re-imports models/, so `from models.image import loras` may be a copy.)
    monkeypatch.setattr(remote.loras, "_remote_listing", None)
    backend = ModalBackend.from_deployed("atelier", MODAL_DEFAULTS)

    async def first_call():
        return [e async for e in backend.generate(backend.resolve(ImageRequest(prompt="fox")))]

    with pytest.raises(ModelUnavailable, match="no valid token. Run `modal token new`"):
        asyncio.run(asyncio.wait_for(first_call(), timeout=60))


def test_the_web_function_keeps_the_index_on_local_disk_and_commits_the_volume_in_batches(recorded, monkeypatch, tmp_path):
    """The web function's own body, run offline: the index's working copy on local disk, the
    Volume (a stand-in that counts commits) receiving one snapshot and commit at shutdown."""
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    app, calls = recorded
    commits = []
    monkeypatch.setattr(app, "results_volume", SimpleNamespace(commit=lambda: commits.append(1)))
    monkeypatch.setattr(app, "LOCAL_INDEX", tmp_path / "container" / "index.db")
    monkeypatch.setenv("ATELIER_RESULTS", str(tmp_path / "volume"))
    monkeypatch.setenv("ATELIER_RESULTS_SYNC_INTERVAL", "600")  # nothing before shutdown
    target = next(t for qualname, _, t in calls["function"] if qualname == "web")
    web = target._get_raw_f() if hasattr(target, "_get_raw_f") else target  # as written, without Modal around it
    asgi = web()
    with TestClient(asgi) as client:
        assert client.get("/api/health").json()["results"] == 0
        asgi.state.store.save({"files": [{"name": "image-0.png", "mime": "image/png", "data": b"png"}],
                               "record": {"kind": "image"}})
        assert commits == [] and not (tmp_path / "volume" / "index.db").exists()
    assert commits == [1]  # shutdown: one snapshot, one commit
    assert (tmp_path / "container" / "index.db").exists()
    assert {p.name for p in (tmp_path / "volume").iterdir()} == {"index.db", "media"}


def test_add_lora_writes_the_library_on_the_weights_volume_the_web_container_reads(recorded):
    app, calls = recorded
    options = by_name(calls, "function", "add_lora")
    assert options["volumes"] == {app.CACHE_DIR: app.weights_volume}
    assert options["image"] is app.model_image  # it checks shapes with torch and diffusers
    assert by_name(calls, "function", "web")["volumes"][app.CACHE_DIR] is app.weights_volume
    listing = by_name(calls, "function", "list_loras")  # what a hybrid studio reads (ui/generation/remote.py)
    assert listing["volumes"] == {app.CACHE_DIR: app.weights_volume} and listing["image"] is app.web_image


def test_the_web_container_reloads_the_volume_for_new_adapters_at_most_once_per_interval():
    from models.image.loras import throttled_reload  # what app.py hooks in before the library is read

    class Volume:
        reloads = 0

        def reload(self):
            self.reloads += 1
            raise RuntimeError("open files")  # a failed reload leaves the library as it was

    volume = Volume()
    reload = throttled_reload(volume, every_s=60)
    for _ in range(5):
        reload()
    assert volume.reloads == 1
    throttled_reload(volume, every_s=0)()
    assert volume.reloads == 2


def test_the_trainer_is_its_own_small_pool_of_h100s_writing_the_library_on_the_weights_volume(recorded):
    app, calls = recorded
    options = by_name(calls, "cls", "Trainer")
    assert options["gpu"] == "H100" and options["image"] is app.trainer_image
    assert options["volumes"] == {app.CACHE_DIR: app.weights_volume}  # where the library and checkpoints live
    assert 1 <= options["max_containers"] <= 4  # each holds an H100 for up to its timeout
    # Modal's LoRA examples' 30 minutes; the web container, which drives it as a job, outlives it.
    assert options["timeout"] == app.TRAINER_TIMEOUT_S >= 30 * 60
    assert app.WEB_SCALEDOWN_S >= options["startup_timeout"] + options["timeout"]
    assert "retries" not in options  # the same request again resumes from the last checkpoint instead
    assert "Trainer" not in {qualname for qualname, _, _ in calls["concurrent"]}  # one training per container
    assert "bitsandbytes" in {spec.split("==")[0] for spec in app.TRAINER_PACKAGES}
    assert set(app.MODEL_PACKAGES) <= set(app.TRAINER_PACKAGES)  # the same pins as the model classes
