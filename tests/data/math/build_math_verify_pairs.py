"""Rebuild math_verify_pairs.jsonl from a checkout of huggingface/Math-Verify (data only).

    python tests/data/math/build_math_verify_pairs.py /path/to/Math-Verify [COMMIT]

Reads the literal (gold, prediction) pairs of the `pytest.mark.parametrize` tables in that
repository's tests/ (by parsing the files, not importing them), and records for each pair:
the verdict math-verify gives with its default settings, `verify(parse(gold), parse(pred))`
(`mv_default`, from the math-verify installed here), and the expectation the upstream test
states under its own, possibly non-default, settings (`upstream_expected`). Pairs that
appear more than once (e.g. with different settings) are kept once. No test code is copied.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "math_verify_pairs.jsonl"


def _param_tables(source: str):
    """Yield (test function, argument names, rows) for every literal parametrize table."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            try:
                names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
            except (ValueError, AttributeError):
                continue
            rows = []
            for elt in getattr(dec.args[1], "elts", []):
                try:
                    rows.append(ast.literal_eval(elt))
                except ValueError:
                    continue  # an f-string or a config object: not a literal pair
            yield node.name, names, rows


def main() -> None:
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    repo = Path(sys.argv[1])
    commit = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", commit], capture_output=True, text=True, check=True
    ).stdout.strip()
    files = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", sha, "tests"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    seen: set[tuple[str, str]] = set()
    out = []
    for path in sorted(f for f in files if f.endswith(".py")):
        src = subprocess.run(
            ["git", "-C", str(repo), "show", f"{sha}:{path}"], capture_output=True, text=True, check=True
        ).stdout
        for test, names, rows in _param_tables(src):
            if "gold" not in names or "pred" not in names:
                continue
            want = next((n for n in ("expected", "result") if n in names), None)
            for row in rows:
                vals = dict(zip(names, row, strict=True))
                gold, pred = vals["gold"], vals["pred"]
                if not (isinstance(gold, str) and isinstance(pred, str)) or (gold, pred) in seen:
                    continue
                seen.add((gold, pred))
                mv = bool(verify(parse(gold), parse(pred)))
                out.append(
                    {
                        "id": f"mv{len(out) + 1:04d}",
                        "gold": gold,
                        "pred": pred,
                        "mv_default": mv,
                        "upstream_expected": bool(vals[want]) if want else None,
                        "source": f"huggingface/Math-Verify@{sha[:12]}:{path}::{test}",
                    }
                )
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    agree = sum(r["mv_default"] == r["upstream_expected"] for r in out)
    print(f"{len(out)} pairs from {sha}; default verdict = upstream expectation on {agree}")


if __name__ == "__main__":
    main()
