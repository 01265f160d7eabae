"""The function's collaborators, built once per cold start from its validated settings."""

from __future__ import annotations

from functools import cache

from spoonfeeder import settings
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.settings import ApiSettings
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.service import TaskService

config = settings.load(ApiSettings)


@cache
def task_service() -> TaskService:
    return TaskService(
        store=TaskStore(config.table_name),
        queue_urls={Lane.LLM: config.llm_tasks_queue_url, Lane.GPU: config.gpu_tasks_queue_url},
        max_prompt_chars=config.max_prompt_chars,
    )
