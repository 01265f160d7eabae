"""The local cloud's building blocks: the template created in moto, the Lambda stand-in, the pollers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from localcloud.filters import passes
from localcloud.functions import FunctionHost
from localcloud.runners import SqsRunner, StreamRunner
from localcloud.stack import EventSource, FunctionSpec, HttpRoute, Stack, aws_client

from tests.conftest import MotoEndpoint, drain

ROOT = Path(__file__).resolve().parents[2]

REGION = "us-east-1"
pytestmark = pytest.mark.timeout(90)

HANDLER = '''
import json, os, time

def lambda_handler(event, context):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "crash":
        os._exit(3)
    elif action == "raise":
        raise ValueError("boom")
    if "Records" in event:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                      for r in event["Records"] if r.get("body") == "fail"]}
    return {"pid": os.getpid(), "function_name": context.function_name, "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(), "stage": os.environ.get("STAGE"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL"), "region": os.environ.get("AWS_REGION"),
            "cwd": os.getcwd()}
'''


def client(moto: MotoEndpoint, service: str) -> Any:
    return aws_client(service, moto.url, REGION)


# ------------------------------------------------------------------------------------------- stack
def test_table_has_stream_and_indexes(moto: MotoEndpoint, stack: Stack) -> None:
    table = client(moto, "dynamodb").describe_table(TableName=stack.resources["Table"])["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2", "gsi3"}
    stream = next(s for s in stack.event_sources if s.function == "EventsFunction")
    assert stream.kind == "dynamodb" and stream.source_arn == table["LatestStreamArn"]
    assert stream.batch_size == 100 and stream.report_batch_item_failures
    assert stream.starting_position == "LATEST"
    assert stream.filter_patterns == [
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["event"]}}}}]


def test_queues_bucket_and_environment(moto: MotoEndpoint, stack: Stack) -> None:
    sqs = client(moto, "sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.resources["LlmTasksQueue"],
                                          AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    dead_letters = sqs.get_queue_attributes(QueueUrl=stack.resources["LlmTasksDeadLetterQueue"],
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 3 and redrive["deadLetterTargetArn"] == dead_letters
    s3, bucket = client(moto, "s3"), stack.resources["Bucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # moto's CloudFormation drops these; the stack applies them through the APIs.
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"][0]
    batch_files = sqs.get_queue_attributes(QueueUrl=stack.resources["BatchFilesQueue"],
                                           AttributeNames=["QueueArn", "Policy"])["Attributes"]
    assert notification["QueueArn"] == batch_files["QueueArn"] and "Policy" in batch_files
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    ttl = client(moto, "dynamodb").describe_time_to_live(TableName=stack.resources["Table"])
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}

    api = stack.functions["ApiFunction"]
    assert api.handler == "app.lambda_handler" and api.timeout == 29 and api.memory == 512
    assert api.code_dir == ROOT / "functions" / "api"
    layers = [ROOT / "layers" / "core", ROOT / "layers" / "providers"]
    assert api.layer_dirs == layers  # the provider SDKs for the settings' connection test
    assert stack.functions["LlmWorkerFunction"].layer_dirs == layers
    assert stack.functions["WsFunction"].layer_dirs == [ROOT / "layers" / "core"]
    assert stack.functions["LlmWorkerFunction"].timeout == 150
    assert api.env["TABLE_NAME"] == stack.resources["Table"]
    queue = sqs.get_queue_attributes(QueueUrl=api.env["LLM_TASKS_QUEUE_URL"], AttributeNames=["QueueArn"])
    assert queue["Attributes"]["QueueArn"].endswith(":" + api.env["LLM_TASKS_QUEUE_URL"].rsplit("/", 1)[1])
    assert api.env["USER_POOL_CLIENT_ID"] == stack.user_pool_client_id
    assert stack.functions["LlmWorkerFunction"].env["MAX_RECEIVE_COUNT"] == "3"
    assert stack.functions["WsFunction"].env["WS_MANAGEMENT_URL"].startswith(f"https://{stack.ws_api_id}.")


def test_cognito_and_apis(moto: MotoEndpoint, stack: Stack) -> None:
    assert stack.user_pool_id and stack.user_pool_client_id
    app_client = client(moto, "cognito-idp").describe_user_pool_client(
        UserPoolId=stack.user_pool_id, ClientId=stack.user_pool_client_id)["UserPoolClient"]
    assert "ALLOW_USER_PASSWORD_AUTH" in app_client["ExplicitAuthFlows"]
    assert stack.jwt_issuer == f"https://cognito-idp.{REGION}.amazonaws.com/{stack.user_pool_id}"
    assert stack.jwt_audience == [stack.user_pool_client_id]
    assert HttpRoute("POST", "/api/auth/login", "ApiFunction", False) in stack.http_routes
    assert HttpRoute("ANY", "/api/{proxy+}", "ApiFunction", True) in stack.http_routes
    assert stack.http_api_id and re.fullmatch(r"[a-z0-9]{10}", stack.http_api_id)
    assert stack.ws_api_id and re.fullmatch(r"[a-z0-9]{10}", stack.ws_api_id)
    assert (stack.ws_stage, stack.ws_function, stack.throttle) == ("dev", "WsFunction", (50.0, 100))

    worker = next(s for s in stack.event_sources if s.function == "LlmWorkerFunction")
    assert worker.kind == "sqs" and worker.batch_size == 1 and worker.report_batch_item_failures
    assert worker.maximum_concurrency == 10  # ScalingConfig: bounds the local pollers too
    assert worker.queue_url and worker.source_arn.endswith(stack.resources["LlmTasksQueue"].rsplit("/", 1)[1])


def test_the_admin_group_and_the_gpu_agent_role(moto: MotoEndpoint, stack: Stack) -> None:
    """The user pool group (made here: moto's CloudFormation skips Cognito) puts `cognito:groups` in its members'
    tokens; the agent's role trusts the account and has exactly its one inline policy."""
    import jwt
    from localcloud.agents import agent_role_arn

    idp, pool = client(moto, "cognito-idp"), stack.user_pool_id
    assert stack.resources["AdminGroup"] == "admin"
    assert idp.get_group(GroupName="admin", UserPoolId=pool)["Group"]["Precedence"] == 0
    user, password = "operator@spoonfeeder.local", "Operator-Pass-123"
    idp.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=password, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName="admin")
    tokens = idp.initiate_auth(ClientId=stack.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": user, "PASSWORD": password})["AuthenticationResult"]
    assert jwt.decode(tokens["AccessToken"], options={"verify_signature": False})["cognito:groups"] == ["admin"]

    iam, name = client(moto, "iam"), agent_role_arn(stack).rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{stack.account_id}:root"}
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["gpu-agent"]
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []


def test_moto_leaves_streams_and_queues_to_the_runners(moto: MotoEndpoint, stack: Stack) -> None:
    """With the template's mappings inside moto, moto would receive every message itself (a receive count
    spent) and empty the table's stream while trying to run the functions; the stack keeps them out."""
    dynamodb, streams, sqs = client(moto, "dynamodb"), client(moto, "dynamodbstreams"), client(moto, "sqs")
    arn = next(s for s in stack.event_sources if s.function == "EventsFunction").source_arn
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    dynamodb.put_item(TableName=stack.resources["Table"], Item={"pk": {"S": "probe"}, "sk": {"S": "probe"}})
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["probe"]

    queue = next(s for s in stack.event_sources if s.function == "LlmWorkerFunction").queue_url
    assert queue is not None
    drain(queue)
    sqs.send_message(QueueUrl=queue, MessageBody="probe")
    received = sqs.receive_message(QueueUrl=queue, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in received] == ["1"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])


# --------------------------------------------------------------------------------------- functions
@pytest.fixture
def host_factory(tmp_path: Path) -> Iterator[Callable[..., FunctionHost]]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    hosts: list[FunctionHost] = []

    def make(timeout: int = 1, overlay: dict[str, str] | None = None) -> FunctionHost:
        spec = FunctionSpec(name="probe", handler="app.lambda_handler", code_dir=code, layer_dirs=[],
                            env={"STAGE": "test", "OUT": str(tmp_path / "calls.jsonl")}, timeout=timeout,
                            memory=256)
        hosts.append(FunctionHost(spec, {"AWS_REGION": REGION, **(overlay or {})}, max_concurrency=2))
        return hosts[-1]

    yield make
    for host in hosts:
        host.close()


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_invoke_timeout_and_crash(host_factory: Callable[..., FunctionHost]) -> None:
    host = host_factory(overlay={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})

    async def scenario() -> None:
        first = await host.invoke({})
        assert first.ok and first.cold_start
        assert first.payload["stage"] == "test" and first.payload["endpoint"] == "http://127.0.0.1:1"
        assert first.payload["function_name"] == "probe" and 0 < first.payload["remaining_ms"] <= 1000
        assert first.payload["region"] == REGION and Path(first.payload["cwd"]) == host.spec.code_dir
        warm = await host.invoke({})
        assert warm.ok and not warm.cold_start and warm.payload["pid"] == first.payload["pid"]
        assert warm.payload["request_id"] != first.payload["request_id"]

        failed = await host.invoke({"action": "raise"})
        assert not failed.ok and failed.payload["errorType"] == "ValueError"
        assert failed.payload["errorMessage"] == "boom" and "app.py" in failed.payload["stackTrace"][0]

        timed_out = await host.invoke({"action": "sleep", "seconds": 5})
        assert not timed_out.ok and "Task timed out after 1.00 seconds" in timed_out.payload["errorMessage"]
        with pytest.raises(ProcessLookupError):
            os.kill(first.payload["pid"], 0)

        crashed = await host.invoke({"action": "crash"})
        assert not crashed.ok and crashed.payload["errorType"] == "Runtime.ExitError"
        again = await host.invoke({})
        assert again.ok and again.cold_start and again.payload["pid"] != first.payload["pid"]
        assert host.workers == 1

    asyncio.run(scenario())
    host.close()
    assert host.workers == 0


# ----------------------------------------------------------------------------------------- runners
async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_sqs_runner_partial_batch_failure(moto: MotoEndpoint, tmp_path: Path,
                                          host_factory: Callable[..., FunctionHost]) -> None:
    sqs = client(moto, "sqs")
    url = sqs.create_queue(QueueName="runner-probe", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    host = host_factory(timeout=5)
    source = EventSource(function="probe", kind="sqs", source_arn=arn, queue_url=url, batch_size=10,
                         report_batch_item_failures=True, starting_position=None, filter_patterns=[])

    async def invoke(function: str, event: Any) -> Any:
        assert function == "probe"
        return await host.invoke(event)

    async def scenario() -> None:
        runner = SqsRunner(source, invoke, moto.url, REGION)
        await runner.start()
        try:
            sqs.send_message(QueueUrl=url, MessageBody="fail")
            sqs.send_message(QueueUrl=url, MessageBody="ok",
                             MessageAttributes={"kind": {"DataType": "String", "StringValue": "probe"}})
            bodies = lambda: [r["body"] for c in calls(tmp_path) for r in c.get("Records", [])]  # noqa: E731
            await wait_for(lambda: "ok" in bodies() and bodies().count("fail") >= 2)
        finally:
            started = time.monotonic()
            await runner.stop()
            assert time.monotonic() - started < 1.0

    asyncio.run(scenario())
    records = [r for c in calls(tmp_path) for r in c["Records"]]
    ok = next(r for r in records if r["body"] == "ok")
    assert ok["eventSource"] == "aws:sqs" and ok["eventSourceARN"] == arn and ok["awsRegion"] == REGION
    assert ok["messageAttributes"]["kind"]["stringValue"] == "probe"
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId"} <= set(ok["attributes"])
    receive_counts = [r["attributes"]["ApproximateReceiveCount"] for r in records if r["body"] == "fail"]
    assert receive_counts[:2] == ["1", "2"]
    assert [r["body"] for r in records].count("ok") == 1  # deleted after the first delivery
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in left] == ["fail"]


def test_stream_runner_filters(moto: MotoEndpoint, tmp_path: Path,
                               host_factory: Callable[..., FunctionHost]) -> None:
    dynamodb = client(moto, "dynamodb")
    table = dynamodb.create_table(
        TableName="runner-probe", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    dynamodb.put_item(TableName="runner-probe", Item={"pk": {"S": "before"}, "entity": {"S": "event"}})
    host = host_factory(timeout=5)
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["event"]}}}}
    source = EventSource(function="probe", kind="dynamodb", source_arn=table["LatestStreamArn"],
                         queue_url=None, batch_size=10, report_batch_item_failures=True,
                         starting_position="LATEST", filter_patterns=[pattern])

    async def invoke(function: str, event: Any) -> Any:
        return await host.invoke(event)

    async def scenario() -> None:
        runner = StreamRunner(source, invoke, moto.url, REGION)
        await runner.start()
        try:
            dynamodb.put_item(TableName="runner-probe", Item={"pk": {"S": "t1"}, "entity": {"S": "task"}})
            dynamodb.put_item(TableName="runner-probe", Item={"pk": {"S": "e1"}, "entity": {"S": "event"}})
            dynamodb.put_item(TableName="runner-probe",
                              Item={"pk": {"S": "e1"}, "entity": {"S": "event"}, "n": {"N": "2"}})
            await wait_for(lambda: bool(calls(tmp_path)))
            await asyncio.sleep(0.5)  # time enough for anything that should not come
        finally:
            await runner.stop()

    asyncio.run(scenario())
    records = [r for c in calls(tmp_path) for r in c["Records"]]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [("INSERT", "e1")]
    record = records[0]
    assert record["eventSource"] == "aws:dynamodb" and record["eventVersion"] == "1.1"
    assert record["eventSourceARN"] == table["LatestStreamArn"] and record["awsRegion"] == REGION
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int | float)
    assert record["dynamodb"]["NewImage"]["entity"] == {"S": "event"} and record["dynamodb"]["SequenceNumber"]


def test_filter_patterns() -> None:
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": {"entity": {"S": "event"}, "n": {"N": "5"},
                                                               "tags": {"SS": ["a", "b"]}}}}
    image = {"eventName": "INSERT", "dynamodb": {"NewImage": {}}}
    assert passes(record, [])
    is_event = {"dynamodb": {"NewImage": {"entity": {"S": ["event"]}}}}
    is_task = {"dynamodb": {"NewImage": {"entity": {"S": ["task"]}}}}
    assert passes(record, [{"eventName": ["MODIFY"]}, is_event])
    assert not passes(record, [{"eventName": ["INSERT"], **is_task}])
    assert passes(record, [{"dynamodb": {"NewImage": {"entity": {"S": [{"prefix": "ev"}]}}}}])
    assert passes(record, [{"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}])
    assert passes(record, [{"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]}])
    assert not passes(record, [{"eventName": [{"anything-but": "INSERT"}]}])
    assert passes(record, [{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 4, "<=", 5]}]}}}}])
    assert passes(record, [{"dynamodb": {"OldImage": [{"exists": False}]}}])
    assert not passes(record, [{"dynamodb": {"OldImage": [{"exists": True}]}}])
    assert passes(image, [{"dynamodb": {"NewImage": {"entity": [{"exists": False}]}}}])
    assert not passes(image, [is_event])
