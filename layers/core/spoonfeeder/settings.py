"""Settings read from the environment the template gives each function, validated at cold start.

Each field comes from the variable of the same name in any case (`table_name` from TABLE_NAME), converted to the
field's type (str, int, float or bool); a missing or malformed variable fails the cold start. Plain frozen
dataclasses: settings need no more than that, and a function that otherwise has no pydantic model (the
WebSocket function) then does not import pydantic at all (about a quarter of its cold start). Fields are plain
annotations with plain defaults.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, get_args, get_type_hints


class SettingsError(ValueError):
    """A variable the function needs is missing or cannot be read as its field's type."""


@dataclass(frozen=True, kw_only=True)
class CoreSettings:
    table_name: str
    stage: str = "dev"


@dataclass(frozen=True, kw_only=True)
class ProviderKeySettings(CoreSettings):
    """What a function that resolves provider keys needs: the operator defaults' secret, the KMS key that encrypts
    users' own keys, and which hosts a user's endpoint_url may name although they are private or plain http
    (comma-separated; see providers/endpoints.py)."""

    provider_secret_arn: str
    data_key_arn: str
    provider_endpoint_allowed_hosts: str = ""


@dataclass(frozen=True, kw_only=True)
class ApiSettings(ProviderKeySettings):
    bucket_name: str
    llm_tasks_queue_url: str
    gpu_tasks_queue_url: str
    batch_files_queue_url: str = ""
    user_pool_id: str
    user_pool_client_id: str
    max_prompt_bytes: int = 256 * 1024  # UTF-8 bytes: what an item pays for, not characters
    user_requests_per_minute: int = 120
    login_failures_per_15_minutes: int = 5
    provider_test_timeout_seconds: float = 10.0  # POST /api/settings/{provider}/test, within the API's 29 s


@dataclass(frozen=True, kw_only=True)
class WsSettings(CoreSettings):
    user_pool_client_id: str
    jwt_issuer: str
    jwks_url: str
    ws_management_url: str
    connection_ttl_seconds: int = 2 * 3600


@dataclass(frozen=True, kw_only=True)
class EventsSettings(CoreSettings):
    ws_management_url: str
    batch_files_queue_url: str = ""


@dataclass(frozen=True, kw_only=True)
class BatchSettings(CoreSettings):
    bucket_name: str
    llm_tasks_queue_url: str
    batch_files_queue_url: str
    batch_max_concurrency: int = 50
    max_prompt_bytes: int = 256 * 1024  # the API's limit: a line may ask for no more than a request


@dataclass(frozen=True, kw_only=True)
class RunSettings(CoreSettings):
    """What running tasks needs, in a Lambda worker or on a GPU agent."""

    bucket_name: str
    max_receive_count: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: int = 900
    provider_timeout_seconds: float = 60.0
    delta_flush_seconds: float = 0.2
    # Results larger than this many UTF-8 bytes go to S3; the item keeps the key (items stay far below 400 KB).
    inline_result_max_bytes: int = 32 * 1024
    # A run's lease and its messages' visibility last lease_seconds and are renewed every heartbeat_seconds,
    # so a killed worker's messages and runs come back within lease_seconds (see tasks/lease.py).
    lease_seconds: int = 30
    heartbeat_seconds: float = 10.0
    max_lost_runs: int = 3
    # A provider/model with cooldown_failures retryable failures (any tasks) within one window of
    # cooldown_window_seconds is cooled down for cooldown_seconds: tasks with a fallback chain skip it.
    cooldown_failures: int = 3
    cooldown_window_seconds: int = 60
    cooldown_seconds: int = 60


@dataclass(frozen=True, kw_only=True)
class WorkerSettings(RunSettings, ProviderKeySettings):
    llm_tasks_queue_url: str
    # A message is handed back (visible again at once) rather than started with less time than this left.
    min_seconds_to_start: int = 75


@dataclass(frozen=True, kw_only=True)
class SweeperSettings(CoreSettings):
    llm_tasks_queue_url: str
    gpu_tasks_queue_url: str
    sweep_grace_seconds: int = 60
    max_lost_runs: int = 3


SettingsT = TypeVar("SettingsT", bound=CoreSettings)


def _convert(text: str, kind: Any) -> Any:
    optional = [arg for arg in get_args(kind) if arg is not type(None)]
    if optional:  # `str | None`: a variable that is set holds the value
        kind = optional[0]
    if kind is bool:
        if text.strip().lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not true or false")
        return text.strip().lower() in ("true", "1")
    return kind(text)


@cache
def load(kind: type[SettingsT]) -> SettingsT:
    """One validated settings object per kind and process; fails loudly when a variable is missing."""
    environment = {name.lower(): value for name, value in os.environ.items()}
    types, values = get_type_hints(kind), {}
    for field in dataclasses.fields(kind):
        if field.name not in environment:
            if field.default is dataclasses.MISSING:
                raise SettingsError(f"{field.name}: the variable {field.name.upper()} is not set")
            continue
        try:
            values[field.name] = _convert(environment[field.name], types[field.name])
        except ValueError as exc:
            raise SettingsError(f"{field.name}: {exc}") from None
    return kind(**values)
