"""What the POST /api/tasks handler path costs on top of the AWS calls it makes.

Side A calls the real API function handler in-process (Powertools resolver, validation, pydantic models) with an
API Gateway HTTP API v2.0 event. Side B makes only the raw boto3 calls that request causes, with prebuilt items of
the same attributes and sizes: transact_write_items (task + created event), send_message, then the pending ->
queued move (a consistent get_item + transact_write_items). Both sides talk to one local moto server, built from
template.yaml by localcloud's create_stack, are warmed up, then interleaved; median and p95 are printed in ms.

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import moto
import yaml
from localcloud.moto_process import MotoServer
from localcloud.stack import create_stack

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
FUNCTION = "ApiFunction"
OWNER = "4f1c2b9e-7d3a-4c55-9a21-0b6e8f3d2a10"  # a Cognito-style sub
BODY = {"type": "text", "provider": "openai", "prompt": "hello"}
CALLS: list[str] = []  # operation names of every boto3 call made by clients of the default session


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml with its CloudFormation tags (!Ref, !Sub, ...) as nulls: only the keys matter here."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def declared_env(logical_id: str) -> set[str]:
    tpl = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CfnLoader)
    names = set(tpl["Globals"]["Function"]["Environment"]["Variables"])
    props = tpl["Resources"][logical_id]["Properties"]
    return names | set((props.get("Environment") or {}).get("Variables") or {})


def placeholder(name: str) -> str:
    if name.endswith("_ARN"):
        return f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{name.lower()}-AbCdEf"
    return f"https://{name.lower()}.local" if name.endswith("_URL") else f"local-{name.lower()}"


@dataclass
class Context:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def ulid_like() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()[:26]  # same length and alphabet size as a ULID


def request_id() -> str:
    return base64.b64encode(secrets.token_bytes(10)).decode()  # 16 chars, like API Gateway's "JZ3kUi6EoAMEVbA="


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def api_event(api_id: str, req_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "version": "2.0", "routeKey": "ANY /api/{proxy+}", "rawPath": "/api/tasks", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": f"{api_id}.execute-api.{REGION}.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": api_id, "stage": "$default", "routeKey": "ANY /api/{proxy+}",
            "requestId": req_id, "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000), "domainName": f"{api_id}.execute-api.{REGION}.amazonaws.com",
            "authorizer": {"jwt": {"claims": {"sub": OWNER}, "scopes": None}},
            "http": {"method": "POST", "path": "/api/tasks", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "bench"},
        },
        "pathParameters": {"proxy": "tasks"}, "body": json.dumps(BODY), "isBase64Encoded": False,
    }


def S(value: str) -> dict[str, str]:  # DynamoDB's string type letter
    return {"S": value}


def task_item(task_id: str, status: str, seq: int, created: str, updated: str) -> dict[str, Any]:
    """The task item TaskStore writes for BODY: same attributes as Task.model_dump + keys, Nones dropped."""
    snapshot = {"type": S("text"), "provider": S("openai"), "model": S("gpt-4o-mini"), "options": {"M": {}},
                "messages": {"L": [{"M": {"role": S("user"), "content": S(BODY["prompt"])}}]}}
    return {
        "id": S(task_id), "owner": S(OWNER), "type": S("text"), "provider": S("openai"), "model": S("gpt-4o-mini"),
        "status": S(status), "input": {"M": {"prompt": S(BODY["prompt"])}}, "options": {"M": {}},
        "request_snapshot": {"M": snapshot}, "attempt": {"N": "1"}, "seq": {"N": str(seq)}, "metadata": {"M": {}},
        "created_at": S(created), "updated_at": S(updated), "pk": S(f"TASK#{task_id}"), "sk": S("TASK"),
        "entity": S("task"), "gsi1pk": S(f"OWNER#{OWNER}"), "gsi1sk": S(f"{created}#{task_id}"),
        "gsi3pk": S("ACTIVE"), "gsi3sk": S(f"{updated}#{task_id}"),
    }


def event_item(task_id: str, seq: int, kind: str, at: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": S(ulid_like()), "topic": S(f"task:{task_id}"), "type": S(kind), "seq": {"N": str(seq)},
            "task_id": S(task_id), "at": S(at), "data": {"M": data}, "pk": S(f"TASK#{task_id}"),
            "sk": S(f"EVENT#{seq:010d}"), "entity": S("event"), "owner": S(OWNER)}


def shape(value: Any) -> Any:
    """An item with every string replaced by its length: equal shapes mean same attributes and sizes."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return len(value) if isinstance(value, str) else value


def raw_side(table: str, queue_url: str) -> Callable[[], Callable[[], None]]:
    """Side B: returns a preparer; each prepared run makes exactly the handler's four calls with fresh ids."""
    ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")  # the handler's clients use the same defaults
    created_data = {"type": S("text"), "provider": S("openai"), "model": S("gpt-4o-mini"), "attempt": {"N": "1"},
                    "name": {"NULL": True}}

    def prepare() -> Callable[[], None]:
        task_id, at, later = ulid_like(), iso_now(), iso_now()
        create = [{"Put": {"TableName": table, "Item": task_item(task_id, "pending", 1, at, at),
                           "ConditionExpression": "attribute_not_exists(pk)"}},
                  {"Put": {"TableName": table, "Item": event_item(task_id, 1, "task:created", at, created_data)}}]
        body = json.dumps({"task_id": task_id, "owner": OWNER, "attempt": 1, "trace_id": request_id()},
                          separators=(",", ":"))
        queued = event_item(task_id, 2, "task:queued", later, {"lane": S("llm-tasks"), "attempt": {"N": "1"}})
        move = [{"Put": {"TableName": table, "Item": task_item(task_id, "queued", 2, at, later),
                         "ConditionExpression": "#seq = :seq", "ExpressionAttributeNames": {"#seq": "seq"},
                         "ExpressionAttributeValues": {":seq": {"N": "1"}}}},
                {"Put": {"TableName": table, "Item": queued, "ConditionExpression": "attribute_not_exists(pk)"}}]

        def run() -> None:
            ddb.transact_write_items(TransactItems=create)
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            ddb.get_item(TableName=table, Key={"pk": S(f"TASK#{task_id}"), "sk": S("TASK")}, ConsistentRead=True)
            ddb.transact_write_items(TransactItems=move)

        run.items = [create[1]["Put"]["Item"], queued, move[0]["Put"]["Item"]]  # type: ignore[attr-defined]
        return run

    return prepare


def load_handler(env: dict[str, str]) -> ModuleType:
    os.environ.update(env)
    folder = ROOT / "functions" / "api"
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("app", folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


def stats(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=100, method="inclusive")[94]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200, help="interleaved timed runs per side")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs per side first")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith(("AWS_", "POWERTOOLS_"))]:
        del os.environ[name]
    server = MotoServer(port=0).start()
    try:
        stack = create_stack(ROOT / "template.yaml", server.url, REGION, {"Stage": "dev"})
        spec = stack.functions[FUNCTION]
        env = {"AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **spec.env}
        for name in sorted(declared_env(FUNCTION) - spec.env.keys()):
            env[name] = placeholder(name)
            print(f"note: create_stack gave {FUNCTION} no {name}; using {env[name]!r}")
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", lambda event_name, **_: CALLS.append(event_name[12:]))
        handler = load_handler(env).lambda_handler
        context = Context(spec.name, spec.arn, spec.memory)
        api_id = stack.http_api_id or "localapi01"

        def side_a() -> None:
            event, context.aws_request_id = api_event(api_id, request_id()), ulid_like()
            start = time.perf_counter()
            response = handler(event, context)
            times["A"].append((time.perf_counter() - start) * 1000)
            if response["statusCode"] != 201:
                raise SystemExit(f"POST /api/tasks answered {response['statusCode']}: {response.get('body')}")

        prepare = raw_side(env["TABLE_NAME"], env["LLM_TASKS_QUEUE_URL"])

        def side_b() -> None:
            run = prepare()
            start = time.perf_counter()
            run()
            times["B"].append((time.perf_counter() - start) * 1000)

        times: dict[str, list[float]] = {"A": [], "B": []}
        calls: dict[str, list[str]] = {}
        for side, fn in (("A", side_a), ("B", side_b)):  # first runs: check the answer, count the calls
            CALLS.clear()
            fn()
            calls[side] = list(CALLS)
        stored = json.loads(handler(api_event(api_id, request_id()), context)["body"])["data"]
        got = boto3.client("dynamodb").query(
            TableName=env["TABLE_NAME"], KeyConditionExpression="pk = :p", ConsistentRead=True,
            ExpressionAttributeValues={":p": S(f"TASK#{stored['id']}")})["Items"]
        same = [shape(a) == shape(b) for a, b in zip(got, prepare().items, strict=True)]  # type: ignore[attr-defined]
        for _ in range(args.warmup):
            side_a()
            side_b()
        times = {"A": [], "B": []}
        for i in range(args.iterations):
            for fn in (side_a, side_b) if i % 2 == 0 else (side_b, side_a):
                fn()
    finally:
        server.stop()

    print(f"Python {platform.python_version()} ({platform.python_implementation()}), moto {moto.__version__}")
    print(f"AWS endpoint: local moto server ({server.url}), not AWS; region {REGION}")
    print(f"iterations: {args.iterations} per side, interleaved, after {args.warmup} warm-up runs each")
    print(f"B's items vs A's stored ones (created event, queued event, task) same attributes and sizes: {same}")
    for side, label in (("A", "handler (POST /api/tasks)"), ("B", "raw boto3 calls")):
        print(f"  {side} {label}: {len(calls[side])} AWS calls: {', '.join(calls[side])}")
    (med_a, p95_a), (med_b, p95_b) = stats(times["A"]), stats(times["B"])
    print(f"{'side':<28}{'median ms':>12}{'p95 ms':>12}")
    print(f"{'A handler':<28}{med_a:>12.2f}{p95_a:>12.2f}")
    print(f"{'B raw boto3':<28}{med_b:>12.2f}{p95_b:>12.2f}")
    print(f"{'ratio A/B':<28}{med_a / med_b:>12.2f}{p95_a / p95_b:>12.2f}")


if __name__ == "__main__":
    main()
