"""Batch fan-out throughput and memory: lines per second from a JSONL file in S3 to every task written and queued,
against the floor of the same writes made raw (BatchWriteItem of the same task and event items, 25 a call, and
SendMessageBatch of the same messages) on the same local moto server, with the stack localcloud's create_stack
makes from template.yaml. The fan-out writes each chunk in one TransactWriteItems conditioned on the input's
offset (and a custom-id marker per line): what exactly-once costs over the floor. Memory: the Python heap's peak
(tracemalloc) during the fan-out, for files of two sizes: flat means the file is never held whole.

Run: .venv/bin/python bench/batch_fanout.py [--lines 10000] [--small 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from agent_overhead import start_cloud  # noqa: E402 - the bench folder is not a package

GOAL = 0.8


def input_file(lines: int) -> bytes:
    return "".join(json.dumps({"custom_id": f"req-{n}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Summarise item {n} in one line."}]}}) + "\n"
                   for n in range(lines)).encode()


def fan_out(stack: Any, lines: int) -> tuple[float, int, int]:
    """(seconds, tasks queued, peak heap bytes) for one batch of `lines` lines."""
    import boto3
    from spoonfeeder.batches.fanout import FanOut
    from spoonfeeder.data.batches import BatchStore, input_key
    from spoonfeeder.data.task_store import TaskStore
    from spoonfeeder.tasks.routing import Lane

    table, bucket = stack.resources["Table"], stack.resources["Bucket"]
    owner, batch_id = "bench", uuid.uuid4().hex
    body = input_file(lines)
    boto3.client("s3").put_object(Bucket=bucket, Key=input_key(owner, batch_id), Body=body)
    del body
    batches = BatchStore(table)
    runner = FanOut(batches, TaskStore(table, bucket), bucket, {Lane.LLM: stack.resources["LlmTasksQueue"]},
                    stack.resources["BatchFilesQueue"], max_prompt_bytes=256 * 1024)
    tracemalloc.start()
    started = time.perf_counter()
    batches.claim(batch_id, owner, size=0, max_concurrency=lines + 1)
    stopped = runner.run(batch_id)
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    batch = batches.get(batch_id) or {}
    assert stopped == "running" and batch["created"] == lines, (stopped, batch.get("created"))
    return took, int(batch["created"]), peak


def raw(stack: Any, lines: int) -> float:
    """The same task and event items and messages, written with no condition and no transaction."""
    import boto3
    from spoonfeeder.data import queues
    from spoonfeeder.data.task_store import TaskStore
    from spoonfeeder.models.events import EventType
    from spoonfeeder.models.messages import TaskMessage
    from spoonfeeder.models.tasks import TaskCreate
    from spoonfeeder.tasks.snapshot import new_task

    store, table = TaskStore(stack.resources["Table"], stack.resources["Bucket"]), stack.resources["Table"]
    ddb, queue = boto3.client("dynamodb"), stack.resources["LlmTasksQueue"]
    started = time.perf_counter()
    for start in range(0, lines, 25):
        puts, messages = [], []
        for n in range(start, min(lines, start + 25)):
            body = TaskCreate.model_validate({"type": "chat", "provider": "openai", "model": "gpt-4o-mini",
                                              "messages": [{"role": "user",
                                                            "content": f"Summarise item {n} in one line."}]})
            task = new_task("bench-raw", body, "gpt-4o-mini", batch_id="raw", custom_id=f"req-{n}", batch_line=n)
            writes, _ = store.creation(task, [(EventType.CREATED, {}), (EventType.QUEUED, {})])
            puts += [{"PutRequest": {"Item": w["Put"]["Item"]}} for w in writes]
            messages.append(TaskMessage(task_id=task.id, owner=task.owner, attempt=1))
        for at in range(0, len(puts), 25):
            pending: dict[str, Any] = {table: puts[at:at + 25]}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        queues.send_tasks(queue, messages)
    return time.perf_counter() - started


def purge(stack: Any) -> None:
    import boto3

    boto3.client("sqs").purge_queue(QueueUrl=stack.resources["LlmTasksQueue"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    args = parser.parse_args()
    server, stack = start_cloud()
    try:
        fan_out(stack, 20)  # warm: imports and clients, which a peak would otherwise count once
        _, _, peak_small = fan_out(stack, args.small)
        fan_seconds, queued, peak_big = fan_out(stack, args.lines)
        purge(stack)
        raw_seconds = raw(stack, args.lines)
        purge(stack)
    finally:
        server.stop()
    fan_rate, raw_rate = queued / fan_seconds, args.lines / raw_seconds
    print(f"{args.lines:,} OpenAI-format lines, S3 to every task queued (local moto, one process)")
    print(f"  fan-out (chunked transactions, exactly once): {fan_seconds:7.1f} s  {fan_rate:7.0f} lines/s")
    print(f"  raw BatchWriteItem + SendMessageBatch:        {raw_seconds:7.1f} s  {raw_rate:7.0f} lines/s")
    print(f"  ratio fan-out / raw: {fan_rate / raw_rate:.2f} (goal >= {GOAL})")
    print(f"  fan-out heap peak: {peak_small / 1e6:.1f} MB for {args.small:,} lines, "
          f"{peak_big / 1e6:.1f} MB for {args.lines:,} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
