from evalkit.records import ChatRequest, Completion, Sample, SamplingParams
from evalkit.scheduler import EpisodeKey, derive_seed, run_episodes
from evalkit.solvers import Episode, EpisodeOutput, generate
from evalkit.store import SampleStore
from tests.fakes import ScriptedRunner


def two_turn(sample: Sample, params: SamplingParams, thinking: bool) -> Episode:
    """A multi-turn solver: the second turn sees the model's first answer."""
    msgs = list(sample.messages)
    c1 = yield ChatRequest(messages=msgs, params=params, enable_thinking=thinking)
    msgs = [*msgs, {"role": "assistant", "content": c1.text}, {"role": "user", "content": "again"}]
    c2 = yield ChatRequest(messages=msgs, params=params, enable_thinking=thinking)
    return EpisodeOutput(calls=[c1, c2], final=c2, transcript=msgs)


def echo(req: ChatRequest) -> str:
    return f"{len(req.messages)}:{req.params.seed}"


def samples(k: int) -> list[Sample]:
    return [Sample(id=str(i), messages=[{"role": "user", "content": f"q{i}"}], target="A") for i in range(k)]


def run(store_path, runner, solver, k=3, repeats=2, seed=7):
    done: dict[EpisodeKey, tuple[EpisodeOutput, bool]] = {}
    eps = [
        (EpisodeKey(s.id, r), solver(s, SamplingParams(), False)) for s in samples(k) for r in range(repeats)
    ]
    with SampleStore(store_path, "run") as store:
        run_episodes(eps, runner, store, run_seed=seed, on_done=lambda k, o, c: done.__setitem__(k, (o, c)))
    return done


def test_every_episode_finishes_once_with_seeds_per_repeat(tmp_path):
    runner = ScriptedRunner(echo)
    done = run(tmp_path / "g.jsonl", runner, generate)
    assert len(done) == 6 and len(runner.calls) == 6
    seeds = {c.params.seed for c in runner.calls}
    assert len(seeds) == 6  # every (sample, repeat) draws its own seed
    assert done[EpisodeKey("1", 1)][0].final.text == f"1:{derive_seed(7, '1', 1, 0)}"


def test_rerun_is_served_from_the_store(tmp_path):
    p = tmp_path / "g.jsonl"
    first = run(p, ScriptedRunner(echo), generate)
    runner = ScriptedRunner(echo)
    second = run(p, runner, generate)
    assert runner.calls == []
    assert all(cached for _, cached in second.values())
    assert {k: o.final.text for k, (o, _) in first.items()} == {
        k: o.final.text for k, (o, _) in second.items()
    }


def test_multi_turn_episodes_feed_answers_back_and_resume(tmp_path):
    p = tmp_path / "g.jsonl"
    runner = ScriptedRunner(echo)
    done = run(p, runner, two_turn)
    assert len(runner.calls) == 12
    out, _ = done[EpisodeKey("0", 0)]
    assert out.final.text.startswith("3:")  # user, assistant, user
    assert out.transcript[1]["content"] == out.calls[0].text
    # the second call of each episode has its own seed (call index 1)
    assert out.final.text == f"3:{derive_seed(7, '0', 0, 1)}"
    # drop the last 5 stored calls, as if killed: only those are redone
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(lines[:-5]))
    runner2 = ScriptedRunner(echo)
    again = run(p, runner2, two_turn)
    assert len(runner2.calls) == 5
    assert {k: o.final.text for k, (o, _) in again.items()} == {k: o.final.text for k, (o, _) in done.items()}


def test_changed_runner_settings_invalidate_the_cache(tmp_path):
    p = tmp_path / "g.jsonl"
    run(p, ScriptedRunner(echo, tag="v1"), generate)
    r2 = ScriptedRunner(echo, tag="v2")
    run(p, r2, generate)
    assert len(r2.calls) == 6


def test_completion_type_roundtrip():
    c = Completion(text="x", finish_reason="length", prompt_tokens=1, completion_tokens=2, token_ids=[5, 6])
    assert Completion.from_dict(c.to_dict()) == c


def judged(sample: Sample, params: SamplingParams, thinking: bool) -> Episode:
    """A solver whose second call goes to another role (a judge)."""
    c1 = yield ChatRequest(messages=list(sample.messages), params=params, enable_thinking=thinking)
    verdict = yield ChatRequest(
        messages=[{"role": "user", "content": f"judge: {c1.text}"}], params=params, role="judge"
    )
    return EpisodeOutput(calls=[c1, verdict], final=c1)


def test_requests_of_other_roles_go_to_their_runner(tmp_path):
    model, judge = ScriptedRunner(lambda r: "answer"), ScriptedRunner(lambda r: "GOOD", tag="judge")
    eps = [(EpisodeKey(s.id, 0), judged(s, SamplingParams(), False)) for s in samples(3)]
    done = {}
    with SampleStore(tmp_path / "g.jsonl", "run") as store:
        run_episodes(
            eps,
            {"model": model, "judge": judge},
            store,
            run_seed=1,
            on_done=lambda k, o, c: done.__setitem__(k, o),
        )
    assert len(model.calls) == 3 and len(judge.calls) == 3
    assert all(c.messages[0]["content"] == "judge: answer" for c in judge.calls)
    assert all(o.calls[1].text == "GOOD" for o in done.values())


def test_a_role_without_runner_is_a_clear_error(tmp_path):
    import pytest

    from evalkit.errors import MissingRoleError, UsageError
    from evalkit.wording import role_hint

    eps = [(EpisodeKey("0", 0), judged(samples(1)[0], SamplingParams(), False))]
    with (
        SampleStore(tmp_path / "g.jsonl", "run") as store,
        pytest.raises(UsageError, match=r"'judge' requests.*\(have: model\)") as e,
    ):
        run_episodes(eps, ScriptedRunner(lambda r: "x"), store, run_seed=1, on_done=lambda *a: None)
    # The scheduler names the role; the CLI names the option that gives it a runner.
    assert isinstance(e.value, MissingRoleError) and e.value.role == "judge"
    assert "--judge PROFILE" in role_hint("judge") and role_hint("critic") == ""


def test_a_failed_call_ends_its_episode_and_is_retried_by_a_rerun(tmp_path):
    from tests.fakes import FlakyRunner

    p = tmp_path / "g.jsonl"
    sent_back: list[Completion] = []

    def watching(sample: Sample, params: SamplingParams, thinking: bool) -> Episode:
        out = yield from two_turn(sample, params, thinking)
        sent_back.extend(out.calls)
        return out

    flaky = FlakyRunner(echo, failing={0, 7})  # a first turn, then a second turn
    done = run(p, flaky, watching, k=3, repeats=2)
    failed = {k: o for k, (o, _) in done.items() if o.final.finish_reason == "error"}
    assert len(done) == 6 and len(failed) == 2
    assert sorted(len(o.calls) for o in failed.values()) == [1, 2]  # stopped at the failed call
    assert all(c.finish_reason != "error" for c in sent_back)  # no solver ever saw an error
    assert len(flaky.calls) == 6 + 5  # 6 first turns; 5 second turns (one episode had stopped)

    healthy = ScriptedRunner(echo)
    again = run(p, healthy, two_turn, k=3, repeats=2)
    assert len(healthy.calls) == 3  # the failed first turn (then its second) and the failed second turn
    assert all(o.final.finish_reason == "stop" for o, _ in again.values())
