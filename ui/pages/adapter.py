"""An adapter's share page: what /r/{id} shows for a training's result (kind "training").

The result is the adapter the training made, so its page shows the adapter at work: the final
sample (the trigger phrase drawn with it) and the samples drawn as it trained, its recipe, and
*Use this adapter*, which opens the studio's Image tab with the adapter picked and the trigger
phrase as the prompt. Never the pictures it was trained on: the result doesn't keep them (its
record keeps their hashes), and the page says only how many there were.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fasthtml.common import A, Figcaption, Figure, Img, Li, Ol

from ui.generation import adapter_use
from ui.pages.layout import files_of, loras_text
from ui.urls import media_path

LABEL = "LoRA adapter"


def trigger_of(record: dict) -> str:
    return (record.get("adapter") or {}).get("trigger") or record.get("parameters", {}).get("trigger", "")


def use_link(record: dict) -> str:
    """The studio's Image tab with the adapter picked, its trigger phrase as the prompt, its preset."""
    fields = adapter_use(record)
    return "/?" + urlencode([("kind", "image"), ("prompt", fields["prompt"]), ("preset", fields["preset"]),
                             ("loras", loras_text(fields["loras"]))])


def adapter_figure(record: dict) -> Figure:
    """The final sample, large, then the samples drawn as it trained, each under its step."""
    rid, trigger = record["id"], trigger_of(record)
    side = record.get("parameters", {}).get("resolution")
    size = {"width": side, "height": side} if side else {}
    steps = {sample["name"]: sample["step"] for sample in record.get("samples") or []}
    final = [f for f in files_of(record, "image/") if f["name"] not in steps]
    drawn = [f for f in files_of(record, "image/") if f["name"] in steps]
    return Figure(
        *[A(Img(src=media_path(rid, f["name"]), alt=f"Drawn with the adapter: {trigger}", **size),
            href=media_path(rid, f["name"]), title="Full size") for f in final[:1]],
        Figcaption(f"“{trigger}”, drawn with the adapter once trained"),
        Ol(*[Li(Figure(Img(src=media_path(rid, f["name"]), alt=f"Sample at step {steps[f['name']]}", loading="lazy",
                           **size),
                       Figcaption(f"Step {steps[f['name']]}")))
             for f in drawn], cls="samples", aria_label="Samples drawn as it trained") if drawn else None,
        cls="media media-adapter",
    )


def adapter_facts(record: dict) -> list[tuple[str, object]]:
    """Its recipe: what it answers to, what it was trained on and how, how it ended, how long it took."""
    params, adapter = record.get("parameters", {}), record.get("adapter") or {}
    training, seconds = record.get("training") or {}, record.get("seconds") or {}
    resumed = (record.get("steps") or {}).get("resumed_from")
    pictures = len(training.get("pictures_sha256") or [])
    facts: list[tuple[str, object]] = [
        ("Trigger phrase", trigger_of(record)),
        ("Adapter", f"{adapter.get('id')} · {adapter.get('size', 0) / 2**20:.1f} MB" if adapter else None),
        ("Model", f"{params.get('preset')} ({adapter['family']} family)" if adapter.get("family") else params.get("preset")),
        ("Goal", str(params.get("goal", "")).capitalize() or None),
        ("Steps", f"{params.get('steps')}" + (f" (resumed from step {resumed})" if resumed else "")),
        ("Rank", params.get("rank")),
        ("Learning rate", f"{params['learning_rate']:g}" if "learning_rate" in params else None),
        ("Resolution", f"{params['resolution']} px" if "resolution" in params else None),
        ("Prior preservation", f"“{params['class_prompt']}”, {params.get('prior_images')} pictures"
         if params.get("class_prompt") else None),
        ("Seed", params.get("seed")),
        ("Final loss", f"{training['final_loss']:.4f}" if training.get("final_loss") is not None else None),
        ("Trained on", f"{pictures} picture{'s' if pictures != 1 else ''} (kept private: not shown here)"
         if pictures else None),
    ]
    if "train" in seconds:
        took = seconds.get("prepare", 0) + seconds["train"]
        device = (record.get("model") or {}).get("device")
        facts.append(("Time taken", f"{took:.1f} s" + (f" on {device}" if device else "")))
    return facts


def adapter_summary(record: dict) -> str:
    params = record.get("parameters", {})
    count = len((record.get("training") or {}).get("pictures_sha256") or [])
    return (f"A LoRA adapter for {params.get('preset')} trained with Atelier on {count} pictures: "
            f"call it up with “{trigger_of(record)}”.")


def card_detail(record: dict) -> str:
    """The gallery card's label."""
    return f"{LABEL} · {record.get('parameters', {}).get('preset')}"
