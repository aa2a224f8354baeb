"""Moderation for a public deployment: Report on share pages, /admin for the deployment's owner
(token as a bearer token or once as ?admin_token=, which sets a cookie), Hide (a hidden result
404s for everyone but its owner), Delete, gallery review, a flagged result never published, and
the prompt blocklist. The whole app on a zero-latency test double of a backend (tests/support/servers.py)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from models.common.errors import RequestError
from models.requests import ImageRequest
from tests.support.pages import Page, stand_in_result
from tests.support.servers import FixedLatencyBackend
from ui.settings import API_ENV_VARS
from ui.store import ResultStore
from ui.web import create_app

ADMIN = "admin-token-7a6c2d"


@pytest.fixture
def site(tmp_path, monkeypatch):
    def make(**env: str):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        store = ResultStore(tmp_path / "store")
        return store, TestClient(create_app(FixedLatencyBackend(latency=0.0, steps=1), store),
                                 base_url="https://atelier.test", follow_redirects=False)

    return make


def saved(store: ResultStore, published: bool = True, **record) -> tuple[str, str]:
    event = stand_in_result("image", prompt="a lighthouse at dusk")
    event["record"].update(record)
    result = store.save(event)
    if published:
        store.set_published(result.record["id"], result.owner_token, True)
    return result.record["id"], result.owner_token


def bearer(token: str = ADMIN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def same_site() -> dict:
    return {"Origin": "https://atelier.test"}


# --- Report ---------------------------------------------------------------------------------------


def test_anyone_may_report_a_result_once_and_the_owner_of_the_site_sees_it(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN)
    rid, _ = saved(store)
    page = client.get(f"/r/{rid}")
    form = Page(page.text).find("form", action=f"/r/{rid}/report")
    assert form and form[0]["attrs"]["method"] == "post"
    thanks = client.post(f"/r/{rid}/report", data={"reason": "violence"})
    assert thanks.status_code == 200 and "Thanks for telling us" in thanks.text
    client.post(f"/r/{rid}/report", data={"reason": "hate"})  # the same address again: counted once
    other = client.post(f"/r/{rid}/report", data={"reason": "hate"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert other.status_code == 200
    (row,) = store.moderation.reported()
    assert row["record"]["id"] == rid and row["reports"] == 1  # no proxy header configured: one address
    admin = client.get("/admin", headers=bearer())
    assert admin.status_code == 200 and "Reported (1)" in admin.text and "Violence or gore" in admin.text


def test_reports_behind_a_proxy_count_each_visitor(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN, ATELIER_CLIENT_IP_HEADER="X-Forwarded-For")
    rid, _ = saved(store)
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
        client.post(f"/r/{rid}/report", data={"reason": "sexual"}, headers={"X-Forwarded-For": address})
    assert store.moderation.reported()[0]["reports"] == 2


@pytest.mark.parametrize(("rid", "data", "status"), [
    ("AAAAAAAAAAAAAAAA", {"reason": "other"}, 404), ("not-an-id", {"reason": "other"}, 404),
    (None, {"reason": "made-up"}, 400), (None, {}, 400),
])
def test_a_bad_report_gets_a_page_saying_so(site, rid, data, status):
    store, client = site()
    rid = rid or saved(store)[0]
    answer = client.post(f"/r/{rid}/report", data=data)
    assert answer.status_code == status and "<html" in answer.text and "Traceback" not in answer.text
    assert store.moderation.reported() == []


# --- who gets into /admin -----------------------------------------------------------------------


def test_without_an_admin_token_there_is_no_admin_page(site):
    _, client = site()
    assert client.get("/admin").status_code == 404
    assert client.get("/admin", headers=bearer()).status_code == 404


def test_the_admin_token_as_a_bearer_token_or_once_in_the_address(site):
    _, client = site(ATELIER_ADMIN_TOKEN=ADMIN)
    refused = client.get("/admin", headers=bearer("wrong"))
    assert refused.status_code == 401 and ADMIN not in refused.text
    assert client.get("/admin").status_code == 401
    assert client.get("/admin", headers=bearer()).status_code == 200
    opened = client.get(f"/admin?admin_token={ADMIN}")
    assert opened.status_code == 303 and opened.headers["location"] == "/admin"  # the token leaves the address
    cookie = opened.headers["set-cookie"]
    assert ADMIN not in cookie and re.search(r"(?i)httponly", cookie) and re.search(r"(?i)samesite=strict", cookie)
    assert re.search(r"(?i)path=/admin", cookie) and re.search(r"(?i)secure", cookie)
    assert client.get("/admin").status_code == 200  # the cookie, from now on
    assert client.get(f"/admin?admin_token={ADMIN}x").status_code == 200  # a wrong one changes nothing: the cookie holds


def test_with_the_studio_locked_admin_still_answers_to_its_own_token(site):
    _, client = site(ATELIER_ADMIN_TOKEN=ADMIN, ATELIER_STUDIO_TOKEN="studio-secret-1")
    assert client.get("/admin", headers=bearer()).status_code == 200


def test_an_action_from_another_site_is_refused(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN)
    rid, _ = saved(store)
    client.get(f"/admin?admin_token={ADMIN}")  # the cookie
    forged = client.post(f"/admin/{rid}/delete", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 401 and store.get(rid)
    assert client.post(f"/admin/{rid}/delete").status_code == 401  # no Origin, no Referer: refused too
    assert client.post(f"/admin/{rid}/delete", headers=same_site()).status_code == 303
    assert store.moderation.recent() == []


# --- Hide, Delete, Approve ---------------------------------------------------------------------------


def test_a_hidden_result_404s_for_everyone_but_its_owner(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN)
    rid, owner = saved(store)
    media = store.get(rid)["files"][0]["name"]
    assert client.post(f"/admin/{rid}/hide", headers=bearer()).status_code == 303
    for path in (f"/r/{rid}", f"/r/{rid}/cover.png", f"/r/{rid}/thumb.webp", f"/results/{rid}/{media}",
                 f"/api/v1/results/{rid}"):
        assert client.get(path).status_code == 404, path
    assert rid not in client.get("/gallery").text and client.get("/api/v1/results").json()["results"] == []
    mine = client.get(f"/api/v1/results/{rid}", headers={"X-Owner-Token": owner})
    assert mine.status_code == 200 and mine.json()["moderation"] == "hidden"
    assert client.get(f"/results/{rid}/{media}", headers={"X-Owner-Token": owner}).status_code == 200
    again = client.post(f"/api/v1/results/{rid}/publish", headers={"X-Owner-Token": owner})
    assert again.status_code == 403 and again.json()["error"]["message"] == (
        "This result was hidden by the owner of this site, so it can't be published.")
    assert "hidden" in client.get("/admin", headers=bearer()).text
    client.post(f"/admin/{rid}/unhide", headers=bearer())
    assert client.get(f"/r/{rid}").status_code == 200 and rid in client.get("/gallery").text


def test_the_owner_of_the_site_can_delete_any_result(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN)
    rid, _ = saved(store, published=False)
    assert client.post(f"/admin/{rid}/delete", headers=bearer()).status_code == 303
    assert client.get(f"/r/{rid}").status_code == 404 and len(store) == 0
    assert client.post(f"/admin/{rid}/delete", headers=bearer()).status_code == 404
    assert client.post(f"/admin/{rid}/explode", headers=bearer()).status_code == 404


def test_under_gallery_review_a_published_result_waits_for_approval(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN, ATELIER_GALLERY_REVIEW="1")
    rid, owner = saved(store, published=False)
    answer = client.post(f"/r/{rid}/publish", headers={"X-Owner-Token": owner})
    assert answer.json() == {"id": rid, "published": True, "waiting_for_review": True}
    assert rid not in client.get("/gallery").text and client.get("/api/v1/results").json()["results"] == []
    assert "Waiting for approval" in client.get(f"/r/{rid}").text
    admin = client.get("/admin", headers=bearer()).text
    assert f'action="/admin/{rid}/approve"' in admin
    client.post(f"/admin/{rid}/approve", headers=bearer())
    assert rid in client.get("/gallery").text and len(client.get("/api/v1/results").json()["results"]) == 1


def test_without_review_a_published_result_is_listed_at_once(site):
    store, client = site()
    rid, owner = saved(store, published=False)
    answer = client.post(f"/r/{rid}/publish", headers={"X-Owner-Token": owner})
    assert answer.json()["waiting_for_review"] is False and rid in client.get("/gallery").text


def test_dismissing_reports_forgets_them(site):
    store, client = site(ATELIER_ADMIN_TOKEN=ADMIN)
    rid, _ = saved(store)
    client.post(f"/r/{rid}/report", data={"reason": "other"})
    client.post(f"/admin/{rid}/dismiss", headers=bearer())
    assert store.moderation.reported() == [] and client.get(f"/r/{rid}").status_code == 200


# --- a result the safety checker flagged -----------------------------------------------------------


def test_a_flagged_result_is_never_published(site):
    store, client = site()
    flagged = {"checked": True, "flagged": [0], "message": "The image was flagged by the safety checker, so it is "
                                                           "shown blurred, and this result can't be published."}
    rid, owner = saved(store, published=False, safety=flagged)
    sentence = "The safety checker flagged this result, so it can't be published."
    api = client.post(f"/api/v1/results/{rid}/publish", headers={"X-Owner-Token": owner})
    assert api.status_code == 403 and api.json()["error"]["message"] == sentence
    page = client.post(f"/r/{rid}/publish", headers={"X-Owner-Token": owner})
    assert page.status_code == 403 and page.json()["error"] == {"code": "not_allowed", "message": sentence}
    assert store.get(rid)["published"] is False
    assert flagged["message"] in client.get(f"/r/{rid}").text  # its page says why it is blurred


# --- the prompt blocklist --------------------------------------------------------------------------


def test_a_blocklisted_prompt_gets_a_422_naming_the_term(site):
    store, client = site(ATELIER_PROMPT_BLOCKLIST="forbidden thing, nope")
    for prompt in ("a FORBIDDEN  thing at dawn", "Ｎｏｐｅ", "nöpe, really"):
        answer = client.post("/api/v1/images", json={"prompt": prompt})
        assert answer.status_code == 422, prompt
        assert answer.json()["error"]["message"].startswith("The prompt contains “")
    job = client.post("/api/v1/jobs", json={"kind": "music", "request": {"prompt": "nope"}})
    assert job.status_code == 422
    assert client.post("/api/v1/images", json={"prompt": "nopes and forbidden things"}).status_code == 201
    assert len(store) == 1


def test_the_blocklist_stands_in_front_of_every_way_in(monkeypatch):
    monkeypatch.setenv("ATELIER_PROMPT_BLOCKLIST", "nope")
    backend = FixedLatencyBackend(latency=0.0, steps=1)  # the studio, the API, jobs and the CLI all resolve here
    with pytest.raises(RequestError, match="“nope”"):
        backend.resolve(ImageRequest(prompt="Nope."))
