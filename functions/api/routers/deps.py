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
    from spoonfeeder.agents.service import AgentService
    from spoonfeeder.batches.service import BatchService
    from spoonfeeder.catalog.directory import ModelDirectory
    from spoonfeeder.comfyui.service import ComfyService
    from spoonfeeder.data.agents import AgentRegistry
    from spoonfeeder.data.usage import UsageStore
    from spoonfeeder.presets.service import ProfileService
    from spoonfeeder.providers.user_settings import ProviderSettingsService
    from spoonfeeder.tasks.service import TaskService

config = settings.load(ApiSettings)


@cache
def task_service() -> TaskService:
    from spoonfeeder.data.task_store import TaskStore
    from spoonfeeder.models.tasks import Provider
    from spoonfeeder.tasks.routing import Lane
    from spoonfeeder.tasks.service import TaskService

    return TaskService(
        store=TaskStore(config.table_name, config.bucket_name),
        destinations={Lane.LLM: config.llm_tasks_queue_url, Lane.GPU: config.gpu_tasks_queue_url,
                      Lane.AGENT: config.table_name},
        max_prompt_bytes=config.max_prompt_bytes,
        user_default_model=lambda owner, provider: provider_settings().default_model(owner, provider),
        # Only GPU tasks (Ollama, ComfyUI) read the agents' registry (and import what that needs).
        check_model=lambda provider, model: (agent_service().check_model(provider, model)
                                             if provider == Provider.OLLAMA else agent_service().check_comfyui()
                                             if provider == Provider.COMFYUI else None),
        generation_of=lambda owner, body: comfy_service().task_of(owner, body),
    )


@cache
def batch_service() -> BatchService:
    from spoonfeeder.batches.service import BatchService
    from spoonfeeder.data.batches import BatchStore

    return BatchService(BatchStore(config.table_name), config.bucket_name, config.batch_files_queue_url)


@cache
def comfy_service() -> ComfyService:
    import json
    from pathlib import Path

    from spoonfeeder import comfyui
    from spoonfeeder.comfyui.service import ComfyService

    default = Path(comfyui.__file__).with_name("default_workflow.json")
    return ComfyService(task_service(), check_available=lambda: agent_service().check_comfyui(),
                        default_workflow=lambda: json.loads(default.read_text(encoding="utf-8")))


@cache
def agent_registry() -> AgentRegistry:
    from spoonfeeder.data.agents import AgentRegistry

    return AgentRegistry(config.table_name)


@cache
def agent_service() -> AgentService:
    from spoonfeeder.agents.service import AgentService

    return AgentService(agent_registry(), task_service())


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

    # The catalog's cloud models, then the Ollama models the live GPU agents report (read on each listing).
    return ModelDirectory([catalog.cloud_models, lambda: agent_service().ollama_models()])


@cache
def usage_store() -> UsageStore:
    from spoonfeeder.data.usage import UsageStore

    return UsageStore(config.table_name)
