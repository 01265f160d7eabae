"""S3 access for what is too large for a table item: request snapshots and task outputs.

Keys: `requests/{owner}/{task_id}.json` (the request, once per task) and `outputs/{owner}/{task}/…` (results).
"""

from __future__ import annotations

import json
from typing import Any

from spoonfeeder.data.aws import client


def output_key(owner: str, task_id: str, name: str) -> str:
    return f"outputs/{owner}/{task_id}/{name}"


def request_key(owner: str, task_id: str) -> str:
    return f"requests/{owner}/{task_id}.json"


def put_text(bucket: str, key: str, text: str) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType="text/plain; charset=utf-8")


def put_json_bytes(bucket: str, key: str, body: bytes) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(bucket: str, key: str) -> Any:
    return json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def delete(bucket: str, key: str) -> None:
    client("s3").delete_object(Bucket=bucket, Key=key)
