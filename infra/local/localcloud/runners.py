"""Event source mappings and schedules: what invokes the functions besides the gateway.

Mappings poll SQS queues and DynamoDB streams in moto and behave like Lambda's pollers: SQS messages are
deleted only after a successful invocation (minus the ones reported in ``batchItemFailures``), so failures
come back after the visibility timeout and moto's redrive moves them to the DLQ; stream records are
delivered in order per shard, filtered by the mapping's patterns, with retries and partial-batch
checkpoints. Schedules fire their functions like EventBridge's schedule rules (see ``ScheduleRunner``).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import copy
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

from .filters import passes
from .functions import InvokeResult
from .stack import EventSource, Schedule, aws_client

__all__ = ["EventSourceRunners", "Invoker", "Runner", "ScheduleRunner", "ScheduleRunners", "SqsRunner",
           "StreamRunner", "make_runner"]

log = logging.getLogger(__name__)
Invoker = Callable[[str, Any], Awaitable[InvokeResult]]
T = TypeVar("T")
DEFAULT_STREAM_RETRIES = 3


class Runner(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class _Threads:
    """A runner's own threads for blocking boto3 calls (long polls must not starve anyone else's)."""

    def __init__(self, workers: int, name: str) -> None:
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=name)

    async def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, lambda: fn(**kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------------------------- SQS
class SqsRunner:
    def __init__(self, source: EventSource, invoke: Invoker, endpoint_url: str, region: str,
                 pollers: int = 2) -> None:
        if source.queue_url is None:
            raise ValueError(f"{source.source_arn}: no queue URL")
        self.source, self.invoke, self.region = source, invoke, region
        self.queue_url: str = source.queue_url
        self.pollers = pollers
        self.sqs = aws_client("sqs", endpoint_url, region)
        self._threads = _Threads(pollers + 1, f"sqs-{source.function[:16]}")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll(), name=f"sqs:{self.source.function}:{i}")
                       for i in range(self.pollers)]

    async def stop(self) -> None:
        await _cancel_all(self._tasks)
        self._threads.close()

    async def _receive(self) -> list[dict[str, Any]]:
        future = self._threads.executor.submit(
            self.sqs.receive_message, QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(self.source.batch_size, 10)), WaitTimeSeconds=1,
            AttributeNames=["All"], MessageAttributeNames=["All"])
        try:
            response = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Stopped mid-poll: hand back whatever that poll still brings, instead of hiding it for a
            # whole visibility timeout.
            future.add_done_callback(self._release)
            raise
        return list(response.get("Messages") or [])

    def _release(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(future.result().get("Messages") or [])]
        if entries:
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception:
                log.debug("could not release messages of %s", self.queue_url, exc_info=True)

    async def _poll(self) -> None:
        while True:
            try:
                messages = await self._receive()
                if messages:
                    await self._deliver(messages)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SQS poller for %s failed; retrying", self.source.function)
                await asyncio.sleep(1)

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(m) for m in messages]}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""), "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {name: _message_attribute(value)
                                  for name, value in (message.get("MessageAttributes") or {}).items()},
            "md5OfBody": message.get("MD5OfBody", ""),
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update(eventSource="aws:sqs", eventSourceARN=self.source.source_arn, awsRegion=self.region)
        return record

    async def _deliver(self, messages: list[dict[str, Any]]) -> None:
        result = await self.invoke(self.source.function, self.event(messages))
        if not result.ok:
            log.warning("%s failed on %d SQS message(s): %s; they return after the visibility timeout",
                        self.source.function, len(messages), _describe(result.payload))
            return
        done = messages
        if self.source.report_batch_item_failures:
            failed = _failed_items(result.payload, {m["MessageId"] for m in messages})
            if failed is None:
                log.warning("%s returned an invalid batchItemFailures; the whole batch is retried",
                            self.source.function)
                return
            done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(done[start:start + 10])]
            await self._threads.call(self.sqs.delete_message_batch, QueueUrl=self.queue_url, Entries=entries)


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"stringListValues": [], "binaryListValues": [],
                                 "dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def _failed_items(payload: Any, known: set[str]) -> set[str] | None:
    """Identifiers the function reported as failed; None when the report is malformed (Lambda then
    treats the whole batch as failed)."""
    if not isinstance(payload, dict) or not payload.get("batchItemFailures"):
        return set()
    failures = payload["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in known:
            return None
        ids.add(str(item))
    return ids


def _describe(payload: Any) -> str:
    if isinstance(payload, dict):
        return f"{payload.get('errorType')}: {payload.get('errorMessage')}"
    return repr(payload)


# --------------------------------------------------------------------------------- DynamoDB streams
def _json_ready(value: Any) -> Any:
    """boto3 decodes B/BS attributes to bytes; Lambda's events carry them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_json_ready(v) for v in value]
    return value


class StreamRunner:
    poll_interval = 0.1
    describe_interval = 3.0

    def __init__(self, source: EventSource, invoke: Invoker, endpoint_url: str, region: str) -> None:
        self.source, self.invoke, self.region = source, invoke, region
        self.streams = aws_client("dynamodbstreams", endpoint_url, region)
        self._threads = _Threads(2, f"ddb-{source.function[:16]}")
        self._shards: dict[str, asyncio.Task[None]] = {}
        self._watcher: asyncio.Task[None] | None = None
        retries = source.maximum_retry_attempts
        self.max_retries = DEFAULT_STREAM_RETRIES if retries is None or retries < 0 else retries

    async def start(self) -> None:
        """Returns once every current shard has its iterator: later records are delivered (LATEST)."""
        await self._discover(self.source.starting_position or "LATEST")
        self._watcher = asyncio.create_task(self._watch(), name=f"ddb:{self.source.function}")

    async def stop(self) -> None:
        await _cancel_all([*self._shards.values(), *([self._watcher] if self._watcher else [])])
        self._threads.close()

    async def _discover(self, position: str) -> None:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.source.source_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            response = await self._threads.call(self.streams.describe_stream, **kwargs)
            description = response["StreamDescription"]
            shards += description.get("Shards") or []
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self._shards:
                continue
            iterator = (await self._threads.call(
                self.streams.get_shard_iterator, StreamArn=self.source.source_arn, ShardId=shard_id,
                ShardIteratorType=position))["ShardIterator"]
            parent = self._shards.get(shard.get("ParentShardId") or "")
            self._shards[shard_id] = asyncio.create_task(self._read(iterator, parent),
                                                         name=f"shard:{shard_id}")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.describe_interval)
            try:
                await self._discover("TRIM_HORIZON")  # a shard that appears later is read from its start
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("describe_stream %s failed", self.source.source_arn)

    async def _read(self, iterator: str | None, parent: asyncio.Task[None] | None) -> None:
        if parent is not None:  # Lambda finishes a parent shard before its children
            await asyncio.gather(parent, return_exceptions=True)
        while iterator:
            try:
                response = await self._threads.call(self.streams.get_records, ShardIterator=iterator,
                                                    Limit=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("get_records on %s failed", self.source.source_arn)
                await asyncio.sleep(1)
                continue
            iterator = response.get("NextShardIterator")
            records = [r for r in map(self.record, response.get("Records") or [])
                       if passes(r, self.source.filter_patterns)]
            for start in range(0, len(records), self.source.batch_size):
                await self._deliver(records[start:start + self.source.batch_size])
            if not response.get("Records"):
                await asyncio.sleep(self.poll_interval)

    def record(self, raw: dict[str, Any]) -> dict[str, Any]:
        dynamodb = _json_ready(dict(raw.get("dynamodb") or {}))
        created = (raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = created.timestamp()
        record = {"eventID": raw.get("eventID"), "eventName": raw.get("eventName"), "eventVersion": "1.1",
                  "eventSource": "aws:dynamodb", "awsRegion": raw.get("awsRegion") or self.region,
                  "dynamodb": dynamodb, "eventSourceARN": self.source.source_arn}
        if raw.get("userIdentity"):  # TTL deletions carry the dynamodb.amazonaws.com principal
            record["userIdentity"] = raw["userIdentity"]
        return record

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        attempts = 0
        while batch:
            result = await self.invoke(self.source.function, {"Records": batch})
            if result.ok and not self.source.report_batch_item_failures:
                return
            if result.ok:
                sequence = [r["dynamodb"].get("SequenceNumber") for r in batch]
                failed = _failed_items(result.payload, {s for s in sequence if s})
                if failed is not None and not failed:
                    return
                if failed:  # checkpoint: resume from the first failed record
                    batch = batch[min(sequence.index(s) for s in failed):]
                reason = "reported failures" if failed is not None else "sent invalid batchItemFailures"
            else:
                reason = f"failed: {_describe(result.payload)}"
            attempts += 1
            if attempts > self.max_retries:
                log.error("%s %s; skipping %d stream record(s) after %d retries",
                          self.source.function, reason, len(batch), self.max_retries)
                return
            log.warning("%s %s; retry %d/%d", self.source.function, reason, attempts, self.max_retries)
            await asyncio.sleep(min(0.2 * attempts, 1.0))


# ------------------------------------------------------------------------------------------ all
# Pollers per SQS mapping: each runs one batch at a time, so this bounds the mapping's concurrent invocations,
# as ScalingConfig.MaximumConcurrency does on AWS; capped by the local function host's worker processes.
DEFAULT_SQS_POLLERS, MAX_SQS_POLLERS = 2, 4


def make_runner(source: EventSource, invoke: Invoker, endpoint_url: str, region: str) -> Runner:
    if source.kind == "sqs":
        pollers = min(source.maximum_concurrency or DEFAULT_SQS_POLLERS, MAX_SQS_POLLERS)
        return SqsRunner(source, invoke, endpoint_url, region, pollers=pollers)
    if source.kind == "dynamodb":
        return StreamRunner(source, invoke, endpoint_url, region)
    raise ValueError(f"unsupported event source kind {source.kind!r}")


class RunnerGroup:
    """Runners started and stopped together; ``async with group:`` or ``start()``/``stop()``."""

    runners: list[Any]

    async def start(self) -> None:
        await asyncio.gather(*(runner.start() for runner in self.runners))

    async def stop(self) -> None:
        await asyncio.gather(*(runner.stop() for runner in self.runners), return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class EventSourceRunners(RunnerGroup):
    """Every mapping of the stack."""

    def __init__(self, sources: Iterable[EventSource], invoke: Invoker, endpoint_url: str,
                 region: str) -> None:
        self.runners = [make_runner(s, invoke, endpoint_url, region) for s in sources]


# ------------------------------------------------------------------------------------------ schedules
class ScheduleRunner:
    """Fires a ``rate()`` schedule: invokes its function every period (times ``scale``) with EventBridge's
    scheduled event, or with the target's ``Input`` instead. The first firing comes one period after
    ``start()``, as EventBridge does not fire when a rule is created; periods missed while the process was
    held up are not made up for. EventBridge invokes asynchronously: a firing does not wait for the one
    before it, but no more than ``max_in_flight`` run at once (the rest are skipped, with a warning). A
    failed invocation is logged and the schedule goes on.
    """

    max_in_flight = 4

    def __init__(self, schedule: Schedule, invoke: Invoker, region: str, account_id: str,
                 scale: float = 1.0) -> None:
        period = schedule.period
        if period is None:
            raise ValueError(f"{schedule.rule_name}: {schedule.expression}: only rate() schedules run locally")
        if not scale > 0:
            raise ValueError(f"schedule scale must be positive, not {scale!r}")
        self.schedule, self.invoke, self.region, self.account_id = schedule, invoke, region, account_id
        self.interval = period * scale  # seconds
        self._input = None if schedule.input is None else json.loads(schedule.input)
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"schedule:{self.schedule.rule_name}")

    async def stop(self) -> None:
        await _cancel_all([*([self._task] if self._task else []), *self._in_flight])

    def event(self, now: datetime | None = None) -> Any:
        if self._input is not None:
            return copy.deepcopy(self._input)
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                "source": "aws.events", "account": self.account_id,
                "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": self.region,
                "resources": [self.schedule.rule_arn], "detail": {}}

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            late = loop.time() - due
            if late >= self.interval:
                missed = int(late // self.interval)
                log.warning("%s: %d firing(s) missed", self.schedule.rule_name, missed)
                due += missed * self.interval
            self._fire()

    def _fire(self) -> None:
        if len(self._in_flight) >= self.max_in_flight:
            log.warning("%s: %d invocations of %s still running; this firing is skipped",
                        self.schedule.rule_name, len(self._in_flight), self.schedule.function)
            return
        task = asyncio.create_task(self._deliver(self.event()), name=f"fire:{self.schedule.rule_name}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, event: Any) -> None:
        try:
            result = await self.invoke(self.schedule.function, event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: invoking %s failed", self.schedule.rule_name, self.schedule.function)
            return
        if not result.ok:
            log.warning("%s failed on the scheduled event of %s: %s", self.schedule.function,
                        self.schedule.rule_name, _describe(result.payload))
        else:
            log.debug("%s ran for %s in %.0f ms", self.schedule.function, self.schedule.rule_name,
                      result.duration_ms)


class ScheduleRunners(RunnerGroup):
    """Every ``rate()`` schedule of the stack (``cron()`` ones are not run locally: a warning says so);
    ``scale`` multiplies every period."""

    def __init__(self, schedules: Iterable[Schedule], invoke: Invoker, region: str, account_id: str,
                 scale: float = 1.0) -> None:
        self.runners: list[ScheduleRunner] = []
        for schedule in schedules:
            if schedule.period is None:
                log.warning("%s: cron schedules are not run locally (%s of %s)", schedule.rule_name,
                            schedule.expression, schedule.function)
                continue
            self.runners.append(ScheduleRunner(schedule, invoke, region, account_id, scale))

    async def start(self) -> None:
        for runner in self.runners:
            await runner.start()
            log.info("%s runs %s every %g s (%s)", runner.schedule.rule_name, runner.schedule.function,
                     runner.interval, runner.schedule.expression)

