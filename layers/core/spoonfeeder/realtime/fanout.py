"""From the table stream to the sockets: each new event item goes to the connections watching its topic
(a task's, a batch's), its further topics (a generation's session) or its owner, once per connection; gone
connections are forgotten."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from spoonfeeder.data.items import from_item
from spoonfeeder.models.events import Event, event_message, owner_topic
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.pusher import Pusher

logger = Logger(child=True)


def event_from_image(image: dict[str, Any]) -> tuple[Event, str]:
    """The event and its owner, from a stream record's NewImage."""
    row = from_item(image)
    return Event.from_dict(row), str(row["owner"])


class FanOut:
    def __init__(self, connections: ConnectionStore, pusher: Pusher) -> None:
        self.connections = connections
        self.pusher = pusher
        self._subscribers: dict[str, list[str]] = {}
        self._gone: set[str] = set()

    def _watchers(self, topic: str) -> list[str]:
        if topic not in self._subscribers:  # one look-up per topic per batch
            self._subscribers[topic] = self.connections.subscribers(topic)
        return self._subscribers[topic]

    def push(self, event: Event, owner: str) -> int:
        """Send `event` to its watchers; returns how many connections got it."""
        watched = [event.topic, *(event.topics or ()), owner_topic(owner)]
        targets = dict.fromkeys(connection for topic in watched for connection in self._watchers(topic))
        message = event_message(event.to_dict())
        sent = 0
        for connection_id in targets:
            if connection_id in self._gone:
                continue
            if self.pusher.send(connection_id, message):
                sent += 1
            else:
                self._gone.add(connection_id)
                self.connections.remove(connection_id)
                logger.info("connection gone; removed", extra={"connection_id": connection_id})
        return sent
