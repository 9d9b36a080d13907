"""The documentation's cross-references: cited protocol sections and relative links exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
SOURCES = ("mobwrite", "tests", "static", "benchmarks", "docs", "deploy", "twisted")
SUFFIXES = {".py", ".js", ".mjs", ".md", ".html", ".service", ".conf"}
SKIPPED = {"vendor", "node_modules", "__pycache__"}
HEADING = re.compile(r"^##+ (\d+(?:\.\d+)?)[. ]", re.MULTILINE)
SECTION = re.compile(r"§(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?")


def documented_files() -> list[Path]:
    """The repository's source and documentation files."""
    found = [ROOT / "README.md", ROOT / "BENCHMARKS.md"]
    for top in SOURCES:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in SUFFIXES and not SKIPPED & set(path.parts):
                found.append(path)
    return found


def test_every_cited_protocol_section_exists() -> None:
    """Each ``§N.M`` in a file that cites docs/protocol.md names one of its sections."""
    sections = set(HEADING.findall(PROTOCOL_DOC.read_text(encoding="utf-8")))
    assert {"1", "2.3", "8.3", "9", "15.4"} <= sections
    missing = []
    for path in documented_files():
        text = path.read_text(encoding="utf-8")
        if path != PROTOCOL_DOC and "protocol.md" not in text:
            continue
        for match in SECTION.finditer(text):
            for number in filter(None, match.groups()):
                if number not in sections:
                    missing.append(f"{path.relative_to(ROOT)}: §{number}")
    assert not missing


# The name of the specification kept outside the repository before docs/protocol.md.
OLD_SPECIFICATION = re.compile(r"\b" + "PROTO" "COL" + r"(?:\.md)?\b")


def test_no_file_cites_the_old_out_of_tree_specification() -> None:
    """Citations point into the repository, never at a specification a clone lacks."""
    stale = [str(path.relative_to(ROOT)) for path in documented_files()
             if OLD_SPECIFICATION.search(path.read_text(encoding="utf-8"))]
    assert not stale


LINK = re.compile(r"\]\(([^)\s]+)\)")
ANCHOR_DROPPED = re.compile(r"[^\w\- ]")


def anchors(markdown: Path) -> set[str]:
    """The anchors GitHub makes from a Markdown file's headings."""
    found: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", markdown.read_text(encoding="utf-8"), re.MULTILINE):
        slug = ANCHOR_DROPPED.sub("", heading.strip().lower()).replace(" ", "-")
        candidate, number = slug, 0
        while candidate in found:
            number += 1
            candidate = f"{slug}-{number}"
        found.add(candidate)
    return found


def test_every_relative_markdown_link_resolves() -> None:
    """Each relative link in a Markdown file names a file that exists (and a heading there)."""
    broken = []
    for path in documented_files():
        if path.suffix != ".md":
            continue
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            name, _, anchor = target.partition("#")
            linked = (path.parent / name).resolve() if name else path
            if not linked.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken
