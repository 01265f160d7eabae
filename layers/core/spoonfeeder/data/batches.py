"""Batches in the single table: one item per batch (`BATCH#<id>` / `BATCH`), its events in its own partition
(`EVENT#<seq>`, topic `batch:<id>`), and the owner's list through gsi2 (`BATCHES#<owner>` / created#id).

The fan-out's progress — the input's byte `offset`, the `lines` read, the counters, and the ids of the tasks
created but not yet sent (`unsent`) — moves only in the same transaction that writes a chunk's tasks, on the
condition that the offset is still the one the chunk was read from: a chunk is created once, whatever crashes.
"""

from __future__ import annotations

import re
from typing import Any

from spoonfeeder import ids
from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_item, to_value
from spoonfeeder.data.task_store import event_sk
from spoonfeeder.models.events import batch_topic

BATCH_SK = "BATCH"
COUNTERS = ("total", "rejected", "created", "queued", "in_flight", "succeeded", "failed", "cancelled",
            "input_tokens", "output_tokens", "cost_micros")


def batch_key(batch_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": BATCH_SK}}


def input_key(owner: str, batch_id: str) -> str:
    return f"batches/{owner}/{batch_id}/input.jsonl"


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    values = from_item(item)
    for name in ("pk", "sk", "entity", "gsi2pk", "gsi2sk"):
        values.pop(name, None)
    return values


class BatchStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def get(self, batch_id: str) -> dict[str, Any] | None:
        got = self.ddb.get_item(TableName=self.table, Key=batch_key(batch_id), ConsistentRead=True)
        return _plain(got["Item"]) if "Item" in got else None

    def claim(self, batch_id: str, owner: str, *, size: int, max_concurrency: int,
              defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Start the fan-out of an uploaded input: the batch moves from `awaiting_upload` (made by the API), or
        is made here (a file put straight into S3). None when it was claimed before (a re-delivered S3 event) or
        is another owner's."""
        at = ids.now_iso()
        defaults_of_new = {"id": batch_id, "owner": owner, "entity": "batch", "created_at": at, "name": None,
                           "format": None, "defaults": defaults or {}, "max_concurrency": max_concurrency,
                           "offset": 0, "lines": 0, "seq": 0, "input_key": input_key(owner, batch_id),
                           "gsi2pk": f"BATCHES#{owner}", "gsi2sk": f"{at}#{batch_id}",
                           **dict.fromkeys(COUNTERS, 0)}
        sets = {"status": "fanning_out", "input_bytes": size, "claimed_at": at, "updated_at": at}
        names = {f"#{k}": k for k in (*defaults_of_new, *sets)}
        values = {f":{k}": to_value(v) for k, v in (*defaults_of_new.items(), *sets.items())}
        values[":awaiting"] = {"S": "awaiting_upload"}
        expression = "SET " + ", ".join([*(f"#{k} = if_not_exists(#{k}, :{k})" for k in defaults_of_new),
                                          *(f"#{k} = :{k}" for k in sets)])
        try:
            got = self.ddb.update_item(
                TableName=self.table, Key=batch_key(batch_id), UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(pk) OR (#status = :awaiting AND #owner = :owner)",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return _plain(got["Attributes"])

    def chunk_items(self, batch: dict[str, Any], *, offset: int, lines: int, counts: dict[str, int],
                    unsent: list[str], fmt: str, done: bool) -> dict[str, Any]:
        """The transaction item that moves the fan-out past a chunk, on the condition that nobody moved it since
        `batch` was read (and that the batch was not cancelled meanwhile)."""
        sets: dict[str, Any] = {"offset": offset, "lines": lines, "unsent": unsent, "format": fmt,
                                "updated_at": ids.now_iso()}
        if done:
            sets["status"] = "running"
        names = {f"#{k}": k for k in (*sets, *counts, "status")}
        values = {f":{k}": to_value(v) for k, v in (*sets.items(), *counts.items())}
        values.update({":was": {"N": str(batch["offset"])}, ":fanning": {"S": "fanning_out"}})
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
        if counts:
            expression += " ADD " + ", ".join(f"#{k} :{k}" for k in counts)
        return {"Update": {"TableName": self.table, "Key": batch_key(batch["id"]), "UpdateExpression": expression,
                           "ConditionExpression": "#offset = :was AND #status = :fanning",
                           "ExpressionAttributeNames": {**names, "#offset": "offset"},
                           "ExpressionAttributeValues": values}}

    def commit(self, items: list[dict[str, Any]]) -> bool:
        """Write a chunk (its items, the batch's move last); False when the batch moved meanwhile."""
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def update(self, batch_id: str, sets: dict[str, Any], *, adds: dict[str, int] | None = None,
               condition: str | None = None, values: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Set (and add to) some attributes; the batch after, or None when `condition` did not hold."""
        adds = adds or {}
        names = {f"#{k}": k for k in (*sets, *adds, *re.findall(r"#(\w+)", condition or ""))}
        all_values = {f":{k}": to_value(v) for k, v in (*sets.items(), *adds.items())}
        all_values.update({k: to_value(v) for k, v in (values or {}).items()})
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets) if sets else ""
        if adds:
            expression += " ADD " + ", ".join(f"#{k} :{k}" for k in adds)
        guard = "attribute_exists(pk)" + (f" AND {condition}" if condition else "")
        request: dict[str, Any] = {"TableName": self.table, "Key": batch_key(batch_id),
                                   "UpdateExpression": expression.strip(), "ReturnValues": "ALL_NEW",
                                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": all_values,
                                   "ConditionExpression": guard}
        try:
            got = self.ddb.update_item(**request)
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return _plain(got["Attributes"])

    def record_event(self, batch: dict[str, Any], event_type: str, data: dict[str, Any]) -> int:
        """Record a `batch:*` event in the batch's partition (pushed to `batch:<id>` and its owner); its seq."""
        moved = self.update(batch["id"], {}, adds={"seq": 1})
        assert moved is not None
        seq = int(moved["seq"])
        self.ddb.put_item(TableName=self.table, Item=to_item({
            "pk": f"BATCH#{batch['id']}", "sk": event_sk(seq), "entity": "event", "owner": batch["owner"],
            "id": ids.new_id(), "topic": batch_topic(batch["id"]), "type": event_type, "seq": seq,
            "task_id": None, "at": ids.now_iso(), "data": data}))
        return seq
