"""Run directories written the way the pipeline writes them, from chosen per-sample scores.

metrics.json comes from the real `evalkit.metrics.aggregate`, so reports and gates read
exactly the schema a real run has; only the scores are chosen by the test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.metrics import aggregate
from evalkit.records import SamplingParams


def write_run(
    root: Path,
    run_id: str,
    scores: Mapping[str, Sequence[float]],
    *,
    task: str = "kmmlu_pro",
    title: str = "KMMLU-Pro",
    benchmark: str | None = "KMMLU-Pro",
    mode: str = "non-reasoning",
    model: str = "LGAI-EXAONE/EXAONE-4.0-32B-GPTQ",
    runner_profile: str = "exaone-4.0-32b-gptq",
    placeholder: bool = False,
    synthetic: bool = False,
    seed: int = 1234,
    subjects: Mapping[str, str] | None = None,
    truncated: float = 0.0,
    generation_time_s: float = 600.0,
) -> Path:
    """Write root/run_id/{metrics.json, samples.jsonl}; `scores` maps item id -> per-repeat scores."""
    d = root / run_id
    d.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    n_trunc = round(truncated * sum(len(v) for v in scores.values()))
    for item, reps in scores.items():
        for r, s in enumerate(reps):
            records.append(
                {
                    "id": item,
                    "repeat": r,
                    "subject": (subjects or {}).get(item, "general"),
                    "extracted": "A" if s else None,
                    "correct": bool(s >= 1.0),
                    "score": float(s),
                    "finish_reason": "length" if len(records) < n_trunc else "stop",
                    "prompt_tokens": 120,
                    "completion_tokens": 300,
                }
            )
    n_repeats = max(len(v) for v in scores.values())
    metrics = aggregate(records, n_repeats=n_repeats)
    metrics.update(
        {
            "task": task,
            "title": title,
            "benchmark": benchmark,
            "mode": mode,
            "model": model,
            "runner_profile": runner_profile,
            "runner": {"runner": "torch_int4", "model": model, "device_type": "cuda"},
            "placeholder_model": placeholder,
            "reference_size": "32B",
            "data_source": "test",
            "synthetic_data": synthetic,
            "params": SamplingParams(max_new_tokens=2048).to_dict(),
            "seed": seed,
            "run_id": run_id,
            "wall_time_s": generation_time_s + 5,
            "generation_time_s": generation_time_s,
            "calls_reused_from_store": 0,
            "max_new_tokens_capped_by_profile": False,
            "prompt_source": "test prompt",
            "evalkit_version": "test",
            "finished": "2026-01-01T00:00:00Z",
        }
    )
    (d / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


def binary_scores(n: int, p: float, seed: int, *, prefix: str = "") -> dict[str, list[float]]:
    """n items scored once, each right with probability p."""
    rng = np.random.default_rng(seed)
    return {f"{prefix}{i}": [float(rng.random() < p)] for i in range(n)}


def degrade(scores: Mapping[str, Sequence[float]], lose: int, win: int, seed: int) -> dict[str, list[float]]:
    """A copy where `lose` items right in `scores` become wrong and `win` wrong ones right."""
    rng = np.random.default_rng(seed)
    out = {k: list(v) for k, v in scores.items()}
    right = [k for k, v in out.items() if v[0] == 1.0]
    wrong = [k for k, v in out.items() if v[0] == 0.0]
    for k in rng.choice(right, lose, replace=False):
        out[str(k)][0] = 0.0
    for k in rng.choice(wrong, win, replace=False):
        out[str(k)][0] = 1.0
    return out
