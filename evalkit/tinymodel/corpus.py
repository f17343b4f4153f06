"""The bundled text the tiny model's tokenizer is trained on, and the bundled chat template.

Both live inside the package (``corpus/*.txt``, ``chat_template.jinja``) so a build needs
nothing outside an installed evalkit: no download, no ``shared/`` checkout.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CORPUS_DIR = PACKAGE_DIR / "corpus"
CHAT_TEMPLATE_PATH = PACKAGE_DIR / "chat_template.jinja"


def corpus_files() -> list[Path]:
    """The corpus files in a fixed (sorted by name) order, so training sees the same stream."""
    files = sorted(CORPUS_DIR.glob("*.txt"), key=lambda p: p.name)
    if not files:
        raise FileNotFoundError(f"no corpus files under {CORPUS_DIR} (package data not installed?)")
    return files


def corpus_lines() -> list[str]:
    """Every non-blank line of the corpus, in file order then line order."""
    lines: list[str] = []
    for path in corpus_files():
        lines.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return lines


def chat_template_text() -> str:
    """The EXAONE 4.0 chat template, byte-for-byte as bundled (see chat_template.SOURCE.txt)."""
    # read_bytes: no newline translation, the text must stay byte-identical to the source.
    return CHAT_TEMPLATE_PATH.read_bytes().decode("utf-8")
