"""Handing a task to its lane: send its queue message.

The API (create, retry), the worker (a task moving along its fallback chain) and the sweeper (a queued task
whose message is gone, a lost run) send; a duplicate message is harmless because a delivery starts a run
only from a status that allows it.
"""

from __future__ import annotations

from collections.abc import Mapping

from spoonfeeder.data import queues
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks import routing


def send(queue_urls: Mapping[routing.Lane, str], task: Task, *, trace_id: str | None = None,
         delay_seconds: int = 0) -> routing.Lane:
    """Send the message for the task's current attempt to its lane's queue; raises if SQS refuses."""
    lane = routing.lane_for(task.type, task.provider)
    queues.send_task(queue_urls[lane], TaskMessage(task_id=task.id, owner=task.owner, attempt=task.attempt,
                                                   trace_id=trace_id), delay_seconds=delay_seconds)
    return lane
