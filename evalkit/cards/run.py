"""Running a card's cells: one runner load for the whole card, every (task, mode) through it.

Each cell is a run of `evalkit.pipeline` in its stages: `prepare_run` with the shared runner
(and the judge / simulated-user runners the row needs, each loaded once), then ONE
`generate_runs` over the episodes of every cell (so the runner sees large batches across
tasks), then `finish_run` per cell. Its run directory, store and resumption are those of
`evalkit run`: a cell killed half-way resumes from its store. A ledger
(results/cards/<id>/cells.json, rewritten after every cell) remembers the finished cells by
what they were asked to do, so a rerun after a kill skips them without loading anything, and
a rerun of a finished card only renders it again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.cards.card import Card, CardRow
from evalkit.cards.options import CardOptions
from evalkit.cards.plan import Plan, PlanCell
from evalkit.fingerprint import hash_obj
from evalkit.pipeline import PreparedRun, RunConfig, finish_run, generate_runs, mark_stopped, prepare_run
from evalkit.registry import get_task
from evalkit.runners.base import Runner
from evalkit.runners.data_parallel import make_engines
from evalkit.runners.overrides import apply_runner_args
from evalkit.runners.profiles import load_profile, make_runner
from evalkit.wording import plural

LEDGER = "cells.json"


@dataclass
class CellResult:
    cell: PlanCell
    run_dir: Path | None  # None: the cell failed
    error: str = ""
    skipped: bool = False  # finished by an earlier invocation
    incomplete: str = ""  # some samples failed: how many (the figure covers the others)


class SharedRunners:
    """The model runner and the aux runners, each made on first use and closed once."""

    def __init__(self, opts: CardOptions, model: str, make: Callable[..., Runner] | None = None):
        self.opts, self.model, self._make = opts, model, make or make_runner
        self._runners: dict[str, Runner] = {}
        self.loads = 0

    def _get(self, role: str, profile: str, model: str | None) -> Runner:
        if role not in self._runners:
            self._runners[role] = self._make(load_profile(profile), model)
            self.loads += 1
        return self._runners[role]

    def model_runner(self) -> Runner:
        """The model under test, with RUNNER_ARGS applied, on GPUS engines (data parallel)."""
        if "model" not in self._runners:
            profile, _ = apply_runner_args(load_profile(self.opts.runner), self.opts.runner_args)
            self._runners["model"] = make_engines(
                profile, self.model, self.opts.gpus, make=self._make, dp=self.opts.dp
            )
            self.loads += 1
        return self._runners["model"]

    def aux_for(self, row: CardRow) -> dict[str, Runner]:
        """Only the roles the row needs: another role's runner would enter its run key."""
        aux: dict[str, Runner] = {}
        if row.judge and self.opts.judge:
            aux["judge"] = self._get("judge", self.opts.judge, self.opts.judge_model)
        if row.user_sim and self.opts.user_sim:
            aux["user"] = self._get("user", self.opts.user_sim, self.opts.user_sim_model)
        return aux

    def close(self) -> None:
        for r in self._runners.values():
            r.close()
        self._runners.clear()


def _cell_key(cell: PlanCell, row: CardRow, opts: CardOptions, model: str) -> str:
    """What a cell was asked to do: the same key means the same run directory and results."""
    spec = get_task(cell.task or "")
    profiles = {
        role: (name, load_profile(name).model if name else None, model_override)
        for role, name, model_override in (
            ("model", opts.runner, model),
            ("judge", opts.judge if row.judge else None, opts.judge_model),
            ("user", opts.user_sim if row.user_sim else None, opts.user_sim_model),
        )
    }
    profile_texts = {role: _profile_text(name) for role, (name, _, _) in profiles.items() if name is not None}
    cfg = _config(cell, row, opts, model)
    asked = {k: v for k, v in cfg.__dict__.items() if k != "progress"} | {"results_dir": str(cfg.results_dir)}
    return hash_obj(
        {
            "cfg": asked,
            "spec": spec.path.read_text(encoding="utf-8"),
            "profiles": {k: list(v) for k, v in profiles.items()},
            "profile_texts": profile_texts,
        }
    )


def _profile_text(name: str) -> str:
    path = Path(name) if name.endswith(".yaml") else None
    if path is None:
        from evalkit.registry import runners_dir

        path = runners_dir() / f"{name}.yaml"
    return path.read_text(encoding="utf-8")


def _config(cell: PlanCell, row: CardRow, opts: CardOptions, model: str) -> RunConfig:
    """The cell as `evalkit run` would take it. The card's n and budget are passed only where they
    differ from the spec, so that a profile's cap on the budget applies as it does for a run."""
    cfg = RunConfig(
        task=cell.task or "",
        runner=opts.runner,
        model=opts.model,
        mode=cell.mode,
        limit=opts.limit,
        n=opts.n or (row.n if row.overrides else None),
        max_new_tokens=opts.max_new_tokens or (row.max_new_tokens if row.overrides else None),
        data=opts.data,
        seed=opts.seed,
        progress=opts.progress,
        runner_args=dict(opts.runner_args),
    )
    cfg.results_dir = opts.results_dir
    return cfg


Ledger = dict[str, dict[str, str]]  # cell ("AIME 2025 (reasoning)") -> {key, run_dir, task}


def _read_ledger(path: Path) -> Ledger:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _finished(entry: Any, key: str) -> Path | None:
    """The run directory of a cell finished earlier with every sample answered: a run whose
    metrics say `incomplete` (some model calls failed) runs again, retrying just those."""
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    run_dir = Path(str(entry.get("run_dir")))
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return None if not isinstance(metrics, dict) or metrics.get("incomplete") else run_dir


def run_cells(
    card: Card,
    plan: Plan,
    opts: CardOptions,
    out_dir: Path,
    runners: SharedRunners | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> list[CellResult]:
    """Run every runnable cell of the plan through one runner, all cells' episodes in ONE
    scheduler call (requests of every task batched together); return each cell's run directory."""
    rows = {(r.benchmark, r.mode): r for r in card.rows()}
    ledger_path = out_dir / LEDGER
    ledger = _read_ledger(ledger_path)
    shared = runners or SharedRunners(opts, plan.model)
    results: list[CellResult] = []
    pending: list[tuple[PlanCell, str, PreparedRun]] = []
    todo = plan.runnable()
    try:
        for i, cell in enumerate(todo, 1):
            row = rows[(cell.benchmark, cell.mode)]
            key = _cell_key(cell, row, opts, plan.model)
            done = _finished(ledger.get(cell.key), key)
            if done is not None:
                results.append(CellResult(cell, done, skipped=True))
                log(f"[{i}/{len(todo)}] {cell.key}: finished earlier ({done})")
                continue
            try:
                cfg = _config(cell, row, opts, plan.model)
                prepared = prepare_run(cfg, shared.model_runner(), shared.aux_for(row))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # one broken cell must not lose the others
                results.append(_failed(cell, e, log, f"[{i}/{len(todo)}] "))
                continue
            log(f"[{i}/{len(todo)}] {cell.key}: {cell.task}, {plural(len(prepared.keys), 'episode')}")
            pending.append((cell, key, prepared))
        if pending:
            results += _generate_and_finish(pending, opts, ledger, ledger_path, log)
    finally:
        if runners is None:
            shared.close()
    return results


def _failed(cell: PlanCell, e: BaseException, log: Callable[[str], None], where: str = "") -> CellResult:
    log(f"{where}{cell.key}: failed: {type(e).__name__}: {e}")
    return CellResult(cell, None, error=f"{type(e).__name__}: {e}"[:500])


def _generate_and_finish(
    pending: list[tuple[PlanCell, str, PreparedRun]],
    opts: CardOptions,
    ledger: Ledger,
    ledger_path: Path,
    log: Callable[[str], None],
) -> list[CellResult]:
    """One scheduler call over every pending cell, then each cell scored and written."""
    log(f"generating {plural(len(pending), 'cell')} in one scheduler call")
    try:
        generated = generate_runs([p for _, _, p in pending], progress=opts.progress)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # every pending run.json says it stopped (generate_runs marks them)
        return [_failed(cell, e, log) for cell, _, _ in pending]
    results: list[CellResult] = []
    for (cell, key, prepared), outputs in zip(pending, generated, strict=True):
        try:
            res = finish_run(prepared, outputs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            mark_stopped(prepared.run_dir, e)
            results.append(_failed(cell, e, log))
            continue
        errors = res.metrics.get("errors")  # typed now (evalkit.run_records.ErrorSummary)
        gaps = f"{errors['failed_samples']} of {errors['planned_samples']} samples failed" if errors else ""
        results.append(
            CellResult(cell, res.run_dir, incomplete=gaps if res.metrics.get("incomplete") else "")
        )
        ledger[cell.key] = {"key": key, "run_dir": str(res.run_dir), "task": cell.task or ""}
        _write_json(ledger_path, ledger)
    return results


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
