"""Validation errors reworded for people: one readable sentence per problem.

pydantic's own messages name types and locations ("Input should be less than or equal to 100");
the studio, the API and the CLI show these instead ("Steps should be less than or equal to 100
(got 200).").
"""

from __future__ import annotations

from pydantic import ValidationError


def explain(error: ValidationError) -> str:
    """One readable sentence per problem, e.g. "Prompt must not be empty." """
    return " ".join(_explain_one(e) for e in error.errors())


# List fields whose items a person counts from 1: "Control 2 scale", "Picture 3", "LoRA adapter 1 id".
ITEM_LABELS = {"loras": "LoRA adapter", "controls": "Control", "references": "Reference", "pictures": "Picture",
               "images": "Picture",
               "captions": "Caption"}
LIST_LABELS = {"loras": "LoRA adapters"}


def label_of(loc: tuple) -> str:
    """Where a problem is, in words: "Steps", "Negative prompt", "Control 2 scale"."""
    if loc and loc[0] in ITEM_LABELS and len(loc) > 1 and isinstance(loc[1], int):
        return " ".join([f"{ITEM_LABELS[loc[0]]} {loc[1] + 1}", *map(str, loc[2:])])
    if loc and loc[0] in LIST_LABELS and len(loc) == 1:
        return LIST_LABELS[loc[0]]
    return (" → ".join(str(p) for p in loc) or "request").replace("_", " ").capitalize()


def _explain_one(e: dict) -> str:
    field = " → ".join(str(p) for p in e["loc"]) or "request"
    label = label_of(e["loc"])
    ctx = e.get("ctx", {})
    match e["type"]:
        case "missing":
            return f"{label} is required."
        case "extra_forbidden":
            return f"Unknown field '{field}'."
        case "string_too_short":
            return f"{label} must not be empty."
        case "string_too_long":
            return f"{label} is too long ({len(e['input'])} characters; the limit is {ctx['max_length']})."
        case "multiple_of":
            return f"{label} must be a multiple of {ctx['multiple_of']} (got {e['input']})."
        case "greater_than_equal" | "greater_than" | "less_than_equal" | "less_than":
            return f"{label} {e['msg'].removeprefix('Input ').rstrip('.')} (got {e['input']})."
        case "too_long":
            return f"{label} may hold at most {ctx['max_length']} items (got {ctx.get('actual_length', 'more')})."
        case "string_pattern_mismatch" if e["loc"][:1] == ("loras",):
            return f"{label} '{e['input']}' is not an adapter id: ids are lowercase letters, digits and hyphens."
        case "string_pattern_mismatch" if e["loc"] == ("adapter_id",):
            return f"'{e['input']}' can't be an adapter id: use lowercase letters, digits and hyphens (at most 63)."
        case "sentence":  # a whole sentence of our own, about the request as a whole
            return e["msg"]
        case "melody" | "upload" | "loras" | "picture":  # our own messages continue the label: "Melody is silent: ..."
            return f"{label} {e['msg']}"
        case _:
            return f"{label}: {e['msg'].removeprefix('Input ')}."
