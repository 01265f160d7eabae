"""Stream fan-out: each event reaches every connection watching its task or its owner, once; connections
that are gone (410) are forgotten with their subscriptions."""

from __future__ import annotations

from typing import Any

from spoonfeeder.models.events import Event
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.fanout import FanOut


class RecordingPusher:
    """Stands in for the @connections API: records what was sent, answers Gone for closed sockets."""

    def __init__(self, gone: set[str]) -> None:
        self.gone = gone
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.append((connection_id, message))
        return True


def test_fan_out_reaches_watchers_once_and_forgets_gone_connections(stack: Any, functions: Any) -> None:
    connections = ConnectionStore(stack.resources["Table"])
    for conn, owner in (("c-task", "u1"), ("c-both", "u1"), ("c-gone", "u1"), ("c-other", "u2")):
        connections.add(conn, owner)
    connections.subscribe("c-task", "u1", "task:T1")
    connections.subscribe("c-both", "u1", "task:T1")
    connections.subscribe("c-both", "u1", "owner:u1")
    connections.subscribe("c-gone", "u1", "owner:u1")
    connections.subscribe("c-other", "u2", "owner:u2")
    pusher = RecordingPusher(gone={"c-gone"})
    event = Event(id="E1", topic="task:T1", type="task:started", seq=3, task_id="T1", at="2026-11-22T10:00:00Z")

    assert FanOut(connections, pusher).push(event, "u1") == 2  # type: ignore[arg-type]

    assert sorted(conn for conn, _ in pusher.sent) == ["c-both", "c-task"]
    pushed = {"id": "E1", "topic": "task:T1", "type": "task:started", "seq": 3, "task_id": "T1",
              "at": "2026-11-22T10:00:00Z", "data": {}, "topics": None}
    assert all(message == {"type": "event", "event": pushed} for _, message in pusher.sent)
    assert "c-gone" not in connections.subscribers("owner:u1") and connections.owner_of("c-gone") is None
    assert connections.subscribers("owner:u2") == ["c-other"]
