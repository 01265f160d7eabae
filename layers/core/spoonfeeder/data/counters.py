"""Windowed counters in the single table (rate limits, login failures); each expires with its window."""

from __future__ import annotations

from spoonfeeder.data.aws import client


class Counters:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def add(self, key: str, *, expires_at: int, amount: int = 1) -> int:
        """Add to the counter `key` and return its new value (one atomic update)."""
        got = self.ddb.update_item(
            TableName=self.table, Key={"pk": {"S": key}, "sk": {"S": "COUNTER"}},
            UpdateExpression="ADD #n :a SET #t = if_not_exists(#t, :t)",
            ExpressionAttributeNames={"#n": "count", "#t": "ttl"},
            ExpressionAttributeValues={":a": {"N": str(amount)}, ":t": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(got["Attributes"]["count"]["N"])

    def get(self, key: str) -> int:
        got = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": key}, "sk": {"S": "COUNTER"}})
        return int(got["Item"]["count"]["N"]) if "Item" in got else 0
