"""Preset templates and fallback chains as pure rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spoonfeeder.data.profiles import profile_item
from spoonfeeder.data.sizes import item_bytes
from spoonfeeder.errors import ValidationFailed
from spoonfeeder.models.kinds import Provider, TaskStatus
from spoonfeeder.models.profiles import MAX_FALLBACKS, MAX_TEMPLATE_BYTES, Profile
from spoonfeeder.models.task_record import Task
from spoonfeeder.presets.template import check_variables, placeholders, render
from spoonfeeder.tasks.fallback import Pair, chain_of


def test_placeholders_are_named_once_in_order_and_double_braces_are_literal() -> None:
    template = "Dear {name}, {{not_a_placeholder}} {topic} for {name}"
    assert placeholders(template) == ["name", "topic"]
    assert render(template, {"name": "Ada", "topic": "maths"}) == "Dear Ada, {not_a_placeholder} maths for Ada"


def test_values_are_inserted_as_they_are_never_read_as_templates() -> None:
    assert render("{a}-{b}", {"a": "{b}", "b": "{{x}}"}) == "{b}-{{x}}"


@pytest.mark.parametrize("bad", ["{", "}", "a {b", "a } b", "{0}", "{}", "{a.b}", "{a[0]}", "{a!r}", "{a:>4}",
                                 "{ a}", "{a-b}"])
def test_malformed_templates_and_non_names_are_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        placeholders(bad, field="system")
    assert refused.value.code == "INVALID_TEMPLATE" and refused.value.details["field"] == "system"


def test_missing_and_unknown_variables_are_named() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_variables(["a", "b", "a"], {"a": "1", "c": "3", "d": "4"})
    assert refused.value.details == {"missing": ["b"], "unknown": ["c", "d"], "placeholders": ["a", "b"]}
    check_variables(["a"], {"a": ""})  # an empty value is a value


@given(st.text(max_size=50), st.text(max_size=50))
def test_any_escaped_text_around_a_placeholder_renders_to_itself_around_the_value(text: str, value: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert render(f"{escaped}{{v}}{escaped}", {"v": value}) == f"{text}{value}{text}"


def test_a_chain_is_the_requests_pair_then_its_fallbacks() -> None:
    task = Task(id="t", owner="o", type="text", provider="openai", model="b", status=TaskStatus.QUEUED,
                created_at="x", updated_at="x",
                request_snapshot={"provider": "openai", "model": "a", "fallbacks": [{"provider": "openai",
                                                                                      "model": "b"}]})
    assert chain_of(task) == [Pair(Provider.OPENAI, "a"), Pair(Provider.OPENAI, "b")]
    task.request_snapshot = {"provider": "openai", "model": "a"}
    assert chain_of(task) == [Pair(Provider.OPENAI, "a")]


def test_the_largest_preset_item_stays_far_below_dynamodbs_limit() -> None:
    widest = "\U0001f944"  # 4 bytes of UTF-8: the most bytes per character
    template = widest * (MAX_TEMPLATE_BYTES // 4)
    profile = Profile(
        id="01J0000000000000000000000A", owner="o" * 100, name=widest * 200, description=widest * 2000,
        type="text", provider="openai", model="m" * 200, prompt_template=template, system=template,
        options={"stop": [widest * 256] * 4, "temperature": 1.5, "top_p": 0.5, "max_tokens": 100, "seed": -(2**63)},
        fallbacks=[{"provider": "openai", "model": widest * 200} for _ in range(MAX_FALLBACKS)],
        created_at="2026-11-23T00:00:00.000Z", updated_at="2026-11-23T00:00:00.000Z")
    assert item_bytes(profile_item(profile)) < 100 * 1024
