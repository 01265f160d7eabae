"""Batch use cases behind the HTTP API: list, read, cancel, and download the output files. Another user's batch
is "not found"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from spoonfeeder.batches.cancel import ask_cancel
from spoonfeeder.batches.progress import counters
from spoonfeeder.data import queues, storage
from spoonfeeder.data.batches import BatchStore
from spoonfeeder.data.items import from_item
from spoonfeeder.errors import Conflict, NotFound
from spoonfeeder.models.batches import BatchView
from spoonfeeder.tasks import cursor

FILES = {"output": "output.jsonl", "errors": "errors.jsonl", "manifest": "manifest.json"}


def view(batch: dict[str, Any]) -> BatchView:
    return BatchView(id=batch["id"], name=batch.get("name"), status=batch["status"], format=batch.get("format"),
                     input_key=batch["input_key"], max_concurrency=int(batch["max_concurrency"]),
                     counters=counters(batch), outputs=batch.get("outputs"), error=batch.get("error"),  # type: ignore[arg-type]
                     created_at=batch["created_at"], completed_at=batch.get("completed_at"))


@dataclass
class BatchService:
    batches: BatchStore
    bucket: str
    batch_queue_url: str

    def get(self, owner: str, batch_id: str) -> dict[str, Any]:
        batch = self.batches.get(batch_id)
        if batch is None or batch.get("owner") != owner:
            raise NotFound(f"batch {batch_id} not found")
        return batch

    def list(self, owner: str, *, limit: int, after: str | None) -> tuple[list[BatchView], str | None]:
        query: dict[str, Any] = {
            "TableName": self.batches.table, "IndexName": "gsi2", "KeyConditionExpression": "gsi2pk = :o",
            "ExpressionAttributeValues": {":o": {"S": f"BATCHES#{owner}"}}, "ScanIndexForward": False,
            "Limit": limit + 1}
        start = cursor.decode(after, owner=owner, fields=("pk", "sk", "gsi2pk", "gsi2sk"), owner_field="gsi2pk",
                              bound_to=f"BATCHES#{owner}")
        if start:
            query["ExclusiveStartKey"] = start
        items = self.batches.ddb.query(**query)["Items"]
        page = items[:limit]
        more = len(items) > limit
        return ([view(from_item(i)) for i in page],
                cursor.encode({k: page[-1][k] for k in ("pk", "sk", "gsi2pk", "gsi2sk")}) if more else None)

    def cancel(self, owner: str, batch_id: str) -> BatchView:
        batch = self.get(owner, batch_id)
        moved = ask_cancel(self.batches, batch)
        if moved is None:
            raise Conflict(f"the batch is already {batch['status']}", code="BATCH_FINISHED",
                           details={"status": batch["status"]})
        if moved["status"] == "cancelling":
            queues.send_json(self.batch_queue_url, json.dumps({"batch_id": batch_id, "cancel": True}))
        return view(moved)

    def download_url(self, owner: str, batch_id: str, which: str, *, expires_in: int) -> str:
        batch = self.get(owner, batch_id)
        key = (batch.get("outputs") or {}).get(which)
        if not key:
            raise NotFound(f"batch {batch_id} has no {FILES[which]} (yet)")
        content_type = "application/json" if which == "manifest" else "application/jsonl"
        return storage.download_url(self.bucket, key, content_type=content_type,
                                    filename=f"{batch_id}-{FILES[which]}", expires_in=expires_in)
