"""SQS access: send task messages, push a message's next delivery back, keep held messages hidden.

Queue URLs come from the environment the template gives each function (no sqs:GetQueueUrl)."""

from __future__ import annotations

from collections.abc import Sequence

from spoonfeeder.data.aws import client
from spoonfeeder.models.messages import TaskMessage

MAX_VISIBILITY_SECONDS = 43_200  # SQS's own ceiling


MAX_DELAY_SECONDS = 900  # SQS's ceiling for DelaySeconds


def send_task(queue_url: str, message: TaskMessage, *, delay_seconds: int = 0) -> str:
    """Send a task message, delivered no sooner than `delay_seconds` from now (at most 15 minutes)."""
    sent = client("sqs").send_message(QueueUrl=queue_url, MessageBody=message.to_json(),
                                      DelaySeconds=max(0, min(int(delay_seconds), MAX_DELAY_SECONDS)))
    return str(sent["MessageId"])


def _seconds(seconds: int) -> int:
    return max(0, min(int(seconds), MAX_VISIBILITY_SECONDS))


def delay_redelivery(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """Make a received message come back after `seconds` (the backoff between attempts)."""
    client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle,
                                            VisibilityTimeout=_seconds(seconds))


def keep_hidden(queue_url: str, receipt_handles: Sequence[str], seconds: int) -> None:
    """Hide received messages for `seconds` more (the worker's heartbeat). One call per message: with one
    message per invocation a batch call saves nothing, and it needs the same grant. A handle that is no longer
    valid (the message came back and another consumer received it) is skipped: the others are still kept."""
    sqs = client("sqs")
    for handle in receipt_handles:
        try:
            delay_redelivery(queue_url, handle, seconds)
        except sqs.exceptions.ReceiptHandleIsInvalid:
            continue


def receive(queue_url: str, *, max_messages: int, wait_seconds: int, visibility_seconds: int) -> list[dict]:
    """Long-poll for up to `max_messages` (the GPU agent, which runs outside Lambda's event source); each is
    hidden for `visibility_seconds` from now, which the holder's heartbeat then extends."""
    got = client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max(1, min(max_messages, 10)), WaitTimeSeconds=wait_seconds,
        VisibilityTimeout=_seconds(visibility_seconds), MessageSystemAttributeNames=["ApproximateReceiveCount"])
    return list(got.get("Messages", []))


def acknowledge(queue_url: str, receipt_handle: str) -> None:
    """The message's work is done: SQS forgets it."""
    client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)


def send_tasks(queue_url: str, messages: Sequence[TaskMessage]) -> None:
    """Send task messages ten to a call (SendMessageBatch, checked as sqs:SendMessage); raises when any is refused,
    so the caller sends them again (a duplicate message is harmless)."""
    sqs = client("sqs")
    for start in range(0, len(messages), 10):
        entries = [{"Id": str(n), "MessageBody": message.to_json()}
                   for n, message in enumerate(messages[start:start + 10])]
        failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} of {len(entries)} task messages: {failed[0].get('Code')}")


def send_json(queue_url: str, body: str) -> None:
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
