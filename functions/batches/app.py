"""Batches function: the batch-files queue's messages, each to its one job.

- an S3 notification of `batches/<owner>/<batch id>/input.jsonl` claims that batch (once: a re-delivered event
  finds it claimed) and fans it out; `s3:TestEvent` and other keys are ignored;
- `{"batch_id", "continue": true}` fans a batch out further (after its time ran out, or capacity came back);
- `{"batch_id", "cancel": true}` cancels its tasks that have not started (POST /api/batches/{id}/cancel);
- `{"batch_id", "finalize": true}` writes its output files and completes (or cancels) it.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import batch, settings
from spoonfeeder.batches import intake
from spoonfeeder.batches.cancel import cancel_waiting_tasks
from spoonfeeder.batches.fanout import FanOut
from spoonfeeder.batches.output import finalize
from spoonfeeder.data.batches import BatchStore
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.settings import BatchSettings
from spoonfeeder.tasks.routing import Lane

logger = Logger()
config = settings.load(BatchSettings)
batches = BatchStore(config.table_name)
tasks = TaskStore(config.table_name, config.bucket_name)


def handler_for(context: LambdaContext) -> Any:
    fan_out = FanOut(batches, tasks, config.bucket_name, {Lane.LLM: config.llm_tasks_queue_url},
                     config.batch_files_queue_url, config.max_prompt_bytes,
                     time_left=lambda: context.get_remaining_time_in_millis() / 1000)

    def handle(record: batch.Record) -> None:
        message = json.loads(record["body"])
        if "batch_id" in message:
            if message.get("finalize"):
                finalize(batches, config.bucket_name, str(message["batch_id"]))
            elif message.get("cancel"):
                cancelled = cancel_waiting_tasks(batches, tasks, str(message["batch_id"]), config.batch_files_queue_url)
                logger.info("batch cancelled", extra={"batch_id": message["batch_id"], "tasks_cancelled": cancelled})
            else:
                logger.info("fan-out continued", extra={"batch_id": message["batch_id"],
                                                       "stopped": fan_out.run(str(message["batch_id"]))})
            return
        for upload in intake.uploads(message):
            claimed = batches.claim(upload.batch_id, upload.owner, size=upload.size,
                                    max_concurrency=config.batch_max_concurrency)
            if claimed is None:
                logger.info("batch already claimed; event ignored", extra={"batch_id": upload.batch_id})
                continue
            if upload.size > intake.MAX_INPUT_BYTES:
                intake.refuse(batches, claimed, "INPUT_TOO_LARGE",
                              f"the input is {upload.size} bytes; at most {intake.MAX_INPUT_BYTES} are taken")
                continue
            logger.info("batch started", extra={"batch_id": upload.batch_id, "stopped": fan_out.run(upload.batch_id)})

    return handle


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return batch.process(event.get("Records", []), handler_for(context), item_id=batch.sqs_message_id)
