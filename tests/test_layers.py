"""The import direction between the package's rooms, read from the source.

core (the sans-IO algorithm) imports only core and settings, and never
Twisted; storage never imports the daemon, the tools or the WSGI gateway;
the client never imports the daemon or storage; nothing in the package
imports the tests.  The modules are parsed, not imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mobwrite"
TEST_MODULES = {path.stem for path in (ROOT / "tests").glob("*.py")} | {"tests"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """Each module *path* imports (``from a import b`` gives a.b and a), by line."""
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def within(name: str, *rooms: str) -> bool:
    return any(name == room or name.startswith(room + ".") for room in rooms)


def broken_rule(importer: str, imported: str) -> str | None:
    """Why *importer* may not import *imported*, or None if it may."""
    if within(imported.split(".")[0], *TEST_MODULES):
        return "nothing in the package imports the tests"
    if within(importer, "mobwrite.core"):
        if within(imported, "twisted"):
            return "core is sans-IO: no Twisted"
        if within(imported, "mobwrite") and not within(
                imported, "mobwrite.core", "mobwrite.settings"):
            return "core imports only mobwrite.core and mobwrite.settings"
    if within(importer, "mobwrite.storage") and within(
            imported, "mobwrite.daemon", "mobwrite.tools", "mobwrite.wsgi"):
        return "storage never imports the daemon, the tools or the WSGI gateway"
    if within(importer, "mobwrite.client") and within(
            imported, "mobwrite.daemon", "mobwrite.storage"):
        return "the client never imports the daemon or storage"
    return None


def violations(path: Path, root: Path = ROOT) -> list[str]:
    importer = module_name(path, root)
    found = []
    for line, imported in imports(path, root):
        rule = broken_rule(importer, imported)
        if rule is not None:
            found.append(f"{path.relative_to(root)}:{line} imports {imported}: {rule}")
    return found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: module_name(path))
def test_module_imports_follow_the_layers(path: Path) -> None:
    """Each module imports only what its room may."""
    assert violations(path) == []


@pytest.mark.parametrize(("importer", "imported", "rule"), [
    ("mobwrite.core.engine", "twisted.internet", "no Twisted"),
    ("mobwrite.core.store", "mobwrite.storage.rows", "only mobwrite.core"),
    ("mobwrite.core.engine", "mobwrite.logs", "only mobwrite.core"),
    ("mobwrite.storage.committer", "mobwrite.daemon.answering", "never imports the daemon"),
    ("mobwrite.client.session", "mobwrite.storage", "never imports the daemon or storage"),
    ("mobwrite.daemon.tap", "fakes", "imports the tests"),
])
def test_a_wrong_import_is_named(importer: str, imported: str, rule: str) -> None:
    """The check catches each kind of wrong import and says which rule it breaks."""
    assert rule in (broken_rule(importer, imported) or "")


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    """``from ..daemon import x`` inside storage is caught like the absolute form."""
    room = tmp_path / "mobwrite" / "storage"
    room.mkdir(parents=True)
    module = room / "bad.py"
    module.write_text("from ..daemon import tap\nfrom . import rows\n", encoding="utf-8")
    assert list(imports(module, tmp_path)) == [
        (1, "mobwrite.daemon"), (1, "mobwrite.daemon.tap"),
        (2, "mobwrite.storage"), (2, "mobwrite.storage.rows")]
    assert violations(module, tmp_path) == [
        "mobwrite/storage/bad.py:1 imports mobwrite.daemon: storage never imports "
        "the daemon, the tools or the WSGI gateway",
        "mobwrite/storage/bad.py:1 imports mobwrite.daemon.tap: storage never imports "
        "the daemon, the tools or the WSGI gateway"]
