"""Runner settings schemas stay in step with the runner classes they describe."""

from __future__ import annotations

import inspect

import pytest

from evalkit.errors import DataError, UsageError
from evalkit.registry import import_object
from evalkit.runners.profile_schema import RUNNER_SETTINGS
from evalkit.runners.profiles import RunnerProfile, load_profile, make_runner


@pytest.mark.parametrize("runner", sorted(RUNNER_SETTINGS))
def test_schema_keys_are_the_constructor_keywords(runner):
    params = inspect.signature(import_object(runner).__init__).parameters
    keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(RUNNER_SETTINGS[runner].model_fields) == keywords


def test_make_runner_checks_settings_changed_after_loading():
    profile = load_profile("openai-tiny")
    bad = RunnerProfile(**{**profile.__dict__, "settings": {**profile.settings, "concurrency": 0}})
    with pytest.raises(DataError, match=r"settings\.concurrency"):
        make_runner(bad)


def test_a_runner_class_without_schema_is_checked_by_its_signature():
    profile = RunnerProfile(
        name="mine", runner="tests.fakes:ScriptedRunner", model="m", settings={"colour": 1}
    )
    with pytest.raises(UsageError, match=r"settings do not fit tests\.fakes:ScriptedRunner"):
        make_runner(profile)
