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
    )


@cache
def request_quota() -> RequestQuota:
    return RequestQuota(Counters(config.table_name), Quota(config.user_requests_per_minute, 60))


@cache
def login_throttle() -> LoginThrottle:
    return LoginThrottle(Counters(config.table_name), Quota(config.login_failures_per_15_minutes, 15 * 60))
