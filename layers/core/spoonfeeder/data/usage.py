"""Usage counters in the single table: one item per owner, day and provider/model, counted exactly once
per finished task attempt.

Keys: `USAGE#{owner}` / `DAY#{yyyy-mm-dd}#{provider}#{model}` for a counter (integers only, ADDed), and
`USAGE#{owner}` / `COUNTED#{task}#{attempt}` for the marker that a task attempt was counted. The marker's Put
(only if absent) and the counter's ADD are one transaction, so a stream record delivered twice counts once.
Fields are stored apart from the key too, so a model name holding '#' is read back whole.
"""

from __future__ import annotations

from typing import Any

from spoonfeeder import ids
from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_item, to_value
from spoonfeeder.models.usage import TaskUsage, UsageRow

#: Stream records are kept 24 hours, so a replay comes within a day; the marker outlives that comfortably.
MARKER_TTL_SECONDS = 7 * 24 * 3600


def _pk(owner: str) -> str:
    return f"USAGE#{owner}"


def _day_sk(day: str) -> str:
    return f"DAY#{day}#"


class UsageStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def add(self, usage: TaskUsage) -> bool:
        """Count a finished task attempt; False (and nothing written) when it was counted before."""
        priced = usage.cost_micros is not None
        adds = {"tasks": 1, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                "cost_micros": usage.cost_micros or 0, "unpriced_tasks": 0 if priced else 1}
        sets = {"entity": "usage", "owner": usage.owner, "day": usage.day, "provider": usage.provider,
                "model": usage.model}
        marker = {"pk": _pk(usage.owner), "sk": f"COUNTED#{usage.task_id}#{usage.attempt}", "entity": "usage_mark",
                  "owner": usage.owner, "ttl": int(ids.now().timestamp()) + MARKER_TTL_SECONDS}
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_item(marker),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": _pk(usage.owner)},
                            "sk": {"S": f"{_day_sk(usage.day)}{usage.provider}#{usage.model}"}},
                    "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
                                        + " ADD " + ", ".join(f"#{k} :{k}" for k in adds),
                    "ExpressionAttributeNames": {f"#{k}": k for k in (*sets, *adds)},
                    "ExpressionAttributeValues": {f":{k}": to_value(v) for k, v in (*sets.items(), *adds.items())},
                }},
            ])
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False  # counted already: a re-delivered stream record
            raise
        return True

    def rows(self, owner: str, *, first_day: str, last_day: str) -> list[UsageRow]:
        """The owner's counters from `first_day` to `last_day` (inclusive), in key order."""
        query: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": _pk(owner)}, ":lo": {"S": _day_sk(first_day)},
                                          ":hi": {"S": _day_sk(last_day) + "\uffff"}},
        }
        found: list[UsageRow] = []
        while True:
            page = self.ddb.query(**query)
            for item in map(from_item, page["Items"]):
                found.append(UsageRow(**{name: item.get(name, 0) for name in UsageRow.__dataclass_fields__}))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
