"""Tasks and their events in the single table.

Every change of a task goes through `record`: one transaction updates only the task attributes that changed
(conditioned on the task's event counter `seq`, its status and attempt) and puts one event item. A writer
that holds the task (a worker during its run) writes without reading first; a conflict makes it re-read and
decide again. The event's `seq` is the task's new counter value: 1, 2, 3 … with no gaps.

Item sizes: the request snapshot is stored once; when its JSON passes `inline_request_max_bytes` it goes to
S3 (`requests/{owner}/{task_id}.json`) and the item keeps the key and size. Indexes: gsi1 (owner + created)
projects only the list's fields; gsi3 (sparse, keys only) holds unfinished tasks under ACTIVE_SHARDS
partition keys so no partition holds every live task.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spoonfeeder import ids
from spoonfeeder.data import storage
from spoonfeeder.data.aws import client
from spoonfeeder.data.counters import ConditionalCount, count_in
from spoonfeeder.data.items import from_item, to_item, to_value
from spoonfeeder.models.events import Event, event_type_for, session_topic, task_topic
from spoonfeeder.models.task_record import Task

if TYPE_CHECKING:  # the API's filter model: only the API lists tasks
    from spoonfeeder.models.tasks import TaskFilters

TASK_SK = "TASK"
EVENT_PREFIX = "EVENT#"
ACTIVE_SHARDS = 16
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
DELTA_TTL_SECONDS = 24 * 3600
INLINE_REQUEST_MAX_BYTES = 64 * 1024
_MAX_OPTIMISTIC_TRIES = 8
# Attributes record() never rewrites: the key, the counter it bumps itself, and the immutable request.
_NOT_DIFFED = frozenset({"id", "owner", "seq", "updated_at", "request_snapshot", "request_s3_key",
                         "request_bytes", "created_at"})


def task_key(task_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TASK#{task_id}"}, "sk": {"S": TASK_SK}}


def event_sk(seq: int) -> str:
    return f"{EVENT_PREFIX}{seq:010d}"


def batch_line_sk(line: int) -> str:
    return f"LINE#{line:08d}"


def topic_events_pk(topic: str) -> str:
    """gsi2's partition of the events of a topic that spans tasks (a session's): replayed by `resume`."""
    return f"EVENTS#{topic}"


def shard_key(shard: int) -> str:
    return f"ACTIVE#{shard:02d}"  # one length for every shard: items of every task have the same size


def active_shard(task_id: str) -> str:
    """The gsi3 partition of an unfinished task: ACTIVE#00 … ACTIVE#15, from a hash of its id."""
    return shard_key(int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) % ACTIVE_SHARDS)


def _epoch_in(seconds: int) -> int:
    return int(ids.now().timestamp()) + seconds


def partition_events(ddb: Any, table: str, pk: str, *, after_seq: int, limit: int) -> tuple[list[Event], bool]:
    """The event items of one partition (a task's, a batch's) after `after_seq`, in order; and whether more
    follow."""
    got = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={
            ":pk": {"S": pk}, ":lo": {"S": event_sk(after_seq + 1)}, ":hi": {"S": event_sk(9_999_999_999)},
        },
        Limit=limit + 1,
        ConsistentRead=True,
    )
    events = [Event.from_dict(from_item(i)) for i in got["Items"][:limit]]
    return events, len(got["Items"]) > limit


def topic_events(ddb: Any, table: str, topic: str, *, after_id: str | None, limit: int) -> tuple[list[Event], bool]:
    """The events of a topic that spans tasks (gsi2 `EVENTS#<topic>`) after the event `after_id`, in id order
    (ULIDs: the order they were recorded in, to the millisecond); and whether more follow. A GSI is read
    eventually consistent: an event recorded a moment ago may show up only live."""
    condition = "gsi2pk = :pk"
    values: dict[str, Any] = {":pk": {"S": topic_events_pk(topic)}}
    if after_id:
        condition += " AND gsi2sk > :after"
        values[":after"] = {"S": after_id}
    got = ddb.query(TableName=table, IndexName="gsi2", KeyConditionExpression=condition,
                    ExpressionAttributeValues=values, Limit=limit + 1)
    events = [Event.from_dict(from_item(i)) for i in got["Items"][:limit]]
    return events, len(got["Items"]) > limit


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

    @property
    def item_key(self) -> dict[str, Any]:
        return {"pk": {"S": self.pk}, "sk": {"S": "IDEMP"}}


@dataclass(frozen=True)
class IdempotencyRecord:
    task_id: str
    request_hash: str


class IdempotencyKeyTaken(Exception):
    """Create lost the race for its Idempotency-Key: another request with the same key got there first."""


class TaskStore:
    def __init__(self, table_name: str, bucket_name: str | None = None, *,
                 inline_request_max_bytes: int = INLINE_REQUEST_MAX_BYTES) -> None:
        self.table = table_name
        self.bucket = bucket_name  # where large requests live; functions that never read them pass None
        self.inline_request_max_bytes = inline_request_max_bytes
        self.ddb = client("dynamodb")

    # ------------------------------------------------------------------ items
    def _task_item(self, task: Task) -> dict[str, Any]:
        values = task.to_dict()
        if task.request_s3_key:
            values.pop("request_snapshot")
        values.update(
            pk=f"TASK#{task.id}",
            sk=TASK_SK,
            entity="task",
            gsi1pk=f"OWNER#{task.owner}",
            gsi1sk=f"{task.created_at}#{task.id}",
        )
        if not task.status.terminal:
            values.update(gsi3pk=active_shard(task.id), gsi3sk=self._due(task))
        if task.batch_id:
            values.update(gsi2pk=f"BATCH#{task.batch_id}", gsi2sk=batch_line_sk(task.batch_line or 0))
        elif task.session_id:
            values.update(gsi2pk=f"SESSION#{task.session_id}", gsi2sk=f"{task.created_at}#{task.id}")
        return to_item(values)

    @staticmethod
    def _due(task: Task) -> str:
        """gsi3's sort key: the moment from which the sweeper's grace period counts for this task."""
        return f"{task.due_at or task.updated_at}#{task.id}"

    def _event_item(self, task: Task, event: Event) -> dict[str, Any]:
        values = event.to_dict()
        values.update(pk=f"TASK#{task.id}", sk=event_sk(event.seq), entity="event", owner=task.owner)
        if event.type == "task:delta":
            values["ttl"] = _epoch_in(DELTA_TTL_SECONDS)
        if task.session_id:  # a session topic's events in order, for `resume` on it
            values.update(gsi2pk=topic_events_pk(session_topic(task.session_id)), gsi2sk=event.id)
        return to_item(values)

    @staticmethod
    def new_event(task: Task, event_type: str, data: dict[str, Any], *, seq: int | None = None) -> Event:
        return Event(
            id=ids.new_id(), topic=task_topic(task.id), type=event_type_for(task.provider, event_type),
            seq=task.seq if seq is None else seq, task_id=task.id, at=task.updated_at, data=data,
            topics=[session_topic(task.session_id)] if task.session_id else None,
        )

    # ------------------------------------------------------------------ reads
    def get(self, task_id: str) -> Task | None:
        """The task as it is now (consistent read); a request kept in S3 is read back when a bucket is known."""
        got = self.ddb.get_item(TableName=self.table, Key=task_key(task_id), ConsistentRead=True)
        item = got.get("Item")
        if not item:
            return None
        task = Task.from_dict(from_item(item))
        if task.request_s3_key and task.request_snapshot is None and self.bucket:
            task.request_snapshot = storage.get_json(self.bucket, task.request_s3_key)
        return task

    def events(self, task_id: str, *, after_seq: int = 0, limit: int = 100) -> tuple[list[Event], bool]:
        """Recorded events of a task after `after_seq`, in order; the flag says whether more follow."""
        return partition_events(self.ddb, self.table, f"TASK#{task_id}", after_seq=after_seq, limit=limit)

    def list_owned(
        self, owner: str, filters: TaskFilters, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The owner's tasks, newest first, as gsi1 projects them (the API's TaskSummary fields, plain values);
        the page and the key to continue after it."""
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
        tasks = [from_item(i) for i in found[:limit]]
        if len(found) <= limit:
            return tasks, None
        last = found[limit - 1]
        return tasks, {k: last[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}

    def active_ids(self, *, due_before: str) -> list[str]:
        """Ids of unfinished tasks whose gsi3 moment (last status change, or due time) is before
        `due_before`, from every shard of the sparse gsi3."""
        found: list[str] = []
        for shard in range(ACTIVE_SHARDS):
            query: dict[str, Any] = {
                "TableName": self.table, "IndexName": "gsi3", "KeyConditionExpression": "gsi3pk = :a AND gsi3sk < :t",
                "ExpressionAttributeValues": {":a": {"S": shard_key(shard)}, ":t": {"S": due_before}},
            }
            while True:
                page = self.ddb.query(**query)
                found.extend(i["pk"]["S"].removeprefix("TASK#") for i in page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def idempotency(self, claim: IdempotencyClaim) -> IdempotencyRecord | None:
        got = self.ddb.get_item(TableName=self.table, Key=claim.item_key, ConsistentRead=True)
        if "Item" not in got:
            return None
        item = from_item(got["Item"])
        return IdempotencyRecord(item["task_id"], item["request_hash"])

    # ------------------------------------------------------------------ writes
    def create(self, task: Task, events: Sequence[tuple[str, dict[str, Any]]],
               claim: IdempotencyClaim | None, *, count: ConditionalCount | None = None,
               also: Sequence[dict[str, Any]] = ()) -> list[Event]:
        """Write a new task with its first events (seq 1, 2, …), the Idempotency-Key claim, `count` (a
        conditional counter entry, the request quota) and `also` (further transaction items: a generation's
        session counter), in one transaction. A request snapshot too large for
        the item is put in S3 first. When only the count's condition fails, `count` decides: give up (it
        raises) or try again with its new entry."""
        written, recorded = self.creation(task, events)
        claimed: list[dict[str, Any]] = [{"Put": {
            "TableName": self.table,
            "Item": to_item({"pk": claim.pk, "sk": "IDEMP", "entity": "idempotency", "owner": claim.owner,
                             "task_id": task.id, "request_hash": claim.request_hash,
                             "ttl": _epoch_in(IDEMPOTENCY_TTL_SECONDS)}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }}] if claim else []
        try:
            while True:
                # The conditions most likely to fail go first: checked before anything is written.
                counted = [count.entry()] if count else []
                try:
                    self.ddb.transact_write_items(TransactItems=[*claimed, *counted, *written, *also])
                    return recorded
                except self.ddb.exceptions.TransactionCanceledException as exc:
                    reasons = exc.response.get("CancellationReasons", [])
                    failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
                    if claimed and failed[:1] == [True]:
                        raise IdempotencyKeyTaken from exc
                    at = len(claimed)
                    if not (count and failed[at:at + 1] == [True]):
                        raise
                    count.conflict(count_in(reasons[at].get("Item")))  # raises, or we try again
        except BaseException:
            self._drop_request(task)
            raise

    def creation(self, task: Task, events: Sequence[tuple[str, dict[str, Any]]]
                 ) -> tuple[list[dict[str, Any]], list[Event]]:
        """The transaction items that write a new task and its first events (seq 1, 2, …), and those events; a
        request snapshot too large for the item is put in S3 first."""
        self._place_request(task)
        task.seq = len(events)
        recorded = [self.new_event(task, kind, data, seq=i) for i, (kind, data) in enumerate(events, start=1)]
        return [
            {"Put": {"TableName": self.table, "Item": self._task_item(task),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            *({"Put": {"TableName": self.table, "Item": self._event_item(task, e)}} for e in recorded),
        ], recorded

    def discard_created(self, task: Task, claim: IdempotencyClaim | None) -> None:
        """Undo `create` (its queue message could not be sent): the task, its first events, the claim and
        any S3 copy of the request go. The keys are known, so nothing is read first."""
        keys = [task_key(task.id), *({"pk": {"S": f"TASK#{task.id}"}, "sk": {"S": event_sk(n)}}
                                     for n in range(1, task.seq + 1))]
        if claim:
            keys.append(claim.item_key)
        self._delete_keys(keys)
        self._drop_request(task)

    def _place_request(self, task: Task) -> None:
        body = json.dumps(task.request_snapshot, ensure_ascii=False, separators=(",", ":")).encode()
        task.request_bytes = len(body)
        if len(body) <= self.inline_request_max_bytes:
            return
        if not self.bucket:
            raise RuntimeError("a large request needs the bucket, and this store has none")
        task.request_s3_key = storage.request_key(task.owner, task.id)
        storage.put_json_bytes(self.bucket, task.request_s3_key, body)

    def _drop_request(self, task: Task) -> None:
        if task.request_s3_key and self.bucket:
            storage.delete(self.bucket, task.request_s3_key)

    def record(
        self,
        task_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        change: Callable[[Task], Task | None],
        current: Task | None = None,
        before: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> tuple[Task, Event] | None:
        """Apply `change` to the task and record `event_type`, atomically; returns the new task and event.
        Events `before` (type, data) are recorded in the same transaction, ahead of it (the last deltas of a
        stream with its completion: one write instead of two).

        `change` gets a copy of the task and returns the new task, or None when the change does not apply to
        the task as it now is (wrong status, other attempt …); then nothing is written and None is returned.
        `current` is the task as the caller holds it (a worker during its run): then nothing is read before
        the write. Only changed attributes are written, conditioned on `seq`, status and attempt; when another
        writer got there first, the task is read again and the change decided again.
        """
        held = current
        for _ in range(_MAX_OPTIMISTIC_TRIES):
            if held is None:
                held = self.get(task_id)
                if held is None:
                    return None
            updated = change(copy.deepcopy(held))
            if updated is None:
                return None
            updated.seq = held.seq + 1 + len(before)
            updated.updated_at = ids.now_iso()
            events = [self.new_event(updated, kind, values, seq=held.seq + 1 + n)
                      for n, (kind, values) in enumerate(before)]
            event = self.new_event(updated, event_type, data)
            try:
                self.ddb.transact_write_items(TransactItems=[
                    {"Update": self._update(held, updated)},
                    *({"Put": {"TableName": self.table, "Item": self._event_item(updated, recorded),
                               "ConditionExpression": "attribute_not_exists(pk)"}} for recorded in (*events, event)),
                ])
            except self.ddb.exceptions.TransactionCanceledException:
                held = None  # someone else wrote: read again and decide again
                continue
            return updated, event
        raise RuntimeError(f"task {task_id}: too much contention to record {event_type}")

    def _update(self, held: Task, updated: Task) -> dict[str, Any]:
        """The UpdateItem of `held` → `updated`: only the attributes that differ, plus seq and updated_at."""
        before, after = held.to_dict(), updated.to_dict()
        sets = {"seq": after["seq"], "updated_at": after["updated_at"]}
        removes: list[str] = []
        for name, value in after.items():
            if name in _NOT_DIFFED or value == before.get(name):
                continue
            if value is None:
                removes.append(name)
            else:
                sets[name] = value
        if updated.status is not held.status or updated.due_at != held.due_at:
            if updated.status.terminal:
                removes += ["gsi3pk", "gsi3sk"]
            else:
                sets.update(gsi3pk=active_shard(updated.id), gsi3sk=self._due(updated))
        names = {f"#{n}": n for n in (*sets, *removes, "status", "attempt")}
        values = {f":{n}": to_value(v) for n, v in sets.items()}
        values.update({":was_seq": {"N": str(held.seq)}, ":was_status": {"S": str(held.status)},
                       ":was_attempt": {"N": str(held.attempt)}})
        expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        return {
            "TableName": self.table, "Key": task_key(held.id), "UpdateExpression": expression,
            "ConditionExpression": "#seq = :was_seq AND #status = :was_status AND #attempt = :was_attempt",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        }

    def renew_lease(self, task_id: str, *, lease_owner: str, attempt: int, until: str) -> bool:
        """Extend a run's lease, only while it is still that run's and not yet over; no event, no seq.

        An expired lease is never revived, so a worker that found it expired may take the run over."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key=task_key(task_id), UpdateExpression="SET #l = :until",
                ConditionExpression="#o = :owner AND #l > :now AND #s = :running AND #a = :attempt",
                ExpressionAttributeNames={"#l": "lease_until", "#o": "lease_owner", "#s": "status", "#a": "attempt"},
                ExpressionAttributeValues={":until": {"S": until}, ":owner": {"S": lease_owner},
                                           ":now": {"S": ids.now_iso()}, ":running": {"S": "running"},
                                           ":attempt": {"N": str(attempt)}})
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete(self, task: Task) -> None:
        """Delete a task, every event it recorded, its request in S3 and its outputs (every attempt's)."""
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
        self._delete_keys(keys)
        self._drop_request(task)
        if self.bucket:
            storage.delete_under(self.bucket, storage.output_key(task.owner, task.id, ""))

    def _delete_keys(self, keys: list[dict[str, Any]]) -> None:
        for i in range(0, len(keys), 25):
            pending = {self.table: [{"DeleteRequest": {"Key": k}} for k in keys[i:i + 25]]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
