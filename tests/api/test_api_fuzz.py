"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis): valid and
invalid requests for every operation, against a real server; none may get a 5xx, and every
answer must be one the document describes. A test-double backend answers at once (images, music,
a tiny real MP4 for video, annotations), so this takes seconds. Examples are derandomized: the
same inputs each run, so a failure reproduces.

Drawn from the schema alone, a picture is a random string and a result id a random one, so the
routes that take pictures or ids (videos, jobs of every kind, controls and references on images,
annotate, a result's Vary and Upscale) would only ever be refused; a second test draws them the
same way, then puts real pictures in their picture fields and saved results' ids in their paths,
so they reach the model."""

from __future__ import annotations

import base64
import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from models.common.events import result_event
from tests.support.api_doubles import InstantBackendDouble, serving
from ui.settings import API_ENV_VARS
from ui.store import ResultStore
from ui.web import create_app

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ResultStore(tmp_path_factory.mktemp("fuzz-store"))


@pytest.fixture(scope="module")
def server(store):
    with pytest.MonkeyPatch.context() as env:
        for name in API_ENV_VARS:
            env.delenv(name, raising=False)
        env.setenv("ATELIER_RATE_LIMIT", "0")  # the fuzzer is one client sending hundreds of requests
        env.setenv("ATELIER_GENERATION_RATE_LIMIT", "0")
        app = create_app(InstantBackendDouble(), store)
    with serving(app) as base:
        yield base


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_gets_a_server_error_or_an_undocumented_answer(server, mode):
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    calls = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            calls.append(case.operation.label)
            case.call_and_validate(base_url=server, checks=[not_a_server_error, status_code_conformance,
                                                            response_schema_conformance])

        try:
            fuzz()
        except Unsatisfiable:  # nothing in this operation's schema can be broken (e.g. a free-form string id)
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert len(calls) >= 3 * len(operations)


# --- the routes that take pictures and result ids, given real ones ------------------------------------

GUIDED = {"/api/v1/images", "/api/v1/videos", "/api/v1/jobs", "/api/v1/annotate", "/api/v1/results/{result_id}/vary",
          "/api/v1/results/{result_id}/upscale"}


def _picture(size: tuple[int, int], mode: str = "RGB", fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.effect_noise(size, 40).convert(mode).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


PICTURES = [_picture((64, 64)), _picture((96, 64), "RGBA"), _picture((64, 32), "L", "JPEG"), _picture((30, 300), fmt="WEBP")]


@pytest.fixture(scope="module")
def saved(store) -> dict[str, str]:
    """Ids of results in the server's store, by kind (an image of two pictures, a clip); music's
    result stands for a result that is no image."""
    image = {"kind": "image", "model": {"preset": "tiny"}, "seed": 1,
             "parameters": {"prompt": "a fox", "preset": "tiny", "steps": 1, "guidance": 0.0, "width": 8, "height": 8}}
    picture = base64.b64decode(PICTURES[0])  # 64×64: an upscale's smallest
    pictures = [{"name": f"image-{i}.png", "mime": "image/png", "data": picture} for i in range(2)]
    music = {"kind": "music", "model": {"preset": "tiny"}, "seed": 1, "parameters": {"prompt": "a fox"}}
    wav = [{"name": "music.wav", "mime": "audio/wav", "data": b"RIFF\x04\x00\x00\x00WAVE"}]
    return {"image": store.save(result_event(pictures, image)).record["id"],
            "music": store.save(result_event(wav, music)).record["id"]}


def with_real_inputs(data: st.DataObject, case, saved: dict[str, str]) -> None:
    """Often, a real picture in each picture field of the case's body, a saved result's id in its path
    and `image_result` fields, one picture where the schema let both be drawn, and the server's own
    preset: what the schema alone can't draw."""
    ids = st.sampled_from([saved["image"], saved["image"], saved["music"]])
    if "result_id" in (case.path_parameters or {}) and data.draw(st.integers(0, 3)):
        case.path_parameters["result_id"] = data.draw(ids)

    def picture_for(holder: dict) -> None:
        """A guide or an annotation without a picture (the schema can't say it needs one) often gets one."""
        if holder.get("image") is None and holder.get("image_result") is None and data.draw(st.integers(0, 3)):
            holder["image"] = data.draw(st.sampled_from(PICTURES))

    def fill(value):
        if isinstance(value, list):
            for item in value:
                fill(item)
        elif isinstance(value, dict):
            if {"image", "image_result"} <= value.keys() and data.draw(st.integers(0, 3)):
                del value[data.draw(st.sampled_from(["image", "image_result"]))]
            if isinstance(value.get("preset"), str) and data.draw(st.integers(0, 1)):
                del value["preset"]
            for guide in (g for name in ("controls", "references") for g in value.get(name) or [] if isinstance(g, dict)):
                picture_for(guide)
            for key, inner in value.items():
                if key in ("image", "mask") and isinstance(inner, str) and data.draw(st.integers(0, 3)):
                    value[key] = data.draw(st.sampled_from(PICTURES))
                elif key == "image_result" and isinstance(inner, str) and data.draw(st.integers(0, 1)):
                    value[key] = data.draw(ids)
                else:
                    fill(inner)

    if case.operation.path.endswith("/annotate") and isinstance(case.body, dict):
        picture_for(case.body)
    fill(case.body)


def test_videos_guides_and_follow_ups_with_real_pictures_and_ids_get_no_server_error(server, saved):
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if op.method.upper() == "POST" and op.path in GUIDED]
    assert {op.path for op in operations} == GUIDED
    answers: dict[str, list[int]] = {op.path: [] for op in operations}

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE), data=st.data())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case, data):
            with_real_inputs(data, case, saved)
            response = case.call_and_validate(base_url=server, checks=[not_a_server_error, status_code_conformance,
                                                                      response_schema_conformance])
            answers[case.operation.path].append(response.status_code)

        fuzz()
    # Worth something only if real pictures and ids take each route past its checks to the model.
    reached = {path: sum(200 <= status < 300 for status in statuses) for path, statuses in answers.items()}
    assert all(reached.values()), answers
