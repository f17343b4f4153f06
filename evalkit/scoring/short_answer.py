"""Short answers: named normalisers, number reading, and the exact and numeric matches.

Normalisers (a spec lists them in `scoring.normalize`; applied in that order to the extracted
answer, and in exact match to every gold answer too):

    nfkc            Unicode NFKC (full-width letters and digits become ASCII, ligatures split)
    strip           leading and trailing whitespace
    lower           case-folded (str.casefold: also ß -> ss)
    no_punct        every Unicode punctuation character removed
    no_articles     the English articles a / an / the and Spanish el / la / los / las / un /
                    una / unos / unas removed as whole words
    collapse_space  runs of whitespace become one space, ends stripped
    no_space        all whitespace removed
    strip_period    one trailing period (".", "。") removed

Numbers (`read_number`): an optional sign, digits with thousands separators, a decimal part
and an exponent. `lang` says which mark is the decimal one: "en" and "ko" write 1,234.5;
"es" writes 1.234,5 (a "." followed by other than three digits is read as a decimal point,
since models often write 3.5 in Spanish text too). Thin and no-break spaces also group
digits. Values are exact decimals (`decimal.Decimal`), so 0.1 + 0.2 style float error never
decides a verdict and a 5,000-digit number is read without Python's int limit.
"""

from __future__ import annotations

import decimal
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

_ARTICLES = re.compile(r"\b(?:a|an|the|el|la|los|las|un|una|unos|unas)\b", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def _no_punct(s: str) -> str:
    return "".join(ch for ch in s if not unicodedata.category(ch).startswith("P"))


def _strip_period(s: str) -> str:
    return s[:-1] if s.endswith((".", "。")) else s


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "nfkc": lambda s: unicodedata.normalize("NFKC", s),
    "strip": str.strip,
    "lower": str.casefold,
    "no_punct": _no_punct,
    "no_articles": lambda s: _ARTICLES.sub("", s),
    "collapse_space": lambda s: _SPACE.sub(" ", s).strip(),
    "no_space": lambda s: _SPACE.sub("", s),
    "strip_period": _strip_period,
}


def normalize(text: str, steps: Sequence[str]) -> str:
    """Apply the named normalisers in order (names are checked when the spec is loaded)."""
    for step in steps:
        text = NORMALIZERS[step](text)
    return text


# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------
MAX_NUMBER_CHARS = 400  # a longer run of digits is not an answer this family reads
MAX_EXPONENT = 10_000  # |exponent| beyond this is not a number this family compares
_SPACES = "\u2009\u202f\u00a0 "  # thin, narrow no-break, no-break and plain space
_DECIMAL_MARK = {"en": ".", "ko": ".", "es": ","}
# Digits with separators between them, then an optional exponent (ASCII digits only: the
# `nfkc` normaliser turns full-width digits into ASCII ones).
_NUMBER = re.compile(
    r"(?<![\w.,])[-+\u2212]?\d+(?:[,." + _SPACES + r"]\d+)*(?:[eE][-+]?\d+)?(?!\w)", re.ASCII
)
_MANTISSA = re.compile(r"\d(?:[\d,." + _SPACES + r"]*\d)?", re.ASCII)
_GROUPED = re.compile(r"\d{1,3}(?P<sep>[,." + _SPACES + r"])\d{3}(?:(?P=sep)\d{3})*", re.ASCII)


@dataclass(frozen=True)
class ReadNumber:
    value: Decimal | None
    text: str  # the number as written (empty when none was found)
    reason: str


def _grouped(s: str, decimal_mark: str) -> bool:
    """Digits in groups of three, one separator throughout, which is not the decimal mark."""
    m = _GROUPED.fullmatch(s)
    return m is not None and m.group("sep") != decimal_mark


def _plain(mantissa: str, lang: str) -> str | None:
    """Digits and separators as plain digits with an optional '.'; None when unreadable."""
    mark = _DECIMAL_MARK[lang]
    int_part, found, frac = mantissa.rpartition(mark)
    if not found:
        int_part, frac = mantissa, ""
        if lang == "es" and mantissa.count(".") == 1 and not _grouped(mantissa, mark):
            int_part, _, frac = mantissa.partition(".")  # 3.5 in Spanish text
    if frac and not frac.isdigit():
        return None
    if not (int_part.isdigit() or _grouped(int_part, mark)):
        return None
    digits = "".join(ch for ch in int_part if ch.isdigit())
    return digits + (f".{frac}" if frac else "")


def parse_number(text: str, lang: str = "en") -> ReadNumber:
    """One number written alone (a gold answer, say): its exact value, or None with the reason."""
    t = text.strip().replace("\u2212", "-")
    sign = ""
    if t[:1] in ("+", "-"):
        sign, t = ("-" if t[0] == "-" else ""), t[1:].lstrip()
    mantissa, e, exp = t.partition("e") if "e" in t else t.partition("E")
    if len(mantissa) > MAX_NUMBER_CHARS:
        return ReadNumber(None, text, f"a number of {len(mantissa)} characters (limit {MAX_NUMBER_CHARS})")
    if not _MANTISSA.fullmatch(mantissa) or (e and not re.fullmatch(r"[-+]?\d+", exp, re.ASCII)):
        return ReadNumber(None, text, f"not a number: {text[:40]!r}")
    if e and (len(exp.lstrip("+-")) > 6 or abs(int(exp)) > MAX_EXPONENT):
        return ReadNumber(None, text, f"exponent beyond ±{MAX_EXPONENT}")
    plain = _plain(mantissa, lang)
    if plain is None:
        return ReadNumber(None, text, f"digit groups not read as a number (lang {lang}): {text[:40]!r}")
    return ReadNumber(Decimal(sign + plain + (f"e{exp}" if exp else "")), text, "number")


def last_number(text: str, lang: str = "en") -> ReadNumber:
    """The last number written in `text` (an extracted answer such as "$1,234.50" or "x = 3")."""
    last = None
    for m in _NUMBER.finditer(text):
        last = m
    if last is None:
        return ReadNumber(None, "", "no number in the answer")
    found = parse_number(last.group(0), lang)
    if found.value is None and " " in last.group(0):  # "pages 3 4": not one grouped number
        return parse_number(last.group(0).rsplit(" ", 1)[1], lang)
    return found


def numbers_match(answer: Decimal, gold: Decimal, abs_tol: float = 0.0, rel_tol: float = 0.0) -> bool:
    """|answer - gold| <= max(abs_tol, rel_tol * |gold|), computed exactly."""
    ctx = decimal.Context(prec=MAX_NUMBER_CHARS + 50, Emax=4 * MAX_EXPONENT, Emin=-4 * MAX_EXPONENT)
    diff = ctx.abs(ctx.subtract(answer, gold))
    bound = max(Decimal(repr(abs_tol)), ctx.multiply(Decimal(repr(rel_tol)), ctx.abs(gold)))
    return diff <= bound
