"""The function's collaborators, built once per cold start from its validated settings.

Each is imported where it is first built: the quota middleware, which every request runs, needs only the
counters, and a request to one router does not load the services of the others."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from spoonfeeder import settings
from spoonfeeder.data.counters import Counters
from spoonfeeder.ratelimit import LoginThrottle, Quota, RequestQuota
from spoonfeeder.settings import ApiSettings

if TYPE_CHECKING:
    from spoonfeeder.catalog.directory import ModelDirectory
    from spoonfeeder.data.usage import UsageStore
    from spoonfeeder.presets.service import ProfileService
    from spoonfeeder.providers.user_settings import ProviderSettingsService
    from spoonfeeder.tasks.service import TaskService

config = settings.load(ApiSettings)


@cache
def task_service() -> TaskService:
    from spoonfeeder.data.task_store import TaskStore
    from spoonfeeder.tasks.routing import Lane
    from spoonfeeder.tasks.service import TaskService

    return TaskService(
        store=TaskStore(config.table_name, config.bucket_name),
        queue_urls={Lane.LLM: config.llm_tasks_queue_url, Lane.GPU: config.gpu_tasks_queue_url},
        max_prompt_bytes=config.max_prompt_bytes,
        user_default_model=lambda owner, provider: provider_settings().default_model(owner, provider),
    )


@cache
def provider_settings() -> ProviderSettingsService:
    from spoonfeeder.data.kms import KeyCipher
    from spoonfeeder.providers import credentials
    from spoonfeeder.providers.user_settings import ProviderSettingsService

    resolver = credentials.resolver(config)
    return ProviderSettingsService(resolver.settings, KeyCipher(config.data_key_arn), resolver,
                                   test_timeout=config.provider_test_timeout_seconds)


@cache
def profile_service() -> ProfileService:
    from spoonfeeder.data.profiles import ProfileStore
    from spoonfeeder.presets.service import ProfileService

    return ProfileService(ProfileStore(config.table_name))


@cache
def request_quota() -> RequestQuota:
    return RequestQuota(Counters(config.table_name), Quota(config.user_requests_per_minute, 60))


@cache
def login_throttle() -> LoginThrottle:
    return LoginThrottle(Counters(config.table_name), Quota(config.login_failures_per_15_minutes, 15 * 60))


@cache
def model_directory() -> ModelDirectory:
    from spoonfeeder import catalog
    from spoonfeeder.catalog.directory import ModelDirectory

    return ModelDirectory([catalog.cloud_models])  # the GPU agents' models join as a second source


@cache
def usage_store() -> UsageStore:
    from spoonfeeder.data.usage import UsageStore

    return UsageStore(config.table_name)
