"""Verdict records of a gate and the rule that turns confidence bounds into one.

The rule (non-inferiority with three outcomes): with the drop's one-sided lower and
upper confidence bounds at the policy's confidence,

    PASS       upper bound <= allowed drop      (the drop is shown to be within the allowance)
    FAIL       lower bound  > allowed drop      (the drop is shown to exceed it)
    UNDECIDED  otherwise                        (the data cannot tell: more items decide it)

Each error rate is at most 1 − confidence: a model whose true drop exceeds the allowance
passes with probability at most 1 − confidence, and one within it fails with at most that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from evalkit.gate.policy import GatePolicy

Status = Literal["pass", "fail", "undecided"]
PASS: Status = "pass"
FAIL: Status = "fail"
UNDECIDED: Status = "undecided"

EXIT_PASS, EXIT_FAIL, EXIT_UNDECIDED = 0, 1, 2


@dataclass
class Verdict:
    """One criterion's outcome, with the one line that explains it."""

    status: Status
    subject: str  # "kmmlu_pro (non-reasoning)" or "fidelity"
    criterion: str  # "vs published", "vs reference", "truncation", "runs", "mean KL", "top-1"
    message: str
    # Why a verdict is undecided: "missing", "too few items", "placeholder", "incomplete"
    # (a run with failed samples), "inconclusive".
    reason: str = ""
    hint: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "subject": self.subject,
            "criterion": self.criterion,
            "message": self.message,
            "reason": self.reason,
            "hint": self.hint,
            "numbers": self.numbers,
            "runs": self.runs,
        }


@dataclass
class GateResult:
    policy: GatePolicy
    verdicts: list[Verdict]
    mode: str = "fixed"  # or "sequential"
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        statuses = {v.status for v in self.verdicts}
        if FAIL in statuses:
            return FAIL
        if UNDECIDED in statuses or not self.verdicts:
            return UNDECIDED
        return PASS

    @property
    def exit_code(self) -> int:
        return {PASS: EXIT_PASS, FAIL: EXIT_FAIL, UNDECIDED: EXIT_UNDECIDED}[self.status]

    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts) for s in (PASS, FAIL, UNDECIDED)}

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy.name,
            "version": self.policy.version,
            "policy_file": str(self.policy.path),
            "mode": self.mode,
            "status": self.status,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "notes": self.notes,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def judge(drop_low: float, drop_high: float, max_drop: float) -> Status:
    """The three-way rule on one-sided bounds of the drop (same units as `max_drop`)."""
    if drop_high <= max_drop:
        return PASS
    if drop_low > max_drop:
        return FAIL
    return UNDECIDED


def apply_on_inconclusive(v: Verdict, policy: GatePolicy) -> Verdict:
    """A policy may turn *inconclusive* (never missing or too-small) verdicts into pass or fail."""
    if v.status == UNDECIDED and v.reason == "inconclusive" and policy.on_inconclusive != "undecided":
        v.status = PASS if policy.on_inconclusive == "pass" else FAIL
        v.message += f" (inconclusive: counted as {policy.on_inconclusive} by the policy's on_inconclusive)"
    return v
