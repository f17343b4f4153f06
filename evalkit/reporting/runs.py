"""Finished run directories (results/runs/<run-id>/): metrics.json and samples.jsonl, validated.

Reports and gates read runs only through this module, so a run written by an older or a
damaged evalkit fails here with the file, row and field named, not deep inside a plot.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from evalkit.errors import DataError, UsageError
from evalkit.jsonl import iter_jsonl
from evalkit.reporting.run_report import failed_text
from evalkit.run_records import ScoredRow

# metrics.json keys every report and gate relies on (the pipeline writes many more).
REQUIRED_METRICS = (
    "task",
    "mode",
    "model",
    "runner_profile",
    "metric",
    "value",
    "se",
    "n_items",
    "n_samples",
    "n_repeats",
)
SAMPLE_FIELDS = ("id", "score")


@dataclass
class RunData:
    """One finished run: its metrics, and its per-sample records read on first use."""

    path: Path
    metrics: dict[str, Any]
    _records: list[ScoredRow] | None = field(default=None, repr=False)

    # -- identity
    @property
    def run_id(self) -> str:
        return str(self.metrics.get("run_id") or self.path.name)

    @property
    def task(self) -> str:
        return str(self.metrics["task"])

    @property
    def title(self) -> str:
        return str(self.metrics.get("title") or self.task)

    @property
    def mode(self) -> str:
        return str(self.metrics["mode"])

    @property
    def benchmark(self) -> str | None:
        b = self.metrics.get("benchmark")
        return str(b) if b else None

    @property
    def model(self) -> str:
        return str(self.metrics["model"])

    @property
    def runner_profile(self) -> str:
        return str(self.metrics["runner_profile"])

    @property
    def reference_size(self) -> str:
        return str(self.metrics.get("reference_size") or "32B")

    @property
    def placeholder(self) -> bool:
        return bool(self.metrics.get("placeholder_model"))

    @property
    def synthetic_data(self) -> bool:
        return bool(self.metrics.get("synthetic_data"))

    @property
    def incomplete(self) -> bool:
        """Some samples failed (their model calls returned errors): the figure covers the rest."""
        return bool(self.metrics.get("incomplete"))

    @property
    def failed_text(self) -> str:
        return failed_text(self.metrics)

    @property
    def finished(self) -> str:
        return str(self.metrics.get("finished") or "")

    @property
    def device_type(self) -> str:
        runner = self.metrics.get("runner")
        return str(runner.get("device_type", "")) if isinstance(runner, dict) else ""

    # -- figures
    @property
    def value(self) -> float:
        return float(self.metrics["value"])

    @property
    def se(self) -> float:
        se = self.metrics.get("se")
        return math.nan if se is None else float(se)

    @property
    def n_items(self) -> int:
        return int(self.metrics["n_items"])

    @property
    def n_repeats(self) -> int:
        return int(self.metrics["n_repeats"])

    def settings(self) -> dict[str, str]:
        """What a reader tells two runs of one model and task apart by (see `system_labels`)."""
        params = self.metrics.get("params") or {}
        out = {
            "data": data_label(str(self.metrics.get("data_source") or "")),
            "items": f"{self.n_items} items",
            "N": f"N={self.n_repeats}",
            "max_new_tokens": f"max_new_tokens={params.get('max_new_tokens')}",
            "seed": f"seed {self.metrics.get('seed')}",
        }
        for k, v in sorted((self.metrics.get("runner_args") or {}).items()):
            out[f"runner_arg {k}"] = f"{k}={v}"
        return out

    @property
    def has_samples(self) -> bool:
        return (self.path / "samples.jsonl").is_file()

    def records(self) -> list[ScoredRow]:
        """The run's samples.jsonl rows (id, repeat, score, ...), validated."""
        if self._records is None:
            self._records = read_samples(self.path / "samples.jsonl")
        return self._records

    def item_means(self) -> tuple[list[str], np.ndarray, bool]:
        """(item ids, mean score per item, True when every item is one 0/1 sample)."""
        by_item: dict[str, list[float]] = defaultdict(list)
        for r in self.records():
            by_item[str(r["id"])].append(float(r["score"]))
        ids = list(by_item)
        means = np.array([np.mean(by_item[i]) for i in ids], dtype=float)
        binary = all(len(v) == 1 and v[0] in (0.0, 1.0) for v in by_item.values())
        return ids, means, binary and bool(ids)

    def samples_per_item(self) -> np.ndarray:
        """How many scored samples each item of `item_means` averages (same order)."""
        counts: dict[str, int] = defaultdict(int)
        for r in self.records():
            counts[str(r["id"])] += 1
        return np.array(list(counts.values()), dtype=int)


def load_run(path: Path) -> RunData:
    """Read and check one run directory's metrics.json."""
    path = Path(path)
    mpath = path / "metrics.json"
    if not mpath.is_file():
        raise UsageError(f"{mpath} not found: is {path} a finished run directory?")
    try:
        metrics = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(mpath, None, None, f"not JSON ({e.msg})") from e
    if not isinstance(metrics, dict):
        raise DataError(mpath, None, None, "expected a JSON object")
    for key in REQUIRED_METRICS:
        if key not in metrics:
            raise DataError(mpath, None, key, "missing")
    if not isinstance(metrics["value"], int | float):
        raise DataError(mpath, None, "value", f"expected a number, got {metrics['value']!r}")
    return RunData(path=path, metrics=metrics)


def read_samples(path: Path) -> list[ScoredRow]:
    """samples.jsonl rows with at least id and a numeric score in [0, 1] (`ScoredRow`: the part
    of a `SampleRecord` that reports and gates read; the other fields stay in the dicts)."""
    if not path.is_file():
        raise UsageError(f"{path} not found: the run has no per-sample records")
    rows: list[ScoredRow] = []
    for n, row in iter_jsonl(path):
        for key in SAMPLE_FIELDS:
            if key not in row:
                raise DataError(path, n, key, "missing")
        s = row["score"]
        if not isinstance(s, int | float) or isinstance(s, bool) or not 0.0 <= float(s) <= 1.0:
            raise DataError(path, n, "score", f"expected a number in [0, 1], got {s!r}")
        if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
            raise DataError(path, n, "id", f"expected a string or an integer, got {row['id']!r}")
        if "repeat" in row and (not isinstance(row["repeat"], int) or isinstance(row["repeat"], bool)):
            raise DataError(path, n, "repeat", f"expected an integer, got {row['repeat']!r}")
        rows.append(cast(ScoredRow, row))  # id, score and repeat checked above
    return rows


def discover_runs(paths: Iterable[Path | str]) -> list[RunData]:
    """Runs named by `paths`: each a run directory (it holds metrics.json) or a directory of them."""
    runs: list[RunData] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if (p / "metrics.json").is_file():
            candidates = [p]
        elif (p / "run.json").is_file():  # an unfinished run: see discover_unfinished
            candidates = []
        elif p.is_dir():
            candidates = sorted(d for d in p.iterdir() if (d / "metrics.json").is_file())
        else:
            raise UsageError(f"{p} is neither a run directory nor a directory of runs")
        for d in candidates:
            if d.resolve() not in seen:
                seen.add(d.resolve())
                runs.append(load_run(d))
    return runs


def short_model(name: str) -> str:
    """A model name fit for a column header: a hub id or path keeps its last part."""
    return Path(name.rstrip("/")).name or name


def data_label(source: str) -> str:
    """'sample', 'hub', or a local copy's file or directory name."""
    if source in ("", "sample", "test"):
        return f"data {source or '?'}"
    if source.startswith("hub:"):
        return "data hub"
    return f"data {Path(source).name or source}"


def system_labels(runs: Sequence[RunData]) -> dict[str, str]:
    """A readable, unique label per run (by run_id): model · runner profile, tagged when a
    placeholder; runs of one system on one task and mode are told apart by the settings in
    which they differ (data, item count, N, max_new_tokens, seed, runner args), and by the run
    id where none differs; a run with failed samples is tagged incomplete."""
    base = {
        r.run_id: f"{short_model(r.model)} · {r.runner_profile}" + (" (placeholder)" if r.placeholder else "")
        for r in runs
    }
    groups: dict[tuple[str, str, str], list[RunData]] = defaultdict(list)
    for r in runs:
        groups[(base[r.run_id], r.task, r.mode)].append(r)
    labels = dict(base)
    for group in groups.values():
        if len(group) < 2:
            continue
        settings = [r.settings() for r in group]
        differ = [k for k in settings[0] if len({s.get(k) for s in settings}) > 1]
        named = {r.run_id: ", ".join(st[k] for k in differ) for r, st in zip(group, settings, strict=True)}
        for r in group:
            parts = named[r.run_id]
            if not parts or list(named.values()).count(parts) > 1:  # same settings: the run id tells
                parts = f"{parts}, run {r.run_id}" if parts else f"run {r.run_id}"
            labels[r.run_id] = f"{base[r.run_id]} [{parts}]"
    for r in runs:
        if r.incomplete:
            labels[r.run_id] += " (incomplete)"
    return labels


@dataclass(frozen=True)
class UnfinishedRun:
    """A run directory without metrics.json: still running, interrupted, or stopped by an error."""

    path: Path
    task: str
    mode: str
    model: str
    runner_profile: str
    status: str  # "running" (or killed), "interrupted", "failed"
    error: str
    calls_stored: int
    planned: str  # e.g. "40 items × 1", or "" where run.json does not say

    @property
    def run_id(self) -> str:
        return self.path.name


def load_unfinished(path: Path) -> UnfinishedRun:
    """What run.json and generations.jsonl say about a run that has no metrics.json."""
    info: dict[str, object] = {}
    try:
        raw = json.loads((path / "run.json").read_text(encoding="utf-8"))
        info = raw if isinstance(raw, dict) else {}
    except (OSError, ValueError):
        pass
    calls = 0
    store = path / "generations.jsonl"
    if store.is_file():
        with store.open("rb") as fh:
            calls = max(sum(1 for line in fh if line.strip()) - 1, 0)  # less the header line
    status = str(info.get("status") or "running")
    planned = ""
    if info.get("planned_items"):
        planned = f"{info['planned_items']} items × {info.get('planned_repeats', 1)}"
    return UnfinishedRun(
        path=path,
        task=str(info.get("task", "?")),
        mode=str(info.get("mode", "?")),
        model=str(info.get("model", "?")),
        runner_profile=str(info.get("runner_profile", "?")),
        status="running or killed" if status == "running" else status,
        error=str(info.get("error") or ""),
        calls_stored=calls,
        planned=planned,
    )


def discover_unfinished(paths: Iterable[Path | str]) -> list[UnfinishedRun]:
    """Run directories among `paths` (or inside them) that hold run.json but no metrics.json."""
    out: list[UnfinishedRun] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        candidates = [p] if (p / "run.json").is_file() else sorted(p.iterdir()) if p.is_dir() else []
        for d in candidates:
            if (d / "run.json").is_file() and not (d / "metrics.json").is_file() and d.resolve() not in seen:
                seen.add(d.resolve())
                out.append(load_unfinished(d))
    return out
