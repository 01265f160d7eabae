"""Which S3 notifications start a batch: an object created at `batches/<owner>/<batch id>/input.jsonl`.
S3's `s3:TestEvent` (sent when the notification is configured) and every other key are ignored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from spoonfeeder import ids
from spoonfeeder.data.batches import BatchStore

INPUT_KEY = re.compile(r"^batches/(?P<owner>[^/]{1,128})/(?P<batch>[0-9A-Za-z_-]{1,64})/input\.jsonl$")
MAX_INPUT_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    owner: str
    batch_id: str
    size: int


def uploads(notification: dict[str, Any]) -> Iterator[Upload]:
    if notification.get("Event") == "s3:TestEvent":
        return
    for record in notification.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3") or {}
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))  # S3 URL-encodes keys in notifications
        found = INPUT_KEY.match(key)
        if found:
            yield Upload(found["owner"], found["batch"], int((s3.get("object") or {}).get("size") or 0))


def refuse(batches: BatchStore, batch: dict[str, Any], code: str, message: str) -> None:
    """A batch that cannot run at all fails as a whole, with its reason and a `batch:failed` event."""
    failed = batches.update(batch["id"], {"status": "failed", "error": {"code": code, "message": message},
                                          "completed_at": ids.now_iso()})
    if failed is not None:
        batches.record_event(failed, "batch:failed", {"error": {"code": code, "message": message}})
