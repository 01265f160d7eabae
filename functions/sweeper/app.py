"""Sweeper function (scheduled): sends again the tasks a crashed create left pending."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import settings
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.settings import SweeperSettings
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.sweeper import requeue_stale_pending

logger = Logger()
config = settings.load(SweeperSettings)
store = TaskStore(config.table_name)
queue_urls = {Lane.LLM: config.llm_tasks_queue_url, Lane.GPU: config.gpu_tasks_queue_url}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    requeued = requeue_stale_pending(store, queue_urls, grace_seconds=config.pending_grace_seconds)
    return {"requeued": requeued}
