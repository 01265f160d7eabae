"""ComfyUI workflows and sessions in the single table, each one item under its owner's partition
(`OWNER#<owner>` / `WORKFLOW#<id>` or `SESSION#<id>`, ULID ids, so a partition sorts by creation). The owner is
part of the key: a read with another user's id finds nothing, which the API answers as 404.

A workflow keeps its graph as JSON text (`workflow_json`): DynamoDB's numbers would turn 1.0 into 1, and a
generation must send exactly what was imported. A session holds its counters: `generations` is added in the
transaction that creates them, `completed`/`failed`/`cancelled` by the table stream once per finished attempt.
"""

from __future__ import annotations

from typing import Any

from spoonfeeder import ids
from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_item, to_value

WORKFLOW, SESSION = "WORKFLOW#", "SESSION#"
COUNTERS = ("generations", "completed", "failed", "cancelled")
MARKER_TTL_SECONDS = 30 * 24 * 3600


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


def key(owner: str, prefix: str, item_id: str) -> dict[str, Any]:
    return {"pk": {"S": owner_pk(owner)}, "sk": {"S": f"{prefix}{item_id}"}}


def session_key(owner: str, session_id: str) -> dict[str, Any]:
    return key(owner, SESSION, session_id)


class OwnedItems:
    """Items of one kind (`prefix`) under their owners' partitions: get, put, delete, list newest first."""

    def __init__(self, table_name: str, prefix: str, entity: str) -> None:
        self.table, self.prefix, self.entity = table_name, prefix, entity
        self.ddb = client("dynamodb")

    def get(self, owner: str, item_id: str) -> dict[str, Any] | None:
        got = self.ddb.get_item(TableName=self.table, Key=key(owner, self.prefix, item_id), ConsistentRead=True)
        return _plain(got["Item"]) if "Item" in got else None

    def put(self, owner: str, item_id: str, values: dict[str, Any], *, new: bool) -> bool:
        """Write a new item (`new`) or replace one; False when it exists (new) or not (replace)."""
        item = {**to_item({**values, "entity": self.entity}), **key(owner, self.prefix, item_id)}
        try:
            self.ddb.put_item(TableName=self.table, Item=item,
                              ConditionExpression="attribute_not_exists(pk)" if new else "attribute_exists(pk)")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def update(self, owner: str, item_id: str, sets: dict[str, Any]) -> dict[str, Any] | None:
        """Set some attributes of an existing item; its new values, or None when there is no such item."""
        try:
            got = self.ddb.update_item(
                TableName=self.table, Key=key(owner, self.prefix, item_id),
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in sets),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={f"#{k}": k for k in sets},
                ExpressionAttributeValues={f":{k}": to_value(v) for k, v in sets.items()}, ReturnValues="ALL_NEW")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return _plain(got["Attributes"])

    def delete(self, owner: str, item_id: str) -> bool:
        try:
            self.ddb.delete_item(TableName=self.table, Key=key(owner, self.prefix, item_id),
                                 ConditionExpression="attribute_exists(pk)")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list(self, owner: str, *, limit: int,
             start_key: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        query: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :o AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":o": {"S": owner_pk(owner)}, ":p": {"S": self.prefix}},
            "ScanIndexForward": False, "Limit": limit + 1, "ConsistentRead": True,
        }
        if start_key:
            query["ExclusiveStartKey"] = start_key
        items = self.ddb.query(**query)["Items"]
        page = items[:limit]
        more = len(items) > limit
        return [_plain(i) for i in page], ({k: page[-1][k] for k in ("pk", "sk")} if more else None)


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    values = from_item(item)
    for name in ("pk", "sk", "entity"):
        values.pop(name, None)
    return values


def generations_added(table: str, owner: str, session_id: str, count: int) -> dict[str, Any]:
    """The transaction item that adds `count` generations to a session (only while the session exists)."""
    return {"Update": {
        "TableName": table, "Key": session_key(owner, session_id),
        "UpdateExpression": "ADD #g :n SET #u = :u", "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": {"#g": "generations", "#u": "updated_at"},
        "ExpressionAttributeValues": {":n": {"N": str(count)}, ":u": {"S": ids.now_iso()}}}}


def count_finished(table: str, owner: str, session_id: str, task_id: str, attempt: int, status: str) -> bool:
    """Add one finished attempt of a session's generation to its counter (completed, failed or cancelled), once:
    a marker item makes a re-delivered stream record count nothing. False when counted before, or when the
    session is gone."""
    counter = {"succeeded": "completed", "failed": "failed", "cancelled": "cancelled"}[status]
    ddb = client("dynamodb")
    marker = {"pk": owner_pk(owner), "sk": f"SESSIONCOUNT#{task_id}#{attempt}", "entity": "count_mark",
              "ttl": int(ids.now().timestamp()) + MARKER_TTL_SECONDS}
    try:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": to_item(marker), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": table, "Key": session_key(owner, session_id),
                        "UpdateExpression": "ADD #c :one", "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": {"#c": counter},
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    except ddb.exceptions.TransactionCanceledException:
        return False
    return True
