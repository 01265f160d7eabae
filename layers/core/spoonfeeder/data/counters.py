"""Windowed counters in the single table (rate limits, login failures); each expires with its window."""

from __future__ import annotations

from typing import Any, Protocol

from spoonfeeder.data.aws import client


def _key(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}, "sk": {"S": "COUNTER"}}


def count_in(item: dict[str, Any] | None) -> int:
    """The value of a counter item in DynamoDB's format (a missing item counts 0)."""
    return int(item["count"]["N"]) if item and "count" in item else 0


class ConditionalCount(Protocol):
    """A count that rides in the transaction of the write it counts (the request quota's ticket)."""

    def entry(self) -> dict[str, Any]:
        """The transaction entry that counts the write (from `Counters.increment_entry`)."""

    def conflict(self, current: int) -> None:
        """The entry's condition failed with the counter at `current`: raise to give the write up, or return
        to try it again with a new `entry()`."""


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
        return count_in(got["Attributes"])

    def increment_entry(self, key: str, *, expires_at: int, seen: int | None, limit: int) -> dict[str, Any]:
        """A TransactWriteItems entry that adds one to `key` only if the counter is exactly `seen` (so the new
        value, seen + 1, is known without reading it: a transaction returns no values), or, with `seen` None,
        only while it is below `limit`. When the condition fails, the cancellation reason carries the counter
        as it was (ALL_OLD), and the write it rode with is not made."""
        values: dict[str, Any] = {":one": {"N": "1"}, ":t": {"N": str(expires_at)}}
        if seen is None:
            condition, values[":c"] = "attribute_not_exists(#n) OR #n < :c", {"N": str(limit)}
        elif seen == 0:
            condition = "attribute_not_exists(#n)"
        else:
            condition, values[":c"] = "#n = :c", {"N": str(seen)}
        return {"Update": {
            "TableName": self.table, "Key": _key(key),
            "UpdateExpression": "ADD #n :one SET #t = if_not_exists(#t, :t)",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#n": "count", "#t": "ttl"},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}

    def get(self, key: str, *, consistent: bool = False) -> int:
        got = self.ddb.get_item(TableName=self.table, Key=_key(key), ConsistentRead=consistent)
        return count_in(got.get("Item"))
