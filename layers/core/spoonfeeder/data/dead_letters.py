"""Dead letters kept for inspection: one item per dead-lettered message in the single table.

Key: `DEADLETTER#<queue name>` / `<sent at>#<message id>`, so one Query lists a queue's letters in the order
they were first sent. The sort key uses the message's SentTimestamp, which a redelivery does not change, and
the put is conditional on the key: a letter delivered twice is kept once. Items expire with the dead-letter
queues' own retention (14 days). The stream ignores them (its filter passes event items only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from spoonfeeder import ids
from spoonfeeder.data.aws import client
from spoonfeeder.data.items import to_item

PK_PREFIX = "DEADLETTER#"
KEPT_SECONDS = 14 * 24 * 3600
# Task messages are a few hundred bytes; a poison message may be up to 1 MiB, and an item must stay far
# below DynamoDB's 400 KB. Longer bodies keep their first BODY_KEPT_BYTES and say so.
BODY_KEPT_BYTES = 64 * 1024


def letters_key(queue: str) -> str:
    return f"{PK_PREFIX}{queue}"


def _iso_from_millis(millis: str | int | None) -> str | None:
    if millis in (None, ""):
        return None
    return ids.iso(datetime.fromtimestamp(int(millis) / 1000, UTC))


def _truncated(text: str, limit: int) -> tuple[str, bool]:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    return raw[:limit].decode("utf-8", errors="ignore"), True  # never cut a character in half


@dataclass(frozen=True)
class DeadLetter:
    """One message as its dead-letter queue delivered it (SQS attributes as SQS gives them)."""

    queue: str  # the dead-letter queue's name
    message_id: str
    body: str
    sent_timestamp: str  # epoch milliseconds, from the original send
    first_receive_timestamp: str | None = None
    receive_count: int = 0
    message_attributes: dict[str, str] = field(default_factory=dict)
    task_id: str | None = None  # when the body names one


class DeadLetterArchive:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def keep(self, letter: DeadLetter) -> bool:
        """Store the letter; False when it was already kept (a redelivery)."""
        sent_at = _iso_from_millis(letter.sent_timestamp) or ids.now_iso()
        body, truncated = _truncated(letter.body, BODY_KEPT_BYTES)
        item = to_item({
            "pk": letters_key(letter.queue), "sk": f"{sent_at}#{letter.message_id}",
            "entity": "dead_letter", "queue": letter.queue, "message_id": letter.message_id,
            "body": body, "body_bytes": len(letter.body.encode("utf-8")), "body_truncated": truncated or None,
            "sent_at": sent_at, "first_received_at": _iso_from_millis(letter.first_receive_timestamp),
            "receive_count": letter.receive_count, "message_attributes": letter.message_attributes or None,
            "task_id": letter.task_id, "kept_at": ids.now_iso(),
            "ttl": int(ids.now().timestamp()) + KEPT_SECONDS,
        })
        try:
            self.ddb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
