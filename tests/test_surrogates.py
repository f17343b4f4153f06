"""Lone surrogates in model output ("\\ud800") are stored escaped, read back unchanged, and
scored like any wrong answer: in a run, on its rerun, in a multi-turn episode whose next
prompt quotes them, and in `evalkit score` (issue 16, item 4)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from evalkit.fingerprint import canonical_json, hash_obj
from evalkit.jsonl import dumps_line, iter_jsonl
from evalkit.pipeline import RunConfig, run_eval
from evalkit.records import ChatRequest
from evalkit.scoring.responses import score_responses
from tests.fakes import ScriptedRunner

HOSTILE = "I think \ud800 so \\boxed{\udfff 7}; Answer: \udc00"


def test_jsonl_escapes_lone_surrogates_and_reads_them_back(tmp_path: Path):
    rec = {"raw": HOSTILE, "k\ud800": ["\udbff", "ok \u2028 é 한"]}
    line = dumps_line(rec)
    line.encode("utf-8")  # raises on an unescaped surrogate
    assert "\\ud800" in line and "é 한" in line  # escaped where needed, readable elsewhere
    f = tmp_path / "x.jsonl"
    f.write_text(line + line, encoding="utf-8")
    assert [r for _, r in iter_jsonl(f)] == [rec, rec]


def test_hash_of_a_prompt_quoting_a_surrogate_is_stable_and_other_keys_unchanged():
    assert hash_obj({"m": HOSTILE}) == hash_obj({"m": HOSTILE}) != hash_obj({"m": HOSTILE[:7]})
    text = {"a": "é 한 \u2028"}  # every stored key of earlier runs: plain UTF-8, as before
    assert hash_obj(text) == hashlib.sha256(canonical_json(text).encode("utf-8")).hexdigest()


def test_a_run_with_surrogate_outputs_scores_them_wrong_and_resumes(tmp_path: Path):
    cfg = RunConfig(task="aime2025", limit=2, n=1, data="sample", results_dir=tmp_path, progress=False)
    first = run_eval(cfg, runner=ScriptedRunner(lambda req: HOSTILE))
    rows = [json.loads(x) for x in (first.run_dir / "samples.jsonl").read_text("utf-8").splitlines()]
    assert [r["raw"] for r in rows] == [HOSTILE, HOSTILE]
    assert not any(r["correct"] for r in rows) and all(r["reason"] for r in rows)
    again = ScriptedRunner(lambda req: "never asked")
    second = run_eval(cfg, runner=again)  # the rerun reads the store back
    assert again.calls == [] and second.metrics["calls_reused_from_store"] == 2
    assert second.metrics["value"] == first.metrics["value"] == 0.0


def test_a_multi_turn_episode_quoting_surrogates_runs_and_resumes(tmp_path: Path, monkeypatch):
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "tau_bench"
    monkeypatch.setenv("EVALKIT_TAU_DATA", str(data))

    def user(req: ChatRequest) -> str:
        return "###STOP###" if len(req.messages) > 4 else "help \udfff me"

    cfg = RunConfig(task="tau_bench_airline", limit=1, data="sample", results_dir=tmp_path, progress=False)
    first = run_eval(
        cfg, runner=ScriptedRunner(lambda r: HOSTILE), aux_runners={"user": ScriptedRunner(user, "u")}
    )
    assert first.metrics["value"] == 0.0
    model = ScriptedRunner(lambda r: "never asked")
    run_eval(cfg, runner=model, aux_runners={"user": ScriptedRunner(user, "u")})
    assert model.calls == []


def test_evalkit_score_writes_surrogates_escaped(tmp_path: Path):
    responses = tmp_path / "r.jsonl"
    responses.write_text(
        json.dumps({"id": "x", "response": HOSTILE, "gold": "8"}) + "\n", encoding="utf-8"
    )  # json.dumps escapes: the file itself is plain ASCII
    out = io.StringIO()
    summary = score_responses("aime2025", responses, data=None, mode="non-reasoning", out=out)
    text = out.getvalue()
    text.encode("utf-8")
    row = json.loads(text)
    assert row["correct"] is False and "accuracy 0.0" in summary
