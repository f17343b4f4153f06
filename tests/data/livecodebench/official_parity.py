"""Grades pairs.jsonl with the OFFICIAL LiveCodeBench runner and writes official_verdicts.jsonl.

Run with a separate interpreter that has numpy and tqdm, the official repository on its path
(LiveCodeBench/LiveCodeBench @28fef95; never installed into evalkit's environment):

    PYTHONPATH=/tmp/lcb-official /tmp/lcb-venv/bin/python tests/data/livecodebench/official_parity.py

It uses only the official `evaluate_generations` (lcb_runner/evaluation/compute_code_generation_metrics.py);
the evaluation sample is built as CodeGenerationProblem.get_evaluation_sample does (public +
private inputs/outputs, fn_name from metadata). Per-test timeout 1 s to keep the run short.
"""

import base64
import json
import pickle
import sys
import zlib
from pathlib import Path

from lcb_runner.evaluation.compute_code_generation_metrics import evaluate_generations

HERE = Path(__file__).parent
TIMEOUT = 1


def tests(raw):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return json.loads(pickle.loads(zlib.decompress(base64.b64decode(raw.encode()))))  # our own test data


def main():
    problems = {}
    for line in (HERE / "problems.jsonl").read_text().splitlines():
        p = json.loads(line)
        ts = tests(p["public_test_cases"]) + tests(p["private_test_cases"])
        fn = json.loads(p["metadata"]).get("func_name")
        problems[p["question_id"]] = {
            "input_output": json.dumps(
                {"inputs": [t["input"] for t in ts], "outputs": [t["output"] for t in ts], "fn_name": fn}
            )
        }
    pairs = [json.loads(x) for x in (HERE / "pairs.jsonl").read_text().splitlines()]
    samples = [problems[p["question_id"]] for p in pairs]
    gens = [[p["code"]] for p in pairs]
    res, _meta = evaluate_generations(samples, gens, debug=False, num_process_evaluate=2, timeout=TIMEOUT)
    with open(HERE / "official_verdicts.jsonl", "w") as f:
        for i, p in enumerate(pairs):
            r = [bool(x) if isinstance(x, bool) else int(x) for x in res[i][0]]
            passed = all(x is True for x in r) and len(r) > 0
            f.write(
                json.dumps(
                    {"question_id": p["question_id"], "label": p["label"], "results": r, "passed": passed}
                )
                + "\n"
            )
    print(f"{len(pairs)} pairs graded by the official runner", file=sys.stderr)


if __name__ == "__main__":
    main()
