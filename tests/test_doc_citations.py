"""Citations in code and docs point to sections of documents in this repository.

Docstrings cite facts as ``docs/<name>.md#<section>``; the section must exist (a heading whose
GitHub anchor is ``<section>``). Documents outside the repository (``shared/reference``, "reference
§1.8") are not cited from code: a newcomer's checkout does not have them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ["evalkit", "bench", "tests", "gates", "docs"]
CITATION = re.compile(r"docs/([\w.-]+\.md)#([\w-]+)")
LINK = re.compile(r"\]\(([\w.-]+\.md)#([\w-]+)\)")  # [text](other.md#section) inside docs/


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    return {anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.M)}


def scanned_files() -> list[Path]:
    return [
        p
        for top in SCANNED
        for p in sorted((REPO / top).rglob("*"))
        if p.suffix in (".py", ".md", ".yaml") and p.is_file() and "__pycache__" not in p.parts
    ]


def citations() -> list[tuple[Path, int, str, str]]:
    found = []
    for path in scanned_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in CITATION.finditer(line):
                found.append((path, n, m.group(1), m.group(2)))
            if path.parent == REPO / "docs":
                for m in LINK.finditer(line):
                    found.append((path, n, m.group(1), m.group(2)))
    return found


def test_anchor_follows_github() -> None:
    assert anchor("KV cache size") == "kv-cache-size"
    assert anchor("Shapes of the 32B model") == "shapes-of-the-32b-model"
    assert anchor("Kernels (`kernels/`)") == "kernels-kernels"


def test_every_cited_section_exists() -> None:
    cited = citations()
    assert len(cited) >= 20  # the int4 runner's docstrings alone cite more than this
    missing = [
        f"{path.relative_to(REPO)}:{n}: docs/{doc}#{section}"
        for path, n, doc, section in cited
        if not (REPO / "docs" / doc).is_file() or section not in anchors(REPO / "docs" / doc)
    ]
    assert not missing, "citations of sections that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("pattern", [r"reference §", r"shared/reference/gptq_exaone4"])
def test_code_does_not_cite_documents_outside_the_repo(pattern: str) -> None:
    this = Path(__file__).resolve()
    hits = [
        f"{p.relative_to(REPO)}:{n}"
        for p in scanned_files()
        if p != this
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(pattern, line)
    ]
    assert not hits, hits
