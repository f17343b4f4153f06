"""A runner that `evalkit run --runner <profile.yaml>` can load in tests. Its "model" is a
directory holding responses.json ([[question, response], ...]) and an empty config.json (what
`evalkit run` checks a model directory for); each request gets the response whose question the
request's last user message contains. Built on the ScriptedRunner, so completions come back
out of order."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.records import ChatRequest
from tests.fakes import ScriptedRunner


class ReplayRunner(ScriptedRunner):
    def __init__(self, model: str):
        pairs = json.loads((Path(model) / "responses.json").read_text(encoding="utf-8"))
        self.pairs = [(str(q), str(r)) for q, r in pairs]
        super().__init__(self._answer, tag=Path(model).name)

    def _answer(self, request: ChatRequest) -> str:
        user = str(request.messages[-1]["content"])
        for question, response in self.pairs:
            if question in user:
                return response
        raise AssertionError(f"no scripted response for {user[:80]!r}")


def write_profile(path: Path, responses: list[tuple[str, str]]) -> Path:
    """A runner profile (YAML) for the ReplayRunner answering with `responses`; returns its path."""
    model = path.with_suffix("")
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}", encoding="utf-8")
    # ensure_ascii: lone surrogates in hostile responses travel as \ud800 escapes and come back as they are
    (model / "responses.json").write_text(json.dumps(responses, ensure_ascii=True), encoding="ascii")
    path.write_text(
        f"runner: tests.families.replay_runner:ReplayRunner\nmodel: {json.dumps(str(model))}\n",
        encoding="utf-8",
    )
    return path
