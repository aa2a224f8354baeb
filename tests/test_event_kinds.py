"""Every event kind the code names is a declared one, and events are made only where they are declared.

Events are plain dicts told apart by their "type" (they cross Modal, the audiocraft worker's
JSON and the SSE stream as they are), so a misspelt kind — `event["type"] == "progess"` — is
a branch silently never taken. The kinds are declared once, as TypedDicts with a Literal tag
(models/common/events.py, ui/generation/events.py, the audiocraft worker's protocol). This test
reads the syntax tree of every module (models/, ui/, app.py, bench/, tests/) and checks that

- every string compared with a `...["type"]` or `....get("type")` (==, !=, in, not in, match/case)
  is a declared kind, or a kind of another vocabulary: ASGI scopes and messages, pydantic's
  error types (with those the code raises itself as PydanticCustomError), OpenAPI's schema and
  security scheme types, each read from what declares it;
- outside the modules that declare the kinds, a dict with a "type" key belongs to one of
  those other vocabularies (an ASGI message, a schema): events are made by their constructors.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pydantic_core.core_schema
import uvicorn._types
from fastapi.openapi import models as openapi

from models.common.events import ModelEvent
from models.music.engines.audiocraft_protocol import WorkerMessage
from ui.generation.events import BackendEvent, FlowEvent, JobEvent

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["models", "ui", "bench", "tests", "app.py"]
# Where events are made: the modules that declare the kinds, with their constructors.
CONSTRUCTORS = {"models/common/events.py", "ui/generation/events.py", "models/music/engines/audiocraft_protocol.py"}
# Dicts with a computed "type" that are not events: (module, function) → what they are.
NOT_EVENTS = {("ui/errors.py", "_rebuilt"): "pydantic's error details, rebuilt without FastAPI's location prefix"}


def modules() -> list[Path]:
    found = []
    for name in SOURCES:
        path = ROOT / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def kinds(*unions: object) -> set[str]:
    """The `type` tags of every TypedDict in these unions."""
    tags: set[str] = set()
    for union in unions:
        for declared in typing.get_args(union) or (union,):
            tags.update(typing.get_args(typing.get_type_hints(declared)["type"]))
    return tags


def own_error_types() -> set[str]:
    """The validation error types the code raises itself: `PydanticCustomError("upload", ...)`."""
    return {
        node.args[0].value
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "PydanticCustomError"
        and node.args and isinstance(node.args[0], ast.Constant)
    }


DECLARED = kinds(ModelEvent, BackendEvent, FlowEvent, JobEvent, WorkerMessage)
FOREIGN = (
    kinds(uvicorn._types.Scope, uvicorn._types.ASGIReceiveEvent, uvicorn._types.ASGISendEvent)
    | set(typing.get_args(pydantic_core.core_schema.ErrorType)) | own_error_types()
    | set(typing.get_args(openapi.SchemaType)) | {scheme.value for scheme in openapi.SecuritySchemeType}
)


def is_type_of(node: ast.AST) -> bool:
    """`something["type"]` or `something.get("type")`."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "type"
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "type")


def strings_in(node: ast.AST) -> list[str]:
    """The string constants a comparison names: one, or a literal tuple, list or set of them."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)]


def case_strings(pattern: ast.pattern) -> list[str]:
    if isinstance(pattern, ast.MatchOr):
        return [s for p in pattern.patterns for s in case_strings(p)]
    if isinstance(pattern, ast.MatchValue):
        return strings_in(pattern.value)
    return []


class Checker(ast.NodeVisitor):
    def __init__(self, module: str):
        self.module = module
        self.function = ""
        self.problems: list[str] = []

    def problem(self, node: ast.AST, text: str) -> None:
        self.problems.append(f"{self.module}:{node.lineno}: {text}")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        if any(is_type_of(operand) for operand in operands):
            for operand in operands:
                for kind in strings_in(operand):
                    if kind not in DECLARED | FOREIGN:
                        self.problem(node, f"{kind!r} is compared with a type, and is no declared kind")
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        if is_type_of(node.subject):
            for case in node.cases:
                for kind in case_strings(case.pattern):
                    if kind not in DECLARED | FOREIGN:
                        self.problem(case.pattern, f"case {kind!r} matches a type, and is no declared kind")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "type":
                self.made(node, value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "dict":
            for keyword in node.keywords:
                if keyword.arg == "type":
                    self.made(node, keyword.value)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if is_type_of(target) and self.module not in CONSTRUCTORS:
                self.problem(node, "a \"type\" set by hand: events are made by their constructors")
        self.generic_visit(node)

    def made(self, node: ast.AST, value: ast.AST) -> None:
        """A dict with a "type" made here: an event only in CONSTRUCTORS, else another vocabulary's."""
        if self.module in CONSTRUCTORS:
            return
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            if value.value in DECLARED:
                self.problem(node, f"a {value.value!r} event made by hand: use its constructor")
            elif value.value not in FOREIGN:
                self.problem(node, f"a dict of type {value.value!r}, which is no declared kind")
        elif (self.module, self.function) not in NOT_EVENTS:
            self.problem(node, "a dict with a computed \"type\": events are made by their constructors")


def problems_in(source: str, module: str) -> list[str]:
    checker = Checker(module)
    checker.visit(ast.parse(source))
    return checker.problems


def test_every_kind_named_in_the_code_is_declared_and_events_are_made_by_constructors():
    problems = [p for path in modules() for p in problems_in(path.read_text(), str(path.relative_to(ROOT)))]
    assert not problems, "\n".join(problems)


def test_the_declarations_are_read():
    """The kinds this test knows are the code's: a union it can't read would let anything pass."""
    assert {"progress", "result", "queued", "saved", "status", "running", "preview", "succeeded", "failed",
            "ready", "error"} <= DECLARED
    assert {"http", "http.response.start", "http.disconnect", "websocket.close"} <= FOREIGN  # ui/web.py's
    assert {"json_invalid", "string", "upload", "melody"} <= FOREIGN and not DECLARED & FOREIGN


def test_the_exceptions_still_exist():
    """NOT_EVENTS names functions that exist: a renamed one would leave a stale exception."""
    for module, function in NOT_EVENTS:
        tree = ast.parse((ROOT / module).read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == function for n in ast.walk(tree)), (module, function)


def test_the_check_finds_a_misspelt_kind_wherever_it_is_named():
    """The checker itself, on code with one mistake of each shape it looks for."""
    source = '''
if event["type"] == "progess": pass
if "saved" != event.get("type"): pass
if event["type"] in ("queued", "sucseeded"): pass
match event["type"]:
    case "result" | "reslt": pass
yield {"type": "queued", "position": 1}
send({"type": "http.response.body", "body": b""})
message = {"type": state.status}
event["type"] = "progress"
'''
    found = problems_in(source, "ui/somewhere.py")
    assert [line.split(": ", 1)[0] for line in found] == [
        "ui/somewhere.py:2", "ui/somewhere.py:4", "ui/somewhere.py:6", "ui/somewhere.py:7", "ui/somewhere.py:9",
        "ui/somewhere.py:10",
    ], found
    assert all(word in " ".join(found) for word in ("'progess'", "'sucseeded'", "'reslt'", "'queued' event"))
