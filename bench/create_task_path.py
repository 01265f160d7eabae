"""What the POST /api/tasks handler path costs on top of the AWS calls it makes, and above the floor.

Side A calls the real API function handler in-process (Powertools resolver, validation, pydantic models) with an
API Gateway HTTP API v2.0 event. Its quota count rides in the create transaction, conditioned on the count this
warm container last saw, so the new count is known without reading it (spoonfeeder/ratelimit.py). Side A2 is the
same handler after another container counted a request of the same user (an untimed UpdateItem before each run):
the first transaction misses, its cancellation carries the real count, and a second transaction counts. Side B
makes the raw boto3 calls of the request before the quota moved into the transaction, with prebuilt items of the
same attributes and sizes: update_item (the per-user request quota), transact_write_items (the task, already
queued, with its created and queued events), send_message. Side B is another user (the same length of id): it
emulates a different request path, and counting on A's key would make every A request a miss. Side C is the
floor of a dual write: the same transaction and send, without the quota. All sides talk to one local moto server
holding the stack localcloud's create_stack makes from template.yaml (with a quota no run reaches); each is warmed
up, then they are interleaved; median and p95 are printed in ms, and the ratios to C. Each run's items and message
are deleted after it (untimed), and the table is a stream-less copy of the stack's, made afresh every 10 runs
with the quota counters carried over: moto deep-copies a whole table (its rollback copy) on every
TransactWriteItems, and its SendMessage slows with queue depth, so otherwise the baseline would grow run after run.

Run: .venv/bin/python bench/create_task_path.py [--iterations 200] [--warmup 20]   (or: make bench)
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import platform
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import boto3
import moto
from localcloud.moto_process import MotoServer
from localcloud.stack import create_stack
from spoonfeeder import ids  # the handler's own ids and timestamps (no pydantic)
from spoonfeeder.data.task_store import active_shard

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
OWNER = "4f1c2b9e-7d3a-4c55-9a21-0b6e8f3d2a10"  # a Cognito-style sub: the handler's user (A, A2, C's items)
OTHER = "9b2e4d7a-1c6f-4e83-b5a0-7d3c2f1e8a64"  # side B's user: its quota count is not A's
QUOTA = "1000000"  # requests a minute: the bench measures the path, no run is refused
# Names its model: a request without one reads the user's default model (one GetItem) before the transaction.
BODY = {"type": "text", "provider": "openai", "model": "gpt-4o-mini", "prompt": "hello"}
CALLS: list[str] = []  # every call made by clients of boto3's default session (the handler's and side B's)


class Sample(NamedTuple):
    wall: float  # ms
    here: float  # CPU ms of this process
    server: float  # CPU ms of the moto server process


def server_cpu_ms(server: MotoServer) -> float:
    """CPU time the moto server process has used so far (Linux /proc; user + system, in clock ticks)."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def request_id() -> str:
    return base64.b64encode(secrets.token_bytes(10)).decode()  # 16 characters, like API Gateway's


def api_event(api_id: str) -> dict[str, Any]:
    now, domain = datetime.now(UTC), f"{api_id}.execute-api.{REGION}.amazonaws.com"
    return {
        "version": "2.0", "routeKey": "ANY /api/{proxy+}", "rawPath": "/api/tasks", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": domain},
        "requestContext": {
            "accountId": "123456789012", "apiId": api_id, "stage": "$default", "routeKey": "ANY /api/{proxy+}",
            "requestId": request_id(), "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000), "domainName": domain, "domainPrefix": api_id,
            "authorizer": {"jwt": {"claims": {"sub": OWNER}, "scopes": None}},
            "http": {"method": "POST", "path": "/api/tasks", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "bench"},
        },
        "pathParameters": {"proxy": "tasks"}, "body": json.dumps(BODY), "isBase64Encoded": False,
    }


def s(value: str) -> dict[str, str]:
    return {"S": value}


def task_item(task_id: str, created: str, owner: str) -> dict[str, Any]:
    """The item TaskStore writes for BODY: Task.to_dict's attributes (Nones dropped) plus the keys."""
    snapshot = {"type": s("text"), "provider": s("openai"), "model": s("gpt-4o-mini"), "options": {"M": {}},
                "messages": {"L": [{"M": {"role": s("user"), "content": s(BODY["prompt"])}}]}}
    size = len(json.dumps({"type": "text", "provider": "openai", "model": "gpt-4o-mini",
                           "messages": [{"role": "user", "content": BODY["prompt"]}], "options": {}},
                          separators=(",", ":")))
    return {
        "id": s(task_id), "owner": s(owner), "type": s("text"), "provider": s("openai"), "model": s("gpt-4o-mini"),
        "status": s("queued"), "request_snapshot": {"M": snapshot}, "request_bytes": {"N": str(size)},
        "attempt": {"N": "1"}, "seq": {"N": "2"}, "metadata": {"M": {}}, "created_at": s(created),
        "updated_at": s(created), "resends": {"N": "0"}, "lost_runs": {"N": "0"}, "pk": s(f"TASK#{task_id}"),
        "sk": s("TASK"), "entity": s("task"), "gsi1pk": s(f"OWNER#{owner}"), "gsi1sk": s(f"{created}#{task_id}"),
        "gsi3pk": s(active_shard(task_id)), "gsi3sk": s(f"{created}#{task_id}"),
    }


def event_item(task_id: str, seq: int, kind: str, at: str, data: dict[str, Any], owner: str) -> dict[str, Any]:
    return {"id": s(ids.new_id()), "topic": s(f"task:{task_id}"), "type": s(kind), "seq": {"N": str(seq)},
            "task_id": s(task_id), "at": s(at), "data": {"M": data}, "pk": s(f"TASK#{task_id}"),
            "sk": s(f"EVENT#{seq:010d}"), "entity": s("event"), "owner": s(owner)}


def shape(value: Any) -> Any:
    """A value with every string replaced by its length: equal shapes mean same attributes and sizes."""
    if isinstance(value, dict | list):
        return {k: shape(v) for k, v in (value.items() if isinstance(value, dict) else enumerate(value))}
    return len(value) if isinstance(value, str) else value


def count_update(table: str, owner: str) -> dict[str, Any]:
    """The UpdateItem that counts one request of `owner` in this minute's window (as RequestQuota.take does)."""
    window = int(time.time()) // 60 * 60
    return {"TableName": table, "Key": {"pk": s(f"RATE#{owner}#{window}"), "sk": s("COUNTER")},
            "UpdateExpression": "ADD #n :a SET #t = if_not_exists(#t, :t)",
            "ExpressionAttributeNames": {"#n": "count", "#t": "ttl"},
            "ExpressionAttributeValues": {":a": {"N": "1"}, ":t": {"N": str(window + 120)}}}


def raw_run(ddb: Any, sqs: Any, table: str, queue_url: str, *, quota: bool) -> tuple[Callable[[], None], str]:
    """Side B (quota=True, user OTHER) or C (the floor), prepared: the calls for a fresh task, and its id."""
    task_id, at, owner = ids.new_id(), ids.now_iso(), OTHER if quota else OWNER
    created = event_item(task_id, 1, "task:created", at, {
        "type": s("text"), "provider": s("openai"), "model": s("gpt-4o-mini"), "attempt": {"N": "1"},
        "name": {"NULL": True}}, owner)
    queued = event_item(task_id, 2, "task:queued", at,
                        {"attempt": {"N": "1"}, "by": s("api"), "lane": s("llm-tasks")}, owner)
    update = count_update(table, owner)
    update["ReturnValues"] = "UPDATED_NEW"
    create = [{"Put": {"TableName": table, "Item": task_item(task_id, at, owner),
                       "ConditionExpression": "attribute_not_exists(pk)"}},
              {"Put": {"TableName": table, "Item": created}}, {"Put": {"TableName": table, "Item": queued}}]
    body = json.dumps({"task_id": task_id, "owner": owner, "attempt": 1, "trace_id": request_id()},
                      separators=(",", ":"))

    def run() -> None:
        if quota:
            ddb.update_item(**update)
        ddb.transact_write_items(TransactItems=create)
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    return run, task_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200, help="interleaved timed runs per side")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs per side first")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith(("AWS_", "POWERTOOLS_"))]:
        del os.environ[name]
    server = MotoServer(port=0).start()
    try:
        stack = create_stack(ROOT / "template.yaml", server.url, REGION,
                             {"Stage": "dev", "UserRequestsPerMinute": QUOTA})
        spec = stack.functions["ApiFunction"]
        os.environ.update(AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, **spec.env)
        admin = boto3.session.Session()  # not the default session: its calls are neither counted nor timed
        admin_ddb, admin_sqs = admin.client("dynamodb"), admin.client("sqs")
        desc = admin_ddb.describe_table(TableName=spec.env["TABLE_NAME"])["Table"]
        table = os.environ["TABLE_NAME"] = f"{desc['TableName']}-bench"  # the same keys and indexes, no stream

        def fresh_table() -> None:  # moto keeps an empty slot per partition key ever used: start over now and then
            counters = []  # the quota counters (the only items between runs) carry over, as on a real table
            if table in admin_ddb.list_tables()["TableNames"]:
                counters = admin_ddb.scan(TableName=table, ConsistentRead=True)["Items"]
                admin_ddb.delete_table(TableName=table)
            admin_ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", KeySchema=desc["KeySchema"],
                                   AttributeDefinitions=desc["AttributeDefinitions"], GlobalSecondaryIndexes=[
                                       {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
                                       for i in desc["GlobalSecondaryIndexes"]])
            for item in counters:
                admin_ddb.put_item(TableName=table, Item=item)

        fresh_table()
        queue_url = spec.env["LLM_TASKS_QUEUE_URL"]
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", lambda event_name, **_: CALLS.append(event_name[12:]))
        context = SimpleNamespace(function_name=spec.name, invoked_function_arn=spec.arn, aws_request_id="",
                                  memory_limit_in_mb=spec.memory, get_remaining_time_in_millis=lambda: 29_000)
        sys.path.insert(0, str(ROOT / "functions" / "api"))  # the function's folder first, as in Lambda
        module_spec = importlib.util.spec_from_file_location("app", ROOT / "functions" / "api" / "app.py")
        assert module_spec is not None and module_spec.loader is not None
        app = sys.modules["app"] = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(app)
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = app.lambda_handler
        ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")  # same defaults as the handler's clients
        api_id = stack.http_api_id or "localapi01"

        def timed(run: Callable[[], Any]) -> tuple[Sample, Any]:
            """`run()`'s result and its wall time, this process's CPU time and the moto server's, in ms."""
            wall, here, there = time.perf_counter(), time.process_time(), server_cpu_ms(server)
            result = run()
            return Sample((time.perf_counter() - wall) * 1000, (time.process_time() - here) * 1000,
                          server_cpu_ms(server) - there), result

        def side_a(*, after_another_count: bool = False) -> tuple[Sample, str]:
            if after_another_count:  # another container counted a request of this user: this one's count is stale
                admin_ddb.update_item(**count_update(table, OWNER))
            event, context.aws_request_id = api_event(api_id), str(uuid.uuid4())
            sample, response = timed(lambda: handler(event, context))
            if response["statusCode"] != 201:
                raise SystemExit(f"POST /api/tasks answered {response['statusCode']}: {response.get('body')}")
            return sample, json.loads(response["body"])["data"]["id"]

        def side_raw(quota: bool) -> tuple[Sample, str]:
            run, task_id = raw_run(ddb, sqs, table, queue_url, quota=quota)
            return timed(run)[0], task_id

        def once(name: str, keep: dict[str, Any] | None = None) -> Sample:
            if name.startswith("A"):
                sample, task_id = side_a(after_another_count=name == "A2")
            else:
                sample, task_id = side_raw(quota=name == "B")
            pk = {":p": s(f"TASK#{task_id}")}
            items = admin_ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues=pk,
                                    ConsistentRead=True)["Items"]
            if keep is not None:
                keep[name] = shape(items)
            admin_ddb.batch_write_item(RequestItems={table: [
                {"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in items]})
            for message in admin_sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
                admin_sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return sample

        calls: dict[str, list[str]] = {}
        stored: dict[str, Any] = {}
        sides = ("A", "A2", "B", "C")
        for name in sides:  # the first run of each: check the answer and the items, count the calls
            CALLS.clear()
            once(name, stored)
            calls[name] = list(CALLS)
        for _ in range(args.warmup):
            for name in sides:
                once(name)
        samples: dict[str, list[Sample]] = {name: [] for name in sides}
        for i in range(args.iterations):
            if i % 10 == 0:
                fresh_table()
            for name in sides[i % 4:] + sides[:i % 4]:  # each side first, second, third and last in turn
                samples[name].append(once(name))
    finally:
        server.stop()

    print(f"Python {platform.python_version()} ({platform.python_implementation()}), moto {moto.__version__}")
    print(f"AWS endpoint: a local moto server ({server.url}), not AWS; region {REGION}; stack from template.yaml")
    print(f"{args.iterations} timed runs per side, A, A2, B and C interleaved, after {args.warmup} warm-up runs each")
    same = stored["A"] == stored["A2"] == stored["B"] == stored["C"]
    print(f"items A, A2, B and C stored (the task + 2 events): same attributes and sizes: {same}")
    for name, label in (("A", "handler"), ("A2", "handler, count missed"), ("B", "raw boto3"), ("C", "floor")):
        print(f"  {name} {label}: {len(calls[name])} AWS calls per request: {', '.join(calls[name])}")
    times = {name: [sample.wall for sample in runs] for name, runs in samples.items()}
    quarter = max(1, args.iterations // 4)
    print(f"  C median, first vs last quarter of the runs: {statistics.median(times['C'][:quarter]):.2f} vs "
          f"{statistics.median(times['C'][-quarter:]):.2f} ms")
    figures = {name: (statistics.median(t), statistics.quantiles(t, n=100, method="inclusive")[94])
               for name, t in times.items()}
    width = 44
    print(f"{'side':<{width}}{'median ms':>11}{'p95 ms':>10}")
    labels = {"A": "A handler, in-process", "A2": "A2 handler, another container counted",
              "B": "B raw boto3 calls", "C": "C floor (1 transaction + 1 send)"}
    for name, label in labels.items():
        print(f"{label:<{width}}{figures[name][0]:>11.2f}{figures[name][1]:>10.2f}")
    for label, (top, bottom) in (("ratio A/B", ("A", "B")), ("ratio A/C (handler / floor)", ("A", "C")),
                                 ("ratio A2/C (count missed / floor)", ("A2", "C"))):
        ratio_median, ratio_p95 = figures[top][0] / figures[bottom][0], figures[top][1] / figures[bottom][1]
        print(f"{label:<{width}}{ratio_median:>11.2f}{ratio_p95:>10.2f}")
    (med_a, p95_a), (med_c, p95_c) = figures["A"], figures["C"]
    print(f"{'difference A-C, ms':<{width}}{med_a - med_c:>11.2f}{p95_a - p95_c:>10.2f}")
    print("CPU per request, mean ms (wall time on a busy machine mostly measures the others' load; CPU time does "
          "not): this process (handler or boto3 client) + the moto server")
    cpu = {name: (statistics.fmean(x.here for x in runs), statistics.fmean(x.server for x in runs))
           for name, runs in samples.items()}
    print(f"{'side':<{width}}{'here':>11}{'server':>10}{'total':>10}")
    for name, label in labels.items():
        here, there = cpu[name]
        print(f"{label:<{width}}{here:>11.2f}{there:>10.2f}{here + there:>10.2f}")
    for label, (top, bottom) in (("CPU ratio A/C", ("A", "C")), ("CPU ratio A2/C", ("A2", "C"))):
        print(f"{label:<{width}}{sum(cpu[top]) / sum(cpu[bottom]):>31.2f}")

if __name__ == "__main__":
    main()
