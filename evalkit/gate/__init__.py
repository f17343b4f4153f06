"""`evalkit gate`: judge a quantized model's runs against a versioned gate policy.

- policy: the YAML format (gates/*.yaml) -> `GatePolicy`
- decide: the fixed-sample gate over finished runs (`evaluate_gate`)
- sequential: the sequential gate that samples until the verdict is clear (`run_sequential_gate`)
- verdicts: the three-way rule and the records; explain: the one-screen explanation
Exit codes: 0 every criterion passed, 1 at least one failed, 2 the gate cannot decide.
"""

from evalkit.gate.decide import evaluate_gate
from evalkit.gate.explain import render_markdown, render_text
from evalkit.gate.policy import GatePolicy, load_policy
from evalkit.gate.sequential import SequentialPlan, run_sequential_gate
from evalkit.gate.verdicts import (
    EXIT_FAIL,
    EXIT_PASS,
    EXIT_UNDECIDED,
    FAIL,
    PASS,
    UNDECIDED,
    GateResult,
    Verdict,
    judge,
)

__all__ = [
    "EXIT_FAIL",
    "EXIT_PASS",
    "EXIT_UNDECIDED",
    "FAIL",
    "PASS",
    "UNDECIDED",
    "GatePolicy",
    "GateResult",
    "SequentialPlan",
    "Verdict",
    "evaluate_gate",
    "judge",
    "load_policy",
    "render_markdown",
    "render_text",
    "run_sequential_gate",
]
