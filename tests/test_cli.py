"""The `atelier` command, run as a user runs it (a subprocess), on the tiny presets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import soundfile


def atelier(*args: str, env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def test_generate_image_writes_the_png_and_its_record(tmp_path):
    out = atelier("generate", "image", "a red fox", "--preset", "tiny", "--seed", "42", "--num-images", "2",
                  "--output", str(tmp_path))
    assert out.returncode == 0, out.stderr
    printed = [Path(line) for line in out.stdout.split()]
    assert [p.suffix for p in printed] == [".png", ".png", ".json"]
    assert all(p.parent == tmp_path and p.exists() for p in printed)
    record = json.loads(printed[-1].read_text())
    assert record["seed"] == 42 and record["parameters"]["num_images"] == 2


def test_generate_music_honours_duration_and_format(tmp_path):
    out = atelier("generate", "music", "lofi beat", "--duration", "2", "--format", "mp3", "--output", str(tmp_path),
                  env={"ATELIER_PRESET": "tiny"})
    assert out.returncode == 0, out.stderr
    mp3 = Path(out.stdout.split()[0])
    audio, rate = soundfile.read(mp3)
    assert mp3.suffix == ".mp3" and rate == 32000 and abs(len(audio) / rate - 2) < 0.1


def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path):
    out = atelier("generate", "image", "", "--preset", "tiny", "--width", "4000", "--output", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: Prompt must not be empty. Width should be less than or equal to 2048 (got 4000)."
    )
    assert list(tmp_path.iterdir()) == []


def test_missing_weights_offline_fail_fast_with_what_to_do(tmp_path):
    started = time.monotonic()  # the same libraries imported, and a tiny model made: the yardstick
    assert atelier("generate", "image", "fox", "--preset", "tiny", "--output", str(tmp_path)).returncode == 0
    tiny_s = time.monotonic() - started
    started = time.monotonic()
    out = atelier("generate", "image", "fox", "--preset", "sd-turbo", "--output", str(tmp_path))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "stabilityai/sd-turbo is not in the local cache" in out.stderr and "--preset tiny" in out.stderr
    # No half-minute of hub retries: no slower than making a tiny image, on however busy a machine.
    assert time.monotonic() - started < 1.5 * tiny_s + 5


def test_unreachable_hub_is_detected_without_retries(tmp_path):
    # HF_HUB_OFFLINE unset; the endpoint is a closed local port, as when a laptop is offline.
    out = atelier("generate", "music", "beat", "--preset", "musicgen-small", "--output", str(tmp_path),
                  env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "error: Can't download facebook/musicgen-small: the Hugging Face hub is unreachable from here. "
        "Connect to the internet and retry, or use --preset tiny to run offline."
    )


def test_presets_lists_every_preset_with_what_it_needs():
    out = atelier("presets")
    assert out.returncode == 0
    for name in ("sd-turbo", "sdxl-turbo", "flux-schnell", "sd3.5-large-turbo", "musicgen-small", "tiny", "tiny-sd3"):
        assert name in out.stdout
    assert "gated: needs HF_TOKEN" in out.stdout


def test_unknown_preset_names_the_known_ones(tmp_path):
    out = atelier("generate", "image", "fox", "--preset", "nope", "--output", str(tmp_path))
    assert out.returncode == 2 and "Unknown preset 'nope'. Known presets:" in out.stderr


def test_generate_image_from_a_picture_and_a_mask(tmp_path):
    from PIL import Image

    Image.effect_noise((96, 64), 50).convert("RGB").save(tmp_path / "picture.jpg")
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (0, 0, 48, 64))
    mask.save(tmp_path / "mask.png")
    out = atelier("generate", "image", "a door", "--preset", "tiny", "--image", str(tmp_path / "picture.jpg"),
                  "--mask", str(tmp_path / "mask.png"), "--strength", "0.5", "--output", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    record = json.loads(Path(out.stdout.split()[-1]).read_text())
    assert record["input"]["mode"] == "inpainting" and record["parameters"]["strength"] == 0.5
    assert (record["parameters"]["width"], record["parameters"]["height"]) == (96, 64)

    (tmp_path / "notes.png").write_text("not a picture")
    out = atelier("generate", "image", "x", "--preset", "tiny", "--image", str(tmp_path / "notes.png"))
    assert out.returncode == 2
    assert out.stderr.strip() == "error: Image must be a PNG, JPEG or WebP image; this is not an image we recognise."
    out = atelier("generate", "image", "x", "--preset", "tiny", "--image", str(tmp_path / "missing.png"))
    assert out.returncode == 2 and "can't read" in out.stderr and "Traceback" not in out.stderr


def test_loras_add_list_use_and_remove(tmp_path):
    from models.random_weights.tiny_lora import build_random_lora

    env = {"ATELIER_HOME": str(tmp_path / "home")}
    assert "No LoRA adapters yet" in atelier("loras", env=env).stdout
    path = build_random_lora("tiny", tmp_path / "Grainy Film.safetensors", seed=9)
    added = atelier("loras", "add", str(path), "--preset", "tiny", env=env)
    assert added.returncode == 0 and "added grainy-film (tiny, rank 4" in added.stdout, added.stderr
    listed = atelier("loras", env=env).stdout
    assert "grainy-film" in listed and "Grainy Film.safetensors" in listed
    made = atelier("generate", "image", "a fox", "--preset", "tiny", "--lora", "grainy-film:0.6", "--output",
                   str(tmp_path / "out"), env=env)
    assert made.returncode == 0, made.stderr
    record = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert record["parameters"]["loras"] == [{"id": "grainy-film", "scale": 0.6}]
    wrong = atelier("loras", "add", str(path), "--preset", "sd-turbo", "--id", "x", env=env)
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: Grainy Film.safetensors doesn't fit sd2 models")
    unknown = atelier("generate", "image", "a fox", "--preset", "tiny", "--lora", "nope", "--output", str(tmp_path), env=env)
    assert unknown.returncode == 2 and "Unknown LoRA adapter 'nope'" in unknown.stderr
    assert atelier("loras", "remove", "grainy-film", env=env).returncode == 0
    assert "grainy-film" not in atelier("loras", env=env).stdout


def test_train_a_folder_of_pictures_with_captions_into_the_library(tmp_path):
    from tests.support.training import pictures

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, data in enumerate(pictures(3, seed=5)):
        (photos / f"{i}.png").write_bytes(data)
    (photos / "1.txt").write_text("on a red rug")
    (photos / "notes.md").write_text("not a picture: left out")
    out = atelier("train", str(photos), "--trigger", "qwerty the dog", "--preset", "tiny", "--steps", "2",
                  "--adapter-id", "qwerty-cli", "--output", str(tmp_path / "out"), timeout=300)
    assert out.returncode == 0, out.stderr
    *samples, record_path = (Path(line) for line in out.stdout.split())
    record = json.loads(record_path.read_text())
    assert record["kind"] == "training" and record["adapter"]["id"] == "qwerty-cli"
    assert [p.suffix for p in samples] == [".png", ".webp"]  # the final sample, then the one drawn at step 1
    assert record["training"]["captions"] == 1 and len(record["training"]["pictures_sha256"]) == 3
    assert "adapter qwerty-cli is in the library" in out.stderr
    listed = atelier("loras")
    assert "qwerty-cli" in listed.stdout and "trained here" in listed.stdout


def test_train_with_too_few_pictures_is_one_line_and_exit_code_2(tmp_path):
    from tests.support.training import pictures

    for i, data in enumerate(pictures(2)):
        (tmp_path / f"{i}.png").write_bytes(data)
    out = atelier("train", str(tmp_path), "--trigger", "qwerty", "--preset", "tiny")
    assert out.returncode == 2
    assert out.stderr.strip() == "error: Training needs 3 to 30 pictures; this request has 2."


def test_train_takes_zips_and_folders_with_captions_beside_their_pictures(tmp_path):
    import zipfile

    from tests.support.training import pictures
    from ui.cli import training_pictures

    made = pictures(4, seed=2)
    (tmp_path / "0.png").write_bytes(made[0])
    (tmp_path / "0.txt").write_text("  on a rug  ")
    with zipfile.ZipFile(tmp_path / "more.zip", "w") as archive:
        archive.writestr("2.png", made[2])
        archive.writestr("1.png", made[1])
    (tmp_path / "3.webp").write_bytes(made[3])  # not a WebP inside: the request's check says so, not this
    found, captions = training_pictures([tmp_path / "0.png", tmp_path / "more.zip", tmp_path / "3.webp"])
    assert found == made and captions == ["on a rug", "", "", ""]
def test_generate_video_from_a_picture_writes_the_mp4_its_poster_and_record_with_a_progress_bar(tmp_path):
    import io
    import pty

    from PIL import Image

    Image.new("RGB", (64, 64), (30, 90, 160)).save(tmp_path / "start.png")
    controller, terminal = pty.openpty()  # the bar is drawn only on a terminal
    out = subprocess.run([sys.executable, "-m", "ui.cli", "generate", "video", "a paper boat on a river", "--preset",
                          "tiny", "--duration", "1", "--seed", "3", "--image", str(tmp_path / "start.png"), "--output",
                          str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=180)
    os.close(terminal)
    bar = io.BytesIO()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end is closed: all of it read
            break
        if not chunk:
            break
        bar.write(chunk)
    os.close(controller)
    assert out.returncode == 0, bar.getvalue().decode(errors="replace")
    printed = [Path(line) for line in out.stdout.split()]
    assert [p.suffix for p in printed] == [".mp4", ".webp", ".json"] and all(p.exists() for p in printed)
    assert printed[0].read_bytes()[4:8] == b"ftyp"
    record = json.loads(printed[-1].read_text())
    assert record["kind"] == "video" and record["parameters"]["frames"] == 9 and record["seed"] == 3
    assert record["input"]["mode"] == "image-to-video" and record["parameters"]["width"] == record["parameters"]["height"]
    drawn = bar.getvalue().decode()
    assert "denoising" in drawn and "encoding" in drawn and "100%" in drawn


def test_a_video_too_long_is_one_clear_line(tmp_path):
    out = atelier("generate", "video", "waves", "--preset", "tiny", "--duration", "600", "--output", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == "error: 600 s is too long for tiny-video: it makes at most 4.1 s (33 frames at 8 fps)."


def test_generate_image_with_controls_a_reference_and_a_vary(tmp_path):
    from PIL import Image, ImageDraw

    edges, style = tmp_path / "edges.png", tmp_path / "style.png"
    picture = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(picture).rectangle((16, 16, 47, 47), fill="white")
    picture.save(edges)
    Image.new("RGB", (32, 32), (200, 40, 40)).save(style)
    out = atelier("generate", "image", "a fox", "--preset", "tiny", "--seed", "3", "--output", str(tmp_path),
                  "--control", f"canny:{edges}:0.8", "--control", f"lines:{edges}", "--reference", f"{style}:0.5")
    assert out.returncode == 0, out.stderr
    record = json.loads(Path(out.stdout.split()[-1]).read_text())
    assert [(c["mode"], c["scale"], c["preprocess"]) for c in record["guides"]["controls"]] == [
        ("canny", 0.8, True), ("lines", 1.0, False)]  # lines: a picture sent as it is
    assert record["guides"]["references"][0]["scale"] == 0.5
    varied = atelier("generate", "image", "a fox", "--preset", "tiny", "--image", str(edges), "--vary", "strong",
                     "--output", str(tmp_path))
    assert varied.returncode == 0, varied.stderr
    record = json.loads(Path(varied.stdout.split()[-1]).read_text())
    assert record["lineage"] == {"parent": None, "action": "vary-strong"} and record["parameters"]["strength"] == 0.7
    refused = atelier("generate", "image", "a fox", "--preset", "tiny", "--control", f"blur:{edges}")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: tiny has no blur control: its controls are canny, depth, pose, scribble, softedge, lines, normal, "
        "segmentation, tile."]


def test_controlnets_lists_each_image_presets_guides():
    out = atelier("controlnets")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("sd3.5-large-turbo "))
    assert "sd3" in line and "canny, depth, blur (up to 2 at once" in line
    assert atelier("controlnets", "--preset", "nope").returncode == 2
