"""Keeping held messages hidden: a handle that went stale (its message came back, and another consumer received
and deleted it) does not stop the heartbeat from keeping the others hidden."""

from __future__ import annotations

import time
from typing import Any

import boto3
from spoonfeeder.data import queues


def test_a_stale_handle_does_not_cost_the_other_messages_their_extension(stack: Any) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"heartbeat-{time.time_ns()}")["QueueUrl"]
    try:
        sqs.send_message(QueueUrl=url, MessageBody="lost")
        stale = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]["ReceiptHandle"]
        time.sleep(1.3)
        taken = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]  # another consumer's now
        sqs.delete_message(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"])
        sqs.send_message(QueueUrl=url, MessageBody="held")
        held = sqs.receive_message(QueueUrl=url, VisibilityTimeout=2)["Messages"][0]["ReceiptHandle"]

        queues.keep_hidden(url, [stale, held], 30)

        time.sleep(2.5)  # past the held message's own visibility: only the extension keeps it hidden
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    finally:
        sqs.delete_queue(QueueUrl=url)
