"""Where the Multi-IF copy of the checkers departs from IFEval's.

Multi-IF (facebookresearch/Multi-IF `ifeval.py`) vendors the IFEval checkers with a few
changes; `Dialect.MULTI_IF` reproduces those that can change an English verdict:

- word and sentence counts first ask langdetect for the response's language and count
  Chinese/Japanese by characters and sentence marks, Hindi by danda-delimited sentences
  (emoji are not counted separately: Multi-IF does so only when the optional `emoji`
  package is installed; Thai, which Multi-IF counts with pythainlp, is counted as English
  here: see the task's notes);
- a quotation may also use curly (“…”) or corner (「…」) quotes;
- a keyword that is not a valid regex counts as not found instead of raising (moot:
  keywords are validated when items load);
- the strict test skips only an empty response, not a whitespace-only one.
"""

from __future__ import annotations

from enum import Enum


class Dialect(Enum):
    IFEVAL = "ifeval"
    MULTI_IF = "multi_if"
