"""What `modal deploy app.py` would create, read offline, and what in it would break on Modal.

    atelier doctor      # the report below; exit code 1 when it finds a problem

app.py is imported here the way Modal imports it: once with this shell's environment, as
`modal deploy` does, and once per image with only what a container of that image has (its
environment, the local packages it ships), as Modal does in every container before it starts
one. Each import runs in a subprocess and reports what app.py handed to Modal's decorators
(`App.function`, `App.cls`, `modal.concurrent`) and each function's Modal objects, read as
Modal's container entrypoint reads them (`_deps_(only_explicit_mounts=True)`).

It checks what can be known without modal.com: that containers would define the same objects
and options as the deploy, the names Modal accepts, each image and video preset's weights and
largest call against its class's GPU (ui/gpu_memory.py), the settings of the GPU images
(no downloads at start, one inductor thread under snapshots), and the web container's
lifetime against the longest job. It can't know whether a named Secret exists or holds
HF_TOKEN, what the Volumes hold, or what the workspace's GPU quota allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from ui.gpu_memory import GPU_MEMORY_GB, memory_needed_gb

ROOT = Path(__file__).resolve().parent.parent  # the repository: app.py, pyproject.toml, models/, ui/
MODAL_MAX_SCALEDOWN_S = 3600  # the SDK refuses a longer scaledown_window


# --- Reading app.py as Modal does ------------------------------------------------------------


@contextlib.contextmanager
def recording():
    """Modal's decorators wrapped to record what they are handed: {decorator: [(qualname,
    kwargs, target)]}. Undone on leaving; the objects made meanwhile are Modal's own."""
    import modal

    calls: dict[str, list] = defaultdict(list)

    def recorder(name, make_decorator):
        def factory(*args, **kwargs):
            decorate = make_decorator(*args, **kwargs)

            def wrapper(target):
                calls[name].append((qualname(target), kwargs, target))
                return decorate(target)

            return wrapper

        return factory

    saved = {"function": modal.App.function, "cls": modal.App.cls, "concurrent": modal.concurrent, "enter": modal.enter}
    modal.App.function = lambda self, *a, **k: recorder("function", saved["function"].__get__(self))(*a, **k)
    modal.App.cls = lambda self, *a, **k: recorder("cls", saved["cls"].__get__(self))(*a, **k)
    modal.concurrent, modal.enter = recorder("concurrent", saved["concurrent"]), recorder("enter", saved["enter"])
    try:
        yield calls
    finally:
        modal.App.function, modal.App.cls = saved["function"], saved["cls"]
        modal.concurrent, modal.enter = saved["concurrent"], saved["enter"]


def unwrapped(target):
    """Methods, web functions and classes with class-level options (@modal.concurrent) arrive
    wrapped in Modal's PartialFunction; what it wraps is a function or a class."""
    if not hasattr(target, "_get_raw_f"):
        return target
    inner = next(v for k, v in vars(target).items() if k.startswith("_sync_original"))  # synchronicity's wrapped object
    return inner.raw_f or inner.user_cls


def qualname(target) -> str:
    raw = unwrapped(target)
    return getattr(raw, "__qualname__", repr(raw))


def _describe_app() -> dict:
    """In the subprocess: import app.py while recording, and describe what it defines."""
    import modal
    from modal._utils.async_utils import synchronizer

    with recording() as calls:
        import app
    images = {id(synchronizer._translate_in(info["image"])): name for name, info in app.IMAGES.items()}

    def plain(value):
        if isinstance(value, modal.Image):
            return images.get(id(synchronizer._translate_in(value)), repr(value))
        if isinstance(value, (modal.Volume, modal.Secret)):
            return value.name
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)

    def deps(obj) -> list[str]:
        inner = synchronizer._translate_in(obj)
        function = inner._get_class_service_function() if isinstance(obj, modal.Cls) else inner
        return [f"{type(d).__name__.lstrip('_')} {images.get(id(d)) or getattr(d, '_name', None) or d}"
                for d in function._deps_(only_explicit_mounts=True)]

    concurrency = {name.split(".")[-1]: kwargs for name, kwargs, _ in calls["concurrent"]}
    functions = {}
    for kind in ("cls", "function"):
        for name, kwargs, _ in calls[kind]:
            short = name.split(".")[-1]
            functions[short] = {"kind": kind, "options": plain(kwargs), "concurrency": concurrency.get(short, {}),
                                "deps": deps(getattr(app, short))}
    described = {name: {k: plain(v) for k, v in info.items() if k != "image"} for name, info in app.IMAGES.items()}
    return {"app": app.APP_NAME, "deploy": app.DEPLOY, "images": described, "functions": functions,
            "gpu_memory_gb": GPU_MEMORY_GB}


def _child(blocked: list[str]) -> None:
    """The subprocess's entry: block the local packages the image doesn't ship, describe, print."""

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ImportError(f"{name} is not in this image")

    sys.meta_path.insert(0, Block())
    print(json.dumps(_describe_app()))


class ImportFailed(Exception):
    """app.py could not be imported there; the message is what it said (last line)."""


def describe(env: dict[str, str], blocked: tuple[str, ...] = ()) -> dict:
    """What app.py defines when imported in a fresh process with exactly `env`."""
    code = f"from ui import doctor; doctor._child({list(blocked)!r})"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise ImportFailed((out.stderr.strip().splitlines() or ["(no message)"])[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def container_env(image: dict) -> dict[str, str]:
    """All a container's import of app.py sees: its image's environment, plus what any process needs."""
    return {**image["env"], "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "MODAL_IS_REMOTE": "1"}


def not_shipped(image: dict) -> tuple[str, ...]:
    """The repository's local packages a container of this image doesn't have."""
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    return tuple(sorted(local - set(image["sources"])))


def containers(deploy: dict) -> dict[str, dict]:
    """app.py as each image's containers import it, by image name ({"error": ...} where it can't)."""
    imported = {}
    for name, image in deploy["images"].items():
        try:
            imported[name] = describe(container_env(image), not_shipped(image))
        except ImportFailed as e:
            imported[name] = {"error": str(e), "functions": {}}
    return imported


# --- Problems: each check returns sentences, none when all is well ---------------------------


def container_differences(deploy: dict, imported: dict[str, dict]) -> list[str]:
    """Every function and class as its own image's containers would define it, against the deploy."""
    problems = [f"A container of the {name} image can't import app.py: {inside['error']}"
                for name, inside in imported.items() if "error" in inside]
    for name, function in deploy["functions"].items():
        inside = imported[function["options"]["image"]]
        if "error" in inside or inside["functions"].get(name) == function:
            continue
        inside = inside["functions"].get(name)
        if inside is None:
            problems.append(f"{name}: a container of its image would not define it at all.")
            continue
        changed = sorted(k for k in function["options"].keys() | inside["options"].keys()
                         if function["options"].get(k) != inside["options"].get(k))
        problems.append(
            f"{name}: a container would import app.py to other Modal objects ({', '.join(inside['deps'])}) than the "
            f"deploy sends ({', '.join(function['deps'])})" + (f", and other {', '.join(changed)}" if changed else "")
            + ": Modal refuses to start such a container (a setting read from the deploying shell only?)."
        )
    return problems


def classes(deploy: dict) -> dict[str, dict]:
    return {name: f for name, f in deploy["functions"].items() if f["kind"] == "cls"}


def served_presets(class_name: str) -> list:
    """The presets a GPU class serves (models/presets.py routes each to one class)."""
    from models import presets

    route = {"image": presets.image_class_name, "music": presets.music_class_name, "video": presets.video_class_name}
    return [p for kind, table in presets.PRESETS.items() for p in table.values() if route[kind](p.name) == class_name]


def route_problems(deploy: dict) -> list[str]:
    from models.presets import PRESETS

    served = {(p.name, type(p).__name__) for name in classes(deploy) for p in served_presets(name)}
    return [f"The {kind} preset {name} is served by no class the app defines."
            for kind, table in PRESETS.items() for name, p in table.items() if (name, type(p).__name__) not in served]


def fit_problems(deploy: dict) -> list[str]:
    from models.presets import MusicPreset

    problems = []
    for name, cls in classes(deploy).items():
        gpu = cls["options"]["gpu"]
        for preset in served_presets(name):
            need = None if isinstance(preset, MusicPreset) else memory_needed_gb(preset)
            if need is not None and need > deploy["gpu_memory_gb"][gpu]:
                problems.append(f"{preset.name} needs about {need:.0f} GB at its largest call; {name}'s {gpu} "
                                f"has {deploy['gpu_memory_gb'][gpu]} GB.")
    return problems


def may_compile(preset) -> bool:
    """Whether a preset's engine applies speed options, torch.compile among them (audiocraft's doesn't)."""
    return getattr(preset, "engine", "diffusers") != "audiocraft"


def gpu_image_problems(deploy: dict) -> list[str]:
    """The GPU classes' images: no download in a startup hook; one inductor thread where a snapshot may compile."""
    problems = []
    for name, cls in classes(deploy).items():
        env = deploy["images"][cls["options"]["image"]]["env"]
        if env.get("ATELIER_FETCH_WEIGHTS") != "0":
            problems.append(f"{name}'s image lets a container download missing weights in its startup hook: "
                            "set ATELIER_FETCH_WEIGHTS=0 there.")
        if any(may_compile(p) for p in served_presets(name)) and env.get("TORCHINDUCTOR_COMPILE_THREADS") != "1":
            problems.append(f"{name} may torch.compile under a memory snapshot: set TORCHINDUCTOR_COMPILE_THREADS=1 "
                            "in its image (Modal's memory-snapshot guide).")
    return problems


def longest_job_s(deploy: dict) -> tuple[float, str]:
    """The longest a job's GPU call may take (a container's start plus its timeout), and its class."""
    def length(options: dict) -> float:
        return (options.get("startup_timeout") or options["timeout"]) + options["timeout"]

    name, cls = max(classes(deploy).items(), key=lambda item: length(item[1]["options"]))
    return length(cls["options"]), name


def webhook_delivery_s() -> float:
    """A webhook's longest delivery with the default settings (a Secret may raise the attempts)."""
    from ui.generation.webhooks import WebhookSender

    return WebhookSender(secret="").longest_delivery_s()


def lifetime_problems(deploy: dict) -> list[str]:
    """The web container runs async jobs as tasks: idle, it must outlive the longest job and its webhook."""
    window = deploy["functions"]["web"]["options"].get("scaledown_window", 60)
    job_s, cls = longest_job_s(deploy)
    need = job_s + webhook_delivery_s()
    problems = []
    if window < need:
        problems.append(f"The web container scales down {window / 60:.0f} min after its last request, but a job "
                        f"nobody polls may run {need / 60:.0f} min ({cls}'s start and timeout, then its webhook): "
                        "it would be cut off.")
    if window > MODAL_MAX_SCALEDOWN_S:
        problems.append(f"scaledown_window={window} s is more than Modal's {MODAL_MAX_SCALEDOWN_S} s.")
    return problems


def notes(deploy: dict) -> list[str]:
    """What is allowed but worth knowing: gated presets with no HF Secret, an open API."""
    from models.common.weights import HubWeights
    from models.presets import PRESETS

    found = []
    hub = [p for table in PRESETS.values() for p in table.values() if isinstance(p.weights, HubWeights)]
    gated = sorted({p.name for p in hub if p.weights.gated})
    if "ATELIER_HF_SECRET" not in deploy["deploy"]:
        found.append(f"No HF Secret named (ATELIER_HF_SECRET): download_weights can't fetch the gated "
                     f"{', '.join(gated)}.")
    if "ATELIER_API_SECRET" not in deploy["deploy"]:
        found.append("No API Secret named (ATELIER_API_SECRET): the API and the studio are open to anyone "
                     "with the URL.")
    return found


CHECKS = (route_problems, fit_problems, gpu_image_problems, lifetime_problems)


def diagnose(env: dict[str, str]) -> tuple[dict | None, list[str]]:
    """The deploy as `modal deploy` run with `env` would send it, and every problem found in it;
    (None, [why]) where app.py doesn't import at all (a name Modal refuses, say)."""
    try:
        deploy = describe(env)
    except ImportFailed as e:
        return None, [f"app.py stops at import: {e}"]
    problems = container_differences(deploy, containers(deploy))
    for check in CHECKS:
        problems += check(deploy)
    return deploy, problems


# --- The report ----------------------------------------------------------------------------


def _minutes(seconds) -> str:
    return f"{seconds / 60:g} min"


def describe_function(name: str, function: dict, images: dict) -> list[str]:
    """One function or class: where it runs, its pools and limits, its Volumes and Secrets."""
    o, image = function["options"], function["options"]["image"]
    limits = [f"≤{o['max_containers']} containers" + (" per preset" if function["kind"] == "cls" else "")
              if "max_containers" in o else "containers as needed"]
    if function["concurrency"]:
        limits.append(f"≤{function['concurrency']['max_inputs']} inputs each")
    limits.append(f"timeout {_minutes(o.get('timeout', 300))}")
    if o.get("startup_timeout"):
        limits.append(f"start ≤{_minutes(o['startup_timeout'])}")
    if "scaledown_window" in o:
        limits.append(f"idle {_minutes(o['scaledown_window'])}")
    if o.get("enable_memory_snapshot"):
        gpu_snapshot = o.get("experimental_options", {}).get("enable_gpu_snapshot")
        limits.append("CPU+GPU snapshots" if gpu_snapshot else "CPU snapshots")
    mounts = ", ".join(f"{volume} at {path}" for path, volume in o.get("volumes", {}).items()) or "none"
    lines = [f"  {name:<22} {o.get('gpu') or 'CPU':<5} {image} image (Python {images[image]['python']}); "
             + ", ".join(limits),
             f"  {'':<22} Volumes: {mounts}; Secrets: {', '.join(o.get('secrets', [])) or 'none'}"]
    if function["kind"] == "cls":
        lines.append(f"  {'':<22} presets: {', '.join(p.name for p in served_presets(name))}")
    return lines


def render(deploy: dict | None, problems: list[str]) -> str:
    lines = ["Atelier on Modal, as `modal deploy app.py` would create it from this shell (read offline):"]
    if deploy is not None:
        lines.append(f"  app {deploy['app']}; deploy settings: "
                     + (", ".join(f"{k}={v}" for k, v in deploy["deploy"].items()) or "none set"))
        for name, function in deploy["functions"].items():
            lines += describe_function(name, function, deploy["images"])
        lines += [f"note: {note}" for note in notes(deploy)]
    lines += [f"problem: {problem}" for problem in problems] or ["No problems found."]
    return "\n".join(lines)


def main(env: dict[str, str] | None = None) -> int:
    """`atelier doctor`: print the report; 1 when a problem was found."""
    deploy, problems = diagnose(dict(os.environ if env is None else env))
    print(render(deploy, problems))
    return 1 if problems else 0
