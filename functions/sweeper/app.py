"""Sweeper function (scheduled): sends again the tasks whose message is gone and runs whose worker was lost."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import settings, snapstart
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.settings import SweeperSettings
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.sweeper import sweep

logger = Logger()
config = settings.load(SweeperSettings)
store = TaskStore(config.table_name)
destinations = {Lane.LLM: config.llm_tasks_queue_url, Lane.GPU: config.gpu_tasks_queue_url,
                Lane.AGENT: config.table_name}
snapstart.prepare("sqs")  # SnapStart: the table and queue clients are ready in the snapshot


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    swept = sweep(store, destinations, grace_seconds=config.sweep_grace_seconds, max_lost_runs=config.max_lost_runs)
    return {"requeued": swept.requeued, "recovered": swept.recovered, "worker_lost": swept.worker_lost,
            "agent_lost": swept.agent_lost}
