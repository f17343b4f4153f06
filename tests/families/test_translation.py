"""WMT24++ (ES): chrF on the real references, and the LLM-judge path through the OpenAI-
compatible runner against a local scripted judge server."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from evalkit.families.translation import chrf, parse_judge_score
from evalkit.pipeline import RunConfig, run_eval
from evalkit.runners.openai_api import OpenAIRunner
from tests.fakes import ScriptedRunner

WMT = Path(__file__).resolve().parents[3] / "shared" / "data" / "wmt24pp_es" / "en-es_MX.jsonl"


def _refs() -> list[str]:
    rows = [json.loads(x) for x in WMT.read_text(encoding="utf-8").splitlines()]
    return [r["target"] for r in rows if not r["is_bad_source"]][:200]


def test_chrf_of_references_against_themselves_is_100_and_shuffled_is_low() -> None:
    from sacrebleu.metrics import CHRF

    refs = _refs()
    assert CHRF().corpus_score(refs, [refs]).score == pytest.approx(100.0)
    assert all(chrf(r, r) == pytest.approx(100.0) for r in refs[:50])
    shuffled = refs[:]
    random.Random(0).shuffle(shuffled)
    low = CHRF().corpus_score(shuffled, [refs]).score
    assert low < 30.0, low  # unrelated Spanish still shares character n-grams, but few


@pytest.mark.parametrize(
    ("reply", "want"),
    [("Score: 87", 87.0), ("87.5/100", 87.5), ("I'd say 100.", 100.0), ("250 then 40", 40.0), ("none", None)],
)
def test_parse_judge_score(reply: str, want: float | None) -> None:
    assert parse_judge_score(reply) == want


class _Judge(BaseHTTPRequestHandler):
    """A scripted OpenAI-compatible judge: 90 when the prompt's translation equals the
    reference, otherwise a reply with no score at all (malformed)."""

    prompts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        type(self).prompts.append(prompt)
        ref = prompt.split('human reference: "', 1)[1].split('"\n', 1)[0]
        hyp = prompt.split('translation: "', 1)[1].rsplit('"', 1)[0]
        text = "Score: 90" if hyp == ref else "I cannot rate this."
        out = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def test_judge_path_with_scripted_server(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = [json.loads(x) for x in (Path("tasks/samples/wmt24pp_es.jsonl")).read_text().splitlines()]
    by_source = {r["source"]: r["target"] for r in rows}

    def translate(req):  # the model "translates" perfectly except for one segment
        src = req.messages[0]["content"].split("English: ", 1)[1].rsplit("\nSpanish:", 1)[0]
        return "<think>\n\n</think>\n\n" + ("hola" if src == rows[0]["source"] else by_source[src])

    judge = OpenAIRunner(
        "scripted-judge", endpoints=f"http://127.0.0.1:{server.server_address[1]}/v1", api_key_env=None
    )
    try:
        res = run_eval(
            RunConfig(
                task="wmt24pp_es", runner="torch-int4", data="sample", results_dir=tmp_path, progress=False
            ),
            runner=ScriptedRunner(translate),
            aux_runners={"judge": judge},
        )
    finally:
        judge.close()
        server.shutdown()
    m = res.metrics
    recs = [json.loads(x) for x in (res.run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 12 and all(r["n_calls"] == 2 for r in recs)
    bad = [r for r in recs if r["details"]["judge"] is None]
    assert len(bad) == 1 and "no 0-100 score" in bad[0]["reason"]  # malformed judge reply: reason, no crash
    assert all(r["details"]["judge"] == 90.0 for r in recs if r is not bad[0])
    assert m["chrf_corpus"] < 100.0 and "NOT the card's metric" in m["metric"]  # one judge reply unusable
    assert m["judge_protocol"]["card_judge"].startswith("gpt-4.1")
    assert all('human reference: "' in p for p in _Judge.prompts)


def test_without_judge_only_chrf(tmp_path: Path) -> None:
    res = run_eval(
        RunConfig(
            task="wmt24pp_es",
            runner="torch-int4",
            data="sample",
            limit=3,
            results_dir=tmp_path,
            progress=False,
        ),
        runner=ScriptedRunner(lambda req: "<think>\n\n</think>\n\nUna traducción."),
    )
    assert "chrF" in res.metrics["metric"] and res.metrics["judge_coverage"] == 0.0
