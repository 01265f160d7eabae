"""Windowed counters in the single table (rate limits, login failures); each expires with its window."""

from __future__ import annotations

from typing import Any

from spoonfeeder.data.aws import client


def _key(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}, "sk": {"S": "COUNTER"}}


class Counters:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def add(self, key: str, *, expires_at: int, amount: int = 1) -> int:
        """Add to the counter `key` and return its new value (one atomic update)."""
        got = self.ddb.update_item(
            TableName=self.table, Key=_key(key),
            UpdateExpression="ADD #n :a SET #t = if_not_exists(#t, :t)",
            ExpressionAttributeNames={"#n": "count", "#t": "ttl"},
            ExpressionAttributeValues={":a": {"N": str(amount)}, ":t": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(got["Attributes"]["count"]["N"])

    def increment_below(self, key: str, *, limit: int, expires_at: int) -> dict[str, Any]:
        """A TransactWriteItems entry that adds one to `key` only while it is below `limit`, so a count
        can ride in the transaction of the write it counts (its condition failing cancels that write)."""
        return {"Update": {
            "TableName": self.table, "Key": _key(key),
            "UpdateExpression": "ADD #n :one SET #t = if_not_exists(#t, :t)",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
            "ExpressionAttributeNames": {"#n": "count", "#t": "ttl"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"N": str(expires_at)},
                                          ":limit": {"N": str(limit)}},
        }}

    def get(self, key: str, *, consistent: bool = False) -> int:
        got = self.ddb.get_item(TableName=self.table, Key=_key(key), ConsistentRead=consistent)
        return int(got["Item"]["count"]["N"]) if "Item" in got else 0
