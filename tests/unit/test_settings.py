"""Settings come from the environment the template gives a function: any case, converted, and a missing
variable fails the cold start loudly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from spoonfeeder import settings
from spoonfeeder.settings import SweeperSettings


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    settings.load.cache_clear()
    yield
    settings.load.cache_clear()  # no settings of these made-up environments for later tests


def test_variables_fill_the_fields_converted_to_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("LLM_TASKS_QUEUE_URL", "https://sqs/llm")
    monkeypatch.setenv("gpu_tasks_queue_url", "https://sqs/gpu")  # any case, as the variables are read
    monkeypatch.setenv("SWEEP_GRACE_SECONDS", "15")
    loaded = settings.load(SweeperSettings)
    assert (loaded.table_name, loaded.gpu_tasks_queue_url, loaded.sweep_grace_seconds) == ("t", "https://sqs/gpu", 15)
    assert loaded.max_lost_runs == 3  # the default when the template sets nothing
    assert settings.load(SweeperSettings) is loaded  # once per process


def test_a_missing_or_malformed_variable_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("LLM_TASKS_QUEUE_URL", "https://sqs/llm")
    monkeypatch.delenv("GPU_TASKS_QUEUE_URL", raising=False)
    monkeypatch.delenv("gpu_tasks_queue_url", raising=False)
    with pytest.raises(ValidationError, match="gpu_tasks_queue_url"):
        settings.load(SweeperSettings)
    monkeypatch.setenv("GPU_TASKS_QUEUE_URL", "https://sqs/gpu")
    monkeypatch.setenv("SWEEP_GRACE_SECONDS", "soon")
    with pytest.raises(ValidationError, match="sweep_grace_seconds"):
        settings.load(SweeperSettings)
