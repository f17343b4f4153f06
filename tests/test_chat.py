from evalkit.chat import split_completion, split_reasoning


def test_reasoning_mode_splits_on_think_close():
    s = split_reasoning("let me think\nabout it</think>\n\n정답: C", reasoning_mode=True)
    assert s.reasoning == "let me think\nabout it"
    assert s.answer == "정답: C"
    assert not s.unclosed_think


def test_reasoning_mode_without_close_has_no_answer():
    s = split_reasoning("thinking forever... Answer: A", reasoning_mode=True)
    assert s.answer is None
    assert s.unclosed_think
    assert s.reasoning == "thinking forever... Answer: A"


def test_non_reasoning_whole_text_is_answer():
    s = split_reasoning("Answer: B", reasoning_mode=False)
    assert (s.reasoning, s.answer, s.unclosed_think) == (None, "Answer: B", False)


def test_last_think_close_wins_and_leading_open_tag_is_dropped():
    s = split_reasoning("<think>a</think> b </think> final", reasoning_mode=False)
    assert s.answer == "final"
    assert s.reasoning == "a</think> b"


def test_server_side_reasoning_is_taken_as_given():
    s = split_completion("Answer: D", "I reasoned", reasoning_mode=True)
    assert s.reasoning == "I reasoned" and s.answer == "Answer: D"
