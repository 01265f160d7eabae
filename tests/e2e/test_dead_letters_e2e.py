"""On the whole local cloud (IAM enforced): dead letters are kept for the operator, and nobody signs themself up."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from spoonfeeder.data.dead_letters import letters_key
from spoonfeeder.data.items import from_item

from tests.e2e.conftest import Cloud, User, aws, wait_for_status

pytestmark = pytest.mark.e2e
TEXT = {"type": "text", "provider": "openai", "prompt": "this one will not get an answer"}


def kept_letters(cloud: Cloud, queue: str, *, wait_for: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """The letters an operator finds with one Query (see the README), once one matches ``wait_for``."""
    dynamodb, name = aws(cloud, "dynamodb"), cloud.info["resources"][queue].rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout
    while True:
        items = dynamodb.query(TableName=cloud.info["resources"]["Table"], KeyConditionExpression="pk = :pk",
                               ExpressionAttributeValues={":pk": {"S": letters_key(name)}})["Items"]
        letters = [from_item(item) for item in items]
        if any(wait_for(letter) for letter in letters) or time.monotonic() > deadline:
            return letters
        time.sleep(0.5)


def test_a_task_out_of_retries_fails_and_its_message_is_kept(cloud: Cloud, alice: User, openai: Any) -> None:
    openai.set_down(True)
    try:
        task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
        task = wait_for_status(alice, task_id, {"succeeded", "failed"}, timeout=60)
    finally:
        openai.set_down(False)  # for the tests after this one that do not reset the provider
    assert task["status"] == "failed" and task["error"]["code"] == "RETRIES_EXHAUSTED"
    letters = kept_letters(cloud, "LlmTasksDeadLetterQueue", wait_for=lambda x: x.get("task_id") == task_id)
    (letter,) = [x for x in letters if x.get("task_id") == task_id]
    assert task_id in letter["body"] and letter["first_received_at"] and letter["receive_count"] >= 1


def test_a_poison_message_is_kept_too(cloud: Cloud) -> None:
    body = f"not a task message {time.time()}"
    aws(cloud, "sqs").send_message(QueueUrl=cloud.info["resources"]["LlmTasksQueue"], MessageBody=body)
    letters = kept_letters(cloud, "LlmTasksDeadLetterQueue", wait_for=lambda x: x["body"] == body, timeout=60)
    (letter,) = [x for x in letters if x["body"] == body]
    assert "task_id" not in letter


def test_self_sign_up_is_refused(cloud: Cloud) -> None:
    # As a browser would call it: no AWS credentials, only the app client's id.
    idp = boto3.client("cognito-idp", endpoint_url=cloud.info["aws_endpoint_url"], region_name="us-east-1",
                       config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as refused:
        idp.sign_up(ClientId=cloud.info["user_pool_client_id"], Username="mallory@example.com",
                    Password="Correct-Horse-Battery-9")
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
