"""Fonts for the report plots: a fallback chain that renders Latin, Spanish and Korean text.

matplotlib (>= 3.6) falls back glyph by glyph along `font.family`; DejaVu Sans (bundled
with matplotlib) covers Latin and Spanish, a CJK font covers Hangul. The CJK font comes
from the system: Debian's `fonts-noto-cjk` (installed by .ci/run and `make report`), or
any of CJK_FAMILIES. matplotlib's font cache predates fonts installed later, so known font
files are registered explicitly. Without a CJK font, Korean labels would be empty boxes:
`missing_glyphs_note` says so, and the report prints it.
"""

from __future__ import annotations

import glob
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

BASE_FAMILY = "DejaVu Sans"
# Sans-serif families with Hangul, best first.
CJK_FAMILIES = (
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Source Han Sans K",
    "Source Han Sans KR",
    "NanumGothic",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "UnDotum",
    "Noto Serif CJK KR",
)
# Where Debian and common distributions put such fonts.
FONT_GLOBS = (
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/**/NotoSansCJK*.otf",
    "/usr/share/fonts/**/NotoSansKR*.[ot]tf",
    "/usr/share/fonts/**/SourceHanSans*.[ot]t[cf]",
    "/usr/share/fonts/**/NanumGothic*.ttf",
    "/usr/local/share/fonts/**/*CJK*.[ot]t[cf]",
)
INSTALL_HINT = "apt-get install fonts-noto-cjk (Debian/Ubuntu)"


@lru_cache(maxsize=1)
def cjk_families() -> tuple[str, ...]:
    """The CJK families matplotlib can use here, after registering known font files."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not any(name in known for name in CJK_FAMILIES):
        for pattern in FONT_GLOBS:
            for path in sorted(glob.glob(pattern, recursive=True)):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # unreadable font file: skip it
                    continue
        known = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FAMILIES if name in known)


def font_chain() -> list[str]:
    """`font.family` for every plot: DejaVu Sans, then the CJK fonts found, then sans-serif."""
    return [BASE_FAMILY, *cjk_families(), "sans-serif"]


def needs_cjk(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(("HANGUL", "CJK")) for ch in text)


def missing_glyphs_note(texts: Iterable[str]) -> str | None:
    """A warning when some text needs a CJK font and none is installed; else None."""
    if cjk_families():
        return None
    sample = next((t for t in texts if needs_cjk(t)), None)
    if sample is None:
        return None
    return (
        f"no CJK font found, so Korean labels such as {sample!r} show as empty boxes in the PNG plots "
        f"(the SVGs name the font chain, and browsers fall back on their own); install one: {INSTALL_HINT}"
    )
