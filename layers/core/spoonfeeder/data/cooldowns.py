"""Cooldowns of provider/model pairs that keep failing, shared by every worker through the table.

Retryable failures of a pair are counted with an atomic ADD in a counter per fixed window (it expires with
the window); the failure that reaches the threshold writes the pair's cooldown item,
`pk=COOLDOWN#{provider}#{model}`, holding the moment it ends (`until`, epoch seconds) and a TTL at that moment.
DynamoDB deletes expired items late, so readers compare `until` with the clock rather than trusting presence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from spoonfeeder.data.aws import client
from spoonfeeder.data.counters import Counters

_SK = "COOLDOWN"


def _key(provider: str, model: str) -> dict[str, Any]:
    return {"pk": {"S": f"COOLDOWN#{provider}#{model}"}, "sk": {"S": _SK}}


@dataclass(frozen=True)
class CooldownPolicy:
    failures: int  # retryable failures within one window that cool a pair down
    window_seconds: int
    seconds: int  # how long a cooldown lasts


class Cooldowns:
    def __init__(self, table_name: str, policy: CooldownPolicy) -> None:
        self.table = table_name
        self.policy = policy
        self.counters = Counters(table_name)
        self.ddb = client("dynamodb")

    def failed(self, provider: str, model: str, *, now: float | None = None) -> bool:
        """Count one retryable failure of the pair; True when it cooled the pair down now."""
        moment = int(now if now is not None else time.time())
        window = moment // self.policy.window_seconds
        count = self.counters.add(f"FAILURES#{provider}#{model}#{window}",
                                  expires_at=(window + 2) * self.policy.window_seconds)
        if count < self.policy.failures:
            return False
        until = moment + self.policy.seconds
        self.ddb.update_item(
            TableName=self.table, Key=_key(provider, model), UpdateExpression="SET #u = :u, #t = :u, #e = :e",
            ExpressionAttributeNames={"#u": "until", "#t": "ttl", "#e": "entity"},
            ExpressionAttributeValues={":u": {"N": str(until)}, ":e": {"S": "cooldown"}})
        return True

    def remaining(self, provider: str, model: str, *, now: float | None = None) -> int:
        """Seconds left of the pair's cooldown; 0 when it is not cooled down."""
        got = self.ddb.get_item(TableName=self.table, Key=_key(provider, model), ProjectionExpression="#u",
                                ExpressionAttributeNames={"#u": "until"})
        until = int(got["Item"]["until"]["N"]) if "Item" in got else 0
        return max(0, until - int(now if now is not None else time.time()))
