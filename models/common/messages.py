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


def _explain_one(e: dict) -> str:
    field = " → ".join(str(p) for p in e["loc"]) or "request"
    label = field.replace("_", " ").capitalize()
    if e["loc"][:1] == ("loras",):  # "LoRA adapters", "LoRA adapter 2 scale" rather than "Loras → 1 → scale"
        label = "LoRA adapters" if len(e["loc"]) == 1 else f"LoRA adapter {e['loc'][1] + 1} " + " ".join(map(str, e["loc"][2:]))
    if e["loc"][:1] in (("controls",), ("references",)) and len(e["loc"]) > 1:  # "Control 2 scale"
        label = f"{e['loc'][0][:-1].capitalize()} {e['loc'][1] + 1} {' '.join(map(str, e['loc'][2:]))}".rstrip()
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
        case "melody" | "upload" | "loras" | "picture":  # our own messages continue the label: "Melody is silent: ..."
            return f"{label} {e['msg']}"
        case _:
            return f"{label}: {e['msg'].removeprefix('Input ')}."
