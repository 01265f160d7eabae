"""What a connected client may ask for: subscribe, unsubscribe, resume, ping. Replies go over the socket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from spoonfeeder import ids
from spoonfeeder.data.task_store import TaskStore, partition_events, topic_events
from spoonfeeder.errors import SpoonError, ValidationFailed
from spoonfeeder.models.events import event_message
from spoonfeeder.realtime import topics
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.pusher import Pusher

REPLAY_PAGE = 200


class Subscribe(BaseModel):
    action: Literal["subscribe"]
    topic: str


class Unsubscribe(BaseModel):
    action: Literal["unsubscribe"]
    topic: str


class Resume(BaseModel):
    action: Literal["resume"]
    topic: str
    after_seq: int = Field(default=0, ge=0)  # task: and batch: topics: the last `seq` the client saw
    after: str | None = Field(default=None, max_length=40)  # session: topics: the last event `id` it saw


class Ping(BaseModel):
    action: Literal["ping"]


ClientMessage = Annotated[Subscribe | Unsubscribe | Resume | Ping, Field(discriminator="action")]
_parser: TypeAdapter[Subscribe | Unsubscribe | Resume | Ping] = TypeAdapter(ClientMessage)


@dataclass
class Session:
    connection_id: str
    owner: str
    connections: ConnectionStore
    tasks: TaskStore
    pusher: Pusher

    def handle(self, raw: str | None) -> None:
        action = None
        try:
            message = _parser.validate_json(raw or "")
            action = message.action
            self._dispatch(message)
        except ValidationError as exc:
            self._error(action, ValidationFailed(
                "messages are JSON objects with an action: subscribe, unsubscribe, resume or ping",
                details=exc.errors(include_url=False, include_context=False, include_input=False)))
        except SpoonError as exc:
            self._error(action, exc)

    def _dispatch(self, message: Subscribe | Unsubscribe | Resume | Ping) -> None:
        if isinstance(message, Ping):
            self._send({"type": "pong", "at": ids.now_iso()})
        elif isinstance(message, Subscribe):
            topics.authorize(message.topic, self.owner, self.tasks.ddb, self.tasks.table)
            self.connections.subscribe(self.connection_id, self.owner, message.topic)
            self._send({"type": "subscribed", "topic": message.topic})
        elif isinstance(message, Unsubscribe):
            topics.parse(message.topic)
            self.connections.unsubscribe(self.connection_id, message.topic)
            self._send({"type": "unsubscribed", "topic": message.topic})
        else:
            self._resume(message)

    def _resume(self, message: Resume) -> None:
        """Subscribe, then replay what was recorded after `after_seq` (a task's or a batch's topic) or after
        the event `after` (a session's); live events may repeat a replayed one (same id), never skip one."""
        kind, ident = topics.authorize(message.topic, self.owner, self.tasks.ddb, self.tasks.table)
        if kind == "owner":
            raise ValidationFailed("resume replays task:, batch: and session: topics", code="RESUME_UNSUPPORTED")
        self.connections.subscribe(self.connection_id, self.owner, message.topic)
        ddb, table = self.tasks.ddb, self.tasks.table
        after_seq, after_id, count, more = message.after_seq, message.after, 0, True
        while more:
            if kind in topics.SEQUENCED:
                events, more = partition_events(ddb, table, topics.subject_pk(kind, ident), after_seq=after_seq,
                                                limit=REPLAY_PAGE)
            else:
                events, more = topic_events(ddb, table, message.topic, after_id=after_id, limit=REPLAY_PAGE)
            for event in events:
                if not self._send(event_message(event.to_dict())):
                    return
                after_seq, after_id, count = event.seq, event.id, count + 1
        done: dict[str, Any] = {"type": "resumed", "topic": message.topic, "count": count}
        if kind in topics.SEQUENCED:
            done.update(after_seq=message.after_seq, last_seq=after_seq)
        else:
            done.update(after=message.after, last_id=after_id)
        self._send(done)

    def _error(self, action: str | None, exc: SpoonError) -> None:
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.details is not None:
            error["details"] = exc.details
        self._send({"type": "error", "action": action, "error": error})

    def _send(self, message: dict[str, Any]) -> bool:
        if self.pusher.send(self.connection_id, message):
            return True
        self.connections.remove(self.connection_id)
        return False
