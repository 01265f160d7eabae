"""The GPU agents' registry and inboxes in the table: who is alive, what each has, and commands for one agent.

Registry: each agent's heartbeat Puts its report at `pk=AGENTS`, `sk=AGENT#{id}` every few seconds, with the
moment it stops counting (`alive_until`, epoch seconds) as its TTL. One partition, read with one Query: a fleet
is tens of agents, so the partition sees tens of small writes a second, far below its limits. DynamoDB deletes
expired items late (up to days), so readers compare `alive_until` with the clock rather than trust presence.

Inbox: a command for one agent (pull a model on agent X) is an item `pk=AGENT#{id}`, `sk=CMD#{task id}` that
only that agent reads. SQS cannot address one consumer of a shared queue, so addressed commands do not go
through a queue; the command is a task (type model_op) like any other, and the item only points at it. The
agent removes it once the task is finished; a duplicate Put (a re-send) is the same item.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from spoonfeeder.data import items
from spoonfeeder.data.aws import client

REGISTRY_PK = "AGENTS"
#: Past the TTL of a dead agent's registry item, how long its inbox items stay before DynamoDB deletes them.
INBOX_TTL_SECONDS = 24 * 3600


def registry_key(agent_id: str) -> dict[str, Any]:
    return {"pk": {"S": REGISTRY_PK}, "sk": {"S": f"AGENT#{agent_id}"}}


def _inbox_pk(agent_id: str) -> str:
    return f"AGENT#{agent_id}"


@dataclass(frozen=True)
class InboxCommand:
    """A pointer to a task addressed to one agent: the agent reads the task for everything else."""

    task_id: str
    owner: str
    attempt: int


class AgentRegistry:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    # ------------------------------------------------------------------ heartbeat (the agent)
    def beat(self, agent_id: str, report: dict[str, Any], *, alive_seconds: int, now: float | None = None) -> None:
        """Put the agent's report; it counts as alive for `alive_seconds` unless the next beat comes."""
        moment = now if now is not None else time.time()
        alive_until = int(moment) + alive_seconds
        item = {**report, "pk": REGISTRY_PK, "sk": f"AGENT#{agent_id}", "entity": "agent", "agent_id": agent_id,
                "alive_until": alive_until, "ttl": alive_until}
        self.ddb.put_item(TableName=self.table, Item=items.to_item(item))

    def leave(self, agent_id: str) -> None:
        """An agent that stops cleanly is gone at once, not when its last beat runs out."""
        self.ddb.delete_item(TableName=self.table, Key=registry_key(agent_id))

    # ------------------------------------------------------------------ reads (the API, the agent)
    def live(self, *, now: float | None = None) -> list[dict[str, Any]]:
        """Every agent whose last beat still counts, by id."""
        moment = int(now if now is not None else time.time())
        found: list[dict[str, Any]] = []
        for item in self._query(KeyConditionExpression="pk = :pk",
                                ExpressionAttributeValues={":pk": {"S": REGISTRY_PK}}):
            report = _report(item)
            if report["alive_until"] > moment:
                found.append(report)
        return found

    def get(self, agent_id: str, *, now: float | None = None) -> dict[str, Any] | None:
        """One live agent's report; None when it is unknown or its beats stopped."""
        got = self.ddb.get_item(TableName=self.table, Key=registry_key(agent_id), ConsistentRead=True)
        if "Item" not in got:
            return None
        report = _report(got["Item"])
        return report if report["alive_until"] > int(now if now is not None else time.time()) else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self.ddb.query(TableName=self.table, **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return


class AgentInbox:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def put(self, agent_id: str, command: InboxCommand, *, now: float | None = None) -> None:
        moment = int(now if now is not None else time.time())
        self.ddb.put_item(TableName=self.table, Item=items.to_item({
            "pk": _inbox_pk(agent_id), "sk": f"CMD#{command.task_id}", "entity": "agent_command",
            "task_id": command.task_id, "owner": command.owner, "attempt": command.attempt,
            "ttl": moment + INBOX_TTL_SECONDS}))

    def pending(self, agent_id: str) -> list[InboxCommand]:
        """The agent's commands, oldest first (task ids are ULIDs)."""
        page = self.ddb.query(TableName=self.table, ConsistentRead=True, Limit=100,
                              KeyConditionExpression="pk = :pk AND begins_with(sk, :cmd)",
                              ExpressionAttributeValues={":pk": {"S": _inbox_pk(agent_id)}, ":cmd": {"S": "CMD#"}})
        return [InboxCommand(task_id=v["task_id"], owner=v["owner"], attempt=int(v["attempt"]))
                for v in map(items.from_item, page.get("Items", []))]

    def remove(self, agent_id: str, task_id: str) -> None:
        self.ddb.delete_item(TableName=self.table,
                             Key={"pk": {"S": _inbox_pk(agent_id)}, "sk": {"S": f"CMD#{task_id}"}})


def _report(item: dict[str, Any]) -> dict[str, Any]:
    report = items.from_item(item)
    for key in ("pk", "sk", "entity", "ttl"):
        report.pop(key, None)
    return report
