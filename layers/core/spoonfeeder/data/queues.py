"""SQS access: send task messages, push a message's next delivery back.

Queue URLs come from the environment the template gives each function (no sqs:GetQueueUrl)."""

from __future__ import annotations

from spoonfeeder.data.aws import client
from spoonfeeder.models.messages import TaskMessage

MAX_VISIBILITY_SECONDS = 43_200  # SQS's own ceiling


def send_task(queue_url: str, message: TaskMessage) -> str:
    sent = client("sqs").send_message(QueueUrl=queue_url, MessageBody=message.model_dump_json())
    return str(sent["MessageId"])


def delay_redelivery(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """Make a received message come back after `seconds` (the backoff between attempts)."""
    client("sqs").change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
    )
