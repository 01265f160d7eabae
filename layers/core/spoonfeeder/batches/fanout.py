"""A batch's fan-out: its input read from S3 a chunk at a time (a ranged GET from the stored offset, closed as
soon as the chunk is read: never the whole file), each line a task (or a rejected line), each chunk written in
one transaction with the batch's move past it, then its messages sent.

- **Exactly once.** The chunk's transaction is conditioned on the offset it was read from: a crashed or
  duplicated invocation writes a chunk at most once. The chunk's task ids are stored as `unsent` in the same
  transaction and cleared once sent; the next invocation sends what is still `unsent` first (a duplicate
  message is harmless).
- **Unique custom ids.** Each line writes a marker `BATCH#<id>` / `CID#<custom id>` that must not exist yet; a
  line whose marker exists becomes a rejected line DUPLICATE_CUSTOM_ID.
- **Concurrency.** At most `max_concurrency` of the batch's tasks are in flight; at the cap the fan-out stops and
  marks the batch `waiting`, and the stream consumer that counts a task's end sends a continuation.
- **Time.** It stops when the invocation's time runs low and sends itself a continuation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from spoonfeeder.batches.formats import (
    MAX_LINE_BYTES,
    Format,
    LineError,
    ParsedLine,
    check_body,
    detect,
    parse_line,
    read_json,
)
from spoonfeeder.batches.progress import maybe_finalize
from spoonfeeder.data import queues
from spoonfeeder.data.aws import client
from spoonfeeder.data.batches import BatchStore
from spoonfeeder.data.items import to_item
from spoonfeeder.data.task_store import TaskStore, batch_line_sk
from spoonfeeder.models.events import EventType
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.tasks import routing
from spoonfeeder.tasks.snapshot import new_task

logger = Logger(child=True)

CHUNK_LINES = 20  # 4 items a line (task, 2 events, custom-id marker) + the batch: within a transaction's 100
READ_BYTES = 64 * 1024
WINDOW_BYTES = 256 * 1024  # one ranged GET: a chunk's lines, or a part of a long one
MAX_LINES = 50_000
KEEP_INPUT_BYTES = 2048  # a Bedrock line's modelInput, echoed in its output line, is kept when this small
SAFETY_SECONDS = 15.0


@dataclass
class Chunk:
    lines: list[ParsedLine] = field(default_factory=list)
    end_offset: int = 0
    eof: bool = False
    fmt: Format | None = None


@dataclass
class FanOut:
    batches: BatchStore
    tasks: TaskStore
    bucket: str
    queue_urls: dict[routing.Lane, str]
    batch_queue_url: str
    max_prompt_bytes: int
    time_left: Callable[[], float] = lambda: 900.0

    def run(self, batch_id: str) -> str:
        """Fan the batch out as far as capacity and time allow; what stopped it."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return "missing"
        self._send(batch, list(batch.get("unsent") or []))
        while True:
            if batch["status"] == "running":  # every line read: its last tasks may all have ended already
                maybe_finalize(self.batches, batch, self.batch_queue_url)
            if batch["status"] != "fanning_out":
                return str(batch["status"])
            capacity = int(batch["max_concurrency"]) - int(batch.get("in_flight") or 0)
            if capacity <= 0:
                waiting = self.batches.update(batch_id, {"waiting": True})
                if waiting is None or int(waiting["max_concurrency"]) - int(waiting.get("in_flight") or 0) <= 0:
                    return "waiting"  # a task's end sends the continuation
                batch = waiting
                continue
            if self.time_left() < SAFETY_SECONDS:
                queues.send_json(self.batch_queue_url, json.dumps({"batch_id": batch_id, "continue": True}))
                return "continued"
            chunk = self._read(batch, min(capacity, CHUNK_LINES))
            written = self._write(batch, chunk)
            fresh = self.batches.get(batch_id)
            if fresh is None:
                return "missing"
            if written is not None:
                self._send(fresh, written)
                fresh = self.batches.get(batch_id) or fresh
            batch = fresh

    # ------------------------------------------------------------------ reading
    def _read(self, batch: dict[str, Any], wanted: int) -> Chunk:
        fmt = Format(batch["format"]) if batch.get("format") else None
        chunk = Chunk(end_offset=int(batch["offset"]), fmt=fmt)
        number = int(batch["lines"])
        defaults = dict(batch.get("defaults") or {})
        for text, end in self._lines(batch["input_key"], int(batch["offset"])):
            chunk.end_offset = end
            if not text.strip():
                continue
            if number >= MAX_LINES:
                chunk.lines.append(ParsedLine(number, None, error=("TOO_MANY_LINES",
                                                                   f"a batch holds at most {MAX_LINES} lines")))
                chunk.eof = True
                return chunk
            chunk.lines.append(self._parse(number, text, chunk, defaults))
            number += 1
            if len(chunk.lines) >= wanted:
                return chunk
        chunk.eof = True
        return chunk

    def _parse(self, number: int, text: bytes, chunk: Chunk, defaults: dict[str, Any]) -> ParsedLine:
        try:
            record = read_json(text)
            if chunk.fmt is None:
                chunk.fmt = detect(record)
        except LineError as err:
            return ParsedLine(number, None, error=(err.code, err.message))
        except ValueError as err:  # no format detected yet: the line is none of them
            return ParsedLine(number, None, error=("INVALID_LINE", str(err)))
        line = parse_line(number, record, chunk.fmt, defaults)
        if line.body is None:
            return line
        try:
            check_body(line.body, max_prompt_bytes=self.max_prompt_bytes)
        except LineError as err:
            return ParsedLine(number, line.custom_id, error=(err.code, err.message), kind=line.kind,
                              model_input=line.model_input)
        return line

    def _lines(self, key: str, offset: int) -> Iterator[tuple[bytes, int]]:
        """(line, offset after it) from `offset` on, read in ranged GETs of WINDOW_BYTES as they are consumed:
        what is held is one window and one line, whatever the file's size."""
        s3 = client("s3")
        buffered, position, start = b"", offset, offset
        while True:
            try:
                body = s3.get_object(Bucket=self.bucket, Key=key,
                                     Range=f"bytes={start}-{start + WINDOW_BYTES - 1}")["Body"]
            except s3.exceptions.ClientError as exc:  # 416: nothing left after the offset
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                    break
                raise
            received = 0
            try:
                for piece in body.iter_chunks(READ_BYTES):
                    received += len(piece)
                    buffered += piece
                    while (cut := buffered.find(b"\n")) >= 0:
                        line, buffered = buffered[:cut], buffered[cut + 1:]
                        position += cut + 1
                        yield line, position
                    if len(buffered) > MAX_LINE_BYTES + 2:  # a line past the limit: refused, its bytes skipped
                        position += len(buffered)
                        yield b"x" * (MAX_LINE_BYTES + 1), position
                        buffered = b""
            finally:
                body.close()
            start += received
            if received < WINDOW_BYTES:
                break
        if buffered:
            yield buffered, position + len(buffered)

    # ------------------------------------------------------------------ writing
    def _write(self, batch: dict[str, Any], chunk: Chunk) -> list[str] | None:
        """Commit the chunk; its task ids, or None when the batch moved meanwhile."""
        rejected = {line.line: line for line in chunk.lines if line.error is not None}
        while True:
            items, created, markers = self._items(batch, chunk, rejected)
            counts = {"total": len(chunk.lines), "rejected": len(rejected), "created": len(created),
                      "queued": len(created), "in_flight": len(created)}
            move = self.batches.chunk_items(batch, offset=chunk.end_offset, lines=int(batch["lines"]) +
                                            len(chunk.lines), counts=counts, unsent=[t.id for t in created],
                                            fmt=str(chunk.fmt or Format.NATIVE), done=chunk.eof)
            try:
                self.batches.ddb.transact_write_items(TransactItems=[*items, move])
                return [t.id for t in created]
            except self.batches.ddb.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                if reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                    return None  # another invocation wrote this chunk (or the batch was cancelled)
                duplicates = [markers[n] for n, reason in enumerate(reasons)
                              if n in markers and reason.get("Code") == "ConditionalCheckFailed"]
                if not duplicates:
                    raise
                for line in duplicates:
                    rejected[line.line] = ParsedLine(line.line, line.custom_id, error=(
                        "DUPLICATE_CUSTOM_ID", f"custom id {line.custom_id!r} is used by an earlier line"),
                        kind=line.kind, model_input=line.model_input)

    def _items(self, batch: dict[str, Any], chunk: Chunk, rejected: dict[int, ParsedLine]
               ) -> tuple[list[dict[str, Any]], list[Any], dict[int, ParsedLine]]:
        from spoonfeeder.models.tasks import TaskCreate

        table, items, created, markers, seen = self.batches.table, [], [], {}, set()
        for line in chunk.lines:
            if line.line not in rejected and line.custom_id in seen:
                rejected[line.line] = ParsedLine(line.line, line.custom_id, error=(
                    "DUPLICATE_CUSTOM_ID", f"custom id {line.custom_id!r} is used by an earlier line"),
                    kind=line.kind, model_input=line.model_input)
            seen.add(line.custom_id)
            if line.line in rejected:
                items.append({"Put": {"TableName": table, "Item": to_item(_rejected_item(batch, rejected[line.line]))}})
                continue
            markers[len(items)] = line
            items.append({"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": to_item({"pk": f"BATCH#{batch['id']}", "sk": f"CID#{line.custom_id}",
                                                   "entity": "batch_custom_id", "line": line.line})}})
            body = TaskCreate.model_validate(line.body)
            model = body.model or routing.default_model(body.provider, body.type)  # type: ignore[arg-type]
            metadata: dict[str, Any] = {"batch_kind": line.kind}
            if line.model_input is not None and len(json.dumps(line.model_input)) <= KEEP_INPUT_BYTES:
                metadata["model_input"] = line.model_input
            task = new_task(batch["owner"], body, model, batch_id=batch["id"], custom_id=line.custom_id,
                            batch_line=line.line, metadata=metadata)
            writes, _ = self.tasks.creation(task, [
                (EventType.CREATED, {"batch_id": batch["id"], "custom_id": line.custom_id}),
                (EventType.QUEUED, {"attempt": 1, "by": "batch", "lane": str(routing.lane_for(task.type,
                                                                                               task.provider))})])
            items.extend(writes)
            created.append(task)
        return items, created, markers

    def _send(self, batch: dict[str, Any], task_ids: list[str]) -> None:
        if not task_ids:
            return
        queues.send_tasks(self.queue_urls[routing.Lane.LLM],
                          [TaskMessage(task_id=task_id, owner=batch["owner"], attempt=1) for task_id in task_ids])
        # Cleared only if these are still the unsent ones (a later chunk stores its own).
        self.batches.update(batch["id"], {"unsent": []}, condition="#unsent = :sent", values={":sent": task_ids})


def _rejected_item(batch: dict[str, Any], line: ParsedLine) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"BATCH#{batch['id']}", "sk": batch_line_sk(line.line), "entity": "batch_line", "line": line.line,
        "custom_id": line.custom_id, "kind": line.kind, "owner": batch["owner"],
        "error": {"code": line.error[0], "message": line.error[1]} if line.error else None,
        "gsi2pk": f"BATCH#{batch['id']}", "gsi2sk": batch_line_sk(line.line)}
    if line.model_input is not None and len(json.dumps(line.model_input)) <= KEEP_INPUT_BYTES:
        item["model_input"] = line.model_input
    return item

