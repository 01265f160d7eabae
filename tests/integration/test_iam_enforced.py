"""IAM as the local cloud enforces it: each function runs with its own role's keys, and the template's
grants decide, checked against the real resource ARNs (the table, not ``*``).

A moto server of its own (enforcement is per server) with the real template, and one with a copy of the
template that lacks the API's sqs:SendMessage statement, made the way the local cloud makes its stack.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cfnlint.decode import decode_str
from localcloud.agents import agent_credentials
from localcloud.cloud import Settings
from localcloud.functions import FunctionHost
from localcloud.moto_process import MotoServer
from localcloud.stack import RoleCredentials, Stack, aws_client, create_admin, create_stack

from tests.conftest import TEST_PARAMETERS, http_event

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
pytestmark = pytest.mark.timeout(180)


@dataclass
class Enforced:
    moto: MotoServer
    stack: Stack

    def admin(self, service: str) -> Any:
        return aws_client(service, self.moto.url, REGION)

    def credentials(self, function: str) -> RoleCredentials:
        spec = self.stack.functions[function]
        return RoleCredentials(self.moto.url, REGION, spec.role, spec.name)

    def as_function(self, function: str, service: str, config: Config | None = None) -> Any:
        """A client with the keys the local cloud gives the function's workers."""
        env = self.credentials(function).env()
        return boto3.client(service, endpoint_url=self.moto.url, region_name=REGION,
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=env["AWS_SESSION_TOKEN"], config=config)


@pytest.fixture(scope="module")
def trimmed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """template.yaml without the statement that lets ApiFunction send to the queues."""
    template, _ = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert template is not None
    template = json.loads(json.dumps(template))  # plain dicts and lists
    removed = 0
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):  # the copy lives elsewhere: point at the real code
            if isinstance(props.get(key), str):
                props[key] = str(ROOT / props[key])
        if logical_id != "ApiFunction":
            continue
        for policy in props["Policies"]:
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            kept = [s for s in statements if "sqs:SendMessage" not in s.get("Action", [])]
            removed += len(statements) - len(kept)
            statements[:] = kept
    assert removed == 1
    path = tmp_path_factory.mktemp("trimmed") / "template.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return path


def _enforced(template: Path) -> Iterator[Enforced]:
    """The local cloud's order: admin user, stack, then enforcement."""
    with MotoServer() as moto:
        create_admin(moto.url, REGION)
        stack = create_stack(template, moto.url, REGION, TEST_PARAMETERS)
        moto.enforce_iam()
        yield Enforced(moto, stack)


@pytest.fixture(scope="module")
def real() -> Iterator[Enforced]:
    yield from _enforced(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def trimmed(trimmed_template: Path) -> Iterator[Enforced]:
    yield from _enforced(trimmed_template)


def _send(cloud: Enforced, function: str) -> None:
    cloud.as_function(function, "sqs").send_message(QueueUrl=cloud.stack.resources["LlmTasksQueue"],
                                                     MessageBody="{}")


def test_a_granted_call_passes(real: Enforced) -> None:
    _send(real, "ApiFunction")


def test_a_call_without_its_statement_is_denied_as_on_aws(trimmed: Enforced) -> None:
    with pytest.raises(ClientError) as denied:
        _send(trimmed, "ApiFunction")
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDenied" and "sqs:SendMessage" in error["Message"]
    _send(trimmed, "SweeperFunction")  # a role that keeps its grant still may


def test_table_grants_are_checked_against_the_table(real: Enforced) -> None:
    admin, table = real.admin("dynamodb"), real.stack.resources["Table"]
    admin.create_table(TableName="another-table", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    ddb = real.as_function("ApiFunction", "dynamodb")
    item = {"pk": {"S": "IAM#probe"}, "sk": {"S": "IAM"}}
    ddb.put_item(TableName=table, Item=item)
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}}])

    with pytest.raises(ClientError) as denied:
        ddb.put_item(TableName="another-table", Item={"pk": {"S": "x"}})
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].endswith(
        f"dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:{real.stack.account_id}:table/another-table "
        "because no identity-based policy allows the dynamodb:PutItem action")
    # A transaction is checked item by item: one write to an ungranted table denies it all.
    with pytest.raises(ClientError) as denied:
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}},
                                                {"Put": {"TableName": "another-table", "Item": {"pk": {"S": "x"}}}}])
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "table/another-table" in denied.value.response["Error"]["Message"]
    assert "Item" not in admin.get_item(TableName="another-table", Key={"pk": {"S": "x"}})


def test_an_index_is_its_own_resource(real: Enforced) -> None:
    table = real.stack.resources["Table"]
    # The worker's role reads and writes the table but was granted no Query, on the table or its indexes.
    worker = real.as_function("LlmWorkerFunction", "dynamodb")
    with pytest.raises(ClientError) as denied:
        worker.query(TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                     ExpressionAttributeValues={":p": {"S": "nobody"}})
    assert f"table/{table}/index/gsi1 " in denied.value.response["Error"]["Message"]
    api = real.as_function("ApiFunction", "dynamodb")
    api.query(TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
              ExpressionAttributeValues={":p": {"S": "nobody"}})


def test_key_and_secret_grants_are_checked_against_their_arns(real: Enforced) -> None:
    admin_kms, data_key = real.admin("kms"), real.stack.resources["DataKey"]
    data_key_arn = admin_kms.describe_key(KeyId=data_key)["KeyMetadata"]["Arn"]
    other_key = admin_kms.create_key(Description="not the data key")["KeyMetadata"]["Arn"]
    other_secret = real.admin("secretsmanager").create_secret(Name="not-the-provider-secret",
                                                              SecretString="{}")["ARN"]
    # The worker may use the data key only through DynamoDB, S3 and Secrets Manager (kms:ViaService):
    # called directly, it is denied, as on AWS.
    with pytest.raises(ClientError) as denied:
        real.as_function("LlmWorkerFunction", "kms").generate_data_key(KeyId=data_key, KeySpec="AES_256")
    assert f"kms:GenerateDataKey on resource: {data_key_arn} " in denied.value.response["Error"]["Message"]

    # A grant on the key's ARN covers it under an alias too, and no other key.
    iam = real.admin("iam")
    role = iam.create_role(RoleName="key-probe", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]
    iam.put_role_policy(RoleName="key-probe", PolicyName="describe", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": data_key_arn}]}))
    admin_kms.create_alias(AliasName="alias/spoon-data", TargetKeyId=data_key)
    env = RoleCredentials(real.moto.url, REGION, role["Arn"], "key-probe").env()
    kms = boto3.client("kms", endpoint_url=real.moto.url, region_name=REGION,
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=env["AWS_SESSION_TOKEN"])
    kms.describe_key(KeyId="alias/spoon-data")
    with pytest.raises(ClientError) as denied:
        kms.describe_key(KeyId=other_key)
    assert denied.value.response["Error"]["Message"].endswith(
        f"kms:DescribeKey on resource: {other_key} because no identity-based policy allows the "
        "kms:DescribeKey action")

    secrets = real.as_function("LlmWorkerFunction", "secretsmanager")
    secrets.get_secret_value(SecretId=real.stack.resources["ProviderSecret"])
    with pytest.raises(ClientError) as denied:
        secrets.get_secret_value(SecretId="not-the-provider-secret")
    assert f"on resource: {other_secret} " in denied.value.response["Error"]["Message"]
    with pytest.raises(ClientError):  # the dead-letter function never reads the provider secret
        real.as_function("DeadLettersFunction", "secretsmanager").get_secret_value(
            SecretId=real.stack.resources["ProviderSecret"])


def test_users_provider_keys_use_the_data_key_only_under_their_context(real: Enforced) -> None:
    """The API encrypts and decrypts, the worker only decrypts, and only under an {owner, provider} context
    naming a cloud provider: the grant is no way to the data key's other uses."""
    data_key = real.stack.resources["DataKey"]
    context = {"owner": "user-probe", "provider": "openai"}
    api, worker = real.as_function("ApiFunction", "kms"), real.as_function("LlmWorkerFunction", "kms")
    blob = api.encrypt(KeyId=data_key, Plaintext=b"sk-probe-000000", EncryptionContext=context)["CiphertextBlob"]
    for role in (api, worker):
        assert role.decrypt(KeyId=data_key, CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == \
            b"sk-probe-000000"
    denied = [
        lambda: worker.encrypt(KeyId=data_key, Plaintext=b"x" * 8, EncryptionContext=context),
        lambda: api.encrypt(KeyId=data_key, Plaintext=b"x" * 8),  # no context
        lambda: api.encrypt(KeyId=data_key, Plaintext=b"x" * 8, EncryptionContext={"provider": "openai"}),
        lambda: api.encrypt(KeyId=data_key, Plaintext=b"x" * 8,
                            EncryptionContext={"owner": "user-probe", "provider": "ollama"}),
        lambda: real.as_function("WsFunction", "kms").decrypt(KeyId=data_key, CiphertextBlob=blob,
                                                               EncryptionContext=context),
    ]
    for call in denied:
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_the_settings_routes_run_with_the_api_role(real: Enforced) -> None:
    """PUT (DynamoDB UpdateItem, KMS Encrypt), test (GetItem, Decrypt, the provider secret) and GET (Query) of a
    user's setting, as the local cloud runs the API function."""
    from localcloud.fakes.openai_server import FakeOpenAI

    spec = real.stack.functions["ApiFunction"]
    overlay = {"AWS_ENDPOINT_URL": real.moto.url, "AWS_REGION": REGION, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    host = FunctionHost(spec, overlay, max_concurrency=1, credentials=real.credentials("ApiFunction").env)
    key = "sk-probe-role-0000000001"

    def call(method: str, path: str, body: Any = None) -> Any:
        result = asyncio.run(host.invoke(http_event(method, path, user="user-role", body=body)))
        assert result.ok, result.payload
        assert result.payload["statusCode"] == 200, result.payload
        return json.loads(result.payload["body"])["data"]

    try:
        with FakeOpenAI(api_key=key) as fake:
            call("PUT", "/api/settings/openai", {"api_key": key, "endpoint_url": fake.base_url})
            assert call("POST", "/api/settings/openai/test")["status"] == "connected"
            assert fake.keys_used == [key]
            listed = call("GET", "/api/settings")
    finally:
        host.close()
    assert listed[0]["api_key_masked"] == "…" + key[-4:] and listed[0]["source"] == "user"


def test_objects_by_prefix_under_the_tls_only_bucket_policy(real: Enforced) -> None:
    """The bucket's TLS-only deny does not refuse local calls (they stand in for HTTPS ones); the API's
    grant covers requests/ and not outputs/."""
    bucket = real.stack.resources["Bucket"]
    assert "aws:SecureTransport" in real.admin("s3").get_bucket_policy(Bucket=bucket)["Policy"]
    s3 = real.as_function("ApiFunction", "s3")
    s3.put_object(Bucket=bucket, Key="requests/probe/t.json", Body=b"{}")
    assert s3.get_object(Bucket=bucket, Key="requests/probe/t.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="outputs/probe/t.txt", Body=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_presigned_urls_are_authenticated_and_authorized_as_s3_does(real: Enforced) -> None:
    """A presigned GET carries its credentials in the query: the signature must match the URL, the URL must
    not have expired, and the signer's role must be granted the object (the API's covers outputs/)."""
    bucket = real.stack.resources["Bucket"]
    real.admin("s3").put_object(Bucket=bucket, Key="outputs/probe/0.png", Body=b"zero")
    real.admin("s3").put_object(Bucket=bucket, Key="batches/probe/input.jsonl", Body=b"{}")
    api = real.as_function("ApiFunction", "s3", Config(signature_version="s3v4"))  # as spoonfeeder.data.aws

    def presign(key: str, expires: int = 60) -> str:
        return str(api.generate_presigned_url("get_object", ExpiresIn=expires, Params={
            "Bucket": bucket, "Key": key, "ResponseContentType": "image/png",
            "ResponseContentDisposition": 'attachment; filename="probe 0.png"'}))

    url = presign("outputs/probe/0.png")
    assert "X-Amz-Security-Token=" in url  # signed with the role's session keys
    for _ in range(3):  # verified at the time the URL names, not the present second
        got = httpx.get(url)
        assert (got.status_code, got.content, got.headers["content-type"]) == (200, b"zero", "image/png")
        time.sleep(0.6)
    assert httpx.get(url.replace("0.png", "1.png")).status_code == 403  # the signature covers the key
    assert httpx.get(url.replace("image%2Fpng", "text%2Fhtml")).status_code == 403  # and the whole query
    assert httpx.get(presign("batches/probe/input.jsonl")).status_code == 403  # not granted to the API
    gone = httpx.get(presign("outputs/probe/never.png"))  # the API may list the bucket: 404, as on AWS
    assert gone.status_code == 404 and "NoSuchKey" in gone.text
    soon = presign("outputs/probe/0.png", expires=1)
    time.sleep(2.1)
    assert httpx.get(soon).status_code == 403


def test_a_function_runs_with_its_role(real: Enforced) -> None:
    """The API's health route, run as the local cloud runs it, reaches table, queues and bucket."""
    spec = real.stack.functions["ApiFunction"]
    overlay = {"AWS_ENDPOINT_URL": real.moto.url, "AWS_REGION": REGION, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    host = FunctionHost(spec, overlay, max_concurrency=1, credentials=real.credentials("ApiFunction").env)
    try:
        result = asyncio.run(host.invoke(http_event("GET", "/api/health", user=None)))
    finally:
        host.close()
    assert result.ok, result.payload
    body = json.loads(result.payload["body"])
    assert result.payload["statusCode"] == 200, body
    assert all(check["ok"] for check in body["data"]["checks"].values())


def test_unknown_keys_are_refused(real: Enforced) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=real.moto.url, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as refused:
        ddb.list_tables()
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_cognito_operations_without_iam_stay_public(real: Enforced) -> None:
    """GlobalSignOut (logout) is sent unsigned, as AWS serves it: the token decides, not IAM."""
    idp = boto3.client("cognito-idp", endpoint_url=real.moto.url, region_name=REGION,
                       config=Config(signature_version=UNSIGNED))
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.global_sign_out(AccessToken="not-a-token")


def test_roles_carry_the_managed_policies_sam_attaches(real: Enforced) -> None:
    iam = real.admin("iam")

    def attached(function: str) -> set[str]:
        role = real.stack.functions[function].role.rsplit("/", 1)[-1]
        return {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}

    assert "AWSLambdaBasicExecutionRole" in attached("ApiFunction")
    assert "AWSLambdaSQSQueueExecutionRole" in attached("LlmWorkerFunction")
    assert "AWSLambdaDynamoDBExecutionRole" in attached("EventsFunction")


def test_iam_setting() -> None:
    assert Settings.from_env({}).enforce_iam is True
    assert Settings.from_env({"SPOON_IAM": "OFF"}).enforce_iam is False
    with pytest.raises(ValueError, match="SPOON_IAM"):
        Settings.from_env({"SPOON_IAM": "no"})


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of the functions' Policies (explicit statements only: none of SAM's policy templates) and
    of the roles the template declares itself (the GPU agent's)."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            for policy in resource["Properties"].get("Policies", []):
                assert isinstance(policy, dict) and list(policy) == ["Statement"], (logical_id, policy)
                yield from ((logical_id, statement) for statement in policy["Statement"])
        elif resource["Type"] == "AWS::IAM::Role":  # API Gateway's logging role has only AWS's managed policy
            for policy in resource["Properties"].get("Policies", []):
                yield from ((logical_id, statement) for statement in policy["PolicyDocument"]["Statement"])


def test_grants_are_explicit_and_scoped() -> None:
    """Every function's Policies, and the GPU agent's role, are explicit statements: named actions on named
    resources, and the data key only through the services that use it or under a provider key's encryption
    context (none of SAM's policy templates, no `*`)."""
    template, _ = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert template is not None
    granted = {logical_id for logical_id, _ in _statements(template)}
    assert {"ApiFunction", "LlmWorkerFunction", "GpuAgentRole"} <= granted
    agent = template["Resources"]["GpuAgentRole"]["Properties"]
    assert agent.get("ManagedPolicyArns") is None  # nothing beyond its own statements
    assert [s["Principal"] for s in agent["AssumeRolePolicyDocument"]["Statement"]] != [{"AWS": "*"}]
    for logical_id, statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
            statement["Resource"]]
        assert statement["Effect"] == "Allow" and "NotAction" not in statement, (logical_id, statement)
        assert all("*" not in action for action in actions), (logical_id, actions)
        assert "*" not in resources, (logical_id, statement)
        if any(action.startswith("kms:") for action in actions):
            # Through the services that use the key, or directly for users' provider keys under their
            # {owner, provider} encryption context only.
            conditions = statement["Condition"]
            assert "kms:ViaService" in conditions["StringEquals"] or (
                set(conditions["StringEquals"]) == {"kms:EncryptionContext:provider"}
                and set(conditions["StringLike"]) == {"kms:EncryptionContext:owner"}), (logical_id, statement)


def test_the_gpu_agent_role_does_what_the_agent_does_and_no_more(real: Enforced) -> None:
    """The agent runs outside Lambda under GpuAgentRole, assumed as an operator's agent assumes it: the shared
    gpu-tasks queue, the table (tasks, its heartbeat, its inbox), requests/ to read and outputs/ to write."""
    env = agent_credentials(real.stack, real.moto.url, REGION).env()

    def as_agent(service: str) -> Any:
        return boto3.client(service, endpoint_url=real.moto.url, region_name=REGION,
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=env["AWS_SESSION_TOKEN"])

    resources = real.stack.resources
    sqs, ddb, s3 = as_agent("sqs"), as_agent("dynamodb"), as_agent("s3")
    gpu, table, bucket = resources["GpuTasksQueue"], resources["Table"], resources["Bucket"]
    sqs.send_message(QueueUrl=gpu, MessageBody="{}")
    got = sqs.receive_message(QueueUrl=gpu, WaitTimeSeconds=1, AttributeNames=["ApproximateReceiveCount"])
    handle = got["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=gpu, ReceiptHandle=handle, VisibilityTimeout=30)
    sqs.delete_message(QueueUrl=gpu, ReceiptHandle=handle)
    sqs.get_queue_attributes(QueueUrl=gpu, AttributeNames=["ApproximateNumberOfMessages"])

    item = {"pk": {"S": "AGENTS"}, "sk": {"S": "AGENT#iam-probe"}}
    ddb.put_item(TableName=table, Item=item)
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item}}])
    assert ddb.get_item(TableName=table, Key=item)["Item"] == item
    ddb.query(TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": item["pk"]})
    ddb.delete_item(TableName=table, Key=item)

    real.admin("s3").put_object(Bucket=bucket, Key="requests/probe/t.json", Body=b"{}")
    assert s3.get_object(Bucket=bucket, Key="requests/probe/t.json")["Body"].read() == b"{}"
    s3.put_object(Bucket=bucket, Key="outputs/probe/t/attempt-1.txt", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="outputs/probe/t/attempt-1.txt")["Body"].read() == b"x"

    denied = [
        lambda: sqs.send_message(QueueUrl=resources["LlmTasksQueue"], MessageBody="{}"),
        lambda: sqs.receive_message(QueueUrl=resources["GpuTasksDeadLetterQueue"]),
        lambda: ddb.query(TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                          ExpressionAttributeValues={":p": {"S": "nobody"}}),
        lambda: ddb.scan(TableName=table, Limit=1),
        lambda: s3.put_object(Bucket=bucket, Key="requests/probe/other.json", Body=b"{}"),
        lambda: s3.get_object(Bucket=bucket, Key="batches/probe/input.jsonl"),
        lambda: as_agent("secretsmanager").get_secret_value(SecretId=resources["ProviderSecret"]),
        lambda: as_agent("kms").generate_data_key(KeyId=resources["DataKey"], KeySpec="AES_256"),
    ]
    # The account's principals may assume the role only when their own policy allows it: no function's does.
    role_arn = agent_credentials(real.stack, real.moto.url, REGION).role_arn
    denied.append(lambda: real.as_function("ApiFunction", "sts").assume_role(RoleArn=role_arn,
                                                                           RoleSessionName="not-an-agent"))
    for call in denied:
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), refused.value
