"""Gate policies: versioned YAML files (gates/*.yaml) saying what a quantized model must keep.

A policy names, per task (or per model-card benchmark) and mode, the largest drop it
allows against the published EXAONE 4.0 figure and/or against a reference run (the bf16
model, or the same checkpoint under another runner), at what confidence, from how many
items at least. `defaults` apply to every task; a task's own keys override them, and
`vs_published: null` switches a comparison off for that task. See docs/gate.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import DataError
from evalkit.gate.policy_schema import PolicySchema
from evalkit.published import BENCHMARKS
from evalkit.registry import REPO_ROOT, list_tasks
from evalkit.reporting.compare import MEASURED_METHODS, PAIRED_METHODS
from evalkit.schema import validate
from evalkit.specs import MODES

ON_INCONCLUSIVE = ("undecided", "pass", "fail")
_TOP = {
    "policy",
    "version",
    "description",
    "on_inconclusive",
    "candidate",
    "reference",
    "defaults",
    "sequential",
    "fidelity",
    "tasks",
}
_TASK_KEYS = {
    "task",
    "benchmark",
    "mode",
    "vs_published",
    "vs_reference",
    "min_items",
    "confidence",
    "method",
    "max_truncation_rate",
    "allow_placeholder",
}
_CRITERION_KEYS = {"max_drop", "confidence", "method"}


@dataclass(frozen=True)
class DropLimit:
    """The largest drop allowed, in percentage points, judged at a one-sided `confidence`."""

    max_drop: float
    confidence: float
    method: str


@dataclass(frozen=True)
class RunFilter:
    """Which runs a role takes: every given key must equal the run's metrics.json value."""

    model: str | None = None
    runner_profile: str | None = None

    def matches(self, metrics: dict[str, object]) -> bool:
        return (self.model is None or metrics.get("model") == self.model) and (
            self.runner_profile is None or metrics.get("runner_profile") == self.runner_profile
        )

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("model", self.model), ("runner_profile", self.runner_profile)) if v]
        return ", ".join(parts) or "any"


@dataclass(frozen=True)
class TaskGate:
    """What one task (or benchmark) in one mode must satisfy."""

    task: str | None
    benchmark: str | None
    mode: str
    vs_published: DropLimit | None
    vs_reference: DropLimit | None
    min_items: int
    max_truncation_rate: float | None
    allow_placeholder: bool

    @property
    def label(self) -> str:
        return f"{self.task or self.benchmark} ({self.mode})"

    def selects(self, metrics: dict[str, object]) -> bool:
        if metrics.get("mode") != self.mode:
            return False
        if self.task is not None:
            return bool(metrics.get("task") == self.task)
        return bool(metrics.get("benchmark") == self.benchmark)


@dataclass(frozen=True)
class FidelityLimits:
    max_mean_kl: float | None
    min_top1_agreement: float | None
    confidence: float
    allow_placeholder: bool


@dataclass(frozen=True)
class SequentialSettings:
    """How `evalkit gate --sequential` samples: items per look, a cap, the item order seed."""

    batch_items: int = 100
    max_items: int | None = None
    order_seed: int = 0


@dataclass(frozen=True)
class GatePolicy:
    name: str
    version: int
    description: str
    path: Path
    on_inconclusive: str
    candidate: RunFilter
    reference: RunFilter
    reference_runs: list[Path]
    tasks: list[TaskGate]
    fidelity: FidelityLimits | None
    sequential: SequentialSettings = field(default_factory=SequentialSettings)

    @property
    def title(self) -> str:
        return f"{self.name} v{self.version}"


def _mapping(v: Any, path: Path, where: str | None, key: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise DataError(path, where, key, "expected a mapping")
    return v


def _number(v: Any, path: Path, where: str | None, key: str, *, lo: float, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise DataError(path, where, key, f"expected a number {rng}, got {v!r}")
    return float(v)


def _confidence(v: Any, path: Path, where: str | None, key: str) -> float:
    c = _number(v, path, where, key, lo=0.5, hi=1.0)
    if c >= 1.0:
        raise DataError(path, where, key, "a confidence of 1 can never be reached; use e.g. 0.95")
    return c


def _limit(
    raw: Any, base: dict[str, object], path: Path, where: str | None, key: str, methods: tuple[str, ...]
) -> DropLimit | None:
    if raw is None:
        return None
    d = _mapping(raw, path, where, key)
    unknown = set(d) - _CRITERION_KEYS
    if unknown:
        raise DataError(path, where, f"{key}.{sorted(unknown)[0]}", "unknown key")
    if "max_drop" not in d:
        raise DataError(path, where, f"{key}.max_drop", "missing")
    method = str(d.get("method", base["method"]))
    if method not in methods:
        raise DataError(path, where, f"{key}.method", f"must be one of {', '.join(methods)}")
    return DropLimit(
        max_drop=_number(d["max_drop"], path, where, f"{key}.max_drop", lo=0.0, hi=100.0),
        confidence=_confidence(d.get("confidence", base["confidence"]), path, where, f"{key}.confidence"),
        method=method,
    )


def _resolve_path(p: str) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else REPO_ROOT / q


def load_policy(path: Path) -> GatePolicy:
    """Read and validate a gate policy; every error names the file, the task and the key."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "gate policy not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataError(path, None, None, f"invalid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise DataError(path, None, None, "a gate policy must be a mapping")
    validate(PolicySchema, raw, path, rows="tasks")  # types, ranges, unknown keys (policy_schema)
    unknown = set(raw) - _TOP
    if unknown:
        raise DataError(path, None, sorted(unknown)[0], "unknown key")
    for key in ("policy", "version", "tasks"):
        if raw.get(key) is None:
            raise DataError(path, None, key, "missing")
    if isinstance(raw["version"], bool) or not isinstance(raw["version"], int):
        raise DataError(path, None, "version", "expected an integer (bump it whenever a threshold changes)")
    on_inc = str(raw.get("on_inconclusive", "undecided"))
    if on_inc not in ON_INCONCLUSIVE:
        raise DataError(path, None, "on_inconclusive", f"must be one of {', '.join(ON_INCONCLUSIVE)}")

    defaults = _mapping(raw.get("defaults"), path, None, "defaults")
    unknown = set(defaults) - (_TASK_KEYS - {"task", "benchmark", "mode"})
    if unknown:
        raise DataError(path, None, f"defaults.{sorted(unknown)[0]}", "unknown key")
    base = {
        "confidence": _confidence(defaults.get("confidence", 0.95), path, None, "defaults.confidence"),
        "method": str(defaults.get("method", "auto")),
    }

    tasks: list[TaskGate] = []
    known_tasks = set(list_tasks())
    if not isinstance(raw["tasks"], list) or not (raw["tasks"] or raw.get("fidelity")):
        raise DataError(path, None, "tasks", "expected a non-empty list (or fidelity limits)")
    seen: set[tuple[str | None, str | None, str]] = set()
    for i, t in enumerate(raw["tasks"], 1):
        where = f"tasks[{i}]"
        t = _mapping(t, path, where, "tasks")
        unknown = set(t) - _TASK_KEYS
        if unknown:
            raise DataError(path, where, sorted(unknown)[0], "unknown key")
        task, bench = t.get("task"), t.get("benchmark")
        if (task is None) == (bench is None):
            raise DataError(path, where, "task", "give exactly one of task or benchmark")
        if task is not None and task not in known_tasks:
            raise DataError(
                path, where, "task", f"unknown task {task!r} (known: {', '.join(sorted(known_tasks))})"
            )
        if bench is not None and bench not in BENCHMARKS:
            raise DataError(path, where, "benchmark", f"unknown benchmark {bench!r} (the model card's names)")
        mode = t.get("mode")
        if mode not in MODES:
            raise DataError(path, where, "mode", f"must be one of {', '.join(MODES)}")
        entry = (task, bench, mode)
        if entry in seen:
            raise DataError(path, where, "task", "listed twice for this mode")
        seen.add(entry)
        merged = {**defaults, **t}
        tb = {
            "confidence": _confidence(
                merged.get("confidence", base["confidence"]), path, where, "confidence"
            ),
            "method": str(merged.get("method", base["method"])),
        }
        vs_pub = _limit(merged.get("vs_published"), tb, path, where, "vs_published", MEASURED_METHODS)
        vs_ref = _limit(merged.get("vs_reference"), tb, path, where, "vs_reference", PAIRED_METHODS)
        trunc = merged.get("max_truncation_rate")
        tasks.append(
            TaskGate(
                task=task,
                benchmark=bench,
                mode=mode,
                vs_published=vs_pub,
                vs_reference=vs_ref,
                min_items=int(_number(merged.get("min_items", 1), path, where, "min_items", lo=1)),
                max_truncation_rate=None
                if trunc is None
                else _number(trunc, path, where, "max_truncation_rate", lo=0.0, hi=1.0),
                allow_placeholder=bool(merged.get("allow_placeholder", False)),
            )
        )

    fid = None
    if raw.get("fidelity") is not None:
        f = _mapping(raw["fidelity"], path, None, "fidelity")
        unknown = set(f) - {"max_mean_kl", "min_top1_agreement", "confidence", "allow_placeholder"}
        if unknown:
            raise DataError(path, None, f"fidelity.{sorted(unknown)[0]}", "unknown key")
        fid = FidelityLimits(
            max_mean_kl=None
            if f.get("max_mean_kl") is None
            else _number(f["max_mean_kl"], path, None, "fidelity.max_mean_kl", lo=0.0),
            min_top1_agreement=None
            if f.get("min_top1_agreement") is None
            else _number(f["min_top1_agreement"], path, None, "fidelity.min_top1_agreement", lo=0.0, hi=1.0),
            confidence=_confidence(
                f.get("confidence", base["confidence"]), path, None, "fidelity.confidence"
            ),
            allow_placeholder=bool(f.get("allow_placeholder", False)),
        )

    seq = _mapping(raw.get("sequential"), path, None, "sequential")
    unknown = set(seq) - {"batch_items", "max_items", "order_seed"}
    if unknown:
        raise DataError(path, None, f"sequential.{sorted(unknown)[0]}", "unknown key")
    sequential = SequentialSettings(
        batch_items=int(_number(seq.get("batch_items", 100), path, None, "sequential.batch_items", lo=1)),
        max_items=None
        if seq.get("max_items") is None
        else int(_number(seq["max_items"], path, None, "sequential.max_items", lo=1)),
        order_seed=int(_number(seq.get("order_seed", 0), path, None, "sequential.order_seed", lo=0)),
    )

    cand = _mapping(raw.get("candidate"), path, None, "candidate")
    ref = _mapping(raw.get("reference"), path, None, "reference")
    for role, d, allowed in (
        ("candidate", cand, {"model", "runner_profile"}),
        ("reference", ref, {"model", "runner_profile", "runs"}),
    ):
        unknown = set(d) - allowed
        if unknown:
            raise DataError(path, None, f"{role}.{sorted(unknown)[0]}", "unknown key")
    runs = ref.get("runs") or []
    if isinstance(runs, str):
        runs = [runs]
    return GatePolicy(
        name=str(raw["policy"]),
        version=int(raw["version"]),
        description=str(raw.get("description", "")).strip(),
        path=path,
        on_inconclusive=on_inc,
        candidate=RunFilter(cand.get("model"), cand.get("runner_profile")),
        reference=RunFilter(ref.get("model"), ref.get("runner_profile")),
        reference_runs=[_resolve_path(str(p)) for p in runs],
        tasks=tasks,
        fidelity=fid,
        sequential=sequential,
    )
