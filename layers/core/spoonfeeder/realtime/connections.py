"""WebSocket connections and their subscriptions in the single table.

A subscription is written twice — under its topic (fan-out reads topic → connections) and under its
connection (disconnect removes all of a connection's subscriptions) — and both copies expire by TTL.
"""

from __future__ import annotations

from spoonfeeder import ids
from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_item


class ConnectionStore:
    def __init__(self, table_name: str, *, ttl_seconds: int = 2 * 3600) -> None:
        self.table = table_name
        self.ttl_seconds = ttl_seconds
        self.ddb = client("dynamodb")

    def _ttl(self) -> int:
        return int(ids.now().timestamp()) + self.ttl_seconds

    def add(self, connection_id: str, owner: str) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item({
            "pk": f"CONN#{connection_id}", "sk": "CONN", "entity": "connection", "owner": owner,
            "connected_at": ids.now_iso(), "ttl": self._ttl(),
        }))

    def owner_of(self, connection_id: str) -> str | None:
        got = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": "CONN"}})
        return str(got["Item"]["owner"]["S"]) if "Item" in got else None

    def subscribe(self, connection_id: str, owner: str, topic: str) -> None:
        common = {"entity": "subscription", "owner": owner, "topic": topic, "connection_id": connection_id,
                  "ttl": self._ttl()}
        self.ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.table, "Item": to_item({**common, "pk": f"TOPIC#{topic}",
                                                                "sk": f"CONN#{connection_id}"})}},
            {"Put": {"TableName": self.table, "Item": to_item({**common, "pk": f"CONN#{connection_id}",
                                                                "sk": f"SUB#{topic}"})}},
        ])

    def unsubscribe(self, connection_id: str, topic: str) -> None:
        self.ddb.transact_write_items(TransactItems=[
            {"Delete": {"TableName": self.table,
                        "Key": {"pk": {"S": f"TOPIC#{topic}"}, "sk": {"S": f"CONN#{connection_id}"}}}},
            {"Delete": {"TableName": self.table,
                        "Key": {"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": f"SUB#{topic}"}}}},
        ])

    def subscribers(self, topic: str) -> list[str]:
        ids_: list[str] = []
        query = {"TableName": self.table, "KeyConditionExpression": "pk = :t",
                 "ExpressionAttributeValues": {":t": {"S": f"TOPIC#{topic}"}}}
        while True:
            page = self.ddb.query(**query)
            ids_.extend(from_item(i)["connection_id"] for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return ids_
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, connection_id: str) -> None:
        """Forget a connection and every subscription it had."""
        page = self.ddb.query(TableName=self.table, KeyConditionExpression="pk = :c",
                              ExpressionAttributeValues={":c": {"S": f"CONN#{connection_id}"}})
        for item in page["Items"]:
            row = from_item(item)
            if row.get("entity") == "subscription":
                self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": f"TOPIC#{row['topic']}"},
                                                                "sk": {"S": f"CONN#{connection_id}"}})
            self.ddb.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})
