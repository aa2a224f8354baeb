"""Guided images on the tiny models: controls (ControlNets), references (IP-Adapter), vary and
upscale; the annotators on pictures drawn here; and bad guides refused with one sentence while the
model goes on serving others."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.common.batching import Batch
from models.common.errors import RequestError
from models.common.recipes import control_units, recipe_from_png, reference_units
from models.image import annotators, guide_request, guides, tiles
from models.image.generator import ImageGenerator, batch_key
from models.requests import ImageRequest, parse
from tests.support.images import placed_generator


@pytest.fixture(scope="module")
def tiny() -> ImageGenerator:
    return placed_generator("tiny")


@pytest.fixture(scope="module")
def tiny_sd3() -> ImageGenerator:
    return placed_generator("tiny-sd3")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def square(size: int = 64, box: tuple = (16, 16, 47, 47)) -> Image.Image:
    """A white square on black."""
    picture = Image.new("RGB", (size, size), "black")
    ImageDraw.Draw(picture).rectangle(box, fill="white")
    return picture


def make(model: ImageGenerator, preset: str = "tiny", **fields) -> tuple[np.ndarray, dict, bytes]:
    """One request alone: its first image's pixels, its record and its PNG file."""
    job = ImageRequest(prompt="a fox", seed=fields.pop("seed", 3), **fields).resolve(preset)
    (result,) = model._run_batch(Batch([job], [lambda *a, **k: None]))
    data = result["files"][0]["data"]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), result["record"], data


# --- annotators ------------------------------------------------------------------------------


def test_a_drawn_squares_canny_edges_are_its_outline(tiny):
    edges = np.asarray(tiny.guides.annotate(square(), "canny").convert("L")) > 0
    outline = np.zeros_like(edges)
    outline[15:49, 15:49] = True
    outline[18:46, 18:46] = False  # a ring a couple of pixels either side of the square's border
    assert edges.any() and not edges[~outline].any()  # every edge pixel lies on the outline
    for side in (edges[16, 20:44], edges[47, 20:44], edges[20:44, 16], edges[20:44, 47]):
        assert side.mean() > 0.9 or edges[15:18, 20:44].any()  # and each side is found
    assert not edges[20:44, 20:44].any() and not edges[:10].any()


def test_annotations_are_cached_per_picture_and_mode(tiny):
    first = tiny.guides.annotate(square(), "depth")
    calls = []
    original = tiny.guides.annotators._make
    tiny.guides.annotators._make = lambda *a: calls.append(a) or original(*a)  # counts the work done
    try:
        again = tiny.guides.annotate(square(), "depth")
        tiny.guides.annotate(square(), "softedge")
    finally:
        tiny.guides.annotators._make = original
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert [mode for _, mode in calls] == ["softedge"]  # the depth map came from the cache


@pytest.mark.parametrize("mode", ["depth", "normal", "pose", "softedge", "scribble", "tile", "blur"])
def test_every_annotator_makes_a_picture_of_the_pictures_size(tiny, mode):
    picture = square(64).resize((64, 48))
    made = tiny.guides.annotate(picture, mode)
    assert made.mode == "RGB" and made.size == (64, 48)


@pytest.mark.parametrize("mode", ["depth", "normal", "pose", "softedge", "scribble"])
@pytest.mark.parametrize("size", [(30, 300), (300, 30)])
def test_a_thin_picture_is_annotated_too(tiny, mode, size):
    """Found by tests/generation/test_no_5xx.py: keeping a thin picture's shape, the depth processor
    rounded its short side to 0 pixels and failed (a 502)."""
    made = tiny.guides.annotate(square(64).resize(size), mode)
    assert made.mode == "RGB" and made.size == size


def test_depth_spans_black_to_white_and_its_normals_face_the_viewer_where_it_is_flat(tiny):
    depth = np.asarray(tiny.guides.annotate(square(), "depth").convert("L"))
    assert (depth.min(), depth.max()) == (0, 255)
    assert annotators.normals(np.full((8, 8), 200, np.uint8))[4, 4].tolist() == [128, 128, 255]


def test_pose_sticks_join_the_keypoints_in_openposes_colours():
    keypoints = np.zeros((17, 2), np.float32)
    keypoints[5], keypoints[6] = (40, 20), (20, 20)  # shoulders: the neck between them at (30, 20)
    keypoints[0] = (30, 10)  # the nose, above the neck
    scores = np.zeros(17, np.float32)
    scores[[0, 5, 6]] = 1.0
    drawn = annotators.draw_pose(keypoints, scores, (64, 64))
    assert drawn[15, 30].any()  # on the neck–nose limb
    assert drawn[20, 25].any() and drawn[20, 35].any()  # on the shoulder limbs
    assert not drawn[50:].any()  # nothing where no keypoint was seen
    assert tuple(drawn[10, 30]) == (255, 0, 0)  # the nose's joint, OpenPose's first colour


# --- controls --------------------------------------------------------------------------------


def test_a_control_at_scale_0_gives_the_same_pixels_as_no_control(tiny):
    plain, _, _ = make(tiny)
    zero, record, _ = make(tiny, controls=[{"mode": "canny", "image": png(square()), "scale": 0}])
    guided, _, _ = make(tiny, controls=[{"mode": "canny", "image": png(square())}])
    assert np.array_equal(plain, zero)
    assert not np.array_equal(plain, guided)
    assert record["guides"]["controls"][0]["mode"] == "canny"


def test_three_controls_combine_with_img2img_inpainting_and_references(tiny):
    controls = [{"mode": "depth", "image": png(square())}, {"mode": "pose", "image": png(square()), "scale": 0.5,
                "start": 0.2, "end": 0.8}, {"mode": "lines", "image": png(square()), "preprocess": False}]
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    inpainted, record, _ = make(tiny, controls=controls, image=png(square()), mask=png(mask),
                                references=[{"image": png(square())}])
    assert np.array_equal(inpainted[:, 32:], np.asarray(square())[:, 32:])  # kept outside the mask
    assert [c["mode"] for c in record["guides"]["controls"]] == ["depth", "pose", "lines"]
    assert record["guides"]["references"][0]["scale"] == 0.6 and record["input"]["mode"] == "inpainting"


def test_controls_record_their_pictures_hashes_and_the_png_recipe_carries_them_as_a1111_does(tiny):
    _, record, data = make(tiny, controls=[{"mode": "canny", "image": png(square()), "scale": 0.8, "end": 0.5}])
    (control,) = record["guides"]["controls"]
    assert control == {"mode": "canny", "scale": 0.8, "start": 0.0, "end": 0.5, "preprocess": True,
                       "image_sha256": control["image_sha256"]} and len(control["image_sha256"]) == 64
    text = Image.open(io.BytesIO(data)).text["parameters"]
    assert 'ControlNet 0: "Module: canny, Model: canny, Weight: 0.8, Guidance Start: 0, Guidance End: 0.5' in text
    recipe = recipe_from_png(data)  # still a request another form can fill in
    assert "controls" not in recipe and recipe["prompt"] == "a fox"
    assert parse("image", recipe).prompt == "a fox"


def test_references_go_in_the_png_recipe_beside_the_controls_by_their_pictures_hashes(tiny):
    _, record, data = make(tiny, controls=[{"mode": "canny", "image": png(square())}],
                           references=[{"image": png(square(64).rotate(90)), "scale": 0.9}])
    (reference,) = record["guides"]["references"]
    assert reference_units(data) == [{"scale": 0.9, "image_hash": reference["image_sha256"][:16]}]
    assert [unit["model"] for unit in control_units(data)] == ["canny"]


def test_the_first_controls_picture_sets_the_size_as_an_input_image_would():
    job = ImageRequest(prompt="a fox", controls=[{"mode": "canny", "image": png(square().resize((96, 64)))}]
                       ).resolve("tiny")
    assert (job.width, job.height) == (96, 64)


def test_tiny_sd3_takes_its_familys_controls_and_one_reference(tiny_sd3):
    plain, _, _ = make(tiny_sd3, "tiny-sd3")
    zero, _, _ = make(tiny_sd3, "tiny-sd3", controls=[{"mode": "depth", "image": png(square()), "scale": 0}])
    guided, _, _ = make(tiny_sd3, "tiny-sd3", controls=[{"mode": "canny", "image": png(square())},
                                                         {"mode": "blur", "image": png(square())}],
                        references=[{"image": png(square()), "scale": 0.9}])
    after, _, _ = make(tiny_sd3, "tiny-sd3")
    assert np.array_equal(plain, zero) and np.array_equal(plain, after)
    assert not np.array_equal(plain, guided)


# --- references ------------------------------------------------------------------------------


def test_references_move_the_image_each_at_its_scale_and_leave_later_requests_alone(tiny):
    plain, _, _ = make(tiny)
    one, _, _ = make(tiny, references=[{"image": png(square())}])
    two, _, _ = make(tiny, references=[{"image": png(square())}, {"image": png(square().rotate(90)), "scale": 1.2}])
    zero, _, _ = make(tiny, references=[{"image": png(square()), "scale": 0}])
    after, _, _ = make(tiny)
    assert not np.array_equal(plain, one) and not np.array_equal(one, two)
    assert np.array_equal(plain, zero) and np.array_equal(plain, after)


# --- vary and upscale ------------------------------------------------------------------------


def test_vary_is_image_to_image_at_its_strength_and_records_its_parent(tiny):
    subtle = ImageRequest(prompt="a fox", image=png(square()), vary="subtle", parent="abc123").resolve("tiny")
    strong = ImageRequest(prompt="a fox", image=png(square()), vary="strong").resolve("tiny")
    assert (subtle.strength, strong.strength) == (0.35, 0.7)
    _, record, data = make(tiny, image=png(square()), vary="subtle", parent="abc123")
    assert record["lineage"] == {"parent": "abc123", "action": "vary-subtle"}
    assert {"vary", "parent"}.isdisjoint(recipe_from_png(data))


def test_upscale_doubles_the_picture_in_tiles_and_keeps_its_content(tiny):
    picture = square(48, (12, 12, 35, 35))
    image, record, _ = make(tiny, image=png(picture), upscale=True, strength=0.2)
    assert image.shape == (96, 96, 3) and record["lineage"]["action"] == "upscale"
    assert len(tiles.layout((96, 96), 64)) == 4
    assert record["parameters"]["width"] == 96 and record["parameters"]["strength"] == 0.2


def test_tiles_cover_the_picture_and_blend_back_to_it_when_each_is_drawn_unchanged():
    assert tiles.starts(128, 64) == [0, 48, 64] and tiles.starts(48, 64) == [0]
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 120, 3), np.uint8))
    assert np.array_equal(np.asarray(tiles.redraw(picture, 64, lambda tile, index: tile)), np.asarray(picture))


def test_an_upscale_too_large_to_fit_is_refused():
    with pytest.raises(RequestError, match="upscale pictures up to 1024 px"):
        guide_request.upscaled_size((1040, 512))


def test_an_upscale_too_small_for_the_models_is_refused():
    """Found by tests/api/test_api_fuzz.py: an 8×8 picture's upscale asked the model for 16×16 (a 500)."""
    with pytest.raises(RequestError, match="upscale pictures at least 32 px a side"):
        ImageRequest(prompt="a fox", image=png(square(64).resize((8, 40))), upscale=True).resolve("tiny")
    assert guide_request.upscaled_size((30, 300)) == (64, 600)


# --- bad guides: one sentence, and the model serves the next request ---------------------------


@pytest.mark.parametrize(("fields", "message"), [
    ({"controls": [{"mode": "canny", "image": b"GIF89a not a picture"}]}, "GIF"),
    ({"controls": [{"mode": "canny", "image": "@@@"}]}, "Control 1 image must be a base64"),
    ({"controls": [{"mode": "sketch", "image": b"x"}]}, "Control 1 mode: should be 'canny'"),
    ({"controls": [{"mode": "canny", "image": b"x", "scale": 3}]}, "less than or equal to 2"),
    ({"controls": [{"mode": "canny", "image": png(square()), "start": 0.6, "end": 0.5}]}, "start before it ends"),
    ({"controls": [{"mode": "canny", "image": b"x"}] * 4}, "at most 3"),
    ({"references": [{"image": b"x"}] * 5}, "at most 4"),
    ({"vary": "wild"}, "Vary"),
    ({"controls": [{"mode": "canny"}]}, "Control 1 needs its picture: send image or image_result"),
    ({"references": [{"image": png(square()), "image_result": "abc"}]}, "Reference 1 needs its picture"),
])
def test_malformed_guides_are_refused_with_a_sentence(fields, message):
    with pytest.raises(RequestError, match=message) as refused:
        parse("image", {"prompt": "a fox", **fields})
    assert "\n" not in str(refused.value) and "Traceback" not in str(refused.value)


def _request(preset: str, controls=(), references: int = 0, image: bool = False, **fields):
    """A parsed request: controls as (mode, picture size, preprocess)."""
    data = {"prompt": "a fox", "preset": preset, **fields, "references": [{"image": png(square())}] * references,
            "controls": [{"mode": mode, "image": png(square().resize(size)), "preprocess": preprocess}
                         for mode, size, preprocess in controls]}
    if image:
        data["image"] = png(square())
    return parse("image", data)


@pytest.mark.parametrize(("preset", "fields", "message"), [
    ("tiny-sd3", {"controls": [("pose", (64, 64), True)]},
     "tiny-sd3 has no pose control: its controls are canny, depth, blur."),
    ("tiny", {"controls": [("blur", (64, 64), True)]}, "tiny has no blur control"),
    ("tiny", {"controls": [("segmentation", (64, 64), True)]}, "send the segmentation picture ready-made"),
    ("tiny", {"controls": [("canny", (64, 64), True), ("canny", (64, 32), True)]},
     "Control 2's picture is 64×32 but the image is 64×64"),
    ("tiny-sd3", {"references": 2}, "at most 1 reference image at a time"),
    ("sd-turbo", {"references": 1}, "no IP-Adapter is published for Stable Diffusion 2.1"),
    ("tiny-sd3", {"controls": [("canny", (64, 64), True)], "image": True}, "work from text alone"),
    ("tiny", {"vary": "subtle"}, "Vary needs the image"),
    ("tiny", {"upscale": True, "image": True, "width": 128}, "Upscale takes the image alone"),
    ("tiny", {"vary": "subtle", "image": True, "strength": 0.5}, "not both"),
    ("sd3.5-large-turbo", {"controls": [("canny", (64, 64), True), ("depth", (64, 64), True), ("blur", (64, 64), True)]},
     "sd3.5-large-turbo takes at most 2 controls at a time (got 3)"),
])
def test_guides_the_preset_cant_take_are_refused_with_one_sentence(preset, fields, message):
    with pytest.raises(RequestError) as refused:
        _request(preset, **fields).resolve(preset)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_refused_guide_leaves_the_model_serving(tiny):
    job = ImageRequest(prompt="a fox", seed=3).resolve("tiny").model_copy(update={"controls": [
        guide_request.Control(mode="blur", image=png(square()))]})  # past the request's checks: a direct caller
    with pytest.raises(RequestError, match="tiny has no blur control"):
        tiny.batcher.submit(job, lambda *a, **k: None)
    image, _, _ = make(tiny)
    assert image.shape == (64, 64, 3)


def test_requests_with_the_same_guides_share_a_batch_and_others_run_apart():
    def job(**fields):
        return ImageRequest(**{"prompt": "a fox", "seed": 1, **fields}).resolve("tiny")

    canny = {"mode": "canny", "image": png(square())}
    assert batch_key(job(controls=[canny])) == batch_key(job(controls=[canny], seed=9))
    assert batch_key(job(controls=[canny])) != batch_key(job(controls=[canny | {"scale": 0.5}]))
    assert batch_key(job(controls=[canny])) != batch_key(job())
    assert batch_key(job(references=[{"image": png(square())}])) != batch_key(job())


def test_the_annotate_method_checks_its_picture_and_mode(tiny):
    made = Image.open(io.BytesIO(tiny.annotate(png(square()), "canny")))
    assert made.size == (64, 64)
    with pytest.raises(RequestError, match="GIF"):
        tiny.annotate(b"GIF89a....", "canny")
    with pytest.raises(RequestError, match="tiny has no blur control"):
        tiny.annotate(png(square()), "blur")


def test_the_library_lists_each_presets_modes_and_what_is_installed(tiny):
    listing = guides.listing("tiny")
    assert [c["mode"] for c in listing["controls"]][:3] == ["canny", "depth", "pose"]
    assert next(c for c in listing["controls"] if c["mode"] == "canny")["installed"]  # built by the tests above
    assert listing["references"]["max"] == 4
    assert guides.listing("sd-turbo")["references"] is None
    assert [c["mode"] for c in guides.listing("sd3.5-large-turbo")["controls"]] == ["canny", "depth", "blur"]


def test_a_result_id_in_place_of_a_guides_picture_is_for_the_web_side_to_swap():
    for guide in ({"controls": [{"mode": "canny", "image_result": "abc123"}]},
                  {"references": [{"image_result": "abc123"}]}):
        request = parse("image", {"prompt": "a fox", **guide})
        with pytest.raises(RequestError, match="image_result can only be used through the web API"):
            request.resolve("tiny")


def test_controlnets_past_the_presets_max_controls_are_unloaded_least_recently_used_first(tiny, monkeypatch):
    """Three one-mode ControlNets (as sd2's and SD3.5's are) and room for two: the one the batch doesn't
    need and least recently used goes, with its pipelines, before another is loaded; back, it makes the
    same image."""
    from collections import OrderedDict
    from dataclasses import replace

    from models.common.weights import BuiltWeights

    nets = {mode: guides.ControlNet(BuiltWeights("models.random_weights.tiny_guides:build_tiny_controlnet",
                                                 f"tiny-controlnet-{mode}"), "sd", {mode: None})
            for mode in ("canny", "depth", "pose")}
    monkeypatch.setattr(tiny.guides, "set", replace(tiny.guides.set, controls=tuple(nets.values())))
    monkeypatch.setattr(tiny.guides, "nets", OrderedDict())
    monkeypatch.setattr(tiny.guides, "pipelines", {})
    monkeypatch.setattr(tiny.guides, "max_loaded", 2)

    def loaded() -> list[str]:
        return [next(m for m, n in nets.items() if n.weights == key[0]) for key in tiny.guides.nets]

    def control(mode: str) -> dict:
        return {"mode": mode, "image": png(square()), "preprocess": False}

    first, _, _ = make(tiny, controls=[control("canny")])
    make(tiny, controls=[control("depth")])
    assert loaded() == ["canny", "depth"]
    make(tiny, controls=[control("pose")])
    assert loaded() == ["depth", "pose"] and len(tiny.guides.pipelines) == 2
    again, _, _ = make(tiny, controls=[control("canny")])
    assert loaded() == ["pose", "canny"] and np.array_equal(first, again)
    make(tiny, controls=[control("depth"), control("canny")])  # both needed: pose goes, canny stays
    assert loaded() == ["depth", "canny"]


def test_the_annotate_method_runs_on_the_model_thread(tiny, monkeypatch):
    threads = []
    original = tiny.guides.annotators._make
    monkeypatch.setattr(tiny.guides.annotators, "_make",
                        lambda *a: threads.append(__import__("threading").current_thread().name) or original(*a))
    tiny.annotate(png(square(64, (8, 8, 30, 50))), "canny")
    assert len(threads) == 1 and threads[0].startswith("atelier-batcher-tiny")
