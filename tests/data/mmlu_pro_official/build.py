"""Rebuild responses.jsonl.gz: real MMLU-Pro chain-of-thought responses with official extractions.

Two steps, so that the official code runs apart from evalkit:

1. ``python build.py select --dumps DIR --out selected.jsonl.gz``
   DIR holds the unzipped ``eval_results/model_outputs_*_5shots.zip`` dumps of
   TIGER-AI-Lab/MMLU-Pro (commit f418b116db00b065c2aea046518d8fcf74d39872). Per model, a seeded
   sample of responses, weighted towards those where the first official pattern
   (``answer is (X)``) finds nothing, i.e. where the fallbacks decide.
2. ``/tmp/mmlu-pro-official/.venv/bin/python build.py reference --upstream CHECKOUT \\
        --selected selected.jsonl.gz --out responses.jsonl.gz``
   in a separate virtual environment without evalkit: the extraction functions are taken
   from the upstream scripts' own source (``evaluate_from_local.py``, ``evaluate_from_api.py``,
   ``evaluate_from_apiX.py``, ``compute_accuracy.py``) and executed as they are.

Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import re
from pathlib import Path
from typing import Any

FIRST_PATTERN = re.compile(r"answer is \(?([A-J])\)?")


def _read_dump(path: Path) -> list[dict[str, Any]]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in rows if isinstance(r, dict)]


def select(dumps: Path, out: Path, per_model_failing: int, per_model_passing: int, seed: int) -> None:
    rng = random.Random(seed)
    chosen: list[dict[str, Any]] = []
    for path in sorted(dumps.glob("*/*.json")):
        model = path.stem.removeprefix("model_outputs_").removesuffix("_5shots")
        rows = _read_dump(path)
        field = "model_outputs" if "model_outputs" in rows[0] else "generated_text"
        usable = [r for r in rows if isinstance(r.get(field), str) and r[field].strip()]
        failing = [r for r in usable if not FIRST_PATTERN.search(r[field])]
        passing = [r for r in usable if FIRST_PATTERN.search(r[field])]
        picked = rng.sample(failing, min(per_model_failing, len(failing)))
        picked += rng.sample(passing, min(per_model_passing + per_model_failing - len(picked), len(passing)))
        for r in sorted(picked, key=lambda r: r["question_id"]):
            chosen.append(
                {
                    "model": model,
                    "question_id": r["question_id"],
                    "answer": r["answer"],
                    "n_options": len(r["options"]),
                    "response": r[field],
                    "dump_pred": r.get("pred"),
                }
            )
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for row in chosen:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"selected {len(chosen)} responses from {len({r['model'] for r in chosen})} models -> {out}")


def _upstream_functions(source: Path, names: set[str]) -> dict[str, Any]:
    """Execute the named top-level functions and assignments of an upstream script, as written."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    keep = [
        node
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name in names)
        or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets))
    ]
    namespace: dict[str, Any] = {"re": re, "print": lambda *a, **k: None}  # upstream logs misses
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(source), "exec"), namespace)
    return namespace


def reference(upstream: Path, selected: Path, out: Path) -> None:
    local = _upstream_functions(
        upstream / "evaluate_from_local.py", {"extract_answer", "extract_again", "extract_final"}
    )
    api = _upstream_functions(
        upstream / "evaluate_from_api.py", {"extract_answer", "extract_again", "extract_final"}
    )
    apix = _upstream_functions(upstream / "evaluate_from_apiX.py", {"extract_answer", "_PATTERNS"})
    levels = _upstream_functions(
        upstream / "compute_accuracy.py", {"extract_answer", "extract_again", "extract_final"}
    )
    with gzip.open(selected, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        text = r["response"]
        r["official"] = {
            "local": local["extract_answer"](text),
            # evaluate_from_api.py removes markdown bold from the response before extracting
            "api": api["extract_answer"](text.replace("**", "")),
            "last_match": apix["extract_answer"](text),
            "strict": levels["extract_answer"](text, "l1"),
            "local_l2": levels["extract_answer"](text, "l2"),
        }
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} responses with official extractions -> {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("--dumps", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--failing", type=int, default=100)
    s.add_argument("--passing", type=int, default=40)
    s.add_argument("--seed", type=int, default=20250717)
    r = sub.add_parser("reference")
    r.add_argument("--upstream", type=Path, required=True)
    r.add_argument("--selected", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.cmd == "select":
        select(a.dumps, a.out, a.failing, a.passing, a.seed)
    else:
        reference(a.upstream, a.selected, a.out)


if __name__ == "__main__":
    main()
