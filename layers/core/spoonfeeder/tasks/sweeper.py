"""The sweeper: no task stays pending forever.

Create writes the task, then sends its message, then marks it queued. If the process dies after the write
and before the send, nothing would ever run the task; the sweeper sends it again once it has been pending
for a grace period. A send that did happen before the crash makes a duplicate, which is harmless: a
delivery starts a run only from a status that allows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.tasks import TaskStatus
from spoonfeeder.tasks import dispatch, routing

logger = Logger(child=True)


def requeue_stale_pending(
    store: TaskStore, queue_urls: Mapping[routing.Lane, str], *, grace_seconds: int, now: datetime | None = None,
) -> list[str]:
    """Send and mark queued every task pending since before the grace period; returns their ids."""
    cutoff = ids.iso((now or ids.now()) - timedelta(seconds=grace_seconds))
    requeued: list[str] = []
    for task_id in store.active_ids(updated_before=cutoff):
        task = store.get(task_id)
        if task is None or task.status is not TaskStatus.PENDING or task.updated_at >= cutoff:
            continue
        try:
            lane = dispatch.send(queue_urls, task)
        except Exception:  # the next sweep tries again
            logger.exception("could not re-send a pending task", extra={"task_id": task_id})
            continue
        dispatch.mark_queued(store, task, by="sweeper", lane=lane)
        requeued.append(task_id)
        logger.warning("re-sent a task left pending", extra={"task_id": task_id})
    return requeued
