"""Tasks and their events in the single table.

Every change of a task goes through `record`: the new task item and one event item are written in one
transaction, guarded by the task's event counter (`seq`), so a racing writer can never slip in between the
read and the write. The event's `seq` is the task's new counter value: 1, 2, 3 … with no gaps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spoonfeeder import ids
from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_item, to_value
from spoonfeeder.models.events import Event, task_topic
from spoonfeeder.models.tasks import Task, TaskFilters

TASK_SK = "TASK"
EVENT_PREFIX = "EVENT#"
ACTIVE = "ACTIVE"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
DELTA_TTL_SECONDS = 24 * 3600
_MAX_OPTIMISTIC_TRIES = 8


def task_key(task_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TASK#{task_id}"}, "sk": {"S": TASK_SK}}


def event_sk(seq: int) -> str:
    return f"{EVENT_PREFIX}{seq:010d}"


def _epoch_in(seconds: int) -> int:
    return int(ids.now().timestamp()) + seconds


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key claimed by the create transaction; `request_hash` detects a reused key."""

    owner: str
    key: str
    request_hash: str

    @property
    def pk(self) -> str:
        digest = hashlib.sha256(self.key.encode()).hexdigest()
        return f"IDEMP#{self.owner}#{digest}"


@dataclass(frozen=True)
class IdempotencyRecord:
    task_id: str
    request_hash: str
    response: dict[str, Any] | None


class IdempotencyKeyTaken(Exception):
    """Create lost the race for its Idempotency-Key: another request with the same key got there first."""


class TaskStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    # ------------------------------------------------------------------ items
    def _task_item(self, task: Task) -> dict[str, Any]:
        values = task.model_dump(mode="json")
        values.update(
            pk=f"TASK#{task.id}",
            sk=TASK_SK,
            entity="task",
            gsi1pk=f"OWNER#{task.owner}",
            gsi1sk=f"{task.created_at}#{task.id}",
        )
        if not task.status.terminal:
            values.update(gsi3pk=ACTIVE, gsi3sk=f"{task.updated_at}#{task.id}")
        return to_item(values)

    def _event_item(self, task: Task, event: Event) -> dict[str, Any]:
        values = event.model_dump(mode="json")
        values.update(pk=f"TASK#{task.id}", sk=event_sk(event.seq), entity="event", owner=task.owner)
        if event.type == "task:delta":
            values["ttl"] = _epoch_in(DELTA_TTL_SECONDS)
        return to_item(values)

    @staticmethod
    def new_event(task: Task, event_type: str, data: dict[str, Any]) -> Event:
        return Event(
            id=ids.new_id(), topic=task_topic(task.id), type=event_type, seq=task.seq,
            task_id=task.id, at=task.updated_at, data=data,
        )

    # ------------------------------------------------------------------ reads
    def get(self, task_id: str) -> Task | None:
        got = self.ddb.get_item(TableName=self.table, Key=task_key(task_id), ConsistentRead=True)
        item = got.get("Item")
        return Task.model_validate(from_item(item)) if item else None

    def events(self, task_id: str, *, after_seq: int = 0, limit: int = 100) -> tuple[list[Event], bool]:
        """Recorded events of a task after `after_seq`, in order; the flag says whether more follow."""
        got = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": f"TASK#{task_id}"},
                ":lo": {"S": event_sk(after_seq + 1)},
                ":hi": {"S": event_sk(9_999_999_999)},
            },
            Limit=limit + 1,
            ConsistentRead=True,
        )
        rows = [from_item(i) for i in got["Items"]]
        fields = Event.model_fields.keys()
        events = [Event.model_validate({k: r.get(k) for k in fields}) for r in rows[:limit]]
        return events, len(rows) > limit

    def list_owned(
        self, owner: str, filters: TaskFilters, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[Task], dict[str, Any] | None]:
        """The owner's tasks, newest first; returns the page and the key to continue after it (or None)."""
        key_cond = "gsi1pk = :o"
        values: dict[str, Any] = {":o": {"S": f"OWNER#{owner}"}}
        if filters.created_from and filters.created_to:
            key_cond += " AND gsi1sk BETWEEN :lo AND :hi"
            values.update({":lo": {"S": filters.created_from}, ":hi": {"S": filters.created_to + "\uffff"}})
        elif filters.created_from:
            key_cond += " AND gsi1sk >= :lo"
            values[":lo"] = {"S": filters.created_from}
        elif filters.created_to:
            key_cond += " AND gsi1sk <= :hi"
            values[":hi"] = {"S": filters.created_to + "\uffff"}
        names: dict[str, str] = {}
        conditions = []
        for field in ("status", "type", "provider"):
            wanted = getattr(filters, field)
            if wanted is not None:
                names[f"#{field}"] = field
                values[f":{field}"] = {"S": str(wanted)}
                conditions.append(f"#{field} = :{field}")
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi1", "KeyConditionExpression": key_cond,
            "ExpressionAttributeValues": values, "ScanIndexForward": False,
        }
        if conditions:
            query["FilterExpression"] = " AND ".join(conditions)
            query["ExpressionAttributeNames"] = names
        found: list[dict[str, Any]] = []
        exclusive_start = start_key
        # A filter can leave a page short: keep reading until one item past the page shows there is more.
        while len(found) <= limit:
            if exclusive_start:
                query["ExclusiveStartKey"] = exclusive_start
            query["Limit"] = max(limit + 1 - len(found), 10)
            page = self.ddb.query(**query)
            found.extend(page["Items"])
            exclusive_start = page.get("LastEvaluatedKey")
            if not exclusive_start:
                break
        tasks = [Task.model_validate(from_item(i)) for i in found[:limit]]
        if len(found) <= limit:
            return tasks, None
        last = found[limit - 1]
        return tasks, {k: last[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}

    def active_ids(self, *, updated_before: str) -> list[str]:
        """Ids of unfinished tasks last changed before `updated_before` (the sparse gsi3), oldest first."""
        found: list[str] = []
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi3", "KeyConditionExpression": "gsi3pk = :a AND gsi3sk < :t",
            "ExpressionAttributeValues": {":a": {"S": ACTIVE}, ":t": {"S": updated_before}},
        }
        while True:
            page = self.ddb.query(**query)
            found.extend(i["pk"]["S"].removeprefix("TASK#") for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def idempotency(self, claim: IdempotencyClaim) -> IdempotencyRecord | None:
        got = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": claim.pk}, "sk": {"S": "IDEMP"}}, ConsistentRead=True
        )
        if "Item" not in got:
            return None
        item = from_item(got["Item"])
        return IdempotencyRecord(item["task_id"], item["request_hash"], item.get("response"))

    # ------------------------------------------------------------------ writes
    def create(self, task: Task, event_type: str, data: dict[str, Any], claim: IdempotencyClaim | None) -> Event:
        """Write a new task (seq 1) with its first event; claim the Idempotency-Key in the same transaction."""
        task.seq = 1
        event = self.new_event(task, event_type, data)
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": self._task_item(task),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": self._event_item(task, event)}},
        ]
        if claim:  # first: the condition most likely to fail is checked before anything is written
            writes.insert(0, {"Put": {
                "TableName": self.table,
                "Item": to_item({"pk": claim.pk, "sk": "IDEMP", "entity": "idempotency", "owner": claim.owner,
                                 "task_id": task.id, "request_hash": claim.request_hash,
                                 "ttl": _epoch_in(IDEMPOTENCY_TTL_SECONDS)}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }})
        try:
            self.ddb.transact_write_items(TransactItems=writes)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if claim and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise IdempotencyKeyTaken from exc
            raise
        return event

    def remember_response(self, claim: IdempotencyClaim, response: dict[str, Any]) -> None:
        self.ddb.update_item(
            TableName=self.table, Key={"pk": {"S": claim.pk}, "sk": {"S": "IDEMP"}},
            UpdateExpression="SET #r = :r", ExpressionAttributeNames={"#r": "response"},
            ExpressionAttributeValues={":r": to_value(response)},
        )

    def record(
        self,
        task_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        change: Callable[[Task], Task | None],
    ) -> tuple[Task, Event] | None:
        """Apply `change` to the current task and record `event_type`, atomically.

        `change` gets a copy of the current task and returns the new task, or None when the change does not
        apply to the task as it now is (wrong status, other attempt …); then nothing is written and None is
        returned. A concurrent writer makes the transaction fail on `seq`; the change is then re-evaluated on
        the fresh task.
        """
        for _ in range(_MAX_OPTIMISTIC_TRIES):
            current = self.get(task_id)
            if current is None:
                return None
            updated = change(current.model_copy(deep=True))
            if updated is None:
                return None
            updated.seq = current.seq + 1
            updated.updated_at = ids.now_iso()
            event = self.new_event(updated, event_type, data)
            try:
                self.ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": self.table, "Item": self._task_item(updated),
                             "ConditionExpression": "#seq = :seq",
                             "ExpressionAttributeNames": {"#seq": "seq"},
                             "ExpressionAttributeValues": {":seq": {"N": str(current.seq)}}}},
                    {"Put": {"TableName": self.table, "Item": self._event_item(updated, event),
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
            except self.ddb.exceptions.TransactionCanceledException:
                continue
            return updated, event
        raise RuntimeError(f"task {task_id}: too much contention to record {event_type}")

    def delete(self, task: Task) -> None:
        """Delete a task and every event it recorded."""
        keys = [task_key(task.id)]
        start: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "TableName": self.table, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
                "ExpressionAttributeValues": {":pk": {"S": f"TASK#{task.id}"}, ":e": {"S": EVENT_PREFIX}},
                "ProjectionExpression": "pk, sk",
            }
            if start:
                query["ExclusiveStartKey"] = start
            page = self.ddb.query(**query)
            keys.extend({"pk": i["pk"], "sk": i["sk"]} for i in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        for i in range(0, len(keys), 25):
            pending = {self.table: [{"DeleteRequest": {"Key": k}} for k in keys[i:i + 25]]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def forget_idempotency(self, claim: IdempotencyClaim) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": claim.pk}, "sk": {"S": "IDEMP"}})
