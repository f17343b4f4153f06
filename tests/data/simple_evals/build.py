"""Rebuild cases.jsonl.gz: answer texts with simple-evals' own extraction results.

Two steps, so that the upstream code runs apart from evalkit:

1. ``python build.py texts --mmlu-pro ../mmlu_pro_official/responses.jsonl.gz --out texts.jsonl``
   collects texts: hand-written answer lines in English, Korean, Spanish (and the other
   languages simple-evals knows), every combination order matters for, and 600 real
   chain-of-thought responses from the MMLU-Pro dumps.
2. ``/tmp/simple-evals-ref/.venv/bin/python build.py reference --common UPSTREAM/common.py \\
        --texts texts.jsonl --out cases.jsonl.gz``
   in a separate virtual environment without evalkit: ANSWER_PATTERN_MULTICHOICE,
   MULTILINGUAL_ANSWER_PATTERN_TEMPLATE, MULTILINGUAL_ANSWER_REGEXES, normalize_response and
   normalize_extracted_answer are taken from openai/simple-evals @ee3b0318 common.py with
   ``ast`` and executed as written; the few lines that apply them are those of gpqa_eval.py
   (``re.search(ANSWER_PATTERN_MULTICHOICE, response_text)``) and mmlu_eval.py (the loop over
   the multilingual regexes), restated below.

Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
from pathlib import Path
from typing import Any

LINES = [
    "Answer: {L}",
    "answer: {l}",
    "ANSWER:{L}",
    "Answer : {L}",
    "**Answer:** {L}",
    "**Answer: {L}**",
    "Answer: ${L}$",
    "Answer: $\\boxed{{{L}}}$",
    "Answer: \\boxed{{{L}}}",
    "Final Answer: ({L})",
    "Answer:\n{L}",
    "Answer:\t{L}",
    "Answer: {L}) text",
    "Answer: **{L}**",
    "The answer is {L}.",
    "Respuesta: {L}",
    "respuesta:{l}",
    "**Respuesta:** {L}",
    "Respuesta final: {L}",
    "La respuesta es {L}",
    "정답: {L}",
    "정답 : {L}",
    "답: {L}",
    "답변: {L}",
    "정답은 {L}입니다",
    "答案：{L}",
    "答案: {L}",
    "Réponse : {L}",
    "Antwort: {L}",
    "Resposta: {L}",
    "Risposta: {L}",
    "Jawaban: {L}",
    "Answer: Ａ",
    "Answer: ｂ",
    "الإجابة: أ",
    "উত্তর: ব",
    "Answer: E",
    "Answer: 3",
    "{L}",
]
PAIRS = [
    "Answer: A\nAnswer: B",
    "Respuesta: C\nAnswer: D",
    "정답: A\nRespuesta: B",
    "Answer: (C)\nAnswer: D",
    "answer: maybe B\nAnswer: C",
    "Answer: none\nRespuesta: B",
    "$\\boxed{C}$ Answer: D",
    "**Answer**: B",
    "Answer:** C",
    "The final answer: $\\text{D}$",
    "Answer: \\(B\\)",
    "Answer: {{C}}",
]


def texts(mmlu_pro: Path, out: Path) -> None:
    found: list[str] = []
    for line in LINES:
        for letter in "ABCD":
            found.append(line.format(L=letter, l=letter.lower()))
            found.append("Let me think step by step.\n\n" + line.format(L=letter, l=letter.lower()))
    found += PAIRS
    with gzip.open(mmlu_pro, "rt", encoding="utf-8") as f:
        real = [json.loads(x)["response"] for x in f]
    found += real[::7][:600]
    with out.open("w", encoding="utf-8") as f:
        for t in dict.fromkeys(found):
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"{len(dict.fromkeys(found))} texts -> {out}")


def _upstream(common: Path) -> dict[str, Any]:
    names = {
        "ANSWER_PATTERN_MULTICHOICE",
        "MULTILINGUAL_ANSWER_PATTERN_TEMPLATE",
        "MULTILINGUAL_ANSWER_REGEXES",
        "normalize_response",
        "normalize_extracted_answer",
    }
    tree = ast.parse(common.read_text(encoding="utf-8"))
    keep = [
        n
        for n in tree.body
        if (isinstance(n, ast.FunctionDef) and n.name in names)
        or (isinstance(n, ast.Assign) and any(getattr(t, "id", None) in names for t in n.targets))
    ]
    ns: dict[str, Any] = {"re": re}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(common), "exec"), ns)
    return ns


def reference(common: Path, texts_path: Path, out: Path) -> None:
    ns = _upstream(common)
    rows = [json.loads(x) for x in texts_path.read_text(encoding="utf-8").splitlines()]
    for r in rows:
        match = re.search(ns["ANSWER_PATTERN_MULTICHOICE"], r["text"])  # gpqa_eval.py
        r["gpqa"] = match.group(1) if match else None
        response_text = ns["normalize_response"](r["text"])  # mmlu_eval.py
        extracted = None
        for answer_regex in ns["MULTILINGUAL_ANSWER_REGEXES"]:
            regex = ns["MULTILINGUAL_ANSWER_PATTERN_TEMPLATE"].format(answer_regex)
            match = re.search(regex, response_text)
            if match:
                extracted = ns["normalize_extracted_answer"](match.group(1))
                break
        r["mmlu"] = extracted
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} cases with simple-evals' extractions -> {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("texts")
    t.add_argument("--mmlu-pro", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("reference")
    r.add_argument("--common", type=Path, required=True)
    r.add_argument("--texts", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.cmd == "texts":
        texts(a.mmlu_pro, a.out)
    else:
        reference(a.common, a.texts, a.out)


if __name__ == "__main__":
    main()
