"""DynamoDB calls and bytes written per streamed task: the old write path against the lean one.

A task streams N coalesced deltas between `task:started` and `task:completed` (N + 2 writes after create).
"before" emulates the old `TaskStore.record`: a consistent GetItem, then a TransactWriteItems that Puts the
whole task item again (prompt stored twice: `input` and `request_snapshot`; gsi3 under one `ACTIVE` key,
sorted by `updated_at`; gsi1 projecting ALL) plus the event. "after" is today's `TaskStore.record` held by
the worker: a TransactWriteItems of an UpdateItem of the changed attributes plus the event, nothing read.

Both run against one local moto server. Sizes follow DynamoDB's item size rules (attribute names + values,
UTF-8; `spoonfeeder.data.sizes`): "sent" is what the requests carry, "item bytes written" the size of every
item version written to the table (what write units are billed on; a transactional write costs 2 WCU per KB),
and "index bytes written" what the GSIs receive (an index is written when its keys or projected attributes
change).

Run: .venv/bin/python bench/write_path.py [--deltas 100] [--delta-chars 60] [--prompt-chars 2000]
"""

from __future__ import annotations

import argparse
import copy
import math
import os
from collections import Counter
from typing import Any

import boto3
import moto
from localcloud.moto_process import MotoServer
from spoonfeeder import ids
from spoonfeeder.data.items import from_item, to_item
from spoonfeeder.data.sizes import item_bytes
from spoonfeeder.data.task_store import TaskStore, event_sk, task_key
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.models.tasks import TaskSummary
from spoonfeeder.tasks.state import transition

REGION = "us-east-1"
SUMMARY = set(TaskSummary.model_fields)  # what gsi1 projects now (template.yaml)


def new_task(prompt: str) -> Task:
    at = ids.now_iso()
    return Task(id=ids.new_id(), owner="bench-owner", type="text", provider="openai", model="gpt-4o-mini",
                status=TaskStatus.QUEUED, created_at=at, updated_at=at,
                request_snapshot={"type": "text", "provider": "openai", "model": "gpt-4o-mini", "options": {},
                                  "messages": [{"role": "user", "content": prompt}]})


def old_item(store: TaskStore, task: Task) -> dict[str, Any]:
    """The item the old store wrote: today's item plus the prompt again in `input`, `options`, one gsi3 key."""
    item = store._task_item(task)
    values = from_item(item)
    values.update(input={"prompt": task.request_snapshot["messages"][-1]["content"]} if task.request_snapshot
                  else {}, options={})
    if "gsi3pk" in values:
        values.update(gsi3pk="ACTIVE", gsi3sk=f"{task.updated_at}#{task.id}")
    return to_item(values)


def index_writes(before: dict[str, Any] | None, after: dict[str, Any] | None, *, old: bool) -> list[int]:
    """Sizes of the GSI entries written for one change of the task item (a removal is written too)."""
    written = []
    indexes = (("gsi1", None if old else SUMMARY), ("gsi3", set()))  # None: ALL; set(): KEYS_ONLY
    for name, projected in indexes:
        was, now = _entry(before, name, projected), _entry(after, name, projected)
        if was != now:
            written.append(item_bytes(now or was or {}))
    return written


def _entry(item: dict[str, Any] | None, name: str, projected: set[str] | None) -> dict[str, Any] | None:
    """The entry of `item` in index `name`, or None when the item is not in it."""
    if not item or f"{name}pk" not in item:
        return None
    keys = {"pk", "sk", f"{name}pk", f"{name}sk"}
    return {k: v for k, v in item.items() if k in keys or projected is None or k in projected}


class Meter:
    """Counts the DynamoDB calls of the store's client and the bytes their writes carry."""

    def __init__(self, ddb: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.sent = 0
        self.ddb = ddb
        ddb.meta.events.register("provide-client-params.dynamodb", self._count)

    def close(self) -> None:
        self.ddb.meta.events.unregister("provide-client-params.dynamodb", self._count)

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        for write in params.get("TransactItems", []):
            for kind, body in write.items():
                if kind == "Put":
                    self.sent += item_bytes(body["Item"])
                else:
                    self.sent += sum(len(n) for n in body.get("ExpressionAttributeNames", {}).values())
                    self.sent += item_bytes({"": {"M": body.get("ExpressionAttributeValues", {})}})


def stream(store: TaskStore, admin: Any, task: Task, *, old: bool, deltas: int, delta_text: str
           ) -> tuple[int, int, int]:
    """Run start, N deltas, completed through one write path; returns item bytes, index bytes and write units
    (2 per KB of each item a transaction writes, 1 per KB of each index entry)."""
    table_bytes = index = wcu = 0
    held = task

    def write(event_type: str, data: dict[str, Any], change: Any) -> None:
        nonlocal held, table_bytes, index, wcu
        before = admin.get_item(TableName=store.table, Key=task_key(task.id), ConsistentRead=True)["Item"]
        if old:
            current = Task.from_dict(from_item(store.ddb.get_item(
                TableName=store.table, Key=task_key(task.id), ConsistentRead=True)["Item"]))
            updated = change(copy.deepcopy(current))
            updated.seq, updated.updated_at = current.seq + 1, ids.now_iso()
            event = store.new_event(updated, event_type, data)
            store.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": store.table, "Item": old_item(store, updated),
                         "ConditionExpression": "#seq = :seq", "ExpressionAttributeNames": {"#seq": "seq"},
                         "ExpressionAttributeValues": {":seq": {"N": str(current.seq)}}}},
                {"Put": {"TableName": store.table, "Item": store._event_item(updated, event),
                         "ConditionExpression": "attribute_not_exists(pk)"}}])
        else:
            moved = store.record(task.id, event_type, data, change=change, current=held)
            assert moved is not None
            held = moved[0]
        after = admin.get_item(TableName=store.table, Key=task_key(task.id), ConsistentRead=True)["Item"]
        seq = int(after["seq"]["N"])
        event_item = admin.get_item(TableName=store.table, Key={"pk": after["pk"], "sk": {"S": event_sk(seq)}})
        items = [item_bytes(after), item_bytes(event_item["Item"])]
        entries = index_writes(before, after, old=old)
        table_bytes, index = table_bytes + sum(items), index + sum(entries)
        wcu += sum(2 * math.ceil(size / 1024) for size in items) + sum(math.ceil(size / 1024) for size in entries)

    now = ids.now()
    write(EventType.STARTED, {"attempt": 1}, transition(TaskStatus.RUNNING, now_iso=ids.iso(now), updates={
        "started_at": ids.iso(now), "lease_until": ids.iso(now), "lease_owner": "bench"}))
    for i in range(deltas):
        write(EventType.DELTA, {"text": delta_text, "index": i}, lambda t: t)
    result = {"text": delta_text * deltas, "chars": len(delta_text) * deltas, "usage": None, "finish_reason": "stop"}
    write(EventType.COMPLETED, {"result": result}, transition(TaskStatus.SUCCEEDED, now_iso=ids.now_iso(), updates={
        "result": result, "completed_at": ids.now_iso(), "lease_until": None, "lease_owner": None}))
    return table_bytes, index, wcu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deltas", type=int, default=100, help="coalesced deltas per task")
    parser.add_argument("--delta-chars", type=int, default=60, help="characters per delta (~200 ms of tokens)")
    parser.add_argument("--prompt-chars", type=int, default=2000)
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[name]
    with MotoServer(port=0) as server:
        os.environ.update(AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION=REGION)
        admin = boto3.session.Session().client("dynamodb")  # untimed reads for the figures, not counted
        admin.create_table(TableName="bench", BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                      {"AttributeName": "sk", "KeyType": "RANGE"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                 {"AttributeName": "sk", "AttributeType": "S"}])
        rows = []
        for label, old in (("before", True), ("after", False)):
            store = TaskStore("bench")
            task = new_task("p" * args.prompt_chars)
            store.create(task, [(EventType.CREATED, {}), (EventType.QUEUED, {"by": "bench"})], None)
            if old:  # the old create wrote the old item shape
                admin.put_item(TableName="bench", Item=old_item(store, task))
            meter = Meter(store.ddb)
            try:
                figures = stream(store, admin, task, old=old, deltas=args.deltas, delta_text="d" * args.delta_chars)
            finally:
                meter.close()
            rows.append((label, meter, *figures))
    print(f"moto {moto.__version__}, local server; one task: {args.prompt_chars}-character prompt, "
          f"{args.deltas} deltas of {args.delta_chars} characters, then the result inline")
    print(f"{'path':<8}{'calls per task':<44}{'sent KB':>9}{'item KB written':>17}{'index KB written':>18}"
          f"{'WCU':>8}")
    for label, meter, table_bytes, index, wcu in rows:
        calls = ", ".join(f"{n} {op}" for op, n in sorted(meter.calls.items()))
        print(f"{label:<8}{calls:<44}{meter.sent / 1024:>9.1f}{table_bytes / 1024:>17.1f}{index / 1024:>18.1f}"
              f"{wcu:>8}")


if __name__ == "__main__":
    main()
