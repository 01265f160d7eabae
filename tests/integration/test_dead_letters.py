"""Dead letters: a message SQS dead-letters fails its task and is kept in the table for inspection."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from spoonfeeder.data.dead_letters import BODY_KEPT_BYTES, KEPT_SECONDS, letters_key
from spoonfeeder.data.items import from_item

from tests.conftest import TEST_PARAMETERS
from tests.integration.test_llm_worker import deliver

TEXT = {"type": "text", "provider": "openai", "prompt": "hello there"}


def kept_letters(queue_url: str) -> list[dict[str, Any]]:
    """What an operator would query: every letter kept for the dead-letter queue, oldest first."""
    got = boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": letters_key(queue_url.rsplit("/", 1)[1])}})
    return [from_item(item) for item in got["Items"]]


def dead_letter(queues: dict[str, str]) -> str:
    """Receive the task's message (without finishing it) until SQS moves it to the dead-letter queue."""
    sqs = boto3.client("sqs")
    for _ in range(int(TEST_PARAMETERS["MaxReceiveCount"])):
        got = sqs.receive_message(QueueUrl=queues["LlmTasksQueue"], VisibilityTimeout=0, WaitTimeSeconds=1)
        (message,) = got["Messages"]
    assert not sqs.receive_message(QueueUrl=queues["LlmTasksQueue"]).get("Messages")  # moved on this receive
    return str(message["MessageId"])


def test_a_dead_lettered_task_fails_and_its_letter_is_kept(api: Any, functions: Any, queues: dict) -> None:
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    message_id = dead_letter(queues)

    assert deliver(functions["DeadLettersFunction"], queues["LlmTasksDeadLetterQueue"], wait=2) == 1
    task = api("GET", f"/api/tasks/{task_id}")[1]["data"]
    assert task["status"] == "failed" and task["error"]["code"] == "RETRIES_EXHAUSTED"
    (letter,) = [x for x in kept_letters(queues["LlmTasksDeadLetterQueue"]) if x["message_id"] == message_id]
    assert letter["task_id"] == task_id and f'"task_id":"{task_id}"' in letter["body"].replace(" ", "")
    assert letter["sk"].endswith(f"#{message_id}") and letter["sk"].startswith(letter["sent_at"])
    assert letter["first_received_at"] and letter["receive_count"] >= 1
    assert abs(letter["ttl"] - (time.time() + KEPT_SECONDS)) < 300
    # acknowledged: SQS no longer holds it
    assert not boto3.client("sqs").receive_message(QueueUrl=queues["LlmTasksDeadLetterQueue"]).get("Messages")


def test_a_letter_delivered_twice_is_kept_once(api: Any, functions: Any, queues: dict) -> None:
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    message_id = dead_letter(queues)
    assert deliver(functions["DeadLettersFunction"], queues["LlmTasksDeadLetterQueue"], wait=2, duplicate=True)
    kept = [x for x in kept_letters(queues["LlmTasksDeadLetterQueue"]) if x["message_id"] == message_id]
    assert len(kept) == 1 and kept[0]["task_id"] == task_id
    events = api("GET", f"/api/tasks/{task_id}/events")[1]["data"]
    assert [e["type"] for e in events].count("task:failed") == 1


def test_an_unreadable_letter_is_kept_whole_enough_and_fails_nothing(functions: Any, queues: dict) -> None:
    # A poison message names no task; it is the letter an operator most needs to see. A long one keeps its
    # head, cut on a character boundary, so the item stays far below DynamoDB's 400 KB.
    body = "not a task message " + "€" * 40_000  # ~120 KB in UTF-8
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=queues["LlmTasksDeadLetterQueue"], MessageBody=body)
    assert deliver(functions["DeadLettersFunction"], queues["LlmTasksDeadLetterQueue"], wait=2) == 1
    (letter,) = [x for x in kept_letters(queues["LlmTasksDeadLetterQueue"]) if x["body"].startswith("not a task")]
    assert "task_id" not in letter
    assert letter["body_truncated"] is True and letter["body_bytes"] == len(body.encode())
    assert body.startswith(letter["body"]) and len(letter["body"].encode()) <= BODY_KEPT_BYTES
    assert not sqs.receive_message(QueueUrl=queues["LlmTasksDeadLetterQueue"]).get("Messages")
