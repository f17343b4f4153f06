"""The schema of a gate policy (gates/*.yaml): keys, types and ranges.

evalkit.gate.policy checks this first, then what a schema cannot say (known task and
benchmark names, one of task or benchmark, no entry twice, confidences below 1).
"""

from __future__ import annotations

from pydantic import Field

from evalkit.schema import NonNegativeInt, PositiveInt, Strict


class CriterionSchema(Strict):
    max_drop: float = Field(ge=0, le=100)  # percentage points
    confidence: float | None = Field(None, ge=0.5, le=1)
    method: str | None = None


class GateKeysSchema(Strict):
    """What `defaults` and every task entry may set."""

    vs_published: CriterionSchema | None = None  # null: this comparison is off
    vs_reference: CriterionSchema | None = None
    min_items: PositiveInt | None = None
    confidence: float | None = Field(None, ge=0.5, le=1)
    method: str | None = None
    max_truncation_rate: float | None = Field(None, ge=0, le=1)
    allow_placeholder: bool | None = None


class TaskGateSchema(GateKeysSchema):
    task: str | None = None
    benchmark: str | None = None
    mode: str


class FidelitySchema(Strict):
    max_mean_kl: float | None = Field(None, ge=0)
    min_top1_agreement: float | None = Field(None, ge=0, le=1)
    confidence: float | None = Field(None, ge=0.5, le=1)
    allow_placeholder: bool | None = None


class SequentialSchema(Strict):
    batch_items: PositiveInt | None = None
    max_items: PositiveInt | None = None
    order_seed: NonNegativeInt | None = None


class CandidateSchema(Strict):
    model: str | None = None
    runner_profile: str | None = None


class ReferenceSchema(CandidateSchema):
    runs: list[str] | str | None = None


class PolicySchema(Strict):
    policy: str
    version: PositiveInt  # bump it whenever a threshold changes
    description: str | None = None
    on_inconclusive: str | None = None
    candidate: CandidateSchema | None = None
    reference: ReferenceSchema | None = None
    defaults: GateKeysSchema | None = None
    sequential: SequentialSchema | None = None
    fidelity: FidelitySchema | None = None
    tasks: list[TaskGateSchema]
