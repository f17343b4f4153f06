"""HELMET: rows of its release (or the bundled synthetic sample in the same schema), prompts
and metrics of princeton-nlp/HELMET @4526dfb for the categories evalkit scores (Recall, RAG, Re-rank),
and the overall score as the unweighted mean of category means. Categories not scored here
are listed in the metrics with the reason (evalkit.longctx.helmet.datasets.CATEGORIES)."""

from __future__ import annotations

from typing import Any

from evalkit.data import Row
from evalkit.errors import DataError
from evalkit.families import ScoreContext
from evalkit.longctx.helmet import metrics as M
from evalkit.longctx.helmet.datasets import CATEGORIES, DATASETS
from evalkit.longctx.helmet.release import gold_ranking, passages, rerank_passages
from evalkit.metrics import aggregate as default_aggregate
from evalkit.records import Sample, Verdict
from evalkit.solvers import EpisodeOutput
from evalkit.specs import TaskSpec


def _need(f: dict[str, Any], key: str, kind: type, where: str, line: int) -> Any:
    if not isinstance(f.get(key), kind):
        raise DataError(where, line, key, f"missing or not a {kind.__name__}")
    return f[key]


def _prompt_and_answers(name: str, f: dict[str, Any], where: str, line: int) -> tuple[str, list[str]]:
    ds = DATASETS[name]
    if name.startswith("ruler_"):
        outputs = _need(f, "outputs", list, where, line)
        text = ds.user_template.format(
            context=_need(f, "context", str, where, line),
            query=_need(f, "query", str, where, line),
            type_needle_v=_need(f, "type_needle_v", str, where, line),
        )
        return text, [str(a) for a in outputs]
    if name == "json_kv":
        text = ds.user_template.format(
            context=_need(f, "context", str, where, line),
            question=_need(f, "question", str, where, line),
            demos=f.get("helmet_demos", ""),
        )
        return text, [str(_need(f, "answer", str, where, line))]
    ctxs = _need(f, "ctxs", list, where, line)
    if ds.category == "Re-rank":
        if not ctxs or not all(isinstance(c, dict) and {"id", "text", "label"} <= set(c) for c in ctxs):
            raise DataError(where, line, "ctxs", "expected passages with `id`, `text` and `label`")
        text = ds.user_template.format(
            context=rerank_passages(ctxs),
            question=_need(f, "query", str, where, line),
            demos=f.get("helmet_demos", ""),
        )
        return text, [gold_ranking(ctxs)]
    if not all(isinstance(c, dict) and "title" in c and "text" in c for c in ctxs):
        raise DataError(where, line, "ctxs", "every passage needs `title` and `text`")
    answers = _need(f, "answers", list, where, line)
    if not answers or not all(isinstance(a, str) for a in answers):
        raise DataError(where, line, "answers", "expected a non-empty list of strings")
    text = ds.user_template.format(
        context=passages(ctxs),
        question=_need(f, "question", str, where, line),
        demos=f.get("helmet_demos", ""),
    )
    return text, list(answers)


def build_sample(row: Row, spec: TaskSpec, where: str) -> Sample:
    f, line = row.fields, row.index + 1
    name = f.get("dataset")
    if name not in DATASETS:
        raise DataError(where, line, "dataset", f"{name!r} is not a HELMET dataset evalkit scores")
    text, answers = _prompt_and_answers(str(name), f, where, line)
    ds = DATASETS[str(name)]
    meta: dict[str, Any] = {"subject": name, "category": ds.category, "max_new_tokens": ds.max_new_tokens}
    if ds.category == "Re-rank":  # the qrels NDCG is computed against: passage id -> relevance label
        meta["qrel"] = {str(c["id"]): int(c["label"]) for c in f["ctxs"]}
    return Sample(id=row.id, messages=[{"role": "user", "content": text}], target=answers, metadata=meta)


def score(sample: Sample, output: EpisodeOutput, ctx: ScoreContext) -> Verdict:
    c = output.final
    split = ctx.split(c)
    if split.answer is None:
        return Verdict(
            None, False, "no answer (unclosed think block)", 0.0, {"category": sample.metadata["category"]}
        )
    name = sample.metadata["subject"]
    answers = list(sample.target)
    ds = DATASETS[name]
    if ds.metric == "ruler_recall":
        value = M.ruler_recall(split.answer, answers)
    elif ds.metric == "ndcg@10":
        ranking = M.parse_rankings(split.answer)
        value = M.ndcg_at_k({k: float(v) for k, v in ranking.items()}, sample.metadata["qrel"], 10)
    else:
        prefix = "corresponding value:" if name == "json_kv" else "Answer:"
        value = M.subem_with_parse(split.answer, answers, prefix)
    return Verdict(
        split.answer[:300], value >= 1.0, f"{ds.metric} = {value:.3f}", value, {"category": ds.category}
    )


def aggregate(records: list[dict[str, Any]], n_repeats: int, spec: TaskSpec) -> dict[str, Any]:
    """Dataset means, category means (each the mean of its datasets, as collect_results.py),
    and the overall mean of the category means that were scored."""
    out = default_aggregate(records, n_repeats=n_repeats)
    per_dataset = {k: g["value"] for k, g in out["breakdown"]["groups"].items()}
    cats: dict[str, float] = {}
    for cat in CATEGORIES:
        vals = [v for d, v in per_dataset.items() if d in DATASETS and DATASETS[d].category == cat]
        if vals:
            cats[cat] = sum(vals) / len(vals)
    out["categories"] = cats
    out["not_scored"] = {c: why for c, why in CATEGORIES.items() if c not in cats and why}
    if cats:
        out["value"] = sum(cats.values()) / len(cats)
    missing = [c for c in CATEGORIES if c != "Cite" and c not in cats]
    out["metric"] = f"mean of {len(cats)} HELMET category means ({', '.join(cats)})" + (
        f"; NOT comparable to the card's figure, which also averages {', '.join(missing)}" if missing else ""
    )
    return out
