"""The floors of docs/architecture.md, checked on the source: imports only go down.

Every module's imports are read with ``ast`` (those inside functions too, which is where upward
imports hide), resolved to locrnn module names, and compared by floor and room. The rules:
an import may go to a lower floor, or stay inside its own room (``data``, ``models``, ...); it may
not go up, nor sideways into another room of the same floor (data <-> models, training <->
evaluation). Only the CLI parses arguments, exits the process, rewrites ``os.environ`` or names
command-line flags in its messages.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "locrnn"

# module (or package prefix) -> floor; the longest matching prefix wins (docs/architecture.md)
FLOORS = {
    "locrnn.io": 0,
    "locrnn.lock": 0,
    "locrnn.pool": 0,
    "locrnn.data": 1,
    "locrnn.models": 1,
    "locrnn.runtime": 1,
    "locrnn.metrics": 1,
    "locrnn.plots": 1,
    "locrnn.tasks": 2,
    "locrnn.scoring": 2,
    "locrnn.models.hub": 2,
    "locrnn.training": 3,
    "locrnn.evaluation": 3,
    "locrnn.reproduce": 4,
    "locrnn.cli": 5,
    "locrnn.demo": 5,
    "locrnn.info": 5,
    "locrnn.__main__": 5,
}
# package faces: importing them runs their __init__, which exports from their top floor
FACES = {"locrnn": 2, "locrnn.models": 2}
# the few imports along a floor, each named in docs/architecture.md
ALONG = {
    ("locrnn.lock", "locrnn.io"),
    ("locrnn.pool", "locrnn.io"),
    ("locrnn.scoring", "locrnn.tasks"),
    ("locrnn.cli.tools", "locrnn.demo"),
    ("locrnn.cli.tools", "locrnn.info"),
    ("locrnn.__main__", "locrnn.cli"),
}
APP = {"locrnn.cli", "locrnn.__main__"}  # the only modules (and their rooms) that talk to the command line


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor_of(module: str) -> int:
    if module in FACES:
        return FACES[module]
    best = max((k for k in FLOORS if module == k or module.startswith(k + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{module} has no floor in docs/architecture.md (add it to FLOORS and the page)")
    return FLOORS[best]


def room_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported locrnn module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "locrnn"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "locrnn":
                continue
            for alias in node.names:  # `from . import x` may name a submodule
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else target))
    return found


def test_every_module_has_a_floor():
    for module in MODULES:
        floor_of(module)


def test_imports_only_go_down():
    bad = []
    for module, path in MODULES.items():
        if module in FACES:  # a package face may re-export what its package holds
            continue
        own, room = floor_of(module), room_of(module)
        for line, target in _imports(module, path):
            if room_of(target) == room and target not in FACES:
                continue  # inside its own room (the room's face is checked like any other)
            if (target == "locrnn" and own > FACES["locrnn"]) or (module, target) in ALONG:
                continue
            if floor_of(target) >= own:
                bad.append(
                    f"{path.relative_to(SRC)}:{line} ({module}, floor {own}) imports {target} "
                    f"(floor {floor_of(target)})"
                )
    assert not bad, "imports that go up or sideways (docs/architecture.md):\n" + "\n".join(bad)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room_of(m) not in APP))
def test_only_the_cli_talks_to_the_command_line(module):
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if "argparse" in names:
                problems.append(f"line {node.lineno}: imports argparse")
        if isinstance(node, ast.Attribute) and node.attr == "exit" and getattr(node.value, "id", "") == "sys":
            problems.append(f"line {node.lineno}: calls sys.exit")
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ":
                    problems.append(f"line {node.lineno}: sets os.environ")
        if isinstance(node, ast.Raise) and node.exc is not None:
            for const in ast.walk(node.exc):
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    flag = re.search(r"(?<![\w-])--[a-z][a-z-]+", const.value)
                    if flag:
                        problems.append(f"line {node.lineno}: an error message names the flag {flag.group()}")
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)
