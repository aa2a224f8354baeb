"""The house rules, checked on the code itself: imports run down, no circles, short functions and
modules, and every module and package says what it holds (README.md, Layout).

Floors, top to bottom: bench → the `atelier` command (ui/cli.py, ui/doctor.py, which read app.py)
→ app.py → ui/web.py → the web areas (api, studio, pages) → what they share (cards, generation)
→ the gate (the limits every generation passes) → the store → errors, settings, urls → models: requests → each kind (video and training may use
image's parts) → presets → common. random_weights sits above all of models/: a preset names its
builders as text, so nothing below imports it. A module may import its own room and any floor
below, never one above, and never a room beside it on the same floor. Imports inside functions
count too (the command's import of app.py is one floor down; app.py's of ui/ likewise).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["app.py", "bench", "models", "ui"]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
TABLES = {"models/presets.py"}  # one table each: allowed to be long

# (module prefix, room, floor): the longest matching prefix names a module's room.
FLOORS = [
    ("bench", "bench", 90),
    ("ui.cli", "the command", 80), ("ui.doctor", "the command", 80),
    ("app", "app", 70),
    ("ui.web", "ui.web", 60),
    ("ui.api", "ui.api", 50), ("ui.studio", "ui.studio", 50), ("ui.pages", "ui.pages", 50),
    ("ui.deps", "ui.deps", 45),
    ("ui.cards", "ui.cards", 40), ("ui.generation", "ui.generation", 40),
    ("ui.gate", "ui.gate", 35),
    ("ui.store", "ui.store", 30),
    ("ui.errors", "ui.errors", 20), ("ui.settings", "ui.settings", 20), ("ui.urls", "ui.urls", 20),
    ("ui.routing", "ui.routing", 20), ("ui", "ui", 20),
    ("models.random_weights", "models.random_weights", 15),
    ("models.requests", "models.requests", 12),
    ("models.video", "models.video", 11), ("models.training", "models.training", 11),
    ("models.image", "models.image", 10), ("models.music", "models.music", 10),
    ("models.presets", "models.presets", 6),
    ("models.common", "models.common", 4), ("models", "models", 4),
]


def room(module: str) -> tuple[str, int] | None:
    """(room, floor) of a module, or None for what isn't the project's."""
    matches = [(prefix, name, floor) for prefix, name, floor in FLOORS
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        return None
    _, name, floor = max(matches, key=lambda m: len(m[0]))
    return name, floor


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_files() -> list[Path]:
    files = []
    for source in SOURCES:
        path = ROOT / source
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if "results" not in f.parts]


def imports_of(path: Path) -> set[str]:
    """The project modules `path` imports (at any depth of the code), as dotted names."""
    tree = ast.parse(path.read_text())
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if room(name) and (ROOT / name.replace(".", "/")).with_suffix(".py").exists()
            or (ROOT / name.replace(".", "/") / "__init__.py").exists()}


def test_imports_run_down_and_never_sideways():
    wrong = []
    for path in python_files():
        here = module_name(path)
        mine = room(here)
        for target in imports_of(path):
            theirs = room(target)
            if theirs is None or theirs[0] == mine[0]:
                continue
            if theirs[1] >= mine[1]:
                wrong.append(f"{here} ({mine[0]}, floor {mine[1]}) imports {target} ({theirs[0]}, floor {theirs[1]})")
    assert wrong == []


def test_no_import_circles_between_modules():
    """Module-level imports only: what runs when a module is first imported. A module's import of
    its own package (`from ui.api import generate` inside ui/api/) is no circle: that package is
    already being imported."""
    modules = {module_name(p) for p in python_files()}
    graph: dict[str, set[str]] = {}
    for path in python_files():
        here = module_name(path)
        names = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                submodules = {f"{node.module}.{a.name}" for a in node.names} & modules
                names |= submodules or {node.module}
        graph[here] = {n for n in names if n in modules and not here.startswith(n + ".")}
    assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_and_modules_stay_short(path):
    relative = str(path.relative_to(ROOT))
    source = path.read_text()
    lines = len(source.splitlines())
    assert relative in TABLES or lines <= MAX_MODULE_LINES, f"{relative} has {lines} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_and_package_says_what_it_holds(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no opening docstring"


def test_every_package_has_an_init():
    for source in ("models", "ui"):
        for folder in (ROOT / source).rglob("*"):
            if folder.is_dir() and any(folder.glob("*.py")):
                assert (folder / "__init__.py").exists(), folder


def test_test_files_have_names_of_their_own():
    """pytest imports test files by their basename (tests/ has no packages): two files of one name
    stop the whole run at collection, however the runs of each folder alone went."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
