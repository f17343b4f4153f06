"""Random call sequences and trajectories over the 800 BFCL v3 multi-turn entries.

Used by bench/bfcl_multi_turn_diff.py (against gorilla's own code) and to record
tests/data/bfcl/multi_turn_probes.jsonl.gz. Everything is drawn from `random.Random(seed)`
so a run is reproducible.

Two things are made here:
- probe sequences: per turn, steps of `<tool_call>` texts calling any documented method of
  the entry's APIs, with arguments taken from the ground truth, the initial config, earlier
  results, or edge values (empty, `.`/`./x`/`..` paths, negative or float numbers, wrong
  types, JSON-string `arguments`, missing or extra arguments, wrong access tokens);
- trajectories with ordinary mistakes: the ground truth with a call dropped, wrong,
  added, reordered or duplicated, an early stop, or probes mixed in.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.apis import function_docs, new_instance
from evalkit.benchmarks.bfcl.multi_turn.world import parse_call_string

DATA = Path("/work/shared/data/bfcl_v3")
CATEGORIES = ("base", "miss_func", "miss_param", "long_context")
# Names no API has; bench/bfcl_multi_turn_diff.py --builtins adds Python builtins, which BFCL
# evaluates and evalkit does not (a deliberate deviation).
PROBE_NAMES = ["nonexistent_function", "ls.x"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return [json.loads(line) for line in f if line.strip()]


def load_entries(data: Path = DATA) -> list[dict[str, Any]]:
    """The 800 entries with their ground truth and category."""
    out = []
    for cat in CATEGORIES:
        answers = {
            a["id"]: a["ground_truth"]
            for a in _jsonl(data / "possible_answer" / f"BFCL_v3_multi_turn_{cat}.json")
        }
        for e in _jsonl(data / f"BFCL_v3_multi_turn_{cat}.json"):
            out.append({**e, "category": f"multi_turn_{cat}", "ground_truth": answers[e["id"]]})
    return out


def call_text(name: Any, args: Any, as_string: bool = False) -> str:
    arguments = json.dumps(args) if as_string else args
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def gt_kwargs(entry: dict[str, Any], call: str) -> tuple[str, dict[str, Any]]:
    """A ground-truth call string as a name and keyword arguments (positional ones named)."""
    import inspect

    c = parse_call_string(call)
    kwargs = dict(c.kwargs)
    if c.args:
        for cls in entry["involved_classes"]:
            m = getattr(new_instance(cls), c.name, None)
            if m is not None:
                names = [p for p in inspect.signature(m).parameters]
                kwargs = {**dict(zip(names, c.args, strict=False)), **kwargs}
    return c.name, kwargs


def _leaves(o: Any, out: list[Any], depth: int = 0) -> None:
    if depth > 6 or len(out) > 400:
        return
    if isinstance(o, dict):
        for k, v in o.items():
            out.append(k)
            _leaves(v, out, depth + 1)
    elif isinstance(o, list):
        for v in o[:20]:
            _leaves(v, out, depth + 1)
    elif isinstance(o, str | int | float | bool):
        out.append(o)


EDGE: dict[str, list[Any]] = {
    "string": [
        "",
        ".",
        "..",
        "./",
        "/",
        "~",
        " ",
        "x",
        "none",
        "USD",
        "EUR",
        "NYC",
        "LAX",
        "economy",
        "first",
        "business",
        "@john",
        "2024-12-01",
        "12/25",
        "ABC123",
        "wrong_token",
        "None",
    ],
    "integer": [0, -1, 1, 2, 3, 5, 10, 100, 4096, 1.5, "3", True],
    "float": [0, 0.0, -5.5, 1, 2.5, 60, 60.0, 100, 1e6, "1.2", 1.0000001],
    "number": [0, 1, -1, 2.5, 100],
    "boolean": [True, False, "true", 0, 1],
    "array": [[], ["a"], [1, 2, 3], [1.5, -2], ["@a", "@b"], [[1, 2]], [0]],
    "dict": [{}, {"a": 1}],
    "any": [None, "", 0, [], {}],
}


@dataclass
class Pool:
    """Values to draw arguments from: by parameter name, by type, and loose."""

    by_param: dict[str, list[Any]] = field(default_factory=dict)
    loose: list[Any] = field(default_factory=list)

    def add_result(self, text: str) -> None:
        try:
            v = json.loads(text)
        except ValueError:
            return
        found: list[Any] = []
        _leaves(v, found)
        self.loose.extend(x for x in found if isinstance(x, str | int | float) and not isinstance(x, bool))
        if isinstance(v, dict):
            for k, x in v.items():
                if isinstance(x, str | int | float):
                    self.by_param.setdefault(k, []).append(x)


def entry_pool(entry: dict[str, Any]) -> Pool:
    pool = Pool()
    for turn in entry["ground_truth"]:
        for call in turn:
            _, kw = gt_kwargs(entry, call)
            for k, v in kw.items():
                pool.by_param.setdefault(k, []).append(v)
    found: list[Any] = []
    _leaves(entry.get("initial_config", {}), found)
    pool.loose = [x for x in found if not isinstance(x, bool)]
    return pool


# MathAPI's precision is a number of digits: both BFCL and evalkit take minutes at 10**5.
PRECISION = [0, 1, 2, 5, 10, 25, 50, -1, 1.5, "3", None]


def _value(rng: random.Random, name: str, spec: dict[str, Any], pool: Pool) -> Any:
    typ = str(spec.get("type", "any"))
    r = rng.random()
    if name == "precision":
        return rng.choice(PRECISION)
    if spec.get("enum") and r < 0.3:
        return rng.choice(spec["enum"])
    if r < 0.45 and pool.by_param.get(name):
        v = rng.choice(pool.by_param[name])
        if typ == "string" and isinstance(v, str) and rng.random() < 0.25:
            return rng.choice([f"./{v}", f"{v}/", f"../{v}", f"./{v}/.", f"{v}x", v.upper()])
        return v
    if r < 0.65 and pool.loose:
        v = rng.choice(pool.loose)
        if typ == "array":
            return [v]
        return v
    if r < 0.93:
        return rng.choice(EDGE.get(typ, EDGE["any"]))
    return rng.choice(EDGE["any"] + [None, "string", 7, -3.5, [1], {"k": "v"}])


def probe_call(rng: random.Random, entry: dict[str, Any], pool: Pool) -> str:
    """One `<tool_call>` block: a documented method of the entry's APIs with drawn arguments."""
    if rng.random() < 0.03:
        return call_text(rng.choice(PROBE_NAMES), {})
    cls = rng.choice(entry["involved_classes"])
    doc = rng.choice(function_docs(cls))
    props = doc["parameters"].get("properties", {})
    required = set(doc["parameters"].get("required", []))
    args: dict[str, Any] = {}
    for name, spec in props.items():
        if (name in required and rng.random() < 0.95) or (name not in required and rng.random() < 0.4):
            args[name] = _value(rng, name, spec, pool)
    if rng.random() < 0.03:
        args["bogus"] = 1
    return call_text(doc["name"], args, as_string=rng.random() < 0.15)


def gt_call_texts(entry: dict[str, Any], turn: int, as_string: bool = False) -> list[str]:
    out = []
    for call in entry["ground_truth"][turn] if turn < len(entry["ground_truth"]) else []:
        name, kw = gt_kwargs(entry, call)
        out.append(call_text(name, kw, as_string))
    return out


def _steps_of(rng: random.Random, blocks: list[str]) -> list[str]:
    """Blocks split into steps of 1-3 calls each (one text per step)."""
    steps = []
    i = 0
    while i < len(blocks):
        n = rng.choice([1, 1, 1, 2, 3])
        steps.append("\n".join(blocks[i : i + n]))
        i += n
    return steps


def probe_sequence(
    rng: random.Random, entry: dict[str, Any], run_step: Callable[[str], list[str]] | None = None
) -> list[list[str]]:
    """Per turn, step texts: ground-truth calls with probes among them. `run_step` executes a
    step as it is made, so later probes can use what earlier results returned (ids, tokens)."""
    pool = entry_pool(entry)
    turns = []
    for t in range(len(entry["question"])):
        gt = [b for b in gt_call_texts(entry, t) if rng.random() < 0.7]
        probes = rng.randint(1, 6)
        steps: list[str] = []
        while gt or probes:
            blocks = []
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                if probes and (not gt or rng.random() < 0.5):
                    blocks.append(probe_call(rng, entry, pool))
                    probes -= 1
                elif gt:
                    blocks.append(gt.pop(0))
            text = "\n".join(blocks)
            steps.append(text)
            for r in run_step(text) if run_step else []:
                pool.add_result(r)
        turns.append(steps)
    return turns


MISTAKES = (
    "gt",
    "gt_json_string",
    "drop",
    "wrong",
    "extra",
    "swap",
    "dup",
    "early_stop",
    "empty_turn",
    "probe",
)


def _mutate_args(rng: random.Random, text: str, entry: dict[str, Any], pool: Pool) -> str:
    body = json.loads(text[len("<tool_call>") : -len("</tool_call>")])
    args = dict(body["arguments"])
    if args and rng.random() < 0.7:
        k = rng.choice(list(args))
        v = args[k]
        if isinstance(v, bool):
            args[k] = not v
        elif isinstance(v, int | float):
            args[k] = rng.choice([v + 1, -v, v * 2.5, str(v)])
        elif isinstance(v, str):
            args[k] = rng.choice([v + "x", v[:-1], v.upper(), "", f"./{v}"])
        elif isinstance(v, list):
            args[k] = v[:-1] if v else ["x"]
        else:
            del args[k]
    else:
        return probe_call(rng, entry, pool)
    return call_text(body["name"], args)


def trajectory(rng: random.Random, entry: dict[str, Any], kind: str) -> list[list[str]]:
    """Per turn, the model's step texts (a final plain answer is added by the runners)."""
    n = len(entry["question"])
    per_turn = [gt_call_texts(entry, t, as_string=kind == "gt_json_string") for t in range(n)]
    pool = entry_pool(entry)
    nonempty = [t for t in range(n) if per_turn[t]]
    t = rng.choice(nonempty) if nonempty else 0
    blocks = per_turn[t]
    if kind == "drop" and blocks:
        del blocks[rng.randrange(len(blocks))]
    elif kind == "wrong" and blocks:
        i = rng.randrange(len(blocks))
        blocks[i] = _mutate_args(rng, blocks[i], entry, pool)
    elif kind == "extra":
        blocks.insert(rng.randint(0, len(blocks)), probe_call(rng, entry, pool))
    elif kind == "swap" and len(blocks) >= 2:
        i, j = rng.sample(range(len(blocks)), 2)
        blocks[i], blocks[j] = blocks[j], blocks[i]
    elif kind == "dup" and blocks:
        i = rng.randrange(len(blocks))
        blocks.insert(i, blocks[i])
    elif kind == "early_stop" and blocks:
        del blocks[rng.randrange(len(blocks)) :]
        for later in range(t + 1, n):
            per_turn[later] = []
    elif kind == "empty_turn":
        per_turn[t] = []
    elif kind == "probe":
        for tt in range(n):
            for _ in range(rng.randint(0, 2)):
                per_turn[tt].insert(rng.randint(0, len(per_turn[tt])), probe_call(rng, entry, pool))
    return [_steps_of(rng, b) for b in per_turn]
