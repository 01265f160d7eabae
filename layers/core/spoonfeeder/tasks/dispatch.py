"""Handing a task to its lane: send its queue message, or put a command in one GPU agent's inbox.

The API (create, retry), the worker (a task moving along its fallback chain) and the sweeper (a queued task
whose message is gone, a lost run) send; a duplicate message is harmless because a delivery starts a run
only from a status that allows it, and a duplicate inbox Put is the same item.
"""

from __future__ import annotations

from collections.abc import Mapping

from spoonfeeder.data import queues
from spoonfeeder.data.agents import AgentInbox, InboxCommand
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks import routing

#: Where each lane's tasks go: the queue URL of an SQS lane; for Lane.AGENT, the table that holds the agents'
#: inboxes (SQS cannot address one consumer of a shared queue).
Destinations = Mapping[routing.Lane, str]


def send(destinations: Destinations, task: Task, *, trace_id: str | None = None,
         delay_seconds: int = 0) -> routing.Lane:
    """Hand the task's current attempt to its lane; raises if SQS (or DynamoDB, for an inbox) refuses."""
    lane = routing.lane_for(task.type, task.provider)
    if lane is routing.Lane.AGENT:  # a model operation: only the agent it names may run it
        agent_id = task.metadata.get("agent_id")
        if not agent_id:
            raise ValueError(f"task {task.id} is addressed to an agent but names none")
        AgentInbox(destinations[lane]).put(str(agent_id), InboxCommand(task.id, task.owner, task.attempt))
        return lane
    queues.send_task(destinations[lane], TaskMessage(task_id=task.id, owner=task.owner, attempt=task.attempt,
                                                     trace_id=trace_id), delay_seconds=delay_seconds)
    return lane
