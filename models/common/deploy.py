"""The names a deploy of app.py chooses (the app's, its Secrets'; and the safety switch), checked against Modal's rule
before anything is created, and the Volume names the app's name makes.

Here rather than in app.py because each GPU container's import of app.py needs them and ships
models/ only; nothing here imports Modal. app.py says why the choices travel in every image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEPLOY_SETTINGS = ("ATELIER_APP_NAME", "ATELIER_HF_SECRET", "ATELIER_API_SECRET")
# Chosen at deploy the same way, with a public deployment's default: images safety-checked
# (models/image/safety.py reads it in every container).
MODEL_SETTINGS = {"ATELIER_SAFETY": "on"}
SWITCH = {"on": True, "off": False, "1": True, "0": False}  # what an on/off setting may say
DEFAULT_APP_NAME = "atelier"
VOLUMES = ("weights", "results")
# Modal's rule for App, Volume and Secret names, as its error states it (tests/test_app_doctor.py).
MODAL_NAME = re.compile(r"(?!ap-[a-zA-Z0-9]{22}$)[a-zA-Z0-9._-]{1,64}")
NAME_RULE = "letters, digits, '-', '_' and '.' only, at most 64 characters"


def volume_name(app_name: str, purpose: str) -> str:
    """A deployment's own Volume: `atelier-weights` for the default app, `atelier-staging-weights`
    for ATELIER_APP_NAME=atelier-staging, so a second deployment never writes the first's index."""
    return f"{app_name}-{purpose}"


def deploy_choices(env: Mapping[str, str]) -> dict[str, str]:
    """The deploy settings that are set, each checked against Modal's naming rule, and the
    Volume names the app's name makes: a bad one stops `modal deploy` with one sentence."""
    chosen = {name: env[name].strip() for name in DEPLOY_SETTINGS if env.get(name, "").strip()}
    for name, value in chosen.items():
        if not MODAL_NAME.fullmatch(value):
            raise SystemExit(f"{name}={value!r} is not a name Modal accepts: {NAME_RULE}.")
    chosen |= {name: env.get(name, "").strip().lower() or default for name, default in MODEL_SETTINGS.items()}
    if chosen["ATELIER_SAFETY"] not in SWITCH:
        raise SystemExit(f"ATELIER_SAFETY={chosen['ATELIER_SAFETY']!r} is not valid: on or off.")
    app_name = chosen.get("ATELIER_APP_NAME", DEFAULT_APP_NAME)
    for volume in (volume_name(app_name, purpose) for purpose in VOLUMES):
        if not MODAL_NAME.fullmatch(volume):
            raise SystemExit(f"ATELIER_APP_NAME={app_name!r} makes the Volume name {volume!r}, which Modal "
                             f"refuses: {NAME_RULE}.")
    return chosen
