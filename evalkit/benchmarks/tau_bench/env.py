"""A tau-bench (v1) environment: a domain's database, its tools, a task, and the reward.

The reward follows tau-bench's `Env.calculate_reward` (@59a200c): the final database must
hash equal to a fresh database on which the task's gold actions were replayed (order-free
for dict keys: dicts become key-sorted tuples), and every required output string must
appear, case-insensitively, in some message the agent sent the user with commas removed.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.benchmarks.tau_bench import airline as tau_airline
from evalkit.benchmarks.tau_bench import retail as tau_retail
from evalkit.benchmarks.tau_bench.common import ToolError
from evalkit.errors import DataError

DOMAINS: dict[str, dict[str, Callable[..., str]]] = {"airline": tau_airline.TOOLS, "retail": tau_retail.TOOLS}
DB_FILES = {"airline": ("flights", "reservations", "users"), "retail": ("orders", "products", "users")}
TERMINATE_TOOLS = ("transfer_to_human_agents",)
SCHEMA_DIR = Path(__file__).with_name("schemas")


@dataclass(frozen=True)
class Action:
    name: str
    kwargs: dict[str, object]


@dataclass(frozen=True)
class TauTask:
    user_id: str
    instruction: str
    actions: tuple[Action, ...]
    outputs: tuple[str, ...]


def _read_json(path: Path) -> Any:
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        with gzip.open(gz, "rt", encoding="utf-8") as f:
            return json.load(f)
    return json.loads(path.read_text(encoding="utf-8"))


class Table(dict):  # type: ignore[type-arg,unused-ignore]
    """One database table, copy-on-access over a shared pristine table.

    An entity is deep-copied the first time it is looked up by key (tools mutate only what
    they look up); iterating `values()`/`items()` yields untouched entities uncopied, which
    the read-only tools (searches, look-ups by name) rely on for speed. An episode thus
    copies a few records instead of the whole database.
    """

    def __init__(self, pristine: dict[str, object]):
        super().__init__()
        self.pristine = pristine
        self.removed: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if not dict.__contains__(self, key):
            if key in self.removed or key not in self.pristine:
                raise KeyError(key)
            dict.__setitem__(self, key, copy.deepcopy(self.pristine[key]))
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (key in self.pristine and key not in self.removed)

    def __delitem__(self, key: str) -> None:
        self[key]
        dict.__delitem__(self, key)
        self.removed.add(key)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [k for k in self.pristine if k not in self.removed] + [
            k for k in dict.keys(self) if k not in self.pristine
        ]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [
            (k, dict.__getitem__(self, k) if dict.__contains__(self, k) else self.pristine[k])
            for k in self.keys()
        ]

    def values(self) -> list[Any]:  # type: ignore[override]
        return [v for _, v in self.items()]

    def touched(self) -> dict[str, object]:
        return dict(dict.items(self))


@functools.lru_cache(maxsize=4)
def _pristine(data_dir: str, domain: str) -> dict[str, dict[str, object]]:
    d = Path(data_dir) / domain
    return {name: _read_json(d / f"{name}.json") for name in DB_FILES[domain]}


def _entity_hash(value: Any) -> bytes:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()


@functools.lru_cache(maxsize=4)
def _pristine_hashes(data_dir: str, domain: str) -> dict[str, dict[str, bytes]]:
    return {
        t: {k: _entity_hash(v) for k, v in rows.items()} for t, rows in _pristine(data_dir, domain).items()
    }


def load_db(data_dir: Path, domain: str) -> dict[str, object]:
    """A fresh, private (copy-on-access) view of the domain's database."""
    key = str(Path(data_dir).resolve())
    db: dict[str, object] = {name: Table(rows) for name, rows in _pristine(key, domain).items()}
    db["__source__"] = (key, domain)
    return db


def load_wiki(data_dir: Path, domain: str) -> str:
    return (Path(data_dir) / domain / "wiki.md").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=2)
def tool_schemas(domain: str) -> list[dict[str, object]]:
    """The OpenAI function schemas the agent is given (tau-bench's get_info(), see schemas/)."""
    tools: list[dict[str, object]] = json.loads((SCHEMA_DIR / f"{domain}.json").read_text())["tools"]
    return tools


def parse_task(rec: dict[str, Any], where: str, row: int) -> TauTask:
    """A task row (from the converted tasks_*.jsonl); errors name the row and field."""
    for key in ("user_id", "instruction", "actions"):
        if key not in rec:
            raise DataError(where, row, key, "missing")
    actions = []
    for i, a in enumerate(rec["actions"]):
        if (
            not isinstance(a, dict)
            or not isinstance(a.get("name"), str)
            or not isinstance(a.get("kwargs"), dict)
        ):
            raise DataError(where, row, f"actions[{i}]", "an action needs a name and a kwargs object")
        actions.append(Action(a["name"], dict(a["kwargs"])))
    outputs = rec.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise DataError(where, row, "outputs", "expected a list of strings")
    return TauTask(str(rec["user_id"]), str(rec["instruction"]), tuple(actions), tuple(outputs))


def data_hash(data: dict[str, Any]) -> str:
    """A digest of the whole database that is equal iff tau-bench's `to_hashable` forms are equal
    (dict keys sorted, list order kept): a hash over (table, key, canonical-JSON digest) with the
    untouched records' digests computed once per process."""
    key, domain = data["__source__"]
    base = _pristine_hashes(key, domain)
    h = hashlib.sha256()
    for table in sorted(t for t in data if t != "__source__"):
        rows: Table = data[table]
        touched = rows.touched()
        for k in sorted(rows.keys()):
            digest = _entity_hash(touched[k]) if k in touched else base[table][k]
            h.update(f"{table}\x00{k}\x00".encode() + digest)
    return h.hexdigest()


@dataclass
class TauEnv:
    """One episode's database and tools."""

    domain: str
    data: dict[str, Any]
    calls: list[dict[str, object]] = field(default_factory=list)

    def step(self, name: str, kwargs: dict[str, object]) -> str:
        """Run a tool; as in tau-bench, any failure becomes the observation "Error: …"."""
        tools = DOMAINS[self.domain]
        if name not in tools:
            obs = f"Unknown action {name}"
        else:
            before = self._snapshot() if name not in _READ_ONLY else None
            try:
                obs = tools[name](self.data, **kwargs)
            except ToolError as e:
                obs = f"Error: {e}"
            except Exception as e:  # bad arguments from the model: wrong names, wrong types
                obs = f"Error: {e}"
            diff = []
            if before is not None:
                after = self._snapshot()
                for (
                    t,
                    rows,
                ) in after.items():  # records first looked up by this call: compare with the original
                    for k in rows:
                        if k not in before[t] and k in self.data[t].pristine:
                            before[t][k] = self.data[t].pristine[k]
                diff = _diff(before, after)
            self.calls.append({"name": name, "kwargs": kwargs, "observation": obs[:2000], "db_diff": diff})
        return obs

    def _snapshot(self) -> dict[str, Any]:
        """The records this episode touched so far (a diff only concerns those), as plain data."""
        return json.loads(
            json.dumps(
                {
                    t: {"keys": len(rows), **rows.touched()}
                    for t, rows in self.data.items()
                    if t != "__source__"
                }
            )
        )


_READ_ONLY = {
    "calculate", "think", "transfer_to_human_agents", "get_user_details", "get_reservation_details",
    "list_all_airports", "search_direct_flight", "search_onestop_flight", "find_user_id_by_email",
    "find_user_id_by_name_zip", "get_order_details", "get_product_details", "list_all_product_types",
}  # fmt: skip


def _diff(
    before: Any, after: Any, path: str = "", out: list[str] | None = None, limit: int = 50
) -> list[str]:
    """The changed paths between two database states, `path: old -> new` (at most `limit`)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(set(before) | set(after), key=str):
            if k not in after:
                out.append(f"{path}/{k}: removed")
            elif k not in before:
                out.append(f"{path}/{k}: added {json.dumps(after[k])[:200]}")
            elif before[k] != after[k]:
                _diff(before[k], after[k], f"{path}/{k}", out, limit)
    elif before != after:
        out.append(f"{path}: {json.dumps(before)[:200]} -> {json.dumps(after)[:200]}")
    return out


@dataclass(frozen=True)
class Reward:
    reward: float
    r_actions: bool
    outputs: dict[str, bool]
    data_hash: str
    gold_hash: str


def gold_state(data_dir: Path, domain: str, task: TauTask) -> TauEnv:
    """A fresh database with the task's gold actions replayed (terminating tools skipped)."""
    env = TauEnv(domain, load_db(data_dir, domain))
    for a in task.actions:
        if a.name not in TERMINATE_TOOLS:
            env.step(a.name, copy.deepcopy(a.kwargs))
    return env


def reward(
    data_dir: Path, domain: str, task: TauTask, final_data: dict[str, object], agent_messages: list[str]
) -> Reward:
    """tau-bench's binary reward for a finished episode."""
    h, gold = data_hash(final_data), data_hash(gold_state(data_dir, domain, task).data)
    said = [m.lower().replace(",", "") for m in agent_messages]
    outputs = {o: any(o.lower() in m for m in said) for o in task.outputs}
    ok = h == gold and all(outputs.values())
    return Reward(1.0 if ok else 0.0, h == gold, outputs, h, gold)
