"""The repository's documentation stands on its own: no file cites a document outside it, and no link is broken.

The design document is ``docs/architecture.md``; a reference to a document that only some machines have (a design
note, a style guide or a reference file next to the checkout) would leave a reader of the repository with nothing.
"""

from __future__ import annotations

import functools
import pathlib
import re
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# Documents that live outside the repository, however they are cited.
_OUTSIDE = re.compile(
    r"\bDESIGN(?:\.md\b|\s*§)"  # DESIGN.md §5, DESIGN §4
    r"|\bSTYLE\.md\b"
    r"|\bshared/"  # ../shared/..., shared/reference/...
    r"|\bshared reference\b"
    r"|\botel-stack\.md\b"
    r"|\blandscape[\w-]*\.md\b"
)

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _tracked_files() -> list[pathlib.Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def _outside_citations(text: str) -> list[str]:
    return [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in _OUTSIDE.finditer(text)]


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    files = _tracked_files()
    assert len(files) > 50, "git ls-files listed almost nothing: is this a checkout?"
    problems = []
    for path in files:
        if path == pathlib.Path(__file__).resolve() or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        problems += [f"{path.relative_to(REPO)} {hit}" for hit in _outside_citations(text)]
    assert problems == []


@pytest.mark.parametrize(
    "text",
    [
        "names fixed in DESIGN.md §5",
        "follow DESIGN §4 (span kinds)",
        "see ../shared/STYLE.md",
        "(shared/reference/otel-stack.md §D.3)",
        "directive (shared reference §D.1b)",
        "compare landscape-2026-11.md",
    ],
)
def test_the_citation_check_can_fail(text: str) -> None:
    assert _outside_citations(text) != []


@pytest.mark.parametrize(
    "text", ["docs/architecture.md#metric-contract", "a machine shared with other jobs", "the design document"]
)
def test_the_citation_check_passes_ordinary_text(text: str) -> None:
    assert _outside_citations(text) == []


def _prose(text: str) -> str:
    """The Markdown without fenced code blocks and code spans (links there are examples, not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@functools.cache
def _anchors(path: pathlib.Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def _broken_links(doc: pathlib.Path, root: pathlib.Path = REPO) -> list[str]:
    problems = []
    for target in _LINK.findall(_prose(doc.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            problems.append(f"{doc.relative_to(root)}: {target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            problems.append(f"{doc.relative_to(root)}: {target} (no such heading)")
    return problems


def _markdown_documents() -> list[pathlib.Path]:
    return [REPO / "README.md", REPO / "collector" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_relative_markdown_link_points_to_an_existing_file_and_heading() -> None:
    assert (REPO / "docs" / "architecture.md").is_file()
    problems = [problem for doc in _markdown_documents() for problem in _broken_links(doc)]
    assert problems == []


def test_the_link_check_can_fail(tmp_path: pathlib.Path) -> None:
    (tmp_path / "real.md").write_text("# A heading\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](real.md) [ok](real.md#a-heading) [web](https://example.org/x)\n"
        "[gone](missing.md) [bad anchor](real.md#nope) `[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
    )
    assert _broken_links(doc, tmp_path) == [
        "doc.md: missing.md (no such file)",
        "doc.md: real.md#nope (no such heading)",
    ]


def test_the_readme_links_every_docs_page_and_stays_short() -> None:
    readme = (REPO / "README.md").read_text()
    linked = {(REPO / target.partition("#")[0]).resolve() for target in _LINK.findall(_prose(readme))}
    unlinked = [p.name for p in sorted((REPO / "docs").glob("*.md")) if p.resolve() not in linked]
    assert unlinked == []
    assert (REPO / "BENCHMARKS.md").resolve() in linked
    assert len(readme.splitlines()) <= 160, "the README is what a newcomer reads in five minutes"
