"""HELMET: rows of its release and of the HF datasets it loads (or the bundled synthetic sample in
the same schema), prompts and metrics of princeton-nlp/HELMET @4526dfb for Recall, RAG,
Re-rank, ICL, LongQA and Summ, the LLM-judged scores of LongQA's NarrativeQA and of Summ through
the run's judge (`--judge PROFILE`), and the overall score as the unweighted mean of category
means. The metrics say per category whether it was scored as HELMET scores it (Cite is left
out, as in EXAONE's figure). The pieces live in evalkit.benchmarks.helmet."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from evalkit.benchmarks.helmet import metrics as M
from evalkit.benchmarks.helmet.datasets import CATEGORIES, DATASETS, HelmetDataset
from evalkit.benchmarks.helmet.fit import fit
from evalkit.benchmarks.helmet.judge import CARD_JUDGE, score_longqa, score_summ, solve
from evalkit.benchmarks.helmet.release import gold_ranking, passages, rerank_passages
from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families import ScoreContext
from evalkit.families.base import BuildContext, Solver
from evalkit.families.defaults import inline_sample as inline_sample
from evalkit.families.defaults import output_from_response as output_from_response
from evalkit.families.defaults import verdict_row as verdict_row
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import Sample, SamplingParams, Verdict
from evalkit.run_records import FamilyMetrics, Percent, SampleRecord
from evalkit.solvers import Episode, EpisodeOutput
from evalkit.specs import TaskSpec
from evalkit.stats import Z95
from evalkit.wording import plural

# What differs from HELMET's runs whatever the settings (docs/long-context.md, "HELMET").
PROTOCOL_DIFFERENCES = [
    "chat template on every category (HELMET: none for Recall, RAG, Re-rank, ICL) and no prefilled "
    "answer prefix ('Answer:', 'label:', ...)",
    "KILT/MS MARCO subsets drawn with random.Random(42), not Python's global generator",
    "NarrativeQA and Multi-LexSum demos drawn with a seed (upstream: unseeded); Multi-LexSum's from "
    "validation rows outside the scored subset (the release has no train split)",
    "ICL generation not stopped at the first newline (the label is parsed after 'label:' as upstream)",
]


def _need(f: dict[str, Any], key: str, kind: type, where: str, line: int) -> Any:
    if not isinstance(f.get(key), kind):
        raise DataError(where, line, key, f"missing or not a {kind.__name__}")
    return f[key]


def _strings(f: dict[str, Any], key: str, where: str, line: int) -> list[str]:
    vals = _need(f, key, list, where, line)
    if not vals or not all(isinstance(a, str) for a in vals):
        raise DataError(where, line, key, "expected a non-empty list of strings")
    return list(vals)


def _fields(ds: HelmetDataset, f: dict[str, Any], where: str, line: int) -> tuple[dict[str, Any], list[str]]:
    """The template's fields (with `context`, the part HELMET cuts) and the answers."""
    name = ds.name
    if name.startswith("ruler_"):
        outputs = _need(f, "outputs", list, where, line)
        fields = {k: _need(f, k, str, where, line) for k in ("context", "query", "type_needle_v")}
        return fields, [str(a) for a in outputs]
    if name == "json_kv":
        fields = {k: _need(f, k, str, where, line) for k in ("context", "question")}
        return {**fields, "demos": f.get("helmet_demos", "")}, [str(_need(f, "answer", str, where, line))]
    if ds.category == "Re-rank":
        ctxs = _need(f, "ctxs", list, where, line)
        if not ctxs or not all(isinstance(c, dict) and {"id", "text", "label"} <= set(c) for c in ctxs):
            raise DataError(where, line, "ctxs", "expected passages with `id`, `text` and `label`")
        fields = {"context": rerank_passages(ctxs), "question": _need(f, "query", str, where, line)}
        return {**fields, "demos": f.get("helmet_demos", "")}, [gold_ranking(ctxs)]
    if ds.category == "RAG":
        ctxs = _need(f, "ctxs", list, where, line)
        if not all(isinstance(c, dict) and "title" in c and "text" in c for c in ctxs):
            raise DataError(where, line, "ctxs", "every passage needs `title` and `text`")
        fields = {"context": passages(ctxs), "question": _need(f, "question", str, where, line)}
        return {**fields, "demos": f.get("helmet_demos", "")}, _strings(f, "answers", where, line)
    # ICL, LongQA, Summ: rows prepared by icl.py / books.py
    fields = {k: _need(f, k, str, where, line) for k in ("context", "question")}
    fields["demo"] = f.get("demo", "")
    if name.startswith("infbench_choice"):
        fields["options"] = _need(f, "options", str, where, line)
    return fields, _strings(f, "answers", where, line)


@cache
def _overhead(tokenizer: Any) -> int:
    from evalkit.longctx.tokens import chat_overhead

    return chat_overhead(tokenizer)


def build_sample(row: Row, spec: TaskSpec, ctx: BuildContext) -> Sample:
    where = ctx.where
    f, line = row.fields, row.index + 1
    name = f.get("dataset")
    if name not in DATASETS:
        raise DataError(where, line, "dataset", f"{name!r} is not a HELMET dataset evalkit scores")
    ds = DATASETS[str(name)]
    fields, answers = _fields(ds, f, where, line)
    meta: dict[str, Any] = {"subject": name, "category": ds.category, "max_new_tokens": ds.max_new_tokens}
    tokenizer = ctx.tokenizer_if_any(spec.name)
    if tokenizer is not None:  # HELMET's tokenize(): cut the context's end to fit the input budget
        budget = int(spec.extra.get("input_max_length", 131072)) - ds.max_new_tokens
        fitted = fit(tokenizer, ds.user_template, fields, budget, _overhead(tokenizer))
        text = fitted.text
        meta.update(prompt_tokens=fitted.prompt_tokens, context_cut_tokens=fitted.cut_tokens)
    else:
        text = ds.user_template.format(**fields)
    if ds.category == "Re-rank":  # the qrels NDCG is computed against: passage id -> relevance label
        meta["qrel"] = {str(c["id"]): int(c["label"]) for c in f["ctxs"]}
    if ds.pre_cut is not None and isinstance(f.get("pre_cut_tokens"), int):
        meta["pre_cut_tokens"] = f["pre_cut_tokens"]
    if ds.metric == "judge_longqa":
        meta.update(judge="longqa", question=fields["question"])
    elif ds.metric == "judge_summ":
        keypoints = _need(f, "keypoints", list, where, line)
        meta.update(judge="summ", keypoints=[str(k) for k in keypoints])
        meta["expert_summary"] = _need(f, "expert_summary", str, where, line)
    return Sample(id=row.id, messages=[{"role": "user", "content": text}], target=answers, metadata=meta)


def solver(spec: TaskSpec, roles: frozenset[str]) -> Solver:
    """The dataset's output length; the judge's calls only when the run has a judge."""
    judged = "judge" in roles

    def solve_one(sample: Sample, params: SamplingParams, enable_thinking: bool, repeat: int = 0) -> Episode:
        return solve(sample, params, enable_thinking, judged=judged)

    return solve_one


def _judged(
    ds: HelmetDataset, answer: str, answers: list[str], sample: Sample, output: EpisodeOutput
) -> Verdict:
    """NarrativeQA and Summ: the judge's score, or without a judge ROUGE-L F1 as a stand-in."""
    texts = output.info.get("judge_texts")
    details: dict[str, Any] = {"category": ds.category}
    if texts is None:
        value = M.rouge_l_f1_with_parse(answer, answers, ds.answer_prefix)
        details.update(judged=False, metric="rougeL_f1 (stand-in: no judge)")
        return Verdict(
            answer[:300],
            value >= 1.0,
            f"no judge: ROUGE-L F1 {value:.3f} (not HELMET's metric)",
            value,
            details,
        )
    if ds.metric == "judge_longqa":
        js = score_longqa(texts[0])
    else:
        js = score_summ(list(texts), len(sample.metadata["keypoints"]))
    details.update(judged=True, judge_ok=js.ok, metric=ds.metric, **js.parts)
    return Verdict(answer[:300], js.value >= 1.0, f"{js.reason}; score {js.value:.3f}", js.value, details)


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    v = _score(sample, output, ctx)
    v.details["context_cut"] = bool(sample.metadata.get("context_cut_tokens"))
    return v


def _score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    name = sample.metadata["subject"]
    ds = DATASETS[name]
    if split.answer is None:
        return Verdict(None, False, "no answer (unclosed think block)", 0.0, {"category": ds.category})
    answer, answers = split.answer, list(sample.target)
    if ds.metric in ("judge_longqa", "judge_summ"):
        return _judged(ds, answer, answers, sample, output)
    if ds.metric == "ruler_recall":
        value = M.ruler_recall(answer, answers)
    elif ds.metric == "ndcg@10":
        ranking = M.parse_rankings(answer)
        value = M.ndcg_at_k({k: float(v) for k, v in ranking.items()}, sample.metadata["qrel"], 10)
    elif ds.metric == "exact_match":
        value = M.icl_exact_match(answer, answers[0])
    elif ds.metric == "rougeL_f1":
        value = M.rouge_l_f1_with_parse(answer, answers)
    elif ds.metric == "choice_exact_match":
        value = M.choice_exact_match(answer, answers)
    else:
        prefix = "corresponding value:" if name == "json_kv" else "Answer:"
        value = M.subem_with_parse(answer, answers, prefix)
    details = {"category": ds.category, "metric": ds.metric}
    return Verdict(answer[:300], value >= 1.0, f"{ds.metric} = {value:.3f}", value, details)


def _status(cat: str, present: dict[str, list[str]], records: list[SampleRecord]) -> str:
    """How a category was scored: "as HELMET", or why not comparable to the card."""
    why = CATEGORIES[cat]
    if why:
        return why
    wanted = [n for n, d in DATASETS.items() if d.category == cat]
    got = present.get(cat, [])
    if not got:
        return "not run (no rows of its datasets)"
    if len(got) < len(wanted):
        return f"partial: only {', '.join(got)} of its {len(wanted)} datasets"
    unjudged = sorted({s for r in records if r["details"].get("judged") is False and (s := r["subject"])})
    unjudged = [n for n in unjudged if DATASETS[n].category == cat]
    if unjudged:
        return f"ROUGE-L F1 stand-in for {', '.join(unjudged)} (run without --judge): not HELMET's metric"
    return "as HELMET"


def aggregate(records: list[SampleRecord], n_repeats: int, spec: TaskSpec) -> FamilyMetrics:
    """Dataset means, category means (each the mean of its datasets, as collect_results.py),
    the overall mean of the category means that were scored, and per category whether it was
    scored as HELMET scores it."""
    out = default_aggregate(records, n_repeats=n_repeats)
    per_dataset = {k: g["value"] for k, g in out["breakdown"]["groups"].items() if k in DATASETS}
    present: dict[str, list[str]] = {}
    for d in per_dataset:
        present.setdefault(DATASETS[d].category, []).append(d)
    cats = {c: sum(per_dataset[d] for d in ds) / len(ds) for c in CATEGORIES if (ds := present.get(c))}
    status = {c: _status(c, present, records) for c in CATEGORIES}
    out["categories"] = cats
    out["category_status"] = status
    out["not_scored"] = {c: why for c, why in status.items() if c not in cats}
    if cats:
        # the mean of category means weighs dataset d by w_d = 1 / (#categories x #datasets of its
        # category); datasets are independent items, so its SE is sqrt(sum w_d^2 se_d^2)
        groups = out["breakdown"]["groups"]
        w = {d: 1 / (len(cats) * len(present[DATASETS[d].category])) for d in per_dataset}
        out["value"] = sum(cats.values()) / len(cats)
        out["se"] = math.sqrt(sum((w[d] * groups[d]["se"]) ** 2 for d in per_dataset))
        out["ci95"] = [out["value"] - Z95 * out["se"], out["value"] + Z95 * out["se"]]
    off = {c: s for c, s in status.items() if c != "Cite" and s != "as HELMET"}
    out["metric"] = f"mean of {plural(len(cats), 'HELMET category mean')} ({', '.join(cats)})" + (
        "; NOT comparable to the card's figure (6 categories without Cite): "
        + "; ".join(f"{c}: {s}" for c, s in off.items())
        if off
        else "; the card's 6 categories (without Cite), protocol differences listed"
    )
    judged = [r for r in records if r["details"].get("judged")]
    out["judge"] = {
        "items_judged": len(judged),
        "unusable_replies": sum(1 for r in judged if not r["details"].get("judge_ok")),
        "card_judge": CARD_JUDGE,
        "protocol": "scripts/eval_gpt4_{longqa,summ}.py prompts, temperature 0.1, top-p 0.9, seed 42",
    }
    cut = [r for r in records if r.get("subject") in DATASETS]
    out["context_cut_rate"] = (
        sum(1 for r in cut if r["details"].get("context_cut")) / len(cut) if cut else 0.0
    )
    out["protocol_differences"] = PROTOCOL_DIFFERENCES
    j = out["judge"]
    out["tables"] = [
        {
            "title": "HELMET categories",
            "columns": ["category", "score", "how it was scored"],
            "rows": [[c, Percent(cats[c]) if c in cats else "-", s] for c, s in status.items()],
            "note": f"Judge: {j['items_judged']} items judged, {j['unusable_replies']} unusable replies "
            f"scored 0 (card's judge: {CARD_JUDGE}). Always different from HELMET's runs: "
            + "; ".join(PROTOCOL_DIFFERENCES)
            + ".",
        }
    ]
    return out
