"""The deployed app as it will really run, checked offline through `atelier doctor` (ui/doctor.py).

app.py is imported in subprocesses: once with a deploying shell's environment, once per image
with only what that image's containers have, as Modal does before it starts a container. Each
check is also shown to catch what it is for, on a description altered to break its rule."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tomllib

import pytest

import app
from models.common import deploy
from ui import doctor as app_doctor

DEPLOY_SETTINGS = deploy.DEPLOY_SETTINGS
# What the README's deploy section names: a gated-model Secret, an API Secret, a second app.
README_SETTINGS = {"ATELIER_HF_SECRET": "huggingface", "ATELIER_API_SECRET": "atelier-api",
                   "ATELIER_APP_NAME": "atelier-staging"}


def shell(**settings: str) -> dict[str, str]:
    """This test process's environment as a deploying shell, with exactly these deploy settings."""
    env = {k: v for k, v in os.environ.items() if k not in DEPLOY_SETTINGS}
    return {**env, **settings}


@pytest.fixture(scope="module")
def plain():
    return app_doctor.describe(shell())


@pytest.fixture(scope="module")
def with_settings():
    return app_doctor.describe(shell(**README_SETTINGS))


# --- 1. every Modal object defined the same way in the deploy and in each container ----------


@pytest.mark.parametrize("settings", [{}, README_SETTINGS], ids=["no-settings", "readme-settings"])
def test_every_container_imports_app_py_to_the_objects_and_options_the_deploy_sends(settings):
    deploy = app_doctor.describe(shell(**settings))
    imported = app_doctor.containers(deploy)
    assert set(imported) == set(app.IMAGES) and not any("error" in d for d in imported.values())
    for name, function in deploy["functions"].items():
        inside = imported[function["options"]["image"]]["functions"][name]
        assert (inside["deps"], inside["options"], inside["concurrency"]) == (
            function["deps"], function["options"], function["concurrency"]), name
    assert app_doctor.container_differences(deploy, imported) == []
    if settings:  # the comparison is not of two empty lists: the deploy does send the Secrets
        assert "Secret huggingface" in deploy["functions"]["ImageModel"]["deps"]
        assert "Secret atelier-api" in deploy["functions"]["web"]["deps"]


def test_a_setting_only_the_deploying_shell_has_is_caught(with_settings):
    """Today's bug, reproduced: images whose environment lacks the deploy's choices (as before
    app.py wrote them there) make containers with fewer objects, which Modal refuses."""
    before_the_fix = copy.deepcopy(with_settings)
    for image in before_the_fix["images"].values():
        image["env"] = {k: v for k, v in image["env"].items() if k not in DEPLOY_SETTINGS}
    problems = app_doctor.container_differences(with_settings, app_doctor.containers(before_the_fix))
    refused = {p.split(":")[0] for p in problems}
    assert {"ImageModel", "LargeImageModel", "MusicModel", "AudiocraftMusicModel", "web"} <= refused
    [image_model] = [p for p in problems if p.startswith("ImageModel:")]
    assert "Secret huggingface" in image_model and "Modal refuses to start" in image_model


def test_images_carry_the_deploy_settings_and_no_other_environment_read(with_settings):
    for name, image in with_settings["images"].items():
        assert {k: image["env"][k] for k in DEPLOY_SETTINGS} == README_SETTINGS, name
    source = app.__loader__.get_source("app")
    assert source.count("os.environ") == 1  # deploy_choices(os.environ): every other read goes through DEPLOY


# --- names Modal refuses: one sentence, from the doctor and from `modal deploy` itself --------


@pytest.mark.parametrize("setting, value", [
    ("ATELIER_APP_NAME", "my studio"),
    ("ATELIER_APP_NAME", "a" * 60),  # fine as an app name, but its Volumes' names pass 64 characters
    ("ATELIER_APP_NAME", "ap-" + "a" * 22),  # an App id's shape
    ("ATELIER_HF_SECRET", "hf/token"),
    ("ATELIER_API_SECRET", "x" * 65),
])
def test_a_name_modal_refuses_is_one_sentence(setting, value):
    deploy, problems = app_doctor.diagnose(shell(**{setting: value}))
    assert deploy is None and len(problems) == 1
    assert problems[0].startswith(f"app.py stops at import: ATELIER_APP_NAME={value!r}" if "APP" in setting
                                  else f"app.py stops at import: {setting}={value!r} is not a name Modal accepts")
    out = subprocess.run([sys.executable, "-m", "modal", "deploy", "app.py"], capture_output=True, text=True,
                         timeout=120, cwd=app_doctor.ROOT,
                         env={**shell(**{setting: value}), "MODAL_CONFIG_PATH": "/nonexistent/modal.toml"})
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    assert out.stderr.strip().splitlines()[-1] == problems[0].removeprefix("app.py stops at import: ")


def test_the_deploys_names_rule_is_the_sdks():
    from modal._utils.name_utils import is_valid_object_name

    names = ["atelier", "atelier-staging", "a.b_c-1", "", "my studio", "x" * 64, "x" * 65, "ap-" + "A1" * 11,
             "ap-" + "A1" * 10, "é", "hf/token", "name!"]
    assert [bool(deploy.MODAL_NAME.fullmatch(n)) for n in names] == [is_valid_object_name(n) for n in names]


# --- 6. a second deployment has Volumes of its own --------------------------------------------


def volumes(deploy) -> set[str]:
    return {v for f in deploy["functions"].values() for v in f["options"].get("volumes", {}).values()}


def test_a_second_deployment_has_volumes_of_its_own_and_the_default_keeps_todays(plain, with_settings):
    assert volumes(plain) == {"atelier-weights", "atelier-results"}
    assert volumes(with_settings) == {"atelier-staging-weights", "atelier-staging-results"}
    assert with_settings["app"] == "atelier-staging"


# --- 7, 8. the GPU images: one inductor thread, no downloads at start -------------------------


def test_every_gpu_class_that_may_compile_has_one_inductor_thread_and_none_downloads(plain):
    assert app_doctor.gpu_image_problems(plain) == []
    compiling = [name for name in app_doctor.classes(plain)
                 if any(app_doctor.may_compile(p) for p in app_doctor.served_presets(name))]
    assert set(compiling) == {"ImageModel", "LargeImageModel", "MusicModel", "VideoModel", "LargeVideoModel"}
    broken = copy.deepcopy(plain)
    for image in broken["images"].values():
        image["env"].pop("TORCHINDUCTOR_COMPILE_THREADS", None)
        image["env"].pop("ATELIER_FETCH_WEIGHTS", None)
    problems = app_doctor.gpu_image_problems(broken)
    assert sum("TORCHINDUCTOR_COMPILE_THREADS=1" in p for p in problems) == 5
    assert sum("ATELIER_FETCH_WEIGHTS=0" in p for p in problems) == 7  # the six model classes and Trainer


# --- 9. the web container outlives the longest job and its webhook ----------------------------


def test_the_web_container_stays_up_for_the_longest_job_and_its_webhook(plain):
    assert app_doctor.lifetime_problems(plain) == []
    music = plain["functions"]["MusicModel"]["options"]
    web = plain["functions"]["web"]["options"]
    delivery = app_doctor.webhook_delivery_s()
    assert delivery == 5 * 10 + (1 + 2 + 4 + 8)  # five attempts of at most 10 s, and the waits between
    assert music["startup_timeout"] + music["timeout"] + delivery <= web["scaledown_window"] <= 3600
    shorter = copy.deepcopy(plain)
    shorter["functions"]["web"]["options"]["scaledown_window"] = 20 * 60  # what it was
    [problem] = app_doctor.lifetime_problems(shorter)
    assert "MusicModel" in problem and "cut off" in problem


# --- what the doctor checks besides ------------------------------------------------------------


def test_every_image_preset_with_known_weights_fits_its_class_gpu_with_its_largest_call(plain):
    from models.presets import IMAGE_PRESETS

    assert app_doctor.fit_problems(plain) == []
    sized = {name for name, p in IMAGE_PRESETS.items() if app_doctor.memory_needed_gb(p) is not None}
    assert {"sd-turbo", "sdxl-turbo", "flux-schnell", "sd3.5-large-turbo"} <= sized
    small = copy.deepcopy(plain)
    small["gpu_memory_gb"]["H100"] = 40
    assert any(p.startswith("sd3.5-large-turbo needs about") for p in app_doctor.fit_problems(small))


def test_the_gpu_arithmetic_counts_the_guides_a_preset_holds_at_once(monkeypatch):
    """SD3.5 Large's three 4.2 B-parameter ControlNets, its IP-Adapter and SigLIP beside a full batch at 1440²
    would pass an H100's 80 GB: the preset keeps two loaded (max_controls), and the arithmetic counts two."""
    from dataclasses import replace

    from models.image import guides
    from models.presets import IMAGE_PRESETS

    sd35 = IMAGE_PRESETS["sd3.5-large-turbo"]
    net = guides.PARAMS["controlnet-sd3.5-large"]
    adapter = guides.PARAMS["ip-adapter-sd3.5-large"] + guides.PARAMS["siglip-so400m-encoder"]
    annotators = sum(guides.PARAMS[n] for n in ("depth-anything-v2-small", "vitpose-base", "hed"))
    assert sd35.max_controls == 2 and guides.resident_params(sd35.name) == 2 * net + adapter + annotators
    need = app_doctor.memory_needed_gb(sd35)
    assert need <= app_doctor.GPU_MEMORY_GB["H100"]
    monkeypatch.setitem(IMAGE_PRESETS, sd35.name, replace(sd35, max_controls=3))  # all three loaded
    assert app_doctor.memory_needed_gb(IMAGE_PRESETS[sd35.name]) == pytest.approx(need + 2 * net / 1e9)
    assert app_doctor.memory_needed_gb(IMAGE_PRESETS[sd35.name]) > app_doctor.GPU_MEMORY_GB["H100"]
    # sd2's eight one-mode ControlNets: only as many as one request names stay loaded.
    assert guides.resident_params("sd-turbo") == 3 * guides.PARAMS["controlnet-sd21"] + annotators


def test_every_preset_has_a_class(plain):
    assert app_doctor.route_problems(plain) == []
    other = copy.deepcopy(plain)
    del other["functions"]["LargeImageModel"]
    assert "The image preset flux-schnell is served by no class the app defines." in app_doctor.route_problems(other)


def test_pins_live_once_in_pyproject_and_this_venv_has_them():
    """Each image installs one pyproject.toml group, read by app.py (which ships the file with every
    image); `make setup` installs the model, web and dev groups here, so the tests run on the pins."""
    from importlib.metadata import version

    import app

    groups = tomllib.loads((app_doctor.ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert app.MODEL_PACKAGES == groups["model"] and app.WEB_PACKAGES == groups["web"]
    assert app.AUDIOCRAFT_PACKAGES == groups["audiocraft"] and app.TRAINER_PACKAGES == groups["model"] + groups["trainer"]
    for spec in groups["model"] + groups["web"] + groups["dev"]:
        name, pinned = spec.split("==")
        installed = version(name).split("+")[0]  # torch's CPU build is 2.13.0+cpu: the same release
        assert installed == pinned, f"{spec} in pyproject.toml, {version(name)} installed: run make setup"


def test_atelier_doctor_prints_what_deploy_would_create_with_secret_names_never_values():
    env = {**shell(**README_SETTINGS), "HF_TOKEN": "hf_never-printed", "ATELIER_API_TOKENS": "never-printed-either"}
    out = subprocess.run([sys.executable, "-m", "ui.cli", "doctor"], capture_output=True, text=True, timeout=180,
                         env=env, cwd=app_doctor.ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for line in ("app atelier-staging", "ImageModel             L40S  model image (Python 3.11)",
                 "LargeImageModel        H100", "AudiocraftMusicModel   L40S  audiocraft image (Python 3.11)",
                 "≤10 containers per preset, ≤8 inputs each",
                 "Volumes: atelier-staging-weights at /cache; Secrets: huggingface",
                 "Secrets: atelier-api", "presets: flux-schnell, sd3.5-large-turbo", "No problems found."):
        assert line in text, line
    assert "never-printed" not in text + out.stderr
    bad = subprocess.run([sys.executable, "-m", "ui.cli", "doctor"], capture_output=True, text=True, timeout=180,
                         env=shell(ATELIER_APP_NAME="my studio"), cwd=app_doctor.ROOT)
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr
    last = bad.stdout.strip().splitlines()[-1]
    assert last.startswith("problem: app.py stops at import: ATELIER_APP_NAME='my studio'")


def test_every_video_preset_fits_its_class_gpu_decoding_in_parts(plain):
    from models.presets import VIDEO_PRESETS

    needs = {name: app_doctor.memory_needed_gb(VIDEO_PRESETS[name]) for name in ("ltx-video", "mochi-1")}
    assert None not in needs.values() and app_doctor.fit_problems(plain) == []
    small = copy.deepcopy(plain)
    small["gpu_memory_gb"]["L40S"] = 24
    assert any(p.startswith("ltx-video needs about") for p in app_doctor.fit_problems(small))
    assert app_doctor.memory_needed_gb(VIDEO_PRESETS["tiny-video"]) is None  # kilobytes
