"""Verifiable instructions (IFEval's 25 types), checked strictly and loosely.

Used by the `ifeval` and `multi_if` families. Agreement with the reference checkers is
tested on real model responses (tests/data/ifeval/).
"""

from evalkit.instructions.args import ArgError
from evalkit.instructions.dialect import Dialect
from evalkit.instructions.evaluate import (
    Following,
    Instruction,
    check_response,
    loose_variants,
    parse_instructions,
)
from evalkit.instructions.registry import CHECKS

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
