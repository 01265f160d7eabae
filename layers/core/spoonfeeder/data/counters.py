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
        as it was (ALL_OLD), and the write it rode with is not made.

        With `seen` known the entry is a Put of seen + 1, which under its condition is the same write as an
        ADD (the item holds nothing else, and its expiry is the window's), and is cheaper to evaluate."""
        names = {"#n": "count"}
        if seen is None:
            names["#t"] = "ttl"
            return {"Update": {
                "TableName": self.table, "Key": _key(key),
                "UpdateExpression": "ADD #n :one SET #t = if_not_exists(#t, :t)",
                "ConditionExpression": "attribute_not_exists(#n) OR #n < :c",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"N": str(expires_at)},
                                              ":c": {"N": str(limit)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }}
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**_key(key), "count": {"N": str(seen + 1)}, "ttl": {"N": str(expires_at)}},
            "ConditionExpression": "attribute_not_exists(#n)" if seen == 0 else "#n = :c",
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if seen:
            put["ExpressionAttributeValues"] = {":c": {"N": str(seen)}}
        return {"Put": put}

    def get(self, key: str, *, consistent: bool = False) -> int:
        got = self.ddb.get_item(TableName=self.table, Key=_key(key), ConsistentRead=consistent)
        return count_in(got.get("Item"))
