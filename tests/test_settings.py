"""The ATELIER_* settings (ui/settings.py): declared once, and everything people read about them
(the README's table, `atelier serve --help`, the message about a malformed value) comes from
that declaration. Behaviour of each setting is tested where it acts (tests/api, tests/store)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ui.settings import ELSEWHERE, GROUPS, ApiSettings, ModerationSettings, StoreSettings, env_name, readme_table

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {env_name(name): group for group in GROUPS for name in group.model_fields}
SECRETS = {"ATELIER_API_TOKENS": "tok-3f9a", "ATELIER_STUDIO_TOKEN": "studio-77c1", "ATELIER_WEBHOOK_SECRET": "hook-e02b",
           "ATELIER_ADMIN_TOKEN": "admin-5d21"}


def test_the_readme_table_is_the_one_the_declaration_prints():
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- settings table: .*? -->\n(.*?)\n<!-- end of the settings table -->", readme, re.S)
    assert found, "README.md has no settings table between its markers"
    assert found.group(1) == readme_table(), "the README's settings table is stale: paste `python -m ui.settings`"
    for name in [*DECLARED, *(e.name for e in ELSEWHERE)]:
        assert f"| `{name}` |" in found.group(1), name


def _names_read(paths: list[Path]) -> set[str]:
    """Every string constant in the code that is exactly an ATELIER_* name: what it reads or sets."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"ATELIER_[A-Z0-9_]+", node.value):
                names.add(node.value)
    return names


def test_every_variable_the_code_reads_is_in_the_table_and_nothing_else_is():
    """ui/ reads its settings only through the declaration (no ATELIER_* literal of its own; the
    doctor names app.py's deploy and image variables to check them, and reads no setting);
    models/ and app.py, which run where ui/ is not installed, read theirs by name, and those
    names are exactly ELSEWHERE plus the declared ones app.py sets or reads at deploy time."""
    assert _names_read([p for p in sorted((ROOT / "ui").rglob("*.py")) if p.name not in ("settings.py", "doctor.py")]) == set()
    elsewhere_code = _names_read([ROOT / "app.py", *sorted((ROOT / "models").rglob("*.py"))])
    listed = {e.name for e in ELSEWHERE}
    assert elsewhere_code - set(DECLARED) == listed
    assert not listed & set(DECLARED)


def test_serve_help_lists_the_servers_settings_and_no_secret_set_in_the_environment():
    out = subprocess.run([sys.executable, "-m", "ui.cli", "serve", "--help"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, **SECRETS})
    assert out.returncode == 0, out.stderr
    for name, group in DECLARED.items():
        if group in (StoreSettings, ApiSettings, ModerationSettings):
            assert f"  {name} " in out.stdout, name
    assert "Default: 120." in out.stdout and "Default: 20G." in out.stdout  # ATELIER_RATE_LIMIT, _RESULTS_MAX_SIZE
    assert not any(secret in out.stdout + out.stderr for secret in SECRETS.values())


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_a_malformed_value_is_one_sentence_naming_the_variable_and_what_is_valid(name, monkeypatch):
    """Every setting either takes a junk value or refuses it in the declaration's own words,
    never pydantic's; a secret's value is never repeated."""
    group = DECLARED[name]
    for other in DECLARED:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, " x=1;y ")
    try:
        group.from_env()
    except ValueError as e:
        shown = "" if name in SECRETS else "='x=1;y'"
        assert re.fullmatch(rf"{name}{re.escape(shown)} is not valid: [a-z0-9][^.]*(\.[^.]+)*\.", str(e)), str(e)
        assert "validation error" not in str(e).lower() and "input" not in str(e)


def test_a_secrets_value_is_never_in_the_message_or_the_settings_repr(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    message = ApiSettings.malformed({"loc": ("webhook_secret",), "msg": "not a key"})
    assert message == "ATELIER_WEBHOOK_SECRET is not valid: not a key."
    settings = ApiSettings.from_env()
    assert settings.webhook_secret == "hook-e02b" and not any(v in repr(settings) for v in SECRETS.values())


def test_blank_is_unset_and_values_are_read_as_the_declaration_says(monkeypatch):
    monkeypatch.setenv("ATELIER_STUDIO_TOKEN", "   ")
    monkeypatch.setenv("ATELIER_RATE_LIMIT", "")
    monkeypatch.setenv("ATELIER_CLIENT_IP_HEADER", " X-Forwarded-For ")
    monkeypatch.setenv("ATELIER_PUBLIC_URL", "https://s.example/")
    monkeypatch.setenv("ATELIER_WEBHOOK_ALLOW_PRIVATE", "1")
    settings = ApiSettings.from_env()
    assert settings.studio_token is None and settings.rate_limit == 120
    assert settings.client_ip_header == "x-forwarded-for" and settings.public_url == "https://s.example"
    assert settings.webhook_allow_private is True
    monkeypatch.setenv("ATELIER_RESULTS_SYNC_INTERVAL", "0")
    monkeypatch.setenv("ATELIER_RESULTS_DB", "~/elsewhere.db")
    store = StoreSettings.from_env()
    assert store.results_sync_interval == 0 and store.results_db == Path("~/elsewhere.db").expanduser()
