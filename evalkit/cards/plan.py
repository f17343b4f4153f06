"""The plan of a card run, made before any model loads: every (benchmark, mode) cell with its
items, repeats, expected generated tokens and time, or why it cannot run.

Items are counted by reading the task's rows through evalkit.data (no prompts are built).
Expected tokens per sample come from stored runs of the same task, mode and model (their mean
completion tokens) when there are any, else from a stated guess: a fraction of the output
budget (FALLBACK_BUDGET_FRACTION). Time is expected tokens over the runner's throughput,
measured by stored runs of the same runner profile and model (completion tokens over
generation time, runs that generated everything themselves); without such runs it is unknown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evalkit.cards.card import Card, CardRow
from evalkit.cards.options import CardOptions
from evalkit.data import default_source, load_rows
from evalkit.errors import EvalkitError
from evalkit.models import check_model, is_tiny
from evalkit.registry import get_task, import_object
from evalkit.reporting import format as fmt
from evalkit.runners.overrides import apply_runner_args
from evalkit.runners.profiles import RunnerProfile, load_profile
from evalkit.wording import option, plural

# Without a stored run to go by: the share of the output budget a sample is guessed to use.
# A guess, stated in the plan: reasoning traces often run long, direct answers rarely do.
FALLBACK_BUDGET_FRACTION = {"reasoning": 0.5, "non-reasoning": 0.1}

RUN, NOT_RUN = "run", "not run"


@dataclass
class PlanCell:
    """One (benchmark, mode) of the card."""

    table: str
    mode: str
    benchmark: str
    task: str | None
    status: str  # RUN or NOT_RUN
    reason: str = ""  # why not run
    data: str = ""  # where the rows come from
    items: int | None = None  # evaluated (after LIMIT)
    items_total: int | None = None  # in the data
    repeats: int | None = None
    max_new_tokens: int | None = None  # the effective budget (after a profile cap)
    tokens_per_sample: float | None = None
    tokens_source: str = ""
    expected_tokens: int | None = None
    est_seconds: float | None = None
    needs: list[str] = field(default_factory=list)  # "judge", "user simulator"

    @property
    def key(self) -> str:
        return f"{self.benchmark} ({self.mode})"


@dataclass
class Plan:
    card: str
    card_id: str
    title: str
    runner_profile: str
    model: str
    throughput_tok_s: float | None
    throughput_source: str
    cells: list[PlanCell]
    problems: list[str] = field(default_factory=list)  # blocking the whole card (model missing)

    def runnable(self) -> list[PlanCell]:
        return [c for c in self.cells if c.status == RUN]

    def missing(self) -> list[PlanCell]:
        return [c for c in self.cells if c.status == NOT_RUN and c.reason != NOT_SELECTED]


NOT_SELECTED = "not selected"


@dataclass(frozen=True)
class StoredRun:
    """What the plan reads from a finished run's metrics.json."""

    task: str
    mode: str
    model: str
    runner_profile: str
    completion_mean: float  # generated tokens per sample (all its calls)
    completion_total: int
    generation_time_s: float
    reused_calls: int  # calls answered from a store (then the time says nothing of the runner)


def _stored_runs(results_dir: Path) -> list[StoredRun]:
    out = []
    for path in sorted(results_dir.glob("*/metrics.json")):
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
            tokens = m.get("tokens") or {}
            out.append(
                StoredRun(
                    task=str(m.get("task")),
                    mode=str(m.get("mode")),
                    model=str(m.get("model")),
                    runner_profile=str(m.get("runner_profile")),
                    completion_mean=float(tokens.get("completion_mean") or 0),
                    completion_total=int(tokens.get("completion_total") or 0),
                    generation_time_s=float(m.get("generation_time_s") or 0),
                    reused_calls=int(m.get("calls_reused_from_store") or 0),
                )
            )
        except (OSError, ValueError, TypeError, AttributeError):
            continue  # not a run the plan can learn from
    return out


def _throughput(stored: list[StoredRun], profile: str, model: str) -> tuple[float | None, str]:
    runs = [
        r
        for r in stored
        if r.runner_profile == profile and r.model == model and not r.reused_calls and r.generation_time_s > 0
    ]
    tokens = sum(r.completion_total for r in runs)
    if not runs or tokens == 0:
        return None, f"no stored run of {profile} on {model} that generated its own calls"
    return tokens / sum(
        r.generation_time_s for r in runs
    ), f"{plural(len(runs), 'stored run')} of {profile} on {model}"


def _tokens_per_sample(stored: list[StoredRun], cell: PlanCell, model: str) -> tuple[float | None, str]:
    same = [r.completion_mean for r in stored if (r.task, r.mode, r.model) == (cell.task, cell.mode, model)]
    if same:
        return sum(same) / len(same), f"mean of {plural(len(same), 'stored run')}"
    if cell.max_new_tokens is None:
        return None, ""
    frac = FALLBACK_BUDGET_FRACTION[cell.mode]
    return frac * cell.max_new_tokens, f"guess: {frac:.0%} of the budget"


def _budget(row: CardRow, opts: CardOptions, profile: RunnerProfile) -> int | None:
    """The output budget the run will use: MAX_NEW_TOKENS=, else the card's, capped by the
    profile's limit unless the card overrides the spec (as pipeline._plan caps it)."""
    if opts.max_new_tokens is not None:
        return opts.max_new_tokens
    budget = row.max_new_tokens
    cap = profile.limits.get("max_new_tokens")
    if budget is not None and cap is not None and not row.overrides:
        budget = min(budget, int(cap))
    return budget


def _cell(row: CardRow, table: str, opts: CardOptions, profile: RunnerProfile, model: str) -> PlanCell:
    cell = PlanCell(table, row.mode, row.benchmark, row.task, RUN)
    cell.needs = [w for w, need in (("judge", row.judge), ("user simulator", row.user_sim)) if need]
    if row.task is None:
        cell.status, cell.reason = NOT_RUN, f"no task measures it: {row.no_task}"
        return cell
    cell.repeats = opts.n or row.n
    cell.max_new_tokens = _budget(row, opts, profile)
    if opts.modes and row.mode not in opts.modes:
        cell.status, cell.reason = NOT_RUN, NOT_SELECTED
        return cell
    if opts.benchmarks and row.benchmark not in opts.benchmarks:
        cell.status, cell.reason = NOT_RUN, NOT_SELECTED
        return cell
    spec = get_task(row.task)
    cell.data = opts.data or ("sample" if is_tiny(model) else default_source(spec))
    try:
        loaded = load_rows(spec, cell.data)
    except EvalkitError as e:
        why = f"gated data without a local copy ({e})" if row.gated else f"no data ({e})"
        cell.status, cell.reason = NOT_RUN, why
        return cell
    cell.data = loaded.source
    cell.items_total = len(loaded.rows)
    cell.items = min(cell.items_total, opts.limit) if opts.limit else cell.items_total
    if row.judge and not opts.judge:
        cell.status, cell.reason = NOT_RUN, f"needs a judge ({option('judge', 'PROFILE')})"
    elif row.user_sim and not opts.user_sim:
        cell.status, cell.reason = NOT_RUN, f"needs a user simulator ({option('user-sim', 'PROFILE')})"
    elif cell.items == 0:
        cell.status, cell.reason = NOT_RUN, f"no rows in {loaded.path}"
    return cell


def make_plan(card: Card, opts: CardOptions) -> Plan:
    """Every cell of the card, decided without loading a model (bad input fails here)."""
    profile, _ = apply_runner_args(load_profile(opts.runner), opts.runner_args)
    model = opts.model or profile.model
    problems = []
    if not getattr(import_object(profile.runner), "remote_model", False):
        try:
            check_model(model)
        except EvalkitError as e:
            problems.append(f"model: {e}")
    stored = _stored_runs(opts.results_dir)
    tput, tput_source = _throughput(stored, profile.name, model)
    cells = [_cell(row, t.title, opts, profile, model) for t in card.tables for row in t.rows]
    for c in cells:
        if c.status != RUN or c.items is None or c.repeats is None:
            continue
        c.tokens_per_sample, c.tokens_source = _tokens_per_sample(stored, c, model)
        if c.tokens_per_sample is not None:
            c.expected_tokens = round(c.tokens_per_sample * c.items * c.repeats)
            c.est_seconds = c.expected_tokens / tput if tput else None
    return Plan(
        card=card.id,
        card_id=opts.card_id(card, model, profile.name),
        title=card.title,
        runner_profile=profile.name,
        model=model,
        throughput_tok_s=tput,
        throughput_source=tput_source,
        cells=cells,
        problems=problems,
    )


def _status(c: PlanCell) -> str:
    return "run" if c.status == RUN else f"not run: {c.reason}".replace("|", "\\|")


def _items(c: PlanCell) -> str:
    if c.items is None:
        return "—"
    return f"{c.items}" + (f" of {c.items_total}" if c.items != c.items_total else "")


def _per_sample(c: PlanCell) -> str:
    return "—" if c.tokens_per_sample is None else f"{c.tokens_per_sample:.0f} ({c.tokens_source})"


def _count(x: int | None) -> str:
    return "—" if x is None else f"{x:,}"


def _time(c: PlanCell) -> str:
    if c.est_seconds is not None:
        return fmt.seconds(c.est_seconds)
    return "unknown" if c.status == RUN else "—"


def render_plan(plan: Plan) -> str:
    """The plan as Markdown (plan.md, and what `evalkit card` prints)."""
    run = plan.runnable()
    tokens = sum(c.expected_tokens or 0 for c in run)
    secs = [c.est_seconds for c in run]
    total_time = fmt.seconds(sum(s for s in secs if s is not None)) if run and None not in secs else "unknown"
    tput = f"{plan.throughput_tok_s:.1f} tok/s" if plan.throughput_tok_s else "unknown"
    lines = [
        f"# Plan: {plan.title} card ({plan.card}) on {plan.model} · {plan.runner_profile}",
        "",
        f"{plural(len(run), 'cell')} to run, {plural(len(plan.missing()), 'cell')} that cannot run; "
        f"about {tokens:,} generated tokens; runner throughput {tput} ({plan.throughput_source}); "
        f"estimated time {total_time}.",
        "",
    ]
    lines += [f"**Blocking:** {p}" for p in plan.problems]
    lines += [
        "| Table | Benchmark | Task | Status | Items | N | Budget | tokens/sample | expected tokens | time |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in plan.cells:
        lines.append(
            f"| {c.table} | {c.benchmark} | {c.task or '—'} | {_status(c)} | {_items(c)} "
            f"| {c.repeats or '—'} | {c.max_new_tokens or '—'} | {_per_sample(c)} "
            f"| {_count(c.expected_tokens)} | {_time(c)} |"
        )
    lines += [
        "",
        "Items are the rows of each task's data (after LIMIT); tokens per sample come from stored runs "
        "of the same task, mode and model, else from a guess (a share of the output budget: "
        + ", ".join(f"{m} {f:.0%}" for m, f in FALLBACK_BUDGET_FRACTION.items())
        + "); time is expected tokens over the runner's measured throughput.",
    ]
    return "\n".join(lines) + "\n"


def write_plan(plan: Plan, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "plan.json", out_dir / "plan.md"
    js.write_text(json.dumps(asdict(plan), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(render_plan(plan), encoding="utf-8")
    return js, md
