"""The production hardening of template.yaml, as the transformed template says it and as the stack made from it
in moto shows it: sign-up closed, a TLS-only bucket, logs kept for a bounded time, an alarm for every
dead-letter queue and every function, and the data kept when a prod stack goes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localcloud.template import SamTemplate, load_sam_template

from tests.conftest import MotoEndpoint

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
pytestmark = pytest.mark.timeout(120)


@cache
def transformed(stage: str) -> SamTemplate:
    return load_sam_template(ROOT / "template.yaml", REGION, "123456789012", {"Stage": stage})


def of_type(tpl: SamTemplate, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in tpl.resources.items() if r["Type"] == kind}


def test_prod_keeps_table_bucket_key_and_users_when_the_stack_goes() -> None:
    kept = ("Table", "Bucket", "DataKey", "UserPool")
    prod, dev = transformed("prod").resources, transformed("dev").resources
    for logical_id in kept:
        assert (prod[logical_id]["DeletionPolicy"], prod[logical_id]["UpdateReplacePolicy"]) == ("Retain", "Retain")
        # dev stacks clean up after themselves (the bucket's fixed name would block a new dev stack otherwise)
        assert dev[logical_id]["DeletionPolicy"] == "Delete"


def test_every_function_logs_to_its_own_group_with_retention() -> None:
    tpl = transformed("dev")
    groups = of_type(tpl, "AWS::Logs::LogGroup")
    functions = of_type(tpl, "AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        target = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group = groups[target]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"} and "KmsKeyId" in group
    assert tpl.parameters["LogRetentionDays"] == "30"
    prod_overrides = (ROOT / "samconfig.toml").read_text()
    assert "Stage=prod" in prod_overrides and "LogRetentionDays=365" in prod_overrides


def test_both_apis_write_access_logs_to_kept_groups() -> None:
    tpl = transformed("dev")
    groups = of_type(tpl, "AWS::Logs::LogGroup")
    stages = of_type(tpl, "AWS::ApiGatewayV2::Stage")
    assert len(stages) == 2  # the HTTP API's $default stage (made by SAM) and the WebSocket stage
    for stage in stages.values():
        destination = stage["Properties"]["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
        assert groups[destination]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_an_alarm_for_every_dead_letter_queue_and_function_reaches_the_encrypted_topic() -> None:
    tpl = transformed("dev")
    alarms = list(of_type(tpl, "AWS::CloudWatch::Alarm").values())
    queues = of_type(tpl, "AWS::SQS::Queue")
    dead_letter_queues = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                          for q in queues.values() if "RedrivePolicy" in q["Properties"]}
    assert len(dead_letter_queues) == 3  # llm-tasks, gpu-tasks, batch-files

    def watched(namespace: str, metric: str | None = None) -> set[str]:
        found = set()
        for alarm in alarms:
            props = alarm["Properties"]
            if props["Namespace"] == namespace and metric in (None, props["MetricName"]):
                value = props["Dimensions"][0]["Value"]
                found.add(value.get("Ref") or value.get("Fn::GetAtt", [None])[0])
                assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
                assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
        return found

    assert watched("AWS/SQS") == dead_letter_queues
    functions = set(of_type(tpl, "AWS::Lambda::Function"))
    assert watched("AWS/Lambda", "Errors") == functions and watched("AWS/Lambda", "Throttles") == functions
    assert tpl.resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}


def test_no_active_tracing_without_a_tracer() -> None:
    for function in of_type(transformed("dev"), "AWS::Lambda::Function").values():
        assert "TracingConfig" not in function["Properties"]
        assert "POWERTOOLS_TRACE_DISABLED" not in function["Properties"]["Environment"]["Variables"]


def test_outputs_point_at_the_apis_stages() -> None:
    outputs = transformed("dev").transformed["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert outputs["WebSocketUrl"]["Value"]["Fn::Sub"].endswith("/${WebSocketStage}")


# ------------------------------------------------------------------ the stack made from the template in moto
def test_self_sign_up_is_refused(stack: Any) -> None:
    cognito = boto3.client("cognito-idp")
    with pytest.raises(ClientError) as refused:
        cognito.sign_up(ClientId=stack.user_pool_client_id, Username="stranger@example.com",
                        Password="Correct-Horse-Battery-9")
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert "only be performed by an administrator" in refused.value.response["Error"]["Message"]
    users = cognito.list_users(UserPoolId=stack.user_pool_id, Filter='email = "stranger@example.com"')["Users"]
    assert users == []


def test_a_pool_that_allows_sign_up_still_signs_up(moto: MotoEndpoint) -> None:
    # The SelfSignUp=true case: the local refusal must not close every pool.
    cognito = boto3.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="open-pool", UsernameAttributes=["email"],
                                    AdminCreateUserConfig={"AllowAdminCreateUserOnly": False})["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="open")["UserPoolClient"]["ClientId"]
    assert cognito.sign_up(ClientId=client, Username="new@example.com", Password="Correct-Horse-Battery-9")["UserSub"]


def test_bucket_denies_plain_http_and_expires_old_versions(stack: Any) -> None:
    s3, bucket = boto3.client("s3"), stack.resources["Bucket"]
    statement = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(statement["Resource"]) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Status"] == "Enabled" and rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    (encryption,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert encryption["BucketKeyEnabled"] is True


def test_alarms_exist_for_the_dead_letter_queues(stack: Any) -> None:
    alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    watched = {d["Value"] for a in alarms if a["Namespace"] == "AWS/SQS" for d in a["Dimensions"]}
    names = {url.rsplit("/", 1)[1] for logical_id, url in stack.resources.items()
             if logical_id.endswith("DeadLetterQueue")}
    assert len(names) == 3 and names <= watched
    topic = stack.resources["AlarmTopic"]
    assert all(a["AlarmActions"] == [topic] for a in alarms if a["AlarmName"].endswith("Alarm"))
