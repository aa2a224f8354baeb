"""The image tab's Guide panel at Gradio's level (no browser): what a dropped PNG's guides put back in it.
The browser tests (tests/studio/test_browser_guides.py) drive the same panel through a page."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from models.common.recipes import png_bytes
from ui.generation import shelf
from ui.studio.guide_panel import GuidePanel


def picture(colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def panel() -> GuidePanel:
    with gr.Blocks():
        return GuidePanel.build("tiny")


def recipe_png(controls: list[dict], references: list[dict]) -> bytes:
    """A PNG whose recipe names these guides, as the image model writes it."""
    parameters = {"prompt": "a fox", "steps": 1, "guidance": 0.0, "seed": 1, "width": 64, "height": 64,
                  "preset": "tiny", "controls": controls, "references": references}
    return png_bytes(Image.new("RGB", (64, 64)), parameters)


def test_a_dropped_pngs_reference_comes_back_with_its_scale_and_its_picture_while_at_hand(panel):
    style, edges = picture("teal"), picture("black")
    for data in (style, edges):
        shelf.put(hashlib.sha256(data).hexdigest(), data)
    control = {"mode": "canny", "scale": 0.7, "start": 0.0, "end": 1.0, "preprocess": True,
               "image_sha256": hashlib.sha256(edges).hexdigest()}
    reference = {"scale": 0.9, "image_sha256": hashlib.sha256(style).hexdigest()}
    updates = panel.from_png("tiny", recipe_png([control], [reference]))
    assert updates[panel.reference_scale] == 0.9
    assert Path(updates[panel.reference]).read_bytes() == style
    assert updates[panel.mode] == "canny" and updates[panel.scale] == 0.7  # the control, as before, beside it


def test_a_reference_no_longer_at_hand_keeps_its_scale_and_says_so(panel):
    gone = {"scale": 1.2, "image_sha256": "0f" * 32}
    with pytest.warns(UserWarning, match="reference picture isn't at hand"):
        updates = panel.from_png("tiny", recipe_png([], [gone]))
    assert updates[panel.reference_scale] == 1.2 and updates[panel.reference] is None
    assert panel.mode not in updates  # no control: the panel's own is left as it is


# --- up to three controls --------------------------------------------------------------------------


def test_add_another_control_shows_the_second_then_the_third_slot_and_then_goes(panel):
    second, third = panel.extras
    shown = panel.another(1)
    assert shown[panel.shown] == 2 and shown[second.slot]["visible"] and not shown[third.slot]["visible"]
    assert shown[panel.more]["visible"]
    shown = panel.another(shown[panel.shown])
    assert shown[panel.shown] == 3 and shown[third.slot]["visible"] and not shown[panel.more]["visible"]
    assert panel.another(3)[panel.shown] == 3  # no fourth: the request schema takes three


def test_each_control_slot_with_a_picture_and_a_mode_is_a_control(tmp_path):
    from ui.studio.guide_panel import guide_fields

    (tmp_path / "edges.png").write_bytes(picture("black"))
    edges = {"path": str(tmp_path / "edges.png")}
    fields = guide_fields("canny", edges, None, False, 0.8, None, None,
                          "depth", edges, False, 0.5,  # the second slot
                          "lines", edges, False, 0.3)  # the third: lines has no annotator here, as it is
    assert [(c["mode"], c["scale"], c["preprocess"]) for c in fields["controls"]] == [
        ("canny", 0.8, True), ("depth", 0.5, True), ("lines", 0.3, False)]
    assert all(c["image"] == picture("black") for c in fields["controls"])
    only_second = guide_fields("canny", None, None, False, 1.0, None, None, "pose", edges, True, 1.0, "depth", None, False, 1.0)
    assert [(c["mode"], c["preprocess"]) for c in only_second["controls"]] == [("pose", False)]  # empty slots left out


def test_a_dropped_pngs_three_controls_fill_three_slots(panel):
    edges = picture("black")
    shelf.put(hashlib.sha256(edges).hexdigest(), edges)
    controls = [{"mode": mode, "scale": scale, "start": 0.0, "end": 1.0, "preprocess": True,
                 "image_sha256": hashlib.sha256(edges).hexdigest()} for mode, scale in
                (("canny", 0.8), ("depth", 0.5), ("pose", 0.3))]
    updates = panel.from_png("tiny", recipe_png(controls, []))
    second, third = panel.extras
    assert (updates[panel.mode], updates[second.mode], updates[third.mode]) == ("canny", "depth", "pose")
    assert (updates[second.scale], updates[third.scale]) == (0.5, 0.3)
    assert Path(updates[third.picture]).read_bytes() == edges
    assert updates[panel.shown] == 3 and updates[third.slot]["visible"] and not updates[panel.more]["visible"]
