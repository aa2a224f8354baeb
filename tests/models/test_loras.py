"""LoRA adapters: the library's checks (models/image/loras.py) and adapters applied per batch on the
tiny preset (models/image/lora_cache.py), through the same `.local()` calls the local backend makes.
The adapters are random ones built offline by models/random_weights/tiny_lora.py, as a trainer would save them."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from models.common.errors import LoraError, RequestError
from models.image import loras
from models.image.generator import batch_key
from models.random_weights.tiny_lora import add_demo_lora, build_random_lora
from models.requests import ImageRequest


@pytest.fixture(scope="module")
def adapters(atelier_home) -> list[str]:
    """Two different random adapters for the tiny family, in the session's library."""
    for adapter_id, seed in (("test-a", 1), ("test-b", 2)):
        if adapter_id not in {a.id for a in loras.list_adapters()}:
            add_demo_lora(adapter_id, seed=seed)
    return ["test-a", "test-b"]


@pytest.fixture(scope="module")
def model(model_classes, adapters):
    """One instance, so adapters stay loaded between calls as they do in a serving container."""
    return model_classes["image"](preset="tiny")


def pixels(model, **fields) -> np.ndarray:
    job = ImageRequest(prompt="a fox", seed=5, **fields).resolve("tiny")
    result = list(model.generate.local(job))[-1]
    return np.asarray(Image.open(io.BytesIO(result["files"][0]["data"])))


def lora(adapter_id: str, scale: float = 1.0) -> dict:
    return {"id": adapter_id, "scale": scale}


# --- applied per request ---------------------------------------------------------------------


def test_an_adapter_changes_the_image_and_the_base_comes_back_after(model):
    base = pixels(model)
    adapted = pixels(model, loras=[lora("test-a")])
    assert np.abs(adapted.astype(int) - base.astype(int)).mean() > 1  # visibly different, not one level
    assert np.array_equal(pixels(model), base)  # the same instance, adapter still loaded but off
    assert np.array_equal(pixels(model, loras=[lora("test-a")]), adapted)  # and the same again when reused


def test_scale_zero_is_the_base_and_scale_matters(model):
    base = pixels(model)
    assert np.array_equal(pixels(model, loras=[lora("test-a", 0.0)]), base)
    assert not np.array_equal(pixels(model, loras=[lora("test-a", 0.5)]), pixels(model, loras=[lora("test-a", 1.0)]))


def test_two_adapters_at_once_differ_from_each_alone(model):
    both = pixels(model, loras=[lora("test-a"), lora("test-b")])
    assert not np.array_equal(both, pixels(model, loras=[lora("test-a")]))
    assert not np.array_equal(both, pixels(model, loras=[lora("test-b")]))
    assert not np.array_equal(both, pixels(model))


def test_the_record_and_the_png_recipe_carry_the_adapters(model):
    from models.common import recipes

    job = ImageRequest(prompt="a fox", seed=5, loras=[lora("test-a", 0.8)]).resolve("tiny")
    result = list(model.generate.local(job))[-1]
    assert result["record"]["parameters"]["loras"] == [{"id": "test-a", "scale": 0.8}]
    png = result["files"][0]["data"]
    assert recipes.recipe_from_png(png)["loras"] == [{"id": "test-a", "scale": 0.8}]
    text = Image.open(io.BytesIO(png)).info["parameters"]
    assert text.startswith("a fox <lora:test-a:0.8>")  # as A1111 writes them


def test_least_recently_used_adapters_are_unloaded_beyond_the_cache(model, monkeypatch):
    pixels(model, loras=[lora("test-a")])
    pixels(model, loras=[lora("test-b")])
    cache = _instance(model).loras
    monkeypatch.setattr(cache, "keep", 1)
    pixels(model, loras=[lora("test-a")])
    loaded = {n for names in _instance(model).pipe.get_list_adapters().values() for n in names}
    assert list(cache.loaded) == ["test-a"] and loaded == {"test-a"}


def _instance(model):
    """The ImageGenerator behind a Modal class handle run locally: the handle passes attributes through."""
    return model


def test_batches_only_share_a_call_with_the_same_adapters():
    plain = ImageRequest(prompt="a", seed=1).resolve("tiny")
    with_a = plain.model_copy(update={"loras": [loras_choice("test-a", 1.0)]})
    other_scale = plain.model_copy(update={"loras": [loras_choice("test-a", 0.5)]})
    assert len({batch_key(plain), batch_key(with_a), batch_key(other_scale)}) == 3


def loras_choice(adapter_id, scale):
    from models.image.request import LoraChoice

    return LoraChoice(id=adapter_id, scale=scale)


# --- bad adapters: a clear 4xx, and the model goes on serving ---------------------------------


def test_a_job_naming_an_unknown_adapter_is_refused_and_the_model_serves_the_next(model, adapters):
    base = pixels(model)
    job = ImageRequest(prompt="a fox", seed=5).resolve("tiny").model_dump() | {"loras": [lora("nope")]}
    with pytest.raises(RequestError, match="Unknown LoRA adapter 'nope'.*test-a"):
        list(model.generate.local(job))
    assert np.array_equal(pixels(model), base)


def test_a_corrupt_adapter_in_the_library_fails_its_request_only(model, atelier_home):
    base = pixels(model)
    folder = loras.library_folder() / "broken"
    folder.mkdir(parents=True, exist_ok=True)
    good = loras.adapter_file("test-a").read_bytes()
    (folder / loras.FILE_NAME).write_bytes(good[: len(good) // 2])  # cut short after it was added
    info = json.loads((loras.library_folder() / "test-a" / loras.INFO_NAME).read_text()) | {"id": "broken"}
    (folder / loras.INFO_NAME).write_text(json.dumps(info))
    try:
        with pytest.raises(RequestError, match="'broken' couldn't be loaded"):
            pixels(model, loras=[lora("broken")])
        assert "broken" not in {n for names in _instance(model).pipe.get_list_adapters().values() for n in names}
        assert np.array_equal(pixels(model), base)
        assert np.array_equal(pixels(model, loras=[lora("test-a", 0.0)]), base)
    finally:
        loras.remove("broken")


def test_request_bounds_for_adapters(adapters):
    from models.requests import parse

    cases = {
        "scale should be less than or equal to 2": [lora("test-a", 2.5)],
        "at most 4 items": [lora(f"x{i}") for i in range(5)],
        "appears more than once": [lora("test-a"), lora("test-a", 0.5)],
        "is not an adapter id": [lora("../etc")],
        "Unknown LoRA adapter 'missing'": [lora("missing")],
    }
    for message, choices in cases.items():
        with pytest.raises(RequestError, match=message):
            parse("image", {"prompt": "a", "loras": choices}).resolve("tiny")


def test_an_adapter_for_another_family_is_refused_naming_the_presets_it_fits(adapters):
    with pytest.raises(RequestError, match="made for tiny models \\(tiny\\), not for sd-turbo \\(sd2\\)"):
        ImageRequest(prompt="a", preset="sd-turbo", loras=[lora("test-a")]).resolve("tiny")


# --- the library's checks ------------------------------------------------------------------------


def test_add_lists_and_removes(tmp_path, atelier_home):
    path = build_random_lora("tiny", tmp_path / "My Style_v2.safetensors", seed=3)
    info = loras.add(str(path), "tiny")
    try:
        assert info.id == "my-style-v2" and info.family == "tiny" and info.rank == 4 and info.targets == 32
        assert info.size == path.stat().st_size and info.source == "My Style_v2.safetensors"
        assert "my-style-v2" in {a.id for a in loras.list_adapters("tiny")}
        assert "my-style-v2" not in {a.id for a in loras.list_adapters("sd2")}
        with pytest.raises(LoraError, match="already in the library"):
            loras.add(str(path), "tiny")
    finally:
        loras.remove("my-style-v2")
    assert "my-style-v2" not in {a.id for a in loras.list_adapters()}


def _safetensors(path, tensors: dict[str, tuple[list[int], bytes]]):
    header, data = {}, b""
    for name, (shape, raw) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_the_library_refuses_what_is_not_a_fitting_lora(tmp_path, monkeypatch):
    good = build_random_lora("tiny", tmp_path / "good.safetensors")
    (tmp_path / "model.bin").write_bytes(good.read_bytes())
    (tmp_path / "noise.safetensors").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:-100])
    _safetensors(tmp_path / "full.safetensors", {"conv_in.weight": ([4], b"\0" * 16)})
    cases = {
        "model.bin": ("tiny", "not a .safetensors file"),
        "noise.safetensors": ("tiny", "not a safetensors file"),
        "cut.safetensors": ("tiny", "damaged"),
        "full.safetensors": ("tiny", "holds no LoRA weights"),
        "good.safetensors": ("sd2", "doesn't fit sd2 models: unet.*to_k is 640→640 in sd2 models, but the adapter's is 64→64 \\(and 31 more\\)"),
    }
    for name, (family, message) in cases.items():
        with pytest.raises(LoraError, match=message):
            loras.add(str(tmp_path / name), family, adapter_id="refused")
    monkeypatch.setattr(loras, "MAX_LORA_BYTES", 1000)
    with pytest.raises(LoraError, match="may be at most"):
        loras.add(str(good), "tiny", adapter_id="refused")
    assert "refused" not in {a.id for a in loras.list_adapters()}


def test_an_adapter_built_for_sd2_fits_sd2_and_not_tiny(tmp_path):
    path = build_random_lora("sd2", tmp_path / "sd2.safetensors", rank=2)
    assert loras.check_fits(path, "sd2") == 128  # every attention projection of SD 2.1's UNet (16 transformer blocks)
    with pytest.raises(LoraError, match="doesn't fit tiny models"):
        loras.check_fits(path, "tiny")


def test_every_image_family_has_an_architecture_to_check_adapters_against(tmp_path):
    from models.presets import IMAGE_PRESETS

    assert {p.family for p in IMAGE_PRESETS.values()} <= set(loras.FAMILIES)
    unet_adapter = build_random_lora("tiny", tmp_path / "unet.safetensors")
    for family in ("sd3", "flux"):  # transformer models: a UNet adapter names a part they don't have
        with pytest.raises(LoraError, match=f"it adapts a 'unet', which {family} models don't have"):
            loras.check_fits(unet_adapter, family)


def test_a_hub_adapter_that_cannot_be_fetched_gets_one_sentence(monkeypatch, tmp_path):
    with pytest.raises(LoraError, match="Can't download someone/film-grain: HF_HUB_OFFLINE is set"):
        loras.add("someone/film-grain", "tiny")  # the suite runs offline (tests/conftest.py)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(LoraError, match="Can't download someone/film-grain: the Hugging Face hub is unreachable"):
        loras.add("someone/film-grain", "tiny")
    with pytest.raises(LoraError, match="There is no file .*missing.safetensors here"):
        loras.add("loras/missing.safetensors", "tiny")
    with pytest.raises(LoraError, match="neither a file here nor a Hugging Face repo id"):
        loras.add(str(tmp_path / "missing"), "tiny")
    assert "film-grain" not in {a.id for a in loras.list_adapters()}


def test_the_header_is_read_without_torch(tmp_path):
    header = loras.read_header(build_random_lora("tiny", tmp_path / "a.safetensors"))
    assert all(entry["dtype"] == "F32" for entry in header.values()) and len(header) == 64


def test_a1111_lora_tags_are_read_back_out_of_the_prompt():
    from models.common import recipes

    text = "a fox <lora:film-grain:0.6> in snow <lora:ink:-1>\nSteps: 4, CFG scale: 0, Seed: 1, Size: 64x64"
    fields = recipes.parse_a1111(text)
    assert fields["prompt"] == "a fox in snow"
    assert fields["loras"] == [{"id": "film-grain", "scale": 0.6}, {"id": "ink", "scale": -1.0}]


def test_a_hybrid_studio_checks_requests_against_the_deployed_apps_library(adapters):
    """ui/generation/remote.py points the library at the deployed app's `list_loras` (its Volume)."""
    from ui.generation.remote import deployed_lora_listing

    class ListLoras:  # stands in for modal.Function.from_name(app, "list_loras")
        calls = 0

        def remote(self):
            self.calls += 1
            return [{"id": "on-the-volume", "family": "sd2", "rank": 16, "size": 1, "source": "x/y", "targets": 128,
                     "added_at": 1.0}]

    function = ListLoras()
    loras.set_remote_listing(deployed_lora_listing(function, every_s=60))
    try:
        assert [a.id for a in loras.list_adapters()] == ["on-the-volume"]  # not this machine's test-a, test-b
        assert loras.check_choice("on-the-volume", "sd-turbo").rank == 16
        with pytest.raises(LoraError, match="Unknown LoRA adapter 'test-a'. Adapters in the library: on-the-volume."):
            loras.get("test-a")
        assert function.calls == 1  # one call for all of the above
    finally:
        loras.set_remote_listing(None)
    assert "test-a" in {a.id for a in loras.list_adapters()}


def test_a_deployed_app_without_the_listing_reads_as_an_empty_library():
    from ui.generation.remote import deployed_lora_listing

    class Gone:
        def remote(self):
            raise RuntimeError("Function list_loras not found in app atelier")

    loras.set_remote_listing(deployed_lora_listing(Gone()))
    try:
        assert loras.list_adapters() == []
        with pytest.raises(LoraError, match="Unknown LoRA adapter 'x'"):
            loras.get("x")
    finally:
        loras.set_remote_listing(None)


def test_adapters_apply_to_a_picture_started_from_too(model):
    """img2img and inpainting pipelines share the loaded pipeline's modules: adapters reach them."""
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buf, format="PNG")
    start = {"image": buf.getvalue(), "strength": 0.7}
    base = pixels(model, **start)
    assert not np.array_equal(pixels(model, loras=[lora("test-a")], **start), base)
    assert np.array_equal(pixels(model, **start), base)


def test_a_transformer_adapter_works_on_the_tiny_sd3_pipeline(model_classes, adapters, tmp_path, atelier_home):
    """SD3's denoiser is a transformer: an adapter for it fits tiny-sd3 (not SD3.5 Large, whose
    shapes differ), changes its image, and the base comes back after."""
    path = build_random_lora("tiny-sd3", tmp_path / "sd3.safetensors")
    with pytest.raises(LoraError, match="doesn't fit sd3 models"):
        loras.check_fits(path, "sd3")
    if "test-sd3" not in {a.id for a in loras.list_adapters()}:
        loras.add(str(path), "tiny-sd3", adapter_id="test-sd3")
    sd3 = model_classes["image"](preset="tiny-sd3")

    def sd3_pixels(**fields) -> np.ndarray:
        job = ImageRequest(prompt="a fox", seed=5, preset="tiny-sd3", **fields).resolve("tiny")
        return np.asarray(Image.open(io.BytesIO(list(sd3.generate.local(job))[-1]["files"][0]["data"])))

    base = sd3_pixels()
    adapted = sd3_pixels(loras=[lora("test-sd3")])
    assert np.abs(adapted.astype(int) - base.astype(int)).mean() > 1
    assert np.array_equal(sd3_pixels(), base)
    with pytest.raises(RequestError, match="tiny-sd3"):  # a tiny adapter names the presets it fits
        ImageRequest(prompt="a fox", preset="tiny-sd3", loras=[lora("test-a")]).resolve("tiny")


def test_an_adapter_on_a_fused_model_unfuses_it_first(model_classes, adapters, monkeypatch):
    """Adapters patch the separate q/k/v projections, which fused attention never calls: a preset
    with fuse_qkv unfuses at its first adapter, and then gives the adapted image of an unfused model."""
    from dataclasses import replace

    from models.common.speed import SpeedOptions
    from models.presets import IMAGE_PRESETS

    monkeypatch.setitem(IMAGE_PRESETS, "tiny-fused", replace(IMAGE_PRESETS["tiny"], name="tiny-fused",
                                                             speed=SpeedOptions(fuse_qkv=True)))
    fused = model_classes["image"](preset="tiny-fused")
    plain = model_classes["image"](preset="tiny")

    def close(a, b):
        return np.abs(a.astype(int) - b.astype(int)).max() <= 1

    assert close(pixels(fused, preset="tiny-fused"), pixels(plain))
    adapted = pixels(plain, loras=[lora("test-a")])
    assert close(pixels(fused, preset="tiny-fused", loras=[lora("test-a")]), adapted)
    assert close(pixels(fused, preset="tiny-fused"), pixels(plain))  # and the base after it
