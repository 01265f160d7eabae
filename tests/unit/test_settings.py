"""Settings come from the environment the template gives a function: any case, converted, and a missing
variable fails the cold start loudly."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from spoonfeeder import settings
from spoonfeeder.settings import SettingsError, SweeperSettings


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
    with pytest.raises(SettingsError, match="gpu_tasks_queue_url"):
        settings.load(SweeperSettings)
    monkeypatch.setenv("GPU_TASKS_QUEUE_URL", "https://sqs/gpu")
    monkeypatch.setenv("SWEEP_GRACE_SECONDS", "soon")
    with pytest.raises(SettingsError, match="sweep_grace_seconds"):
        settings.load(SweeperSettings)


def test_optional_and_boolean_fields_read_as_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Flags(settings.CoreSettings):
        kms_key_id: str | None = None
        simulated: bool = False

    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("SIMULATED", "true")
    assert settings.load(Flags) == Flags(table_name="t", kms_key_id=None, simulated=True)
    settings.load.cache_clear()
    monkeypatch.setenv("KMS_KEY_ID", "alias/k")
    monkeypatch.setenv("SIMULATED", "maybe")
    with pytest.raises(SettingsError, match="simulated"):
        settings.load(Flags)
