"""Verifiable instructions (IFEval's 25 types), checked strictly and loosely.

Used by the `ifeval` and `multi_if` families. Agreement with the reference checkers is
tested on real model responses (tests/data/ifeval/).
"""

from evalkit.benchmarks.ifeval.args import ArgError
from evalkit.benchmarks.ifeval.dialect import Dialect
from evalkit.benchmarks.ifeval.evaluate import (
    Following,
    Instruction,
    check_response,
    loose_variants,
    parse_instructions,
)
from evalkit.benchmarks.ifeval.registry import CHECKS

INSTRUCTION_IDS = tuple(sorted(CHECKS))

__all__ = [
    "INSTRUCTION_IDS",
    "ArgError",
    "Dialect",
    "Following",
    "Instruction",
    "check_response",
    "loose_variants",
    "parse_instructions",
]
