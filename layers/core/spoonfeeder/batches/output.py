"""A finished batch's files: `output.jsonl` (one line per input line, in input order, in the input's format
family), `errors.jsonl` (OpenAI family: the lines that did not succeed, as OpenAI's error file) and
`manifest.json` (Bedrock's manifest fields plus cost), streamed to S3 under `batches/<owner>/<id>/`. A
re-delivered finalize message writes the same files again and records `batch:completed` once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from spoonfeeder import ids
from spoonfeeder.batches.formats import Format
from spoonfeeder.batches.progress import counters
from spoonfeeder.batches.results import failure, manifest, output_line
from spoonfeeder.data import storage
from spoonfeeder.data.batches import BatchStore
from spoonfeeder.data.items import from_item
from spoonfeeder.data.s3_writer import StreamedObject

JSONL = "application/jsonl"


class LinesNotIndexedYet(Exception):
    """gsi2 (read eventually consistent) does not show every line yet: the finalize message comes back."""


def output_keys(batch: dict[str, Any]) -> dict[str, str]:
    prefix = f"batches/{batch['owner']}/{batch['id']}/"
    keys = {"output": prefix + "output.jsonl", "manifest": prefix + "manifest.json"}
    if batch.get("format") == Format.OPENAI:
        keys["errors"] = prefix + "errors.jsonl"
    return keys


def rows(batches: BatchStore, batch_id: str) -> Iterator[dict[str, Any]]:
    """The batch's tasks and rejected lines, in input order (gsi2 `BATCH#<id>` / `LINE#<n>`), a page at a time."""
    query: dict[str, Any] = {"TableName": batches.table, "IndexName": "gsi2", "KeyConditionExpression": "gsi2pk = :b",
                             "ExpressionAttributeValues": {":b": {"S": f"BATCH#{batch_id}"}}}
    while True:
        page = batches.ddb.query(**query)
        yield from (from_item(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def finalize(batches: BatchStore, bucket: str, batch_id: str) -> bool:
    """Write the files and complete the batch; False when there is nothing to finalise (yet, or any more)."""
    batch = batches.get(batch_id)
    if batch is None or batch.get("status") not in ("finalizing", "completed", "cancelling"):
        return False
    fmt, keys = Format(batch.get("format") or Format.NATIVE), output_keys(batch)
    written = 0
    with ExitStack() as files:
        out = files.enter_context(StreamedObject(bucket, keys["output"], JSONL))
        errors = files.enter_context(StreamedObject(bucket, keys["errors"], JSONL)) if "errors" in keys else None
        for row in rows(batches, batch_id):
            line = (json.dumps(output_line(fmt, row, _text(bucket, row)), ensure_ascii=False) + "\n").encode()
            out.write(line)
            if errors is not None and failure(row) is not None:
                errors.write(line)
            written += 1
        if written < int(batch.get("total") or 0):
            raise LinesNotIndexedYet(f"{written} of {batch['total']} lines indexed")
    shown = counters(batch)
    storage.put_json_bytes(bucket, keys["manifest"], json.dumps(manifest(shown), indent=2).encode())
    final = "cancelled" if batch["status"] == "cancelling" else "completed"
    done = batches.update(batch_id, {"status": final, "outputs": keys, "completed_at": ids.now_iso(),
                                     "updated_at": ids.now_iso()},
                          condition="#status IN (:finalizing, :cancelling)",
                          values={":finalizing": "finalizing", ":cancelling": "cancelling"})
    if done is not None:
        batches.record_event(done, f"batch:{final}", {**shown, "outputs": keys})
    return True


def _text(bucket: str, row: dict[str, Any]) -> str | None:
    result = row.get("result") or {}
    if result.get("text_s3_key"):
        return str(storage.get_text(bucket, result["text_s3_key"]))
    return result.get("text")
